"""WeeChat (Debian ``weechat-headless``) logging in with SASL to a node named ``irc.example.org``.

An account is registered first through NickServ by a plain TCP client of
the tests; WeeChat then connects with ``irc.server.X.sasl_mechanism``
(``plain`` and ``scram-sha-256``), ``sasl_username`` and ``sasl_password``,
and its server buffer shows the node's 900 and 903, or 904 for a wrong
password. Another plain client in a channel with ``account-tag`` sees the
account on WeeChat's messages. With ``scram-sha-256`` WeeChat checks the
server's signature (RFC 5802's server-final-message) before it takes the
903, so a login there is the whole SCRAM exchange done right on both sides.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clients.conftest import register_account
from tests.clients.weechat import NEEDS_WEECHAT, SERVER, running_weechat
from tests.irc.blocking import LineClient
from tests.nodeproc import NodeProcess

ACCOUNT = "wcsasl"
PASSWORD = "wc-sasl-secret-pw"
WRONG_PASSWORD = "wc-wrong-secret-pw"

pytestmark = NEEDS_WEECHAT


def sasl_settings(mechanism: str, username: str, password: str) -> list[str]:
    option = f"irc.server.{SERVER}"
    return [
        f"/set {option}.sasl_mechanism {mechanism}",
        f"/set {option}.sasl_username {username}",
        f'/set {option}.sasl_password "{password}"',
    ]


@pytest.mark.parametrize("mechanism", ["plain", "scram-sha-256"])
def test_weechat_logs_in_with_sasl(named_node: NodeProcess, tmp_path: Path, mechanism: str) -> None:
    register_account(named_node.irc_port, ACCOUNT, PASSWORD)
    settings = sasl_settings(mechanism, ACCOUNT, PASSWORD)
    with (
        LineClient.tcp(named_node.irc_port) as peer,
        running_weechat(
            tmp_path / "weechat", named_node.irc_port, ACCOUNT, "WeeChat SASL", settings
        ) as wc,
    ):
        peer.register("wcpeer", ("account-tag", "extended-join", "message-tags"))
        peer.join("#wcsasl")
        welcome = wc.wait_lines(lambda lines: "End of /MOTD command." in lines)
        logged_in = f"You are now logged in as {ACCOUNT} ({ACCOUNT}!~{ACCOUNT}@account/{ACCOUNT})"
        # 900 and 903 before the welcome (001): logged in during capability negotiation.
        assert welcome.index(logged_in) + 1 == welcome.index("SASL authentication successful")
        assert welcome.index("SASL authentication successful") < welcome.index(
            f"Welcome to the TestNet IRC Network {ACCOUNT}!~{ACCOUNT}@account/{ACCOUNT}"
        )
        assert "SASL authentication failed" not in welcome

        wc.command("join #wcsasl")
        joined = peer.saw(lambda m: m.command == "JOIN" and m.nick == ACCOUNT)
        assert joined.params == ["#wcsasl", ACCOUNT, "WeeChat SASL"]
        wc.command("msg #wcsasl hello from WeeChat")
        heard = peer.saw(lambda m: m.command == "PRIVMSG" and m.nick == ACCOUNT)
        assert (heard.last, heard.tags.get("account")) == ("hello from WeeChat", ACCOUNT)
    assert PASSWORD not in named_node.log()


@pytest.mark.parametrize("mechanism", ["plain", "scram-sha-256"])
def test_weechat_sasl_wrong_password(
    named_node: NodeProcess, tmp_path: Path, mechanism: str
) -> None:
    register_account(named_node.irc_port, ACCOUNT, PASSWORD)
    # WeeChat's default sasl_fail is "reconnect" (disconnect, retry 10 s later): "continue"
    # connects without an account after the 904 instead.
    settings = [*sasl_settings(mechanism, ACCOUNT, WRONG_PASSWORD)]
    settings.append(f"/set irc.server.{SERVER}.sasl_fail continue")
    with running_weechat(
        tmp_path / "weechat", named_node.irc_port, "wcother", "WeeChat SASL", settings
    ) as wc:
        # 904, then connected without an account.
        welcome = wc.wait_lines(lambda lines: "End of /MOTD command." in lines)
        assert "SASL authentication failed" in welcome
        assert not [line for line in welcome if "logged in" in line or "successful" in line]
    log = named_node.log()
    assert WRONG_PASSWORD not in log and PASSWORD not in log
