"""Shared fixtures: real node processes on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.certs import make_certificate
from tests.nodeproc import NodeProcess, make_node


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
