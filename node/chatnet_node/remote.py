"""Changes made on other servers, applied here and shown to local clients.

The link manager hands each routed event to ``apply``; these functions update
the core's state (remote users are ``Client`` objects with ``remote=True``
and no connection) and deliver the IRC lines local members must see. They
never announce anything back: the manager forwards the original event.

Conflicts are settled the same way on every server, so all converge:

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
from typing import TYPE_CHECKING

from .channel import Ban, Channel
from .client import NULL_SINK, Client
from .links import protocol as lp
from .message import Message
from .names import casefold

if TYPE_CHECKING:
    from .core import ChatCore

log = logging.getLogger("chatnet.remote")


def guest_nick(uid: str) -> str:
    """The nick a collision loser gets: valid, unique, the same on every server."""
    return f"Guest{uid}"


def apply(core: ChatCore, event: lp.Event, sid_of: dict[str, int]) -> None:
    """Apply one event from another server. ``sid_of`` maps server names to IDs."""
    handler = _HANDLERS.get(type(event))
    if handler is None:  # pragma: no cover - every event type has a handler
        log.warning("no handler for %s", type(event).__name__)
        return
    handler(core, event, sid_of)


def _user(core: ChatCore, uid: str) -> Client | None:
    return core.users.get(uid)


def intro(core: ChatCore, event: lp.Event, sid_of: dict[str, int]) -> None:
    assert isinstance(event, lp.UserIntro)
    if event.uid in core.users:
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
    user.secure = event.secure
    core.users[user.uid] = user
    _claim_nick(core, user, sid_of)


def _claim_nick(core: ChatCore, user: Client, sid_of: dict[str, int]) -> None:
    """Give ``user`` its nick, settling a collision with whoever holds it."""
    folded = casefold(user.nick)
    holder = core.nicks.get(folded)
    if holder is None or holder is user:
        core.nicks[folded] = user
        return
    mine = (holder.nick_ts, sid_of.get(holder.server, 0))
    theirs = (user.nick_ts, sid_of.get(user.server, 0))
    loser, winner = (holder, user) if theirs < mine else (user, holder)
    log.info("nick collision on %s: %s keeps it, %s is renamed", user.nick, winner.uid, loser.uid)
    core.nicks[folded] = winner
    if loser is holder:
        _rename(core, loser, guest_nick(loser.uid))
    else:
        loser.nick = guest_nick(loser.uid)
        core.nicks[casefold(loser.nick)] = loser


def _rename(core: ChatCore, user: Client, new: str) -> None:
    """Change a user's nick here and tell the local clients who see it."""
    change = Message("NICK", [new], user.prefix)
    audience: dict[Client, None] = dict(core.common_peers(user))
    if not user.remote:
        audience[user] = None
    core.deliver(change, audience)
    old = casefold(user.nick)
    if core.nicks.get(old) is user:
        del core.nicks[old]
    user.nick = new
    core.nicks[casefold(new)] = user


def quit_(core: ChatCore, event: lp.Event, sid_of: dict[str, int]) -> None:
    assert isinstance(event, lp.UserQuit)
    user = _user(core, event.uid)
    if user is not None and user.remote:
        core.remove_remote(user, event.reason)


def kill(core: ChatCore, event: lp.Event, sid_of: dict[str, int]) -> None:
    assert isinstance(event, lp.UserKill)
    user = _user(core, event.target)
    if user is None:
        return
    if user.remote:
        core.remove_remote(user, event.reason)
    else:
        core.quit(user, event.reason, announce=False)


def nick(core: ChatCore, event: lp.Event, sid_of: dict[str, int]) -> None:
    assert isinstance(event, lp.NickChange)
    user = _user(core, event.uid)
    if user is None:
        return
    holder = core.nicks.get(casefold(event.nick))
    if holder is not None and holder is not user:
        # Both took the nick at once: settle it as a collision.
        old = casefold(user.nick)
        if core.nicks.get(old) is user:
            del core.nicks[old]
        _deliver_nick(core, user, event.nick)
        user.nick_ts = event.ts
        _claim_nick(core, user, sid_of)
        return
    _rename(core, user, event.nick)
    user.nick_ts = event.ts


def _deliver_nick(core: ChatCore, user: Client, new: str) -> None:
    core.deliver(Message("NICK", [new], user.prefix), core.common_peers(user))
    user.nick = new


def away(core: ChatCore, event: lp.Event, sid_of: dict[str, int]) -> None:
    assert isinstance(event, lp.UserAway)
    user = _user(core, event.uid)
    if user is None or user.away == event.text:
        return
    user.away = event.text
    note = Message("AWAY", [event.text] if event.text else [], user.prefix)
    core.deliver(note, [c for c in core.common_peers(user) if c.has("away-notify")])


def setname(core: ChatCore, event: lp.Event, sid_of: dict[str, int]) -> None:
    assert isinstance(event, lp.UserSetname)
    user = _user(core, event.uid)
    if user is None:
        return
    user.realname = event.realname
    change = Message("SETNAME", [event.realname], user.prefix)
    core.deliver(change, [c for c in core.common_peers(user) if c.has("setname")])


