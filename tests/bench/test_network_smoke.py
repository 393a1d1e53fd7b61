"""bench/network.py runs end to end in a tiny configuration (both stores) and prints its table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.bench import run_bench

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None and shutil.which("cc") is None,
    reason="the network benchmark's load generator needs a C compiler (gcc)",
)


def test_network_benchmark_measures_each_size_and_store(tmp_path: Path) -> None:
    out = tmp_path / "network.json"
    result = run_bench(
        "network.py", "--servers", "1,2", "--channels", "2", "--min-members", "3",
        "--max-members", "6", "--seconds", "1.5", "--rate", "4", "--json", str(out),
        timeout=240,
    )  # fmt: skip
    rows = json.loads(out.read_text())
    stores = {r["store"] for r in rows}
    assert "sqlite" in stores, result.stdout
    for row in rows:
        assert row["lost"] == 0, f"every message reached every member:\n{result.stdout}"
        assert row["deliveries_per_s"] > 0  # (CPU: too little to read in 10 ms ticks here)
    sqlite = {r["servers"]: r for r in rows if r["store"] == "sqlite"}
    # With SQLite every server stores the whole network's messages: twice as many with two.
    assert sqlite[2]["stored_per_server"] >= 1.5 * sqlite[1]["stored_per_server"]
    assert sqlite[2]["link_in_per_server"] > 0
    for row in (r for r in rows if r["store"] == "postgres"):
        # Channels with no members elsewhere stay home (at most a link PING crosses).
        assert row["link_in_per_server"] <= 2, result.stdout
