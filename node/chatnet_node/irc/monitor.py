"""MONITOR (IRCv3): who watches which nick, and the numerics that tell them.

Only clients connected here have lists; the nicks they watch may be online
anywhere in the network, because every server knows every user. So a
server tells its own watchers when a nick comes online (``online``: a user
registers here, arrives in a burst or takes the nick), goes offline
(``offline``: quits, is split away, drops the nick), and, for clients with
extended-monitor, of the changes their channels would show them.

Plain state, no I/O: the transitions call in, and the numerics go out
through the output they are given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from . import numerics as rpl
from .message import Message
from .model import Client
from .names import casefold

#: A numeric's list of targets is cut to stay well inside a 512-byte line.
LIST_BUDGET = 400
EXTENDED = ("extended-monitor", "draft/extended-monitor")

Send = Callable[[Client, Message], None]


class Monitors:
    """Every local client's monitor list, and the reverse index by folded nick."""

    def __init__(self, limit: int) -> None:
        self.limit = limit  # replaced on a configuration reload
        self._lists: dict[Client, dict[str, str]] = {}  # client -> folded -> as given
        self._watchers: dict[str, dict[Client, None]] = {}  # folded -> clients

    def targets(self, client: Client) -> list[str]:
        """The nicks ``client`` watches, as it wrote them, in the order it added them."""
        return list(self._lists.get(client, {}).values())

    def add(self, client: Client, nicks: Iterable[str]) -> tuple[list[str], list[str]]:
        """Watch ``nicks``; returns (added, refused because the list is full)."""
        mine = self._lists.setdefault(client, {})
        added: list[str] = []
        refused: list[str] = []
        for nick in nicks:
            folded = casefold(nick)
            if folded in mine:
                continue
            if len(mine) >= self.limit:
                refused.append(nick)
                continue
            mine[folded] = nick
            self._watchers.setdefault(folded, {})[client] = None
            added.append(nick)
        return added, refused

    def remove(self, client: Client, nicks: Iterable[str]) -> None:
        mine = self._lists.get(client, {})
        for nick in nicks:
            folded = casefold(nick)
            if mine.pop(folded, None) is not None:
                self._unwatch(folded, client)

    def forget(self, client: Client) -> None:
        """Clear ``client``'s list (MONITOR C, or it left)."""
        for folded in self._lists.pop(client, {}):
            self._unwatch(folded, client)

    def watchers(self, nick: str) -> list[Client]:
        """The clients watching ``nick``."""
        return list(self._watchers.get(casefold(nick), ()))

    def _unwatch(self, folded: str, client: Client) -> None:
        watching = self._watchers.get(folded)
        if watching is not None:
            watching.pop(client, None)
            if not watching:
                del self._watchers[folded]

    # Notifications.

    def online(self, user: Client, send: Send, server: str) -> None:
        """``user`` is online under its current nick: tell who watches it."""
        for watcher in self.watchers(user.nick):
            send(watcher, Message(rpl.RPL_MONONLINE, [watcher.nick, user.prefix], server))

    def offline(self, nick: str, send: Send, server: str) -> None:
        """``nick`` is gone (as it was written): tell who watched it."""
        for watcher in self.watchers(nick):
            send(watcher, Message(rpl.RPL_MONOFFLINE, [watcher.nick, nick], server))

    def extended(self, user: Client, cap: str) -> list[Client]:
        """Watchers of ``user`` with extended-monitor and ``cap``: they see its changes too."""
        return [
            watcher
            for watcher in self.watchers(user.nick)
            if watcher.has(cap) and any(watcher.has(ext) for ext in EXTENDED)
        ]


def chunks(items: list[str], budget: int = LIST_BUDGET) -> list[str]:
    """Comma-joined lists of ``items``, each within ``budget`` characters."""
    lines: list[str] = []
    current: list[str] = []
    size = 0
    for item in items:
        if current and size + len(item) + 1 > budget:
            lines.append(",".join(current))
            current, size = [], 0
        current.append(item)
        size += len(item) + 1
    if current:
        lines.append(",".join(current))
    return lines
