"""Bytes on the wire: encode a Message once per (capabilities, transport) kind.

Fan-out cost in Python is dominated by per-recipient work, so a message is
serialised once for every distinct *wire key* among its recipients, and the
resulting bytes are shared: a TCP line ends in CR LF, a WebSocket message is
one complete server-to-client frame (unmasked, so identical for every client).

A wire key packs the capabilities that change a line's bytes with the
transport kind. A tag reaches a client only under the capability that
carries it: ``time`` under server-time, ``account`` under account-tag;
``label`` and ``batch`` are only ever attached for clients that asked for
labeled-response and batch, so they pass; every other tag (``msgid``,
client-only ``+tags``...) needs message-tags. A client that negotiated nothing gets plain lines.
"""

from __future__ import annotations

from .message import Message, format_message, format_tags

# Transport kinds.
STREAM = 0
WS_TEXT = 1
WS_BINARY = 2

#: Bytes of a line after its tags, CR LF not counted (RFC 1459, IRCv3 WebSocket).
MAX_BODY = 510

# Capability bits that change serialisation.
WANT_TAGS = 4  # message-tags: msgid, client-only tags and the like
WANT_TIME = 8  # server-time: the time tag
WANT_ACCOUNT = 16  # account-tag: the account tag
WANT_ALL = WANT_TAGS | WANT_TIME | WANT_ACCOUNT
#: Tags attached only for the clients that asked for them (labeled-response, batch).
_ATTACHED_ON_REQUEST = frozenset(("label", "batch"))


def wire_key(kind: int, message_tags: bool, server_time: bool, account_tag: bool = False) -> int:
    """Combine a transport kind with the serialisation-relevant capabilities."""
    return (
        kind
        | (WANT_TAGS if message_tags else 0)
        | (WANT_TIME if server_time else 0)
        | (WANT_ACCOUNT if account_tag else 0)
    )


def ws_frame(payload: bytes, binary: bool = False) -> bytes:
    """One final, unmasked WebSocket data frame carrying ``payload``."""
    first = 0x82 if binary else 0x81
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 65536:
        return bytes((first, 126)) + size.to_bytes(2, "big") + payload
    return bytes((first, 127)) + size.to_bytes(8, "big") + payload


def _cut_body(data: bytes) -> bytes:
    start = data.find(b" ") + 1 if data.startswith(b"@") else 0
    if len(data) - start <= MAX_BODY:
        return data
    end = start + MAX_BODY
    while end > start and data[end] & 0xC0 == 0x80:  # not inside a UTF-8 character
        end -= 1
    return data[:end]


def line_for(msg: Message, key: int, body: str | None = None) -> str:
    """The line (no CR LF) a client with wire key ``key`` gets for ``msg``.

    ``body``: the message without its tags (``format_message(msg, with_tags=False)``),
    when the caller has it already (a fan-out serialises it once for all its keys).
    """
    if body is None:
        body = format_message(msg, with_tags=False)
    tags = msg.tags
    if not tags:
        return body
    if key & WANT_ALL == WANT_ALL:
        return format_tags(tags) + " " + body
    if not key & WANT_ALL and "label" not in tags and "batch" not in tags:
        return body  # a plain client: no tag at all
    shown = {name: value for name, value in tags.items() if _shown(name, key)}
    if not shown:
        return body
    return format_tags(shown) + " " + body


def _shown(tag: str, key: int) -> bool:
    """May a client with wire key ``key`` see ``tag``?"""
    if tag == "time":
        return bool(key & WANT_TIME)
    if tag == "account":
        return bool(key & WANT_ACCOUNT)
    return tag in _ATTACHED_ON_REQUEST or bool(key & WANT_TAGS)


def encode(msg: Message, key: int, body: str | None = None) -> bytes:
    """Serialise and frame ``msg`` for every client with wire key ``key`` (``body``:
    as for ``line_for``)."""
    return frame_line(line_for(msg, key, body), key)


def frame_line(line: str, key: int) -> bytes:
    """Frame an already-serialised line for the transport in ``key``.

    The part after the tags is cut to ``MAX_BODY`` bytes, at a character
    boundary: relayed with its source, a message a client sent at full
    length would pass the limit every client may rely on (RFC 1459's 512
    bytes with CR LF; 510 without, over WebSocket).
    """
    data = line.encode("utf-8", "replace")
    if len(data) > MAX_BODY:
        data = _cut_body(data)
    kind = key & 3
    if kind == STREAM:
        return data + b"\r\n"
    return ws_frame(data, binary=kind == WS_BINARY)
