"""Transitions of users: arrival, nick, modes, away, real name, invitation, departure.

See the package docstring for what a transition is.
"""

from __future__ import annotations

from collections.abc import Container, Iterable

from ..events import (
    NickChange,
    ReadMarker,
    UserAway,
    UserHost,
    UserIntro,
    UserInvite,
    UserKill,
    UserOper,
    UserQuit,
    UserSetname,
    Wallops,
)
from ..message import Message
from ..model import Channel, Client
from ..names import casefold
from ..state import ChatState, WhowasEntry


def introduction(user: Client) -> UserIntro:
    """A user as the network learns of it (on registration, and in bursts)."""
    return UserIntro(
        uid=user.uid,
        nick=user.nick,
        user=user.user,
        host=user.host,
        ip=user.address,
        realname=user.realname,
        ts=user.nick_ts,
        signon=user.connected_at,
        away=user.away,
        oper=user.oper,
        invisible=user.invisible,
        secure=user.secure,
        bot=user.bot,
        account=user.account,
        metadata=dict(user.metadata or {}),
    )


def register(state: ChatState, user: Client) -> None:
    """A user completed registration here: it gets a uid and its nick."""
    user.registered = True
    state.throttle.registered(user.block)
    user.uid = state.ids.uid()
    user.server = state.name
    user.nick_ts = state.clock()
    state.users[user.uid] = user
    state.nicks[casefold(user.nick)] = user
    state.local_users += 1
    state.stats.registrations += 1
    state.count_users()
    state.emit(introduction(user))
    arrived(state, user)


def arrived(state: ChatState, user: Client) -> None:
    """A user is on the network under its nick (registered here, or from a link)."""
    state.monitors.online(user, state.send, state.name)


def rename(state: ChatState, user: Client, new: str) -> None:
    """Change a user's nick here and show NICK to the local clients who see it."""
    audience = state.common_peers(user)
    if not user.remote:
        audience[user] = None
    state.deliver(Message("NICK", [new], user.prefix, state.now_tag()), audience)
    old_nick, old = user.nick, casefold(user.nick)
    if state.nicks.get(old) is user:
        del state.nicks[old]
    user.nick = new
    state.nicks[casefold(new)] = user
    if old != casefold(new):  # a change of case is the same nick to MONITOR
        state.monitors.offline(old_nick, state.send, state.name)
        state.monitors.online(user, state.send, state.name)


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


