"""bench/soak.py in its short form: two minutes of chat, churn, a kill and a freeze.

The long run (an hour) is run by hand; this is the form the test command
runs. It asserts what the soak is for: no acknowledged message lost or
duplicated while servers die and freeze and clients come and go, and every
server sampled all along.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench import run_bench


@pytest.mark.timeout(420)
def test_two_minutes_of_churn_and_faults_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    result = run_bench(
        "soak.py", "--minutes", "2", "--clients", "40", "--talkers", "5", "--rate", "1",
        "--churners", "4", "--kill-every", "35", "--freeze-every", "50", "--sample", "10",
        "--json", str(out), timeout=400, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["lost"] == 0 and report["duplicated"] == 0, report["summary"]
    # Every member came back by the end (none gave up, none was refused for good).
    assert report["members_away"] == 0, _why_away(result.stdout)
    assert report["acked"] > 100, report["summary"]
    assert len(report["kills"]) >= 2 and len(report["freezes"]) >= 1
    # Recovery after each kill, apart: which kill made a tail.
    assert [k["server"] for k in report["recovery_per_kill"]] == [s for _, s in report["kills"]]
    assert len(report["samples"]) >= 10
    # Every server sampled every time (but one just killed, not back yet).
    complete = [s for s in report["samples"] if len(s["rss_kib"]) == 8]
    assert len(complete) >= len(report["samples"]) - len(report["kills"])
    assert "lost 0, duplicated 0" in result.stdout
    # How far the servers' catch-ups looked back, read from their /metrics.
    assert "look-backs of CHATHISTORY AFTER" in result.stdout, result.stdout[-3000:]


def _why_away(stdout: str) -> str:
    """The away members' own lines and the faults' timeline, then the run's tail."""
    lines = stdout.splitlines()
    picked = [line for line in lines if "away at the end" in line or line.startswith("  +")]
    return "\n".join(picked) + "\n...\n" + stdout[-2500:]
