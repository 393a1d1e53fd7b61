"""Changes made on other servers, applied here through the same transitions.

The link manager hands each routed event to ``apply``. This module finds
the users and channels the event names (by uid and channel name), drops
what no longer applies (a user who left meanwhile), and calls the
transition a local command would call, with ``ChatState.relaying`` set so
that nothing is emitted back: the manager forwards the original event.

What only links can cause is settled here, the same way on every server,
so all converge:

* nick collision: the older nick (lower ``ts``) keeps it; on a tie the user
  of the server with the lower server ID keeps it. The other user is renamed
  to its uid (``Guest<uid>``), on every server, with a NICK to its peers;
* channel created on both sides of a split: the older channel (lower
  ``ts``) keeps its modes and operators; the younger side's members join
  without status and its modes are dropped; equal ages merge;
* topic set on both sides: the newer topic wins; on a tie, the one whose
  text sorts first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..history.contract import dm_target
from . import events as ev
from . import transitions as change
from .message import Message
from .model import NULL_SINK, Ban, Channel, Client
from .names import casefold, is_channel_name
from .serverinfo import STATUSMSG
from .servertime import format_time
from .state import ChatState

log = logging.getLogger("chatnet.remote")

SidOf = dict[str, int]


def guest_nick(uid: str) -> str:
    """The nick a collision loser gets: valid, unique, the same on every server."""
    return f"Guest{uid}"


def apply(state: ChatState, event: ev.Event, sid_of: SidOf) -> None:
    """Apply one event from another server. ``sid_of`` maps server names to IDs."""
    handler = _HANDLERS[type(event)]
    state.relaying = True
    try:
        handler(state, event, sid_of)
    finally:
        state.relaying = False


def _tags(msgid: str, time: str) -> dict[str, str] | None:
    """The origin's stamp, when the event carries one."""
    return {"time": time, "msgid": msgid} if msgid else None


# Users.


def _intro(state: ChatState, event: ev.UserIntro, sid_of: SidOf) -> None:
    if event.uid in state.users:
        return  # already known (a burst after a heal): no duplicate
    user = Client(sink=NULL_SINK, address=event.host, connected_at=event.signon)
    user.remote = True
    user.registered = True
    user.uid = event.uid
    user.server = event.o
    user.nick = event.nick
    user.user = event.user
    user.host = event.host
    user.realname = event.realname
    user.nick_ts = event.ts
    user.last_active = event.signon
    user.away = event.away
    user.oper = event.oper
    user.invisible = event.invisible
    user.bot = event.bot
    user.metadata = dict(event.metadata) if event.metadata else None
    user.secure = event.secure
    state.users[user.uid] = user
    state.count_users()
    _claim_nick(state, user, sid_of)
    change.arrived(state, user)


def _claim_nick(state: ChatState, user: Client, sid_of: SidOf) -> None:
    """Give ``user`` its nick, settling a collision with whoever holds it."""
    folded = casefold(user.nick)
    holder = state.nicks.get(folded)
    if holder is None or holder is user:
        state.nicks[folded] = user
        return
    mine = (holder.nick_ts, sid_of.get(holder.server, 0))
    theirs = (user.nick_ts, sid_of.get(user.server, 0))
    loser, winner = (holder, user) if theirs < mine else (user, holder)
    log.info("nick collision on %s: %s keeps it, %s is renamed", user.nick, winner.uid, loser.uid)
    state.nicks[folded] = winner
    if loser is holder:
        change.rename(state, loser, guest_nick(loser.uid))
    else:
        loser.nick = guest_nick(loser.uid)
        state.nicks[casefold(loser.nick)] = loser


def _nick(state: ChatState, event: ev.NickChange, sid_of: SidOf) -> None:
    user = state.users.get(event.uid)
    if user is None:
        return
    holder = state.nicks.get(casefold(event.nick))
    if holder is None or holder is user:
        change.nick(state, user, event.nick, event.ts)
        return
    # Both took the nick at once: settle it as a collision.
    old = casefold(user.nick)
    if state.nicks.get(old) is user:
        del state.nicks[old]
        state.monitors.offline(user.nick, state.send, state.name)
    state.deliver(Message("NICK", [event.nick], user.prefix), state.common_peers(user))
    user.nick = event.nick
    user.nick_ts = event.ts
    _claim_nick(state, user, sid_of)
    change.arrived(state, user)


def _quit(state: ChatState, event: ev.UserQuit, sid_of: SidOf) -> None:
    user = state.users.get(event.uid)
    if user is not None and user.remote:
        change.quit_(state, user, event.reason)