def oper(core: ChatCore, event: lp.Event, sid_of: dict[str, int]) -> None:
    assert isinstance(event, lp.UserOper)
    user = _user(core, event.uid)
    if user is not None:
        user.oper = event.oper
        user.invisible = event.invisible


def _channel(core: ChatCore, name: str, ts: int) -> Channel:
    folded = casefold(name)
    channel = core.channels.get(folded)
    if channel is None:
        channel = Channel(name=name, created=ts)
        core.channels[folded] = channel
    return channel


def _show_join(core: ChatCore, user: Client, channel: Channel, tags: dict[str, str]) -> None:
    plain = Message("JOIN", [channel.name], user.prefix, tags)
    extended = Message("JOIN", [channel.name, "*", user.realname], user.prefix, tags)
    members = list(channel.members)
    core.deliver(extended, [m for m in members if m.has("extended-join")])
    core.deliver(plain, [m for m in members if not m.has("extended-join")])
    if user.away is not None:
        away_note = Message("AWAY", [user.away], user.prefix)
        core.deliver(away_note, [m for m in members if m.has("away-notify")])


def _show_status(
    core: ChatCore, user: Client, channel: Channel, status: str, by: str, sign: str = "+"
) -> None:
    """``MODE #chan +ov nick nick`` (or ``-``) to the local members."""
    if status:
        letters = sign + status
        change = Message("MODE", [channel.name, letters, *([user.nick] * len(status))], by)
        core.deliver(change, list(channel.members))


def join(core: ChatCore, event: lp.Event, sid_of: dict[str, int]) -> None:
    assert isinstance(event, lp.ChannelJoin)
    user = _user(core, event.uid)
    if user is None or casefold(event.channel) in user.channels:
        return
    channel = _channel(core, event.channel, event.cts)
    status = event.status if event.cts <= channel.created else ""
    channel.add(user, status)
    user.channels[casefold(channel.name)] = channel
    tags = {"time": event.time, "msgid": event.msgid} if event.msgid else core.stamp()
    _show_join(core, user, channel, tags)
    if status and len(channel.members) > 1:
        _show_status(core, user, channel, status, event.o)


def part(core: ChatCore, event: lp.Event, sid_of: dict[str, int]) -> None:
    assert isinstance(event, lp.ChannelPart)
    user = _user(core, event.uid)
    channel = core.channels.get(casefold(event.channel))
    if user is None or channel is None or user not in channel.members:
        return
    params = [channel.name, event.reason] if event.reason else [channel.name]
    core.deliver(Message("PART", params, user.prefix, core.stamp()), list(channel.members))
    core.leave_channel(user, channel)


def kick(core: ChatCore, event: lp.Event, sid_of: dict[str, int]) -> None:
    assert isinstance(event, lp.ChannelKick)
    kicker = _user(core, event.uid)
    target = _user(core, event.target)
    channel = core.channels.get(casefold(event.channel))
    if target is None or channel is None or target not in channel.members:
        return
    source = kicker.prefix if kicker is not None else event.o
    kick_msg = Message("KICK", [channel.name, target.nick, event.reason], source, core.stamp())
    core.deliver(kick_msg, list(channel.members))
    core.leave_channel(target, channel)


def mode(core: ChatCore, event: lp.Event, sid_of: dict[str, int]) -> None:
    assert isinstance(event, lp.ChannelMode)
    from .commands.channels import apply_channel_modes, show_mode_change

    setter = _user(core, event.uid)
    channel = core.channels.get(casefold(event.channel))
    if channel is None:
        return
    changes: list[tuple[str, str, str | None]] = []
    for sign, char, arg in event.changes:
        if char in "ov" and arg is not None:
            member = core.users.get(arg)
            if member is None:
                continue
            arg = member.nick  # noqa: PLW2901 - the local name of the uid
        changes.append((sign, char, arg))
    source = setter.prefix if setter is not None else event.o
    applied = apply_channel_modes(core, None, channel, changes)
    if applied:
        show_mode_change(core, channel, applied, source)


def topic(core: ChatCore, event: lp.Event, sid_of: dict[str, int]) -> None:
    assert isinstance(event, lp.ChannelTopic)
    channel = core.channels.get(casefold(event.channel))
    setter = _user(core, event.uid)
    if channel is None:
        return
    channel.topic, channel.topic_by, channel.topic_at = event.topic, event.by, event.at
    source = setter.prefix if setter is not None else event.o
    change = Message("TOPIC", [channel.name, event.topic], source, core.stamp())
    core.deliver(change, list(channel.members))


