"""A login flood: many connections guessing passwords while normal users chat.

Starts one chatnet-node (accounts on, the account ``victim`` registered),
then:

1. **idle**: ``--users`` users in ``#chat`` take turns to send ``--rate``
   messages a second for ``--seconds``; each times every delivery: the idle
   p50 and p99;
2. **flood**: ``--guessers`` connections try SASL PLAIN with wrong passwords
   for ``victim`` as fast as the server answers (five wrong answers close a
   connection; it comes back), while the same run is timed again.

Each password check is about 30 ms of Argon2id. Prints the idle and flood
latencies, their p99 ratio, and how many guesses the server answered a
second. ``--against DIR`` runs the same twice in one go, the second time
with the node code in ``DIR`` (another checkout's ``node/``), to compare a
change with the code before it on the same machine at the same time.

    .venv/bin/python bench/login_flood.py
    .venv/bin/python bench/login_flood.py --against /tmp/old/node --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import HOST, free_port, node_env, stop_process, venv_python, wait_http  # noqa: E402
from bench.slow_readers import User, p99  # noqa: E402

ACCOUNT, PASSWORD = "victim", "correct-horse-battery"
#: Guesses one guesser makes at most: every loop is bounded.
MAX_GUESSES = 10_000


@dataclass
class Figures:
    """One node's run: latencies in seconds, guesses answered."""

    code: str
    idle: list[float]
    flood: list[float]
    expected: int  # deliveries each timed run should have made
    guesses: int
    seconds: float


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def _line(reader: asyncio.StreamReader, marker: bytes) -> bool:
    """Read until a line holding ``marker``; False when the connection ends."""
    while line := await asyncio.wait_for(reader.readline(), 30):
        if marker in line:
            return True
    return False


async def register_victim(port: int) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(f"NICK {ACCOUNT}\r\nUSER v 0 * :v\r\n".encode())
    await _line(reader, b" 001 ")
    writer.write(f"PRIVMSG NickServ :REGISTER {PASSWORD}\r\nQUIT\r\n".encode())
    await _line(reader, b" 900 ")
    writer.close()


async def guesser(port: int, n: int, until: float, answered: list[int]) -> None:
    """Wrong passwords for ``victim`` until ``until``, reconnecting when closed."""
    wrong = "AUTHENTICATE " + _b64(f"\0{ACCOUNT}\0wrong-{n}") + "\r\n"
    guesses = 0
    while time.monotonic() < until and guesses < MAX_GUESSES:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            writer.write(f"CAP REQ :sasl\r\nNICK g{n}\r\nUSER g 0 * :g\r\n".encode())
            await _line(reader, b" ACK ")
            while time.monotonic() < until and guesses < MAX_GUESSES:
                writer.write(b"AUTHENTICATE PLAIN\r\n")
                if not await _line(reader, b"AUTHENTICATE +"):
                    break  # closed after too many wrong passwords: come back
                writer.write(wrong.encode())
                if not await _line(reader, b" 904 "):
                    break
                guesses += 1
                answered[0] += 1
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()


async def timed(users: list[User], rate: float, seconds: float) -> tuple[list[float], int]:
    """``rate`` messages a second for ``seconds``, senders in turn: every delivery's
    latency, and how many deliveries there should have been."""
    for user in users:
        user.latencies.clear()
    sent, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        users[sent % len(users)].send(f"PRIVMSG #chat :T {time.monotonic_ns()}")
        sent += 1
        await asyncio.sleep(1 / rate)
    await asyncio.sleep(1.0)
    return [x for user in users for x in user.latencies], sent * (len(users) - 1)


async def measure(port: int, code: str, opts: argparse.Namespace) -> Figures:
    await register_victim(port)
    users = [User(f"u{n}") for n in range(opts.users)]
    for user in users:
        await user.connect(port, "#chat")
    try:
        idle, _ = await timed(users, opts.rate, opts.seconds)
        answered = [0]
        until = time.monotonic() + opts.seconds + 0.5
        started = time.monotonic()
        guessers = [
            asyncio.create_task(guesser(port, n, until, answered)) for n in range(opts.guessers)
        ]
        await asyncio.sleep(0.5)  # the guesses are under way
        flood, expected = await timed(users, opts.rate, opts.seconds)
        await asyncio.gather(*guessers)
        return Figures(code, idle, flood, expected, answered[0], time.monotonic() - started)
    finally:
        for user in users:
            await user.close()


def run(node_dir: Path | None, opts: argparse.Namespace) -> Figures:
    with tempfile.TemporaryDirectory() as tmp:
        port, admin = free_port(), free_port()
        config = {
            "name": "bench",
            "listeners": {
                "irc": [{"host": HOST, "port": port}],
                "admin": [{"host": HOST, "port": admin}],
            },
            "limits": {"maxClients": 1000, "pingInterval": 3600},
            "history": {"path": None},
            "cloaks": {"secret": "bench"},
        }
        path = Path(tmp) / "node.yaml"
        path.write_text(yaml.safe_dump(config))
        with (Path(tmp) / "node.log").open("wb") as log:
            proc = subprocess.Popen(
                [venv_python(), "-m", "chatnet_node", "--config", str(path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=node_env(node_dir),
            )
            try:
                wait_http(f"http://{HOST}:{admin}/healthz", 20)
                return asyncio.run(measure(port, str(node_dir or REPO / "node"), opts))
            finally:
                stop_process(proc)


def ms(values: list[float], q: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000:.1f}"


def report(figures: Figures) -> None:
    ratio = p99(figures.flood) / p99(figures.idle) if figures.idle else float("nan")
    print(
        f"{figures.code}\n"
        f"  idle  p50 {ms(figures.idle, 0.5)} ms  p99 {ms(figures.idle, 0.99)} ms"
        f"  ({len(figures.idle)} deliveries)\n"
        f"  flood p50 {ms(figures.flood, 0.5)} ms  p99 {ms(figures.flood, 0.99)} ms"
        f"  (delivered {len(figures.flood)}/{figures.expected})  p99 ratio {ratio:.1f}x\n"
        f"  wrong passwords answered: {figures.guesses} in {figures.seconds:.1f} s"
        f" ({figures.guesses / figures.seconds:.0f}/s)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=10, help="normal users in #chat")
    parser.add_argument("--rate", type=float, default=50.0, help="#chat messages a second")
    parser.add_argument("--seconds", type=float, default=10.0, help="each timed run")
    parser.add_argument("--guessers", type=int, default=20, help="connections guessing")
    parser.add_argument("--against", type=Path, help="another checkout's node/ to compare")
    opts = parser.parse_args()
    for node_dir in [None, opts.against] if opts.against else [None]:
        report(run(node_dir, opts))


if __name__ == "__main__":
    main()
