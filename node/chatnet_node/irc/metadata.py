"""Metadata (IRCv3 ``draft/metadata-2``): key-value pairs on users and channels.

A user sets keys on itself (``METADATA * SET url :https://...``), a
channel operator on its channel; clients subscribe to the keys they
understand and are told when one changes on a user they share a channel
with, or on a channel they are in. Every server keeps every user's and
channel's metadata (link events and bursts carry it). What is here: the
rules for keys and values, the limits, and the lines clients see. Plain
functions, no I/O.
"""

from __future__ import annotations

import re

from .message import Message

CAP = "draft/metadata-2"
#: Keys a client may subscribe to, and keys a user or channel may hold.
MAX_SUBS = 50
MAX_KEYS = 20
#: Bytes of one value (a METADATA line must stay well within 512 bytes).
MAX_VALUE_BYTES = 300
MAX_KEY_LENGTH = 64
CAP_VALUE = f"maxsub={MAX_SUBS},maxkey={MAX_KEYS}"
VISIBILITY = "*"  # every key here is visible to everyone
_KEY = re.compile(r"[a-z0-9_.\-][a-z0-9_.:\-]*")


def valid_key(key: str) -> bool:
    """``A-Z a-z 0-9 _ . : -``, not starting with ``:`` (keys are case-insensitive)."""
    return len(key) <= MAX_KEY_LENGTH and _KEY.fullmatch(key.lower()) is not None


def valid_value(value: str) -> bool:
    return len(value.encode()) <= MAX_VALUE_BYTES


def notice(source: str, target: str, key: str, value: str | None) -> Message:
    """``METADATA <target> <key> * [:<value>]``: a change, as subscribers see it."""
    params = [target, key, VISIBILITY] + ([value] if value is not None else [])
    return Message("METADATA", params, source)


def subscribed(caps: set[str], subs: set[str] | None, key: str) -> bool:
    """Is a client told of changes to ``key``?"""
    return CAP in caps and subs is not None and key in subs
