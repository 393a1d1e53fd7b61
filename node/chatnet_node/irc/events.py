"""The changes one server tells the others: the network's shared state, as events.

Every change to what the whole network sees (a user arrives, joins, speaks,
changes nick, leaves...) is one event. A transition (``transitions``) makes
the change here and hands its event to ``ChatState.emit``, which fills in
the origin server (``o``) and a per-origin unique ``id``; the link layer
routes it, and on every other server ``remote.apply`` feeds the same event
to the same transition.

Events are plain slotted dataclasses, cheap enough to build for every
channel message. On the wire (``links.protocol``) they are JSON objects,
validated by pydantic (``__pydantic_config__`` forbids unknown fields) and
told apart by ``t``. Users are named by uid, never by nick, so a nick change
in flight never misroutes anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ConfigDict

_STRICT = ConfigDict(extra="forbid")


@dataclass(slots=True, kw_only=True)
class _Event:
    """What every event carries: its origin server and an id unique per origin."""

    __pydantic_config__ = _STRICT

    o: str = ""  # filled in by ``emit``
    id: str = ""  # filled in by ``emit``


@dataclass(slots=True, kw_only=True)
class UserIntro(_Event):
    """A user as the network learns of it (on registration, and in bursts)."""

    t: Literal["uid"] = "uid"
    uid: str
    nick: str
    user: str
    host: str  # as users see it (a cloak)
    realname: str
    ts: float
    signon: float
    ip: str = ""  # the real address, for IRC operators and bans ("" from older servers)
    away: str | None = None
    oper: str | None = None
    invisible: bool = False
    secure: bool = False
    bot: bool = False
    account: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class UserQuit(_Event):
    t: Literal["quit"] = "quit"
    uid: str
    reason: str


@dataclass(slots=True, kw_only=True)
class NickChange(_Event):
    t: Literal["nick"] = "nick"
    uid: str
    nick: str
    ts: float


@dataclass(slots=True, kw_only=True)
class UserAway(_Event):
    t: Literal["away"] = "away"
    uid: str
    text: str | None


@dataclass(slots=True, kw_only=True)
class UserSetname(_Event):
    t: Literal["setname"] = "setname"
    uid: str
    realname: str


@dataclass(slots=True, kw_only=True)
class UserOper(_Event):
    """User modes the network sees: operator status, ``+i`` and ``+B``."""

    t: Literal["oper"] = "oper"
    uid: str
    oper: str | None
    invisible: bool
    bot: bool = False


@dataclass(slots=True, kw_only=True)
class ChannelJoin(_Event):
    t: Literal["join"] = "join"
    uid: str
    channel: str
    cts: int  # the channel's creation time on the joiner's server
    status: str = ""
    msgid: str = ""
    time: str = ""


@dataclass(slots=True, kw_only=True)
class ChannelPart(_Event):
    t: Literal["part"] = "part"
    uid: str
    channel: str
    reason: str = ""
    msgid: str = ""
    time: str = ""


@dataclass(slots=True, kw_only=True)
class ChannelKick(_Event):
    t: Literal["kick"] = "kick"
    uid: str
    channel: str
    target: str
    reason: str
    msgid: str = ""
    time: str = ""


@dataclass(slots=True, kw_only=True)
class ChannelMode(_Event):
    """Channel mode changes; member modes (``o``, ``v``) name their target by uid."""

    t: Literal["mode"] = "mode"
    uid: str
    channel: str
    changes: list[tuple[str, str, str | None]]
    msgid: str = ""
    time: str = ""


@dataclass(slots=True, kw_only=True)
class ChannelTopic(_Event):
    t: Literal["topic"] = "topic"
    uid: str
    channel: str
    topic: str
    by: str
    at: int
    msgid: str = ""
    time: str = ""


@dataclass(slots=True, kw_only=True)
class ChannelRename(_Event):
    """RENAME (draft/channel-rename): a channel takes a new name, members and all."""

    t: Literal["rename"] = "rename"
    uid: str
    channel: str
    new: str
    reason: str
    msgid: str = ""
    time: str = ""


@dataclass(slots=True, kw_only=True)
class ChannelState(_Event):
    """A whole channel, as a burst carries it."""

    t: Literal["chan"] = "chan"
    name: str
    ts: int
    flags: list[str]
    key: str | None
    limit: int | None
    topic: str
    topic_by: str
    topic_at: int
    bans: list[tuple[str, str, int]]
    members: list[tuple[str, str]]
    excepts: list[tuple[str, str, int]] = field(default_factory=list)
    invex: list[tuple[str, str, int]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class ChatMessage(_Event):
    """PRIVMSG, NOTICE or TAGMSG to a channel (by name) or a user (by uid)."""

    t: Literal["msg"] = "msg"
    uid: str
    target: str
    command: Literal["PRIVMSG", "NOTICE", "TAGMSG"]
    text: str
    tags: dict[str, str]
    source: str = ""  # nick!user@host, for a server that does not know the uid yet


@dataclass(slots=True, kw_only=True)
class UserInvite(_Event):
    t: Literal["invite"] = "invite"
    uid: str
    target: str
    channel: str


@dataclass(slots=True, kw_only=True)
class UserKill(_Event):
    t: Literal["kill"] = "kill"
    uid: str
    target: str
    reason: str


@dataclass(slots=True, kw_only=True)
class Wallops(_Event):
    """WALLOPS: a message from an IRC operator to every user with user mode ``+w``."""

    t: Literal["wallops"] = "wallops"
    source: str  # nick!user@host of the operator
    text: str


@dataclass(slots=True, kw_only=True)
class MessageRedact(_Event):
    """REDACT: a message taken back, by its author or a channel operator."""

    t: Literal["redact"] = "redact"
    uid: str
    target: str  # a channel name, or the uid of the other side of a private conversation
    redacted: str  # the msgid of the message taken back
    reason: str
    msgid: str
    time: str


@dataclass(slots=True, kw_only=True)
class ReadMarker(_Event):
    """MARKREAD: how far a user has read a conversation (``nick``: folded nick or ``$account``)."""

    t: Literal["markread"] = "markread"
    nick: str
    target: str
    ts: float


@dataclass(slots=True, kw_only=True)
class MetadataSet(_Event):
    """METADATA SET/CLEAR: a key of a user (by uid) or of a channel (by name) changed."""

    t: Literal["metadata"] = "metadata"
    uid: str  # who changed it
    target: str  # a channel name, or the uid of the user whose key it is
    key: str
    value: str | None  # None: the key was removed


@dataclass(slots=True, kw_only=True)
class UserHost(_Event):
    """A user's shown host changed (CHGHOST): logged in with an account cloak, say."""

    t: Literal["host"] = "host"
    uid: str
    host: str


