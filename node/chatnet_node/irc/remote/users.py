"""Users from other servers: arrivals (and nick collisions), renames, departures, modes."""

from __future__ import annotations

from .. import events as ev
from .. import transitions as change
from ..message import Message
from ..model import NULL_SINK, Channel, Client
from ..names import casefold, is_channel_name
from ..state import ChatState
from ..transitions import accounts
from .common import SidOf, guest_nick, log


def on_intro(state: ChatState, event: ev.UserIntro, sid_of: SidOf) -> None:
    if event.uid in state.users:
        return  # already known (a burst after a heal): no duplicate
    user = Client(sink=NULL_SINK, address=event.ip or event.host, connected_at=event.signon)
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
    user.account = event.account
    user.metadata = dict(event.metadata) if event.metadata else None
    user.secure = event.secure
    state.users[user.uid] = user
    state.remote_user_arrived(user)
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


def on_nick(state: ChatState, event: ev.NickChange, sid_of: SidOf) -> None:
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
    state.deliver(
        Message("NICK", [event.nick], user.prefix, state.now_tag()), state.common_peers(user)
    )
    user.nick = event.nick
    user.nick_ts = event.ts
    _claim_nick(state, user, sid_of)
    change.arrived(state, user)


def on_quit(state: ChatState, event: ev.UserQuit, sid_of: SidOf) -> None:
    user = state.users.get(event.uid)
    if user is not None and user.remote:
        change.quit_(state, user, event.reason)


def on_kill(state: ChatState, event: ev.UserKill, sid_of: SidOf) -> None:
    user = state.users.get(event.target)
    if user is not None:
        change.kill(state, user, event.reason, by_uid=event.uid)


def on_away(state: ChatState, event: ev.UserAway, sid_of: SidOf) -> None:
    user = state.users.get(event.uid)
    if user is not None:
        change.away(state, user, event.text)


def on_setname(state: ChatState, event: ev.UserSetname, sid_of: SidOf) -> None:
    user = state.users.get(event.uid)
    if user is not None:
        change.setname(state, user, event.realname)


def on_oper(state: ChatState, event: ev.UserOper, sid_of: SidOf) -> None:
    user = state.users.get(event.uid)
    if user is not None:
        change.user_modes(state, user, oper=event.oper, invisible=event.invisible, bot=event.bot)


def on_invite(state: ChatState, event: ev.UserInvite, sid_of: SidOf) -> None:
    inviter = state.users.get(event.uid)
    target = state.users.get(event.target)
    channel = state.channels.get(casefold(event.channel))
    if inviter is not None and target is not None and channel is not None:
        change.invite(state, inviter, target, channel)


def on_wallops(state: ChatState, event: ev.Wallops, sid_of: SidOf) -> None:
    change.wallops(state, event.source, event.text)


def on_metadata(state: ChatState, event: ev.MetadataSet, sid_of: SidOf) -> None:
    changer = state.users.get(event.uid)
    target: Client | Channel | None
    if is_channel_name(event.target):
        target = state.channels.get(casefold(event.target))
    else:
        target = state.users.get(event.target)
    if changer is not None and target is not None:
        change.set_metadata(state, changer, target, event.key, event.value)


def on_markread(state: ChatState, event: ev.ReadMarker, sid_of: SidOf) -> None:
    change.mark_read(state, event.nick, event.target, event.ts)


def on_account(state: ChatState, event: ev.UserAccount, sid_of: SidOf) -> None:
    user = state.users.get(event.uid)
    if user is not None:
        accounts.set_account(state, user, event.account)


def on_record(state: ChatState, event: ev.RecordSet, sid_of: SidOf) -> None:
    try:
        accounts.merge_record(state, event.kind, event.data)
    except ValueError as exc:  # pydantic's ValidationError: a malformed record
        log.warning("record from %s refused: %s", event.o, exc)


def on_host(state: ChatState, event: ev.UserHost, sid_of: SidOf) -> None:
    user = state.users.get(event.uid)
    if user is not None:
        change.set_host(state, user, event.host)
