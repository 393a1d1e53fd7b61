"""Network and server status: what `kubectl get` and `chatnet up` show."""

from __future__ import annotations

from pathlib import Path

import jsonschema

from chatnet_operator.api import crds
from chatnet_operator.api.loader import load_files
from chatnet_operator.api.models import ChatNetwork
from chatnet_operator.api.validate import validate_documents
from chatnet_operator.observe.status import Probe, network_status, server_status, summary
from chatnet_operator.plan.desired import NetworkPlan
from chatnet_operator.plan.placement import ClusterPlacement
from chatnet_operator.plan.planner import plan_network

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def plan(name: str) -> NetworkPlan:
    report = validate_documents(load_files([EXAMPLES / name]))
    declared = report.networks[0]
    return plan_network(declared, ClusterPlacement(declared.network))


def conditions(status: object) -> dict[str, str]:
    return {c.type: c.status for c in status.conditions}  # type: ignore[attr-defined]


def test_whole_network_is_ready() -> None:
    p = plan("exchange-three-servers.yaml")
    # A triangle: each server reports its two links.
    probes = {n: Probe(True, True, clients=10, max_clients=1000, links_up=2) for n in p.servers}
    status = network_status(p, probes, now="t0", generation=3)
    assert (status.servers, status.clients, status.links) == ("3/3", "30/3000", "3/3")
    assert conditions(status) == {"Ready": "True", "TopologyValid": "True", "Degraded": "False"}
    assert status.observed_generation == 3
    assert summary(status, "exchange") == "exchange: servers 3/3, clients 30/3000, links 3/3"


def test_a_dead_server_degrades_the_network_and_is_named() -> None:
    p = plan("exchange-three-servers.yaml")
    probes = {n: Probe(True, True, links_up=1) for n in p.servers}
    probes["chat3"] = Probe()
    status = network_status(p, probes)
    assert conditions(status)["Ready"] == "False"
    assert conditions(status)["Degraded"] == "True"
    ready = next(c for c in status.conditions if c.type == "Ready")
    assert "waiting for chat3" in ready.message
    assert status.servers == "2/3"


def test_topology_problems_are_a_condition() -> None:
    p = plan("local.yaml")
    status = network_status(p, {"local": Probe(True, True)}, problems=["ChatServer/x: bad"])
    valid = next(c for c in status.conditions if c.type == "TopologyValid")
    assert (valid.status, valid.reason, valid.message) == (
        "False",
        "InvalidTopology",
        "ChatServer/x: bad",
    )


def test_transition_time_is_kept_while_the_status_holds() -> None:
    p = plan("local.yaml")
    first = network_status(p, {"local": Probe(True, True)}, now="t1")
    again = network_status(p, {"local": Probe(True, True)}, previous=first.conditions, now="t2")
    ready = next(c for c in again.conditions if c.type == "Ready")
    assert ready.last_transition_time == "t1"
    down = network_status(p, {}, previous=again.conditions, now="t3")
    assert next(c for c in down.conditions if c.type == "Ready").last_transition_time == "t3"


def test_control_room_is_ready_without_taking_clients() -> None:
    p = plan("webcrossing-fanout.yaml")
    probes = {n: Probe(True, n != "control", max_clients=512) for n in p.servers}
    assert network_status(p, probes).servers == "7/7"


def test_server_status_counts_replicas_and_capacity() -> None:
    p = plan("webcrossing-fanout.yaml")
    probes = {n: Probe(True, True, clients=5) for n in p.servers}
    probes["fanout-3"] = Probe()
    status = server_status(p, "fanout", probes, selector="chatnet.io/server=fanout")
    assert (status.replicas, status.ready_replicas) == (3, 3)
    assert status.clients == "15/2048"
    assert status.links == "0/4"
    assert conditions(status) == {"Ready": "False"}


def test_status_fits_the_crd_schema() -> None:
    p = plan("quickstart.yaml")
    status = network_status(
        p, {n: Probe(True, True) for n in p.servers}, now="2026-01-01T00:00:00Z"
    )
    network = ChatNetwork.model_validate(
        {"metadata": {"name": "acme"}, "status": status.model_dump(by_alias=True)}
    )
    assert network.status == status
    # As the operator will write it: no nulls, camelCase, valid for the CRD.
    schema = crds.crd_documents()[0]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    body = {
        "apiVersion": "chatnet.io/v1alpha1",
        "kind": "ChatNetwork",
        "metadata": {"name": "acme"},
        "status": status.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    jsonschema.validate(body, schema)


def test_a_missing_link_degrades_a_network_whose_servers_are_up() -> None:
    p = plan("exchange-three-servers.yaml")
    probes = {n: Probe(True, True, links_up=2) for n in p.servers}
    probes["chat3"] = Probe(True, True, links_up=1)
    probes["chat2"] = Probe(True, True, links_up=1)
    status = network_status(p, probes)
    assert status.links == "2/3"
    assert conditions(status) == {"Ready": "False", "TopologyValid": "True", "Degraded": "True"}
    degraded = next(c for c in status.conditions if c.type == "Degraded")
    assert degraded.reason == "LinksDown"
