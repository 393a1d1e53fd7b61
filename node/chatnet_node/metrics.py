"""Prometheus metrics: a collector that reads the core's counters on scrape.

The core only counts (plain ints, and ``timings.Histogram`` for durations);
this adapter turns the counts into Prometheus families, in a registry per
node so several nodes can share a process in tests. Nothing is computed on
the command path for a scrape: reading the counters is the whole cost.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from .gcpauses import GcPauses, process_pauses
from .history.contract import HistoryStats
from .irc.core import ChatCore
from .timings import Histogram


def _buckets(histogram: Histogram) -> list[tuple[str, float]]:
    """Cumulative ``le`` buckets as the exposition writes them (``+Inf`` last)."""
    return [
        ("+Inf" if bound == math.inf else repr(bound), count)
        for bound, count in histogram.cumulative()
    ]


class CoreCollector(Collector):
    """Exports the state and counters of one ChatCore."""

    def __init__(self, core: ChatCore, pauses: GcPauses) -> None:
        self.core = core
        self.pauses = pauses

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
        yield counter(
            "chatnet_password_work",
            "Passwords checked or hashed here, off the event loop (one thread, in order)",
            stats.slow_work,
        )
        yield gauge(
            "chatnet_password_work_waiting",
            "Password checks and hashes not done yet: their clients' lines wait",
            stats.slow_work_running,
        )
        yield counter("chatnet_connections", "Connections accepted", stats.connections)
        yield counter(
            "chatnet_registrations",
            "Clients that completed registration here (first connections and reconnects)",
            stats.registrations,
        )
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
        acks = HistogramMetricFamily(
            "chatnet_ack_latency_seconds",
            "Seconds from a channel or private message's arrival to the release of its "
            "acknowledgement (echo) once a second server or the shared store has it",
            labels=labels,
        )
        latency = core.acks.latency
        acks.add_metric(server, _buckets(latency), latency.sum)
        yield acks
        yield from self._history(core.history.stats, core.name)
        pauses = HistogramMetricFamily(
            "chatnet_gc_pause_seconds",
            "Garbage collections, by generation, and how long each stopped the server "
            "(every client waits while one runs)",
            labels=["server", "generation"],
        )
        for generation, histogram in enumerate(self.pauses.by_generation):
            pauses.add_metric([core.name, str(generation)], _buckets(histogram), histogram.sum)
        yield pauses
        yield counter(
            "chatnet_replayed",
            "Channel messages learnt in a catch-up after a link came up",
            stats.replayed,
        )
        lookback = HistogramMetricFamily(
            "chatnet_history_lookback_seconds",
            "How far CHATHISTORY AFTER a msgid looked back before it for messages "
            "stamped earlier that may have arrived later (clock skew, disruptions)",
            labels=labels,
        )
        lookback.add_metric(server, _buckets(stats.lookback), stats.lookback.sum)
        yield lookback
        yield counter(
            "chatnet_history_lookback_disrupted",
            "CHATHISTORY AFTER requests whose reference lay in a disruption",
            stats.lookback_disrupted,
        )
        if core.network is not None:
            network = core.network
            yield from self._links(network.link_metrics(), core.name)
            yield gauge("chatnet_links_up", "Established server links", len(network.status()))
            rtt = GaugeMetricFamily(
                "chatnet_link_rtt_seconds",
                "Last measured link round trip (ping to pong), per linked peer",
                labels=["server", "peer"],
            )
            for peer, seconds in sorted(network.link_rtts().items()):
                rtt.add_metric([core.name, peer], seconds)
            yield rtt
            drops = CounterMetricFamily(
                "chatnet_link_drops",
                "Times the link to a peer went down, by kind of reason",
                labels=["server", "peer", "reason"],
            )
            for peer, reasons in sorted(network.link_drops().items()):
                for reason, count in sorted(reasons.items()):
                    drops.add_metric([core.name, peer, reason], count)
            yield drops

    def _history(self, stats: HistoryStats, server: str) -> Iterator[Metric]:
        writes = HistogramMetricFamily(
            "chatnet_history_write_seconds",
            "Seconds per history write: one SQLite transaction or one PostgreSQL batch",
            labels=["server", "store"],
        )
        writes.add_metric([server, stats.store], _buckets(stats.writes), stats.writes.sum)
        yield writes
        errors = CounterMetricFamily(
            "chatnet_history_errors",
            "Failed history operations, by kind (write, connect, read, row, record, prune)",
            labels=["server", "store", "op"],
        )
        for op, count in sorted(stats.errors.items()):
            errors.add_metric([server, stats.store, op], count)
        yield errors

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
    registry.register(CoreCollector(core, process_pauses()))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition format."""
    return generate_latest(registry)
