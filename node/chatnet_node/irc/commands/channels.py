"""Channel commands: JOIN, PART, TOPIC, NAMES, LIST, KICK, INVITE (MODE is in ``modes``)."""

from __future__ import annotations

from .. import numerics as rpl
from .. import transitions
from ..channelinfo import send_names, send_topic
from ..core import ChatCore, Command
from ..message import Message
from ..model import Channel, Client
from ..names import casefold, is_valid_channel
from ..serverinfo import KICKLEN, MAX_KICK_TARGETS, TOPICLEN
from ..transitions import accounts
from ..transitions.owned import access_status, restore_settings
from .lookup import channel_named, is_operator, joined_channel, refuse_not_on, user_named
from .metadata import subscribed_values


def join(core: ChatCore, client: Client, msg: Message) -> None:
    cost = len(client.channels) if msg.params[0] == "0" else len(msg.params[0].split(","))
    if not core.afford(client, "joinpart", "JOIN", cost):
        return
    core.charge(client, "joinpart", cost)
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
    record = core.channel_records.get(folded)
    if channel is None:
        status, created = "o", int(core.clock())  # its creator is its first operator
        if record is not None:
            # An empty registered channel kept its key, limit, +i and lists:
            # whoever makes it again must get past them like any joiner.
            kept = Channel(name=record.name, created=created)
            restore_settings(kept, record)
            if _refused(core, client, kept, key):
                return
    else:
        if _refused(core, client, channel, key):
            return
        channel.invited.discard(casefold(client.nick))
        status, created = "", channel.created
    if record is not None:  # status by its access list, never for making it
        status = access_status(record, client) or ""
    channel = transitions.join(core, client, name, status, created)
    if channel.topic:
        send_topic(core, client, channel)
    if client.has(transitions.READ_MARKER_CAP):
        transitions.show_marker(core, client, channel.name)  # before the end of NAMES
    send_names(core, client, channel)
    if client.metadata_subs:
        known = subscribed_values(core, client, channel)
        if known:
            core.send_batch(client, "metadata", [], known)


def _refused(core: ChatCore, client: Client, channel: Channel, key: str) -> bool:
    """Does ``channel``'s key, limit, +i or ban keep ``client`` out? Tells it why."""
    invited = casefold(client.nick) in channel.invited
    # The founder and the access list's operators of a registered channel always get in.
    if invited or access_status(core.channel_records.get(channel.name), client) == "o":
        return False
    if channel.key is not None and key != channel.key:
        core.reply(client, rpl.ERR_BADCHANNELKEY, channel.name, "Cannot join channel (+k)")
        return True
    if channel.limit is not None and len(channel.members) >= channel.limit:
        core.reply(client, rpl.ERR_CHANNELISFULL, channel.name, "Cannot join channel (+l)")
        return True
    if "i" in channel.flags and not channel.is_invite_excepted(client):
        core.reply(client, rpl.ERR_INVITEONLYCHAN, channel.name, "Cannot join channel (+i)")
        return True
    if channel.is_banned(client):
        core.reply(client, rpl.ERR_BANNEDFROMCHAN, channel.name, "Cannot join channel (+b)")
        return True
    return False


def part(core: ChatCore, client: Client, msg: Message) -> None:
    reason = msg.param(1)
    names = msg.params[0].split(",")
    if not core.afford(client, "joinpart", "PART", len(names)):
        return
    core.charge(client, "joinpart", len(names))
    for name in names:
        channel = joined_channel(core, client, name)
        if channel is not None:
            part_channel(core, client, channel, reason)


def part_channel(core: ChatCore, client: Client, channel: Channel, reason: str) -> None:
    """Leave ``channel``, telling every member (the leaver included)."""
    transitions.part(core, client, channel, reason)


