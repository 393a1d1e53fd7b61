"""Registered channels as the channel transitions see them: access on join, settings restored.

Plain functions of a channel and its ``ChannelRecord``: ``channels.join``
uses them when a user joins and when a registered channel is made again
(after everyone left, or every server restarted). Changing records is
``transitions.accounts``' job.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..accounts import ChannelRecord, Mask
from ..model import Ban, Channel, Client
from ..names import casefold


def access_status(record: ChannelRecord | None, client: Client) -> str | None:
    """The status a registered channel gives ``client`` ('o', 'v' or ''); None if unregistered."""
    if record is None:
        return None
    if client.account is None:
        return ""
    folded = casefold(client.account)
    if folded == casefold(record.founder):
        return "o"
    return {"op": "o", "voice": "v"}.get(record.access.get(folded) or "", "")


def restore_settings(channel: Channel, record: ChannelRecord | None) -> None:
    """A registered channel was made again: bring back its topic, modes, key, limit and lists."""
    if record is None:
        return
    channel.flags = set(record.modes)
    channel.key = record.key
    channel.limit = record.limit
    if record.topic:
        channel.topic, channel.topic_by, channel.topic_at = (
            record.topic,
            record.topic_by,
            record.topic_at,
        )
    channel.bans = [Ban(m.mask, m.set_by, m.set_at) for m in record.bans]
    channel.excepts = [Ban(m.mask, m.set_by, m.set_at) for m in record.excepts]
    channel.invex = [Ban(m.mask, m.set_by, m.set_at) for m in record.invex]


def masks(entries: Iterable[Ban]) -> tuple[Mask, ...]:
    """A channel's list entries as a record keeps them."""
    return tuple(Mask(mask=b.mask, set_by=b.set_by, set_at=b.set_at) for b in entries)
