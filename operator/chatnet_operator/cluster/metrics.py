"""The operator's own Prometheus metrics (the nodes have theirs on ``/metrics``).

kopf exports none, so the operator counts what an on-call engineer asks
first: are reconciles succeeding, how long do they take, which children were
written, and can the operator reach the nodes it reports on.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECONCILES = Counter(
    "chatnet_operator_reconciles",
    "Reconciles of a network, by the kind whose event started it and the result",
    ["kind", "result"],
)
ERRORS = Counter(
    "chatnet_operator_errors",
    "Reconciles that failed with an error (API or unexpected), by kind",
    ["kind"],
)
RECONCILE_SECONDS = Histogram(
    "chatnet_operator_reconcile_seconds",
    "Time of one network reconcile (read, validate, apply, probe, status)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CHILD_WRITES = Counter(
    "chatnet_operator_child_writes",
    "Children created, replaced (changed or drifted) or deleted, by kind and verb",
    ["kind", "verb"],
)
PROBE_FAILURES = Counter(
    "chatnet_operator_status_probe_failures",
    "Node /status probes that got no answer, by network",
    ["namespace", "network"],
)
INVALID_NETWORKS = Gauge(
    "chatnet_operator_invalid_networks",
    "Networks whose topology does not validate (nothing applied)",
)


def serve(port: int) -> None:
    """Serve ``/metrics`` on ``port`` in a background thread (0: don't)."""
    if port:
        start_http_server(port)
