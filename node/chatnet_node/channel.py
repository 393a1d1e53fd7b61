"""A channel: members with their status, modes, bans, invites and topic.

Plain state, no I/O. Channel modes: ``i`` invite-only, ``m`` moderated,
``n`` no outside messages, ``t`` topic settable by operators only, ``s``
secret, ``k`` key, ``l`` member limit; list mode ``b``; member modes ``o`` and ``v``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .names import mask_matches

if TYPE_CHECKING:
    from .client import Client

FLAG_MODES = "imnst"
PREFIXES = (("o", "@"), ("v", "+"))


@dataclass(frozen=True, slots=True)
class Ban:
    """One entry of the ban list."""

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
    invited: set[str] = field(default_factory=set)
    topic: str = ""
    topic_by: str = ""
    topic_at: int = 0
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

    def can_speak(self, client: Client) -> bool:
        """May ``client`` send to this channel (modes n, m and bans)?"""
        status = self.members.get(client)
        if status is None:
            if "n" in self.flags:
                return False
        elif status:
            return True
        if "m" in self.flags:
            return False
        return not self.is_banned(client)

    def is_banned(self, client: Client) -> bool:
        """Does any ban mask match the client?"""
        hostmask = client.prefix
        return any(mask_matches(ban.mask, hostmask) for ban in self.bans)

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
