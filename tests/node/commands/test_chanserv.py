"""ChanServ: owned channels, their access lists, and the settings they keep."""

from __future__ import annotations

from pathlib import Path

from chatnet_node.history.contract import StoredRecord
from chatnet_node.irc.accounts import Account, credentials
from chatnet_node.irc.transitions import accounts
from tests.corekit import CoreServer, CoreUser

PASSWORD = "correct-horse-battery"
CS = ":ChanServ!ChanServ@services.TestNet"


def account(server: CoreServer, nick: str, caps: str = "") -> CoreUser:
    """A user who registered the account ``nick`` and is logged in to it."""
    user = server.user(nick, caps)
    user.send(f"NS REGISTER {PASSWORD}")
    user.lines()
    return user


def founded(server: CoreServer, channel: str = "#ops") -> CoreUser:
    """``founder`` made ``channel`` and registered it."""
    founder = account(server, "founder")
    founder.send(f"JOIN {channel}")
    founder.lines()
    assert founder.ask(f"CS REGISTER {channel}") == [
        f"{CS} NOTICE founder :{channel} is registered to founder"
    ]
    return founder


def test_register_needs_an_account_and_operator_status(server: CoreServer) -> None:
    guest = server.user("guest")
    guest.send("JOIN #mine")
    assert guest.ask("CS REGISTER #mine")[0].endswith(
        ":Log in first (/msg NickServ IDENTIFY, or SASL)"
    )
    member = account(server, "member")
    member.send("JOIN #mine")
    assert member.ask("CS REGISTER #mine")[0].endswith(
        ":You must be an operator of #mine to register it"
    )
    assert member.ask("CS INFO #mine")[0].endswith(":#mine is not registered")
    assert member.ask("CS REGISTER")[0].endswith(
        ":Syntax: REGISTER <#channel>: own a channel you are an operator of"
    )


def test_the_founder_gets_op_back_and_strangers_never_get_it(server: CoreServer) -> None:
    founder = founded(server)
    founder.send("PART #ops")
    stranger = server.user("stranger")
    # The channel is empty: joining makes it again, but a registered one gives no @.
    names = stranger.ask("JOIN #ops")
    assert ":test 353 stranger = #ops stranger" in names
    joined = founder.ask("JOIN #ops")
    assert any(
        line.startswith(":test 353 founder = #ops ") and "@founder" in line for line in joined
    )
    assert "o" in server.core.channels["#ops"].members[founder.client]
    assert "o" not in server.core.channels["#ops"].members[stranger.client]


def test_logging_in_inside_the_channel_gives_op(server: CoreServer) -> None:
    founder = founded(server)
    founder.send("NS LOGOUT", "PART #ops", "JOIN #ops")
    watcher = server.user("watcher")
    watcher.send("JOIN #ops")
    watcher.lines()
    assert "o" not in server.core.channels["#ops"].members[founder.client]
    founder.send(f"NS IDENTIFY {PASSWORD}")
    assert watcher.lines() == [f"{CS} MODE #ops +o founder"]


def test_access_list_voice_and_op(server: CoreServer) -> None:
    founder = founded(server)
    friend = account(server, "friend")
    assert founder.ask("CS ACCESS #ops ADD friend voice") == [
        f"{CS} NOTICE founder :friend: voice on #ops"
    ]
    friend.send("JOIN #ops")
    assert "v" in server.core.channels["#ops"].members[friend.client]
    founder.lines()
    assert founder.ask("CS FLAGS #ops friend +o")[0] == f"{CS} NOTICE founder :friend: op on #ops"
    assert "o" in server.core.channels["#ops"].members[friend.client]
    assert founder.ask("CS ACCESS #ops LIST") == [
        f"{CS} NOTICE founder :founder: founder",
        f"{CS} NOTICE founder :friend: op",
        f"{CS} NOTICE founder :End of the access list of #ops",
    ]
    # Only the founder changes the list; an op may not.
    assert friend.ask("CS ACCESS #ops DEL founder")[0].endswith(
        ":You do not have access to do that on #ops"
    )
    assert founder.ask("CS ACCESS #ops ADD nobody op")[0].endswith(
        ":nobody is not a registered account"
    )
    assert founder.ask("CS FLAGS #ops friend +q")[0].endswith(
        ":Flags are +o (auto-op), +v (auto-voice), -o, -v or -*"
    )


