"""Which server speaks for a user: a peer may act only for its own users.

Pure: reads the core's users, no I/O. The link manager asks it for every
event from a link.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..irc.events import ChannelState, Event
from ..irc.state import ChatState
from ..irc.transitions.accounts import SERVICES

__all__ = ["not_its_user", "strangers"]


def not_its_user(core: ChatState, event: Event, sid_of: Mapping[str, int]) -> str | None:
    """Why ``event`` acts for a user its origin does not own (None: it does own it).

    A server speaks only for its own users: a change to a user (a message, a
    quit, a nick change...) comes from the server the user is on, and a new
    user's uid starts with its server's ID. So a peer that passed the link's
    authentication still cannot put words in another server's users' mouths
    (services act from every server).
    """
    uid = getattr(event, "uid", None)
    if not isinstance(uid, str) or uid in SERVICES:
        return None
    user = core.users.get(uid)
    if user is not None:
        if user.server != event.o:
            return f"user {uid} ({user.nick}) is on {user.server}, not {event.o}"
        return None
    sid = sid_of.get(event.o)
    if sid is not None and not uid.startswith(f"{sid}u"):
        return f"user {uid} is not one of {event.o}'s (server ID {sid})"
    return None


def strangers(core: ChatState, event: ChannelState, behind: Callable[[str], bool]) -> set[str]:
    """The members of a burst's channel that are users of servers not ``behind`` its link.

    A burst restates each channel with every member its server knows, other
    servers' users too; but only those on the peer's side of the link are
    the peer's to restate. Those on this side are in the channel here by
    their own servers' events, so a peer cannot put them in a channel they
    never joined.
    """
    out = set()
    for uid, _status in event.members:
        user = core.users.get(uid)
        if user is not None and (not user.remote or not behind(user.server)):
            out.add(uid)
    return out