@dataclass(slots=True, kw_only=True)
class UserAccount(_Event):
    """A user logged in to an account (``account``) or out of it (None)."""

    t: Literal["account"] = "account"
    uid: str
    account: str | None


@dataclass(slots=True, kw_only=True)
class RecordSet(_Event):
    """One version of a network-wide record (see ``registry``), as JSON data."""

    t: Literal["record"] = "record"
    kind: Literal["account", "channel", "kline"]
    data: dict[str, Any]


@dataclass(slots=True, kw_only=True)
class ClockTick(_Event):
    """A server's hybrid clock, sent down its tree twice a second (``irc.ids``).

    Every later stamp of its origin is at least ``ts``: a server that heard
    it knows it has every message its origin stamped before.
    """

    t: Literal["clock"] = "clock"
    ts: float


Event = (
    UserIntro
    | UserQuit
    | NickChange
    | UserAway
    | UserSetname
    | UserOper
    | ChannelJoin
    | ChannelPart
    | ChannelKick
    | ChannelMode
    | ChannelTopic
    | ChannelRename
    | ChannelState
    | ChatMessage
    | UserInvite
    | UserKill
    | Wallops
    | MessageRedact
    | ReadMarker
    | MetadataSet
    | UserAccount
    | UserHost
    | RecordSet
    | ClockTick
)