def quit_many(
    state: ChatState, users: list[Client], reason: str, also_leaving: Container[Client] = ()
) -> None:
    """Many local users leave at once (slow readers dropped together).

    Each one's QUIT goes to its channels' members that are not leaving in
    the same breath (``users``, ``also_leaving``: those to leave next): 500
    slow readers of one channel dropped in one turn cost 500 QUITs to the
    others, not 250,000 among themselves.
    """
    leaving = {user: None for user in users if not user.closed}
    # Each channel's members that stay, found once per channel (by folded
    # name), not once per leaving member: 500 leaving one channel of 500
    # cost 500 steps here, not 250,000.
    staying: dict[str, list[Client]] = {}
    for user in leaving:
        if user.registered:
            state.emit(UserQuit(uid=user.uid, reason=reason))
        audience: dict[Client, None] = {}
        for folded, channel in user.channels.items():
            others = staying.get(folded)
            if others is None:
                others = staying[folded] = [
                    m for m in channel.members if m not in leaving and m not in also_leaving
                ]
            audience.update(dict.fromkeys(others))
        _leave(state, user, reason, audience)


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

    Every server sees the split for itself, so nothing is emitted. ``reason``
    names the two servers whose link went (``a b``, each user's QUIT reason
    as IRC clients expect it); a client that asked for ``batch`` gets the
    QUITs in one IRCv3 ``netsplit`` batch, so it can show a split of
    thousands as one line.
    """
    leaving = [u for u in state.users.values() if u.remote and u.server in servers]
    split_off(state, leaving, reason)


def split_off(
    state: ChatState, leaving: list[Client], reason: str, ends: list[str] | None = None
) -> None:
    """Remote users gone without a word from their server (a split, or a restart):
    each one's QUIT with ``reason``, in one ``netsplit`` batch between ``ends`` (the
    two servers whose link went; default: the two words of ``reason``)."""
    if not leaving:
        return
    channels = {id(c): c for user in leaving for c in user.channels.values()}
    audience = {m for channel in channels.values() for m in channel.members if not m.remote}
    ends = reason.split(" ", 1) if ends is None else ends
    with state.output.batch("netsplit", ends, audience, ["QUIT"]):
        for user in leaving:
            _leave(state, user, reason)


def _leave(
    state: ChatState, user: Client, reason: str, audience: Iterable[Client] | None = None
) -> None:
    """``user`` leaves the network; its QUIT goes to ``audience`` (default: its peers)."""
    if user.registered:
        peers = state.common_peers(user) if audience is None else audience
        state.deliver(Message("QUIT", [reason], user.prefix, state.now_tag()), peers)
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
        state.monitors.offline(user.nick, state.send, state.name)
    if state.users.pop(user.uid, None) is user and user.remote:
        state.remote_user_left(user)
    if not user.remote:
        state.monitors.forget(user)
        if user.registered:
            state.local_users -= 1
        state.forget_connection(user)


def away(state: ChatState, user: Client, text: str | None) -> None:
    """A user is away (``text``) or back (None); away-notify tells of changes only."""
    if user.away == text:
        return
    user.away = text
    state.emit(UserAway(uid=user.uid, text=text))
    note = Message("AWAY", [text] if text else [], user.prefix)
    audience = {c: None for c in state.common_peers(user) if c.has("away-notify")}
    audience.update(dict.fromkeys(state.monitors.extended(user, "away-notify")))
    state.deliver(note, audience)


def setname(state: ChatState, user: Client, realname: str) -> None:
    """A user changes its real name (shown to clients with the setname capability)."""
    user.realname = realname
    state.emit(UserSetname(uid=user.uid, realname=realname))
    change = Message("SETNAME", [realname], user.prefix)
    audience = {c: None for c in state.common_peers(user) if c.has("setname")}
    audience.update(dict.fromkeys(state.monitors.extended(user, "setname")))
    if user.has("setname"):
        audience[user] = None
    state.deliver(change, audience)


def user_modes(
    state: ChatState, user: Client, *, oper: str | None, invisible: bool, bot: bool
) -> None:
    """Operator status, ``+i`` or ``+B`` changed (the user's own MODE line is its reply)."""
    user.oper = oper
    user.invisible = invisible
    user.bot = bot
    state.emit(UserOper(uid=user.uid, oper=oper, invisible=invisible, bot=bot))


def invite(state: ChatState, inviter: Client, target: Client, channel: Channel) -> None:
    """``inviter`` invites ``target`` into ``channel``; the invitee's server tells it."""
    channel.invited.add(casefold(target.nick))
    state.emit(UserInvite(uid=inviter.uid, target=target.uid, channel=channel.name))
    if not target.remote:
        line = Message("INVITE", [target.nick, channel.name], inviter.prefix, state.stamp())
        state.send(target, line)


def wallops(state: ChatState, source: str, text: str) -> None:
    """An operator's WALLOPS: every user with ``+w``, on every server, gets it."""
    state.emit(Wallops(source=source, text=text))
    line = Message("WALLOPS", [text], source)
    state.deliver(line, [c for c in state.clients if c.wallops and c.registered])


#: The capability of clients that are told their read markers.
READ_MARKER_CAP = "draft/read-marker"


def marker_owner(user: Client) -> str:
    """Whose read markers a user moves: its account's (``$name``) once logged in, else its nick's.

    ``$`` never appears in a nick, so the two kinds of key never meet.
    """
    return f"${casefold(user.account)}" if user.account else casefold(user.nick)


def mark_read(state: ChatState, owner: str, target: str, ts: float) -> bool:
    """``owner`` (a ``marker_owner``) has read ``target`` up to ``ts``; False if already there.

    The marker only moves forward. Every connection of the owner here with
    the capability is told the new value (every server keeps every marker).
    """
    owner = owner if owner.startswith("$") else casefold(owner)
    if not state.read_markers.advance(owner, casefold(target), ts):
        return False
    state.emit(ReadMarker(nick=owner, target=target, ts=ts))
    if owner.startswith("$"):
        holders = [c for c in state.clients if c.registered and marker_owner(c) == owner]
    else:
        holder = state.nicks.get(owner)
        holders = [holder] if holder is not None and holder.account is None else []
    for user in holders:
        if not user.remote and user.has(READ_MARKER_CAP):
            show_marker(state, user, target)
    return True


def show_marker(state: ChatState, user: Client, target: str) -> None:
    """MARKREAD ``target`` with the user's marker (``*`` when none), from the server."""
    marker = state.read_markers.get(marker_owner(user), casefold(target))
    state.send(user, Message("MARKREAD", [target, marker], state.name))


def set_host(state: ChatState, user: Client, host: str) -> None:
    """The host users see for ``user`` changes: CHGHOST to who shares a channel (and asked).

    Clients without the ``chghost`` capability are not told (they show the
    old host until the user next joins or speaks).
    """
    if host == user.host:
        return
    change = Message("CHGHOST", [user.user, host], user.prefix)
    audience = {p: None for p in state.common_peers(user) if p.has("chghost")}
    if not user.remote and user.has("chghost"):
        audience[user] = None
    state.deliver(change, audience)
    user.host = host
    state.emit(UserHost(uid=user.uid, host=host))
