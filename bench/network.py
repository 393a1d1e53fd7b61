"""The network's cost curve: what each server pays as the network grows.

For networks of 1, 2, 4 and 8 chatnet servers (hubs linked in a star, all on
loopback) and for each history store, SQLite on every server and one shared
PostgreSQL, every server hosts the same load: ``--channels`` channels of
10-50 members (sizes drawn with a fixed seed) whose members are connected to
that server, each channel carrying ``--rate`` messages per second from one
sender, driven by the C load generator (``bench/loadgen.c``, one process per
channel). So the network's message rate grows with its servers, and what is
measured is what it costs each server:

* **CPU per 1000 deliveries** (server CPU-seconds during the timed phase,
  per server, per thousand messages delivered to that server's clients);
* **stored per server**: the rows each server's SQLite file holds (with
  SQLite every server stores every channel message of the network), or the
  rows in the shared table (with PostgreSQL only the origin writes, once);
* **RSS** per server and the network's deliveries per second.

With SQLite the per-server cost grows with the network (every server stores
the others' messages); with PostgreSQL routing stays by interest and a server
pays nothing for channels it has no members in, so it stays flat: adding
servers adds capacity. ``--plot FILE`` draws both curves (matplotlib).

    python bench/network.py [--servers 1,2,4,8] [--stores sqlite,postgres]
        [--channels 8] [--rate 2] [--seconds 10] [--json out.json] [--plot out.png]

Everything runs on loopback; every loop is bounded in count and time. As
root, PostgreSQL runs as ``postgres`` or ``nobody`` (``tests/pgserver.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.pgserver import PgServer, PostgresUnavailable
from tests.waiting import Deadline

from bench.common import (
    free_port,
    node_env,
    proc_cpu_seconds,
    proc_rss_kib,
    stop_process,
    wait_port,
)
from bench.fanout import build_loadgen

SECRET = "bench-network"
LIMITS = {
    "maxClients": 10000,
    "floodBurst": 1000000,
    "floodRate": 1000000.0,
    "floodMaxQueued": 1000000,
    "sendqBytes": 16 << 20,
}
SEED = 20261205


class Node:
    """One chatnet-node process of the measured network."""

    def __init__(
        self,
        tmp: Path,
        index: int,
        history: dict[str, Any],
        dial: list[dict[str, Any]],
        accept: list[str],
    ) -> None:
        self.name = f"s{index}"
        self.server_id = 15 + index  # 16 on: two hex digits each, none begins another
        self.irc, self.ws = free_port(), free_port()
        self.db = tmp / f"{self.name}.db" if history["store"] == "sqlite" else None
        if self.db is not None:
            history = {**history, "path": str(self.db)}
        config = {
            "name": self.name,
            "serverId": self.server_id,
            "listeners": {
                "irc": [{"host": "127.0.0.1", "port": self.irc}],
                "websocket": [{"host": "127.0.0.1", "port": self.ws}],
            },
            "limits": LIMITS,
            "history": history,
            "links": {"secret": SECRET, "accept": accept, "dial": dial},
            "drainSeconds": 0.5,
        }
        path = tmp / f"{self.name}.yaml"
        path.write_text(yaml.safe_dump(config))
        self.log = (tmp / f"{self.name}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chatnet_node", "--config", str(path)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=node_env(),
        )

    def wait(self) -> None:
        wait_port(self.irc, self.proc, 20)

    def status(self) -> dict[str, Any]:
        """The node's ``/status`` (links up, clients)."""
        url = f"http://127.0.0.1:{self.ws}/status"
        with contextlib.suppress(OSError, ValueError), urllib.request.urlopen(url, timeout=2) as r:
            found: dict[str, Any] = json.loads(r.read())
            return found
        return {}

    def link_messages_in(self) -> int:
        """Link messages this server has received, over all its links."""
        # Apart from the clock events every server sends twice a second (``irc.ids``).
        return sum(
            int(link.get("messagesIn", 0)) - int(link.get("clocksIn", 0))
            for link in self.status().get("links", [])
        )

    def links_up(self) -> int:
        return sum(1 for link in self.status().get("links", []) if link.get("state") == "up")

    def stored(self) -> int:
        if self.db is None or not self.db.exists():
            return 0
        with contextlib.closing(sqlite3.connect(self.db)) as conn:
            row = conn.execute("SELECT count(*) FROM messages").fetchone()
        return int(row[0])

    def stop(self) -> None:
        stop_process(self.proc, 10)
        self.log.close()