def state(core: ChatCore, event: lp.Event, sid_of: dict[str, int]) -> None:
    """A whole channel from a burst, merged by the channel timestamp rule."""
    assert isinstance(event, lp.ChannelState)
    folded = casefold(event.name)
    channel = core.channels.get(folded)
    fresh = channel is None
    channel = _channel(core, event.name, event.ts)
    theirs_win = fresh or event.ts < channel.created
    ours_win = not fresh and event.ts > channel.created
    if theirs_win and not fresh:
        # Our side is younger: drop our statuses and modes, take theirs.
        for member, status in list(channel.members.items()):
            if status:
                channel.members[member] = ""
                _show_status(core, member, channel, status, core.name, sign="-")
        channel.created = event.ts
        channel.flags = set(event.flags)
        channel.key, channel.limit = event.key, event.limit
        channel.bans = [Ban(m, b, a) for m, b, a in event.bans]
    elif not ours_win:
        channel.flags |= set(event.flags)
        channel.key = channel.key if channel.key is not None else event.key
        channel.limit = channel.limit if channel.limit is not None else event.limit
        known = {casefold(b.mask) for b in channel.bans}
        channel.bans += [Ban(m, b, a) for m, b, a in event.bans if casefold(m) not in known]
    newer = (event.topic_at, event.topic) > (channel.topic_at, channel.topic)
    if event.topic and (fresh or newer) and event.topic != channel.topic:
        channel.topic, channel.topic_by, channel.topic_at = (
            event.topic,
            event.topic_by,
            event.topic_at,
        )
        if not fresh:
            change = Message("TOPIC", [channel.name, event.topic], event.o, core.stamp())
            core.deliver(change, list(channel.members))
    for uid, status in event.members:
        user = core.users.get(uid)
        if user is None or user in channel.members:
            continue
        granted = "" if ours_win else status
        channel.add(user, granted)
        user.channels[folded] = channel
        _show_join(core, user, channel, core.stamp())
        _show_status(core, user, channel, granted, event.o)
    if not channel.members:
        core.channels.pop(folded, None)


def message(core: ChatCore, event: lp.Event, sid_of: dict[str, int]) -> None:
    assert isinstance(event, lp.ChatMessage)
    from .history.contract import dm_target
    from .names import is_channel_name

    sender = _user(core, event.uid)
    if sender is None and not event.source:
        return
    # The sender may not be known here yet (its server's burst is still on
    # the way after a re-homing): its source travels with the message.
    prefix = sender.prefix if sender is not None else event.source
    params = [event.target] if event.command == "TAGMSG" else [event.target, event.text]
    out = Message(event.command, params, prefix, dict(event.tags))
    if is_channel_name(event.target):
        channel = core.channels.get(casefold(event.target))
        if event.command == "TAGMSG":
            if channel is not None:
                core.deliver(out, [m for m in channel.members if m.has("message-tags")])
            return
        # Stored even where nobody has joined (every server keeps every
        # channel's history); delivered only once, even when a catch-up
        # brought it here first.
        display = channel.name if channel is not None else event.target
        fresh = core.record(
            casefold(display), out, display, event.text, origin=event.o, store=not core.shared_store
        )
        if fresh and channel is not None:
            if sender is not None:
                core.deliver_to_channel(out, channel, sender)
            else:
                core.deliver(out, channel.members)
        return
    recipient = _user(core, event.target)
    if recipient is None or recipient.remote:
        return
    out.params[0] = recipient.nick
    if event.command == "TAGMSG":
        if recipient.has("message-tags"):
            core.send(recipient, out)
        return
    sender_nick = prefix.split("!", 1)[0]
    key = dm_target(casefold(sender_nick), casefold(recipient.nick))
    core.record(key, out, recipient.nick, event.text)
    core.send(recipient, out)


def invite(core: ChatCore, event: lp.Event, sid_of: dict[str, int]) -> None:
    assert isinstance(event, lp.UserInvite)
    inviter = _user(core, event.uid)
    target = _user(core, event.target)
    channel = core.channels.get(casefold(event.channel))
    if inviter is None or target is None or channel is None:
        return
    channel.invited.add(casefold(target.nick))
    if not target.remote:
        invite_msg = Message("INVITE", [target.nick, channel.name], inviter.prefix, core.stamp())
        core.send(target, invite_msg)


_HANDLERS = {
    lp.UserIntro: intro,
    lp.UserQuit: quit_,
    lp.UserKill: kill,
    lp.NickChange: nick,
    lp.UserAway: away,
    lp.UserSetname: setname,
    lp.UserOper: oper,
    lp.ChannelJoin: join,
    lp.ChannelPart: part,
    lp.ChannelKick: kick,
    lp.ChannelMode: mode,
    lp.ChannelTopic: topic,
    lp.ChannelState: state,
    lp.ChatMessage: message,
    lp.UserInvite: invite,
}


def replay(core: ChatCore, item: lp.ReplayItem) -> bool:
    """A channel message from a catch-up: store it and deliver it if it is new here.

    Its sender may have left with its server, so it comes with its source
    (``nick!user@host``), not a uid. Returns False when it was already known.
    """
    from .core import format_time

    key = casefold(item.target)
    channel = core.channels.get(key)
    display = channel.name if channel is not None else item.target
    tags = {**item.tags, "time": format_time(item.ts), "msgid": item.msgid}
    out = Message(item.command, [display, item.text], item.source, tags)
    if not core.record(key, out, display, item.text, origin=item.o):
        return False
    if channel is not None:
        core.deliver(out, channel.members)
    return True
