"""The link protocol between servers: ``chatnet-link.v1`` messages.

One JSON object per WebSocket text message, validated by pydantic models
(a discriminated union on ``t``). Malformed input raises ``LinkProtocolError``
with a reason the session sends to the peer before closing.

Handshake (both sides, symmetric):

1. each side sends ``hello``: network, server name and ID, role, protocol
   version and a random challenge;
2. each side answers the other's challenge with ``auth``: an HMAC-SHA256 of
   the challenge, keyed by the shared link secret (the secret itself never
   crosses the wire);
3. each side checks the answer and the peer's identity (``check_hello``) and
   sends ``ready`` or ``error``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from ..config import valid_server_name
from ..config.base import ids_clash, ids_clash_reason
from ..irc.events import Event

PROTOCOL = "chatnet-link.v1"
VERSION = 1
MAX_LINK_MESSAGE = 64 * 1024
#: Most disruptions in one ``disruptions`` message (a server remembers 64 it
#: saw and 64 it was told), and most servers one names.
MAX_SPANS = 128
MAX_NAMED = 64


class LinkProtocolError(Exception):
    """A peer broke the protocol; the message says how (sent to the peer)."""


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hello(_Msg):
    t: Literal["hello"] = "hello"
    network: str
    server: str
    sid: int = Field(ge=0, le=4095)
    role: Literal["hub", "leaf", "control"]
    version: int
    challenge: str = Field(min_length=32, max_length=128)
    description: str = ""


class Auth(_Msg):
    t: Literal["auth"] = "auth"
    response: str
    #: With ``links.signAdverts``: the server's link certificate and its signature
    #: of the peer's challenge in its own name (``links.signatures.auth_payload``).
    cert: str | None = None
    sig: str | None = None


class Ready(_Msg):
    t: Literal["ready"] = "ready"


class Error(_Msg):
    t: Literal["error"] = "error"
    reason: str


class Ping(_Msg):
    t: Literal["ping"] = "ping"
    token: str


class Pong(_Msg):
    t: Literal["pong"] = "pong"
    token: str


class Advert(_Msg):
    """A link-state advertisement, flooded to every server."""

    t: Literal["lsa"] = "lsa"
    server: str
    sid: int
    seq: int
    neighbours: list[str]
    description: str = ""
    role: Literal["hub", "leaf", "control"] = "hub"
    #: With ``links.signAdverts``: the server's link certificate (DER, base64) and
    #: its signature of the fields above (``links.signatures``). Left out when
    #: unset, so a server of an earlier release still reads unsigned adverts.
    cert: str | None = None
    sig: str | None = None

    @field_validator("server")
    @classmethod
    def _server_name(cls, name: str) -> str:
        if not valid_server_name(name):
            raise ValueError(f"not a server name: {name!r}")
        return name

    @field_validator("neighbours")
    @classmethod
    def _neighbour_names(cls, names: list[str]) -> list[str]:
        bad = [name for name in names if not valid_server_name(name)]
        if bad:
            raise ValueError(f"not server names: {bad!r}")
        if len(set(names)) != len(names):
            raise ValueError("a neighbour is listed twice")
        return names


class Counts(_Msg):
    """A server's connection counts per address block (the connection throttle).

    Flooded to every server like an advert, newest ``seq`` wins; each entry is
    ``[block, connections open, attempts in the window]`` (``irc.throttle``).
    """

    t: Literal["counts"] = "counts"
    server: str
    seq: int
    blocks: list[tuple[str, int, int]] = Field(max_length=1000)
    #: With ``links.signAdverts``: the server's signature, checked with the
    #: certificate of its own latest advert (``links.signatures``).
    sig: str | None = None


# Failover, between neighbours only (never routed): a server confirms what it
# stored of its neighbour's messages, and two servers whose link comes up
# compare the channel messages of a recent window and send what the other lacks.


class WantBurst(_Msg):
    """The sender had lost sight of the receiver's side: please burst to it.

    Each side bursts when the other was unreachable from where it stands; a
    side that has not noticed a split yet (the peer re-homed to it before
    its own link to the dead server timed out) bursts when asked.
    """

    t: Literal["want-burst"] = "want-burst"


class Stored(_Msg):
    """These messages, sent by the peer's clients, are now stored here."""

    t: Literal["stored"] = "stored"
    ids: list[str]


