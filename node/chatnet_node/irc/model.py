"""The two things a chat server is made of: clients and channels.

Plain state, no I/O.

* ``Client``: one user, connected here or (``remote=True``) on another server
  of the network: identity, capabilities, channels, flood bucket. Output
  collects in the client's ``outbox`` and reaches its ``Sink`` (implemented
  by a transport) when the core flushes: ``write`` never blocks and never
  reorders; a transport whose send queue overflows closes the client
  instead of slowing the server.
* ``Channel``: members with their status, modes, bans, invites and topic.
  Channel modes: ``i`` invite-only, ``m`` moderated, ``n`` no outside
  messages, ``t`` topic settable by operators only, ``s`` secret, ``k`` key,
  ``l`` member limit; list modes ``b`` (bans, and ``m:mask`` mutes: the
  user may join but not speak), ``e`` (ban exceptions) and ``I`` (invite
  exceptions); member modes ``o`` and ``v``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from . import wire
from .names import mask_matches

if TYPE_CHECKING:
    from .message import Message
    from .multiline import OpenBatch
    from .sasl import Exchange
    from .slowwork import Pending


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
    wallops: bool = False  # user mode +w: receives WALLOPS (this server only)
    bot: bool = False  # user mode +B: marked as a bot (IRCv3 bot-mode)
    oper: str | None = None
    last_active: float = 0.0
    last_heard: float = 0.0
    ping_pending: bool = False
    tokens: float = 0.0
    tokens_at: float = 0.0
    delayed: deque[str] | None = None  # lines held back by flood control
    crowd_lines: int = 0  # its lines waiting for a slice of the flush (``crowd``)
    multiline: OpenBatch | None = None  # a draft/multiline batch being sent
    metadata: dict[str, str] | None = None  # draft/metadata-2 keys set on this user
    metadata_subs: set[str] | None = None  # the keys this client subscribed to
    dropped_batch: str | None = None  # a batch that failed: its remaining lines are ignored
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
    account: str | None = None  # the account logged in to, as registered
    certfp: str | None = None  # SHA-256 of the TLS client certificate (local clients)
    sasl: Exchange | None = None  # a SASL exchange in progress
    slow: Pending | None = None  # slow work of its command under way: its lines wait
    nick_deadline: float | None = None  # when a registered nick it holds is taken back
    block: str | None = None  # the address block the connection throttle counts it under
    budgets: dict[str, tuple[float, float]] | None = None  # cost budgets: balance, when (costs)
    #: per history key, the msgids that ended the last CHATHISTORY AFTER pages sent (paging)
    history_pages: dict[str, tuple[str, ...]] | None = None

    def __post_init__(self) -> None:
        self.update_wire_key()

    @property
    def prefix(self) -> str:
        """The client's full source, ``nick!user@host``."""
        return f"{self.nick}!{self.user}@{self.host}"

    def update_wire_key(self) -> None:
        """Recompute the wire key after capabilities change."""
        caps = self.caps
        self.key = wire.wire_key(
            self.sink.kind, "message-tags" in caps, "server-time" in caps, "account-tag" in caps
        )

    def has(self, cap: str) -> bool:
        """Has the client enabled capability ``cap``?"""
        return cap in self.caps

    @property
    def user_modes(self) -> str:
        """User modes as MODE shows them, e.g. '+io'."""
        modes = (
            ("i" if self.invisible else "")
            + ("o" if self.oper else "")
            + ("w" if self.wallops else "")
            + ("B" if self.bot else "")
        )
        return "+" + modes


FLAG_MODES = "imnst"
PREFIXES = (("o", "@"), ("v", "+"))
#: The list modes: bans, ban exceptions, invite exceptions.
LIST_MODES = "beI"
#: The extban that mutes instead of keeping out (ISUPPORT ``EXTBAN=,m``).
MUTE_PREFIX = "m:"


@dataclass(frozen=True, slots=True)
class Ban:
    """One entry of a mask list (``+b``, ``+e`` or ``+I``)."""

    mask: str
    set_by: str
    set_at: int


