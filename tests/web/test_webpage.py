"""The web chat page in headless Chromium, chatting with other tabs and a TCP client.

The page is the node's own ``GET /``; it speaks IRC over the WebSocket on the
same port. Playwright's sync API is used in plain ``def`` tests (no event loop
of pytest-asyncio is running there). Chromium is the Debian one.

``CHATNET_UPDATE_SCREENSHOT=1`` refreshes the committed docs/web-chat.png.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.irc.blocking import LineClient
from tests.nodeproc import NodeProcess, make_node
from tests.waiting import wait_until
from tests.web import irc_peer

T = TypeVar("T")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "web-chat.png"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 15_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]

sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright for Python")
expect = sync_api.expect
expect.set_options(timeout=WAIT_MS)
Browser = sync_api.Browser
Page = sync_api.Page
WebSocketRoute = sync_api.WebSocketRoute


@contextlib.contextmanager
def launched() -> Iterator[Any]:
    """Headless Chromium for the ``with``, closed after."""
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_context(browser: Any, **options: Any) -> Any:
    """A browser context whose pages' script errors and console errors go to ``ctx.errors``."""
    ctx = browser.new_context(**options)
    ctx.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    ctx.on("weberror", lambda err: errors.append(str(err.error)))

    def console(msg: Any) -> None:
        # The browser itself logs refused reconnection attempts; those are expected.
        if msg.type == "error" and not msg.text.startswith("WebSocket connection to"):
            errors.append(msg.text)

    ctx.on("console", console)
    ctx.errors = errors
    return ctx


@contextlib.contextmanager
def checked_context(browser: Any, **options: Any) -> Iterator[Any]:
    """A ``new_context`` for the ``with``, closed after; fails on its pages' script errors.

    The errors are checked only when the ``with`` body finished without raising.
    """
    ctx = new_context(browser, **options)
    try:
        yield ctx
        assert not ctx.errors, f"script errors on the page: {ctx.errors}"
    finally:
        ctx.close()


# ---- helpers -------------------------------------------------------------


def open_page(context: Any, node: NodeProcess) -> Any:
    page = context.new_page()
    page.goto(node.http_url + "/")
    return page


def log_in(page: Any, nick: str, channels: str = "#lobby") -> None:
    page.get_by_test_id("nick-input").fill(nick)
    page.get_by_test_id("channels-input").fill(channels)
    page.get_by_test_id("nick-input").press("Enter")
    expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    first = channels.replace(",", " ").split()[0]
    expect(active_tab(page)).to_have_attribute("data-channel", first)
    expect(members(page).filter(has_text=nick)).to_have_count(1)


def chat_page(context: Any, node: NodeProcess, nick: str, channels: str = "#lobby") -> Any:
    page = open_page(context, node)
    log_in(page, nick, channels)
    return page


def active_tab(page: Any) -> Any:
    return page.locator("#channel-list li.active [data-testid=channel-tab]")


def members(page: Any) -> Any:
    return page.get_by_test_id("member-list").locator("li")


def messages(page: Any, channel: str = "#lobby", text: str | None = None) -> Any:
    lines = page.locator(f'#log ol[data-channel="{channel}"] li.msg')
    if text is None:
        return lines
    return lines.filter(has=page.locator(".text", has_text=re.compile(f"^{re.escape(text)}$")))


def say(page: Any, text: str) -> None:
    box = page.get_by_test_id("message-input")
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("")


def expect_message(page: Any, nick: str, text: str, channel: str = "#lobby") -> Any:
    line = messages(page, channel, text)
    expect(line).to_have_count(1)
    expect(line.locator(".nick")).to_have_text(nick)
    expect(line.locator(".text")).to_have_text(text)
    expect(line.locator(".ts")).to_have_text(re.compile(r"^\d\d:\d\d"))
    return line


def got_privmsg(client: LineClient, nick: str, text: str, target: str = "#lobby") -> Any:
    return client.expect(
        lambda ln: ln.command == "PRIVMSG" and ln.nick == nick and ln.params == [target, text]
    )


def status(node: NodeProcess) -> dict[str, Any]:
    with urllib.request.urlopen(node.admin_url + "/status", timeout=5) as resp:
        return dict(json.load(resp))


def no_horizontal_overflow(page: Any) -> bool:
    root = "document.documentElement"
    return bool(page.evaluate(f"{root}.scrollWidth <= {root}.clientWidth"))


