"""A burst: everything one side of a new link knows, as events for the other side.

Sent when a link joins two networks (each side was unreachable from the
other), in dependency order: every user, then every channel with its
members, modes, lists and topic, then every account and registered
channel (every version: see ``irc.registry``), then every read marker. The receiving
side merges them by the rules in ``irc.remote`` (nick collisions, channel
timestamps, markers only moving forward).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..irc.events import ChannelState, Event, ReadMarker, RecordSet
from ..irc.state import ChatState
from ..irc.transitions import introduction

#: What a burst's event ids hold (``<server>:b<start><time>:<n>``), and no live one's.
BURST_MARK = ":b"


def restates(event: Event) -> bool:
    """Is ``event`` a burst's (its id of a burst's shape)?"""
    return BURST_MARK in event.id


def burst(core: ChatState, origin: str, next_id: Callable[[], str]) -> Iterator[Event]:
    """Every user, then every channel, as events from ``origin`` with ids from ``next_id``."""
    for user in list(core.users.values()):
        intro = introduction(user)
        intro.o, intro.id = user.server, next_id()
        yield intro
    for channel in list(core.channels.values()):
        yield ChannelState(
            o=origin,
            id=next_id(),
            name=channel.name,
            ts=channel.created,
            flags=sorted(channel.flags),
            key=channel.key,
            limit=channel.limit,
            topic=channel.topic,
            topic_by=channel.topic_by,
            topic_at=channel.topic_at,
            bans=[(b.mask, b.set_by, b.set_at) for b in channel.bans],
            excepts=[(b.mask, b.set_by, b.set_at) for b in channel.excepts],
            invex=[(b.mask, b.set_by, b.set_at) for b in channel.invex],
            metadata=dict(channel.metadata),
            members=[(m.uid, status) for m, status in channel.members.items()],
        )
    for account in core.accounts.everything():
        yield RecordSet(
            o=origin, id=next_id(), kind="account", data=account.model_dump(mode="json")
        )
    for record in core.channel_records.everything():
        yield RecordSet(o=origin, id=next_id(), kind="channel", data=record.model_dump(mode="json"))
    for ban in core.klines.everything():
        yield RecordSet(o=origin, id=next_id(), kind="kline", data=ban.model_dump(mode="json"))
    for nick, target, ts in core.read_markers.items():
        yield ReadMarker(o=origin, id=next_id(), nick=nick, target=target, ts=ts)
