"""10,000 clients on a local 3-server network, all through ``chatnet up``'s front door.

Starts ``chatnet up`` with three hubs of ``--max-clients`` each (flood limits
lifted so the generator is not throttled), then with the C load generator
(``bench/loadgen.c``) registers ``--clients`` clients through the front door's
IRC port, ``--concurrency`` registrations in flight at a time, and prints:

- the registration rate (clients/s) and how many got in;
- RSS per client: the servers' RSS growth divided by the clients;
- the p99 of a channel message (a small probe channel) while a larger
  background channel carries a steady rate;
- the front door's own (``chatnet up`` process) RSS and CPU seconds.

``--plot FILE`` samples the network every half second during the run (each
server's registered clients from its ``/status``, each server's and the front
door's RSS from ``/proc``) and draws registered clients, the registration
rate and RSS over time (matplotlib, ``pip install '.[bench]'``).

Every phase is bounded in time; RLIMIT_NOFILE is raised to the hard limit.
Usage: ``.venv/bin/python bench/clients10k.py [--clients 10000] [--concurrency 500]
[--plot docs/clients10k.png]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.waiting import Deadline

from bench.common import free_port, proc_cpu_seconds, proc_rss_kib, raise_nofile, stop_process
from bench.fanout import LoadGen, build_loadgen
from bench.sampler import Sampler, status_of

BACKGROUND_MEMBERS = 500
BACKGROUND_RATE = 10  # messages/s into the background channel
PROBE_MEMBERS = 50
PROBE_RATE = 10
STEADY_SECONDS = 20


def manifest(irc_port: int, ws_port: int, max_clients: int) -> str:
    hubs = ["a", "b", "c"]
    docs = [
        "apiVersion: chatnet.io/v1alpha1\nkind: ChatNetwork\nmetadata: {name: tenk}\n"
        f"spec:\n  endpoint: {{websocketPort: {ws_port}, ircPort: {irc_port}}}\n"
        "  history: {store: sqlite, retention: 1h}\n"
        f"  limits: {{maxClients: {max_clients}, floodBurst: 1000, floodRate: 1000}}\n"
    ]
    for i, hub in enumerate(hubs):
        peers = hubs[i + 1 :]
        docs.append(
            "apiVersion: chatnet.io/v1alpha1\nkind: ChatServer\n"
            f"metadata: {{name: {hub}}}\n"
            f"spec: {{network: tenk, role: hub, serverId: {i + 1}, peers: {json.dumps(peers)}}}\n"
        )
    return "---\n".join(docs)


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def measure(servers: dict[str, str], pids: dict[str, int], door: int) -> dict[str, float]:
    """One sample: each server's clients and RSS (MiB), their totals, the front door's RSS."""
    values: dict[str, float] = {}
    for name, admin in servers.items():
        status = status_of(admin, timeout=1.0)
        if status is not None:
            values[f"clients:{name}"] = float(status.get("clients", 0))
        with contextlib.suppress(OSError, RuntimeError):
            values[f"rss:{name}"] = proc_rss_kib(pids[name]) / 1024
    if all(f"clients:{name}" in values for name in servers):
        values["clients"] = sum(values[f"clients:{name}"] for name in servers)
    if all(f"rss:{name}" in values for name in servers):
        values["rss"] = sum(values[f"rss:{name}"] for name in servers)
    with contextlib.suppress(OSError, RuntimeError):
        values["rss:door"] = proc_rss_kib(door) / 1024
    return values


def node_pids(up_pid: int, servers: dict[str, str]) -> dict[str, int]:
    """Which child of ``chatnet up`` is which server (by the config file on its command line)."""
    out: dict[str, int] = {}
    for pid in children(up_pid):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        for name in servers:
            if any(arg.endswith(f"/{name}.yaml".encode()) for arg in argv):
                out[name] = pid
    return out


def rate(times: list[float], counts: list[float], window: float = 1.0) -> list[float]:
    """Clients registered per second over the last ``window`` seconds, at each sample."""
    out = []
    for i, (t, n) in enumerate(zip(times, counts, strict=True)):
        j = i
        while j > 0 and t - times[j - 1] <= window:
            j -= 1
        span = t - times[j]
        out.append((n - counts[j]) / span if span > 0 else 0.0)
    return out


def plot(sampler: Sampler, servers: list[str], path: Path, title: str) -> None:
    try:
        import matplotlib  # noqa: PLC0415 - optional: only --plot needs it

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        print("--plot needs matplotlib (pip install '.[bench]')", file=sys.stderr)
        return
    fig, (clients, speed, memory) = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    for name in servers:
        clients.plot(*sampler.series(f"clients:{name}"), label=f"server {name}", lw=1)
        memory.plot(*sampler.series(f"rss:{name}"), label=f"server {name}", lw=1)
    times, counts = sampler.series("clients")
    clients.plot(times, counts, label="all servers", color="black", lw=2)
    speed.plot(times, rate(times, counts), color="tab:purple", lw=1.5)
    memory.plot(*sampler.series("rss"), label="all servers", color="black", lw=2)
    memory.plot(*sampler.series("rss:door"), label="front door (chatnet up)", color="tab:red")
    clients.set(ylabel="registered clients", title=title)
    speed.set(ylabel="registrations/s (1 s window)")
    memory.set(ylabel="RSS (MiB)", xlabel="seconds (sampling starts 1 s before the first client)")
    for axes in (clients, speed, memory):
        for at, label in sampler.marks:
            axes.axvline(at, color="grey", ls=":", lw=1)
            if axes is clients:
                axes.annotate(label, (at, 0), rotation=90, fontsize=7, va="bottom", ha="right")
        axes.grid(alpha=0.3)
    clients.legend(fontsize=8, loc="center right")
    memory.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"plot: {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--max-clients", type=int, default=4000)
    parser.add_argument("--plot", type=Path, help="draw clients, rate and RSS over time here")
    args = parser.parse_args()
    if args.clients <= BACKGROUND_MEMBERS + PROBE_MEMBERS:
        raise SystemExit(f"--clients must exceed {BACKGROUND_MEMBERS + PROBE_MEMBERS}")
    raise_nofile()
    build_loadgen()
    venv = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="clients10k-") as tmp:
        work = Path(tmp)
        irc_port, ws_port = free_port(), free_port()
        (work / "net.yaml").write_text(manifest(irc_port, ws_port, args.max_clients))
        endpoints = work / "endpoints.json"
        up = subprocess.Popen(
            [
                *(str(venv / "chatnet"), "up", str(work / "net.yaml")),
                *("--endpoints", str(endpoints), "--state-dir", str(work / "state")),
            ],
            stdout=(work / "up.out").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        gens: list[LoadGen] = []
        sampler: Sampler | None = None
        try:
            deadline = Deadline(60)
            while not endpoints.exists():
                if deadline.passed or up.poll() is not None:
                    raise SystemExit(
                        "chatnet up did not come up:\n" + (work / "up.out").read_text()
                    )
                time.sleep(0.2)
            nodes = children(up.pid)
            if args.plot:
                servers = {
                    name: str(server["admin"])
                    for name, server in json.loads(endpoints.read_text())["servers"].items()
                }
                pids = node_pids(up.pid, servers)
                sampler = Sampler(lambda: measure(servers, pids, up.pid), 0.25).start()
                time.sleep(1.0)  # a second of the idle network first
            node_rss0 = sum(proc_rss_kib(p) for p in nodes)
            door_rss0, door_cpu0 = proc_rss_kib(up.pid), proc_cpu_seconds(up.pid)
            idle = args.clients - BACKGROUND_MEMBERS - PROBE_MEMBERS
            started = time.monotonic()
            if sampler is not None:
                sampler.mark("idle block")
            gens.append(
                LoadGen(irc_port, idle, False, args.concurrency, prefix="i", channel="#idle")
            )
            reg = gens[0].expect("REGISTERED", 600)
            if sampler is not None:
                sampler.mark("channel members")
            bg = LoadGen(irc_port, BACKGROUND_MEMBERS, False, args.concurrency, prefix="b")
            gens.append(bg)
            bg.expect("REGISTERED", 120)
            probe = LoadGen(irc_port, PROBE_MEMBERS, False, 50, prefix="p", channel="#probe")
            gens.append(probe)
            probe.expect("REGISTERED", 120)
            reg_seconds = time.monotonic() - started
            door_rss_reg = proc_rss_kib(up.pid)
            bg.send("JOIN")
            bg.expect("JOINED", 120)
            probe.send("JOIN")
            probe.expect("JOINED", 120)
            steady_cpu0 = proc_cpu_seconds(up.pid)
            if sampler is not None:
                sampler.mark("steady load")
            bg.send(f"RATE 10 {BACKGROUND_RATE} {STEADY_SECONDS}")
            probe.send(f"RATE 5 {PROBE_RATE} {STEADY_SECONDS}")
            result = probe.expect("RESULT", STEADY_SECONDS + 60)
            background = bg.expect("RESULT", STEADY_SECONDS + 60)
            node_rss = sum(proc_rss_kib(p) for p in nodes)
            door_rss, door_cpu = proc_rss_kib(up.pid), proc_cpu_seconds(up.pid)
            steady_cpu = door_cpu - steady_cpu0
            if sampler is not None:
                sampler.mark("end")
                time.sleep(1.0)
        finally:
            if sampler is not None:
                sampler.stop()
            for gen in gens:
                gen.close()
            stop_process(up, 10)
    clients = args.clients
    print(f"clients registered through the front door: {clients} of {clients}")
    print(
        f"registration: idle block {idle} in {reg['seconds']:.1f}s "
        f"({idle / reg['seconds']:.0f}/s, {args.concurrency} in flight); "
        f"all {clients} in {reg_seconds:.1f}s"
    )
    print(
        f"servers' RSS: {node_rss0 / 1024:.0f} MiB -> {node_rss / 1024:.0f} MiB, "
        f"{(node_rss - node_rss0) / clients:.1f} KiB per client"
    )
    print(
        f"probe channel ({PROBE_MEMBERS} members, {PROBE_RATE} msg/s) under background "
        f"({BACKGROUND_MEMBERS} members, {BACKGROUND_RATE} msg/s): "
        f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
        f"delivered {result['delivered']}/{result['expected']}; background p99 "
        f"{background['p99_ms']:.1f} ms"
    )
    print(
        f"front door: RSS {door_rss0 / 1024:.0f} MiB idle, {door_rss_reg / 1024:.0f} MiB after "
        f"registration, {door_rss / 1024:.0f} MiB after the steady phase "
        f"({(door_rss - door_rss0) / clients:.1f} KiB per client); CPU "
        f"{door_cpu - door_cpu0:.1f}s in all, {steady_cpu / STEADY_SECONDS * 100:.0f}% of a core "
        "in the steady phase"
    )
    if sampler is not None and args.plot:
        title = (
            f"{clients} clients through chatnet up's front door, "
            f"{args.concurrency} registrations in flight"
        )
        plot(sampler, sorted(servers), args.plot, title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
