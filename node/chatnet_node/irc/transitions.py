"""Every change to what the network sees, one function each.

A transition changes the state, shows the change to the local clients who
see it, and emits the link event that tells the other servers (``emit``
fills in the origin and the event id). A local command calls it after its
own checks; a change that came over a link calls the same function (see
``remote``), with ``emit`` silent, since the link layer forwards the
original event. So a change looks the same on every server by
construction, and no command can forget to tell the network.

Actors are given by ``source`` (the ``nick!user@host`` or server name the
clients see) and ``by_uid`` (the uid the event carries), because a change
from a link may name a user this server does not know yet. ``tags`` carry
the origin's ``time`` and ``msgid``: every server shows the same ones.
"""

from __future__ import annotations

from typing import Literal, cast

from ..history import dm_target
from .events import (
    ChannelJoin,
    ChannelKick,
    ChannelMode,
    ChannelPart,
    ChannelTopic,
    ChatMessage,
    NickChange,
    UserAway,
    UserIntro,
    UserInvite,
    UserKill,
    UserOper,
    UserQuit,
    UserSetname,
)
from .message import Message
from .model import Ban, Channel, Client
from .names import casefold, normalize_ban_mask
from .state import ChatState, WhowasEntry

#: Most bans a channel keeps (ISUPPORT ``MAXLIST=b:100``).
MAX_BANS = 100
ModeChange = tuple[str, str, str | None]  # (sign, letter, argument)
MessageCommand = Literal["PRIVMSG", "NOTICE", "TAGMSG"]


def introduction(user: Client) -> UserIntro:
    """A user as the network learns of it (on registration, and in bursts)."""
    return UserIntro(
        uid=user.uid,
        nick=user.nick,
        user=user.user,
        host=user.host,
        realname=user.realname,
        ts=user.nick_ts,
        signon=user.connected_at,
        away=user.away,
        oper=user.oper,
        invisible=user.invisible,
        secure=user.secure,
    )


# Users.


def register(state: ChatState, user: Client) -> None:
    """A user completed registration here: it gets a uid and its nick."""
    user.registered = True
    user.uid = state.ids.uid()
    user.server = state.name
    user.nick_ts = state.clock()
    state.users[user.uid] = user
    state.nicks[casefold(user.nick)] = user
    state.emit(introduction(user))


def rename(state: ChatState, user: Client, new: str) -> None:
    """Change a user's nick here and show NICK to the local clients who see it."""
    audience = state.common_peers(user)
    if not user.remote:
        audience[user] = None
    state.deliver(Message("NICK", [new], user.prefix), audience)
    old = casefold(user.nick)
    if state.nicks.get(old) is user:
        del state.nicks[old]
    user.nick = new
    state.nicks[casefold(new)] = user


def nick(state: ChatState, user: Client, new: str, ts: float) -> None:
    """A user takes a free nick (``ts``: when, the tie-break of later collisions)."""
    rename(state, user, new)
    user.nick_ts = ts
    state.emit(NickChange(uid=user.uid, nick=new, ts=ts))


def quit_(state: ChatState, user: Client, reason: str) -> None:
    """A user leaves the network (quit, dropped): its channels see QUIT."""
    if user.closed:
        return
    if user.registered:
        state.emit(UserQuit(uid=user.uid, reason=reason))
    _leave(state, user, reason)


def kill(state: ChatState, target: Client, reason: str, *, by_uid: str) -> None:
    """An IRC operator removes a user from the network."""
    if target.closed:
        return
    state.emit(UserKill(uid=by_uid, target=target.uid, reason=reason))
    _leave(state, target, reason)
    if not target.remote:
        state.hang_up(target, Message("ERROR", [f"Closing Link: {target.host} ({reason})"]))


def netsplit(state: ChatState, servers: set[str], reason: str) -> None:
    """Servers became unreachable: their users quit here.

    Every server sees the split for itself, so nothing is emitted.
    """
    for user in list(state.users.values()):
        if user.remote and user.server in servers:
            _leave(state, user, reason)


def _leave(state: ChatState, user: Client, reason: str) -> None:
    if user.registered:
        state.deliver(Message("QUIT", [reason], user.prefix), state.common_peers(user))
        state.whowas.appendleft(
            WhowasEntry(
                user.nick,
                user.user,
                user.host,
                user.realname,
                user.server or state.name,
                state.clock(),
            )
        )
    user.closed = True
    if state.acks:
        state.acks.forget(user)
    for channel in list(user.channels.values()):
        state.leave_channel(user, channel)
    folded = casefold(user.nick)
    if state.nicks.get(folded) is user:
        del state.nicks[folded]
    state.users.pop(user.uid, None)
    if not user.remote:
        state.forget_connection(user)


