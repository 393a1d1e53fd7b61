"""Output: every byte a client gets, queued, serialised once, written once a turn.

``Output`` owns the way out of the core:

* a message is serialised once per distinct wire key among its recipients
  (see ``wire``), never once per recipient, and appended to each one's
  ``outbox``; ``flush`` (once per event-loop turn: ``wake`` asks for it)
  gives every dirty client its queued bytes in one ``sink.write``;
* big fan-outs wait behind small ones: a message, JOIN, QUIT... to more
  than ``BULK_FANOUT`` recipients marks its recipients in ``late.bulk``,
  written after ``dirty`` and, per turn, only for ``TURN_BUDGET`` seconds
  (the rest the next turn, once the sockets have been read again); work
  done in slices (the transport's drops, the lines to crowds: ``slices``)
  and what it sends (``late.soon``) share that budget (``latework``). A
  flood to channels of thousands (or to thousands of readers that never
  read, every write a system call until their buffers fill) then costs the
  server the same work, but spread in slices between which a normal user's
  message is read, fanned out and written: a small chat keeps its latency;
* replies to the client whose command is being handled are collected
  (``begin``/``finish``) so labeled-response can wrap them, and held in the
  ``AckBook`` when the command's acknowledgement must wait (see
  ``replication``);
* before any byte leaves, the ``before_write`` hooks run: the history
  commit first, so an echo never precedes the stored message, then what
  must follow it (link confirmations).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import contextmanager
from itertools import repeat

from .acks import AckBook, Held
from .ids import Ids
from .latework import LateWork, write
from .message import Message, format_message
from .model import Channel, Client
from .stats import CoreStats
from .wire import encode

log = logging.getLogger("chatnet.output")

# Runs an iterator to its end at C speed (the fan-out loop).
_drain = deque[None](maxlen=0).extend

#: A channel with more members than this is a big fan-out: written after the
#: small ones, in slices (above the 100-member channels of a busy community
#: chat, which stay on the direct path).
BULK_FANOUT = 256
#: Once a turn's direct path holds ``BULK_FANOUT`` recipients, fan-outs to
#: more than this many wait in ``soon``: twenty channels of 200 (flood
#: channels thinned by their drops) would otherwise all be written before
#: the next read. A small chat's fan-out always stays direct.
SMALL_FANOUT = 32
#: The time one turn may spend on big fan-outs (their lines run, ``crowd``,
#: and written) before the sockets are read again: what a small chat's
#: message may wait behind them. 0.5 ms: with 10,000 slow readers flooded,
#: the normal users' p99 had a median of 2.1 ms over ten runs against 3.05 ms
#: at 1 ms (the 2x target met in 9 runs of 10, against 6), for 0.71-1.03x
#: the deliveries per CPU-second of a 1000-member burst (more turns; a steady
#: 50 msg/s, 0.96-1.05x) (docs/benchmarks.md, *Half the budget*).
TURN_BUDGET = 0.0005


class Output:
    """Outboxes, the dirty set, reply collection and fan-out for one server."""

    def __init__(self, server_name: str, stats: CoreStats, acks: AckBook, ids: Ids) -> None:
        self.server_name = server_name
        self.stats = stats
        self.acks = acks
        self.ids = ids
        self.dirty: dict[Client, None] = {}
        #: What waits for the turn's budget: slices of work, what they sent
        #: (``soon``), the big fan-outs (``bulk``); see ``latework``.
        self.late = LateWork(after_slice=self._forget_merged)
        #: The fan-out groups' member sets merged into ``dirty`` since the last
        #: flush (by id; the value keeps the set alive, so an id is never reused
        #: meanwhile): a channel's second message in a turn marks nobody again.
        self._merged: dict[int, dict[Client, None]] = {}
        self.current: Client | None = None  # the client whose command is running
        self.wake: Callable[[], None] = lambda: None  # the runtime: "flush soon"
        self._woken = False  # a flush is asked for and has not begun
        #: Runs the lines read but left to run late (``crowd``): a flush
        #: without a budget calls it first, so that nothing waits past it.
        self.run_late: Callable[[], None] | None = None
        self.before_write: list[Callable[[], None]] = []
        #: An IRCv3 batch open (``batch``): its reference, the commands it
        #: holds and the clients it is open for.
        self._batch: tuple[str, frozenset[str], set[Client]] | None = None

    # One client.

    def send(self, client: Client, msg: Message) -> None:
        """Send one message to one client (collected if it is the current requester)."""
        if client.closed or client.remote:
            return
        if client.replies is not None:
            client.replies.append(msg)
            return
        self.queue(client, encode(msg, client.key))

    def send_batch(
        self, client: Client, kind: str, params: list[str], messages: list[Message]
    ) -> None:
        """Messages in one IRCv3 batch of ``kind`` (just the messages without ``batch``).

        A message already in a batch of its own (a multiline message's
        lines) stays in it; that batch's opening and closing lines join the
        outer one.
        """
        if not client.has("batch"):
            for message in messages:
                self.send(client, message)
            return
        ref = self.ids.batch_id()
        self.send(client, Message("BATCH", [f"+{ref}", kind, *params], self.server_name))
        for message in messages:
            message.tags.setdefault("batch", ref)
            self.send(client, message)
        self.send(client, Message("BATCH", [f"-{ref}"], self.server_name))

    @contextmanager
    def as_read(self) -> Iterator[None]:
        """Work in a slice that is a client's line run late (``crowd``): what it
        delivers goes where the line's would had it run as it was read."""
        late = self.late
        in_slice, late.in_slice = late.in_slice, False
        try:
            yield
        finally:
            late.in_slice = in_slice

    def wake_soon(self) -> None:
        """Ask the runtime for a flush (once, however often it is asked before it runs)."""
        if not self._woken:
            self._woken = True
            self.wake()

    def queue(self, client: Client, data: bytes) -> None:
        """Append bytes to a client's outbox; ``flush`` hands them to its sink."""
        client.outbox.append(data)
        self.dirty[client] = None
        if not self._woken:  # checked here too: the call is once a turn, the check per line
            self.wake_soon()

    def reply(self, client: Client, numeric: str, *params: str) -> None:
        """Send a numeric reply from this server to ``client``."""
        self.send(client, Message(numeric, [client.nick, *params], self.server_name))

    def notice(self, client: Client, text: str) -> None:
        """A server NOTICE to one client."""
        self.send(client, Message("NOTICE", [client.nick, text], self.server_name))

    def fail(self, client: Client, command: str, code: str, *rest: str) -> None:
        """An IRCv3 standard reply: ``FAIL <command> <code> [<context>...] :<description>``."""
        self.send(client, Message("FAIL", [command, code, *rest], self.server_name))

    # Many clients.

    @contextmanager
    def batch(
        self, kind: str, params: list[str], audience: Iterable[Client], commands: Iterable[str]
    ) -> Iterator[None]:
        """The ``commands`` delivered meanwhile reach ``audience`` in one IRCv3 batch.

        For a netsplit's QUITs or a netjoin's JOINs: a client that asked for
        ``batch`` sees them as one event (and may show them as one line);
        the others get the same lines, unmarked. Batches do not nest.
        """
        inside = {c for c in audience if not c.remote and not c.closed and c.has("batch")}
        if not inside or self._batch is not None:
            yield
            return
        ref = self.ids.batch_id()
        opening = Message("BATCH", [f"+{ref}", kind, *params], self.server_name)
        for client in inside:
            self.send(client, opening)
        self._batch = (ref, frozenset(commands), inside)
        try:
            yield
        finally:
            self._batch = None
            closing = Message("BATCH", [f"-{ref}"], self.server_name)
            for client in inside:
                self.send(client, closing)

    def deliver(self, msg: Message, recipients: Iterable[Client]) -> None:
        """Fan ``msg`` out, serialising it once per distinct wire key.

        Per recipient: one dict lookup, one list append and one dirty mark.
        Channel messages take the faster ``deliver_to_channel``.
        """
        if self._batch is not None and msg.command in self._batch[1]:
            ref, _, inside = self._batch
            recipients = list(recipients)
            marked = Message(msg.command, msg.params, msg.source, {**msg.tags, "batch": ref})
            self._fan_out(marked, [c for c in recipients if c in inside])
            recipients = [c for c in recipients if c not in inside]
        self._fan_out(msg, recipients)

    def _fan_out(self, msg: Message, recipients: Iterable[Client]) -> None:
        cache: dict[int, bytes] = {}
        body: str | None = None  # the message without tags, the same for every key
        current = self.current
        audience = recipients if isinstance(recipients, Sized) else list(recipients)
        # A JOIN, QUIT or NICK to a big channel waits behind small chats as a
        # big channel's message does; what the slices' work sends (a drop's
        # QUITs) waits in ``soon``: thousands of dropped readers' QUITs, each
        # to a few hundred, would otherwise all be written before the next read.
        dirty = self._marks(len(audience))
        count = 0
        for client in audience:
            if client is current or client.closed or client.remote:
                self.send(client, msg)
                continue
            key = client.key
            data = cache.get(key)
            if data is None:
                if body is None:
                    body = format_message(msg, with_tags=False)
                data = cache[key] = encode(msg, key, body)
            client.outbox.append(data)
            dirty[client] = None
            count += 1
        self.stats.deliveries += count
        if dirty and not self._woken:
            self.wake_soon()

    def _marks(self, recipients: int) -> dict[Client, None]:
        """Where a fan-out to this many marks its recipients: ``dirty``, ``soon`` or ``bulk``."""
        late = self.late
        if late.in_slice:
            return late.soon
        if recipients > BULK_FANOUT:
            return late.bulk
        if recipients > SMALL_FANOUT and len(self.dirty) >= BULK_FANOUT:
            return late.soon
        return self.dirty

    def deliver_to_channel(self, msg: Message, channel: Channel, sender: Client) -> None:
        """Fan a message out to every member of ``channel`` but its ``sender``.

        The fastest path in the server: per wire key, one serialisation, one
        C-level loop appending to the members' outboxes and one C-level
        update of the set ``_marks`` picks (``bulk`` for a big channel). The
        sender's copy is taken back afterwards.
        """
        dirty = self._marks(len(channel.members))
        merged = self._merged
        count = 0
        groups = channel.fanout_groups()
        # The part after the tags is the same for every key: serialised once.
        body = format_message(msg, with_tags=False) if len(groups) > 1 else None
        for key, (outboxes, members) in groups.items():
            data = encode(msg, key, body)
            _drain(map(list.append, outboxes, repeat(data, len(outboxes))))
            if merged.get(id(members)) is not members:
                dirty.update(members)
                merged[id(members)] = members
            count += len(outboxes)
            if sender in members:
                sender.outbox.pop()
                count -= 1
        self.stats.deliveries += count
        if dirty and not self._woken:  # the sender alone: its echo waits on the commit
            self.wake_soon()

    # The turn's end.

    def flush(self, budget: float | None = None) -> None:
        """Give every dirty client its queued bytes in one ``sink.write``.

        The adapter calls this once per event-loop turn (``wake`` asks it to),
        so a client that gets ten messages in a turn costs one write, not ten.
        With a ``budget`` (seconds) the late work (``latework``: slices, what
        they sent, big fan-outs) gets that long only, after everything else,
        and the rest asks for another turn; without one, the lines left to run late
        (``run_late``) run first, then everything is written, and the other
        slices (drops) wait for a flush with a budget (the runtime's, every turn).
        """
        if budget is None and self.run_late is not None:
            try:
                self.run_late()  # as if read just now: committed and written below
            except Exception:  # a bug there must not stop the output (or a drain)
                log.exception("running the lines left to run late failed")
        try:
            self.commit()
        finally:
            self._woken = False  # what is queued from here on needs another flush
        dirty, self.dirty = self.dirty, {}
        self._merged.clear()
        write(dirty)
        late = self.late
        if not late:
            return
        if budget is None:  # everything (the slices wait for a flush with a budget)
            late.write_all()
        elif late.run(budget):
            self.wake_soon()

    def commit(self) -> None:
        """Run the ``before_write`` hooks: the history commit, then link confirmations."""
        for hook in self.before_write:
            hook()

    def _forget_merged(self) -> None:
        """A slice's channel message marked its members: the next turn's messages to
        that channel must mark them again."""
        self._merged.clear()

    # A command's replies.

    def begin(self, client: Client, msg: Message) -> None:
        """Start collecting replies to ``client`` for the command ``msg``."""
        label = msg.tags.get("label")
        self.resume(client, label if label and client.has("labeled-response") else None)

    def resume(self, client: Client, label: str | None) -> None:
        """Start collecting replies to ``client`` for a command already begun (``slowwork``)."""
        self.current = client
        client.replies = []
        client.label = label

    def finish(self, client: Client) -> None:
        """Send the collected replies, labelled and batched when the client asked.

        A command that waits for slow work (``slowwork``) answers once it is
        done: its label goes with that answer.
        """
        replies, label = client.replies or [], client.label
        pending = client.slow
        if pending is not None and label is not None:
            pending.label, label = label, None
        client.replies = None
        client.label = None
        self.current = None
        holding = client.holding
        if holding:
            # The acknowledgement (echo or labeled reply) waits until every
            # message this command sent is safe; see ``Replication.acknowledge``.
            client.holding = None
            self.acks.hold(Held(client, holding, replies, label))
        else:
            self.write_replies(client, replies, label)
        if client.closed:
            client.hangup = True

    def write_replies(self, client: Client, replies: list[Message], label: str | None) -> None:
        """Queue a command's replies, wrapped for labeled-response when labelled."""
        if label is None:
            key = client.key
            for msg in replies:
                self.queue(client, encode(msg, key))
        else:
            self._write_labeled(client, replies, label)

    def _write_labeled(self, client: Client, replies: list[Message], label: str) -> None:
        key = client.key
        name = self.server_name
        if not replies:
            self.queue(client, encode(Message("ACK", [], name, {"label": label}), key))
        elif len(replies) == 1 or not client.has("batch"):
            for msg in replies:
                tagged = Message(msg.command, msg.params, msg.source, {**msg.tags, "label": label})
                self.queue(client, encode(tagged, key))
        else:
            ref = self.ids.batch_id()
            start = Message("BATCH", [f"+{ref}", "labeled-response"], name, {"label": label})
            self.queue(client, encode(start, key))
            for msg in replies:
                tags = msg.tags if "batch" in msg.tags else {**msg.tags, "batch": ref}
                self.queue(client, encode(Message(msg.command, msg.params, msg.source, tags), key))
            self.queue(client, encode(Message("BATCH", [f"-{ref}"], name), key))
