"""Which events from a link this server takes, and the books that decides it.

An event from a peer is taken only if it is new (origin and event id not
seen before), its origin may speak through that link (``Routing``) and has
a server ID that clashes with no other reachable server's, its ids
are fresh and of its origin's making (``guard``: the replay windows, and a
msgid another server makes refused), and it acts for its origin's own users
(``ownership``). ``problem`` says why not (the manager logs it and drops the
event); ``taken`` books one that passed.

Pure: reads the core's users and the routing's view, sends nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from ..irc.events import ChatMessage, ClockTick, Event
from ..irc.state import ChatState
from .guard import Replays, foreign_msgid
from .ownership import not_its_user
from .routing import Routing

__all__ = ["SEEN_EVENTS", "Admission", "seen_key"]

SEEN_EVENTS = 50_000  # events (origin and id) remembered to drop duplicates


def seen_key(event: Event) -> str:
    """What tells events apart: origin and id.

    A peer picks its events' ids: one that took the id another server gives
    its next event would otherwise shut that event out here, as seen.
    """
    return f"{event.o} {event.id}"


class Admission:
    """The duplicate set and replay windows of one server's incoming events."""

    def __init__(self, core: ChatState, routing: Routing) -> None:
        self.core = core
        self.routing = routing
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.replays = Replays()
        #: Servers reachable with an ID that clashes with another reachable one's
        #: (``lp.id_clash``): why. None of their events is taken while they are.
        self.clashing: dict[str, str] = {}

    def duplicate(self, event: Event) -> bool:
        """Was ``event`` applied already (and forwarded)?"""
        return seen_key(event) in self.seen

    def problem(self, peer: str, event: Event, sid_of: Mapping[str, int]) -> str | None:
        """Why ``event`` from ``peer`` is not taken (None: take it)."""
        if event.o == self.core.config.name or not self.routing.may_pass_on(peer, event):
            return "origin does not match this link"
        clash = self.clashing.get(event.o)
        if clash is not None:
            return clash
        why = self._replayed(event, sid_of.get(event.o))
        return why if why is not None else not_its_user(self.core, event, sid_of)

    def taken(self, event: Event) -> None:
        """Book ``event``, which passed."""
        # Remembered once accepted: a copy refused by one link (a view not
        # yet up to date) does not shut out the same event by another.
        if not isinstance(event, ClockTick):  # many, and harmless twice
            self.remember(event)

    def remember(self, event: Event) -> None:
        """``event`` is applied here: another copy of it is a duplicate."""
        self.seen[seen_key(event)] = None
        if len(self.seen) > SEEN_EVENTS:
            self.seen.popitem(last=False)

    def _replayed(self, event: Event, sid: int | None) -> str | None:
        """Why ``event`` is an old one of its origin's, replayed, or under another's msgid."""
        msgid = event.tags.get("msgid", "") if isinstance(event, ChatMessage) else ""
        if msgid.startswith(self.core.ids.prefix):
            # Whatever server's shape it also fits (server IDs whose hex
            # begins another's: 42 is 2a, 677 2a5): taken, it would shut out
            # the line this server gives that msgid next (acknowledged, lost).
            return f"msgid {msgid} is of this server's own start"
        if sid is None:
            return None
        why = self.replays.stale("event", event.id, event.o, sid, "e")
        if why is None and msgid:
            why = foreign_msgid(msgid, event.o, [sid])
            if why is None:
                why = self.replays.stale("msgid", msgid, event.o, sid)
        return why
