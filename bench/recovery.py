"""How long until the clients of a killed server are back and caught up.

Runs a ``chatnet up`` network (two hubs, two leaves, all serving clients)
with N clients in one channel behind the front door, a few of them talking
all along. Then, repeatedly: SIGKILL a random server that has clients, and
measure for each of its clients the time from the kill until it is

* back: reconnected through the front door (at once, jittered, then with
  backoff), registered and rejoined, and
* caught up: it holds every message acknowledged to someone else before it
  was back (fetched with ``CHATHISTORY AFTER`` its last msgid, no lookback,
  merged with what arrives live, by msgid).

``chatnet up`` restarts the killed server; the next kill waits for it. The
result: p50, p99 and max over every client of every kill, and over kills
(the time until *all* of a kill's clients are back), against the target
p99 <= 5 s (issue 7; the Sametime seed promises 30 s).

    .venv/bin/python bench/recovery.py                  # 200 clients, 10 kills
    .venv/bin/python bench/recovery.py --clients 50 --kills 3 --seed 7
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.chaos.harness import (  # noqa: E402 - after the path is set
    Ledger,
    Member,
    Sender,
    clock,
    percentile,
    recovery_times,
    tcp_opener,
)
from tests.chaos.upnet import UpNetwork, manifest  # noqa: E402
from tests.waiting import within  # noqa: E402

from bench.common import run_in_tempdir, stop_on_exit  # noqa: E402

TARGET_P99 = 5.0
WAIT_PER_KILL = 30.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200, help="clients in the channel")
    parser.add_argument("--kills", type=int, default=10, help="servers killed, one after another")
    parser.add_argument("--talkers", type=int, default=5, help="clients talking all along")
    parser.add_argument("--rate", type=float, default=1.0, help="lines per second per talker")
    parser.add_argument("--leaves", type=int, default=2, help="leaf servers (and two hubs)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--target", type=float, default=TARGET_P99, help="p99 target, seconds")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 2000 or not 1 <= args.kills <= 100:
        parser.error("--clients 1..2000 and --kills 1..100")
    args.talkers = min(args.talkers, args.clients)
    return args


async def connect_all(members: list[Member], batch: int = 25) -> None:
    for start in range(0, len(members), batch):
        group = members[start : start + batch]
        for member in group:
            member.start()
            await asyncio.sleep(0.01)
        async with asyncio.timeout(60):
            await asyncio.gather(*(m.wait_joined(60) for m in group))


async def back_after(
    ledger: Ledger, members: list[Member], killed_at: float, server: str
) -> dict[str, float | None]:
    """``recovery_times`` of ``server``'s members, once all are back and caught up,
    or ``WAIT_PER_KILL`` seconds after the kill (None: not back by then)."""
    times: dict[str, float | None] = {}

    def all_back() -> bool:
        nonlocal times
        times = recovery_times(ledger, members, killed_at, server)
        return bool(times) and all(t is not None for t in times.values())

    await within(all_back, WAIT_PER_KILL - (clock() - killed_at), poll=0.1)
    return times


async def run(args: argparse.Namespace, tmp: Path) -> int:
    rng = random.Random(args.seed)
    net = UpNetwork(tmp, manifest(name="bench", leaves=args.leaves, flood_rate=20))
    stop_on_exit(net.stop)
    ledger = Ledger()
    members: list[Member] = []
    try:
        await asyncio.to_thread(net.wait_ready, 60)
        front = tcp_opener(*net.front_irc)
        members = [
            Member(f"c{i}", front, ledger, rng=random.Random(args.seed * 100_000 + i))
            for i in range(args.clients)
        ]
        started = clock()
        await connect_all(members)
        spread = {s: sum(m.server == s for m in members) for s in net.servers()}
        print(f"{args.clients} clients joined in {clock() - started:.1f}s: {spread}")
        senders = [Sender(m, args.rate, limit=1_000_000) for m in rng.sample(members, args.talkers)]
        ledger.started = clock()
        budget = args.kills * (WAIT_PER_KILL + 20)
        until = clock() + budget
        talking = [asyncio.create_task(s.run(until)) for s in senders]
        await asyncio.sleep(1.0)
        per_client: list[float] = []
        per_kill: list[float] = []
        never = 0
        print(f"{'kill':>4}  {'server':<8} {'clients':>7}  {'all back (s)':>12}  {'p50 (s)':>7}")
        for kill in range(1, args.kills + 1):
            loaded = [s for s in net.servers() if any(m.server == s for m in members)]
            target = rng.choice(loaded)
            killed_at = clock()
            pid = net.kill(target)
            ledger.note(f"SIGKILL {target}")
            times = await back_after(ledger, members, killed_at, target)
            done = [t for t in times.values() if t is not None]
            missing = len(times) - len(done)
            never += missing
            per_client += done
            worst = max(done) if done and not missing else float("inf")
            per_kill.append(worst)
            p50 = percentile(done, 0.5) if done else float("nan")
            note = f"  ({missing} not back in {WAIT_PER_KILL:.0f}s)" if missing else ""
            print(f"{kill:>4}  {target:<8} {len(times):>7}  {worst:>12.2f}  {p50:>7.2f}{note}")
            await asyncio.to_thread(net.wait_restarted, target, pid, 30.0)
            await asyncio.sleep(1.0)  # the front door sees it ready again
        for task in talking:
            task.cancel()
        await asyncio.gather(*talking, return_exceptions=True)
    finally:
        await asyncio.gather(*(m.stop() for m in members))
        await asyncio.to_thread(net.stop)

    print()
    print(
        f"messages: {len(ledger.acked)} acknowledged of {ledger.sent} sent by {args.talkers} "
        f"talkers; reconnections: {sum(len(m.sessions) - 1 for m in members)}"
    )
    if per_client:
        print(
            f"per client (n={len(per_client)}): p50 {percentile(per_client, 0.5):.2f}s  "
            f"p99 {percentile(per_client, 0.99):.2f}s  max {max(per_client):.2f}s"
        )
    print(
        f"per kill, until all its clients are back (n={len(per_kill)}): "
        f"p50 {percentile(per_kill, 0.5):.2f}s  p99 {percentile(per_kill, 0.99):.2f}s  "
        f"max {max(per_kill):.2f}s"
    )
    p99 = percentile(per_kill, 0.99)
    verdict = "PASS" if never == 0 and p99 <= args.target else "MISS"
    extra = f"; {never} clients never came back" if never else ""
    print(f"target p99 <= {args.target:.1f}s (per kill): {verdict} ({p99:.2f}s{extra})")
    return 0 if verdict == "PASS" else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_in_tempdir("chatnet-recovery-", lambda tmp: run(args, tmp))


if __name__ == "__main__":
    sys.exit(main())