def away(state: ChatState, user: Client, text: str | None) -> None:
    """A user is away (``text``) or back (None); away-notify tells of changes only."""
    if user.away == text:
        return
    user.away = text
    state.emit(UserAway(uid=user.uid, text=text))
    note = Message("AWAY", [text] if text else [], user.prefix)
    state.deliver(note, [c for c in state.common_peers(user) if c.has("away-notify")])


def setname(state: ChatState, user: Client, realname: str) -> None:
    """A user changes its real name (shown to clients with the setname capability)."""
    user.realname = realname
    state.emit(UserSetname(uid=user.uid, realname=realname))
    change = Message("SETNAME", [realname], user.prefix)
    audience = [c for c in state.common_peers(user) if c.has("setname")]
    if user.has("setname"):
        audience.append(user)
    state.deliver(change, audience)


def user_modes(state: ChatState, user: Client, *, oper: str | None, invisible: bool) -> None:
    """Operator status or ``+i`` changed (the user's own MODE line is its command's reply)."""
    user.oper = oper
    user.invisible = invisible
    state.emit(UserOper(uid=user.uid, oper=oper, invisible=invisible))


def invite(state: ChatState, inviter: Client, target: Client, channel: Channel) -> None:
    """``inviter`` invites ``target`` into ``channel``; the invitee's server tells it."""
    channel.invited.add(casefold(target.nick))
    state.emit(UserInvite(uid=inviter.uid, target=target.uid, channel=channel.name))
    if not target.remote:
        line = Message("INVITE", [target.nick, channel.name], inviter.prefix, state.stamp())
        state.send(target, line)


# Channels.


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
    extended = Message("JOIN", [channel.name, "*", user.realname], user.prefix, tags)
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
        elif char == "b":
            mask = normalize_ban_mask(arg or "")
            existing = [b for b in channel.bans if casefold(b.mask) == casefold(mask)]
            if adding and not existing and len(channel.bans) < MAX_BANS:
                channel.bans.append(Ban(mask, source, int(state.clock())))
            elif not adding and existing:
                channel.bans.remove(existing[0])
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


# Messages.


def channel_message(
    state: ChatState,
    sender: Client | None,
    channel: Channel,
    out: Message,
    text: str,
    origin: str | None = None,
) -> bool:
    """A PRIVMSG, NOTICE or TAGMSG to ``channel``, from a member or an outsider.

    PRIVMSG and NOTICE are stored (history and the recent window) and shown
    to the other members once: False when the message was known already (a
    catch-up brought it first). TAGMSG goes to members with message-tags
    only, and is not stored. ``origin`` is the sender's server (None: this
    one); ``sender`` is None when that server's burst has not arrived yet
    (``out`` carries the source).
    """
    out.params[0] = channel.name
    if out.command == "TAGMSG":
        if sender is not None:
            _emit_message(state, sender, channel.name, out, "")
        receivers = [m for m in channel.members if m.has("message-tags") and m is not sender]
        state.deliver(out, receivers)
        return True
    replication = state.replication
    store = origin is None or not replication.shared_store  # the origin wrote a shared store
    if not replication.record(casefold(channel.name), out, channel.name, text, origin, store):
        return False
    if sender is not None:
        state.output.deliver_to_channel(out, channel, sender)
        _emit_message(state, sender, channel.name, out, text)
    else:
        state.deliver(out, channel.members)
    return True


def private_message(
    state: ChatState, sender: Client | None, recipient: Client, out: Message
) -> None:
    """A PRIVMSG, NOTICE or TAGMSG to one user: stored (not TAGMSG) and delivered.

    A user of another server gets it from its own server: the event goes
    there. ``sender`` is None when a link brought the message before the
    sender's introduction (``out`` carries the source).
    """
    out.params[0] = recipient.nick
    text = out.params[1] if len(out.params) > 1 else ""
    if out.command != "TAGMSG":
        sender_nick = (out.source or "").split("!", 1)[0]
        key = dm_target(casefold(sender_nick), casefold(recipient.nick))
        state.replication.record(key, out, recipient.nick, text)
    if recipient.remote:
        if sender is not None:
            _emit_message(state, sender, recipient.uid, out, text)
    elif out.command != "TAGMSG" or recipient.has("message-tags"):
        state.send(recipient, out)


def _emit_message(state: ChatState, sender: Client, target: str, out: Message, text: str) -> None:
    assert out.command in ("PRIVMSG", "NOTICE", "TAGMSG")
    state.emit(
        ChatMessage(
            uid=sender.uid,
            target=target,
            command=cast(MessageCommand, out.command),
            text=text,
            tags=out.tags,
            source=sender.prefix,
        )
    )
