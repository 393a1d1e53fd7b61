"""Slow readers: thousands of clients that never read, while normal users chat.

Starts one chatnet-node, then:

1. **idle**: ``--users`` normal users in ``#chat`` take turns to send
   ``--rate`` messages a second for ``--idle-seconds`` (30: about as long
   as the flood phase, so both p99s come from as many deliveries); every
   user times each delivery to its socket (the kernel's receive timestamp
   against the send time, same machine): the idle p99. The bench also
   prints the p99s as it read the lines, its own queueing included (see
   ``User``);
2. connects ``--count`` slow readers (a 4 KiB receive buffer, registered,
   in one of the ``#floodN`` channels of 500, then never read again) and
   reads the server's RSS;
3. **flood**: ``--flooders`` clients, 20 lines a second each, fill the
   flood channels with 400-byte lines while the same ``#chat`` run is
   timed again, until every slow reader has been dropped or ``--timeout``
   passes.

Prints the idle and flood p99 and their ratio (target: at most 2), the
server's garbage collections in each timed phase (``chatnet_gc_pause_seconds``:
how many, how long in all, how many over a millisecond), the slow
readers dropped with "SendQ exceeded" (the server's ``chatnet_sendq_exceeded``;
a watcher in ``#flood0`` sees each of its channel's QUITs) and the server's
peak RSS growth against the bound ``2 * count * sendqBytes + 16 MiB``.
Exits 1 when a target is missed. Raises RLIMIT_NOFILE (soft to hard) for
itself and the server. On two CPUs or more the server runs on CPU 1 and the
bench (its 10,000 sockets, the flooders and the timing) on CPU 0, so the
two do not take turns on one core; ``--no-pin`` lets the scheduler place
them.

    .venv/bin/python bench/slow_readers.py                 # 10,000 slow readers
    .venv/bin/python bench/slow_readers.py --count 500 --seconds 2 --idle-seconds 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import (  # noqa: E402 - after the path is set
    HOST,
    cpu_prefix,
    free_port,
    node_env,
    raise_nofile,
    stop_process,
    venv_python,
    wait_http,
)

LINE = "x" * 400
RCVBUF = 4096
#: Slow readers per flood channel: every JOIN goes to every member, so one
#: channel of 10,000 would cost 50 million JOIN lines before the flood starts.
PER_CHANNEL = 500
#: Lines a second each flooder sends (the bench's floodRate; an attacker
#: would use more connections at the default 4 instead).
FLOOD_RATE = 20
SLACK = 16 << 20
#: Where ``--pin`` puts the server and the bench.
NODE_CPU, BENCH_CPU = 1, 0
#: Linux's receive timestamps in nanoseconds (``socket`` does not name it).
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


@dataclass
class Options:
    count: int = 10_000
    users: int = 20
    rate: float = 20.0
    seconds: float = 5.0
    idle_seconds: float = 30.0
    sendq: int = 65536
    timeout: float = 240.0
    flooders: int = 10
    pin: bool = True


@dataclass
class Pauses:
    """The server's garbage collections by generation, from ``chatnet_gc_pause_seconds``."""

    count: list[float] = field(default_factory=lambda: [0.0] * 3)
    seconds: list[float] = field(default_factory=lambda: [0.0] * 3)
    #: Collections that took longer than 1 ms (by generation).
    over_ms: list[float] = field(default_factory=lambda: [0.0] * 3)

    def since(self, before: Pauses) -> Pauses:
        return Pauses(
            [a - b for a, b in zip(self.count, before.count, strict=True)],
            [a - b for a, b in zip(self.seconds, before.seconds, strict=True)],
            [a - b for a, b in zip(self.over_ms, before.over_ms, strict=True)],
        )

    def __str__(self) -> str:
        return "; ".join(
            f"gen {g}: {self.count[g]:.0f} ({self.seconds[g] * 1000:.1f} ms, "
            f"{self.over_ms[g]:.0f} over 1 ms)"
            for g in range(3)
        )