class Channel:
    """One channel's members and its sender: a loadgen process on one server."""

    def __init__(self, loadgen: Path, port: int, name: str, members: int) -> None:
        self.members = members
        self.proc = subprocess.Popen(
            [str(loadgen), "--host", "127.0.0.1", "--port", str(port), "--members",
             str(members), "--channel", name, "--prefix", name.strip("#"), "--quickack"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )  # fmt: skip

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def expect(self, keyword: str, deadline: Deadline) -> dict[str, Any]:
        """The next ``KEYWORD {json}`` line (a blocking read: loadgen answers in bounded time)."""
        assert self.proc.stdout is not None
        while not deadline.passed:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"loadgen exited ({self.proc.wait()}) waiting for {keyword}")
            word, _, payload = line.strip().partition(" ")
            if word == "FATAL":
                raise RuntimeError(f"loadgen: {payload}")
            if word == keyword:
                found: dict[str, Any] = json.loads(payload)
                return found
        raise RuntimeError(f"loadgen: no {keyword} in time")

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                self.send("QUIT")
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


@dataclass
class Result:
    """One network size with one store."""

    store: str
    servers: int
    channels: int
    clients: int
    sent_per_s: float
    deliveries_per_s: float
    lost: int
    cpu_ms_per_1000: float  # mean over servers
    cpu_ms_per_1000_max: float
    stored_per_server: float
    link_in_per_server: float
    rss_mib: float


def start_network(tmp: Path, count: int, history: dict[str, Any]) -> list[Node]:
    hub = Node(tmp, 1, history, [], [f"s{i}" for i in range(2, count + 1)])
    hub.wait()
    nodes = [hub]
    dial = [{"name": hub.name, "serverId": hub.server_id, "host": "127.0.0.1", "port": hub.ws}]
    for index in range(2, count + 1):
        nodes.append(Node(tmp, index, history, dial, []))
    for node in nodes[1:]:
        node.wait()
    deadline = Deadline(30)
    while hub.links_up() < count - 1:
        if deadline.passed:
            raise RuntimeError(f"only {hub.links_up()} of {count - 1} links came up")
        time.sleep(0.2)
    return nodes


def measure(
    args: argparse.Namespace,
    loadgen: Path,
    store: str,
    count: int,
    history: dict[str, Any],
    total_rows: Any,
) -> Result:
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory(prefix="chatnet-network-") as tmp_name:
        tmp = Path(tmp_name)
        nodes = start_network(tmp, count, history)
        channels: list[tuple[Node, Channel]] = []
        try:
            for node in nodes:
                for c in range(args.channels):
                    size = rng.randint(args.min_members, args.max_members)
                    channels.append((node, Channel(loadgen, node.irc, f"#{node.name}c{c}", size)))
            deadline = Deadline(120)
            for _, channel in channels:
                channel.expect("REGISTERED", deadline)
            for _, channel in channels:
                channel.send("JOIN")
            for _, channel in channels:
                channel.expect("JOINED", deadline)
            time.sleep(1.0)  # the joins settle across the links
            before_rows = total_rows()
            links_before = {n.name: n.link_messages_in() for n in nodes}
            before = {n.name: proc_cpu_seconds(n.proc.pid) for n in nodes}
            started = time.monotonic()
            for _, channel in channels:
                channel.send(f"RATE 1 {args.rate:.3f} {args.seconds:.3f} 5")
            results = [(node, channel.expect("RESULT", Deadline(args.seconds + 30)))
                       for node, channel in channels]  # fmt: skip
            wall = time.monotonic() - started
            cpu = {n.name: proc_cpu_seconds(n.proc.pid) - before[n.name] for n in nodes}
            time.sleep(1.0)  # writes of the last messages land
            link_in = [n.link_messages_in() - links_before[n.name] for n in nodes]
            rss = [proc_rss_kib(n.proc.pid) / 1024 for n in nodes]
            stored = (
                [float(n.stored()) for n in nodes]
                if store == "sqlite"
                # One shared table: each message written once, by its origin.
                else [float(total_rows() - before_rows) / count]
            )
        finally:
            for _, channel in channels:
                channel.close()
            for node in nodes:
                node.stop()
    delivered = {n.name: 0 for n in nodes}
    sent = lost = 0
    for node, res in results:
        delivered[node.name] += int(res["delivered"])
        sent += int(res["sent"])
        lost += int(res["expected"]) - int(res["delivered"])
    per_1000 = [cpu[n] * 1e6 / max(1, delivered[n]) for n in delivered]
    return Result(
        store=store,
        servers=count,
        channels=len(channels),
        clients=sum(ch.members for _, ch in channels),
        sent_per_s=sent / args.seconds,
        deliveries_per_s=sum(delivered.values()) / wall,
        lost=lost,
        cpu_ms_per_1000=statistics.mean(per_1000),
        cpu_ms_per_1000_max=max(per_1000),
        stored_per_server=statistics.mean(stored),
        link_in_per_server=statistics.mean(link_in),
        rss_mib=statistics.mean(rss),
    )


