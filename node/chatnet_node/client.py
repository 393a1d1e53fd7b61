"""A connected client: its identity, capabilities, channels and flood bucket.

Plain state, no I/O. Output collects in the client's ``outbox`` and reaches
its ``Sink`` (implemented by the transport) when the core flushes: ``write``
never blocks and never reorders; a transport whose send queue overflows
closes the client instead of slowing the server.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from . import wire

if TYPE_CHECKING:
    from .channel import Channel
    from .message import Message


class Sink(Protocol):
    """Where a client's bytes go. Implemented by each transport."""

    kind: int  # wire.STREAM, wire.WS_TEXT or wire.WS_BINARY

    def write(self, data: bytes) -> None:
        """Send bytes. MUST NOT block and MUST NOT reorder; a full queue drops the client."""

    def close(self) -> None:
        """Close the connection once what was written has been sent."""


class NullSink:
    """The sink of a remote user: nothing is ever written to it."""

    kind = 0

    def write(self, data: bytes) -> None:
        """Discard (a remote user's server delivers to it)."""

    def close(self) -> None:
        """Nothing to close."""


NULL_SINK = NullSink()


@dataclass(eq=False, slots=True)
class Client:
    """One connection, registered or not. Compared by identity."""

    sink: Sink
    address: str
    connected_at: float
    secure: bool = False
    nick: str = "*"
    user: str = ""
    realname: str = ""
    host: str = ""
    registered: bool = False
    cap_negotiating: bool = False
    cap_version: int = 0
    caps: set[str] = field(default_factory=set)
    password_ok: bool = True
    channels: dict[str, Channel] = field(default_factory=dict)
    away: str | None = None
    invisible: bool = False
    oper: str | None = None
    last_active: float = 0.0
    last_heard: float = 0.0
    ping_pending: bool = False
    tokens: float = 0.0
    tokens_at: float = 0.0
    delayed: deque[str] | None = None  # lines held back by flood control
    closed: bool = False
    key: int = 0
    replies: list[Message] | None = None
    label: str | None = None
    holding: set[str] | None = None  # msgids this command's acknowledgement waits for
    outbox: list[bytes] = field(default_factory=list)
    hangup: bool = False
    uid: str = ""  # network-wide identity, stable across nick changes
    server: str = ""  # name of the server the user is connected to
    remote: bool = False  # True for users of other servers (no connection here)
    nick_ts: float = 0.0  # when the nick was taken: older wins a collision

    def __post_init__(self) -> None:
        self.update_wire_key()

    @property
    def prefix(self) -> str:
        """The client's full source, ``nick!user@host``."""
        return f"{self.nick}!{self.user}@{self.host}"

    def update_wire_key(self) -> None:
        """Recompute the wire key after capabilities change."""
        self.key = wire.wire_key(
            self.sink.kind, "message-tags" in self.caps, "server-time" in self.caps
        )

    def has(self, cap: str) -> bool:
        """Has the client enabled capability ``cap``?"""
        return cap in self.caps

    @property
    def user_modes(self) -> str:
        """User modes as MODE shows them, e.g. '+io'."""
        modes = ("i" if self.invisible else "") + ("o" if self.oper else "")
        return "+" + modes
