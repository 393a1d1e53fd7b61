"""The I/O-free chat server core: clients, channels and the rules between them.

Transports call in with events (``connect``, ``receive_line``,
``disconnect``) and a clock (``tick``); the core answers by writing bytes to
each client's ``Sink``. Nothing here awaits, opens a socket or reads a file
(the history store is handed in), so the whole of IRC can be tested by feeding
lines and reading bytes back.

Contracts:
* a message is serialised once per distinct wire key among its recipients
  (see ``wire``), never once per recipient;
* replies to the client whose command is being handled are collected first,
  so labeled-response can wrap them (``begin``/``finish`` in ``handle_line``);
* every limit that ends a connection sends ``ERROR`` with the reason first.
"""

from __future__ import annotations

import functools
import itertools
import logging
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import TYPE_CHECKING, Protocol

from . import numerics as rpl
from .channel import Channel
from .client import Client, Sink
from .config import NodeConfig
from .history.contract import HistoryBackend, StoredMessage
from .message import MAX_LINE_BODY, MAX_TAGS_FROM_CLIENT, Message, ParseError, parse_line
from .names import CHANNELLEN, NICKLEN, casefold
from .replication import AckBook, Held, RecentLog
from .wire import WANT_TAGS, encode

if TYPE_CHECKING:
    from .links.protocol import Event

log = logging.getLogger("chatnet.core")

# Runs an iterator to its end at C speed (the fan-out loop).
_drain = deque[None](maxlen=0).extend

VERSION = "chatnet-0.1.0"
TOPICLEN = 390
KICKLEN = 255
AWAYLEN = 200
MAX_TARGETS = 4


class NetworkHooks(Protocol):
    """What the core tells the link layer (implemented by ``links.manager``)."""

    def local_event(self, event: Event) -> None:
        """A change made on this server, to route to the servers that need it."""

    def servers(self) -> list[ServerView]:
        """Every reachable server, this one first, for LINKS, MAP and LUSERS."""

    def connect(self, name: str) -> str | None:
        """CONNECT: dial a configured peer; returns why not, or None."""

    def squit(self, name: str, reason: str) -> str | None:
        """SQUIT: close the link to a neighbour; returns why not, or None."""

    def status(self) -> list[dict[str, object]]:
        """Every link, for /status."""

    def link_metrics(self) -> dict[str, dict[str, int]]:
        """Per peer: messagesIn/Out, bytesIn/Out and flaps, for /metrics."""


@dataclass(frozen=True, slots=True)
class ServerView:
    """One server as LINKS and MAP show it."""

    name: str
    uplink: str
    hops: int
    description: str
    sid: int


@dataclass(frozen=True, slots=True)
class WhowasEntry:
    """What WHOWAS remembers of a nick that left."""

    nick: str
    user: str
    host: str
    realname: str
    server: str
    at: float


@dataclass
class CoreStats:
    """Counters the metrics adapter exports. Plain ints: the core does no I/O."""

    connections: int = 0
    rejected_full: int = 0
    rejected_per_address: int = 0
    messages_in: int = 0
    deliveries: int = 0
    lines_in: int = 0
    excess_flood: int = 0
    sendq_exceeded: int = 0
    input_too_long: int = 0
    max_local_clients: int = 0
    replayed: int = 0  # channel messages learnt late, in a catch-up after a link came up


def format_time(ts: float) -> str:
    """An IRCv3 server-time value: ``2026-11-28T12:00:00.000Z``."""
    # Nearest millisecond: a time parsed back from a tag formats to the same tag.
    second, millis = divmod(int(ts * 1000 + 0.5), 1000)
    return f"{_second_prefix(second)}{millis:03d}Z"


@functools.lru_cache(maxsize=8)
def _second_prefix(second: int) -> str:
    # Formatting a date is slow; within one second only the milliseconds change.
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))