def run_store(args: argparse.Namespace, loadgen: Path, store: str) -> list[Result]:
    if store == "sqlite":
        return [
            measure(args, loadgen, store, n, {"store": "sqlite"}, lambda: 0) for n in args.servers
        ]
    try:
        server = PgServer.create()
    except PostgresUnavailable as exc:
        print(f"postgres: skipped ({exc})", file=sys.stderr)
        return []
    out = []
    try:
        for count in args.servers:
            dsn = server.create_database()

            def rows(dsn: str = dsn) -> int:
                with psycopg.connect(dsn) as conn:
                    cur = conn.execute(
                        "SELECT count(*) FROM chatnet_messages"
                        " WHERE to_regclass('chatnet_messages') IS NOT NULL"
                    )
                    row = cur.fetchone()
                    return int(row[0]) if row else 0

            history = {"store": "postgres", "dsn": dsn, "path": None}
            out.append(measure(args, loadgen, store, count, history, rows))
    finally:
        server.destroy()
    return out


def table(results: list[Result]) -> str:
    head = (
        f"{'store':9}{'servers':>8}{'channels':>9}{'clients':>8}{'msg/s':>7}"
        f"{'deliv/s':>9}{'lost':>6}{'cpu ms/1k deliv':>17}{'(max)':>7}"
        f"{'stored/server':>14}{'link in/server':>15}{'RSS MiB':>9}"
    )
    lines = [head]
    for r in results:
        lines.append(
            f"{r.store:9}{r.servers:>8}{r.channels:>9}{r.clients:>8}{r.sent_per_s:>7.0f}"
            f"{r.deliveries_per_s:>9.0f}{r.lost:>6}{r.cpu_ms_per_1000:>17.1f}"
            f"{r.cpu_ms_per_1000_max:>7.1f}{r.stored_per_server:>14.0f}"
            f"{r.link_in_per_server:>15.0f}{r.rss_mib:>9.1f}"
        )
    return "\n".join(lines)


def plot(results: list[Result], path: Path) -> None:
    try:
        import matplotlib  # noqa: PLC0415 - optional: only --plot needs it

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        print("--plot needs matplotlib (pip install '.[bench]')", file=sys.stderr)
        return
    fig, (cost, stored) = plt.subplots(1, 2, figsize=(10, 4))
    for store in sorted({r.store for r in results}):
        rows = [r for r in results if r.store == store]
        xs = [r.servers for r in rows]
        cost.plot(xs, [r.cpu_ms_per_1000 for r in rows], marker="o", label=store)
        stored.plot(xs, [r.stored_per_server for r in rows], marker="o", label=store)
    cost.set(xlabel="servers", ylabel="server CPU ms per 1000 deliveries", title="cost")
    stored.set(xlabel="servers", ylabel="messages stored per server", title="storage")
    sizes = sorted({r.servers for r in results})
    for axes in (cost, stored):
        axes.set_xscale("log", base=2)
        axes.set_xticks(sizes, [str(n) for n in sizes])
        axes.legend()
        axes.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"plot: {path}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", default="1,2,4,8", help="network sizes, comma-separated")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--channels", type=int, default=8, help="channels per server")
    parser.add_argument("--min-members", type=int, default=10)
    parser.add_argument("--max-members", type=int, default=50)
    parser.add_argument("--rate", type=float, default=5.0, help="messages/s per channel")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args(argv)
    args.servers = [int(s) for s in args.servers.split(",")]
    if not all(1 <= s <= 16 for s in args.servers):
        parser.error("--servers: sizes from 1 to 16")
    args.stores = args.stores.split(",")
    if not set(args.stores) <= {"sqlite", "postgres"}:
        parser.error("--stores: sqlite and/or postgres")
    if not 2 <= args.min_members <= args.max_members <= 1000:
        parser.error("--min-members/--max-members: 2 <= min <= max <= 1000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    loadgen = build_loadgen()
    results: list[Result] = []
    for store in args.stores:
        results += run_store(args, loadgen, store)
        print(table([r for r in results if r.store == store]), flush=True)
    print()
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    if args.plot:
        plot(results, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