class SyncIds(_Msg):
    """The msgids this server saw since ``since``, in parts; the last has ``done``."""

    t: Literal["sync"] = "sync"
    since: float
    ids: list[str]
    done: bool
    waiting: list[str] = []  # the sender's own messages still waiting for a ``stored``


def _server_names(names: dict[str, float]) -> dict[str, float]:
    bad = [name for name in names if not valid_server_name(name)]
    if bad:
        raise ValueError(f"not server names: {bad[:3]!r}")
    return names


class DisruptionSpan(BaseModel):
    """One disruption: it settles at ``end`` unless ``missing`` servers keep it open."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    start: float
    end: float
    missing: dict[str, float] = Field(default={}, max_length=MAX_NAMED)

    _names = field_validator("missing")(_server_names)


class Disruptions(_Msg):
    """The sender's recent disruptions, on the hybrid clock (``irc.disruptions``).

    Sent when a link comes up, and again to every neighbour when the sender
    has just been told all it did not know. ``unknown``: from when to when
    the sender may have missed disruptions (it started since, and no
    informed neighbour has told it yet); None when it is informed. ``lost``:
    the servers it has lost and not seen back, since when.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    t: Literal["disruptions"] = "disruptions"
    spans: list[DisruptionSpan] = Field(max_length=MAX_SPANS)
    unknown: tuple[float, float] | None = None
    lost: dict[str, float] = Field(default={}, max_length=MAX_NAMED)
    #: More parts follow (the list did not fit one message): the sender is
    #: informed (``unknown`` None) only as of the last part, which has ``lost``.
    more: bool = False

    _names = field_validator("lost")(_server_names)


T = TypeVar("T")


def cut(items: Iterable[T], cost: Callable[[T], int], budget: int, most: int) -> list[list[T]]:
    """``items`` in order, in lists of at most ``most`` whose ``cost`` (bytes on the
    wire) adds up to at most ``budget``; an item costing more still goes, alone.

    What keeps each list in one link message, under ``MAX_LINK_MESSAGE``.
    """
    parts: list[list[T]] = []
    part: list[T] = []
    size = 0
    for item in items:
        length = cost(item)
        if part and (size + length > budget or len(part) == most):
            parts.append(part)
            part, size = [], 0
        part.append(item)
        size += length
    if part:
        parts.append(part)
    return parts


def disruption_parts(
    spans: list[DisruptionSpan],
    unknown: tuple[float, float] | None,
    lost: dict[str, float],
) -> list[Disruptions]:
    """``spans`` as ``disruptions`` messages, each well under ``MAX_LINK_MESSAGE``.

    A disruption of a big split names up to 64 missing servers: 128 of them
    would not fit one message, which the receiver would then drop whole.
    """
    size = MAX_LINK_MESSAGE // 2
    *more, last = cut(spans, lambda span: len(span.model_dump_json()) + 1, size, MAX_SPANS) or [[]]
    return [Disruptions(spans=part, unknown=unknown, more=True) for part in more] + [
        Disruptions(spans=last, unknown=unknown, lost=lost)
    ]


