"""Channel commands: JOIN, PART, TOPIC, NAMES, LIST, MODE, KICK, INVITE."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import announce
from .. import numerics as rpl
from ..channel import FLAG_MODES, Ban, Channel
from ..core import KICKLEN, TOPICLEN
from ..message import Message
from ..names import casefold, is_channel_name, is_valid_channel, normalize_ban_mask
from . import Command

if TYPE_CHECKING:
    from ..client import Client
    from ..core import ChatCore

NAMES_LINE_BUDGET = 400  # bytes of names per RPL_NAMREPLY line


def join(core: ChatCore, client: Client, msg: Message) -> None:
    if msg.params[0] == "0":
        for channel in list(client.channels.values()):
            part_channel(core, client, channel, "Left all channels")
        return
    names = msg.params[0].split(",")
    keys = msg.param(1).split(",") if len(msg.params) > 1 else []
    for index, name in enumerate(names):
        if not name:
            continue
        key = keys[index] if index < len(keys) else ""
        join_one(core, client, name, key)


def join_one(core: ChatCore, client: Client, name: str, key: str) -> None:
    """Join one channel, creating it (with the joiner as operator) if needed."""
    if not is_valid_channel(name):
        core.reply(client, rpl.ERR_BADCHANMASK, name, "Bad Channel Mask")
        return
    folded = casefold(name)
    if folded in client.channels:
        return
    if len(client.channels) >= core.config.limits.max_channels_per_client:
        core.reply(client, rpl.ERR_TOOMANYCHANNELS, name, "You have joined too many channels")
        return
    channel = core.channels.get(folded)
    if channel is None:
        channel = Channel(name=name, created=int(core.clock()))
        core.channels[folded] = channel
        status = "o"
    else:
        invited = casefold(client.nick) in channel.invited
        if channel.key is not None and key != channel.key and not invited:
            core.reply(client, rpl.ERR_BADCHANNELKEY, channel.name, "Cannot join channel (+k)")
            return
        if channel.limit is not None and len(channel.members) >= channel.limit and not invited:
            core.reply(client, rpl.ERR_CHANNELISFULL, channel.name, "Cannot join channel (+l)")
            return
        if "i" in channel.flags and not invited:
            core.reply(client, rpl.ERR_INVITEONLYCHAN, channel.name, "Cannot join channel (+i)")
            return
        if channel.is_banned(client) and not invited:
            core.reply(client, rpl.ERR_BANNEDFROMCHAN, channel.name, "Cannot join channel (+b)")
            return
        channel.invited.discard(casefold(client.nick))
        status = ""
    channel.add(client, status)
    client.channels[folded] = channel
    plain = Message("JOIN", [channel.name], client.prefix, core.stamp())
    extended = Message("JOIN", [channel.name, "*", client.realname], client.prefix, plain.tags)
    members = list(channel.members)
    core.deliver(extended, [m for m in members if m.has("extended-join")])
    core.deliver(plain, [m for m in members if not m.has("extended-join")])
    if client.away is not None:
        away = Message("AWAY", [client.away], client.prefix)
        core.deliver(away, [m for m in members if m.has("away-notify") and m is not client])
    announce.join(core, client, channel, status, plain)
    if channel.topic:
        send_topic(core, client, channel)
    send_names(core, client, channel)


def send_topic(core: ChatCore, client: Client, channel: Channel) -> None:
    """RPL_TOPIC and RPL_TOPICWHOTIME, or RPL_NOTOPIC."""
    if not channel.topic:
        core.reply(client, rpl.RPL_NOTOPIC, channel.name, "No topic is set")
        return
    core.reply(client, rpl.RPL_TOPIC, channel.name, channel.topic)
    core.reply(client, rpl.RPL_TOPICWHOTIME, channel.name, channel.topic_by, str(channel.topic_at))


def send_names(core: ChatCore, client: Client, channel: Channel) -> None:
    """RPL_NAMREPLY lines (split to fit) and RPL_ENDOFNAMES."""
    in_channel = client in channel.members
    multi = client.has("multi-prefix")
    full = client.has("userhost-in-names")
    entries = [
        channel.prefix_of(member, multi) + (member.prefix if full else member.nick)
        for member in channel.members
        if in_channel or not member.invisible
    ]
    symbol = "@" if "s" in channel.flags else "="
    line: list[str] = []
    size = 0
    for entry in entries:
        if line and size + len(entry) + 1 > NAMES_LINE_BUDGET:
            core.reply(client, rpl.RPL_NAMREPLY, symbol, channel.name, " ".join(line))
            line, size = [], 0
        line.append(entry)
        size += len(entry) + 1
    if line:
        core.reply(client, rpl.RPL_NAMREPLY, symbol, channel.name, " ".join(line))
    core.reply(client, rpl.RPL_ENDOFNAMES, channel.name, "End of /NAMES list")


def part(core: ChatCore, client: Client, msg: Message) -> None:
    reason = msg.param(1)
    for name in msg.params[0].split(","):
        channel = core.channels.get(casefold(name))
        if channel is None:
            core.reply(client, rpl.ERR_NOSUCHCHANNEL, name, "No such channel")
        elif client not in channel.members:
            core.reply(client, rpl.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        else:
            part_channel(core, client, channel, reason)


def part_channel(core: ChatCore, client: Client, channel: Channel, reason: str) -> None:
    """Leave ``channel``, telling every member (the leaver included)."""
    announce.part(core, client, channel, reason)
    params = [channel.name, reason] if reason else [channel.name]
    core.deliver(Message("PART", params, client.prefix, core.stamp()), list(channel.members))
    core.leave_channel(client, channel)


def topic(core: ChatCore, client: Client, msg: Message) -> None:
    name = msg.params[0]
    channel = core.channels.get(casefold(name))
    if channel is None:
        core.reply(client, rpl.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    if len(msg.params) < 2:
        if "s" in channel.flags and client not in channel.members:
            core.reply(client, rpl.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
            return
        send_topic(core, client, channel)
        return
    if client not in channel.members:
        core.reply(client, rpl.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        return
    if "t" in channel.flags and not channel.is_op(client):
        core.reply(client, rpl.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
        return
    channel.topic = msg.params[1][:TOPICLEN]
    channel.topic_by = client.prefix
    channel.topic_at = int(core.clock())
    announce.topic(core, client, channel)
    change = Message("TOPIC", [channel.name, channel.topic], client.prefix, core.stamp())
    core.deliver(change, list(channel.members))


def names(core: ChatCore, client: Client, msg: Message) -> None:
    if not msg.params:
        core.reply(client, rpl.RPL_ENDOFNAMES, "*", "End of /NAMES list")
        return
    for name in msg.params[0].split(","):
        channel = core.channels.get(casefold(name))
        visible = channel is not None and ("s" not in channel.flags or client in channel.members)
        if channel is not None and visible:
            send_names(core, client, channel)
        else:
            core.reply(client, rpl.RPL_ENDOFNAMES, name, "End of /NAMES list")


def list_(core: ChatCore, client: Client, msg: Message) -> None:
    wanted = {casefold(n) for n in msg.params[0].split(",")} if msg.params else None
    core.reply(client, rpl.RPL_LISTSTART, "Channel", "Users  Name")
    for folded, channel in sorted(core.channels.items()):
        if wanted is not None and folded not in wanted:
            continue
        if "s" in channel.flags and client not in channel.members:
            continue
        modes, _ = channel.mode_string(reveal_key=False)
        text = f"[{modes}] {channel.topic}"
        core.reply(client, rpl.RPL_LIST, channel.name, str(len(channel.members)), text)
    core.reply(client, rpl.RPL_LISTEND, "End of /LIST")


def mode(core: ChatCore, client: Client, msg: Message) -> None:
    target = msg.params[0]
    if is_channel_name(target):
        channel_mode(core, client, msg)
    else:
        user_mode(core, client, msg)


def user_mode(core: ChatCore, client: Client, msg: Message) -> None:
    target = msg.params[0]
    if casefold(target) != casefold(client.nick):
        if casefold(target) not in core.nicks:
            core.reply(client, rpl.ERR_NOSUCHNICK, target, "No such nick/channel")
        else:
            core.reply(client, rpl.ERR_USERSDONTMATCH, "Cant change mode for other users")
        return
    if len(msg.params) < 2:
        core.reply(client, rpl.RPL_UMODEIS, client.user_modes)
        return
    adding = True
    applied = ""
    last_sign = ""
    unknown = False
    for char in msg.params[1]:
        if char in "+-":
            adding = char == "+"
            continue
        sign = "+" if adding else "-"
        if char == "i" and client.invisible != adding:
            client.invisible = adding
        elif char == "o" and not adding and client.oper:
            client.oper = None
        elif char not in "io":
            unknown = True
            continue
        else:
            continue
        applied += (sign if sign != last_sign else "") + char
        last_sign = sign
    if unknown:
        core.reply(client, rpl.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
    if applied:
        announce.modes(core, client)
        core.send(client, Message("MODE", [client.nick, applied], client.prefix))


def channel_mode(core: ChatCore, client: Client, msg: Message) -> None:
    name = msg.params[0]
    channel = core.channels.get(casefold(name))
    if channel is None:
        core.reply(client, rpl.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    if len(msg.params) < 2:
        letters, params = channel.mode_string(reveal_key=client in channel.members)
        core.reply(client, rpl.RPL_CHANNELMODEIS, channel.name, letters, *params)
        core.reply(client, rpl.RPL_CREATIONTIME, channel.name, str(channel.created))
        return
    args = list(msg.params[2:])
    changes: list[tuple[str, str, str | None]] = []  # (sign, letter, argument)
    adding = True
    is_op = channel.is_op(client)
    denied = False
    for char in msg.params[1]:
        if char in "+-":
            adding = char == "+"
            continue
        sign = "+" if adding else "-"
        if char == "b":
            if not args:
                if adding:
                    for ban in channel.bans:
                        core.reply(
                            client,
                            rpl.RPL_BANLIST,
                            channel.name,
                            ban.mask,
                            ban.set_by,
                            str(ban.set_at),
                        )
                    core.reply(
                        client, rpl.RPL_ENDOFBANLIST, channel.name, "End of channel ban list"
                    )
                continue
            changes.append((sign, char, args.pop(0)))
        elif char in "ov" or (char == "k" and adding) or (char == "l" and adding):
            if not args:
                core.reply(client, rpl.ERR_NEEDMOREPARAMS, "MODE", "Not enough parameters")
                continue
            changes.append((sign, char, args.pop(0)))
        elif char == "k":
            if args:
                args.pop(0)
            changes.append((sign, char, None))
        elif char in FLAG_MODES or char == "l":
            changes.append((sign, char, None))
        else:
            core.reply(client, rpl.ERR_UNKNOWNMODE, char, "is unknown mode char to me")
    if changes and not is_op:
        denied = True
    if denied:
        core.reply(client, rpl.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
        return
    applied = apply_channel_modes(core, client, channel, changes)
    if applied:
        announce.mode(core, client, channel, applied)
        show_mode_change(core, channel, applied, client.prefix)


def show_mode_change(
    core: ChatCore, channel: Channel, applied: list[tuple[str, str, str | None]], source: str
) -> None:
    """Tell the local members, in one MODE line: ``+o-v alice bob``."""
    letters = ""
    mode_args: list[str] = []
    last_sign = ""
    for sign, char, arg in applied:
        letters += (sign if sign != last_sign else "") + char
        last_sign = sign
        if arg is not None:
            mode_args.append(arg)
    change = Message("MODE", [channel.name, letters, *mode_args], source, core.stamp())
    core.deliver(change, list(channel.members))


def apply_channel_modes(
    core: ChatCore,
    client: Client | None,
    channel: Channel,
    changes: list[tuple[str, str, str | None]],
) -> list[tuple[str, str, str | None]]:
    """Apply parsed mode changes; returns those that changed something.

    ``client`` is the local setter, told of errors; None for a change that
    came over a link (already checked by the setter's server).
    """

    def complain(numeric: str, *params: str) -> None:
        if client is not None:
            core.reply(client, numeric, *params)

    set_by = client.prefix if client is not None else core.name
    applied: list[tuple[str, str, str | None]] = []
    for sign, char, arg in changes:
        adding = sign == "+"
        if char in "ov":
            assert arg is not None
            member = core.nicks.get(casefold(arg))
            if member is None:
                complain(rpl.ERR_NOSUCHNICK, arg, "No such nick/channel")
                continue
            if member not in channel.members:
                complain(
                    rpl.ERR_USERNOTINCHANNEL,
                    member.nick,
                    channel.name,
                    "They aren't on that channel",
                )
                continue
            status = channel.members[member]
            if adding and char not in status:
                channel.members[member] = status + char
            elif not adding and char in status:
                channel.members[member] = status.replace(char, "")
            else:
                continue
            applied.append((sign, char, member.nick))
        elif char == "b":
            assert arg is not None
            mask = normalize_ban_mask(arg)
            existing = [b for b in channel.bans if casefold(b.mask) == casefold(mask)]
            if adding and not existing and len(channel.bans) < 100:
                channel.bans.append(Ban(mask, set_by, int(core.clock())))
            elif not adding and existing:
                channel.bans.remove(existing[0])
            else:
                continue
            applied.append((sign, char, mask))
        elif char == "k":
            if adding:
                assert arg is not None
                if " " in arg or "," in arg or not arg:
                    complain(rpl.ERR_INVALIDKEY, channel.name, "Key is not well-formed")
                    continue
                channel.key = arg
                applied.append((sign, char, arg))
            elif channel.key is not None:
                channel.key = None
                applied.append((sign, char, "*"))
        elif char == "l":
            if adding:
                assert arg is not None
                if not arg.isdigit() or int(arg) <= 0:
                    continue
                channel.limit = int(arg)
                applied.append((sign, char, arg))
            elif channel.limit is not None:
                channel.limit = None
                applied.append((sign, char, None))
        elif adding and char not in channel.flags:
            channel.flags.add(char)
            applied.append((sign, char, None))
        elif not adding and char in channel.flags:
            channel.flags.discard(char)
            applied.append((sign, char, None))
    return applied


def kick(core: ChatCore, client: Client, msg: Message) -> None:
    name = msg.params[0]
    channel = core.channels.get(casefold(name))
    if channel is None:
        core.reply(client, rpl.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    if client not in channel.members:
        core.reply(client, rpl.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        return
    if not channel.is_op(client):
        core.reply(client, rpl.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
        return
    reason = (msg.param(2) or client.nick)[:KICKLEN]
    for target_nick in msg.params[1].split(","):
        target = core.nicks.get(casefold(target_nick))
        if target is None or target not in channel.members:
            core.reply(
                client,
                rpl.ERR_USERNOTINCHANNEL,
                target_nick,
                channel.name,
                "They aren't on that channel",
            )
            continue
        kick_msg = Message("KICK", [channel.name, target.nick, reason], client.prefix, core.stamp())
        announce.kick(core, client, channel, target, reason)
        core.deliver(kick_msg, list(channel.members))
        core.leave_channel(target, channel)


def invite(core: ChatCore, client: Client, msg: Message) -> None:
    if len(msg.params) < 2:
        core.reply(client, rpl.ERR_NEEDMOREPARAMS, "INVITE", "Not enough parameters")
        return
    target_nick, name = msg.params[0], msg.params[1]
    target = core.nicks.get(casefold(target_nick))
    if target is None:
        core.reply(client, rpl.ERR_NOSUCHNICK, target_nick, "No such nick/channel")
        return
    channel = core.channels.get(casefold(name))
    if channel is None:
        core.reply(client, rpl.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    if client not in channel.members:
        core.reply(client, rpl.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        return
    if target in channel.members:
        core.reply(
            client, rpl.ERR_USERONCHANNEL, target.nick, channel.name, "is already on channel"
        )
        return
    if "i" in channel.flags and not channel.is_op(client):
        core.reply(client, rpl.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
        return
    channel.invited.add(casefold(target.nick))
    core.reply(client, rpl.RPL_INVITING, target.nick, channel.name)
    if target.remote:
        announce.invite(core, client, target, channel)
        return
    core.send(target, Message("INVITE", [target.nick, channel.name], client.prefix, core.stamp()))


COMMANDS = {
    "JOIN": Command(join, 1),
    "PART": Command(part, 1),
    "TOPIC": Command(topic, 1),
    "NAMES": Command(names, 0),
    "LIST": Command(list_, 0),
    "MODE": Command(mode, 1),
    "KICK": Command(kick, 2),
    "INVITE": Command(invite, 2),
}
