"""What every handler of a remote event shares: the server-ID map, stamps, sources."""

from __future__ import annotations

import logging

from ..state import ChatState
from ..transitions.accounts import SERVICES, service_prefix

log = logging.getLogger("chatnet.remote")

SidOf = dict[str, int]


def guest_nick(uid: str) -> str:
    """The nick a collision loser gets: valid, unique, the same on every server."""
    return f"Guest{uid}"


def tags_of(msgid: str, time: str) -> dict[str, str] | None:
    """The origin's stamp, when the event carries one."""
    return {"time": time, "msgid": msgid} if msgid else None


def source_of(state: ChatState, uid: str, origin: str) -> str:
    """Who the clients see doing it: the user, a service, or its server when not known here."""
    if uid in SERVICES:
        return service_prefix(state, uid)
    user = state.users.get(uid)
    return user.prefix if user is not None else origin
