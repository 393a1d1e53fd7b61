"""Nick and channel names: case mapping and the rules a valid name follows.

The network uses the ``rfc1459`` case mapping (advertised in ISUPPORT), under
which ``[]\\~`` are the upper-case forms of ``{}|^``.
"""

from __future__ import annotations

import re

NICKLEN = 30
CHANNELLEN = 50
CHANTYPES = "#"

_FOLD = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~",
    "abcdefghijklmnopqrstuvwxyz{}|^",
)
_NICK_RE = re.compile(r"^[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]*$")
_CHANNEL_FORBIDDEN = re.compile(r"[\x00\x07\r\n ,:]")


def casefold(name: str) -> str:
    """Fold a nick or channel name for comparison (rfc1459 mapping)."""
    return name.translate(_FOLD)


def is_valid_nick(nick: str) -> bool:
    """True for 1..NICKLEN characters: a letter or special first, then also digits and '-'."""
    return 0 < len(nick) <= NICKLEN and _NICK_RE.match(nick) is not None


def is_channel_name(name: str) -> bool:
    """True when ``name`` looks like a channel (starts with a channel prefix)."""
    return bool(name) and name[0] in CHANTYPES


def is_valid_channel(name: str) -> bool:
    """True for '#' then 1..CHANNELLEN-1 characters without space, comma, colon or BEL."""
    return (
        is_channel_name(name)
        and 1 < len(name) <= CHANNELLEN
        and _CHANNEL_FORBIDDEN.search(name) is None
    )


def mask_to_regex(mask: str) -> re.Pattern[str]:
    """Compile an IRC wildcard mask (``*`` and ``?``) into a case-insensitive regex."""
    folded = casefold(mask)
    pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in folded)
    return re.compile(f"^{pattern}$", re.DOTALL)


def mask_matches(mask: str, hostmask: str) -> bool:
    """Does ``nick!user@host`` match the wildcard ``mask``?"""
    return mask_to_regex(mask).match(casefold(hostmask)) is not None


def normalize_ban_mask(mask: str) -> str:
    """Complete a partial ban mask the way servers do: 'nick' -> 'nick!*@*'.

    A mute extban keeps its prefix: 'm:troll' -> 'm:troll!*@*'.
    """
    if mask.startswith("m:"):
        return "m:" + normalize_ban_mask(mask[2:])
    if "!" not in mask and "@" not in mask:
        return f"{mask}!*@*"
    if "!" not in mask:
        return f"*!{mask}"
    if "@" not in mask:
        return f"{mask}@*"
    return mask