class ReplayItem(BaseModel):
    """One channel message, with everything needed to deliver and store it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    o: str
    msgid: str
    ts: float
    source: str
    command: Literal["PRIVMSG", "NOTICE"]
    target: str
    text: str
    tags: dict[str, str] = {}


class Replay(_Msg):
    """Channel messages the receiver lacks (it delivers the new ones to its members)."""

    t: Literal["replay"] = "replay"
    items: list[ReplayItem]


AnyMessage = (
    Hello
    | Auth
    | Ready
    | Error
    | Ping
    | Pong
    | Advert
    | Counts
    | WantBurst
    | Stored
    | SyncIds
    | Replay
    | Disruptions
    | Event
)
LinkMessage = Annotated[AnyMessage, Field(discriminator="t")]
_ADAPTER: TypeAdapter[AnyMessage] = TypeAdapter(LinkMessage)


#: What no string of a link message may hold: written to a client, a CR or
#: LF would end the IRC line there and start another (any line, from any
#: source), and a NUL ends a line for many clients.
_LINE_BREAKERS = ("\\r", "\\n", "\\u00")  # as JSON writes them, in either form
#: Where a CR or LF is data: a multiline message's text (``irc.multiline``:
#: lines joined by LF, a joined-on line marked by CR; written to clients
#: line by line), and a server's description (one line wherever shown).
_LINES_ALLOWED = {"msg": ("text",), "replay": ("text",), "hello": ("description",),
                  "lsa": ("description",)}  # fmt: skip
#: Event (and caught-up line) fields that are IRC words: a nick, a
#: user@host, a channel, a uid, an id. A space would shift a line's
#: parameters, and a leading ':' start its last one (a host may be an IPv6
#: address: ``::1``).
_WORDS = ("o", "id", "uid", "nick", "user", "host", "source", "target", "channel", "new", "by",
          "name", "key", "account", "topic_by", "redacted", "msgid", "time")  # fmt: skip
_WORD_FIELDS: dict[type, tuple[str, ...]] = {}


def utf8_size(text: str) -> int:
    """``text``'s length in UTF-8 bytes (as it crossed the link), cheaply when ASCII."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def decode(raw: str | bytes) -> AnyMessage:
    """Parse one link message; raises LinkProtocolError with the reason."""
    size = len(raw)
    if isinstance(raw, str) and size > MAX_LINK_MESSAGE // 4:  # up to 4 UTF-8 bytes a character
        size = utf8_size(raw)
    if size > MAX_LINK_MESSAGE:
        raise LinkProtocolError(f"message of {size} bytes exceeds {MAX_LINK_MESSAGE}")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LinkProtocolError(f"not JSON: {exc}") from exc
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    if any(escape in text for escape in _LINE_BREAKERS):  # rare: then look closer
        kind = data.get("t") if isinstance(data, dict) else None
        where = _line_breaker(
            data, "", _LINES_ALLOWED.get(kind, ()) if isinstance(kind, str) else ()
        )
        if where is not None:
            raise LinkProtocolError(f"invalid message: {where}: a CR, LF or NUL in a string")
    try:
        message = _ADAPTER.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(message)"
        raise LinkProtocolError(f"invalid message: {where}: {first['msg']}") from exc
    if isinstance(message, Replay):
        for index, item in enumerate(message.items):
            _check_words(item, f"items.{index}.")
    elif not isinstance(message, BaseModel):  # an event
        _check_words(message, "")
    return message


def _check_words(item: object, where: str) -> None:
    names = _WORD_FIELDS.get(type(item))
    if names is None:  # once per kind of event: the word fields it has
        names = _WORD_FIELDS[type(item)] = tuple(n for n in _WORDS if hasattr(item, n))
    for name in names:
        value = getattr(item, name)
        if isinstance(value, str) and (" " in value or (value[:1] == ":" and name != "host")):
            raise LinkProtocolError(f"invalid message: {where}{name}: not one IRC word: {value!r}")


