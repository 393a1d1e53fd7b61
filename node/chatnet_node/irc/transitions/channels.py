"""Transitions of channels: join, part, kick, topic and modes.

See the package docstring for what a transition is.
"""

from __future__ import annotations

from ..channelinfo import send_names, send_topic
from ..events import (
    ChannelJoin,
    ChannelKick,
    ChannelMode,
    ChannelPart,
    ChannelRename,
    ChannelTopic,
)
from ..message import Message
from ..model import LIST_MODES, Ban, Channel, Client
from ..names import casefold, normalize_ban_mask
from ..serverinfo import MAX_LIST_ENTRIES
from ..state import ChatState
from .owned import restore_settings

ModeChange = tuple[str, str, str | None]  # (sign, letter, argument)


def join(
    state: ChatState,
    user: Client,
    name: str,
    status: str,
    cts: int,
    tags: dict[str, str] | None = None,
) -> Channel:
    """``user`` joins ``name`` (made here, created at ``cts``, if it does not exist).

    A join from the younger side of a split (``cts`` after the channel's
    creation here) brings no status: the older channel keeps its operators.
    """
    folded = casefold(name)
    channel = state.channels.get(folded)
    if channel is None:
        channel = state.channels[folded] = Channel(name=name, created=cts)
        restore_settings(channel, state.channel_records.get(folded))
    elif cts > channel.created:
        status = ""
    channel.add(user, status)
    user.channels[folded] = channel
    tags = tags or state.stamp()
    state.emit(
        ChannelJoin(
            uid=user.uid,
            channel=channel.name,
            cts=channel.created,
            status=status,
            msgid=tags.get("msgid", ""),
            time=tags.get("time", ""),
        )
    )
    show_join(state, user, channel, tags)
    if status and len(channel.members) > 1:
        show_status(state, user, channel, status, user.server)
    return channel


def show_join(state: ChatState, user: Client, channel: Channel, tags: dict[str, str]) -> None:
    """JOIN (extended-join where asked) to the members, and the joiner's AWAY."""
    plain = Message("JOIN", [channel.name], user.prefix, tags)
    extended = Message(
        "JOIN", [channel.name, user.account or "*", user.realname], user.prefix, tags
    )
    members = list(channel.members)
    state.deliver(extended, [m for m in members if m.has("extended-join")])
    state.deliver(plain, [m for m in members if not m.has("extended-join")])
    if user.away is not None:
        note = Message("AWAY", [user.away], user.prefix)
        state.deliver(note, [m for m in members if m.has("away-notify") and m is not user])


def show_status(
    state: ChatState, user: Client, channel: Channel, status: str, by: str, sign: str = "+"
) -> None:
    """``MODE #chan +ov nick nick`` (or ``-``) to the local members."""
    if status:
        letters = sign + status
        change = Message("MODE", [channel.name, letters, *([user.nick] * len(status))], by)
        state.deliver(change, list(channel.members))


def part(
    state: ChatState,
    user: Client,
    channel: Channel,
    reason: str,
    tags: dict[str, str] | None = None,
) -> None:
    """``user`` leaves ``channel``; every member (the leaver included) sees PART."""
    tags = tags or state.stamp()
    state.emit(
        ChannelPart(
            uid=user.uid,
            channel=channel.name,
            reason=reason,
            msgid=tags["msgid"],
            time=tags["time"],
        )
    )
    params = [channel.name, reason] if reason else [channel.name]
    state.deliver(Message("PART", params, user.prefix, tags), list(channel.members))
    state.leave_channel(user, channel)


def kick(
    state: ChatState,
    channel: Channel,
    target: Client,
    reason: str,
    *,
    source: str,
    by_uid: str,
    tags: dict[str, str] | None = None,
) -> None:
    """``target`` is put out of ``channel``; every member (the target included) sees KICK."""
    tags = tags or state.stamp()
    state.emit(
        ChannelKick(
            uid=by_uid,
            channel=channel.name,
            target=target.uid,
            reason=reason,
            msgid=tags["msgid"],
            time=tags["time"],
        )
    )
    kick_msg = Message("KICK", [channel.name, target.nick, reason], source, tags)
    state.deliver(kick_msg, list(channel.members))
    state.leave_channel(target, channel)


def topic(
    state: ChatState,
    channel: Channel,
    text: str,
    *,
    source: str,
    by_uid: str,
    set_by: str,
    at: int,
    tags: dict[str, str] | None = None,
) -> None:
    """The channel's topic becomes ``text`` (set by ``set_by`` at ``at``)."""
    channel.topic, channel.topic_by, channel.topic_at = text, set_by, at
    tags = tags or state.stamp()
    state.emit(
        ChannelTopic(
            uid=by_uid,
            channel=channel.name,
            topic=text,
            by=set_by,
            at=at,
            msgid=tags["msgid"],
            time=tags["time"],
        )
    )
    change = Message("TOPIC", [channel.name, text], source, tags)
    state.deliver(change, list(channel.members))