def _kill(state: ChatState, event: ev.UserKill, sid_of: SidOf) -> None:
    user = state.users.get(event.target)
    if user is not None:
        change.kill(state, user, event.reason, by_uid=event.uid)


def _away(state: ChatState, event: ev.UserAway, sid_of: SidOf) -> None:
    user = state.users.get(event.uid)
    if user is not None:
        change.away(state, user, event.text)


def _setname(state: ChatState, event: ev.UserSetname, sid_of: SidOf) -> None:
    user = state.users.get(event.uid)
    if user is not None:
        change.setname(state, user, event.realname)


def _oper(state: ChatState, event: ev.UserOper, sid_of: SidOf) -> None:
    user = state.users.get(event.uid)
    if user is not None:
        change.user_modes(state, user, oper=event.oper, invisible=event.invisible, bot=event.bot)


def _invite(state: ChatState, event: ev.UserInvite, sid_of: SidOf) -> None:
    inviter = state.users.get(event.uid)
    target = state.users.get(event.target)
    channel = state.channels.get(casefold(event.channel))
    if inviter is not None and target is not None and channel is not None:
        change.invite(state, inviter, target, channel)


def _wallops(state: ChatState, event: ev.Wallops, sid_of: SidOf) -> None:
    change.wallops(state, event.source, event.text)


def _metadata(state: ChatState, event: ev.MetadataSet, sid_of: SidOf) -> None:
    changer = state.users.get(event.uid)
    target: Client | Channel | None
    if is_channel_name(event.target):
        target = state.channels.get(casefold(event.target))
    else:
        target = state.users.get(event.target)
    if changer is not None and target is not None:
        change.set_metadata(state, changer, target, event.key, event.value)


def _markread(state: ChatState, event: ev.ReadMarker, sid_of: SidOf) -> None:
    change.mark_read(state, event.nick, event.target, event.ts)


def _redact(state: ChatState, event: ev.MessageRedact, sid_of: SidOf) -> None:
    redactor = state.users.get(event.uid)
    if redactor is None:
        return
    where: Channel | Client | None
    if is_channel_name(event.target):
        where = state.channels.get(casefold(event.target))
        key = casefold(event.target)
    else:
        where = state.users.get(event.target)
        key = dm_target(casefold(redactor.nick), casefold(where.nick)) if where else ""
    tags = _tags(event.msgid, event.time)
    if where is None:
        # Nobody here is in that conversation, but its history may be here.
        if key:
            state.replication.forget(key, event.redacted, store=not state.replication.shared_store)
        return
    change.redact(
        state, redactor, where, key, event.redacted, event.reason, tags=tags, origin=event.o
    )


# Channels.


def _source(state: ChatState, uid: str, origin: str) -> str:
    """Who the clients see doing it: the user, or its server when not known here."""
    user = state.users.get(uid)
    return user.prefix if user is not None else origin


def _join(state: ChatState, event: ev.ChannelJoin, sid_of: SidOf) -> None:
    user = state.users.get(event.uid)
    if user is None or casefold(event.channel) in user.channels:
        return
    tags = _tags(event.msgid, event.time)
    change.join(state, user, event.channel, event.status, event.cts, tags)


def _part(state: ChatState, event: ev.ChannelPart, sid_of: SidOf) -> None:
    user = state.users.get(event.uid)
    channel = state.channels.get(casefold(event.channel))
    if user is None or channel is None or user not in channel.members:
        return
    change.part(state, user, channel, event.reason, _tags(event.msgid, event.time))


def _kick(state: ChatState, event: ev.ChannelKick, sid_of: SidOf) -> None:
    target = state.users.get(event.target)
    channel = state.channels.get(casefold(event.channel))
    if target is None or channel is None or target not in channel.members:
        return
    change.kick(
        state,
        channel,
        target,
        event.reason,
        source=_source(state, event.uid, event.o),
        by_uid=event.uid,
        tags=_tags(event.msgid, event.time),
    )


def _mode(state: ChatState, event: ev.ChannelMode, sid_of: SidOf) -> None:
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
        source=_source(state, event.uid, event.o),
        by_uid=event.uid,
        tags=_tags(event.msgid, event.time),
    )


def _topic(state: ChatState, event: ev.ChannelTopic, sid_of: SidOf) -> None:
    channel = state.channels.get(casefold(event.channel))
    if channel is None:
        return
    change.topic(
        state,
        channel,
        event.topic,
        source=_source(state, event.uid, event.o),
        by_uid=event.uid,
        set_by=event.by,
        at=event.at,
        tags=_tags(event.msgid, event.time),
    )


