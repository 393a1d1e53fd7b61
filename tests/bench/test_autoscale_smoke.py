"""bench/autoscale.py runs end to end in a tiny configuration: up, down with a drain."""

from __future__ import annotations

import re
from pathlib import Path

from tests.bench import run_bench


def test_autoscale_benchmark_scales_up_and_down_and_keeps_every_client(tmp_path: Path) -> None:
    result = run_bench(
        "autoscale.py", "--max-clients", "4", "--max-replicas", "2", "--target", "50",
        "--window", "1", "--peak", "6", "--floor", "1", "--step", "3", "--every", "1",
        "--hold", "5", "--limit", "60", "--plot", str(tmp_path / "autoscale.png"),
        timeout=120,
    )  # fmt: skip
    out = result.stdout
    assert re.search(r"stayed above the 50% target for 1s: 1 -> 2 replicas", out), out
    assert re.search(r"stayed below the 50% target for 1s: 2 -> 1 replicas", out), out
    assert "at the end 1 of 1 clients connected, on 1 replicas" in out, out
    # The plot is drawn where matplotlib is installed (the bench extra).
    assert (tmp_path / "autoscale.png").exists() or "--plot needs matplotlib" in result.stderr
