"""Prometheus metrics: a collector that reads the core's counters on scrape.

The core only counts (plain ints); this adapter turns the counts into
Prometheus families, in a registry per node so several nodes can share a
process in tests.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .irc.core import ChatCore


class CoreCollector(Collector):
    """Exports the state and counters of one ChatCore."""

    def __init__(self, core: ChatCore) -> None:
        self.core = core

    def collect(self) -> Iterator[Metric]:
        core = self.core
        stats = core.stats
        labels = ["server"]
        server = [core.name]

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=labels)
            family.add_metric(server, value)
            return family

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            family = CounterMetricFamily(name, doc, labels=labels)
            family.add_metric(server, value)
            return family

        yield gauge("chatnet_clients", "Connected clients, registered or not", len(core.clients))
        yield gauge("chatnet_users", "Registered users on this server", core.registered_count)
        yield gauge("chatnet_channels", "Channels with members on this server", len(core.channels))
        yield gauge("chatnet_max_clients", "The maxClients limit", core.config.limits.max_clients)
        yield gauge("chatnet_ready", "1 while the server takes new clients", int(core.ready))
        yield gauge("chatnet_accounts", "Accounts registered on the network", len(core.accounts))
        yield gauge(
            "chatnet_registered_channels",
            "Channels registered on the network",
            len(core.channel_records),
        )
        yield gauge("chatnet_logged_in", "Clients here logged in to an account", len(core.logins))
        yield counter("chatnet_login_failures", "Wrong passwords given here", stats.login_failures)
        yield counter("chatnet_connections", "Connections accepted", stats.connections)
        yield counter(
            "chatnet_rejected_full", "Connections refused: server full", stats.rejected_full
        )
        yield counter(
            "chatnet_rejected_per_address",
            "Connections refused: too many from one address",
            stats.rejected_per_address,
        )
        yield counter(
            "chatnet_rejected_throttled",
            "Connections refused by the network-wide connection throttle",
            stats.rejected_throttled,
        )
        yield counter(
            "chatnet_rate_limited",
            "Commands refused by a cost budget (joins, nick changes, history, WHO/MONITOR)",
            stats.rate_limited,
        )
        yield counter("chatnet_lines_received", "IRC lines received", stats.lines_in)
        yield counter("chatnet_messages", "PRIVMSG and NOTICE received", stats.messages_in)
        yield counter("chatnet_deliveries", "Messages fanned out to clients", stats.deliveries)
        yield counter("chatnet_excess_flood", "Clients dropped for flooding", stats.excess_flood)
        yield counter(
            "chatnet_sendq_exceeded", "Clients dropped for a full send queue", stats.sendq_exceeded
        )
        yield counter("chatnet_input_too_long", "Lines refused as too long", stats.input_too_long)
        yield gauge(
            "chatnet_unacknowledged",
            "Channel messages whose echo waits until a second server stored them",
            core.unacknowledged(),
        )
        yield counter(
            "chatnet_replayed",
            "Channel messages learnt in a catch-up after a link came up",
            stats.replayed,
        )
        if core.network is not None:
            yield from self._links(core.network.link_metrics(), core.name)
            yield gauge("chatnet_links_up", "Established server links", len(core.network.status()))

    def _links(self, per_peer: dict[str, dict[str, int]], server: str) -> Iterator[Metric]:
        docs = {
            "messages_in": "Link messages received, per peer",
            "messages_out": "Link messages sent, per peer",
            "bytes_in": "Link bytes received, per peer",
            "bytes_out": "Link bytes sent, per peer",
            "flaps": "Times the link to a peer went down",
        }
        for key, doc in docs.items():
            family = CounterMetricFamily(f"chatnet_link_{key}", doc, labels=["server", "peer"])
            for peer, values in sorted(per_peer.items()):
                family.add_metric([server, peer], values[key])
            yield family


def make_registry(core: ChatCore) -> CollectorRegistry:
    """A registry holding this node's collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CoreCollector(core))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition format."""
    return generate_latest(registry)
