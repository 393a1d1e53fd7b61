"""Smoke tests of the benchmark scripts (``bench/``): they run end to end, tiny."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_bench(
    script: str, *args: str, timeout: float, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``bench/SCRIPT ARGS`` with this interpreter; its output as text (bounded)."""
    return subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )
