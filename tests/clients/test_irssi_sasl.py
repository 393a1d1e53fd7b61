"""irssi (Debian) logging in with SASL to a node named ``irc.example.org``.

An account is registered first through NickServ by a plain TCP client of
the tests; irssi then gets a network with ``/network add -sasl_mechanism
PLAIN -sasl_username ... -sasl_password ...`` (irssi 1.4's option names), a
server in it, and ``/connect``s to it. Its screen shows the node's 900 and
903; another plain client with ``account-tag`` and ``extended-join`` sees
the account on irssi's JOIN and messages. A wrong password shows the 904.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients.conftest import register_account
from tests.clients.irssi import NEEDS_IRSSI, Irssi, running_irssi
from tests.clients.test_irssi_server import shown
from tests.irc.blocking import LineClient
from tests.nodeproc import NodeProcess

ACCOUNT = "irsasl"
PASSWORD = "ir-sasl-secret-pw"
WRONG_PASSWORD = "ir-wrong-secret-pw"

pytestmark = NEEDS_IRSSI


@pytest.fixture
def irssi(tmp_path: Path) -> Iterator[Irssi]:
    with running_irssi(tmp_path / "irssi-home", ACCOUNT, realname="irssi SASL") as client:
        yield client


def connect_with_sasl(irssi: Irssi, port: int, password: str) -> None:
    """Add network ``chatnet`` with SASL PLAIN and a server in it; connect."""
    irssi.type(
        f"/network add -sasl_mechanism PLAIN -sasl_username {ACCOUNT} "
        f"-sasl_password {password} chatnet"
    )
    irssi.type(f"/server add -network chatnet -notls 127.0.0.1 {port}")
    irssi.type("/connect chatnet")


def test_irssi_logs_in_with_sasl_plain(named_node: NodeProcess, irssi: Irssi) -> None:
    register_account(named_node.irc_port, ACCOUNT, PASSWORD)
    with LineClient.tcp(named_node.irc_port) as peer:
        peer.register("irpeer", ("account-tag", "extended-join", "message-tags"))
        peer.join("#irsasl")
        connect_with_sasl(irssi, named_node.irc_port, PASSWORD)
        screen = irssi.wait_screen(lambda s: f"Mode change [+i] for user {ACCOUNT}" in s)
        lines = shown(screen)
        acknowledged = next(ln for ln in lines if ln.startswith("Capabilities acknowledged:"))
        assert "sasl" in acknowledged.split()
        # 900 (irssi shows its mask, account and text) and 903, before the welcome.
        # Before NICK and USER the node has no nick or ident for the mask: ``*``.
        logged_in = lines.index(
            f"*!*@account/{ACCOUNT} {ACCOUNT} You are now logged in as {ACCOUNT}"
        )
        assert lines[logged_in + 1] == "SASL authentication succeeded"
        assert lines[logged_in + 2].startswith(f"Welcome to the TestNet IRC Network {ACCOUNT}!")

        irssi.type("/join #irsasl")
        joined = peer.saw(lambda m: m.command == "JOIN" and m.nick == ACCOUNT)
        assert joined.params == ["#irsasl", ACCOUNT, "irssi SASL"]
        irssi.type("/msg #irsasl hello from irssi")
        heard = peer.saw(lambda m: m.command == "PRIVMSG" and m.nick == ACCOUNT)
        assert (heard.last, heard.tags.get("account")) == ("hello from irssi", ACCOUNT)
    assert PASSWORD not in named_node.log()


def test_irssi_sasl_wrong_password(named_node: NodeProcess, irssi: Irssi) -> None:
    register_account(named_node.irc_port, ACCOUNT, PASSWORD)
    connect_with_sasl(irssi, named_node.irc_port, WRONG_PASSWORD)
    # irssi 1.4 (sasl_disconnect_on_failure, on by default) gives up on the connection.
    lost = "Irssi: Connection lost to 127.0.0.1"
    lines = shown(irssi.wait_screen(lambda s: lost in shown(s)))
    failed = lines.index("Cannot authenticate via SASL (SASL authentication failed)")
    assert lines[failed + 1 :] == [lost]
    assert not [line for line in lines if "logged in" in line or "Welcome" in line]
    log = named_node.log()
    assert WRONG_PASSWORD not in log and PASSWORD not in log
