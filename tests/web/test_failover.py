"""The web page survives the loss of its server (headless Chromium, `chatnet up`).

* Its server is killed (SIGKILL) or drained (SIGTERM: close code 1012): the
  page comes back at once through the front door, on a live server, under
  its own nick, rejoins, fetches what it missed and shows every message
  exactly once, including one sent by someone else while it was away.
* Its nick is still held when it comes back: it registers under another
  and takes its own back as soon as it is free.

``CHATNET_FAILOVER_SCREENSHOT=path.png`` keeps a screenshot of the page after
the failover.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.upnet import UpNetwork, manifest
from tests.nodeproc import NodeProcess
from tests.web import irc_peer
from tests.web.test_webpage import (
    CHROMIUM,
    SocketGate,
    expect,
    expect_message,
    got_privmsg,
    log_in,
    members,
    messages,
    say,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]


@pytest.fixture
def network(tmp_path: Path) -> Iterator[UpNetwork]:
    net = UpNetwork(tmp_path, manifest(name="web", hubs=2, leaves=1))
    try:
        net.wait_ready()
        yield net
    finally:
        net.stop()
        print(net.log())
        print(net.server_logs())


def server_of(net: UpNetwork, nick: str, via: str, within: float = 20.0) -> str:
    """Which server ``nick`` is on, asked with WHOIS on server ``via``.

    Asked again until ``within`` passes: a leaf whose hub just went re-homes
    to another (backoff up to 10 s), and until then its users are split off.
    """
    probe = irc_peer(net.irc_of(via)[1], f"probe{int(time.monotonic() * 1000) % 100000}")
    deadline = time.monotonic() + within
    try:
        while True:
            probe.send(f"WHOIS {nick}")
            line = probe.expect(lambda ln: ln.command in ("312", "401"))
            if line.command == "312" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert line.command == "312", f"{nick} is nowhere: {line.raw}"
        return line.params[2]
    finally:
        probe.close()


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
def test_page_fails_over_through_the_front_door_and_misses_nothing(
    context: Any, network: UpNetwork, how: str
) -> None:
    net = network
    page = context.new_page()
    page.goto(net.doc["network"]["http"])
    log_in(page, "alice")
    state = page.get_by_test_id("conn-state")
    first = server_of(net, "alice", net.servers()[0])
    other = next(s for s in net.servers() if s != first)
    bob = irc_peer(net.irc_of(other)[1], "bob")
    try:
        bob.join("#lobby")
        before = bob.privmsg("#lobby", "before the failover")
        expect_message(page, "bob", "before the failover")

        pid = net.pid(first)
        assert pid is not None
        os.kill(pid, signal.SIGKILL if how == "sigkill" else signal.SIGTERM)
        started = time.monotonic()
        # bob talks while alice is away (or while she is coming back: either way, once).
        bob.expect(lambda ln: ln.command == "QUIT" and ln.nick == "alice", timeout=10)
        away = bob.privmsg("#lobby", "while you were away")

        expect(state).to_have_attribute("data-reconnects", "1", timeout=20_000)
        expect(state).to_have_attribute("data-state", "connected")
        back_after = time.monotonic() - started
        # Her JOIN may come before the echo of bob's line (held until it is safe).
        bob.saw(lambda ln: ln.command == "JOIN" and ln.nick == "alice", timeout=10)
        expect(page.get_by_test_id("me")).to_have_text("as alice")
        line = expect_message(page, "bob", "while you were away")
        expect(line).to_have_attribute("data-msgid", away.tags["msgid"])
        expect_message(page, "bob", "before the failover")
        expect(messages(page)).to_have_count(2)  # each exactly once
        ids = page.locator("#log li.msg").evaluate_all("els => els.map(e => e.dataset.msgid)")
        assert sorted(ids) == sorted([before.tags["msgid"], away.tags["msgid"]]), ids
        expect(members(page).filter(has_text="alice")).to_have_count(1)
        expect(page.locator("#log li.sys", has_text="Reconnected")).to_have_count(1)
        now_on = server_of(net, "alice", other)
        say(page, "back again")
        got_privmsg(bob, "alice", "back again")
        shot = os.environ.get("CHATNET_FAILOVER_SCREENSHOT")
        if shot:
            page.screenshot(path=shot)
        print(f"{how}: alice moved from {first} to {now_on}, back after {back_after:.1f}s")
        if how == "sigterm":
            # A drain says 1012 and the page comes back at once, not after a backoff.
            assert back_after < 5, f"the page took {back_after:.1f}s to come back"
    finally:
        bob.close()


def test_page_takes_its_nick_back_once_it_is_free(context: Any, node: NodeProcess) -> None:
    """Back while another connection holds the nick: another for now, then its own."""
    page = context.new_page()
    gate = SocketGate(page, node.ws_url)
    page.goto(node.http_url + "/")
    log_in(page, "alice")
    holder = irc_peer(node.irc_port, "watcher")
    try:
        holder.join("#lobby")
        gate.blocked = True
        gate.cut()
        holder.expect(lambda ln: ln.command == "QUIT" and ln.nick == "alice")
        holder.send("NICK alice")  # the nick is taken while the page is away
        holder.expect(lambda ln: ln.command == "NICK" and ln.params[0] == "alice")
        gate.blocked = False
        state = page.get_by_test_id("conn-state")
        expect(state).to_have_attribute("data-reconnects", "1", timeout=20_000)
        expect(page.get_by_test_id("me")).not_to_have_text("as alice")
        expect(page.locator("#log li.sys", has_text="is still held")).to_have_count(1)
        holder.send("NICK watcher")  # freed: the page asks again within a few seconds
        expect(page.get_by_test_id("me")).to_have_text("as alice", timeout=10_000)
        expect(page.locator("#log li.sys", has_text="You are alice again")).to_have_count(1)
        expect(members(page).filter(has_text="alice")).to_have_count(1)
        say(page, "it is me again")
        got_privmsg(holder, "alice", "it is me again")
    finally:
        holder.close()


def test_page_catches_up_a_private_message_it_never_received(
    context: Any, node: NodeProcess
) -> None:
    """Bob's line reached alice's server but never the page (it died with the server):
    back, the page asks CHATHISTORY TARGETS and opens the conversation with it."""
    page = context.new_page()
    gate = SocketGate(page, node.ws_url)
    page.goto(node.http_url + "/")
    log_in(page, "alice")
    bob = irc_peer(node.irc_port, "bob")
    try:
        sent = gate.keep_from_page(
            page, " PRIVMSG alice :", lambda: bob.privmsg("alice", "did you get this?")
        )
        expect(page.locator('#log ol[data-channel="bob"]')).to_have_count(0)
        gate.cut()
        state = page.get_by_test_id("conn-state")
        expect(state).to_have_attribute("data-reconnects", "1", timeout=20_000)
        line = expect_message(page, "bob", "did you get this?", channel="bob")
        expect(line).to_have_attribute("data-msgid", sent.tags["msgid"])
        assert gate.sent("CHATHISTORY TARGETS"), gate.from_page
    finally:
        bob.close()
