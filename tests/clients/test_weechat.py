"""WeeChat (Debian ``weechat-headless``) against a node named ``irc.example.org``.

WeeChat is driven through its FIFO and read through its server buffer's log
(``tests.clients.weechat``); a plain TCP client of the tests is the other
user. Checked as a WeeChat user reads them: the server's name in the welcome,
the MOTD and WHOIS, the exact LUSERS counts, WHOIS of another user, and
``/notify``: WeeChat watches with MONITOR when ISUPPORT has it (its ISON
fallback polls once a minute, so a notice within seconds is MONITOR's).
"""

from __future__ import annotations

import re
from pathlib import Path

from chatnet_node import __version__
from tests.clients.conftest import DESCRIPTION, NETWORK, SERVER_NAME
from tests.clients.weechat import NEEDS_WEECHAT, WeeChat, running_weechat
from tests.irc.blocking import LineClient
from tests.nodeproc import LOCAL_CLOAK, NodeProcess

NICK = "wcuser"

pytestmark = NEEDS_WEECHAT


def after(weechat: WeeChat, command: str, *expected: str) -> list[str]:
    """Run ``command`` in the server buffer; the lines it adds once ``expected`` are all there."""
    start = len(weechat.lines())
    weechat.command(command)
    return weechat.wait_lines(lambda lines: all(e in lines for e in expected), start)


def test_weechat_server_name_lusers_whois_and_notify(
    named_node: NodeProcess, tmp_path: Path
) -> None:
    with running_weechat(tmp_path / "weechat", named_node.irc_port, NICK, "WeeChat user") as wc:
        welcome = wc.wait_lines(lambda lines: "End of /MOTD command." in lines)
        assert f"Welcome to the {NETWORK} IRC Network {NICK}!~{NICK}@{LOCAL_CLOAK}" in welcome
        assert f"Your host is {SERVER_NAME}, running version chatnet-{__version__}" in welcome
        assert any(ln.startswith(f"{SERVER_NAME} chatnet-{__version__} ") for ln in welcome)
        assert f"- {SERVER_NAME} Message of the day -" in welcome

        with LineClient.tcp(named_node.irc_port) as peer:
            peer.register("wcpeer")
            peer.join("#lobby")
            peer.send("AWAY :out for lunch")
            peer.expect("306")

            lusers = after(wc, "lusers", "2 2 Current global users 2, max 2")
            assert lusers == [
                "There are 2 users and 0 invisible on 1 servers",
                "1 channels formed",
                "I have 2 clients and 0 servers",
                "2 2 Current local users 2, max 2",
                "2 2 Current global users 2, max 2",
            ]

            whois = after(wc, "whois wcpeer", "[wcpeer] End of /WHOIS list")
            assert whois[:4] == [
                f"[wcpeer] (~wcpeer@{LOCAL_CLOAK}): Test wcpeer",
                "[wcpeer] @#lobby",
                f"[wcpeer] {SERVER_NAME} ({DESCRIPTION})",
                "[wcpeer] is away: out for lunch",
            ]
            assert re.fullmatch(r"\[wcpeer\] idle: 00 hours 00 minutes \d\d seconds?, .*", whois[4])
            assert whois[5:] == ["[wcpeer] End of /WHOIS list"]

        offline = "notify: wcfriend is offline"
        added = after(wc, "notify add wcfriend", offline)
        assert added == ["irc: notification added for wcfriend", offline]
        start = len(wc.lines())
        with LineClient.tcp(named_node.irc_port) as friend:
            friend.register("wcfriend")
            joined = f"notify: wcfriend (~wcfriend@{LOCAL_CLOAK}) has connected"
            assert wc.wait_lines(lambda lines: joined in lines, start) == [joined]
            friend.send("QUIT :bye")
            friend.wait_closed()
        quit_line = "notify: wcfriend has quit"
        assert wc.wait_lines(lambda lines: quit_line in lines, start) == [joined, quit_line]
