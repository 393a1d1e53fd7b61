"""Fan-out autoscaling over time: ``chatnet up`` resizing a set as clients come and go.

Starts ``chatnet up`` with a control server and an autoscaled fan-out set
(``--max-clients`` per replica, ``autoscale: {minReplicas: 1, maxReplicas:
--max-replicas, targetClientsPercent: --target, stabilizationWindow:
--window}``), then drives IRC clients through the front door in phases:

1. ramp up: ``--step`` clients every ``--every`` seconds up to ``--peak``;
2. hold at the peak for ``--hold`` seconds;
3. ramp down: ``--step`` clients quit every ``--every`` seconds down to
   ``--floor``, then hold there for ``--hold`` seconds.

A client whose replica is drained (scale-down) is closed by it with an
``ERROR`` and reconnects through the front door, as a real client does.
Twice a second it samples each replica's clients (its ``/status``; replicas
found from the configuration files ``chatnet up`` writes), and reads
``chatnet up``'s log for the autoscaler's decisions. It prints the decisions
with their reasons and a summary, and ``--plot FILE`` draws clients per
replica against the target, the usage against the target share, and the
replica count over time (matplotlib, ``pip install '.[bench]'``).

Everything is bounded: the clients by ``--peak`` (at most 1000), each phase
by its length, the whole run by ``--limit`` seconds.
Usage: ``.venv/bin/python bench/autoscale.py [--plot docs/autoscale.png]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.waiting import Deadline

from bench.common import HOST, free_port, stop_process
from bench.sampler import Sampler, status_of

NETWORK = "auto"
SET = "fan"
#: "autoscale fan: 30/40 clients (75%) stayed above ...: 1 -> 2 replicas"
RESIZE = re.compile(rf"autoscale {SET}: (?P<reason>.*: (?P<old>\d+) -> (?P<new>\d+) replicas.*)")


def manifest(args: argparse.Namespace, irc_port: int, ws_port: int) -> str:
    return (
        "apiVersion: chatnet.io/v1alpha1\nkind: ChatNetwork\n"
        f"metadata: {{name: {NETWORK}}}\n"
        f"spec:\n  endpoint: {{websocketPort: {ws_port}, ircPort: {irc_port}}}\n"
        "  history: {store: sqlite, retention: 1h}\n"
        "  limits: {floodBurst: 1000, floodRate: 1000}\n"
        "---\napiVersion: chatnet.io/v1alpha1\nkind: ChatServer\nmetadata: {name: ctl}\n"
        f"spec: {{network: {NETWORK}, role: control, serverId: 16}}\n"
        "---\napiVersion: chatnet.io/v1alpha1\nkind: ChatServer\n"
        f"metadata: {{name: {SET}}}\n"
        f"spec:\n  network: {NETWORK}\n  role: leaf\n  serverId: 32\n  replicas: 1\n"
        f"  maxClients: {args.max_clients}\n  uplinks: [ctl]\n"
        f"  autoscale: {{minReplicas: 1, maxReplicas: {args.max_replicas}, "
        f"targetClientsPercent: {args.target}, stabilizationWindow: {args.window:g}s}}\n"
    )


@dataclass
class Crowd:
    """IRC clients kept connected through the front door until told to quit."""

    port: int
    tasks: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    quitting: set[int] = field(default_factory=set)
    registered: set[int] = field(default_factory=set)
    reconnects: int = 0
    refused: int = 0

    def add(self, count: int) -> None:
        for _ in range(count):
            n = len(self.tasks) + len(self.quitting)
            self.tasks[n] = asyncio.get_running_loop().create_task(self._client(n))

    def remove(self, count: int) -> None:
        """The oldest ``count`` clients QUIT (and stay away): those on the first
        replica go first, so the replicas a scale-down removes still hold clients
        and their drain has someone to hand over."""
        for n in sorted(self.tasks)[:count]:
            self.quitting.add(n)
            self.tasks.pop(n).cancel()
            self.registered.discard(n)

    async def _client(self, n: int) -> None:
        nick = f"c{n}"
        while True:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                await self._session(n, nick)
            if n in self.registered:  # closed by its server (a drain): come back
                self.reconnects += 1
                nick += "_"  # the old nick may not be released network-wide yet
            self.registered.discard(n)
            await asyncio.sleep(0.2)

    async def _session(self, n: int, nick: str) -> None:
        reader, writer = await asyncio.open_connection(HOST, self.port)
        try:
            writer.write(f"NICK {nick}\r\nUSER u 0 * :autoscale bench\r\n".encode())
            while line := await reader.readline():
                words = line.decode(errors="replace").split()
                if words[:1] == ["PING"]:
                    writer.write(f"PONG {' '.join(words[1:])}\r\n".encode())
                elif len(words) > 1 and words[1] == "001":
                    self.registered.add(n)
                elif len(words) > 1 and words[1] == "433":
                    nick += "_"
                    writer.write(f"NICK {nick}\r\n".encode())
                elif words[:1] == ["ERROR"] and "full" in line.decode(errors="replace"):
                    self.refused += 1
        except asyncio.CancelledError:
            with contextlib.suppress(OSError):
                writer.write(b"QUIT :bench done\r\n")
            raise
        finally:
            writer.close()

    async def close(self) -> None:
        self.remove(len(self.tasks))
        await asyncio.sleep(0.5)


def replicas_now(state: Path) -> dict[str, str]:
    """Each replica of the set and its admin URL, from the configs ``chatnet up`` writes."""
    out = {}
    for config in sorted((state / NETWORK).glob(f"{SET}-*.yaml")):
        with contextlib.suppress(OSError, yaml.YAMLError, KeyError, IndexError, TypeError):
            admin = yaml.safe_load(config.read_text())["listeners"]["admin"][0]
            out[config.stem] = f"http://{admin['host']}:{admin['port']}/"
    return out


class Watch:
    """The sampler's view: replicas' clients, and resize decisions from the log."""

    def __init__(self, state: Path, log: Path, capacity: int, crowd: Crowd) -> None:
        self.state = state
        self.log = log
        self.capacity = capacity
        self.crowd = crowd
        self.decided = 1
        self.events: list[tuple[float, str, int, int]] = []
        self.sampler = Sampler(self.measure, 0.5)

    def measure(self) -> dict[str, float]:
        values: dict[str, float] = {}
        ready = 0
        total = 0
        for name, admin in replicas_now(self.state).items():
            status = status_of(admin, timeout=1.0)
            if status is None:
                continue
            ready += 1
            clients = int(status.get("clients", 0))
            values[f"clients:{name}"] = clients
            total += clients
        values["clients"] = total
        values["ready"] = ready
        values["wanted"] = len(self.crowd.tasks)
        values["reconnects"] = self.crowd.reconnects
        with contextlib.suppress(OSError):
            found = RESIZE.findall(self.log.read_text(errors="replace"))
            for reason, old, new in found[len(self.events) :]:
                self.events.append((self.sampler.now(), reason, int(old), int(new)))
                self.decided = int(new)
        values["decided"] = self.decided
        if ready:
            values["usage"] = 100 * total / (ready * self.capacity)
        return values


async def drive(args: argparse.Namespace, crowd: Crowd, watch: Watch) -> None:
    mark = watch.sampler.mark
    mark("ramp up")
    while len(crowd.tasks) < args.peak:
        crowd.add(min(args.step, args.peak - len(crowd.tasks)))
        await asyncio.sleep(args.every)
    mark("hold")
    await asyncio.sleep(args.hold)
    mark("ramp down")
    while len(crowd.tasks) > args.floor:
        crowd.remove(min(args.step, len(crowd.tasks) - args.floor))
        await asyncio.sleep(args.every)
    mark("hold")
    await asyncio.sleep(args.hold)
    mark("end")


def plot(watch: Watch, args: argparse.Namespace, path: Path) -> None:
    try:
        import matplotlib  # noqa: PLC0415 - optional: only --plot needs it

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        print("--plot needs matplotlib (pip install '.[bench]')", file=sys.stderr)
        return
    sampler = watch.sampler
    fig, (clients, usage, replicas) = plt.subplots(
        3, 1, figsize=(10, 9), sharex=True, gridspec_kw={"height_ratios": [3, 2, 2]}
    )
    names = sorted(
        {
            key.split(":", 1)[1]
            for _, v in sampler.samples
            for key in v
            if key.startswith("clients:")
        },
        key=lambda name: int(name.rsplit("-", 1)[1]),
    )
    for name in names:
        clients.plot(*sampler.series(f"clients:{name}"), lw=1, label=name)
    times, total = sampler.series("clients")
    clients.plot(times, total, color="black", lw=2, label="all replicas")
    clients.plot(*sampler.series("wanted"), color="grey", ls="--", lw=1, label="clients driven")
    ready_t, ready = sampler.series("ready")
    at_target = [n * args.max_clients * args.target / 100 for n in ready]
    clients.step(ready_t, at_target, where="post", color="tab:red", ls=":", label="target")
    clients.set(
        ylabel="clients",
        title=(
            f"autoscaling under chatnet up: maxClients {args.max_clients} per replica, "
            f"target {args.target}%, window {args.window:g}s"
        ),
    )
    clients.legend(fontsize=7, loc="upper right", ncol=2)
    usage.plot(*sampler.series("usage"), color="tab:blue", label="clients / capacity")
    usage.axhline(args.target, color="tab:red", ls=":", label=f"target {args.target}%")
    usage.set(ylabel="% of capacity", ylim=(0, 100))
    usage.legend(fontsize=7, loc="upper right")
    replicas.step(*sampler.series("decided"), where="post", label="decided", lw=2)
    replicas.step(ready_t, ready, where="post", label="ready (answering)", ls="--")
    replicas.set(ylabel="replicas", xlabel="seconds", ylim=(0, args.max_replicas + 0.5))
    replicas.legend(fontsize=7, loc="upper right")
    for axes in (clients, usage, replicas):
        for at, label in sampler.marks:
            axes.axvline(at, color="grey", ls=":", lw=0.8)
            if axes is usage:
                axes.annotate(label, (at, 2), fontsize=7, rotation=90, va="bottom", ha="right")
        for at, _, old, new in watch.events:
            # The window before a decision: every sample in it asked for the change.
            axes.axvspan(at - args.window, at, color="tab:orange", alpha=0.12, lw=0)
            if axes is replicas:
                axes.annotate(
                    f"{old}→{new}", (at, new), fontsize=8, xytext=(3, 3), textcoords="offset points"
                )
        axes.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"plot: {path}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-clients", type=int, default=40, help="per replica")
    parser.add_argument("--max-replicas", type=int, default=4)
    parser.add_argument("--target", type=int, default=50, help="targetClientsPercent")
    parser.add_argument("--window", type=float, default=5.0, help="stabilizationWindow, s")
    parser.add_argument("--peak", type=int, default=100, help="clients at the peak")
    parser.add_argument("--floor", type=int, default=10, help="clients after the ramp down")
    parser.add_argument("--step", type=int, default=5, help="clients per step")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between steps")
    parser.add_argument("--hold", type=float, default=20.0, help="seconds at peak and floor")
    parser.add_argument("--limit", type=float, default=300.0, help="seconds for the whole run")
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args(argv)
    if not 0 <= args.floor < args.peak <= 1000:
        parser.error("--floor/--peak: 0 <= floor < peak <= 1000")
    if not 1 <= args.max_replicas <= 10 or not 1 <= args.target <= 100:
        parser.error("--max-replicas 1..10, --target 1..100")
    if args.peak > args.max_clients * args.max_replicas:
        parser.error("--peak exceeds what --max-replicas replicas of --max-clients hold")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    venv = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="autoscale-") as tmp:
        work = Path(tmp)
        irc_port, ws_port = free_port(), free_port()
        (work / "net.yaml").write_text(manifest(args, irc_port, ws_port))
        endpoints, state, log = work / "endpoints.json", work / "state", work / "up.log"
        up = subprocess.Popen(
            [
                *(str(venv / "chatnet"), "up", str(work / "net.yaml")),
                *("--endpoints", str(endpoints), "--state-dir", str(state)),
            ],
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = Deadline(60)
            while not endpoints.exists():
                if deadline.passed or up.poll() is not None:
                    raise SystemExit("chatnet up did not come up:\n" + log.read_text())
                time.sleep(0.2)
            watch, crowd = asyncio.run(run(args, irc_port, state, log))
        finally:
            stop_process(up, 10)
    report(watch, crowd)
    if args.plot:
        plot(watch, args, args.plot)
    return 0


async def run(
    args: argparse.Namespace, irc_port: int, state: Path, log: Path
) -> tuple[Watch, Crowd]:
    crowd = Crowd(irc_port)
    watch = Watch(state, log, args.max_clients, crowd)
    watch.sampler.start()
    try:
        async with asyncio.timeout(args.limit):
            await drive(args, crowd, watch)
    finally:
        await crowd.close()
        watch.sampler.stop()
    return watch, crowd


def report(watch: Watch, crowd: Crowd) -> None:
    for at, reason, _, _ in watch.events:
        print(f"{at:6.1f}s  {reason}")
    # The last look before the clients were told to go (the "end" mark).
    end = watch.sampler.marks[-1][0] if watch.sampler.marks else float("inf")
    before_end = [v for t, v in watch.sampler.samples if t <= end]
    last = before_end[-1] if before_end else {}
    peak = max((v.get("ready", 0) for _, v in watch.sampler.samples), default=0)
    print(
        f"resizes: {len(watch.events)}; most replicas ready at once: {peak:.0f}; "
        f"clients closed by a drain who came back: {crowd.reconnects}; refused as full: "
        f"{crowd.refused}; "
        f"at the end {last.get('clients', 0):.0f} of {last.get('wanted', 0):.0f} clients "
        f"connected, on {last.get('ready', 0):.0f} replicas"
    )
    errors = watch.sampler.errors
    if errors:
        print(f"samples lost: {len(errors)} (last: {errors[-1]})")


if __name__ == "__main__":
    sys.exit(main())