def _merge(entries: list[Ban], theirs: list[tuple[str, str, int]]) -> None:
    """Add the list entries we do not have yet (a tie in a burst keeps both sides' lists)."""
    known = {casefold(entry.mask) for entry in entries}
    entries += [Ban(m, by, at) for m, by, at in theirs if casefold(m) not in known]


def _rename(state: ChatState, event: ev.ChannelRename, sid_of: SidOf) -> None:
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
        source=_source(state, event.uid, event.o),
        by_uid=event.uid,
        tags=_tags(event.msgid, event.time),
    )


def _state(state: ChatState, event: ev.ChannelState, sid_of: SidOf) -> None:
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
        channel.bans = [Ban(m, b, a) for m, b, a in event.bans]
        channel.excepts = [Ban(m, b, a) for m, b, a in event.excepts]
        channel.invex = [Ban(m, b, a) for m, b, a in event.invex]
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
    for uid, status in event.members:
        user = state.users.get(uid)
        if user is None or user in channel.members:
            continue
        granted = "" if ours_win else status
        channel.add(user, granted)
        user.channels[folded] = channel
        change.show_join(state, user, channel, state.stamp())
        change.show_status(state, user, channel, granted, event.o)
    if not channel.members:
        state.channels.pop(folded, None)


# Messages.


def _message(state: ChatState, event: ev.ChatMessage, sid_of: SidOf) -> None:
    sender = state.users.get(event.uid)
    if sender is None and not event.source:
        return
    # The sender may not be known here yet (its server's burst is still on
    # the way after a re-homing): its source travels with the message.
    prefix = sender.prefix if sender is not None else event.source
    params = [event.target] if event.command == "TAGMSG" else [event.target, event.text]
    out = Message(event.command, params, prefix, dict(event.tags))
    status, name = event.target[:1], event.target[1:]
    if status in STATUSMSG and is_channel_name(name):
        channel = state.channels.get(casefold(name))
        if channel is not None:
            change.status_message(state, sender, channel, status, out)
        return
    if is_channel_name(event.target):
        channel = state.channels.get(casefold(event.target))
        if channel is not None:
            change.channel_message(state, sender, channel, out, event.text, origin=event.o)
        elif event.command != "TAGMSG":
            # Stored even where nobody has joined: every server keeps every
            # channel's history (and a shared store was written by the origin).
            replication = state.replication
            replication.record(
                casefold(event.target),
                out,
                event.target,
                event.text,
                event.o,
                store=not replication.shared_store,
            )
        return
    recipient = state.users.get(event.target)
    if recipient is not None and not recipient.remote:
        change.private_message(state, sender, recipient, out)


def replay(
    state: ChatState,
    *,
    origin: str,
    msgid: str,
    ts: float,
    source: str,
    command: str,
    target: str,
    text: str,
    tags: dict[str, str],
) -> bool:
    """A channel message from a catch-up: store it and deliver it if it is new here.

    Its sender may have left with its server, so it comes with its source
    (``nick!user@host``), not a uid. Returns False when it was already known.
    """
    key = casefold(target)
    channel = state.channels.get(key)
    display = channel.name if channel is not None else target
    stamped = {**tags, "time": format_time(ts), "msgid": msgid}
    out = Message(command, [display, text], source, stamped)
    if not state.replication.record(key, out, display, text, origin=origin):
        return False
    if channel is not None:
        change.deliver_message(state, out, channel.members)
    return True


_HANDLERS: dict[type, Callable[[ChatState, Any, SidOf], None]] = {
    ev.UserIntro: _intro,
    ev.UserQuit: _quit,
    ev.UserKill: _kill,
    ev.NickChange: _nick,
    ev.UserAway: _away,
    ev.UserSetname: _setname,
    ev.UserOper: _oper,
    ev.ChannelJoin: _join,
    ev.ChannelPart: _part,
    ev.ChannelKick: _kick,
    ev.ChannelMode: _mode,
    ev.ChannelTopic: _topic,
    ev.ChannelState: _state,
    ev.ChannelRename: _rename,
    ev.ChatMessage: _message,
    ev.UserInvite: _invite,
    ev.Wallops: _wallops,
    ev.MessageRedact: _redact,
    ev.ReadMarker: _markread,
    ev.MetadataSet: _metadata,
}
