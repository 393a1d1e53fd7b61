"""bench/history_commits.py, tiny: the node's SQLite history timed commit by commit.

It runs this checkout's store (and a "baseline", here the same checkout) on
a real file, and says where the checkpoints ran: in a thread, never in the
commit the event loop waits on.
"""

from __future__ import annotations

from pathlib import Path

from tests.bench import REPO, run_bench


def test_commits_are_timed_and_checkpoints_run_in_a_thread(tmp_path: Path) -> None:
    result = run_bench(
        "history_commits.py", "--seconds", "2", "--rate", "50", "--dir", str(tmp_path),
        "--baseline", str(REPO), timeout=120,
    )  # fmt: skip
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert [row[0] for row in rows] == ["this", "baseline"], result.stdout
    for row in rows:
        commits, p50, longest = int(row[1]), float(row[2]), float(row[5])
        assert 90 <= commits <= 101, result.stdout  # 50 a second for 2 s
        assert 0 < p50 <= longest, result.stdout
        assert "in a thread" in " ".join(row), result.stdout
    assert list(tmp_path.iterdir()) == [], "each run's file is removed"
