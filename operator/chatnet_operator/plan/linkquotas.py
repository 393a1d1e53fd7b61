"""How much each server lets the others fill it with: servers, users, channels.

A node bounds the state other servers may put in its memory
(``links.maxServers``, ``links.maxUsersPerServer``,
``links.maxChannelsPerUser``, ``links.maxRemoteUsers``), so a server that
knows the link secret but misbehaves cannot fill it at the link's rate.
Where every server of the network is in the manifests, they say how much
there can be: as many servers as the ChatServers' replicas (their autoscale
maximum), as many users on one as its maxClients, in as many channels as a
node lets a client join, and as many users in all as every replica's
maxClients together. The bounds are twice that (room for a drain's
hand-over, and for a ChatServer grown between two reconciles), so an honest
server never meets them; the servers' and the users' in all are rounded up
to a power of two (the servers' at least 64), so that scaling by a replica
does not reload every server. With a portal to a server outside the cluster
the manifests do not say: the node's defaults hold. ``spec.links`` may set
any of the four.

Pure: reads the resources, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from chatnet_node.config import Limits, Links
from chatnet_operator.api.models import ChatNetwork, ChatServer

__all__ = ["LinkQuotas", "link_quotas"]

#: The least ``maxServers`` set from the manifests.
MIN_SERVERS = 64


class LinkQuotas(NamedTuple):
    max_servers: int
    max_users_per_server: int
    max_channels_per_user: int
    max_remote_users: int


def link_quotas(
    network: ChatNetwork,
    servers: list[ChatServer],
    replicas: Mapping[str, int],
    outside: bool,
) -> LinkQuotas:
    """The four bounds for every server of ``network``; ``replicas``: the most replicas
    each ChatServer may run, by name; ``outside``: a portal links a server outside the
    cluster."""
    spec = network.spec.links
    # What the node does unset: twice the channels it lets its own clients join.
    channels = 2 * Limits().max_channels_per_client
    if outside:
        node = Links()
        derived = LinkQuotas(
            node.max_servers, node.max_users_per_server, channels, node.max_remote_users
        )
    else:
        clients = {s.name: s.spec.clients_each(network.spec.limits.max_clients) for s in servers}
        everyone = sum(clients[name] * replicas.get(name, 0) for name in clients)
        derived = LinkQuotas(
            max_servers=min(_twice_rounded_up(sum(replicas.values()), MIN_SERVERS), 4095),
            max_users_per_server=max(2 * max(clients.values(), default=0), 1),
            max_channels_per_user=channels,
            max_remote_users=_twice_rounded_up(everyone, 1),
        )
    return LinkQuotas(
        spec.max_servers or derived.max_servers,
        spec.max_users_per_server or derived.max_users_per_server,
        spec.max_channels_per_user or derived.max_channels_per_user,
        spec.max_remote_users or derived.max_remote_users,
    )


def _twice_rounded_up(count: int, least: int) -> int:
    """Twice ``count``, rounded up to a power of two, at least ``least``: a ChatServer
    scaled by a replica or two changes no server's configuration."""
    return max(least, 1 << max(2 * count - 1, 0).bit_length())
