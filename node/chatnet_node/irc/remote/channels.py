"""Channels as other servers change them, and whole channels from bursts."""

from __future__ import annotations

from .. import events as ev
from .. import transitions as change
from ..message import Message
from ..model import Ban, Channel
from ..names import casefold
from ..serverinfo import MAX_LIST_ENTRIES
from ..state import ChatState
from .common import SidOf, log, source_of, tags_of

#: Entries a list (bans, exceptions, invites) may get from bursts: both sides'
#: full lists after a tie, and no more, whatever a peer sends.
BURST_LIST_ENTRIES = 2 * MAX_LIST_ENTRIES


def on_join(state: ChatState, event: ev.ChannelJoin, sid_of: SidOf) -> None:
    user = state.users.get(event.uid)
    if user is None or casefold(event.channel) in user.channels:
        return
    tags = tags_of(event.msgid, event.time)
    change.join(state, user, event.channel, event.status, event.cts, tags)


def on_part(state: ChatState, event: ev.ChannelPart, sid_of: SidOf) -> None:
    user = state.users.get(event.uid)
    channel = state.channels.get(casefold(event.channel))
    if user is None or channel is None or user not in channel.members:
        return
    change.part(state, user, channel, event.reason, tags_of(event.msgid, event.time))


def on_kick(state: ChatState, event: ev.ChannelKick, sid_of: SidOf) -> None:
    target = state.users.get(event.target)
    channel = state.channels.get(casefold(event.channel))
    if target is None or channel is None or target not in channel.members:
        return
    change.kick(
        state,
        channel,
        target,
        event.reason,
        source=source_of(state, event.uid, event.o),
        by_uid=event.uid,
        tags=tags_of(event.msgid, event.time),
    )


def on_mode(state: ChatState, event: ev.ChannelMode, sid_of: SidOf) -> None:
    channel = state.channels.get(casefold(event.channel))
    if channel is None:
        return
    changes: list[change.ModeChange] = []
    for sign, char, arg in event.changes:
        if char in "ov" and arg is not None:
            member = state.users.get(arg)
            if member is None:
                continue
            arg = member.nick  # noqa: PLW2901 - the local name of the uid
        changes.append((sign, char, arg))
    change.channel_modes(
        state,
        channel,
        changes,
        source=source_of(state, event.uid, event.o),
        by_uid=event.uid,
        tags=tags_of(event.msgid, event.time),
    )


def on_topic(state: ChatState, event: ev.ChannelTopic, sid_of: SidOf) -> None:
    channel = state.channels.get(casefold(event.channel))
    if channel is None:
        return
    change.topic(
        state,
        channel,
        event.topic,
        source=source_of(state, event.uid, event.o),
        by_uid=event.uid,
        set_by=event.by,
        at=event.at,
        tags=tags_of(event.msgid, event.time),
    )


def _merge(entries: list[Ban], theirs: list[tuple[str, str, int]]) -> None:
    """Add the list entries we do not have yet (a tie in a burst keeps both sides' lists),
    up to ``BURST_LIST_ENTRIES``."""
    known = {casefold(entry.mask) for entry in entries}
    for mask, by, at in theirs:
        if len(entries) >= BURST_LIST_ENTRIES:
            return
        if casefold(mask) not in known:
            known.add(casefold(mask))
            entries.append(Ban(mask, by, at))


def on_rename(state: ChatState, event: ev.ChannelRename, sid_of: SidOf) -> None:
    channel = state.channels.get(casefold(event.channel))
    if channel is None:
        return
    if casefold(event.new) in state.channels and casefold(event.new) != casefold(event.channel):
        # The name was taken here meanwhile (a race across servers): the two
        # channels stay apart under their names; the renamer's server keeps the new one.
        log.warning("rename of %s to %s: the name is taken here", event.channel, event.new)
        return
    change.rename_channel(
        state,
        channel,
        event.new,
        event.reason,
        source=source_of(state, event.uid, event.o),
        by_uid=event.uid,
        tags=tags_of(event.msgid, event.time),
    )


def on_state(state: ChatState, event: ev.ChannelState, sid_of: SidOf) -> None:
    """A whole channel from a burst, merged by the channel timestamp rule."""
    folded = casefold(event.name)
    channel = state.channels.get(folded)
    fresh = channel is None
    if channel is None:
        channel = state.channels[folded] = Channel(name=event.name, created=event.ts)
    theirs_win = fresh or event.ts < channel.created
    ours_win = not fresh and event.ts > channel.created
    if theirs_win and not fresh:
        # Our side is younger: drop our statuses and modes, take theirs.
        for member, status in list(channel.members.items()):
            if status:
                channel.members[member] = ""
                change.show_status(state, member, channel, status, state.name, sign="-")
        channel.created = event.ts
        channel.flags = set(event.flags)
        channel.key, channel.limit = event.key, event.limit
        channel.bans, channel.excepts, channel.invex = [], [], []
        _merge(channel.bans, event.bans)
        _merge(channel.excepts, event.excepts)
        _merge(channel.invex, event.invex)
        channel.metadata = dict(event.metadata)
    elif not ours_win:
        channel.flags |= set(event.flags)
        channel.key = channel.key if channel.key is not None else event.key
        channel.limit = channel.limit if channel.limit is not None else event.limit
        for key, value in event.metadata.items():
            channel.metadata.setdefault(key, value)
        _merge(channel.bans, event.bans)
        _merge(channel.excepts, event.excepts)
        _merge(channel.invex, event.invex)
    newer = (event.topic_at, event.topic) > (channel.topic_at, channel.topic)
    if event.topic and (fresh or newer) and event.topic != channel.topic:
        channel.topic, channel.topic_by, channel.topic_at = (
            event.topic,
            event.topic_by,
            event.topic_at,
        )
        if not fresh:
            line = Message("TOPIC", [channel.name, event.topic], event.o, state.stamp())
            state.deliver(line, list(channel.members))
    joining = [
        (user, status)
        for uid, status in event.members
        if (user := state.users.get(uid)) is not None and user not in channel.members
    ]
    # A client that asked for ``batch`` gets the JOINs (and the returning
    # operators' MODEs) in one IRCv3 ``netjoin``: the two ends of the link
    # that brought them, the server that came back first.
    local = [member for member in channel.members if not member.remote] if joining else []
    network = state.network
    here = network.beside(event.o) if network is not None and joining else state.name
    with state.output.batch("netjoin", [event.o, here], local, ["JOIN", "MODE"]):
        for user, status in joining:
            if user in channel.members:
                continue  # named twice
            granted = "" if ours_win else status
            channel.add(user, granted)
            user.channels[folded] = channel
            change.show_join(state, user, channel, state.stamp())
            change.show_status(state, user, channel, granted, event.o)
    if not channel.members:
        state.channels.pop(folded, None)
