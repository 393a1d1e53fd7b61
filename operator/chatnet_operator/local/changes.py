"""What to do with running servers when the declared network changes.

Like ``kubectl apply``: servers that disappeared stop, new ones start, those
whose identity or listeners changed restart, and those with only live
settings changed (limits, MOTD, links) get their new file and a reload, so
their clients stay connected. Untouched servers are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from chatnet_operator.plan.desired import ServerPlan

#: NodeConfig fields a running node cannot change (it keeps the old value on reload).
RESTART_FIELDS = ("name", "server_id", "listeners", "history")


@dataclass(frozen=True)
class Changes:
    """Server names per action."""

    start: list[str] = field(default_factory=list)
    stop: list[str] = field(default_factory=list)
    restart: list[str] = field(default_factory=list)
    reload: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.start or self.stop or self.restart or self.reload)


def diff_servers(old: Mapping[str, ServerPlan], new: Mapping[str, ServerPlan]) -> Changes:
    """The actions that turn the servers of ``old`` into those of ``new``."""
    changes = Changes(
        start=[name for name in new if name not in old],
        stop=[name for name in old if name not in new],
    )
    for name in new:
        if name not in old:
            continue
        before, after = old[name], new[name]
        if before == after:
            changes.unchanged.append(name)
        elif any(
            getattr(before.node, attr) != getattr(after.node, attr) for attr in RESTART_FIELDS
        ):
            changes.restart.append(name)
        else:
            changes.reload.append(name)
    return changes
