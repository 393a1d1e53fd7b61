"""Fixtures for the client tests: a node whose server name is a dotted host name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.irc.blocking import LineClient
from tests.irc.lines import contains
from tests.nodeproc import NodeProcess, make_node

#: The node's server name: a host name with dots, as clients show it.
SERVER_NAME = "irc.example.org"
#: Its network name (001, ISUPPORT NETWORK).
NETWORK = "TestNet"
#: Its description (the WHOIS server line, LINKS).
DESCRIPTION = "TestNet client interop server"


@pytest.fixture
def named_node(tmp_path: Path) -> Iterator[NodeProcess]:
    """A running ``chatnet-node --name irc.example.org``, stopped after the test."""
    proc = make_node(tmp_path, name=SERVER_NAME, network=NETWORK, description=DESCRIPTION)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
    assert "Traceback" not in proc.log(), proc.log()


def register_account(port: int, account: str, password: str) -> None:
    """Register ``account`` (a nick) through NickServ from a plain TCP client that then quits."""
    with LineClient.tcp(port) as user:
        user.register(account)
        user.send(f"PRIVMSG NickServ :REGISTER {password}")
        user.expect(contains(f"Account {account} registered; you are logged in"))
        user.send("QUIT :registered")
        user.wait_closed()
