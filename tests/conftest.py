"""Shared fixtures: real node processes on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