# ---- tests -----------------------------------------------------------------


def test_page_is_served_as_html(context: Any, node: NodeProcess) -> None:
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    response = page.goto(node.http_url + "/")
    assert response is not None
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text()
    assert html == (REPO / "node" / "chatnet_node" / "static" / "index.html").read_text()
    expect(page).to_have_title("chatnet")
    expect(page.get_by_test_id("login")).to_be_visible()
    expect(page.get_by_test_id("channels-input")).to_have_value("#lobby")
    # Self-contained: no external URLs, nothing fetched but the page itself.
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE)
    page.wait_for_load_state("networkidle")
    assert requested == [node.http_url + "/"]


def test_two_tabs_and_a_tcp_client_chat(
    context: Any, node: NodeProcess, tcp: LineClient, tmp_path: Path
) -> None:
    tcp.join("#lobby")
    tcp.send("TOPIC #lobby :Welcome to #lobby - say hi, be kind")
    alice = chat_page(context, node, "alice", "#lobby #dev")
    carol = chat_page(context, node, "carol")
    tabs = (alice, carol)

    for page in tabs:
        expect(page.get_by_test_id("topic")).to_have_text("Welcome to #lobby - say hi, be kind")
        for nick in ("alice", "carol", "tcpbob"):
            expect(members(page).filter(has_text=re.compile(f"^.?{nick}$"))).to_have_count(1)
    expect(alice.get_by_test_id("member-count")).to_have_text("(3)")

    say(alice, "hi all, alice here")
    expect_message(carol, "alice", "hi all, alice here")
    expect_message(alice, "alice", "hi all, alice here")
    got_privmsg(tcp, "alice", "hi all, alice here")

    say(carol, "hello alice - carol from the other tab")
    expect_message(alice, "carol", "hello alice - carol from the other tab")
    got_privmsg(tcp, "carol", "hello alice - carol from the other tab")

    echo = tcp.privmsg("#lobby", "greetings from a plain TCP client")
    for page in tabs:
        line = expect_message(page, "tcpbob", "greetings from a plain TCP client")
        if "msgid" in echo.tags:
            expect(line).to_have_attribute("data-msgid", echo.tags["msgid"])

    # User text is text: markup arrives as characters, never as elements.
    nasty = '<b>bold?</b> & <img src=x onerror=alert(1)> "quotes"'
    tcp.privmsg("#lobby", nasty)
    expect_message(carol, "tcpbob", nasty)
    assert carol.locator("#log b, #log img").count() == 0

    # Someone comes and goes: both member lists follow.
    dave = irc_peer(node.irc_port, "dave")
    try:
        dave.join("#lobby")
        for page in tabs:
            expect(members(page).filter(has_text="dave")).to_have_count(1)
        dave.send("PART #lobby :off to lunch")
        for page in tabs:
            expect(members(page).filter(has_text="dave")).to_have_count(0)
            left = page.locator("#log li.sys", has_text="dave left (off to lunch)")
            expect(left).to_have_count(1)
    finally:
        dave.close()

    # The sidebar switches channels; each has its own log and member list.
    alice.bring_to_front()  # clicks in a background tab wait for throttled frames
    alice.locator('[data-testid=channel-tab][data-channel="#dev"]').click()
    expect(active_tab(alice)).to_have_attribute("data-channel", "#dev")
    expect(members(alice)).to_have_count(1)
    say(alice, "anyone in #dev?")
    expect_message(alice, "alice", "anyone in #dev?", channel="#dev")
    expect(alice.locator('#log ol[data-channel="#lobby"]')).to_be_hidden()
    alice.locator('[data-testid=channel-tab][data-channel="#lobby"]').click()
    expect(members(alice)).to_have_count(3)

    tcp.privmsg("#lobby", "who wants coffee?")
    say(carol, "me! alice too I think")
    expect_message(alice, "carol", "me! alice too I think")
    alice.get_by_test_id("message-input").fill("coffee in five")
    shot = alice.screenshot(path=str(tmp_path / "web-chat.png"))
    # The committed copy changes only on request, so test runs leave the tree clean.
    if os.environ.get("CHATNET_UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(exist_ok=True)
        SCREENSHOT.write_bytes(shot)


def test_member_list_follows_nick_mode_kick_and_quit(
    context: Any, node: NodeProcess, tcp: LineClient
) -> None:
    tcp.join("#lobby")  # first in: tcpbob is the channel operator
    page = chat_page(context, node, "alice")
    expect(members(page).first).to_have_text("@tcpbob")
    guest = irc_peer(node.irc_port, "guest")
    try:
        guest.join("#lobby")
        expect(members(page).filter(has_text="guest")).to_have_count(1)
        guest.send("NICK guest2")
        expect(members(page).filter(has_text="guest2")).to_have_count(1)
        expect(members(page)).to_have_count(3)
        renamed = page.locator("#log li.sys", has_text="guest is now known as guest2")
        expect(renamed).to_have_count(1)

        tcp.send("MODE #lobby +v alice")
        expect(members(page).filter(has_text="alice")).to_have_text("+alice")
        expect(members(page)).to_have_text(["@tcpbob", "+alice", "guest2"])

        tcp.send("KICK #lobby guest2 :behave")
        expect(members(page).filter(has_text="guest2")).to_have_count(0)
        kicked = page.locator("#log li.sys", has_text="guest2 was kicked by tcpbob (behave)")
        expect(kicked).to_have_count(1)
    finally:
        guest.close()

    tcp.send("QUIT :gone fishing")
    expect(members(page)).to_have_text(["+alice"])
    expect(page.locator("#log li.sys", has_text="tcpbob quit (")).to_have_count(1)

    # Nick changes of one's own show in the header and the list.
    say(page, "/nick alice2")
    expect(page.get_by_test_id("me")).to_have_text("as alice2")
    expect(members(page)).to_have_text(["+alice2"])


def test_nick_is_checked_on_the_page_and_by_the_server(
    context: Any, node: NodeProcess, tcp: LineClient
) -> None:
    page = open_page(context, node)
    error = page.get_by_test_id("login-error")
    page.get_by_test_id("nick-input").fill("9 lives")
    page.get_by_test_id("connect-button").click()
    expect(error).to_contain_text("Nicknames are")
    expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "idle")

    page.get_by_test_id("nick-input").fill("tcpbob")
    page.get_by_test_id("connect-button").click()
    expect(error).to_contain_text("tcpbob")
    expect(error).to_contain_text(re.compile("in use", re.IGNORECASE))
    expect(page.get_by_test_id("login")).to_be_visible()

    log_in(page, "bobby")
    expect(members(page)).to_have_count(1)


