"""Fixtures the browser test modules share: one headless Chromium per module, a
context per test that fails on the page's script errors, and tcpbob, a plain
TCP peer on the test's node. A module may override any of them (the account
tests check the console for the password; irssi's peer is tcpalice).

The browser helpers are imported when a fixture runs, not here: a machine
without Playwright then skips the browser modules instead of failing to collect.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.irc.blocking import LineClient
from tests.nodeproc import NodeProcess
from tests.web import irc_peer


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from tests.web.test_webpage import launched  # noqa: PLC0415 (see the docstring)

    with launched() as browser:
        yield browser


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    from tests.web.test_webpage import DESKTOP, checked_context  # noqa: PLC0415

    with checked_context(browser, viewport=DESKTOP) as ctx:
        yield ctx


@pytest.fixture
def tcp(node: NodeProcess) -> Iterator[LineClient]:
    with irc_peer(node.irc_port, "tcpbob") as client:
        yield client
