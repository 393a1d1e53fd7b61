"""One chat server in the test process for every command test (``tests.corekit``)."""

from __future__ import annotations

import pytest

from tests.corekit import CoreServer


@pytest.fixture
def server() -> CoreServer:
    """A server named ``test`` on network ``TestNet``, its clock at ``corekit.START``."""
    return CoreServer(name="test")
