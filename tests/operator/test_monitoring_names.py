"""Every metric the Grafana dashboard and the PrometheusRule alerts query is one a node serves.

The names are read out of the dashboard's queries (``docs/grafana/chatnet.json``,
the chart's copy is the same file) and out of the alerts the operator renders
for a network with links and client-serving servers; then two real linked
nodes carry a channel message (so the histograms and per-link series have
samples) and their ``/metrics`` is parsed as Prometheus parses it. A name
that no node serves would be a panel that stays empty or an alert that never
fires: this test is what keeps them honest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.irc.client import IrcClient
from tests.metricscrape import scrape
from tests.nodeproc import REPO, make_node
from tests.operator.test_optional_kinds import manifest, rendered
from tests.waiting import eventually

SECRET = "names-test-secret"
CAPS = ["message-tags", "server-time", "echo-message"]


def metric_names(expressions: Iterable[str]) -> set[str]:
    """Series names in PromQL (``chatnet_io_*`` are the scrape's target labels)."""
    return {
        name
        for expr in expressions
        for name in re.findall(r"\bchatnet_[a-z_]+\b", expr)
        if not name.startswith("chatnet_io_")
    }


def dashboard_queries() -> list[str]:
    dashboard: dict[str, Any] = json.loads((REPO / "docs" / "grafana" / "chatnet.json").read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    # The namespace and network variables' label_values(...) queries.
    queries += [
        v["query"]["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"
    ]
    return queries


def alert_expressions() -> dict[str, str]:
    rule = rendered(manifest())["PrometheusRule/prod-servers"]
    return {r["alert"]: r["expr"] for r in rule["spec"]["groups"][0]["rules"]}


def test_the_names_are_found_in_the_queries() -> None:
    assert metric_names(['rate(chatnet_a_total{chatnet_io_server="x"}[5m]) + chatnet_b']) == {
        "chatnet_a_total",
        "chatnet_b",
    }
    alerts = alert_expressions()
    assert {"ChatnetLinkDown", "ChatnetHistoryErrors", "ChatnetAcknowledgementLatencyHigh"} <= set(
        alerts
    )
    assert "chatnet_ack_latency_seconds_bucket" in metric_names(alerts.values())
    assert "chatnet_link_rtt_seconds" in metric_names(dashboard_queries())


async def test_dashboard_and_alerts_query_only_metrics_linked_nodes_serve(tmp_path: Path) -> None:
    a = make_node(tmp_path, "a", serverId=1, links={"secret": SECRET, "accept": ["b"]})
    dial = {"name": "a", "serverId": 1, "host": "127.0.0.1", "port": a.ws_port}
    b = make_node(tmp_path, "b", serverId=2, links={"secret": SECRET, "dial": [dial]})
    a.start()
    b.start()
    try:
        alice = await IrcClient.tcp(b.irc_port)
        try:
            await alice.register("alice", caps=CAPS)
            await alice.wait_linked(2, timeout=15)
            await alice.join("#room")
            await alice.privmsg("#room", "hello")  # acknowledged once a stored it
        finally:
            await alice.close()
        for node in (a, b):  # each end pings its link once it is up
            await eventually(
                lambda node=node: scrape(node).has("chatnet_link_rtt_seconds"),
                10,
                f"{node.name} measured its link",
                poll=0.1,
            )
        served = scrape(a).names() | scrape(b).names()
    finally:
        b.stop()
        a.stop()
    for what, queries in (("dashboard", dashboard_queries()), ("alerts", alert_expressions())):
        used = metric_names(queries.values() if isinstance(queries, dict) else queries)
        assert used, what
        assert used <= served, f"the {what} query metrics no node serves: {used - served}"
