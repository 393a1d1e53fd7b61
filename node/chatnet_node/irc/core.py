"""The I/O-free chat server core: connections in, commands dispatched, time kept.

Transports call in with events (``connect``, ``receive_line``,
``disconnect``, ``input_too_long``) and a clock (``tick``); the core answers
by writing bytes to each client's ``Sink`` (through ``output``). Nothing
here awaits, opens a socket or reads a file (the history store and the
command table are handed in), so the whole of IRC can be tested by feeding
lines and reading bytes back.

``ChatCore`` adds to ``ChatState`` (the data and its parts) what a
connection goes through: the limits that refuse it, line length and flood
checks, the command dispatch with its preconditions and labeled-response
wrapping, registration and ping timeouts, configuration reload and drain.
Every limit that ends a connection sends ``ERROR`` with the reason first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ..config import NodeConfig
from ..history.contract import HistoryBackend
from . import costs, transitions
from . import numerics as rpl
from .cloaks import cloak
from .crowd import CrowdLines
from .message import MAX_LINE_BODY, Message, ParseError, parse_line, too_long
from .model import Client, Sink
from .multiline import BatchError, paid_at_the_close
from .names import casefold
from .slowwork import MAX_WAITING, Failed, Pending, Runner, run_inline
from .state import ChatState
from .timeouts import TimeoutRounds
from .transitions import accounts
from .wire import encode


@dataclass(frozen=True, slots=True)
class Command:
    """A command's handler and what must hold before it runs.

    ``handle_line`` checks the preconditions once (registered yet? enough
    parameters?) so a handler starts from a valid message. Handlers are
    plain functions ``(core, client, msg) -> None`` that answer through the
    core; the table of them (``commands.table``) is handed in by the runtime.
    """

    handler: Callable[[ChatCore, Client, Message], None]
    min_params: int = 0
    before_registration: bool = False
    counts_as_activity: bool = True


CommandTable = Mapping[str, Command]
T = TypeVar("T")


class ChatCore(ChatState):
    """One chat server's behaviour, with no I/O of its own."""

    def __init__(
        self,
        config: NodeConfig,
        history: HistoryBackend,
        commands: CommandTable,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(config, history, clock)
        self.commands = commands
        #: Where slow work runs (``slowwork``): at once, unless the runtime hands in a worker.
        self.offload: Runner = run_inline
        self.draining = False
        self.timeouts = TimeoutRounds()
        #: Lines to a crowd (a channel over ``BULK_FANOUT``), run in a slice of the flush.
        self.crowds = CrowdLines(self.output, self.channels, self._admit_now, self._line_failed)

    # What the HTTP adapter reports.

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
        """Clients that completed registration (of this network, on any server)."""
        return len(self.nicks)

    def unacknowledged(self) -> int:
        """Messages whose acknowledgement is still held back."""
        return self.replication.unacknowledged()

    # Connection events.

    def connect(
        self, sink: Sink, address: str, secure: bool = False, certfp: str | None = None
    ) -> Client | None:
        """A new connection. Returns None (after an ERROR) when a limit refuses it.

        ``certfp``: the SHA-256 fingerprint of the TLS client certificate, if any.
        """
        limits = self.config.limits
        reason: str | None = None
        now = self.clock()
        block = self.throttle.block(address)
        throttled = self.throttle.admit(block, now)
        if self.draining:
            reason = "Server is shutting down, please reconnect to another server"
        elif len(self.clients) >= limits.max_clients:
            reason = f"Server is full ({limits.max_clients} clients), try another server"
            self.stats.rejected_full += 1
        elif limits.max_per_address and self.per_address[address] >= limits.max_per_address:
            reason = f"Too many connections from your address ({limits.max_per_address})"
            self.stats.rejected_per_address += 1
        elif throttled is not None:
            reason = throttled
            self.stats.rejected_throttled += 1
        if reason is not None:
            line = Message("ERROR", [f"Closing Link: {address} ({reason})"])
            sink.write(encode(line, sink.kind))
            sink.close()
            return None
        client = Client(sink=sink, address=address, connected_at=now, secure=secure)
        client.certfp = certfp
        client.block = block
        self.throttle.opened(block)
        client.host = cloak(self.config.cloaks, address)
        client.last_heard = now
        client.last_active = now
        client.tokens = float(limits.flood_burst)
        client.tokens_at = now
        client.password_ok = self.config.password is None
        self.clients[client] = None
        self.per_address[address] += 1
        self.stats.connections += 1
        return client

    def receive_line(self, client: Client, data: bytes) -> None:
        """One line from a client, without its line ending."""
        if client.closed:
            return
        self.stats.lines_in += 1
        now = self.clock()
        client.last_heard = now
        client.ping_pending = False
        if len(data) > MAX_LINE_BODY - 2 and too_long(data):  # short lines: no look at tags
            self.input_too_long(client)
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
        if client.slow is not None and not client.delayed and not client.crowd_lines:
            # Waiting for slow work, the line is not paid for yet: it pays as it
            # runs (``_run_waiting``), so a multiline batch opened behind the
            # slow command is paid once, when it closes.
            self._wait_for_slow(client, client.slow, line, paid=False)
            return
        if self.crowds.take(client, line):
            # It runs in a slice of this turn's flush, after the small chats.
            # Flood control sees it only then: so many waiting is a flood already.
            if client.crowd_lines > self._most_waiting() + self.config.limits.flood_burst:
                self._excess_flood(client)
            return
        self._admit(client, line, now)

    def _admit_now(self, client: Client, line: str) -> None:
        self._admit(client, line, self.clock())

    def _line_failed(self, client: Client) -> None:
        """A command raised (a bug, logged): the client learns, the server lives."""
        self.quit(client, "Server error")

    def _admit(self, client: Client, line: str, now: float) -> None:
        """Flood control, then the command: a line over the rate waits its turn."""
        if not client.delayed and paid_at_the_close(client, line):
            pass  # (behind held lines it waits its turn: the batch it opens may be held)
        elif not self.flood.admit(client, now):
            if not self.flood.hold(client, line):
                self._excess_flood(client)
            return
        self.handle_line(client, line)

    def _most_waiting(self) -> int:
        """Lines that may wait behind slow work or a line to a crowd: as many as flood
        control would have queued (a paste after a login), at least ``MAX_WAITING``."""
        return max(MAX_WAITING, self.config.limits.flood_max_queued)

    def _excess_flood(self, client: Client) -> None:
        self.stats.excess_flood += 1
        self.quit(client, "Excess Flood")

    def input_too_long(self, client: Client) -> None:
        """The transport met a line longer than any legal line and discarded it."""
        self.stats.input_too_long += 1
        self.reply(client, rpl.ERR_INPUTTOOLONG, "Input line was too long")

    def disconnect(self, client: Client, reason: str) -> None:
        """The transport lost the connection (the client did not QUIT).

        What the client sent before it went runs first, as another server
        would run what it had read: its lines to a crowd now, and the lines
        behind its slow work (``NS IDENTIFY`` then a message, then a hang-up:
        a notification bot) once that work is done. Lines flood control holds
        (over the rate) go with the connection, as they always did, and a
        client not registered yet (SASL during registration) just goes: it
        is not introduced to the network for that.
        """
        try:
            self.crowds.run_client(client)
        finally:
            if not client.closed:  # (one of those lines may have been its QUIT)
                self._quit_when_idle(client, reason)

    def _quit_when_idle(self, client: Client, reason: str) -> None:
        pending = client.slow
        if pending is not None and client.registered:
            if pending.hung_up is None:  # (a WebSocket reports its close twice)
                pending.hung_up = reason  # ``_slow_done`` quits it after its lines
            return
        transitions.quit_(self, client, reason)

    def drop(self, clients: list[Client], reason: str, leaving: Container[Client] = ()) -> None:
        """The transports close these connections together (SendQ exceeded);
        ``leaving``: clients to be dropped next, who need no QUIT of these."""
        for client in clients:  # what each sent before it overflowed, first
            self.crowds.run_client(client)
        transitions.users.quit_many(self, [c for c in clients if not c.closed], reason, leaving)

    def quit(self, client: Client, reason: str, error: str | None = None) -> None:
        """Disconnect a local client: tell its channels, send ERROR, close the connection."""
        if client.closed:
            return
        closing = Message("ERROR", [error or f"Closing Link: {client.host} ({reason})"])
        transitions.quit_(self, client, reason)
        self.hang_up(client, closing)

    # Cost budgets (``costs``).

    def afford(self, client: Client, kind: costs.Kind, command: str, cost: float = 1.0) -> bool:
        """May ``client`` spend ``cost`` of ``kind`` now? If not it is told why, and when."""
        seconds = costs.wait(client, self.config.limits, kind, cost, self.clock())
        if seconds == 0.0:
            return True
        self.stats.rate_limited += 1
        text = costs.refusal(kind, seconds)
        if kind == "history":
            self.fail(client, "CHATHISTORY", "RATE_LIMITED", command, text)
        elif kind == "nick":
            self.reply(client, rpl.ERR_NICKTOOFAST, command, text)
        else:
            self.reply(client, rpl.RPL_TRYAGAIN, command, text)
        return False

    def charge(self, client: Client, kind: costs.Kind, cost: float) -> None:
        """Take what a command cost from the client's budget of ``kind``."""
        costs.charge(client, self.config.limits, kind, cost, self.clock())

    # Commands.

    def handle_line(self, client: Client, line: str) -> None:
        """Parse and run one command, with labeled-response wrapping.

        While the client's last command waits for slow work, the line waits too.
        """
        pending = client.slow
        if pending is not None:
            self._wait_for_slow(client, pending, line, paid=True)
            return
        try:
            msg = parse_line(line)
        except ParseError:
            return  # empty lines and tag-only lines are ignored, as RFC 1459 says
        command = self.commands.get(msg.command)
        output = self.output
        output.begin(client, msg)
        try:
            if "batch" in msg.tags and msg.command != "BATCH" and self._batch_line(client, msg):
                pass
            elif command is None:
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
            output.finish(client)

    def slow(self, client: Client, work: Callable[[], T], then: Callable[[T], None]) -> None:
        """Run ``work`` off the event loop, then ``then(result)`` as the rest of the command.

        Called last by a command's handler. The client's next lines wait
        until ``then`` has run; its replies go out then, with the command's
        label (``slowwork``). Work whose client has quit by the time it
        would start is skipped (one that only hung up still has its lines
        run, see ``disconnect``).
        """
        pending = Pending(then)
        client.slow = pending
        self.stats.slow_work += 1
        self.stats.slow_work_running += 1

        def unless_gone() -> T | None:
            return None if client.closed else work()  # a flag read: safe from a thread

        self.offload(unless_gone, lambda result: self._slow_done(client, pending, result))

    def _slow_done(self, client: Client, pending: Pending, result: Any) -> None:
        self.stats.slow_work_running -= 1
        if client.slow is not pending:
            return
        client.slow = None
        if client.closed:
            return
        output = self.output
        if output.current is client:  # done at once: still inside the command
            self._slow_result(client, pending, result)
            return
        output.resume(client, pending.label)
        try:
            self._slow_result(client, pending, result)
        finally:
            output.finish(client)
            try:
                self._run_waiting(client, pending)
            finally:  # (even if a line raised: no client without a connection stays)
                if pending.hung_up is not None and not client.closed:
                    self._quit_when_idle(client, pending.hung_up)

    def _slow_result(self, client: Client, pending: Pending, result: Any) -> None:
        if isinstance(result, Failed):  # a bug in the work: the client learns, the server lives
            self.quit(client, f"Server error ({type(result.error).__name__})")
            return
        pending.then(result)

    def _wait_for_slow(self, client: Client, pending: Pending, line: str, paid: bool) -> None:
        """``line`` waits behind the client's slow work; too many waiting is a flood."""
        pending.lines.append((line, paid))
        if len(pending.lines) > self._most_waiting():
            self._excess_flood(client)

    def _run_waiting(self, client: Client, pending: Pending) -> None:
        """The lines that waited for ``pending``, in order; a line that starts more slow
        work makes the rest wait again, as they were.

        A line flood control had released is run; one that came in meanwhile
        is admitted now, as it would have been had it come in now.
        """
        waiting = pending.lines
        while waiting and not client.closed:
            if client.slow is not None:
                client.slow.lines.extend(waiting)
                waiting.clear()
                return
            line, paid = waiting.popleft()
            if paid:
                self.handle_line(client, line)
            else:
                self._admit(client, line, self.clock())

    def _batch_line(self, client: Client, msg: Message) -> bool:
        """A line of the client's open multiline batch (or of one that failed): taken here.

        False when the client has no such batch: the line runs as a command.
        """
        batch = client.multiline
        if batch is None:
            return msg.tags["batch"] == client.dropped_batch and client.dropped_batch is not None
        try:
            batch.add(msg)
        except BatchError as error:
            client.multiline, client.dropped_batch = None, batch.ref
            self.fail(client, "BATCH", error.code, *error.context, error.description)
        return True

    # Time.

    def tick(self) -> None:
        """Called a few times a second: delayed lines, timeouts, keepalive pings."""
        now = self.clock()
        if self.flood.throttled:
            self.flood.release(now, self.handle_line, paid_at_the_close)
        if self.timeouts.begin(now, self.clients):  # once a second
            self.replication.report_overdue()
            for client in accounts.nicks_due(self, now):
                self._take_nick_back(client)
        for client in self.timeouts.share():
            if not client.closed:
                self._time_out(client, now)

    def _time_out(self, client: Client, now: float) -> None:
        """Time out a registration, ping a quiet client, quit one silent past its ping."""
        limits = self.config.limits
        if not client.registered:
            if now - client.connected_at > limits.registration_timeout:
                self.quit(client, "Registration timed out")
            return
        silent = now - client.last_heard
        if client.ping_pending:
            if silent > limits.ping_interval + limits.ping_timeout:
                seconds = int(limits.ping_interval + limits.ping_timeout)
                self.quit(client, f"Ping timeout: {seconds} seconds")
        elif silent > limits.ping_interval:
            client.ping_pending = True
            self.send(client, Message("PING", [self.config.name]))

    def _take_nick_back(self, client: Client) -> None:
        """The grace period for a registered nick is over: the holder becomes a guest."""
        guest = f"{self.config.accounts.guest_prefix}{client.uid}"
        if casefold(guest) in self.nicks:
            return
        accounts.service_notice(
            self,
            client,
            accounts.NICKSERV,
            f"You did not log in for the registered nick {client.nick}: you are now {guest}",
        )
        transitions.nick(self, client, guest, self.clock())

    # Configuration and shutdown.

    def reload(self, config: NodeConfig) -> list[str]:
        """Swap in a new configuration; returns what could not change at run time."""
        current = self.config
        fixed = {
            "name": "name",
            "server_id": "serverId",
            "listeners": "listeners",
            "history": "history",
            "event_loop": "eventLoop",
        }
        ignored = [
            label for key, label in fixed.items() if getattr(config, key) != getattr(current, key)
        ]
        self.config = config.model_copy(update={key: getattr(current, key) for key in fixed})
        self.flood.limits = self.config.limits
        self.throttle.configure(self.config.limits.throttle)
        self.monitors.limit = self.config.limits.max_monitor
        self.replication.links = self.config.links
        return ignored

    def begin_drain(self) -> None:
        """Stop taking clients and ask the connected ones to move elsewhere."""
        self.draining = True
        self.crowds.on = False  # lines run as they are read (those waiting still first)
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

    def flush(self) -> None:
        """Hand every client its queued bytes (the runtime calls this once a turn)."""
        self.output.flush()