def topic(core: ChatCore, client: Client, msg: Message) -> None:
    channel = channel_named(core, client, msg.params[0])
    if channel is None:
        return
    if len(msg.params) < 2:
        if "s" in channel.flags and client not in channel.members:
            refuse_not_on(core, client, channel)
            return
        send_topic(core, client, channel)
        return
    if client not in channel.members:
        refuse_not_on(core, client, channel)
        return
    if "t" in channel.flags and not is_operator(core, client, channel):
        return
    transitions.topic(
        core,
        channel,
        msg.params[1][:TOPICLEN],
        source=client.prefix,
        by_uid=client.uid,
        set_by=client.prefix,
        at=int(core.clock()),
    )
    accounts.keep_settings(core, channel)


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


def kick(core: ChatCore, client: Client, msg: Message) -> None:
    """KICK #chan nick[,nick...] or, paired, KICK #a,#b nick1,nick2 (RFC 2812).

    Each target is kicked with a KICK of its own: clients never get one
    naming several channels or users. At most ``MAX_KICK_TARGETS`` targets
    (ISUPPORT TARGMAX); the rest are dropped silently, as the spec allows.
    """
    names = [n for n in msg.params[0].split(",") if n]
    nicks = [n for n in msg.params[1].split(",") if n][:MAX_KICK_TARGETS]
    if not names or not nicks or (len(names) > 1 and len(names) != len(nicks)):
        core.reply(client, rpl.ERR_NEEDMOREPARAMS, "KICK", "Not enough parameters")
        return
    reason = (msg.param(2) or client.nick)[:KICKLEN]
    pairs = zip(names if len(names) > 1 else names * len(nicks), nicks, strict=True)
    for name, target_nick in pairs:
        kick_one(core, client, name, target_nick, reason)


def kick_one(core: ChatCore, client: Client, name: str, target_nick: str, reason: str) -> None:
    """Put ``target_nick`` out of channel ``name``, if ``client`` may."""
    channel = joined_channel(core, client, name)
    if channel is None or not is_operator(core, client, channel):
        return
    target = core.nicks.get(casefold(target_nick))
    if target is None or target not in channel.members:
        core.reply(
            client,
            rpl.ERR_USERNOTINCHANNEL,
            target_nick,
            channel.name,
            "They aren't on that channel",
        )
        return
    transitions.kick(core, channel, target, reason, source=client.prefix, by_uid=client.uid)


def invite(core: ChatCore, client: Client, msg: Message) -> None:
    if len(msg.params) < 2:
        core.reply(client, rpl.ERR_NEEDMOREPARAMS, "INVITE", "Not enough parameters")
        return
    target_nick, name = msg.params[0], msg.params[1]
    target = user_named(core, client, target_nick)
    if target is None:
        return
    channel = joined_channel(core, client, name)
    if channel is None:
        return
    if target in channel.members:
        core.reply(
            client, rpl.ERR_USERONCHANNEL, target.nick, channel.name, "is already on channel"
        )
        return
    if "i" in channel.flags and not is_operator(core, client, channel):
        return
    core.reply(client, rpl.RPL_INVITING, target.nick, channel.name)
    transitions.invite(core, client, target, channel)


def rename(core: ChatCore, client: Client, msg: Message) -> None:
    """RENAME #old #new [:reason] (draft/channel-rename): channel operators only."""
    old, new, reason = msg.params[0], msg.params[1], msg.param(2)[:KICKLEN]
    channel = channel_named(core, client, old)
    if channel is None or not is_operator(core, client, channel):
        return
    if not is_valid_channel(new):
        core.fail(client, "RENAME", "CANNOT_RENAME", old, new, f"{new} is not a valid channel name")
        return
    if casefold(new) in core.channels and casefold(new) != casefold(old):
        core.fail(client, "RENAME", "CHANNEL_NAME_IN_USE", old, new, "Channel already exists")
        return
    transitions.rename_channel(core, channel, new, reason, source=client.prefix, by_uid=client.uid)


COMMANDS = {
    "JOIN": Command(join, 1),
    "PART": Command(part, 1),
    "TOPIC": Command(topic, 1),
    "NAMES": Command(names, 0),
    "KICK": Command(kick, 2),
    "INVITE": Command(invite, 2),
    "RENAME": Command(rename, 2),
}
