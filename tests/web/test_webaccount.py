"""Accounts from the web chat page: create one, log in with SASL, wrong passwords, services.

Headless Chromium against a real node, with a plain TCP client (``account-tag``)
in the same channel. The helpers and the browser setup are the page tests'.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.irc.blocking import LineClient
from tests.nodeproc import NodeProcess
from tests.web import PEER_CAPS, irc_peer
from tests.web.test_webpage import (
    DESKTOP,
    active_tab,
    checked_context,
    expect,
    members,
    messages,
    open_page,
    say,
)

pytestmark = [pytest.mark.slow]

PASSWORD = "correct-horse-battery"


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    with checked_context(browser, viewport=DESKTOP) as ctx:
        # Nothing about the password reaches the console.
        logged: list[str] = []
        ctx.on("console", lambda msg: logged.append(msg.text))
        yield ctx
        assert not [text for text in logged if PASSWORD in text]


@pytest.fixture
def tcp(node: NodeProcess) -> Iterator[LineClient]:
    with irc_peer(node.irc_port, "tcpbob", (*PEER_CAPS, "account-tag")) as client:
        client.join("#lobby")
        yield client


def submit(page: Any, nick: str, password: str = "", create: bool = False) -> None:
    page.get_by_test_id("nick-input").fill(nick)
    page.get_by_test_id("channels-input").fill("#lobby")
    page.get_by_test_id("password-input").fill(password)
    page.get_by_test_id("create-account").set_checked(create)
    page.get_by_test_id("connect-button").click()


def expect_chatting(page: Any, nick: str) -> None:
    expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    expect(active_tab(page)).to_have_attribute("data-channel", "#lobby")
    expect(members(page).filter(has_text=nick)).to_have_count(1)


def stored(page: Any) -> str:
    return str(page.evaluate("JSON.stringify({...localStorage})"))


def test_create_account_reload_and_log_in(
    context: Any, node: NodeProcess, tcp: LineClient, tmp_path: Path
) -> None:
    page = open_page(context, node)
    # Refused: the FAIL reason is shown on the form.
    submit(page, "webann", "short", create=True)
    expect(page.get_by_test_id("login-error")).to_contain_text(
        "Could not create the account: Passwords must be at least 8 characters"
    )
    expect(page.get_by_test_id("login")).to_be_visible()

    submit(page, "webann", PASSWORD, create=True)
    expect_chatting(page, "webann")
    expect(page.get_by_test_id("account")).to_have_text("· logged in as webann")
    expect(page.get_by_test_id("password-input")).to_have_value("")
    assert PASSWORD not in stored(page)

    say(page, "hello, I have an account now")
    line = tcp.expect(
        lambda ln: (
            ln.command == "PRIVMSG" and ln.params == ["#lobby", "hello, I have an account now"]
        )
    )
    assert line.nick == "webann"
    assert line.tags.get("account") == "webann"
    mine = messages(page, text="hello, I have an account now")
    expect(mine).to_have_attribute("data-account", "webann")
    expect(mine.locator(".nick")).to_have_attribute("title", "Logged in as webann")

    # NickServ's notices are readable in the open buffer.
    tcp.privmsg("#lobby", "webann: try /msg NickServ INFO")
    page.get_by_test_id("message-input").fill("/msg NickServ INFO webann")
    page.get_by_test_id("message-input").press("Enter")
    services = page.locator("#log li.services")
    expect(services.first).to_be_visible()
    expect(services.first.locator(".nick")).to_have_text("-NickServ-")
    expect(services.filter(has_text="webann")).not_to_have_count(0)
    page.get_by_test_id("channel-tab").filter(has_text="#lobby").click()
    page.get_by_test_id("message-input").fill("ready for a photo")
    page.screenshot(path=str(tmp_path / "web-account.png"))
    print(f"screenshot: {tmp_path / 'web-account.png'}")

    # Reload: the form is empty of passwords; log in with it.
    page.reload()
    tcp.expect(lambda ln: ln.command == "QUIT" and ln.nick == "webann")
    expect(page.get_by_test_id("nick-input")).to_have_value("webann")
    expect(page.get_by_test_id("password-input")).to_have_value("")
    submit(page, "webann", PASSWORD)
    expect_chatting(page, "webann")
    expect(page.get_by_test_id("account")).to_have_text("· logged in as webann")
    assert PASSWORD not in stored(page)


def test_wrong_password_retry_or_guest(
    context: Any, node: NodeProcess, tcp: LineClient, tmp_path: Path
) -> None:
    with irc_peer(node.irc_port, "webbea") as owner:
        owner.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
        owner.expect(lambda ln: ln.command == "NOTICE" and "registered" in ln.params[-1])
        owner.send("QUIT :bye")
        owner.wait_closed()
    page = open_page(context, node)
    submit(page, "webbea", "not the password")
    expect(page.get_by_test_id("login-error")).to_have_text("Wrong account or password.")
    expect(page.get_by_test_id("guest-button")).to_be_visible()
    expect(page.locator("#chat")).to_be_hidden()
    page.screenshot(path=str(tmp_path / "web-login-error.png"))
    # Retry with the right one.
    submit(page, "webbea", PASSWORD)
    expect_chatting(page, "webbea")
    expect(page.get_by_test_id("account")).to_have_text("· logged in as webbea")

    # Or carry on as a guest.
    other = open_page(context, node)
    submit(other, "webguest", "no such account")
    expect(other.get_by_test_id("login-error")).to_have_text("Wrong account or password.")
    other.get_by_test_id("guest-button").click()
    expect_chatting(other, "webguest")
    expect(other.get_by_test_id("account")).to_have_text("· guest")
    say(other, "guest here")
    line = tcp.expect(lambda ln: ln.command == "PRIVMSG" and ln.params == ["#lobby", "guest here"])
    assert "account" not in line.tags
    expect(messages(other, text="guest here")).not_to_have_attribute(
        "data-account", re.compile(".")
    )


def test_logs_in_again_after_a_reconnect(context: Any, node: NodeProcess) -> None:
    page = open_page(context, node)
    submit(page, "webcat", PASSWORD, create=True)
    expect_chatting(page, "webcat")
    expect(page.get_by_test_id("account")).to_have_text("· logged in as webcat")
    node.stop()
    state = page.get_by_test_id("conn-state")
    expect(state).to_have_attribute("data-state", "reconnecting")
    expect(page.get_by_test_id("account")).to_have_text("")
    node.start()
    expect(state).to_have_attribute("data-state", "connected", timeout=40_000)
    expect(state).to_have_attribute("data-reconnects", "1")
    # SASL again, with the password kept in memory (the account is in the history store).
    expect(page.get_by_test_id("account")).to_have_text("· logged in as webcat")
    with irc_peer(node.irc_port, "watcher", (*PEER_CAPS, "account-tag")) as watcher:
        watcher.join("#lobby")
        say(page, "back and logged in")
        line = watcher.expect(
            lambda ln: ln.command == "PRIVMSG" and ln.params == ["#lobby", "back and logged in"]
        )
        assert line.tags.get("account") == "webcat"
    assert PASSWORD not in stored(page)