def channel_modes(
    state: ChatState,
    channel: Channel,
    changes: list[ModeChange],
    *,
    source: str,
    by_uid: str,
    tags: dict[str, str] | None = None,
) -> list[ModeChange]:
    """Apply mode changes already checked by the setter's server; returns those that took.

    Member modes (``o``, ``v``) name their member by nick here (by uid on
    the wire). Changes that change nothing (``+o`` on an operator, a ban
    already set) are left out, and so is anything that no longer applies
    (the member left meanwhile).
    """
    applied: list[ModeChange] = []
    for sign, char, arg in changes:
        adding = sign == "+"
        if char in "ov":
            member = state.nicks.get(casefold(arg or ""))
            if member is None or member not in channel.members:
                continue
            status = channel.members[member]
            if adding and char not in status:
                channel.members[member] = status + char
            elif not adding and char in status:
                channel.members[member] = status.replace(char, "")
            else:
                continue
            applied.append((sign, char, member.nick))
        elif char in LIST_MODES:
            entries = channel.mask_list(char)
            mask = normalize_ban_mask(arg or "")
            existing = [b for b in entries if casefold(b.mask) == casefold(mask)]
            if adding and not existing and len(entries) < MAX_LIST_ENTRIES:
                entries.append(Ban(mask, source, int(state.clock())))
            elif not adding and existing:
                entries.remove(existing[0])
            else:
                continue
            applied.append((sign, char, mask))
        elif char == "k":
            if adding and arg:
                channel.key = arg
                applied.append((sign, char, arg))
            elif not adding and channel.key is not None:
                channel.key = None
                applied.append((sign, char, "*"))
        elif char == "l":
            if adding and arg and arg.isdigit() and int(arg) > 0:
                channel.limit = int(arg)
                applied.append((sign, char, arg))
            elif not adding and channel.limit is not None:
                channel.limit = None
                applied.append((sign, char, None))
        elif adding and char not in channel.flags:
            channel.flags.add(char)
            applied.append((sign, char, None))
        elif not adding and char in channel.flags:
            channel.flags.discard(char)
            applied.append((sign, char, None))
    if applied:
        tags = tags or state.stamp()
        state.emit(
            ChannelMode(
                uid=by_uid,
                channel=channel.name,
                changes=[_on_the_wire(state, change) for change in applied],
                msgid=tags["msgid"],
                time=tags["time"],
            )
        )
        show_mode_change(state, channel, applied, source, tags)
    return applied


def _on_the_wire(state: ChatState, change: ModeChange) -> ModeChange:
    """A member mode names its member by uid between servers."""
    sign, char, arg = change
    if char in "ov" and arg is not None:
        member = state.nicks.get(casefold(arg))
        return (sign, char, member.uid if member is not None else arg)
    return change


def show_mode_change(
    state: ChatState,
    channel: Channel,
    applied: list[ModeChange],
    source: str,
    tags: dict[str, str],
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
    change = Message("MODE", [channel.name, letters, *mode_args], source, tags)
    state.deliver(change, list(channel.members))


#: The capability of clients that understand RENAME; the others see a PART and a JOIN.
RENAME_CAP = "draft/channel-rename"


def rename_channel(
    state: ChatState,
    channel: Channel,
    new_name: str,
    reason: str,
    *,
    source: str,
    by_uid: str,
    tags: dict[str, str] | None = None,
) -> None:
    """``channel`` is called ``new_name`` from now on, with its members, modes and topic.

    Members with ``draft/channel-rename`` see one RENAME; the others see
    themselves leave the old name and join the new one (with its topic and
    names), which is all an older client can understand.
    """
    tags = tags or state.stamp()
    old_name = channel.name
    state.emit(
        ChannelRename(
            uid=by_uid,
            channel=old_name,
            new=new_name,
            reason=reason,
            msgid=tags["msgid"],
            time=tags["time"],
        )
    )
    old_key, new_key = casefold(old_name), casefold(new_name)
    del state.channels[old_key]
    channel.name = new_name
    state.channels[new_key] = channel
    for member in channel.members:
        member.channels.pop(old_key, None)
        member.channels[new_key] = channel
    members = [m for m in channel.members if not m.remote]
    rename = Message("RENAME", [old_name, new_name, reason], source, tags)
    state.deliver(rename, [m for m in members if m.has(RENAME_CAP)])
    why = f"Changing the channel name: {reason}" if reason else "Changing the channel name"
    for member in members:
        if member.has(RENAME_CAP):
            continue
        state.send(member, Message("PART", [old_name, why], member.prefix, tags))
        state.send(member, Message("JOIN", [new_name], member.prefix, tags))
        if channel.topic:
            send_topic(state, member, channel)
        send_names(state, member, channel)