class SocketGate:
    """Sits between the page and the node's WebSocket (Playwright's routeWebSocket).

    It records what the page sends, can rewrite lines either way, can hold
    back the page's lines that ``hold`` picks (until ``release``), can cut the
    current connection and can refuse new ones, as if the server were down.
    """

    def __init__(self, page: Any, url: str) -> None:
        self.blocked = False
        self.live: list[tuple[Any, Any]] = []
        self.from_page: list[str] = []
        self.to_server: Callable[[str], str] = lambda line: line
        self.to_page: Callable[[str], str] = lambda line: line
        self.hold: Callable[[str], bool] = lambda line: False
        self.held: list[str] = []
        page.route_web_socket(url, self._route)

    def _route(self, ws: Any) -> None:
        if self.blocked:
            ws.close(code=4000, reason="test: server unreachable")
            return
        server = ws.connect_to_server()

        def upstream(message: str | bytes) -> None:
            self.from_page.append(str(message))
            if self.hold(str(message)):
                self.held.append(str(message))
            else:
                server.send(self.to_server(str(message)))

        ws.on_message(upstream)
        server.on_message(lambda message: ws.send(self.to_page(str(message))))
        self.live.append((ws, server))

    def keep_from_page(self, page: Any, marker: str, send: Callable[[], T]) -> T:
        """``send()`` while lines holding ``marker`` are kept from the page; its result.

        Returns once one such line was kept back (bounded: 10 s), as if the
        page's server had died before delivering it.
        """
        kept: list[str] = []

        def drop(frame: str) -> str:
            lines = frame.split("\r\n")
            kept.extend(line for line in lines if marker in line)
            return "\r\n".join(line for line in lines if marker not in line)

        self.to_page = drop
        result = send()
        for _ in range(100):
            if kept:
                break
            page.wait_for_timeout(100)
        self.to_page = lambda frame: frame
        assert kept, "the page's copy never passed the gate"
        return result

    def release(self) -> None:
        """Send what was held back, in order, on the current connection."""
        held, self.held = self.held, []
        for line in held:
            self.live[-1][1].send(self.to_server(line))

    def cut(self) -> None:
        self.held.clear()  # lost with the connection
        for side in self.live[-1]:
            side.close(code=4001, reason="test: connection lost")

    def sent(self, prefix: str) -> list[str]:
        return [line for line in self.from_page if line.startswith(prefix)]


