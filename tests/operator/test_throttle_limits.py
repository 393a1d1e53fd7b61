"""``spec.limits.throttle`` of a ChatNetwork reaches every server's configuration."""

from __future__ import annotations

from chatnet_operator.api.loader import parse_text
from chatnet_operator.api.validate import validate_documents
from chatnet_operator.plan.placement import ClusterPlacement
from chatnet_operator.plan.planner import plan_network

NETWORK = """\
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {name: acme}
spec: {limits: {throttle: THROTTLE}}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: east}
spec: {network: acme, role: hub, serverId: 10}
"""


def test_the_throttle_is_on_by_default_and_configurable() -> None:
    text = NETWORK.replace("THROTTLE", "{maxConnections: 5, ipv6Prefix: 56, exempt: [10.0.0.0/8]}")
    report = validate_documents(parse_text(text, "net.yaml"))
    assert report.ok, [str(p) for p in report.problems]
    declared = report.networks[0]
    plan = plan_network(declared, ClusterPlacement(declared.network))
    throttle = plan.servers["east"].node.limits.throttle
    assert throttle.enabled
    assert (throttle.max_connections, throttle.max_attempts) == (5, 30)
    assert (throttle.ipv4_prefix, throttle.ipv6_prefix) == (32, 56)
    assert throttle.exempt == ["10.0.0.0/8"]


def test_a_wrong_exempt_block_is_a_clear_error() -> None:
    text = NETWORK.replace("THROTTLE", "{exempt: [10.0.0.0/33]}")
    report = validate_documents(parse_text(text, "net.yaml"))
    assert not report.ok
    problems = " ".join(str(p) for p in report.problems)
    assert "'10.0.0.0/33' is not an address block (e.g. 203.0.113.0/24)" in problems, problems
    assert "limits.throttle.exempt" in problems, problems