def _line_breaker(data: object, where: str, allowed: tuple[str, ...]) -> str | None:
    """Where in ``data`` (parsed JSON) a string holds a CR, LF or NUL, or None.

    In a field named in ``allowed`` (at any depth) only a NUL counts.
    """
    if isinstance(data, str):
        field_name = where.rsplit(".", 1)[-1]
        if "\0" in data or (field_name not in allowed and ("\r" in data or "\n" in data)):
            return where or "(message)"
        return None
    if isinstance(data, dict):
        for key, value in data.items():
            found = _line_breaker(key, where, ()) or _line_breaker(
                value, f"{where}.{key}".lstrip("."), allowed
            )
            if found is not None:
                return found
    if isinstance(data, list):
        for index, value in enumerate(data):
            found = _line_breaker(value, f"{where}.{index}".lstrip("."), allowed)
            if found is not None:
                return found
    return None


_DUMPERS: dict[type, TypeAdapter[AnyMessage]] = {}


def encode(message: AnyMessage) -> str:
    """Serialise one link message (events are dataclasses, the rest pydantic models)."""
    if isinstance(message, BaseModel):
        return message.model_dump_json(exclude_none=True)
    kind = type(message)
    dumper = _DUMPERS.get(kind)
    if dumper is None:
        dumper = _DUMPERS[kind] = TypeAdapter(kind)
    return dumper.dump_json(message).decode()


# Authentication.


def new_challenge() -> str:
    """A fresh random challenge (hex)."""
    return secrets.token_hex(32)


def answer(secret: str, challenge: str, responder: str) -> str:
    """The response to ``challenge``: HMAC-SHA256(secret, challenge + responder)."""
    mac = hmac.new(secret.encode(), f"{challenge}:{responder}".encode(), hashlib.sha256)
    return mac.hexdigest()


def verify(secret: str, challenge: str, responder: str, response: str) -> bool:
    """Did ``responder`` prove it knows the secret? Constant-time comparison."""
    return hmac.compare_digest(answer(secret, challenge, responder), response)


def id_clash(known: Mapping[str, int], sid: int, server: str) -> str | None:
    """Why ``server`` may not have ``sid`` beside ``known`` (name to server ID), or None.

    Another server has it, or one whose ID's hex begins alike
    (``config.ids_clash``): ids are judged by their server's ID, so either
    could speak in the other's ids.
    """
    for name, has in known.items():
        if name == server or not ids_clash(has, sid):
            continue
        if has == sid:
            return f"duplicate server ID {sid} (already used by {name})"
        return ids_clash_reason(sid, server, has, name)
    return None


def check_hello(
    mine: Hello,
    theirs: Hello,
    *,
    known: dict[str, int],
    linked: set[str],
    allowed: set[str] | None,
    have_uplink: bool,
) -> str | None:
    """Why the peer may not link (None when it may).

    A server already reachable through others may link again (a cycle of
    hubs); one with a known name but another ID, or the reverse, is a
    duplicate.

    Args:
        known: servers already in this side's network, name to server ID.
        linked: servers directly linked to this one now.
        allowed: names allowed to link in (None: anyone with the secret).
        have_uplink: this side is a leaf that already has its hub.
    """
    if theirs.version != VERSION:
        return f"protocol version {theirs.version} not supported (this server speaks {VERSION})"
    if theirs.network != mine.network:
        return f"wrong network: {theirs.network!r}, this is {mine.network!r}"
    if theirs.server == mine.server:
        return f"duplicate server name {theirs.server!r}"
    clash = id_clash({mine.server: mine.sid}, theirs.sid, theirs.server)
    if clash is not None:
        return clash
    if theirs.server in linked:
        return f"already linked to {theirs.server}"
    if theirs.server in known and known[theirs.server] != theirs.sid:
        return f"duplicate server name {theirs.server!r} (known with ID {known[theirs.server]})"
    clash = id_clash(known, theirs.sid, theirs.server)
    if clash is not None:
        return clash
    if allowed is not None and theirs.server not in allowed:
        return f"server {theirs.server!r} is not allowed to link here"
    if mine.role == "leaf" and theirs.role == "leaf":
        return "a leaf cannot link to a leaf"
    if mine.role == "leaf" and have_uplink:
        return "this leaf already has an uplink"
    return None