@dataclass(eq=False, slots=True)
class Channel:
    """One channel on this server."""

    name: str
    created: int
    members: dict[Client, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=lambda: {"n", "t"})
    key: str | None = None
    limit: int | None = None
    bans: list[Ban] = field(default_factory=list)
    excepts: list[Ban] = field(default_factory=list)
    invex: list[Ban] = field(default_factory=list)
    invited: set[str] = field(default_factory=set)
    topic: str = ""
    topic_by: str = ""
    topic_at: int = 0
    metadata: dict[str, str] = field(default_factory=dict)  # draft/metadata-2
    _groups: dict[int, tuple[list[list[bytes]], dict[Client, None]]] | None = None
    _servers: frozenset[str] | None = None

    def add(self, client: Client, status: str) -> None:
        """Add a member with its status modes ('o', 'v', '' ...)."""
        self.members[client] = status
        self._groups = None
        self._servers = None

    def remove(self, client: Client) -> None:
        """Remove a member (no-op if absent)."""
        if self.members.pop(client, None) is not None:
            self._groups = None
            self._servers = None

    def invalidate(self) -> None:
        """Forget the fan-out groups (a member's capabilities changed)."""
        self._groups = None

    def fanout_groups(self) -> dict[int, tuple[list[list[bytes]], dict[Client, None]]]:
        """Members grouped by wire key: their outboxes, and themselves.

        Cached until membership changes, so a channel message costs one
        serialisation and one C-level append loop per group. Remote members
        are left out: their own servers deliver to them.
        """
        groups = self._groups
        if groups is None:
            groups = {}
            for member in self.members:
                if member.remote:
                    continue  # their own server delivers to them
                entry = groups.get(member.key)
                if entry is None:
                    entry = groups[member.key] = ([], {})
                entry[0].append(member.outbox)
                entry[1][member] = None
            self._groups = groups
        return groups

    def is_op(self, client: Client) -> bool:
        """Is ``client`` a channel operator here?"""
        return "o" in self.members.get(client, "")

    def servers(self) -> frozenset[str]:
        """Names of the servers with members here (interest routing), cached."""
        if self._servers is None:
            self._servers = frozenset(member.server for member in self.members)
        return self._servers

    def mask_list(self, mode: str) -> list[Ban]:
        """The list behind list mode ``b``, ``e`` or ``I``."""
        return {"b": self.bans, "e": self.excepts, "I": self.invex}[mode]

    def can_speak(self, client: Client) -> bool:
        """May ``client`` send to this channel (modes n, m, bans and mutes)?"""
        status = self.members.get(client)
        if status is None:
            if "n" in self.flags:
                return False
        elif status:
            return True
        if "m" in self.flags:
            return False
        if not self.bans:
            return True  # nothing to match (the path of most messages)
        return not self.is_banned(client) and not self.is_muted(client)

    def is_banned(self, client: Client) -> bool:
        """Does a ban keep the client out (a ban matches, no exception does)?"""
        return self._matched(client, self.bans, "") and not self._excepted(client)

    def is_muted(self, client: Client) -> bool:
        """Does an ``m:`` extban silence the client (and no exception lift it)?"""
        return self._matched(client, self.bans, MUTE_PREFIX) and not self._excepted(client)

    def is_invite_excepted(self, client: Client) -> bool:
        """May the client join this ``+i`` channel uninvited (an ``+I`` mask matches)?"""
        return self._matched(client, self.invex, "")

    def _excepted(self, client: Client) -> bool:
        # A ban exception lifts bans and mutes alike, whichever form it takes.
        return self._matched(client, self.excepts, "") or self._matched(
            client, self.excepts, MUTE_PREFIX
        )

    @staticmethod
    def _matched(client: Client, entries: list[Ban], prefix: str) -> bool:
        # A mask matches the host users see (a cloak, or account/NAME) and the
        # real address alike, so an operator's ban on an IP holds under a cloak.
        hostmasks = [client.prefix]
        if client.host != client.address:
            hostmasks.append(f"{client.nick}!{client.user}@{client.address}")
        for entry in entries:
            mask = entry.mask
            if prefix:
                if not mask.startswith(prefix):
                    continue
                mask = mask[len(prefix) :]
            elif mask.startswith(MUTE_PREFIX):
                continue
            if any(mask_matches(mask, hostmask) for hostmask in hostmasks):
                return True
        return False

    def has_status(self, client: Client, prefix: str) -> bool:
        """Has the member status ``prefix`` (``@``, ``+``) or a higher one?"""
        status = self.members.get(client, "")
        for mode, symbol in PREFIXES:
            if mode in status:
                return True
            if symbol == prefix:
                return False
        return False

    def prefix_of(self, client: Client, multi: bool) -> str:
        """The NAMES/WHO prefix of a member: highest only, or all with multi-prefix."""
        status = self.members.get(client, "")
        marks = [sym for mode, sym in PREFIXES if mode in status]
        if not marks:
            return ""
        return "".join(marks) if multi else marks[0]

    def mode_string(self, reveal_key: bool) -> tuple[str, list[str]]:
        """The channel's modes for RPL_CHANNELMODEIS: ('+ntk', ['key'])."""
        letters = "".join(sorted(self.flags))
        params: list[str] = []
        if self.key is not None:
            letters += "k"
            params.append(self.key if reveal_key else "*")
        if self.limit is not None:
            letters += "l"
            params.append(str(self.limit))
        return "+" + letters, params
