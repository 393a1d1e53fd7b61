"""bench/hops.py runs end to end in a tiny configuration and prints its table."""

from __future__ import annotations

from tests.bench import run_bench


def test_hops_benchmark_prints_both_setups_and_the_difference() -> None:
    result = run_bench(
        "hops.py", "--members", "5", "--messages", "60", "--rate", "200", timeout=120
    )
    out = result.stdout
    assert "one server" in out and "hub -> leaf (1 hop)" in out
    assert "added by one hop: p50" in out
    rows = [line for line in out.splitlines() if "100.0%" in line]
    assert len(rows) == 2, f"every message reached every member in both setups:\n{out}"