def gated_chat(
    context: Any, node: NodeProcess, tcp: LineClient, pages_of: int | None = None
) -> tuple[Any, SocketGate]:
    """alice's page behind a ``SocketGate``, in #lobby with ``tcp`` (tcpbob);
    ``pages_of``: the node made to advertise ``CHATHISTORY=<n>`` (pages that small)."""
    page = context.new_page()
    gate = SocketGate(page, node.ws_url)
    if pages_of is not None:
        gate.to_page = lambda line: line.replace("CHATHISTORY=100 ", f"CHATHISTORY={pages_of} ")
    page.goto(node.http_url + "/")
    tcp.join("#lobby")
    log_in(page, "alice")
    return page, gate


@pytest.mark.parametrize("case", ["msgid", "paged", "unknown-msgid"])
def test_reconnects_and_fetches_what_it_missed(
    context: Any, node: NodeProcess, tcp: LineClient, case: str
) -> None:
    """Drop the page's socket, keep it away while others talk, then let it back in.

    ``msgid``: the page asks ``CHATHISTORY AFTER #lobby msgid=<last seen>``.
    ``paged``: the node is made to advertise CHATHISTORY=5 and 12 lines are
    missed, so the page must page forward. ``unknown-msgid``: the node is
    asked about a msgid it does not know and the page falls back to a timestamp.
    """
    page = context.new_page()
    gate = SocketGate(page, node.ws_url)
    if case == "paged":
        gate.to_page = lambda line: line.replace("CHATHISTORY=100 ", "CHATHISTORY=5 ")
    page.goto(node.http_url + "/")
    tcp.join("#lobby")
    log_in(page, "alice")
    before = tcp.privmsg("#lobby", "before the drop")
    expect_message(page, "tcpbob", "before the drop")
    assert "msgid" in before.tags, f"server sent no msgid: {before.raw}"
    after_before = f"CHATHISTORY AFTER #lobby msgid={before.tags['msgid']} "
    if case == "unknown-msgid":
        unknown = "CHATHISTORY AFTER #lobby msgid=x "
        gate.to_server = lambda line: line.replace(after_before, unknown)

    gate.blocked = True
    gate.cut()
    expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "reconnecting")
    tcp.expect(lambda ln: ln.command == "QUIT" and ln.nick == "alice")
    count = 12 if case == "paged" else 2
    missed = [tcp.privmsg("#lobby", f"while you were away {n}") for n in range(1, count + 1)]
    time.sleep(1.5)  # at least one refused attempt goes by
    gate.blocked = False

    expect(page.get_by_test_id("conn-state")).to_have_attribute(
        "data-state", "connected", timeout=30_000
    )
    tcp.expect(lambda ln: ln.command == "JOIN" and ln.nick == "alice")
    assert len(gate.live) == 2
    for echo in missed:
        line = expect_message(page, "tcpbob", echo.params[1])
        expect(line).to_have_attribute("data-msgid", echo.tags["msgid"])
    expect(messages(page)).to_have_count(count + 1)  # no duplicates
    asked = gate.sent("CHATHISTORY AFTER")
    assert asked, f"page never asked for history: {gate.from_page}"
    assert asked[0].startswith(after_before)
    if case == "paged":
        assert len(asked) >= 3, asked
        assert all(line.endswith(" 5") for line in asked), asked
    if case == "unknown-msgid":
        assert asked[1].startswith("CHATHISTORY AFTER #lobby timestamp="), asked

    expect(members(page).filter(has_text="alice")).to_have_count(1)
    expect(members(page).filter(has_text="tcpbob")).to_have_count(1)
    say(page, "I'm back")
    got_privmsg(tcp, "alice", "I'm back")


