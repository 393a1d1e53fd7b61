"""What one hub-to-leaf hop costs: deliveries per second and added latency.

Runs, in the same invocation, (1) one chatnet server alone and (2) a hub with
a leaf linked to it, where the sender sits on the hub and every member on
the leaf, so each message crosses exactly one portal. For each it prints the
deliveries per second of a bounded burst and the p50/p99 latency at a fixed
rate, then the difference: the latency the hop adds.

    python bench/hops.py [--members 100] [--messages 2000] [--rate 100]

Everything runs on loopback; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.waiting import Deadline

from bench.common import free_port, node_env, stop_process, wait_port

SECRET = "bench-hops"
LIMITS = {
    "maxClients": 10000,
    "floodBurst": 1000000,
    "floodRate": 1000000.0,
    "floodMaxQueued": 1000000,
    "sendqBytes": 64 << 20,
}


class Server:
    """One chatnet-node process."""

    def __init__(self, tmp: Path, name: str, sid: int, links: dict[str, Any]) -> None:
        self.name = name
        self.irc, self.ws = free_port(), free_port()
        config = {
            "name": name,
            "serverId": sid,
            "listeners": {
                "irc": [{"host": "127.0.0.1", "port": self.irc}],
                "websocket": [{"host": "127.0.0.1", "port": self.ws}],
            },
            "limits": LIMITS,
            "links": {"secret": SECRET, **links},
            "drainSeconds": 0.5,
        }
        self.path = tmp / f"{name}.yaml"
        self.path.write_text(yaml.safe_dump(config))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chatnet_node", "--config", str(self.path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=node_env(),
        )

    def wait(self) -> None:
        try:
            wait_port(self.irc, self.proc, 15)
        except RuntimeError as exc:
            raise RuntimeError(f"{self.name} did not start: {exc}") from exc

    def stop(self) -> None:
        stop_process(self.proc, 10)


async def register(port: int, nick: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nJOIN #bench\r\n".encode())
    while b" 366 " not in await asyncio.wait_for(reader.readline(), 10):
        pass
    return reader, writer


async def member(
    reader: asyncio.StreamReader, expected: int, latencies: list[float], deadline: Deadline
) -> int:
    got = 0
    while got < expected and not deadline.passed:
        try:
            line = await asyncio.wait_for(reader.readline(), max(deadline.left(), 0.01))
        except TimeoutError:
            break
        if b"PRIVMSG #bench :" in line:
            sent = float(line.rsplit(b":", 1)[1].split()[0])
            latencies.append(time.perf_counter() - sent)
            got += 1
    return got


async def run(
    sender_port: int, member_port: int, members: int, count: int, rate: float
) -> dict[str, float]:
    sockets = [await register(member_port, f"m{i}") for i in range(members)]
    _, sender = await register(sender_port, "sender")
    await asyncio.sleep(1.0)  # the joins cross the portal
    results: dict[str, float] = {}
    for mode in ("burst", "rate"):
        latencies: list[float] = []
        deadline = Deadline(60)
        tasks = [asyncio.create_task(member(r, count, latencies, deadline)) for r, _ in sockets]
        start = time.perf_counter()
        for i in range(count):
            sender.write(f"PRIVMSG #bench :{time.perf_counter():.6f} {i}\r\n".encode())
            if mode == "rate":
                await asyncio.sleep(1 / rate)
            elif i % 50 == 0:
                await sender.drain()
        got = sum(await asyncio.gather(*tasks))
        elapsed = time.perf_counter() - start
        if mode == "burst":
            results["deliveries_per_s"] = got / elapsed
            results["delivered"] = got / (members * count)
        else:
            ordered = sorted(latencies)
            results["p50_ms"] = statistics.median(ordered) * 1000
            results["p99_ms"] = ordered[int(len(ordered) * 0.99) - 1] * 1000
    for _, writer in [*sockets, (None, sender)]:
        writer.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        alone = Server(tmp, "alone", 1, {})
        alone.wait()
        try:
            single = asyncio.run(run(alone.irc, alone.irc, args.members, args.messages, args.rate))
        finally:
            alone.stop()
        hub = Server(tmp, "hub", 10, {"accept": ["leaf"]})
        hub.wait()
        leaf = Server(
            tmp,
            "leaf",
            20,
            {
                "role": "leaf",
                "dial": [{"name": "hub", "serverId": 10, "host": "127.0.0.1", "port": hub.ws}],
            },
        )
        leaf.wait()
        time.sleep(1.5)  # the portal comes up
        try:
            hop = asyncio.run(run(hub.irc, leaf.irc, args.members, args.messages, args.rate))
        finally:
            leaf.stop()
            hub.stop()
    print(f"{args.members} members, {args.messages} messages, fixed rate {args.rate:.0f}/s")
    print(f"{'':24}{'deliveries/s':>14}{'delivered':>11}{'p50 ms':>9}{'p99 ms':>9}")
    for label, res in (("one server", single), ("hub -> leaf (1 hop)", hop)):
        print(
            f"{label:24}{res['deliveries_per_s']:>14.0f}{res['delivered']:>11.1%}"
            f"{res['p50_ms']:>9.2f}{res['p99_ms']:>9.2f}"
        )
    print(
        f"added by one hop: p50 {hop['p50_ms'] - single['p50_ms']:+.2f} ms, "
        f"p99 {hop['p99_ms'] - single['p99_ms']:+.2f} ms; "
        f"throughput ratio {hop['deliveries_per_s'] / single['deliveries_per_s']:.2f}x"
    )


if __name__ == "__main__":
    main()
