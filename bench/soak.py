"""A long run: an 8-server network under steady chat, churn and faults, watched over time.

A ``chatnet up`` network of 4 hubs and 4 leaves (8 servers, SQLite history,
behind the front door) holds ``--clients`` members in one channel; some of
them talk all along (``--talkers`` at ``--rate`` lines/s each), a few more
users change nicks and join and part a side channel, and now and then a
member's connection is cut (it comes back through the front door and catches
up with ``CHATHISTORY``). Meanwhile a random server is killed every
``--kill-every`` seconds (``chatnet up`` restarts it) and another is frozen
(SIGSTOP) for ``--freeze-seconds`` every ``--freeze-every`` seconds: its
links time out and the network splits around it until it thaws, as a
partition would.

Every ``--sample`` seconds it prints each server's RSS and open file
descriptors and the p50/p99 of a probe message's latency through the
network; at the end, the guarantee's accounting (acknowledged, lost,
duplicated: lost and duplicated must be 0), the clients' reconnect times
after each kill (and, for the members slower than 30 s, each of their
connections since the kill), and how each server's memory moved while it lived
(growth per hour, from a least-squares fit). ``--plot FILE`` draws memory
and latency over time (matplotlib).

    .venv/bin/python bench/soak.py                      # 60 minutes
    .venv/bin/python bench/soak.py --minutes 2 --clients 60 --kill-every 40
    .venv/bin/python bench/soak.py --keep /tmp/soak-run  # logs and history kept

What counts as lost: an acknowledged message that a member still lacks at
the end although it came back and caught up. Members never give up
reconnecting; one still away at the end (not joined) owes only what was
acknowledged before it last caught up, and the rest is printed apart
("members away at the end"). Every failed connection attempt is counted by
stage and reason ("members' failed connection attempts": connect, register,
join, catch-up), so a member kept out by the network shows. When a member
lacks a message, each server's history is audited (where the message is
stored) and each server's MAP and NAMES are printed, to tell a network loss
from a delivery or catch-up hole.

Everything runs on loopback; every loop is bounded in count and time.
Exit status 1 when a message was lost or duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.chaos.harness import (  # noqa: E402
    Ledger,
    Member,
    Sender,
    account,
    audit,
    clock,
    percentile,
    recovery_times,
    settle,
    tcp_opener,
    views,
)
from tests.chaos.upnet import UpNetwork, manifest  # noqa: E402
from tests.irc.client import IrcClient  # noqa: E402

from bench.common import proc_rss_kib, raise_nofile, run_in_tempdir, stop_on_exit  # noqa: E402
from bench.fanout import build_loadgen  # noqa: E402

#: Bystanders: idle members in the channel, held by the C load generator (one
#: process per server), so the network carries thousands of clients while the
#: Python members stay few enough to account for every message.
BYSTANDER_RATE = 0.05
PROBE_CHANNEL = "#probe"
SIDE_CHANNEL = "#side"


@dataclass
class Sample:
    """One look at every server."""

    at: float
    rss_kib: dict[str, int]
    fds: dict[str, int]
    pids: dict[str, int]
    probe_ms: list[float]
    joined: int


@dataclass
class Faults:
    kills: list[tuple[float, str]] = field(default_factory=list)
    freezes: list[tuple[float, str]] = field(default_factory=list)
    drops: int = 0
    churn_actions: int = 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="how long the load runs")
    parser.add_argument(
        "--clients", type=int, default=300, help="members in the channel, every message counted"
    )
    parser.add_argument(
        "--bystanders", type=int, default=2000, help="idle members held by the C load generator"
    )
    parser.add_argument("--talkers", type=int, default=20)
    parser.add_argument("--rate", type=float, default=0.5, help="lines per second per talker")
    parser.add_argument("--churners", type=int, default=10, help="users changing nick, join/part")
    parser.add_argument("--kill-every", type=float, default=240.0, help="seconds between kills")
    parser.add_argument("--freeze-every", type=float, default=420.0, help="seconds between freezes")
    parser.add_argument("--freeze-seconds", type=float, default=8.0)
    parser.add_argument("--drop-every", type=float, default=5.0, help="seconds between cut clients")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--keep",
        type=Path,
        help="run in this directory and keep it: every server's log and history, "
        "to look into a loss after the run",
    )
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args(argv)
    if not 0 < args.minutes <= 24 * 60:
        parser.error("--minutes: more than 0, at most a day")
    if not 2 <= args.clients <= 5000 or not 1 <= args.talkers <= args.clients:
        parser.error("--clients from 2 to 5000, --talkers from 1 to --clients")
    if not 0 <= args.bystanders <= 20000:
        parser.error("--bystanders from 0 to 20000")
    return args


class Bystanders:
    """``count`` idle members spread over the servers, each server's held by one loadgen.

    A killed server's connections are gone for good (loadgen does not
    reconnect): ``replace`` starts that server's loadgen again once it is back.
    """

    def __init__(self, net: UpNetwork, count: int, loadgen: Path, seconds: float) -> None:
        self.net = net
        self.loadgen = loadgen
        self.per_server = max(2, count // len(net.servers())) if count else 0
        self.until = clock() + seconds
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.generation = 0

    def start_all(self) -> None:
        if self.per_server:
            for server in self.net.servers():
                self.replace(server)

    def replace(self, server: str) -> None:
        """(Re)start ``server``'s bystanders: connect, register, join, then listen."""
        old = self.procs.pop(server, None)
        if old is not None:
            stop(old)
        self.generation += 1
        host, port = self.net.irc_of(server)
        proc = subprocess.Popen(
            [str(self.loadgen), "--host", host, "--port", str(port), "--members",
             str(self.per_server), "--channel", "#chaos", "--prefix",
             f"b{self.generation}{server.replace('-', '')}x", "--quickack"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, bufsize=1,
        )  # fmt: skip
        self.procs[server] = proc
        assert proc.stdin is not None and proc.stdout is not None
        for command, keyword in (("", "REGISTERED"), ("JOIN", "JOINED")):
            if command:
                proc.stdin.write(command + "\n")
                proc.stdin.flush()
            while True:  # loadgen answers or dies within its own 120 s bounds
                line = proc.stdout.readline()
                if not line or line.startswith("FATAL"):
                    raise RuntimeError(f"bystanders of {server}: {line.strip() or 'exited'}")
                if line.startswith(keyword):
                    break
        # Listen until the end (RATE reads every socket; one line every 20 s).
        left = max(1.0, self.until - clock())
        proc.stdin.write(f"RATE 1 {BYSTANDER_RATE} {left:.0f} 5\n")
        proc.stdin.flush()

    @property
    def count(self) -> int:
        return self.per_server * sum(p.poll() is None for p in self.procs.values())

    def stop_all(self) -> None:
        for proc in self.procs.values():
            stop(proc)
        self.procs.clear()


def stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait(timeout=10)
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


async def connect_all(members: list[Member], batch: int = 25) -> None:
    """Start members in batches, each batch joined before the next (60 s at most)."""
    for start in range(0, len(members), batch):
        group = members[start : start + batch]
        for member in group:
            member.start()
            await asyncio.sleep(0.01)
        try:
            await asyncio.gather(*(m.wait_joined(60) for m in group))
        except TimeoutError:
            stuck = [m for m in group if not m.joined.is_set()]
            detail = "; ".join(f"{m.describe()} {m.errors[-2:]}" for m in stuck[:5])
            raise RuntimeError(f"{len(stuck)} members not joined in 60 s: {detail}") from None


async def probe(net: UpNetwork, until: float, window: list[float]) -> None:
    """One line a second from one user to another through the network; latencies in ms."""
    front = tcp_opener(*net.front_irc)
    seq = 0
    while clock() < until:
        sender: IrcClient | None = None
        receiver: IrcClient | None = None
        try:
            sender, receiver = await front(), await front()
            await sender.register(f"probe{seq}s")
            await receiver.register(f"probe{seq}r")
            for client in (sender, receiver):
                await client.join(PROBE_CHANNEL)
            while clock() < until:
                seq += 1
                await sender.send(f"PRIVMSG {PROBE_CHANNEL} :{seq} {time.monotonic()}")
                line = await receiver.expect("PRIVMSG", PROBE_CHANNEL, timeout=10)
                sent = float(line.last.split()[1])
                window.append((time.monotonic() - sent) * 1000)
                await asyncio.sleep(1.0)
        except (OSError, ConnectionError, TimeoutError, AssertionError, ValueError, IndexError):
            await asyncio.sleep(1.0)  # its server died or froze: open new connections
        finally:
            for client in (sender, receiver):
                if client is not None:
                    client.abort()


async def churn(net: UpNetwork, index: int, until: float, faults: Faults) -> None:
    """A user who keeps changing nick and joining and parting the side channel."""
    rng = random.Random(f"churn {index}")
    front = tcp_opener(*net.front_irc)
    while clock() < until:
        client: IrcClient | None = None
        try:
            client = await front()
            await client.register(f"churn{index}x{rng.randrange(10**6)}")
            while clock() < until:
                action = rng.choice(("nick", "join", "part"))
                if action == "nick":
                    await client.send(f"NICK churn{index}x{rng.randrange(10**6)}")
                elif action == "join":
                    await client.send(f"JOIN {SIDE_CHANNEL}")
                else:
                    await client.send(f"PART {SIDE_CHANNEL} :back soon")
                faults.churn_actions += 1
                await asyncio.sleep(rng.uniform(1.0, 3.0))
                await client.sync()
        except (OSError, ConnectionError, TimeoutError, AssertionError):
            await asyncio.sleep(1.0)
        finally:
            if client is not None:
                client.abort()


async def every(seconds: float, until: float, action: object) -> None:
    """Run ``action()`` (a coroutine function) every ``seconds`` until ``until``."""
    assert callable(action)
    while clock() + seconds < until:
        await asyncio.sleep(seconds)
        await action()


async def run(args: argparse.Namespace, tmp: Path) -> int:
    rng = random.Random(args.seed)
    net = UpNetwork(tmp, manifest(name="soak", hubs=4, leaves=4, flood_rate=20, max_clients=5000))
    stop_on_exit(net.stop)
    ledger = Ledger()
    faults = Faults()
    samples: list[Sample] = []
    members: list[Member] = []
    kill_marks: list[tuple[float, str]] = []
    tasks: list[asyncio.Task[None]] = []
    bystanders: Bystanders | None = None
    stored: dict[str, set[str]] | None = None
    try:
        await asyncio.to_thread(net.wait_ready, 90)
        front = tcp_opener(*net.front_irc)
        members = [
            # Never giving up: a member that stops coming back would count the
            # rest of the run as lost (the 1-hour run's 157,850 "lost").
            Member(f"c{i}", front, ledger, rng=random.Random(args.seed * 100_000 + i),
                   give_up_after=math.inf)
            for i in range(args.clients)
        ]  # fmt: skip
        started = clock()
        await connect_all(members)
        print(f"{args.clients} members joined in {clock() - started:.1f}s", flush=True)
        bystanders = Bystanders(net, args.bystanders, build_loadgen(), args.minutes * 60 + 60)
        started = clock()
        await asyncio.to_thread(bystanders.start_all)
        print(f"{bystanders.count} bystanders joined in {clock() - started:.1f}s", flush=True)
        ledger.started = clock()
        until = clock() + args.minutes * 60
        window: list[float] = []
        talkers = [Sender(m, args.rate, 10**7) for m in rng.sample(members, args.talkers)]
        tasks += [asyncio.create_task(s.run(until)) for s in talkers]
        tasks.append(asyncio.create_task(probe(net, until, window)))
        tasks += [asyncio.create_task(churn(net, i, until, faults)) for i in range(args.churners)]

        async def kill() -> None:
            target = rng.choice(net.servers())
            with contextlib.suppress(RuntimeError):
                pid = net.kill(target)
                kill_marks.append((clock(), target))
                faults.kills.append((clock() - ledger.started, target))
                ledger.note(f"SIGKILL {target}")
                await asyncio.to_thread(net.wait_restarted, target, pid, 60.0)
                if bystanders is not None and bystanders.per_server:
                    with contextlib.suppress(RuntimeError):
                        await asyncio.to_thread(bystanders.replace, target)

        async def freeze() -> None:
            target = rng.choice(net.servers())
            pid = net.pid(target)
            if pid is None:
                return
            faults.freezes.append((clock() - ledger.started, target))
            ledger.note(f"SIGSTOP {target}")
            os.kill(pid, signal.SIGSTOP)
            try:
                await asyncio.sleep(args.freeze_seconds)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
                ledger.note(f"SIGCONT {target}")

        async def drop() -> None:
            member = rng.choice(members)
            if member.drop():
                faults.drops += 1

        tasks.append(asyncio.create_task(every(args.kill_every, until, kill)))
        tasks.append(asyncio.create_task(every(args.freeze_every, until, freeze)))
        tasks.append(asyncio.create_task(every(args.drop_every, until, drop)))

        print(f"{'t (s)':>7} {'RSS MiB min/max':>16} {'fds max':>8} {'joined':>7}"
              f" {'probe p50/p99 ms':>17}  faults", flush=True)  # fmt: skip
        shown = 0
        while clock() < until:
            await asyncio.sleep(min(args.sample, max(0.0, until - clock())))
            pids = {s: p for s in net.servers() if (p := net.pid(s)) is not None}
            sample = Sample(
                at=clock() - ledger.started,
                rss_kib={s: proc_rss_kib(p) for s, p in pids.items()},
                fds={s: open_fds(p) for s, p in pids.items()},
                pids=pids,
                probe_ms=window[:],
                joined=sum(m.joined.is_set() for m in members)
                + (bystanders.count if bystanders else 0),
            )
            window.clear()
            samples.append(sample)
            events = [f"kill {s}" for _, s in faults.kills[shown:]]
            shown = len(faults.kills)
            rss = [v / 1024 for v in sample.rss_kib.values()] or [0.0]
            p50 = percentile(sample.probe_ms, 0.5) if sample.probe_ms else float("nan")
            p99 = percentile(sample.probe_ms, 0.99) if sample.probe_ms else float("nan")
            print(
                f"{sample.at:>7.0f} {min(rss):>7.1f}/{max(rss):<8.1f} "
                f"{max(sample.fds.values(), default=0):>8} {sample.joined:>7} "
                f"{p50:>8.1f}/{p99:<8.1f}  {', '.join(events)}",
                flush=True,
            )
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        settled = await settle_quietly(members, ledger)
        looked_back = await asyncio.to_thread(lookbacks, net)
        lacking = {m for member in members for m in ledger.acked.keys() - member.have.keys()}
        if lacking:
            # Where is what someone lacks? Each server's history says whether
            # the network lost it or a member's delivery/catch-up did. From a
            # little before the first of them: an hour's history is more than
            # the audit pages through.
            openers = {s: tcp_opener(*net.irc_of(s)) for s in net.servers()}
            first = min(ledger.acked[m].at for m in lacking)
            since = time.time() - (clock() - first) - 120
            stored = await audit(openers, ledger, since=since, timeout=5.0)
            # Each server's own map: a server whose picture of the network
            # differs from the others' routes (and drops) messages differently.
            print("each server's view at the end:\n" + await views(openers), flush=True)
    finally:
        if bystanders is not None:
            bystanders.stop_all()
        await asyncio.gather(*(m.stop() for m in members))
        await asyncio.to_thread(net.stop)

    report = account(ledger, members, stored, title="soak")
    print()
    print(report.summary())
    print(f"settled {settled:.1f}s after the load stopped")
    print(looked_back)
    print(f"members' failed connection attempts: {report.failure_summary()}")
    print(
        f"faults: {len(faults.kills)} kills, {len(faults.freezes)} freezes "
        f"({args.freeze_seconds:.0f}s each), {faults.drops} clients cut, "
        f"{faults.churn_actions} nick/join/part actions"
    )
    # Each a pass over every member and every acknowledged message: once per kill.
    by_kill = [(at, srv, recovery_times(ledger, members, at, srv)) for at, srv in kill_marks]
    per_kill = [(at, server, [t for t in times.values() if t]) for at, server, times in by_kill]
    back = [t for _, _, times in per_kill for t in times]
    if back:
        print(
            f"back and caught up after a kill (n={len(back)}): p50 {percentile(back, 0.5):.2f}s "
            f"p99 {percentile(back, 0.99):.2f}s max {max(back):.2f}s; per kill (n, p50, max):"
        )
        # Which kill made the tail: a slow one next to a freeze or another kill.
        print(
            "  "
            + "; ".join(
                f"+{at - ledger.started:.0f} {server} {len(times)}, "
                f"{percentile(times, 0.5):.1f}, {max(times):.1f}s"
                for at, server, times in per_kill
                if times
            )
        )
    slow = slow_recoveries(ledger, members, by_kill)
    for line in slow:
        print(line)
    growth = memory_growth(samples)
    for server, (first, last, per_hour) in sorted(growth.items()):
        print(
            f"memory {server}: {first / 1024:.1f} -> {last / 1024:.1f} MiB over its longest "
            f"life, {per_hour / 1024:+.1f} MiB/h"
        )
    if report.text and (not report.ok or report.away or report.unacked_fate["partly"]):
        print(report.text[:6000])
    if args.json:
        args.json.write_text(json.dumps({
            "samples": [s.__dict__ for s in samples],
            "summary": report.summary(),
            "lost": sum(len(v) for v in report.lost.values()),
            "duplicated": sum(len(v) for v in report.duplicated.values()),
            "acked": report.acked,
            "never_acked": dict(report.unacked_fate),
            "away": sum(report.away.values()),
            "members_away": len(report.away),
            "failures": dict(report.failures),
            "kills": faults.kills,
            "recovery_per_kill": [
                {"at": at - ledger.started, "server": server, "seconds": sorted(times)}
                for at, server, times in per_kill
            ],
            "slow_recoveries": slow,
            "freezes": faults.freezes,
            "growth_kib_per_hour": {k: v[2] for k, v in growth.items()},
        }, indent=1))  # fmt: skip
    if args.plot:
        plot(samples, faults, args.plot)
    return 0 if report.ok else 1


#: A member back and caught up later than this after a kill is shown connection by connection.
SLOW_RECOVERY = 30.0


def slow_recoveries(
    ledger: Ledger,
    members: list[Member],
    by_kill: list[tuple[float, str, dict[str, float | None]]],
    most: int = 5,
) -> list[str]:
    """The members slowest to come back after each kill (past ``SLOW_RECOVERY``; the
    times are ``recovery_times``'), with each connection since the kill (server, when
    joined, caught up, closed) and the member's failures: what a recovery tail is made of."""
    lines: list[str] = []
    for at, server, times in by_kill:
        slow = sorted(
            ((t, label) for label, t in times.items() if t is not None and t > SLOW_RECOVERY),
            reverse=True,
        )[:most]
        for seconds, label in slow:
            member = next(m for m in members if m.label == label)
            sessions = "; ".join(
                f"#{s.number} {s.server} opened {_after(s.opened, at)} joined "
                f"{_after(s.joined, at)} caught up {_after(s.caught_up, at)} closed "
                f"{_after(s.closed, at)}"
                for s in member.sessions
                if (s.closed or float("inf")) > at and s.opened <= at + seconds + 1
            )
            lines.append(
                f"slow after +{at - ledger.started:.0f} {server}: {label} {seconds:.1f}s: "
                f"{sessions}; failures {dict(member.failures) or 'none'}"
            )
    return lines


def _after(t: float | None, at: float) -> str:
    return "-" if t is None else f"+{t - at:.1f}"


def lookbacks(net: UpNetwork) -> str:
    """How far the servers' ``CHATHISTORY AFTER msgid`` looked back (their /metrics).

    Since each server's last start: a killed server's counts went with it.
    """
    count = disrupted = 0
    total = 0.0
    buckets: dict[float, float] = {}
    unreadable: list[str] = []
    for server in net.servers():
        url = net.doc["servers"][server]["admin"].rstrip("/") + "/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode()
        except OSError:
            unreadable.append(server)  # killed just now, not back yet
            continue
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "chatnet_history_lookback_seconds_count":
                    count += int(sample.value)
                elif sample.name == "chatnet_history_lookback_seconds_sum":
                    total += sample.value
                elif sample.name == "chatnet_history_lookback_disrupted_total":
                    disrupted += int(sample.value)
                elif sample.name == "chatnet_history_lookback_seconds_bucket":
                    bound = float(sample.labels["le"])
                    buckets[bound] = buckets.get(bound, 0) + sample.value
    missing = f" ({', '.join(unreadable)} unreadable)" if unreadable else ""
    if not count:
        return f"look-backs of CHATHISTORY AFTER: none since the servers' last start{missing}"
    within = ", ".join(
        f"<= {bound:g}s {100 * n / count:.0f}%"
        for bound, n in sorted(buckets.items())
        if bound in (1.0, 30.0, 120.0, 900.0)  # above 900: the whole window (960 s)
    )
    return (
        f"look-backs of CHATHISTORY AFTER since each server's last start: n={count}, "
        f"{disrupted} over a disruption, mean {total / count:.1f}s ({within}){missing}"
    )


async def settle_quietly(members: list[Member], ledger: Ledger) -> float:
    """Seconds until every member has every acknowledged message (60 s at most)."""
    with contextlib.suppress(TimeoutError):
        return await settle(members, ledger, 60.0)
    return float("inf")


def memory_growth(samples: list[Sample]) -> dict[str, tuple[int, int, float]]:
    """Per server, over its longest-lived process: first and last RSS, and the
    least-squares slope in KiB per hour (after the first 20% of that life, so
    start-up allocations do not count as growth)."""
    lives: dict[tuple[str, int], list[tuple[float, int]]] = {}
    for sample in samples:
        for server, pid in sample.pids.items():
            if server in sample.rss_kib:
                lives.setdefault((server, pid), []).append((sample.at, sample.rss_kib[server]))
    out: dict[str, tuple[int, int, float]] = {}
    for (server, _), points in lives.items():
        if server in out and len(points) <= out[server][2]:
            continue
        steady = points[len(points) // 5 :]
        if len(steady) < 3:
            continue
        xs = [t for t, _ in steady]
        ys = [float(v) for _, v in steady]
        slope = statistics.linear_regression(xs, ys).slope if len(set(xs)) > 1 else 0.0
        best = out.get(server)
        if best is None or len(points) > best[2]:
            out[server] = (points[0][1], points[-1][1], slope * 3600)
    return out


def plot(samples: list[Sample], faults: Faults, path: Path) -> None:
    try:
        import matplotlib  # noqa: PLC0415 - optional: only --plot needs it

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        print("--plot needs matplotlib (pip install '.[bench]')", file=sys.stderr)
        return
    fig, (mem, lat) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    servers = sorted({s for sample in samples for s in sample.rss_kib})
    minutes = [s.at / 60 for s in samples]
    for server in servers:
        mem.plot(minutes, [s.rss_kib.get(server, float("nan")) / 1024 for s in samples],
                 label=server, linewidth=1)  # fmt: skip
    mem.set(ylabel="RSS (MiB)", title="memory per server (drops: killed and restarted)")
    mem.legend(ncol=4, fontsize="small")
    lat.plot(minutes, [percentile(s.probe_ms, 0.5) for s in samples], label="p50")
    lat.plot(minutes, [percentile(s.probe_ms, 0.99) for s in samples], label="p99")
    lat.set(xlabel="minutes", ylabel="probe latency (ms)", yscale="log")
    for at, _ in faults.kills:
        for axes in (mem, lat):
            axes.axvline(at / 60, color="red", alpha=0.3, linewidth=0.8)
    for at, _ in faults.freezes:
        for axes in (mem, lat):
            axes.axvline(at / 60, color="blue", alpha=0.3, linewidth=0.8, linestyle="--")
    lat.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"plot: {path}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_nofile()
    return run_in_tempdir("chatnet-soak-", lambda tmp: run(args, tmp), keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
