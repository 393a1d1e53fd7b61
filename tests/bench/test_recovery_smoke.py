"""bench/recovery.py runs end to end in a tiny configuration and prints its verdict."""

from __future__ import annotations

import re

import pytest

from tests.bench import run_bench

pytestmark = pytest.mark.slow


def test_recovery_benchmark_kills_servers_and_every_client_comes_back() -> None:
    result = run_bench(
        "recovery.py",
        *("--clients", "12", "--kills", "2", "--talkers", "2", "--rate", "2"),
        timeout=110,
        check=False,
    )
    out = result.stdout
    assert "12 clients joined" in out, out + result.stderr
    rows = [line for line in out.splitlines() if re.match(r"\s+\d+\s+\S+\s+\d+\s+[\d.]+", line)]
    assert len(rows) == 2, f"one row per kill:\n{out}"
    assert "not back" not in out, out
    assert re.search(r"per client \(n=\d+\): p50 [\d.]+s  p99 [\d.]+s  max [\d.]+s", out), out
    verdict = re.search(r"target p99 <= 5\.0s \(per kill\): (PASS|MISS)", out)
    assert verdict, out
    assert result.returncode == (0 if verdict.group(1) == "PASS" else 1), out
