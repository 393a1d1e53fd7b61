"""bench/slow_readers.py end to end, short: slow readers dropped, memory bounded, chat goes on.

The latency ratio is the benchmark's to judge (printed, not asserted: a
timed assertion on a shared machine would be noise).
"""

from __future__ import annotations

import re

from tests.bench import run_bench


def test_slow_readers_are_dropped_with_sendq_exceeded_and_memory_stays_bounded() -> None:
    result = run_bench(
        "slow_readers.py",
        *("--count", "200", "--users", "4", "--seconds", "1", "--flooders", "4"),
        timeout=120,
        check=False,
    )
    out = result.stdout
    assert "200 slow readers connected" in out, out + result.stderr
    dropped = re.search(r"'SendQ exceeded': (\d+) counted by the server of (\d+)", out)
    assert dropped and dropped.groups() == ("200", "200"), out
    seen = re.search(r"saw (\d+) QUIT 'SendQ exceeded' of its (\d+)", out)
    assert seen and seen.group(1) == seen.group(2), out
    delivered = re.search(r"under flood: (\d+)/(\d+)", out)
    assert delivered and delivered.group(1) == delivered.group(2), out
    memory = re.search(
        r"peak growth ([\d.]+) MiB .* bound 2\*count\*sendq\+16MiB ([\d.]+) MiB", out
    )
    assert memory and float(memory.group(1)) <= float(memory.group(2)), out
    assert re.search(r"p99: idle [\d.]+ ms, with the slow readers [\d.]+ ms, ratio", out), out
