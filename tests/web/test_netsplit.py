"""A netsplit on the web page: one line for the split, one for the heal (headless Chromium).

Two linked nodes; the page is on ``a`` in ``#lobby`` with twelve users of
``b``. ``b`` freezes (SIGSTOP) until ``a`` drops their link at the ping
timeout, then resumes and links again. The page gets the QUITs in one IRCv3
``netsplit`` batch and the JOINs in a ``netjoin`` batch: it shows one line
each (not twelve), and its member list loses and regains the twelve.

``CHATNET_NETSPLIT_SCREENSHOT=path.png`` keeps a screenshot after the heal.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.nodeproc import NodeProcess, linked_pair
from tests.web import irc_peer
from tests.web.test_webpage import CHROMIUM, expect, log_in, members, open_page

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]

FAST_PINGS = {"secret": "split-secret", "pingInterval": 1, "pingTimeout": 2}
USERS = 12


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    """``a``, and ``b`` dialing it; both notice a silent link within 2 s."""
    a, b = linked_pair(tmp_path, FAST_PINGS)
    a.start()
    b.start()
    try:
        yield a, b
    finally:
        b.signal(signal.SIGCONT)
        b.stop()
        a.stop()


def notices(page: Any) -> Any:
    return page.locator('#log ol[data-channel="#lobby"] li.sys')


def test_a_split_and_its_heal_are_one_line_each(
    pair: tuple[NodeProcess, NodeProcess], context: Any, tmp_path: Path
) -> None:
    a, b = pair
    page = open_page(context, a)
    log_in(page, "ann")
    with ExitStack() as stack:
        for n in range(USERS):
            user = stack.enter_context(irc_peer(b.irc_port, f"user{n:02d}"))
            user.send("JOIN #lobby")
        expect(members(page)).to_have_count(USERS + 1)
        joined = notices(page).filter(has_text=" joined.").count()  # one a user, as they came

        b.signal(signal.SIGSTOP)  # a drops the link at its ping timeout
        split = notices(page).filter(has_text="Netsplit (a ⇔ b)")
        expect(split).to_have_count(1)
        expect(split.locator(".text")).to_have_text(
            "Netsplit (a ⇔ b): user00, user01, user02, user03, user04 and 7 more quit."
        )
        expect(members(page)).to_have_count(1)
        assert notices(page).filter(has_text=" quit").count() == 1, "one line, not one a user"

        b.signal(signal.SIGCONT)  # b finds its link gone, dials again and bursts
        heal = notices(page).filter(has_text="Netsplit over (b ⇔ a)")
        expect(heal).to_have_count(1)
        expect(heal.locator(".text")).to_have_text(
            "Netsplit over (b ⇔ a): user00, user01, user02, user03, user04 and 7 more are back."
        )
        expect(members(page)).to_have_count(USERS + 1)
        assert notices(page).filter(has_text=" joined.").count() == joined, "no line a user"
        shot = os.environ.get("CHATNET_NETSPLIT_SCREENSHOT")
        if shot:
            page.screenshot(path=shot)
