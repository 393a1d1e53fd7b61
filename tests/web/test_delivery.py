"""The web page tells its user what became of each line they sent (headless Chromium).

* A line shows at once, greyed, until its echo comes back.
* A server cut off from every neighbour cannot confirm it (``FAIL PRIVMSG
  ACK_TIMEOUT``): the line says "Not delivered yet", with no Retry (the
  server holds the line: a second copy would arrive too), and turns into an
  ordinary line, once, when a neighbour stores it and the echo follows.
* A line whose connection is lost before its echo says "Not delivered",
  with a Retry that sends it again once the page is back.
* A line that reached the server although its echo was lost is found in
  the catch-up and shown once, with no Retry.

``CHATNET_DELIVERY_SCREENSHOT=path.png`` keeps a screenshot of the page with
a line not delivered yet.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.irc.blocking import LineClient
from tests.nodeproc import NodeProcess, make_node
from tests.web.test_webpage import (
    CHROMIUM,
    expect,
    expect_message,
    gated_chat,
    got_privmsg,
    log_in,
    messages,
    say,
)

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]

SECRET = "delivery-test-link-secret"


def own_line(page: Any, text: str) -> Any:
    return messages(page).filter(has_text=text)


def test_a_line_a_lone_server_cannot_confirm_says_so_until_a_neighbour_stores_it(
    context: Any, tmp_path: Path
) -> None:
    a = make_node(
        tmp_path, "a", serverId=1, links={"secret": SECRET, "accept": ["b"], "ackTimeout": 1.0}
    )
    dial = {"name": "a", "serverId": 1, "host": "127.0.0.1", "port": a.ws_port}
    b = make_node(tmp_path, "b", serverId=2, links={"secret": SECRET, "dial": [dial]})
    a.start()
    try:
        page = context.new_page()
        page.goto(a.http_url + "/")
        log_in(page, "alice")
        say(page, "anyone there?")
        line = own_line(page, "anyone there?")
        expect(line).to_have_attribute("data-delivery", "pending")
        expect(line).to_have_attribute("data-delivery", "unconfirmed", timeout=10_000)
        expect(line).to_contain_text("Not delivered yet")
        expect(line.get_by_test_id("retry")).to_have_count(0)
        shot = os.environ.get("CHATNET_DELIVERY_SCREENSHOT")
        page.screenshot(path=shot or str(tmp_path / "not-delivered.png"))

        b.start()  # a neighbour: the line is stored twice, and its echo comes
        try:
            expect(line).not_to_have_attribute("data-delivery", "unconfirmed", timeout=30_000)
            expect(line).to_have_count(1)
            expect(line).to_have_attribute("data-msgid", re.compile(r"\S+"))
            expect(line.get_by_test_id("retry")).to_have_count(0)
            expect(line).not_to_contain_text("Not delivered")
        finally:
            b.stop()
    finally:
        a.stop()


def test_a_line_lost_with_its_connection_is_not_delivered_and_retry_sends_it(
    context: Any, node: NodeProcess, tcp: LineClient
) -> None:
    page, gate = gated_chat(context, node, tcp)
    gate.hold = lambda line: "PRIVMSG #lobby :lost in transit" in line
    say(page, "lost in transit")
    line = own_line(page, "lost in transit")
    expect(line).to_have_attribute("data-delivery", "pending")
    gate.cut()  # the line never reached the server
    expect(line).to_have_attribute("data-delivery", "failed")
    expect(line).to_contain_text("Not delivered: the connection was lost")
    gate.hold = lambda line: False
    expect(page.get_by_test_id("conn-state")).to_have_attribute(
        "data-state", "connected", timeout=30_000
    )
    line.get_by_test_id("retry").click()
    got_privmsg(tcp, "alice", "lost in transit")
    expect(line).to_have_count(1)
    expect(line).to_have_attribute("data-msgid", re.compile(r"\S+"))
    expect(line).not_to_contain_text("Not delivered")
    tcp.privmsg("#lobby", "got it")
    expect_message(page, "tcpbob", "got it")
    expect(line).to_have_count(1)


def test_a_line_delivered_whose_echo_was_lost_is_found_in_the_catch_up(
    context: Any, node: NodeProcess, tcp: LineClient
) -> None:
    page, gate = gated_chat(context, node, tcp)
    tcp.privmsg("#lobby", "hello alice")
    expect_message(page, "tcpbob", "hello alice")
    gate.keep_from_page(
        page, "PRIVMSG #lobby :did this arrive?", lambda: say(page, "did this arrive?")
    )
    got_privmsg(tcp, "alice", "did this arrive?")  # it did, for everyone else
    line = own_line(page, "did this arrive?")
    gate.cut()
    expect(line).to_have_attribute("data-delivery", "failed")
    expect(page.get_by_test_id("conn-state")).to_have_attribute(
        "data-state", "connected", timeout=30_000
    )
    # The catch-up brings the server's copy: the page shows it once, as delivered.
    expect(line).to_have_attribute("data-msgid", re.compile(r"\S+"), timeout=10_000)
    expect(line).to_have_count(1)
    expect(line.get_by_test_id("retry")).to_have_count(0)
    expect(line).not_to_contain_text("Not delivered")
