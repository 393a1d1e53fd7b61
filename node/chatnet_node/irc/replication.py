"""What makes an acknowledged channel message survive the loss of a server.

``Replication`` keeps the books of the failover guarantee, with no I/O:

* ``record``: a channel or private message goes into history (queued; the
  history commit runs before any byte of the turn leaves) and, for a
  channel, into the ``RecentLog`` of recent messages; a message seen before
  (it came back in a catch-up) is reported and not stored twice;
* ``acknowledge``: the sender's echo (or labeled reply) is held until the
  message is safe: stored on a second server (a link peer confirms) or in
  the network's shared store. A standalone server's own store is all there
  is, so it acknowledges at once;
* ``confirm_safe``: messages are stored elsewhere; the acknowledgements
  they held are released, in the order their commands produced them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from ..config import Links
from ..history.contract import HistoryBackend, StoredMessage
from .acks import AckBook
from .ids import Ids
from .message import Message
from .model import Client
from .output import Output
from .recent import RecentLog

#: Server tags a stored message keeps besides client-only ones: who sent it
#: (replays show it under account-tag; REDACT recognises the author by it).
KEPT_TAGS = frozenset(("account",))
#: The tags every message this server stamps carries, and none of which is kept.
_STAMP_TAGS = frozenset(("time", "msgid"))

log = logging.getLogger("chatnet.replication")


class Replication:
    """History writes, the recent window and held acknowledgements of one server."""

    def __init__(
        self,
        server_name: str,
        links: Links,
        history: HistoryBackend,
        output: Output,
        acks: AckBook,
        ids: Ids,
        clock: Callable[[], float],
    ) -> None:
        self.server_name = server_name
        self.links = links  # replaced on a configuration reload
        self.history = history
        self.output = output
        self.acks = acks
        self.ids = ids
        self.clock = clock
        self.recent = RecentLog(window=links.sync_window)
        self.linked = False  # a link layer is plugged in (``ChatState.network``)
        # True when a commit puts a message in a store the whole network
        # shares. The store never changes at run time (reload keeps it).
        self.shared_store = history.durable_elsewhere
        if self.shared_store:
            history.on_durable = self.confirm_safe
        output.before_write.append(self._commit)

    def _commit(self) -> None:
        # Stored before anything leaves: an echo (the sender's acknowledgement)
        # never goes out for a message history does not hold yet.
        try:
            self.history.commit()
        except Exception:  # a full disk must not take the chat down with it
            log.exception("history: could not store this turn's messages")

    def remember_recent(self) -> None:
        """Rebuild the recent window from the store, once it is open (after a restart, say)."""
        now = self.clock()
        # The origin of a stored message is not kept: "" never matches a peer.
        for key, stored in self.history.recent(now - self.recent.window, self.recent.limit):
            self.recent.add("", key, stored, now)
            # Stamps made here after a restart still sort after what was stored.
            self.ids.observe(stored.ts)

    def forget(self, target_key: str, msgid: str, store: bool = True) -> None:
        """A message was redacted: out of history (``store``: ours to delete) and never resent."""
        self.recent.redact(msgid)
        if store:
            self.history.forget(target_key, msgid)

    @property
    def waits_for_peer(self) -> bool:
        """True when an acknowledgement waits for a second server to store the message.

        Only where a second server can exist: a server with portals to dial
        or to accept. Alone, its own store is all there is.
        """
        links = self.links
        return self.linked and bool(links.dial or links.accept) and not self.shared_store

    def unacknowledged(self) -> int:
        """Messages whose acknowledgement is still held back."""
        return len(self.acks)

    def record(
        self,
        target_key: str,
        msg: Message,
        display_target: str,
        text: str,
        origin: str | None = None,
        store: bool = True,
    ) -> bool:
        """Store a PRIVMSG or NOTICE for CHATHISTORY.

        Channel and private messages are also remembered in ``recent``; one
        seen before (it came back in a catch-up) returns False and is not
        stored again.
        ``store=False`` only remembers it (its origin wrote the shared store).
        """
        tags = msg.tags
        kept = (
            {}
            if tags.keys() <= _STAMP_TAGS  # the common case: only time and msgid
            else {k: v for k, v in tags.items() if k.startswith("+") or k in KEPT_TAGS}
        )
        stored = StoredMessage(
            msgid=tags.get("msgid") or self.ids.msgid(),
            ts=self.ids.time_of(tags),
            source=msg.source or "",
            command=msg.command,
            target=display_target,
            text=text,
            tags=kept,
        )
        if not self.recent.add(origin or self.server_name, target_key, stored, self.clock()):
            return False
        if store:
            self.history.append(target_key, stored)  # queued; the flush commits it
        return True

    def acknowledge(self, client: Client, msg: Message, echo: list[Message] | None = None) -> None:
        """Echo a channel or private message to its sender once it is safe.

        Until then the echo (``msg``, or the lines ``echo`` of a multiline
        message), and the rest of the command's replies, are held
        (``Output.finish`` hands them to the ``AckBook``).
        """
        if client.has("echo-message"):
            for line in echo or [msg]:
                self.output.send(client, line)
        elif client.label is None:
            return  # nothing would tell the sender either way
        if not (self.waits_for_peer or self.shared_store):
            return
        if client.holding is None:
            client.holding = set()
        client.holding.add(msg.tags["msgid"])
        # Its history commit is what makes the message safe: ask for the
        # turn's flush, which nothing else may have (a private message to
        # another server's user queues no bytes here).
        self.output.wake_soon()

    def report_overdue(self) -> None:
        """Tell senders whose messages are still not safe after ``links.ackTimeout``.

        ``FAIL <command> ACK_TIMEOUT <target> <msgid>`` (labelled like the
        command), once per held message: it stays stored here and is offered
        again to every server that links; the echo still comes if it becomes
        safe.
        """
        timeout = self.links.ack_timeout
        for held in self.acks.overdue(timeout):
            client = held.client
            if client.closed:
                continue
            for msgid in sorted(held.waiting):
                echo = next((m for m in held.replies if m.tags.get("msgid") == msgid), None)
                command = echo.command if echo is not None else "PRIVMSG"
                target = echo.params[0] if echo is not None and echo.params else "*"
                fail = Message(
                    "FAIL",
                    [
                        command,
                        "ACK_TIMEOUT",
                        target,
                        msgid,
                        f"Not yet stored on a second server after {timeout:g} seconds: "
                        "it may still be delivered",
                    ],
                    self.server_name,
                    {"label": held.label} if held.label else {},
                )
                self.output.send(client, fail)

    def confirm_safe(self, msgids: Iterable[str]) -> None:
        """Messages are stored elsewhere: release the acknowledgements they held."""
        for held in self.acks.confirm(msgids):
            client = held.client
            if not client.closed:
                self.output.write_replies(client, held.replies, held.label)
