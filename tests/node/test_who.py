"""WHO and WHOX (modern IRC, IRCv3 WHOX): exact replies for nicks, masks,
channels, away and operator flags, and the fields a client asks for."""

from __future__ import annotations

import pytest

from chatnet_node.config import Operator
from tests.corekit import CoreServer, CoreUser

NAME = "My.Little.Server"


@pytest.fixture
def pair() -> tuple[CoreServer, CoreUser, CoreUser]:
    server = CoreServer(name=NAME)
    server.core.config = server.core.config.model_copy(
        update={"operators": [Operator(name="root", password="pw")]}
    )
    cool = server.connection()
    cool.send("NICK coolNick", "USER myusernam 0 * :My UniqueReal Name", "JOIN #chan")
    other = server.user("otherNick")
    other.send("JOIN #chan")
    cool.lines()
    other.lines()
    return server, cool, other


REPLY = (
    f":{NAME} 352 otherNick {{chan}} ~myusernam 127.0.0.1 {NAME} coolNick {{flags}}"
    " :0 My UniqueReal Name"
)


@pytest.mark.parametrize("mask", ["coolNick", "coolnick", "coolni*", "cool*!~myuser*@*"])
def test_who_a_nick_or_mask(pair: tuple[CoreServer, CoreUser, CoreUser], mask: str) -> None:
    _, cool, other = pair
    end = f":{NAME} 315 otherNick {mask} :End of WHO list"
    assert other.ask(f"WHO {mask}") == [REPLY.format(chan="*", flags="H"), end]
    cool.send("AWAY :be right back", "OPER root pw")
    assert other.ask(f"WHO {mask}") == [REPLY.format(chan="*", flags="G*"), end]


def test_who_a_channel_and_everyone(pair: tuple[CoreServer, CoreUser, CoreUser]) -> None:
    _, _, other = pair
    lines = other.ask("WHO #CHAN")
    assert lines[0] == REPLY.format(chan="#chan", flags="H@")
    assert lines[1].startswith(f":{NAME} 352 otherNick #chan ~otherNick 127.0.0.1 {NAME} ")
    assert lines[2] == f":{NAME} 315 otherNick #CHAN :End of WHO list"
    assert len(other.ask("WHO *")) == 3
    assert other.ask("WHO idontexist") == [f":{NAME} 315 otherNick idontexist :End of WHO list"]


@pytest.mark.parametrize("fields", ["tcuihsnfdlaor", "roalfdnshiuct"])
def test_whox_gives_every_field_in_order(
    pair: tuple[CoreServer, CoreUser, CoreUser], fields: str
) -> None:
    server, _, other = pair
    server.tick(7)
    assert other.ask(f"WHO coolNick %{fields},123") == [
        f":{NAME} 354 otherNick 123 * ~myusernam 255.255.255.255 127.0.0.1 {NAME} coolNick H"
        " 0 7 0 n/a :My UniqueReal Name",
        f":{NAME} 315 otherNick coolNick :End of WHO list",
    ]
    assert "WHOX" in " ".join(other.ask("VERSION"))


def test_whox_token_and_the_address_only_for_oneself_and_operators(
    pair: tuple[CoreServer, CoreUser, CoreUser],
) -> None:
    _, cool, other = pair
    assert other.ask("WHO coolNick %tn,321")[0] == f":{NAME} 354 otherNick 321 coolNick"
    assert cool.ask("WHO coolNick %ni")[0] == f":{NAME} 354 coolNick 127.0.0.1 coolNick"
    other.send("OPER root pw")
    other.lines()
    assert other.ask("WHO #chan %cnf") == [
        f":{NAME} 354 otherNick #chan coolNick H@",
        f":{NAME} 354 otherNick #chan otherNick H*",
        f":{NAME} 315 otherNick #chan :End of WHO list",
    ]
