"""The fan-out benchmark harness works: a tiny run against real servers.

This proves bench/fanout.py and its C load generator end to end (build, start
the server pinned, register, join, burst and fixed-rate runs, CPU and RSS
readings); it asserts nothing about speed.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

FANOUT = Path(__file__).resolve().parents[2] / "bench" / "fanout.py"


def load_fanout() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_fanout", FANOUT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


fanout = load_fanout()
# A smoke run proves the benchmark works, it measures nothing: no nice -10 for
# its server and generator, which would starve the tests running beside it.
fanout.BOOST["nice"] = 0

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None and shutil.which("cc") is None,
    reason="the fan-out load generator needs a C compiler (gcc)",
)


def tiny(servers: list[str]) -> Any:
    """20 members, 1 and 10 senders, about 50 messages per run, over TCP and WebSocket."""
    return fanout.Options(
        members=[20],
        servers=servers,
        senders=[1, 10],
        transports=["tcp", "ws"],
        burst_deliveries=50 * 19,
        burst_seconds=3.0,
        window=10,
        rate=50.0,
        rate_seconds=1.0,
        settle=0.1,
        repeat=1,
    )


def check(sessions: list[Any], expected: set[tuple[str, str]]) -> None:
    assert {(s.server, s.transport) for s in sessions} == expected
    for session in sessions:
        assert session.error is None, f"{session.server}/{session.transport}: {session.error}"
        assert session.rss_idle_kib > 0
        assert [(r.mode, r.senders) for r in session.results] == [
            ("burst", 1),
            ("burst", 10),
            ("rate", 1),
            ("rate", 10),
        ]
        for r in session.results:
            where = f"{r.server}/{r.transport} {r.mode} x{r.senders}"
            assert r.complete and r.delivered == r.expected > 0, where
            assert r.closed == 0, where
            assert 0 < r.p50_ms <= r.p99_ms, where
            assert r.deliveries_per_s > 0, where
            assert r.gen_cpu_s >= 0, where
    text = "\n".join(
        fanout.format_server(kind, [s for s in sessions if s.server == kind])
        for kind in sorted({s.server for s in sessions})
    )
    assert "ERROR" not in text


def test_fanout_smoke_chatnet_and_naive() -> None:
    why = fanout.chatnet_available()
    assert why is None, f"chatnet cannot start: {why}"
    sessions, skipped = fanout.run(tiny(["chatnet", "naive"]), log=lambda _msg: None)
    assert skipped == []
    check(sessions, {("chatnet", "tcp"), ("chatnet", "ws"), ("naive", "tcp")})


def test_fanout_smoke_inspircd() -> None:
    if not fanout.INSPIRCD.exists():
        pytest.skip(f"InspIRCd is not installed ({fanout.INSPIRCD}): apt-get install inspircd")
    sessions, skipped = fanout.run(tiny(["inspircd"]), log=lambda _msg: None)
    assert skipped == []
    check(sessions, {("inspircd", "tcp"), ("inspircd", "ws")})
    table = fanout.format_ratios(sessions, ["inspircd"])
    assert table.startswith("== ratios")