def test_connection_lost_mid_catch_up_resumes_where_the_pages_stopped(
    context: Any, node: NodeProcess, tcp: LineClient
) -> None:
    """A live line during a catch-up does not move the page's resume point past the pages.

    The page comes back after 12 missed lines (pages of 5), and a live line
    reaches it before its first page. Its connection is lost while it asks
    for the second page. Back again, it must ask AFTER the first page's last
    line, not after the live line (which would skip the rest of the gap),
    and show every line once.
    """
    page, gate = gated_chat(context, node, tcp, pages_of=5)
    tcp.privmsg("#lobby", "before the drop")
    expect_message(page, "tcpbob", "before the drop")

    gate.blocked = True
    gate.cut()
    expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "reconnecting")
    tcp.expect(lambda ln: ln.command == "QUIT" and ln.nick == "alice")
    missed = [tcp.privmsg("#lobby", f"while you were away {n}").params[1] for n in range(1, 13)]
    time.sleep(1.5)  # the live line below is stamped well past the missed ones' horizon

    gate.hold = lambda line: line.startswith("CHATHISTORY AFTER #lobby ")
    gate.blocked = False
    # Waited for on the page: the gate's relaying runs only inside Playwright's calls.
    rejoined = page.locator('#log ol[data-channel="#lobby"] li.sys', has_text="Rejoined #lobby")
    expect(rejoined).to_have_count(1, timeout=30_000)
    tcp.privmsg("#lobby", "live during the catch-up")
    expect_message(page, "tcpbob", "live during the catch-up")
    assert len(gate.held) == 1, gate.held
    gate.release()  # the first page comes; the page asks for the next, which is held
    expect(messages(page, text="while you were away 1")).to_have_count(1)
    deadline = time.monotonic() + 10
    while not gate.held and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert gate.held, f"the page never asked for a second page: {gate.from_page}"
    second = gate.held[0]

    gate.blocked = True
    gate.cut()  # lost while asking for the second page
    expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "reconnecting")
    tcp.expect(lambda ln: ln.command == "QUIT" and ln.nick == "alice")
    asked_before = len(gate.sent("CHATHISTORY AFTER"))
    gate.hold = lambda line: False
    gate.blocked = False
    expect(page.get_by_test_id("conn-state")).to_have_attribute(
        "data-state", "connected", timeout=30_000
    )
    for text in missed:
        expect_message(page, "tcpbob", text)
    expect(messages(page)).to_have_count(len(missed) + 2)  # and before the drop, and the live one
    resumed = gate.sent("CHATHISTORY AFTER")[asked_before]
    assert resumed == second, f"resumed with {resumed!r}, the lost page asked {second!r}"


def test_a_rate_limited_catch_up_waits_and_asks_for_the_same_page_again(
    context: Any, tmp_path: Path
) -> None:
    """The server's history budget allows 5 rows at once, 4 a second after that.

    Back after missing 12 lines, the page pages forward 5 at a time; the
    second page is refused with ``FAIL CHATHISTORY RATE_LIMITED ... try again
    in 1s``. That is no reason to fall back to a timestamp or to give up (the
    live lines would then hide the rest of the gap for good): the page must
    ask for the same page again after the wait, and show every missed line.
    """
    node = make_node(tmp_path, limits={"historyRowsBurst": 5, "historyRowsPerSecond": 4})
    node.start()
    try:
        with irc_peer(node.irc_port, "tcpbob") as tcp:
            page, gate = gated_chat(context, node, tcp, pages_of=5)
            tcp.privmsg("#lobby", "before the drop")
            expect_message(page, "tcpbob", "before the drop")

            gate.blocked = True
            gate.cut()
            expect(page.get_by_test_id("conn-state")).to_have_attribute(
                "data-state", "reconnecting"
            )
            tcp.expect(lambda ln: ln.command == "QUIT" and ln.nick == "alice")
            missed = [tcp.privmsg("#lobby", f"away {n}").params[1] for n in range(1, 13)]
            gate.blocked = False
            expect(page.get_by_test_id("conn-state")).to_have_attribute(
                "data-state", "connected", timeout=30_000
            )
            for text in missed:
                expect_message(page, "tcpbob", text)
            expect(messages(page)).to_have_count(len(missed) + 1)
            asked = gate.sent("CHATHISTORY AFTER #lobby ")
            assert len(asked) != len(set(asked)), f"no page was asked twice: {asked}"
            assert not any("timestamp=" in line for line in asked), asked
            with urllib.request.urlopen(node.admin_url + "/metrics", timeout=5) as resp:
                metrics = resp.read().decode()
            refused = re.search(r"^chatnet_rate_limited_total\{[^}]*\} (\S+)$", metrics, re.M)
            assert refused and float(refused.group(1)) >= 1, "the server never refused a page"
            expect(page.locator("#log li.sys", has_text="Could not fetch history")).to_have_count(0)
    finally:
        node.stop()