def test_op_kick_ban_topic_through_chanserv(server: CoreServer) -> None:
    founder = founded(server)
    pest = server.user("pest")
    pest.send("JOIN #ops")
    founder.lines()
    founder.send("MODE #ops -o founder")
    assert founder.ask("CS OP #ops")[-1] == f"{CS} MODE #ops +o founder"
    founder.send("CS BAN #ops pest")
    assert "*!*@127.0.0.1" in [b.mask for b in server.core.channels["#ops"].bans]
    founder.lines()
    kicked = founder.ask("CS KICK #ops pest go away")
    assert f"{CS} KICK #ops pest :go away" in kicked
    assert pest.ask("JOIN #ops")[0].startswith(":test 474 pest #ops")
    founder.send("CS TOPIC #ops the ops room")
    assert server.core.channels["#ops"].topic == "the ops room"
    assert pest.ask("CS TOPIC #ops mine now")[0].endswith(
        ":You do not have access to do that on #ops"
    )


def test_settings_come_back_when_the_channel_is_made_again(server: CoreServer) -> None:
    founder = founded(server)
    founder.send(
        "TOPIC #ops :kept across restarts",
        "MODE #ops +ims",
        "MODE #ops +k sekrit",
        "MODE #ops +b *!*@banned.example",
        "MODE #ops +e *!*@friend.example",
    )
    founder.send("PART #ops")
    assert "#ops" not in server.core.channels
    founder.lines()
    founder.send("JOIN #ops sekrit")
    channel = server.core.channels["#ops"]
    assert channel.topic == "kept across restarts"
    assert {"i", "m", "s"} <= channel.flags
    assert channel.key == "sekrit"
    assert [b.mask for b in channel.bans] == ["*!*@banned.example"]
    assert [b.mask for b in channel.excepts] == ["*!*@friend.example"]


def test_accounts_and_channels_survive_a_restart(tmp_path: Path) -> None:
    history = tmp_path / "history.db"
    first = CoreServer(name="test", history=history)
    founder = founded(first)
    founder.send("TOPIC #ops :still here", "MODE #ops +b *!*@banned.example")
    first.core.history.close()

    second = CoreServer(name="test", history=history)
    assert accounts.load_records(second.core, second.core.history.load_records()) >= 2
    back = second.user("founder")
    assert back.ask(f"NS IDENTIFY {PASSWORD}")[0].startswith(":test 900 founder")
    back.send("JOIN #ops")
    channel = second.core.channels["#ops"]
    assert channel.topic == "still here"
    assert [b.mask for b in channel.bans] == ["*!*@banned.example"]
    assert "o" in channel.members[back.client]


def test_drop_gives_the_channel_up(server: CoreServer) -> None:
    founder = founded(server)
    friend = account(server, "friend")
    assert friend.ask("CS DROP #ops")[0].endswith(":You do not have access to do that on #ops")
    assert founder.ask("CS DROP #ops") == [f"{CS} NOTICE founder :#ops is no longer registered"]
    assert founder.ask("CS INFO #ops")[0].endswith(":#ops is not registered")
    # Dropped for good: registering it again is a new registration.
    assert founder.ask("CS REGISTER #ops")[0].endswith(":#ops is registered to founder")


def test_a_restart_settles_a_split_it_had_not_settled(tmp_path: Path) -> None:
    """Stopped after storing the other side's earlier registration but before dropping its
    own: the restarted server drops its own (the loser) and keeps the winner."""
    history = tmp_path / "history.db"
    first = CoreServer(name="b", history=history)
    first.clock.now = 2000.0
    mine = account(first, "dup")
    assert mine.client.account == "dup"
    winner = Account(name="dup", created=1000.0, origin="a", updated=1000.0, by="a",
                     **credentials("the-winners-password"))  # fmt: skip
    first.core.history.save_record(
        "account",
        StoredRecord(name=winner.folded, created=winner.created, origin="a",
                     updated=winner.updated, by="a", data=winner.model_dump_json()),
    )  # fmt: skip
    first.core.history.close()

    second = CoreServer(name="b", history=history)
    accounts.load_records(second.core, second.core.history.load_records())
    assert second.core.accounts.get("dup") == winner
    assert [v.dropped for v in second.core.accounts.versions("dup") if v.origin == "b"] == [True]
    checker = second.user("checker")
    assert checker.ask(f"NS IDENTIFY dup {PASSWORD}")[-1].endswith(":Invalid account or password")
    assert checker.ask("NS IDENTIFY dup the-winners-password")[0].startswith(":b 900 checker")
    # The tombstone is stored too: a second restart finds nothing left to settle.
    second.core.history.close()
    third = CoreServer(name="b", history=history)
    accounts.load_records(third.core, third.core.history.load_records())
    assert [v.dropped for v in third.core.accounts.versions("dup") if v.origin == "b"] == [True]
