"""ChanServ: a registered channel empty of members keeps its founder op, key, limit and bans."""

from __future__ import annotations

from tests.corekit import CoreServer, CoreUser

PASSWORD = "correct-horse-battery"
CS = ":ChanServ!ChanServ@services.TestNet"


def founded(server: CoreServer, *setup: str) -> CoreUser:
    """alice, logged in, who registered #ops, ran ``setup`` in it, and left it empty."""
    alice = server.user("alice")
    alice.send(f"NS REGISTER {PASSWORD}", "JOIN #ops")
    assert alice.ask("CS REGISTER #ops")[-1] == f"{CS} NOTICE alice :#ops is registered to alice"
    alice.send(*setup, "PART #ops")
    alice.lines()
    assert "#ops" not in server.core.channels
    return alice


def test_an_emptied_registered_channel_comes_back_with_its_settings(server: CoreServer) -> None:
    alice = founded(server, "TOPIC #ops :kept", "MODE #ops +mb-t baddie!*@*")
    joined = alice.ask("JOIN #ops")
    assert ":test 332 alice #ops kept" in joined
    assert ":test 353 alice = #ops @alice" in joined, "the founder is its operator again"
    assert alice.ask("MODE #ops")[0] == ":test 324 alice #ops +mn"
    assert alice.ask("MODE #ops +b")[0].startswith(":test 367 alice #ops baddie!*@* ")


def test_a_stranger_making_it_again_gets_no_op(server: CoreServer) -> None:
    founded(server)
    bob = server.user("bob")
    assert ":test 353 bob = #ops bob" in bob.ask("JOIN #ops")


def test_its_kept_ban_and_key_keep_people_out_of_the_empty_channel(server: CoreServer) -> None:
    founded(server, "MODE #ops +b baddie!*@*")
    baddie = server.user("baddie")
    assert baddie.ask("JOIN #ops") == [":test 474 baddie #ops :Cannot join channel (+b)"]
    assert "#ops" not in server.core.channels
    founded_key = CoreServer(name="test")
    founded(founded_key, "MODE #ops +k sesame")
    carol = founded_key.user("carol")
    assert carol.ask("JOIN #ops") == [":test 475 carol #ops :Cannot join channel (+k)"]
    assert ":test 353 carol = #ops carol" in carol.ask("JOIN #ops sesame")


def test_the_founder_gets_op_on_logging_in(server: CoreServer) -> None:
    founded(server)
    back = server.user("back")
    back.send("JOIN #ops")
    back.lines()
    lines = back.ask(f"NS IDENTIFY alice {PASSWORD}")
    assert f"{CS} MODE #ops +o back" in lines