def test_a_history_failure_falls_back_for_the_conversation_it_names(
    context: Any, node: NodeProcess, tcp: LineClient
) -> None:
    """Back after a drop, the page asks history for #lobby and for its open private
    conversation with tcpbob, whose last msgid the server no longer knows. The
    FAIL must fall back (AFTER a timestamp) for that conversation, not for #lobby,
    asked a moment before: a private line the page never got is then shown.
    """
    page = context.new_page()
    gate = SocketGate(page, node.ws_url)
    page.goto(node.http_url + "/")
    tcp.join("#lobby")
    log_in(page, "alice")
    tcp.privmsg("#lobby", "hello all")
    expect_message(page, "tcpbob", "hello all")
    tcp.privmsg("alice", "a private hello")
    expect_message(page, "tcpbob", "a private hello", channel="tcpbob")

    gate.keep_from_page(
        page, " PRIVMSG alice :", lambda: tcp.privmsg("alice", "the page never got this")
    )
    gate.to_server = lambda line: re.sub(
        r"^CHATHISTORY AFTER tcpbob msgid=\S+", "CHATHISTORY AFTER tcpbob msgid=forgotten", line
    )
    gate.cut()
    expect(page.get_by_test_id("conn-state")).to_have_attribute(
        "data-reconnects", "1", timeout=20_000
    )
    expect_message(page, "tcpbob", "the page never got this", channel="tcpbob")
    asked = gate.sent("CHATHISTORY AFTER")
    assert "CHATHISTORY AFTER tcpbob msgid=" in " ".join(asked), asked
    assert any(line.startswith("CHATHISTORY AFTER tcpbob timestamp=") for line in asked), asked
    assert not any(line.startswith("CHATHISTORY AFTER #lobby timestamp=") for line in asked), asked
    expect(page.locator("#log li.sys", has_text="Could not fetch history")).to_have_count(0)


def test_server_errors_before_login_are_shown(context: Any, tmp_path: Path) -> None:
    full = make_node(tmp_path, name="full", limits={"maxClients": 1})
    full.start()
    try:
        holder = irc_peer(full.irc_port, "holder")
        try:
            page = open_page(context, full)
            page.get_by_test_id("nick-input").fill("late")
            page.get_by_test_id("connect-button").click()
            expect(page.get_by_test_id("login-error")).to_contain_text("full")
            expect(page.get_by_test_id("login")).to_be_visible()
        finally:
            holder.close()
        # A seat is free again: the same form now gets in.
        expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "disconnected")
        wait_until(lambda: status(full)["clients"] == 0)
        log_in(page, "late")
    finally:
        full.stop()


def test_reconnects_after_server_restart(context: Any, node: NodeProcess) -> None:
    page = chat_page(context, node, "alice")
    state = page.get_by_test_id("conn-state")
    node.stop()
    expect(state).to_have_attribute("data-state", "reconnecting")
    expect(page.locator("#log li.sys", has_text="Disconnected")).to_have_count(1)
    node.start()
    expect(state).to_have_attribute("data-state", "connected", timeout=40_000)
    expect(members(page).filter(has_text="alice")).to_have_count(1)

    late = irc_peer(node.irc_port, "latecomer")
    try:
        late.join("#lobby")
        expect(members(page).filter(has_text="latecomer")).to_have_count(1)
        late.privmsg("#lobby", "hello after the restart")
        expect_message(page, "latecomer", "hello after the restart")
        say(page, "glad to be back")
        got_privmsg(late, "alice", "glad to be back")
    finally:
        late.close()


def test_narrow_phone_layout(
    browser: Any, node: NodeProcess, tcp: LineClient, tmp_path: Path
) -> None:
    with checked_context(browser, viewport=PHONE, is_mobile=True, has_touch=True) as ctx:
        page = chat_page(ctx, node, "pocket")
        assert no_horizontal_overflow(page)
        expect(page.get_by_test_id("member-list")).not_to_be_visible()
        page.locator("#members-toggle").click()
        expect(page.get_by_test_id("member-list")).to_be_visible()
        page.locator("#members-toggle").click()
        tcp.join("#lobby")
        long_line = " ".join(["a rather long line"] * 12)
        tcp.privmsg("#lobby", long_line)
        expect(messages(page, text=long_line)).to_be_visible()
        expect(page.get_by_test_id("message-input")).to_be_in_viewport()
        assert no_horizontal_overflow(page)
        page.screenshot(path=str(tmp_path / "phone.png"))
