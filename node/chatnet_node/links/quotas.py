"""How much of this server's memory the other servers may fill: servers, users, channels.

A peer that passed the link's authentication may speak only for its own
users (``ownership``) and only so fast (``guard``), but at that rate it
could still introduce users, and have them join channels, for as long as
its link stays up: hours of that would fill this server's memory. So each
kind of remote state has a bound (``links.maxServers``,
``links.maxUsersPerServer``, ``links.maxChannelsPerUser``, and
``links.maxRemoteUsers`` for every other server's users together) and
``over`` says which one an event would pass, and whose user (or server)
would pass it. The manager drops the link where that is the peer itself, live (it is
the one overfilling), and refuses only the event (not passed on: events routed
by interest are worked out again here, where the user is unknown) where the
peer forwards it for a server behind it (so a hub whose own limits are higher is not split
off for another server's users; a hub's burst restates every channel with
every server's members) or restates it in a burst (a server may hold more
users than a bound lowered since: its every burst would cost it its link
again). Past ``maxRemoteUsers`` no one server is to blame (made-up servers
behind a peer, each within its own bound, may have filled it; adverts are
only proven with ``signAdverts``): the introduction is refused, the link
stays. A user refused here stays unknown here until its server's next burst
(a split and a heal): its lines reach this server's users under the name
they carry, but its nick is not held here, so a user of this server may
take it. That is the price of a bound met under attack, not of a network
within its manifests (the operator sets every bound at twice them).

Pure: reads the core's state and the limits, no I/O.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

from ..config.links import Links
from ..irc.events import ChannelJoin, ChannelState, Event, UserIntro
from ..irc.names import casefold
from ..irc.state import ChatState

__all__ = ["Overfill", "over", "too_many_servers"]


class Overfill(NamedTuple):
    """A bound an event would pass: ``server`` is the one whose user (or advert) passes
    it; None where the bound is every server's together (no one server overfills it)."""

    server: str | None
    why: str


def over(core: ChatState, event: Event) -> Overfill | None:
    """Which bound ``event`` would pass, whose, and why (None: within every bound)."""
    limits = core.config.links
    if isinstance(event, UserIntro):
        if event.uid in core.users:
            return None
        have = core.users_of(event.o)
        if have >= limits.max_users_per_server:
            why = (
                f"{event.o} has {have} users here already "
                f"(links.maxUsersPerServer {limits.max_users_per_server})"
            )
            return Overfill(event.o, why)
        if core.remote_users >= limits.max_remote_users:
            why = (
                f"{core.remote_users} users of other servers are here already "
                f"(links.maxRemoteUsers {limits.max_remote_users})"
            )
            return Overfill(None, why)
    elif isinstance(event, ChannelJoin):
        return _channels_full(core, event.uid, casefold(event.channel))
    elif isinstance(event, ChannelState):
        folded = casefold(event.name)
        for uid, _status in event.members:
            full = _channels_full(core, uid, folded)
            if full is not None:
                return full
    return None


def _channels_full(core: ChatState, uid: str, folded: str) -> Overfill | None:
    """Why a remote user ``uid`` may not join one more channel (``folded``) here."""
    user = core.users.get(uid)
    if user is None or not user.remote or folded in user.channels:
        return None
    most = _channels_per_user(core)
    if len(user.channels) < most:
        return None
    why = (
        f"user {uid} ({user.nick}) of {user.server} is in {len(user.channels)} channels "
        f"here already (links.maxChannelsPerUser {most})"
    )
    return Overfill(user.server, why)


def _channels_per_user(core: ChatState) -> int:
    """``links.maxChannelsPerUser``; unset, twice what this server lets its own clients join."""
    config = core.config
    return config.links.max_channels_per_user or 2 * config.limits.max_channels_per_client


def too_many_servers(server: str, reachable: Collection[str], limits: Links) -> str | None:
    """Why an advert of ``server`` is not taken, ``reachable`` the other servers reached now.

    Adverts of servers out of reach are kept only so many (``Topology.unreachable_past``):
    made-up servers nobody links to take no room from real ones.
    """
    if server in reachable or len(reachable) < limits.max_servers:
        return None
    return (
        f"{len(reachable)} other servers are reached from here already "
        f"(links.maxServers {limits.max_servers})"
    )