def parse_time(value: str) -> float | None:
    """Parse a server-time value back into seconds since the epoch."""
    try:
        text = value[:-1] + "+00:00" if value.endswith("Z") else value
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class ChatCore:
    """One chat server's state and behaviour, with no I/O of its own."""

    def __init__(
        self,
        config: NodeConfig,
        history: HistoryBackend,
        clock: Callable[[], float] = time.time,
        wake: Callable[[], None] | None = None,
    ) -> None:
        """``wake`` is called when output becomes pending: schedule ``flush`` then."""
        self.config = config
        self.history = history
        self.clock = clock
        self.started = clock()
        self.clients: dict[Client, None] = {}
        self.nicks: dict[str, Client] = {}
        self.channels: dict[str, Channel] = {}
        self.whowas: deque[WhowasEntry] = deque(maxlen=2000)
        self.per_address: Counter[str] = Counter()
        self.throttled: set[Client] = set()
        self.draining = False
        self.stats = CoreStats()
        self.current: Client | None = None
        self._ids = itertools.count(1)
        self._id_prefix = f"{config.server_id:x}{secrets.token_hex(3)}"
        self._last_timeout_scan = 0.0
        self._batch_ids = itertools.count(1)
        self.dirty: dict[Client, None] = {}
        self._last_stamp: tuple[str, float] = ("", 0.0)
        from .commands.table import COMMANDS  # here, not per line: commands import core

        self.commands = COMMANDS
        self.users: dict[str, Client] = {}  # every user of the network, by uid
        self.network: NetworkHooks | None = None  # set when the server links
        self._uids = itertools.count(1)
        self._event_ids = itertools.count(1)
        self.wake: Callable[[], None] = wake or (lambda: None)
        # Failover: recent channel messages (dedup, catch-up) and the
        # acknowledgements waiting for their message to be safe elsewhere.
        self.recent = RecentLog(window=config.links.sync_window)
        self.acks = AckBook()
        self.after_commit: list[Callable[[], None]] = []
        # True when a commit puts a message in a store the whole network
        # shares. The store never changes at run time (reload keeps it).
        self.shared_store = history.durable_elsewhere
        if self.shared_store:
            history.on_durable = self.confirm_safe

    def remember_recent(self) -> None:
        """Rebuild the recent window from the store, once it is open (after a restart, say)."""
        now = self.clock()
        # The origin of a stored message is not kept: "" never matches a peer.
        for key, stored in self.history.recent(now - self.recent.window, self.recent.limit):
            self.recent.add("", key, stored, now)

    # Properties the HTTP adapter reports.

    @property
    def name(self) -> str:
        """This server's name."""
        return self.config.name

    @property
    def full(self) -> bool:
        """True when the next client would be refused for ``maxClients``."""
        return len(self.clients) >= self.config.limits.max_clients

    @property
    def ready(self) -> bool:
        """True while the server takes new clients (not full, not draining)."""
        return not self.draining and not self.full

    @property
    def registered_count(self) -> int:
        """Clients that completed registration."""
        return len(self.nicks)

    @property
    def acks_wait_for_peer(self) -> bool:
        """True when an acknowledgement waits for a second server to store the message.

        Only where a second server can exist: a server with portals to dial
        or to accept. Alone, its own store is all there is.
        """
        links = self.config.links
        return (
            self.network is not None and bool(links.dial or links.accept) and not self.shared_store
        )

    def unacknowledged(self) -> int:
        """Messages whose acknowledgement is still held back."""
        return len(self.acks)

    # Ids and times.

    def new_msgid(self) -> str:
        """A message id unique across this network's servers and restarts."""
        return f"{self._id_prefix}{next(self._ids):x}"

    def new_batch_id(self) -> str:
        """A reference tag for a BATCH."""
        return f"b{next(self._batch_ids)}"

    def new_uid(self) -> str:
        """A user id unique in the network: this server's ID, then a counter."""
        return f"{self.config.server_id}u{next(self._uids):x}"

    def event_id(self) -> str:
        """A link event id, unique for events this server originates."""
        return f"{self._id_prefix}e{next(self._event_ids):x}"

    def emit(self, event: Event) -> None:
        """Tell the rest of the network about a change made here."""
        if self.network is not None:
            self.network.local_event(event)

    def stamp(self) -> dict[str, str]:
        """Fresh ``time`` and ``msgid`` tags for a message this server originates."""
        now = int(self.clock() * 1000) / 1000  # what the tag says, to the millisecond
        text = format_time(now)
        self._last_stamp = (text, now)
        return {"time": text, "msgid": self.new_msgid()}

    # Output.

    def send(self, client: Client, msg: Message) -> None:
        """Send one message to one client (collected if it is the current requester)."""
        if client.closed or client.remote:
            return
        if client.replies is not None:
            client.replies.append(msg)
            return
        self.queue(client, encode(msg, client.key))

    def queue(self, client: Client, data: bytes) -> None:
        """Append bytes to a client's outbox; ``flush`` hands them to its sink."""
        client.outbox.append(data)
        dirty = self.dirty
        if not dirty:
            dirty[client] = None
            self.wake()
        else:
            dirty[client] = None

    def flush(self) -> None:
        """Give every dirty client its queued bytes in one ``sink.write``.

        The adapter calls this once per event-loop turn (``wake`` asks it to),
        so a client that gets ten messages in a turn costs one write, not ten.
        """
        # Stored before anything leaves: an echo (the sender's acknowledgement)
        # never goes out for a message history does not hold yet.
        try:
            self.history.commit()
        except Exception:  # a full disk must not take the chat down with it
            log.exception("history: could not store this turn's messages")
        for hook in self.after_commit:  # e.g. tell link peers what is now stored here
            hook()
        dirty, self.dirty = self.dirty, {}
        for client in dirty:
            outbox = client.outbox
            if outbox:
                data = b"".join(outbox)  # one item: CPython returns it as is
                outbox.clear()
                client.sink.write(data)
            if client.hangup:
                client.hangup = False
                client.sink.close()

    def reply(self, client: Client, numeric: str, *params: str) -> None:
        """Send a numeric reply from this server to ``client``."""
        self.send(client, Message(numeric, [client.nick, *params], self.config.name))

    def notice(self, client: Client, text: str) -> None:
        """A server NOTICE to one client."""
        self.send(client, Message("NOTICE", [client.nick, text], self.config.name))

    def fail(self, client: Client, command: str, code: str, *rest: str) -> None:
        """An IRCv3 standard reply: ``FAIL <command> <code> [<context>...] :<description>``."""
        self.send(client, Message("FAIL", [command, code, *rest], self.config.name))

    def deliver(self, msg: Message, recipients: Iterable[Client]) -> None:
        """Fan ``msg`` out, serialising it once per distinct wire key.

        Per recipient: one dict lookup, one list append and one dirty mark.
        Channel messages take the faster ``deliver_to_channel``.
        """
        cache: dict[int, bytes] = {}
        current = self.current
        dirty = self.dirty
        was_idle = not dirty
        count = 0
        for client in recipients:
            if client is current or client.closed or client.remote:
                self.send(client, msg)
                continue
            key = client.key
            data = cache.get(key)
            if data is None:
                data = cache[key] = encode(msg, key)
            client.outbox.append(data)
            dirty[client] = None
            count += 1
        self.stats.deliveries += count
        if was_idle and dirty:
            self.wake()

    def deliver_to_channel(self, msg: Message, channel: Channel, sender: Client) -> None:
        """Fan a message out to every member of ``channel`` but its ``sender``.

        The fastest path in the server: per wire key, one serialisation, one
        C-level loop appending to the members' outboxes and one C-level
        update of the dirty set. The sender's copy is taken back afterwards.
        """
        dirty = self.dirty
        was_idle = not dirty
        count = 0
        for key, (outboxes, members) in channel.fanout_groups().items():
            data = encode(msg, key)
            _drain(map(list.append, outboxes, repeat(data, len(outboxes))))
            dirty.update(members)
            count += len(outboxes)
            if sender in members:
                sender.outbox.pop()
                count -= 1
        self.stats.deliveries += count
        if was_idle and dirty:
            self.wake()

    def common_peers(self, client: Client) -> dict[Client, None]:
        """Every client sharing a channel with ``client`` (not ``client`` itself)."""
        peers: dict[Client, None] = {}
        for channel in client.channels.values():
            peers.update(dict.fromkeys(channel.members))
        peers.pop(client, None)
        return peers

    # Connection events.

    def connect(self, sink: Sink, address: str, secure: bool = False) -> Client | None:
        """A new connection. Returns None (after an ERROR) when a limit refuses it."""
        limits = self.config.limits
        reason: str | None = None
        if self.draining:
            reason = "Server is shutting down, please reconnect to another server"
        elif len(self.clients) >= limits.max_clients:
            reason = f"Server is full ({limits.max_clients} clients), try another server"
            self.stats.rejected_full += 1
        elif limits.max_per_address and self.per_address[address] >= limits.max_per_address:
            reason = f"Too many connections from your address ({limits.max_per_address})"
            self.stats.rejected_per_address += 1
        if reason is not None:
            line = Message("ERROR", [f"Closing Link: {address} ({reason})"])
            sink.write(encode(line, sink.kind))
            sink.close()
            return None
        now = self.clock()
        client = Client(sink=sink, address=address, connected_at=now, secure=secure)
        client.host = address
        client.last_heard = now
        client.last_active = now
        client.tokens = float(limits.flood_burst)
        client.tokens_at = now
        client.password_ok = self.config.password is None
        self.clients[client] = None
        self.per_address[address] += 1
        self.stats.connections += 1
        self.stats.max_local_clients = max(self.stats.max_local_clients, len(self.clients))
        return client

    def receive_line(self, client: Client, data: bytes) -> None:
        """One line from a client, without its line ending."""
        if client.closed:
            return
        self.stats.lines_in += 1
        now = self.clock()
        client.last_heard = now
        client.ping_pending = False
        if not self._within_length(client, data):
            return
        try:
            line = data.decode("utf-8")
        except UnicodeDecodeError:
            self.fail(
                client,
                "*",
                "INVALID_UTF8",
                "Message rejected, your IRC software MUST use UTF-8 encoding on this network",
            )
            return
        if client.delayed or not self._take_token(client, now):
            self._delay(client, line)
            return
        self.handle_line(client, line)

    def input_too_long(self, client: Client) -> None:
        """The transport met a line longer than any legal line and discarded it."""
        self.stats.input_too_long += 1
        self.reply(client, rpl.ERR_INPUTTOOLONG, "Input line was too long")

    def disconnect(self, client: Client, reason: str) -> None:
        """The transport lost the connection (the client did not QUIT)."""
        if client.closed:
            return
        self._remove(client, reason)

    # Flood control.

    def _within_length(self, client: Client, data: bytes) -> bool:
        body = data
        if data.startswith(b"@"):
            space = data.find(b" ")
            tags_len = space + 1 if space != -1 else len(data)
            if tags_len > MAX_TAGS_FROM_CLIENT:
                self.input_too_long(client)
                return False
            body = data[tags_len:]
        if len(body) > MAX_LINE_BODY - 2:
            self.input_too_long(client)
            return False
        return True

    def _take_token(self, client: Client, now: float) -> bool:
        limits = self.config.limits
        tokens = client.tokens + (now - client.tokens_at) * limits.flood_rate
        client.tokens = min(float(limits.flood_burst), tokens)
        client.tokens_at = now
        if client.tokens >= 1.0:
            client.tokens -= 1.0
            return True
        return False

    def _delay(self, client: Client, line: str) -> None:
        if client.delayed is None:
            client.delayed = deque()
        client.delayed.append(line)
        self.throttled.add(client)
        if len(client.delayed) > self.config.limits.flood_max_queued:
            self.stats.excess_flood += 1
            self.quit(client, "Excess Flood")

    def _drain_delayed(self, now: float) -> None:
        for client in list(self.throttled):
            delayed = client.delayed
            while delayed and not client.closed and self._take_token(client, now):
                self.handle_line(client, delayed.popleft())
            if not delayed or client.closed:
                client.delayed = None
                self.throttled.discard(client)

    # Commands.

    def handle_line(self, client: Client, line: str) -> None:
        """Parse and run one command, with labeled-response wrapping."""
        try:
            msg = parse_line(line)
        except ParseError:
            return  # empty lines and tag-only lines are ignored, as RFC 1459 says
        command = self.commands.get(msg.command)
        self.begin(client, msg)
        try:
            if command is None:
                self.reply(client, rpl.ERR_UNKNOWNCOMMAND, msg.command, "Unknown command")
            elif not client.registered and not command.before_registration:
                self.reply(client, rpl.ERR_NOTREGISTERED, "You have not registered")
            elif len(msg.params) < command.min_params:
                self.reply(client, rpl.ERR_NEEDMOREPARAMS, msg.command, "Not enough parameters")
            else:
                if command.counts_as_activity:
                    client.last_active = self.clock()
                command.handler(self, client, msg)
        finally:
            self.finish(client)

    def begin(self, client: Client, msg: Message) -> None:
        """Start collecting replies to ``client`` for the command ``msg``."""
        self.current = client
        client.replies = []
        label = msg.tags.get("label")
        client.label = label if label and client.has("labeled-response") else None

    def finish(self, client: Client) -> None:
        """Send the collected replies, labelled and batched when the client asked."""
        replies, label = client.replies or [], client.label
        client.replies = None
        client.label = None
        self.current = None
        holding = client.holding
        if holding:
            # The acknowledgement (echo or labeled reply) waits until every
            # message this command sent is safe; see ``acknowledge``.
            client.holding = None
            self.acks.hold(Held(client, holding, replies, label))
        else:
            self._write_replies(client, replies, label)
        if client.closed:
            client.hangup = True

    def _write_replies(self, client: Client, replies: list[Message], label: str | None) -> None:
        if label is None:
            for msg in replies:
                key = client.key | WANT_TAGS if "batch" in msg.tags else client.key
                self.queue(client, encode(msg, key))
        else:
            self._write_labeled(client, replies, label)

    def acknowledge(self, client: Client, msg: Message) -> None:
        """Echo a channel message to its sender once it is safe.

        Safe means stored on a second server (a link peer confirms) or in the
        network's shared store. Until then the echo, and the rest of the
        command's replies, are held; a standalone server's own store is all
        there is, so it acknowledges at once.
        """
        if client.has("echo-message"):
            self.send(client, msg)
        elif client.label is None:
            return  # nothing would tell the sender either way
        if not (self.acks_wait_for_peer or self.shared_store):
            return
        if client.holding is None:
            client.holding = set()
        client.holding.add(msg.tags["msgid"])

    def confirm_safe(self, msgids: Iterable[str]) -> None:
        """Messages are stored elsewhere: release the acknowledgements they held."""
        for held in self.acks.confirm(msgids):
            client = held.client
            if not client.closed:
                self._write_replies(client, held.replies, held.label)

    def _write_labeled(self, client: Client, replies: list[Message], label: str) -> None:
        def write(data: bytes) -> None:
            self.queue(client, data)

        key = client.key | WANT_TAGS
        if not replies:
            ack = Message("ACK", [], self.config.name, {"label": label})
            write(encode(ack, key))
        elif len(replies) == 1 or not client.has("batch"):
            for msg in replies:
                tagged = Message(msg.command, msg.params, msg.source, {**msg.tags, "label": label})
                write(encode(tagged, key))
        else:
            ref = self.new_batch_id()
            start = Message("BATCH", [f"+{ref}", "labeled-response"], self.config.name)
            start.tags = {"label": label}
            write(encode(start, key))
            for msg in replies:
                tags = msg.tags if "batch" in msg.tags else {**msg.tags, "batch": ref}
                write(encode(Message(msg.command, msg.params, msg.source, tags), key))
            write(encode(Message("BATCH", [f"-{ref}"], self.config.name), key))

    # Leaving.

    def quit(
        self, client: Client, reason: str, error: str | None = None, announce: bool = True
    ) -> None:
        """Disconnect a client: tell its channels, send ERROR, close the connection.

        ``announce=False`` when the network already knows (a remote KILL).
        """
        if client.closed:
            return
        closing = Message("ERROR", [error or f"Closing Link: {client.host} ({reason})"])
        self._remove(client, reason, announce)
        if client.replies is not None:
            client.replies.append(closing)  # finish() sends it last, then closes
        else:
            self.queue(client, encode(closing, client.key))
            client.hangup = True

    def _remove(self, client: Client, reason: str, announce: bool = True) -> None:
        if client.registered and announce:
            from .announce import quit_

            quit_(self, client, reason)
        if client.registered:
            self.deliver(Message("QUIT", [reason], client.prefix), self.common_peers(client))
            self.whowas.appendleft(
                WhowasEntry(
                    client.nick,
                    client.user,
                    client.host,
                    client.realname,
                    client.server or self.config.name,
                    self.clock(),
                )
            )
        client.closed = True
        if self.acks:
            self.acks.forget(client)
        for channel in list(client.channels.values()):
            self.leave_channel(client, channel)
        folded = casefold(client.nick)
        if self.nicks.get(folded) is client:
            del self.nicks[folded]
        self.users.pop(client.uid, None)
        if client.remote:
            return
        self.clients.pop(client, None)
        self.throttled.discard(client)
        self.per_address[client.address] -= 1
        if self.per_address[client.address] <= 0:
            del self.per_address[client.address]

    def remove_remote(self, user: Client, reason: str) -> None:
        """A user of another server left (quit, killed, or behind a netsplit)."""
        if user.closed:
            return
        self._remove(user, reason, announce=False)

    def leave_channel(self, client: Client, channel: Channel) -> None:
        """Remove a member; a channel with no members left ceases to exist."""
        channel.remove(client)
        client.channels.pop(casefold(channel.name), None)
        if not channel.members:
            self.channels.pop(casefold(channel.name), None)

    # Time.

    def tick(self) -> None:
        """Called a few times a second: delayed lines, timeouts, keepalive pings."""
        now = self.clock()
        if self.throttled:
            self._drain_delayed(now)
        if now - self._last_timeout_scan < 1.0:
            return
        self._last_timeout_scan = now
        limits = self.config.limits
        for client in list(self.clients):
            if not client.registered:
                if now - client.connected_at > limits.registration_timeout:
                    self.quit(client, "Registration timed out")
                continue
            silent = now - client.last_heard
            if client.ping_pending:
                if silent > limits.ping_interval + limits.ping_timeout:
                    seconds = int(limits.ping_interval + limits.ping_timeout)
                    self.quit(client, f"Ping timeout: {seconds} seconds")
            elif silent > limits.ping_interval:
                client.ping_pending = True
                self.send(client, Message("PING", [self.config.name]))

    # Configuration and shutdown.

    def reload(self, config: NodeConfig) -> list[str]:
        """Swap in a new configuration; returns what could not change at run time."""
        ignored: list[str] = []
        if config.name != self.config.name:
            ignored.append("name")
        if config.server_id != self.config.server_id:
            ignored.append("serverId")
        if config.listeners != self.config.listeners:
            ignored.append("listeners")
        if config.history != self.config.history:
            ignored.append("history")
        self.config = config.model_copy(
            update={
                "name": self.config.name,
                "server_id": self.config.server_id,
                "listeners": self.config.listeners,
                "history": self.config.history,
            }
        )
        return ignored

    def begin_drain(self) -> None:
        """Stop taking clients and ask the connected ones to move elsewhere."""
        self.draining = True
        for client in list(self.clients):
            if client.registered:
                self.notice(
                    client,
                    "*** This server is shutting down for maintenance; "
                    "please reconnect to continue chatting",
                )

    def close_all(self, reason: str = "Server shutting down") -> None:
        """Disconnect every remaining client with ``reason``."""
        for client in list(self.clients):
            self.quit(client, reason)

    # History.

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

        Channel messages are also remembered in ``recent``; one seen before
        (it came back in a catch-up) returns False and is not stored again.
        ``store=False`` only remembers it (its origin wrote the shared store).
        """
        client_tags = {k: v for k, v in msg.tags.items() if k.startswith("+")}
        stamped = msg.tags.get("time", "")
        if stamped == self._last_stamp[0]:
            ts = self._last_stamp[1]  # just stamped here: no need to parse it back
        else:
            ts = parse_time(stamped) or self.clock()
        stored = StoredMessage(
            msgid=msg.tags.get("msgid", self.new_msgid()),
            ts=ts,
            source=msg.source or "",
            command=msg.command,
            target=display_target,
            text=text,
            tags=client_tags,
        )
        if not target_key.startswith("dm:") and not self.recent.add(
            origin or self.name, target_key, stored, self.clock()
        ):
            return False
        if store:
            self.history.append(target_key, stored)  # queued; flush() commits it
        return True

    # ISUPPORT.

    def isupport_tokens(self) -> list[str]:
        """The tokens of RPL_ISUPPORT (005)."""
        limits = self.config.limits
        return [
            f"AWAYLEN={AWAYLEN}",
            "CASEMAPPING=rfc1459",
            f"CHANLIMIT=#:{limits.max_channels_per_client}",
            "CHANMODES=b,k,l,imnst",
            f"CHANNELLEN={CHANNELLEN}",
            "CHANTYPES=#",
            f"CHATHISTORY={limits.history_limit}",
            "ELIST=",
            f"KICKLEN={KICKLEN}",
            "LINELEN=512",
            "MAXLIST=b:100",
            "MODES=4",
            "MSGREFTYPES=msgid,timestamp",
            f"NETWORK={self.config.network}",
            f"NICKLEN={NICKLEN}",
            "PREFIX=(ov)@+",
            f"TARGMAX=PRIVMSG:{MAX_TARGETS},NOTICE:{MAX_TARGETS},JOIN:,PART:,KICK:4,NAMES:1",
            f"TOPICLEN={TOPICLEN}",
            "UTF8ONLY",
        ]
