"""Bot mode (+B, the bot tag, WHOIS 335, the WHO flag) and STATUSMSG (PRIVMSG @#chan)."""

from __future__ import annotations

import re

from tests.corekit import CoreNetwork, CoreServer


def test_bot_mode(server: CoreServer) -> None:
    bot = server.user("beep")
    user = server.user("user", "message-tags")
    plain = server.user("plain")
    assert bot.ask("MODE beep +B") == [":beep!~beep@127.0.0.1 MODE beep +B"]
    assert bot.ask("MODE beep") == [":test 221 beep +B"]
    assert ":test 335 user beep :is a bot on TestNet" in user.ask("WHOIS beep")
    for who in (user, plain):
        who.send("JOIN #room")
        who.lines()
    bot.send("JOIN #room")
    bot.lines()
    user.lines()
    plain.lines()
    flags = {line.split()[7]: line.split()[8] for line in user.ask("WHO #room") if " 352 " in line}
    assert flags == {"user": "H@", "plain": "H", "beep": "HB"}
    bot.send("PRIVMSG #room :beep boop", "PRIVMSG user :psst")
    channel_line, private_line = user.lines()
    assert re.fullmatch(
        r"@msgid=[\w-]+;bot;draft/bot :beep!~beep@127\.0\.0\.1 PRIVMSG #room :beep boop",
        channel_line,
    ), channel_line
    assert re.fullmatch(
        r"@msgid=[\w-]+;bot;draft/bot :beep!~beep@127\.0\.0\.1 PRIVMSG user psst", private_line
    )
    assert plain.lines() == [":beep!~beep@127.0.0.1 PRIVMSG #room :beep boop"]
    assert bot.ask("MODE beep -B") == [":beep!~beep@127.0.0.1 MODE beep -B"]
    assert not [line for line in user.ask("WHOIS beep") if " 335 " in line]


def test_bot_mode_is_seen_across_the_network() -> None:
    net = CoreNetwork("hub", "leaf")
    net.link("hub", "leaf")
    bot = net.user("hub", "beep")
    user = net.user("leaf", "user", "message-tags")
    net.say(bot, "MODE beep +B")
    assert ":leaf 335 user beep :is a bot on t" in user.ask("WHOIS beep")
    net.say(bot, "PRIVMSG user :hello")
    (line,) = user.lines()
    assert line.startswith("@msgid=") and ";bot;draft/bot " in line
    # A server that links later learns it from the burst.
    net.cut("hub", "leaf")
    net.link("hub", "leaf")
    assert net.cores["leaf"].nicks["beep"].bot


def test_statusmsg(server: CoreServer) -> None:
    op, voiced, member = (
        server.user("op", "echo-message"),
        server.user("voiced"),
        server.user("member"),
    )
    for user in (op, voiced, member):
        user.send("JOIN #room")
    op.send("MODE #room +v voiced")
    for user in (op, voiced, member):
        user.lines()
    assert op.ask("PRIVMSG @#room :ops only") == [":op!~op@127.0.0.1 PRIVMSG @#room :ops only"]
    assert voiced.lines() == member.lines() == []
    assert voiced.ask("NOTICE +#room :voiced and up") == []
    assert op.lines() == [":voiced!~voiced@127.0.0.1 NOTICE +#room :voiced and up"]
    assert member.lines() == []
    # Not stored: history is for everyone who may read the channel.
    assert "ops only" not in " ".join(member.ask("CHATHISTORY LATEST #room * 10"))
    assert member.ask("PRIVMSG @#nowhere :x") == [":test 403 member #nowhere :No such channel"]
    outsider = server.user("outsider")
    assert outsider.ask("PRIVMSG @#room :x") == [":test 404 outsider #room :Cannot send to channel"]


def test_statusmsg_across_the_network() -> None:
    net = CoreNetwork("hub", "leaf")
    net.link("hub", "leaf")
    op = net.user("hub", "op")
    net.say(op, "JOIN #room")
    leaf_op, leaf_member = net.user("leaf", "leafop"), net.user("leaf", "member")
    net.say(leaf_op, "JOIN #room")
    net.say(leaf_member, "JOIN #room")
    net.say(op, "MODE #room +o leafop")
    leaf_op.lines()
    leaf_member.lines()
    net.say(op, "PRIVMSG @#room :ops meeting")
    assert leaf_op.lines() == [":op!~op@127.0.0.1 PRIVMSG @#room :ops meeting"]
    assert leaf_member.lines() == []
