"""How much each server lets the others fill it with: servers, users, channels.

A node bounds the state other servers may put in its memory
(``links.maxServers``, ``links.maxUsersPerServer``,
``links.maxChannelsPerUser``), so a server that knows the link secret but
misbehaves cannot fill it at the link's rate. Where every server of the
network is in the manifests, they say how much there can be: as many servers
as the ChatServers' replicas (their autoscale maximum), as many users on one
as its maxClients, in as many channels as a node lets a client join. The
bounds are twice that (room for a drain's hand-over, and for a ChatServer
grown between two reconciles), so an honest server never meets them; the
servers' bound is rounded up to a power of two, at least 64, so that scaling
by a replica does not reload every server. With a
portal to a server outside the cluster the manifests do not say: the node's
defaults hold. ``spec.links`` may set any of the three.

Pure: reads the resources, no I/O.
"""

from __future__ import annotations

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


def link_quotas(
    network: ChatNetwork, servers: list[ChatServer], replicas: int, outside: bool
) -> LinkQuotas:
    """The three bounds for every server of ``network``; ``replicas``: the most servers
    its ChatServers may run; ``outside``: a portal links a server outside the cluster."""
    spec = network.spec.links
    # What the node does unset: twice the channels it lets its own clients join.
    channels = 2 * Limits().max_channels_per_client
    if outside:
        derived = LinkQuotas(Links().max_servers, Links().max_users_per_server, channels)
    else:
        most_clients = max(
            (s.spec.clients_each(network.spec.limits.max_clients) for s in servers), default=0
        )
        derived = LinkQuotas(
            max_servers=_servers_bound(replicas),
            max_users_per_server=max(2 * most_clients, 1),
            max_channels_per_user=channels,
        )
    return LinkQuotas(
        spec.max_servers or derived.max_servers,
        spec.max_users_per_server or derived.max_users_per_server,
        spec.max_channels_per_user or derived.max_channels_per_user,
    )


def _servers_bound(replicas: int) -> int:
    """Twice ``replicas``, rounded up to a power of two, at least ``MIN_SERVERS``: a
    ChatServer scaled by a replica or two changes no server's configuration."""
    return min(max(MIN_SERVERS, 1 << (2 * replicas - 1).bit_length()), 4095)
