"""Shared fixtures: real node processes on loopback, a network-namespace lab.

A failed test that ran node processes gets the tail of each node's log in
its report (CI prints it), so a failure seen once on a busy machine can be
read afterwards.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.certs import make_certificate
from tests.nodeproc import NodeProcess, make_node
from tests.portals.netlab import Lab, opened, remove_stale_labs, skip_unless_capable


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    """A running chatnet-node with default limits, stopped after the test."""
    proc = make_node(tmp_path)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for localhost (skips when none can be made)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    if not make_certificate(cert, key):
        pytest.skip("no way to make a certificate: neither 'cryptography' nor 'openssl'")
    return cert, key


@pytest.fixture(scope="module")
def netns_capable() -> None:
    """Skip unless namespaces and nftables work here; clear what killed runs left."""
    skip_unless_capable()
    remove_stale_labs()


@pytest.fixture
def lab(netns_capable: None, tmp_path: Path) -> Iterator[Lab]:
    """A network-namespace lab (``tests/portals/netlab.py``) for one test, then closed."""
    with opened(tmp_path) as lab:
        yield lab


#: Characters of each node log shown with a failed test.
LOG_TAIL = 6000


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.when != "call" or not report.failed:
        return report
    tmp = getattr(item, "funcargs", {}).get("tmp_path")
    if not isinstance(tmp, Path) or not tmp.is_dir():
        return report
    for log in sorted(tmp.glob("*.log")):
        text = log.read_text(errors="replace")
        report.sections.append((f"node log {log.name} (last {LOG_TAIL} chars)", text[-LOG_TAIL:]))
    return report
