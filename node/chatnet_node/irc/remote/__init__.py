"""Changes made on other servers, applied here through the same transitions.

The link manager hands each routed event to ``apply``. This module finds
the users and channels the event names (by uid and channel name), drops
what no longer applies (a user who left meanwhile), and calls the
transition a local command would call, with ``ChatState.relaying`` set so
that nothing is emitted back: the manager forwards the original event.

What only links can cause is settled here, the same way on every server,
so all converge:

* nick collision: the older nick (lower ``ts``) keeps it; on a tie the user
  of the server with the lower server ID keeps it. The other user is renamed
  to its uid (``Guest<uid>``), on every server, with a NICK to its peers;
* channel created on both sides of a split: the older channel (lower
  ``ts``) keeps its modes and operators; the younger side's members join
  without status and its modes are dropped; equal ages merge;
* topic set on both sides: the newer topic wins; on a tie, the one whose
  text sorts first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import events as ev
from ..state import ChatState
from . import channels, messages, users
from .common import SidOf, guest_nick
from .messages import replay

__all__ = ["SidOf", "apply", "guest_nick", "replay"]


def apply(state: ChatState, event: ev.Event, sid_of: SidOf) -> None:
    """Apply one event from another server. ``sid_of`` maps server names to IDs."""
    handler = _HANDLERS[type(event)]
    state.relaying = True
    try:
        handler(state, event, sid_of)
    finally:
        state.relaying = False


def on_clock(state: ChatState, event: ev.ClockTick, sid_of: SidOf) -> None:
    """Another server's clock: nothing it stamps from now on is earlier."""
    state.ids.hear(event.o, event.ts)
    state.ids.observe(event.ts)


_HANDLERS: dict[type, Callable[[ChatState, Any, SidOf], None]] = {
    ev.UserIntro: users.on_intro,
    ev.UserQuit: users.on_quit,
    ev.UserKill: users.on_kill,
    ev.NickChange: users.on_nick,
    ev.UserAway: users.on_away,
    ev.UserSetname: users.on_setname,
    ev.UserOper: users.on_oper,
    ev.ChannelJoin: channels.on_join,
    ev.ChannelPart: channels.on_part,
    ev.ChannelKick: channels.on_kick,
    ev.ChannelMode: channels.on_mode,
    ev.ChannelTopic: channels.on_topic,
    ev.ChannelState: channels.on_state,
    ev.ChannelRename: channels.on_rename,
    ev.ChatMessage: messages.on_message,
    ev.UserInvite: users.on_invite,
    ev.Wallops: users.on_wallops,
    ev.MessageRedact: messages.on_redact,
    ev.ReadMarker: users.on_markread,
    ev.MetadataSet: users.on_metadata,
    ev.UserAccount: users.on_account,
    ev.UserHost: users.on_host,
    ev.RecordSet: users.on_record,
    ev.ClockTick: on_clock,
}