@dataclass
class Result:
    idle_p99: float = 0.0  # to the users' sockets (kernel receive timestamps)
    flood_p99: float = 0.0
    idle_read_p99: float = 0.0  # to the bench's reads: with its own queueing
    flood_read_p99: float = 0.0
    delivered: int = 0
    expected: int = 0
    slow_connected: int = 0
    watched: int = 0
    dropped_seen: int = 0
    dropped_metric: int = 0
    rss_before_kib: int = 0
    rss_peak_kib: int = 0
    flood_lines: int = 0
    flood_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    pinned: bool = False
    idle_pauses: Pauses = field(default_factory=Pauses)
    flood_pauses: Pauses = field(default_factory=Pauses)


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


async def metrics_text(port: int) -> str | None:
    """The server's /metrics page (None when it cannot be read).

    On the measuring loop itself, not in a thread: a thread holding the GIL
    keeps the loop that times the normal users waiting for up to the
    interpreter's switch interval (5 ms), which then shows as the server's
    latency.
    """
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(f"GET /metrics HTTP/1.0\r\nHost: {HOST}\r\n\r\n".encode())
        text = (await asyncio.wait_for(reader.read(), 5)).decode(errors="replace")
        writer.close()
    except (OSError, TimeoutError):
        return None
    return text


