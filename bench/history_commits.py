"""How long the event loop waits on the SQLite history's commits, on this disk.

A server commits its turn's messages before any byte of the turn leaves, so
a commit's time is every client's wait. This runs ``SqliteHistory`` (the
node's own class, from this checkout and, with ``--baseline``, from
another one, in turns) on a file in ``--dir``: one message a turn at
``--rate`` turns a second for ``--seconds``, each commit timed, and prints
p50, p99, p99.9 and the longest commit, with the checkpoints SQLite or the
store made meanwhile. Each store runs in its own process, so the two
checkouts' modules never mix.

    .venv/bin/python bench/history_commits.py
    .venv/bin/python bench/history_commits.py --baseline ../base --rounds 3 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: The measuring loop, run with the checkout's ``node`` first on the path.
CHILD = r"""
import json, sys, time
from pathlib import Path
from chatnet_node.history.contract import StoredMessage
from chatnet_node.history.sqlite import SqliteHistory

path, rate, seconds = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
store = SqliteHistory(path)
waits = []
n = 0
next_turn = time.perf_counter()
end = next_turn + seconds
while next_turn < end:
    time.sleep(max(0.0, next_turn - time.perf_counter()))
    store.append("#room", StoredMessage(
        msgid=f"m{n}", ts=time.time(), source="alice!a@host.example", command="PRIVMSG",
        target="#room", text="a line of chat of about the usual length, sixty-odd bytes" * 2,
        tags={},
    ))
    began = time.perf_counter()
    store.commit()
    waits.append(time.perf_counter() - began)
    n += 1
    next_turn += 1 / rate
thread = getattr(store, "checkpoints", None)
runs = (thread.runs, thread.restarts) if thread else None
store.close()
print(json.dumps({"waits": waits, "thread_checkpoints": runs}))
"""


def run_one(node_dir: Path, directory: Path, rate: float, seconds: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(Path(tmp) / "h.sqlite3"), str(rate), str(seconds)],
            env={"PYTHONPATH": str(node_dir), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="another checkout (its root)")
    parser.add_argument("--rate", type=float, default=50.0, help="turns (commits) a second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=1, help="turns of this, baseline, ...")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    trees = [("this", REPO)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    head = ("code", "commits", "p50 ms", "p99", "p99.9", "max")
    print(f"{head[0]:<9} " + " ".join(f"{h:>7}" for h in head[1:]) + "  checkpoints")
    for _ in range(args.rounds):
        for name, root in trees:
            started = time.monotonic()
            result = run_one(root / "node", args.dir, args.rate, args.seconds)
            waits = [w * 1e3 for w in result["waits"]]  # type: ignore[union-attr]
            threads = result["thread_checkpoints"]
            where = (
                "in the event loop"
                if threads is None
                else f"{threads[0]} in a thread, {threads[1]} restarting the log"  # type: ignore[index]
            )
            print(
                f"{name:<9} {len(waits):>7} {pct(waits, 0.5):>7.2f} {pct(waits, 0.99):>7.2f} "
                f"{pct(waits, 0.999):>7.2f} {max(waits):>7.2f}  {where} "
                f"({time.monotonic() - started:.0f}s)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
