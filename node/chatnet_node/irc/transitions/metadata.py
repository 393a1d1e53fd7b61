"""Transitions of metadata (draft/metadata-2): a key of a user or a channel changes.

See the package docstring for what a transition is.
"""

from __future__ import annotations

from .. import metadata
from ..events import MetadataSet
from ..model import Channel, Client
from ..state import ChatState


def set_metadata(
    state: ChatState, changer: Client, target: Client | Channel, key: str, value: str | None
) -> None:
    """Set (or with ``value`` None, remove) ``key`` on a user or a channel.

    Subscribed clients here that see the target (its channels' members, the
    channel's members) are told, except the changer: it has its own reply.
    """
    if isinstance(target, Channel):
        store, name, event_target = target.metadata, target.name, target.name
        watchers = list(target.members)
    else:
        if target.metadata is None:
            target.metadata = {}
        store, name, event_target = target.metadata, target.nick, target.uid
        watchers = [target, *state.common_peers(target)]
    if value is None:
        store.pop(key, None)
    else:
        store[key] = value
    state.emit(MetadataSet(uid=changer.uid, target=event_target, key=key, value=value))
    told = [
        client
        for client in watchers
        if client is not changer and metadata.subscribed(client.caps, client.metadata_subs, key)
    ]
    state.deliver(metadata.notice(changer.prefix, name, key, value), told)