async def metric(port: int, name: str) -> int:
    """A counter from the server's /metrics (-1 when it cannot be read)."""
    text = await metrics_text(port)
    if text is None:
        return -1
    found = re.search(rf"^{name}(?:_total)?(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
    return int(float(found.group(1))) if found else -1


_PAUSE = re.compile(r"^chatnet_gc_pause_seconds_(count|sum|bucket)\{([^}]*)\} (\S+)$", re.M)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


async def gc_pauses(port: int) -> Pauses:
    """The server's collections so far (zeros when /metrics cannot be read)."""
    pauses = Pauses()
    text = await metrics_text(port)
    if text is None:
        return pauses
    under_ms = [0.0] * 3
    for kind, labels, value in _PAUSE.findall(text):
        named = dict(_LABEL.findall(labels))
        g = int(named["generation"])
        if kind == "count":
            pauses.count[g] = float(value)
        elif kind == "sum":
            pauses.seconds[g] = float(value)
        elif named.get("le") == "0.001":
            under_ms[g] = float(value)
    pauses.over_ms = [pauses.count[g] - under_ms[g] for g in range(3)]
    return pauses


class User:
    """A normal user on its own socket: reads everything, times ``T`` lines.

    Each ``T`` line carries its send time (``time.time_ns``). Two latencies
    are kept per delivery: ``latencies``, up to the moment the line reached
    this user's socket (the kernel's receive timestamp, ``SO_TIMESTAMPNS``):
    the server's own, what a user on a machine of their own would wait; and
    ``read_latencies``, up to the moment this bench read it. The bench's
    users share one process and one CPU, and take turns to read: a line
    fanned out to 19 of them is read by the last one after the other 18,
    so the second includes the bench's own queueing, more than the server's
    time on an idle server.
    """

    def __init__(self, nick: str) -> None:
        self.nick = nick
        self.latencies: list[float] = []
        self.read_latencies: list[float] = []
        self.quits = 0
        self.sock: socket.socket | None = None
        self._buffer = b""
        self._out = b""
        self._joined: asyncio.Future[None] | None = None

    async def connect(self, port: int, channel: str) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setblocking(False)
        await loop.sock_connect(sock, (HOST, port))
        self.sock = sock
        joined = self._joined = loop.create_future()
        loop.add_reader(sock.fileno(), self._readable)
        self.send(f"NICK {self.nick}", f"USER {self.nick} 0 * :{self.nick}", f"JOIN {channel}")
        await asyncio.wait_for(joined, 30)

    def send(self, *lines: str) -> None:
        self._out += "".join(f"{line}\r\n" for line in lines).encode()
        self._flush()

    def _flush(self) -> None:
        sock = self.sock
        if sock is None or not self._out:
            return
        try:
            sent = sock.send(self._out)
        except BlockingIOError:
            sent = 0
        self._out = self._out[sent:]
        if self._out:  # rare: the kernel's buffer is full; try again in a moment
            asyncio.get_running_loop().call_later(0.001, self._flush)

    def _readable(self) -> None:
        sock = self.sock
        assert sock is not None
        try:
            data, ancillary, _, _ = sock.recvmsg(1 << 20, socket.CMSG_SPACE(16))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, ancillary = b"", []
        if not data:
            asyncio.get_running_loop().remove_reader(sock.fileno())
            return
        now = time.time_ns()
        arrived = now
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanos = struct.unpack("qq", value[:16])
                arrived = seconds * 1_000_000_000 + nanos
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\r\n")
        for line in lines:
            if b" PRIVMSG #chat :T " in line:
                sent = int(line.rsplit(b" ", 1)[1])
                self.latencies.append((arrived - sent) / 1e9)
                self.read_latencies.append((now - sent) / 1e9)
            elif b" QUIT :SendQ exceeded" in line:
                self.quits += 1
            elif line.startswith(b"PING "):
                self.send("PONG " + line[5:].decode())
            elif b" 366 " in line and self._joined is not None:
                self._joined.set_result(None)
                self._joined = None

    async def close(self) -> None:
        sock = self.sock
        if sock is None:
            return
        self.sock = None
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(sock.fileno())
        sock.close()


async def slow_reader(port: int, i: int, channel: str) -> socket.socket | None:
    """A registered client in ``channel`` that will never read again."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, (HOST, port))
        await loop.sock_sendall(
            sock, f"NICK s{i}\r\nUSER s 0 * :s\r\nJOIN {channel}\r\nMODE {channel} -n\r\n".encode()
        )
        seen = b""
        deadline = time.monotonic() + 30
        while b" 366 " not in seen:
            data = await asyncio.wait_for(loop.sock_recv(sock, 65536), deadline - time.monotonic())
            if not data:
                raise OSError("closed")
            seen = seen[-200:] + data
    except (OSError, TimeoutError):
        sock.close()
        return None
    return sock


async def timed_run(
    users: list[User], opts: Options, seconds: float, busy: asyncio.Task[None] | None = None
) -> tuple[list[float], list[float], int]:
    """The sender posts at ``rate`` for ``seconds`` (and while ``busy`` runs);
    every other user's latencies (to its socket, and to the bench's read of
    it), and how many deliveries were expected."""
    for user in users:
        user.latencies.clear()
        user.read_latencies.clear()
    sent = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds or (busy is not None and not busy.done()):
        # Senders take turns, so each stays far under the flood limit.
        users[sent % len(users)].send(f"PRIVMSG #chat :T {time.time_ns()}")
        sent += 1
        await asyncio.sleep(1 / opts.rate)
    await asyncio.sleep(1.0)  # the last ones arrive
    latencies = [x for user in users for x in user.latencies]
    read = [x for user in users for x in user.read_latencies]
    return latencies, read, sent * (len(users) - 1)


def p99(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def measure(irc_port: int, ws_port: int, pid: int, opts: Options) -> Result:
    result = Result()
    users = [User(f"user{i}") for i in range(opts.users)]
    for user in users:
        await user.connect(irc_port, "#chat")
    watcher = User("watcher")
    channels = [f"#flood{i}" for i in range(max(1, -(-opts.count // PER_CHANNEL)))]
    await watcher.connect(irc_port, channels[0])
    watcher.send(f"MODE {channels[0]} -n")  # it made #flood0: flooders speak from outside
    before = await gc_pauses(ws_port)
    latencies, read, _ = await timed_run(users, opts, opts.idle_seconds)
    result.idle_p99, result.idle_read_p99 = p99(latencies), p99(read)
    result.idle_pauses = (await gc_pauses(ws_port)).since(before)

    started = time.monotonic()
    slow: list[socket.socket] = []
    batch = 200
    for first in range(0, opts.count, batch):
        made = await asyncio.gather(
            *(
                slow_reader(irc_port, i, channels[i % len(channels)])
                for i in range(first, min(first + batch, opts.count))
            )
        )
        slow.extend(s for s in made if s is not None)
    result.slow_connected = len(slow)
    print(f"{len(slow)} slow readers connected in {time.monotonic() - started:.1f}s", flush=True)
    result.rss_before_kib = status_kib(pid, "VmRSS")

    flooders = [User(f"flooder{i}") for i in range(opts.flooders)]
    for flooder in flooders:
        # From outside the flood channels (their first member set -n), so a
        # flooder never reads the flood itself.
        await flooder.connect(irc_port, "#flooders")
    deadline = time.monotonic() + opts.timeout

    async def flood() -> None:
        # Each flooder at FLOOD_RATE lines a second, to the channels in turn.
        turn = 0
        dropped = 0
        next_check = 0.0
        while dropped < len(slow) and time.monotonic() < deadline:
            if time.monotonic() >= next_check:
                dropped = await metric(ws_port, "chatnet_sendq_exceeded")
                next_check = time.monotonic() + 0.5
            for flooder in flooders:
                flooder.send(f"PRIVMSG {channels[turn % len(channels)]} :{LINE}")
                turn += 1
            result.flood_lines += len(flooders)
            await asyncio.sleep(1 / FLOOD_RATE)

    before = await gc_pauses(ws_port)
    flooding = asyncio.create_task(flood())
    latencies, read, flood_expected = await timed_run(users, opts, opts.seconds, flooding)
    result.flood_pauses = (await gc_pauses(ws_port)).since(before)
    result.flood_seconds = time.monotonic() - (deadline - opts.timeout)
    result.flood_p99, result.flood_read_p99 = p99(latencies), p99(read)
    result.delivered = len(latencies)
    result.expected = flood_expected
    await flooding
    result.rss_peak_kib = status_kib(pid, "VmHWM")
    result.dropped_seen = watcher.quits
    result.watched = sum(1 for i in range(len(slow)) if i % len(channels) == 0)
    result.dropped_metric = await metric(ws_port, "chatnet_sendq_exceeded")
    for sock in slow:
        sock.close()
    for user in [*users, watcher, *flooders]:
        await user.close()
    return result


def run(opts: Options) -> Result:
    """Start a node, measure, stop it; the figures."""
    raise_nofile()
    pinned = opts.pin and bool(cpu_prefix(NODE_CPU))
    if pinned:
        os.sched_setaffinity(0, {BENCH_CPU})
    with tempfile.TemporaryDirectory() as tmp:
        irc_port, ws_port = free_port(), free_port()
        config = {
            "name": "bench",
            "listeners": {
                "irc": [{"host": HOST, "port": irc_port}],
                "websocket": [{"host": HOST, "port": ws_port}],
            },
            "limits": {
                "maxClients": opts.count + opts.users + 100,
                "sendqBytes": opts.sendq,
                # What a public endpoint expecting hostile readers sets: without
                # it Linux lets each socket buffer up to 4 MiB in the kernel.
                "socketSendBuffer": 65536,
                "pingInterval": 3600,
                "floodRate": FLOOD_RATE,
                "floodBurst": 50,
            },
            "history": {"path": None},
            "cloaks": {"secret": "bench"},
        }
        path = Path(tmp) / "node.yaml"
        path.write_text(yaml.safe_dump(config))
        log = (Path(tmp) / "node.log").open("wb")
        proc = subprocess.Popen(
            [
                *(cpu_prefix(NODE_CPU) if pinned else []),
                venv_python(),
                "-m",
                "chatnet_node",
                "--config",
                str(path),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=node_env(),
        )
        try:
            wait_http(f"http://{HOST}:{ws_port}/healthz", 20)
            result = asyncio.run(measure(irc_port, ws_port, proc.pid, opts))
            result.pinned = pinned
            return result
        finally:
            stop_process(proc)
            log.close()


def report(opts: Options, result: Result) -> bool:
    ratio = result.flood_p99 / result.idle_p99 if result.idle_p99 > 0 else float("inf")
    growth = max(0, result.rss_peak_kib - result.rss_before_kib) * 1024
    # A slow reader's queue may pass sendqBytes by the write that crossed the
    # limit, and the transport's buffer over-allocates as it grows: at most
    # twice the limit per reader, plus a little for the allocator's own slack.
    bound = result.slow_connected * opts.sendq * 2 + SLACK
    if result.pinned:
        print(f"server on CPU {NODE_CPU}, bench on CPU {BENCH_CPU}")
    print(
        f"normal users: {opts.users} in #chat, {opts.rate:g} msg/s ({opts.idle_seconds:g}s idle); "
        f"slow readers: {result.slow_connected} (sendq {opts.sendq} bytes)"
    )
    print(
        f"normal users' p99: idle {result.idle_p99 * 1000:.1f} ms, with the slow readers "
        f"{result.flood_p99 * 1000:.1f} ms, ratio {ratio:.2f} (target <= 2; to their sockets)"
    )
    read_ratio = (
        result.flood_read_p99 / result.idle_read_p99 if result.idle_read_p99 > 0 else float("inf")
    )
    print(
        f"as read by the bench (its own queueing too): idle {result.idle_read_p99 * 1000:.1f} ms, "
        f"with the slow readers {result.flood_read_p99 * 1000:.1f} ms, ratio {read_ratio:.2f}"
    )
    print(f"delivered to normal users under flood: {result.delivered}/{result.expected}")
    print(f"server's garbage collections while timed, idle: {result.idle_pauses}")
    print(f"server's garbage collections while timed, flood: {result.flood_pauses}")
    print(
        f"slow readers dropped with 'SendQ exceeded': {result.dropped_metric} counted by "
        f"the server of {result.slow_connected}; a watcher in #flood0 saw "
        f"{result.dropped_seen} QUIT 'SendQ exceeded' of its {result.watched} "
        f"({result.flood_lines} flood lines from {opts.flooders} flooders in "
        f"{result.flood_seconds:.1f}s)"
    )
    print(
        f"server RSS {result.rss_before_kib / 1024:.0f} MiB before the flood, peak growth "
        f"{growth / 2**20:.1f} MiB ({growth / max(1, result.slow_connected) / 1024:.0f} KiB "
        f"per slow reader), bound 2*count*sendq+16MiB {bound / 2**20:.1f} MiB"
    )
    ok = (
        ratio <= 2.0
        and result.delivered == result.expected
        and result.dropped_metric == result.slow_connected
        and result.dropped_seen == result.watched
        and growth <= bound
    )
    print("PASS" if ok else "MISS")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=Options.count)
    parser.add_argument("--users", type=int, default=Options.users)
    parser.add_argument("--rate", type=float, default=Options.rate)
    parser.add_argument(
        "--seconds", type=float, default=Options.seconds, help="the flood phase's least length"
    )
    parser.add_argument("--idle-seconds", type=float, default=Options.idle_seconds)
    parser.add_argument("--sendq", type=int, default=Options.sendq)
    parser.add_argument("--timeout", type=float, default=Options.timeout)
    parser.add_argument("--flooders", type=int, default=Options.flooders)
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="let the scheduler place the server and the bench (default: one CPU each)",
    )
    args = parser.parse_args()
    opts = Options(
        args.count,
        args.users,
        args.rate,
        args.seconds,
        args.idle_seconds,
        args.sendq,
        args.timeout,
        args.flooders,
        args.pin,
    )
    sys.exit(0 if report(opts, run(opts)) else 1)


if __name__ == "__main__":
    main()
