"""Bytes on the wire: encode a Message once per (capabilities, transport) kind.

Fan-out cost in Python is dominated by per-recipient work, so a message is
serialised once for every distinct *wire key* among its recipients, and the
resulting bytes are shared: a TCP line ends in CR LF, a WebSocket message is
one complete server-to-client frame (unmasked, so identical for every client).

A wire key packs the two capabilities that change a line's bytes (message-tags
and server-time) with the transport kind.
"""

from __future__ import annotations

from .message import Message, format_message, format_tags

# Transport kinds.
STREAM = 0
WS_TEXT = 1
WS_BINARY = 2

# Capability bits that change serialisation.
WANT_TAGS = 4  # message-tags: every tag
WANT_TIME = 8  # server-time: the time tag


def wire_key(kind: int, message_tags: bool, server_time: bool) -> int:
    """Combine a transport kind with the serialisation-relevant capabilities."""
    return kind | (WANT_TAGS if message_tags else 0) | (WANT_TIME if server_time else 0)


def ws_frame(payload: bytes, binary: bool = False) -> bytes:
    """One final, unmasked WebSocket data frame carrying ``payload``."""
    first = 0x82 if binary else 0x81
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 65536:
        return bytes((first, 126)) + size.to_bytes(2, "big") + payload
    return bytes((first, 127)) + size.to_bytes(8, "big") + payload


def line_for(msg: Message, key: int) -> str:
    """The line (no CR LF) a client with wire key ``key`` gets for ``msg``."""
    if not msg.tags or key & WANT_TAGS:
        return format_message(msg, with_tags=True)
    if key & WANT_TIME and "time" in msg.tags:
        head = format_tags({"time": msg.tags["time"]})
        return head + " " + format_message(msg, with_tags=False)
    return format_message(msg, with_tags=False)


def encode(msg: Message, key: int) -> bytes:
    """Serialise and frame ``msg`` for every client with wire key ``key``."""
    return frame_line(line_for(msg, key), key)


def frame_line(line: str, key: int) -> bytes:
    """Frame an already-serialised line for the transport in ``key``."""
    data = line.encode("utf-8", "replace")
    kind = key & 3
    if kind == STREAM:
        return data + b"\r\n"
    return ws_frame(data, binary=kind == WS_BINARY)
