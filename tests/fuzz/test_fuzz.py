"""A bounded, seeded atheris run of every fuzz target (the long run: scripts/fuzz.sh).

Each target runs in its own process (``atheris.Fuzz`` exits the process when
done) for a fixed number of inputs from a fixed seed, starting from its seed
corpus in ``tests/fuzz/corpus/``. A crash fails the test with the input that
caused it; the fix comes with a plain regression test named after the input.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

ROOT = Path(__file__).resolve().parents[2]

# Inputs per target: a few seconds each (the core is ~600 inputs/s, the
# parsers tens of thousands).
RUNS = {
    "irc_parser": 10_000,
    "irc_core": 500,
    "websocket": 1_500,
    "admin_http": 3_000,
    "link_protocol": 5_000,
    "node_config": 500,
    "manifests": 500,
    "proxy_header": 5_000,
}


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzz_target(target: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.fuzz.run",
            target,
            "-seed=1",
            f"-runs={RUNS[target]}",
            "-max_len=4096",
            f"-artifact_prefix={tmp_path}/",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    crashes = sorted(tmp_path.glob("*"))
    assert result.returncode == 0 and not crashes, result.stderr[-4000:]
    assert "Done" in result.stderr, result.stderr[-2000:]
