"""Failover between neighbours: confirmations and catch-up, never routed.

* A server tells its neighbour which of the neighbour's channel and private messages
  it stored (``stored``, sent after its own commit): that releases the
  sender's acknowledgement there.
* When a link comes up (or the network loses one), both sides send the
  msgids of their recent window (``sync``) and answer with the messages the
  other lacks (``replay``); new ones are delivered, stored and passed on to
  the other neighbours, so nothing acknowledged stays behind on one side.

``CatchUp`` is owned by the ``LinkManager``; it sends through the manager's
``send`` and reads the core's recent window and held acknowledgements.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from ..irc import remote
from ..irc.recent import Recent
from ..irc.state import ChatState
from . import protocol as lp

log = logging.getLogger("chatnet.links")

IDS_PER_MESSAGE = 2000  # msgids per ``sync``/``stored`` message at most
#: Bytes of msgids per part (each costs its length and 3 in JSON: quotes and a
#: comma): a ``sync`` carries a part of ids and one of ``waiting``, so two parts
#: and the envelope stay under half of ``MAX_LINK_MESSAGE`` whatever a msgid's
#: length (a long-running server's counter makes them longer).
IDS_BYTES = lp.MAX_LINK_MESSAGE // 4 - 512  # room for the envelope
REPLAY_BYTES = 48 * 1024  # a ``replay`` message is cut before it reaches this size
#: Seconds before this server's window that a caught-up message may still be
#: stamped (the peer's clock may be behind); anything older is a replay, refused.
REPLAY_SLACK = 60.0

Send = Callable[[str, lp.AnyMessage], None]
#: Why a neighbour may not bring a message of an origin (msgid, stamp) in a
#: catch-up, or None (``Routing.replay_problem``).
Vet = Callable[[str, str, str, float], str | None]


class CatchUp:
    """Confirmations owed to neighbours, and windows compared with them."""

    def __init__(
        self, core: ChatState, send: Send, peers: Callable[[], Iterable[str]], vet: Vet
    ) -> None:
        self.core = core
        self._vet = vet
        self._send = send
        self._peers = peers
        self._stored_out: dict[str, list[str]] = {}  # peer -> its msgids stored here
        self._sync_in: dict[str, tuple[float, set[str]]] = {}  # peer -> its window so far
        self._last_resync = 0.0
        self._resync_due = False  # one was asked for within the last second
        # After this turn's history commit, tell peers what it stored.
        core.output.before_write.append(self._send_stored)

    def forget(self, peer: str) -> None:
        """The link to ``peer`` went down: nothing is owed to it any more."""
        self._stored_out.pop(peer, None)
        self._sync_in.pop(peer, None)

    def will_confirm(self, peer: str, msgids: list[str]) -> None:
        """Tell ``peer`` these are stored here, after this turn's commit."""
        if self.core.replication.shared_store:
            return  # the shared store is what makes them safe, not this server
        pending = self._stored_out
        if not pending:
            self.core.output.wake_soon()  # a flush commits, then ``_send_stored`` runs
        pending.setdefault(peer, []).extend(m for m in msgids if m)

    def _send_stored(self) -> None:
        pending, self._stored_out = self._stored_out, {}
        for peer, ids in pending.items():
            for part in _parts(ids):
                self._send(peer, lp.Stored(ids=part))

    def offer_window(self, peer: str) -> None:
        """Send ``peer`` the msgids of the recent window, so it can send what is missing."""
        recent = self.core.replication.recent
        since = self.core.clock() - recent.window
        parts = _parts([r.message.msgid for r in recent.since(since)]) or [[]]
        waiting = (_parts(self.core.acks.waiting_ids()) or [[]])[0]  # the oldest that fit
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            self._send(
                peer, lp.SyncIds(since=since, ids=part, done=last, waiting=waiting if last else [])
            )

    def resync(self) -> None:
        """The network lost a link: compare windows with every neighbour again.

        A message routed through a server that just died may have reached
        only part of the network; neighbours that stay linked see no link
        come up, so they compare now. Coalesced: at most once a second, and
        one asked for sooner is done when the second is up (``resync_if_due``):
        what a neighbour could not take before (a line of a server this one
        had not lost yet) it may take now.
        """
        now = self.core.clock()
        if 0 <= now - self._last_resync < 1.0:  # (a clock stepped back does not stall it)
            self._resync_due = True
            return
        self._resync_due = False
        self._last_resync = now
        for peer in list(self._peers()):
            self.offer_window(peer)

    def resync_if_due(self) -> None:
        """Do the resync asked for within a second of the last, once that second is up."""
        if self._resync_due:
            self.resync()

    def sync_received(self, peer: str, message: lp.SyncIds) -> None:
        """A part of ``peer``'s window; on the last one, send what it lacks."""
        since, known = self._sync_in.get(peer, (message.since, set()))
        known.update(message.ids)
        if not message.done:
            self._sync_in[peer] = (since, known)
            return
        self._sync_in.pop(peer, None)
        recent = self.core.replication.recent
        # The peer's messages still waiting for a confirmation that this
        # server stored already (the ``stored`` was lost with a link, or with
        # this server's restart): confirm them now.
        stored = [m for m in message.waiting if m in recent]
        if stored:
            self.will_confirm(peer, stored)
        missing = recent.missing(since, known)
        if missing:
            log.info("link %s: catching it up with %d messages", peer, len(missing))
            self.send_replay(peer, [_item(r) for r in missing])

    def replay_received(self, peer: str, message: lp.Replay) -> None:
        """Messages ``peer`` had and this server lacked: deliver, store, pass on."""
        oldest = self.core.clock() - self.core.replication.recent.window - REPLAY_SLACK
        items = [item for item in message.items if item.ts >= oldest]
        if len(items) < len(message.items):
            # Only the window is ever compared: an older message is not caught
            # up but replayed, and would be delivered and stored again.
            log.warning(
                "link %s: refused %d replayed messages stamped before the sync window",
                peer,
                len(message.items) - len(items),
            )
        items = [item for item in items if self._vetted(peer, item)]
        fresh = [item for item in items if _replayed(self.core, item)]
        self.will_confirm(peer, [item.msgid for item in message.items if item.o == peer])
        if not fresh:
            return
        self.core.stats.replayed += len(fresh)
        self.core.disruptions.late(self.core.ids.now(), min(i.ts for i in fresh))
        log.info("link %s: learnt %d messages in a catch-up", peer, len(fresh))
        for other in list(self._peers()):
            if other != peer:
                self.send_replay(other, fresh)

    def _vetted(self, peer: str, item: lp.ReplayItem) -> bool:
        """May ``peer`` speak for ``item``'s origin? (Refused: logged with the reason.)"""
        why = self._vet(peer, item.o, item.msgid, item.ts)
        if why is None:
            return True
        log.warning(
            "link %s: refused a caught-up message %s of %s: %s", peer, item.msgid, item.o, why
        )
        return False

    def send_replay(self, peer: str, items: list[lp.ReplayItem]) -> None:
        """Send ``items`` to ``peer`` in ``replay`` messages of bounded size."""
        for batch in lp.cut(items, _replay_cost, REPLAY_BYTES, len(items)):
            self._send(peer, lp.Replay(items=batch))


def _replayed(core: ChatState, item: lp.ReplayItem) -> bool:
    return remote.replay(
        core,
        origin=item.o,
        msgid=item.msgid,
        ts=item.ts,
        source=item.source,
        command=item.command,
        target=item.target,
        text=item.text,
        tags=item.tags,
    )


def _item(recent: Recent) -> lp.ReplayItem:
    stored = recent.message
    assert stored.command in ("PRIVMSG", "NOTICE")
    return lp.ReplayItem(
        o=recent.origin,
        msgid=stored.msgid,
        ts=stored.ts,
        source=stored.source,
        command=stored.command,
        target=stored.target,
        text=stored.text,
        tags=stored.tags,
    )


def _parts(ids: list[str]) -> list[list[str]]:
    """Msgids cut into lists of at most ``IDS_PER_MESSAGE`` and ``IDS_BYTES``."""
    return lp.cut(ids, lambda msgid: len(msgid) + 3, IDS_BYTES, IDS_PER_MESSAGE)


def _replay_cost(item: lp.ReplayItem) -> int:
    """The bytes ``item`` takes in a ``replay`` message (its JSON, UTF-8, escapes and
    all: a character may take up to 6), and a comma."""
    return len(item.__pydantic_serializer__.to_json(item)) + 1
