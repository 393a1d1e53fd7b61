"""Which server IDs a network may still give: none equal to, or whose hex begins like, one taken.

A msgid begins with its server's ID in hex (``chatnet_node.config.base.ids_clash``),
so two servers of one network may not have IDs whose hex begins alike. When a
manifest breaks that rule, ``NetworkRules`` suggests the lowest free ID here.
"""

from __future__ import annotations

from chatnet_operator.api.fields import MAX_SERVER_ID

__all__ = ["free_id_hint", "free_server_ids"]


def free_server_ids(taken: set[int], count: int) -> int | None:
    """The lowest ID a set of ``count`` may start at, clashing with none of ``taken``
    nor within itself (``ids_clash``); None: no room."""
    taken_hex = {f"{sid:x}" for sid in taken}
    begun = _prefixes(taken_hex)  # a new ID among these begins a taken one
    for start in range(1, MAX_SERVER_ID - count + 2):
        mine: set[str] = set()
        mine_begun: set[str] = set()
        for sid in range(start, start + count):
            hex_id = f"{sid:x}"
            own = _prefixes({hex_id})
            if hex_id in begun or hex_id in mine_begun or own & taken_hex or own & mine:
                break
            mine.add(hex_id)
            mine_begun |= own
        else:
            return start
    return None


def _prefixes(hex_ids: set[str]) -> set[str]:
    """Every prefix of these hex IDs, each ID itself included."""
    return {hex_id[:width] for hex_id in hex_ids for width in range(1, len(hex_id) + 1)}


def free_id_hint(taken: set[int], count: int) -> str:
    """The end of a fix, ``, e.g. serverId: N`` for a set of ``count`` (nothing: none free)."""
    free = free_server_ids(taken, max(count, 1))
    return f", e.g. serverId: {free}" if free is not None else ""
