"""Every change to what the network sees, one function each (``users``, ``channels``, ``messages``).

A transition changes the state, shows the change to the local clients who
see it, and emits the link event that tells the other servers (``emit``
fills in the origin and the event id). A local command calls it after its
own checks; a change that came over a link calls the same function (see
``remote``), with ``emit`` silent, since the link layer forwards the
original event. So a change looks the same on every server by
construction, and no command can forget to tell the network.

Actors are given by ``source`` (the ``nick!user@host`` or server name the
clients see) and ``by_uid`` (the uid the event carries), because a change
from a link may name a user this server does not know yet. ``tags`` carry
the origin's ``time`` and ``msgid``: every server shows the same ones.
"""

from __future__ import annotations

from .channels import (
    RENAME_CAP,
    ModeChange,
    channel_modes,
    join,
    kick,
    part,
    rename_channel,
    show_join,
    show_mode_change,
    show_status,
    topic,
)
from .messages import (
    REDACTION_CAP,
    channel_message,
    deliver_message,
    private_message,
    redact,
    status_message,
)
from .metadata import set_metadata
from .users import (
    READ_MARKER_CAP,
    arrived,
    away,
    introduction,
    invite,
    kill,
    mark_read,
    marker_owner,
    netsplit,
    nick,
    quit_,
    register,
    rename,
    set_host,
    setname,
    show_marker,
    split_off,
    user_modes,
    wallops,
)

__all__ = [
    "READ_MARKER_CAP",
    "REDACTION_CAP",
    "RENAME_CAP",
    "ModeChange",
    "arrived",
    "away",
    "channel_message",
    "channel_modes",
    "deliver_message",
    "introduction",
    "invite",
    "join",
    "kick",
    "kill",
    "mark_read",
    "marker_owner",
    "netsplit",
    "nick",
    "part",
    "private_message",
    "quit_",
    "redact",
    "register",
    "rename",
    "rename_channel",
    "set_host",
    "set_metadata",
    "setname",
    "show_join",
    "show_marker",
    "show_mode_change",
    "show_status",
    "split_off",
    "status_message",
    "topic",
    "user_modes",
    "wallops",
]
