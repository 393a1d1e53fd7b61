"""The local runtime's decisions: ports, load balancing, restarts, live changes, output."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatnet_operator.api.loader import parse_text
from chatnet_operator.api.outcome import Declared
from chatnet_operator.api.validate import validate_documents
from chatnet_operator.local import up
from chatnet_operator.local.backoff import FIRST, LIMIT, next_delay
from chatnet_operator.local.balance import SETTLE_SECONDS, ServerLoad, least_loaded, settle
from chatnet_operator.local.changes import diff_servers
from chatnet_operator.local.manifests import InputError, check_local_history
from chatnet_operator.local.placement import LocalPlacement, ServerPorts, assign_ports
from chatnet_operator.local.report import (
    FrontDoor,
    endpoints_document,
    network_ready,
    table,
    write_atomically,
)
from chatnet_operator.observe.status import Probe
from chatnet_operator.plan.desired import NetworkPlan
from chatnet_operator.plan.planner import plan_network

BASE = """\
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {name: acme}
spec: {motd: MOTD}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: east}
spec: {network: acme, role: hub, serverId: 10, maxClients: 100}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: fan}
spec: {network: acme, role: leaf, serverId: 20, replicas: REPLICAS, uplinks: [east]}
"""


def declared(motd: str = "hi", replicas: int = 2) -> Declared:
    text = BASE.replace("MOTD", motd).replace("REPLICAS", str(replicas))
    report = validate_documents(parse_text(text, "t.yaml"))
    assert report.ok
    return report.networks[0]


def local_plan(
    d: Declared, ports: dict[str, ServerPorts] | None = None, state: Path = Path("/state")
) -> tuple[NetworkPlan, dict[str, ServerPorts]]:
    counter = itertools.count(20000)
    table_ = assign_ports(d, ports or {}, lambda: next(counter))
    return plan_network(d, LocalPlacement(table_, state)), table_


# ------------------------------------------------------------------ placement


def test_local_servers_listen_on_loopback_and_keep_files_in_the_state_dir() -> None:
    plan, ports = local_plan(declared(), state=Path("/tmp/st"))
    east = plan.servers["east"].node
    assert [(lst.host, lst.port) for lst in east.listeners.irc] == [
        ("127.0.0.1", ports["east"].irc)
    ]
    assert [(lst.host, lst.port) for lst in east.listeners.websocket] == [
        ("127.0.0.1", ports["east"].ws)
    ]
    assert east.history.path == Path("/tmp/st/east.history.sqlite3")
    assert east.drain_seconds <= 2, "Ctrl-C stops everything within 5 seconds"
    dial = plan.servers["fan-1"].links.dial[0]
    assert (dial.host, dial.port) == ("127.0.0.1", ports["east"].ws)


def test_ports_are_kept_for_known_servers_and_new_for_new_ones() -> None:
    _, before = local_plan(declared(replicas=1))
    counter = itertools.count(30000)
    after = assign_ports(declared(replicas=3), before, lambda: next(counter))
    assert after["east"] == before["east"]
    assert {after["fan-0"].irc, after["fan-1"].irc, after["fan-2"].irc} >= {30000}
    assert len({p for sp in after.values() for p in (sp.irc, sp.ws)}) == 8


def test_a_port_free_twice_is_handed_to_one_server_only() -> None:
    # The allocator only knows what is free right now: before the first server
    # binds its port, the same free port can come back for the next one. One
    # of the two would crash-loop on "address in use" (a flaky CI run did).
    repeats = itertools.chain([40000, 40000, 40001, 40001, 40000], itertools.count(40002))
    first = assign_ports(declared(replicas=2), {}, lambda: next(repeats), in_use=[40002])
    ports = [p for sp in first.values() for p in sp.all()]
    assert len(ports) == len(set(ports)) == 9
    assert 40002 not in ports, "a port another network was given is not reused"
    # A new server does not get a port a running one already has.
    again = itertools.chain([first["east"].irc] * 5, itertools.count(41000))
    grown = assign_ports(declared(replicas=3), first, lambda: next(again))
    ports = [p for sp in grown.values() for p in sp.all()]
    assert len(ports) == len(set(ports)) == 12


def test_no_server_gets_the_front_doors_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The front door binds its ports after the servers start: a server that
    # took one first would leave the door unable to open (or itself
    # crash-looping). Here the kernel happens to offer the door's ports first.
    offered = itertools.chain([15000, 15001, 15000], itertools.count(16000))
    monkeypatch.setattr(up, "free_port", lambda host: next(offered))
    runtime = up.Runtime(up.Options(files=[], state_dir=tmp_path, irc_port=15000, ws_port=15001))
    runtime._plan([declared()])
    ports = [port for server in runtime.ports.values() for port in server.all()]
    assert len(ports) == len(set(ports)) == 9
    assert not {15000, 15001} & set(ports)


def test_no_unused_port_is_an_error_not_a_hang() -> None:
    with pytest.raises(RuntimeError, match="no free port after 1000 tries"):
        assign_ports(declared(replicas=2), {}, lambda: 40000)


# -------------------------------------------------------------------- balance


def test_least_loaded_ready_server_wins() -> None:
    loads = [
        ServerLoad("a", ready=True, clients=50, max_clients=100),
        ServerLoad("b", ready=True, clients=300, max_clients=1000),
        ServerLoad("c", ready=False, clients=0, max_clients=100),
    ]
    assert least_loaded(loads) == "b"


def test_full_servers_are_skipped_and_none_when_all_are_full() -> None:
    assert least_loaded([ServerLoad("a", True, 512, 512), ServerLoad("b", True, 3, 512)]) == "b"
    assert least_loaded([ServerLoad("a", True, 512, 512), ServerLoad("b", False, 0, 5)]) is None
    assert least_loaded([ServerLoad("c", True, 0, 0)]) is None, "a control room takes no one"


def test_pending_connections_count_until_the_next_poll() -> None:
    loads = [ServerLoad("a", True, 0, 10, pending=3), ServerLoad("b", True, 1, 10)]
    assert least_loaded(loads) == "b"
    assert least_loaded([ServerLoad("a", True, 9, 10, pending=1)]) is None


def test_a_connection_stays_pending_until_a_later_probe_must_have_seen_it() -> None:
    sent = [10.0, 10.4]
    assert settle(sent, probe_started=10.3) == sent, "a probe racing the connection"
    assert settle(sent, probe_started=10.0 + SETTLE_SECONDS + 0.01) == [10.4]
    assert settle(sent, probe_started=20.0) == []


def test_ties_are_broken_by_name() -> None:
    assert least_loaded([ServerLoad("b", True, 0, 10), ServerLoad("a", True, 0, 10)]) == "a"


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 50), st.integers(0, 50)), max_size=8))
def test_a_burst_spreads_evenly(specs: list[tuple[bool, int, int]]) -> None:
    loads = {
        f"s{i}": ServerLoad(f"s{i}", ready, min(clients, cap), cap)
        for i, (ready, clients, cap) in enumerate(specs)
    }
    room = sum(s.max_clients - s.clients for s in loads.values() if s.ready)
    placed = 0
    while (choice := least_loaded(loads.values())) is not None:
        s = loads[choice]
        loads[choice] = ServerLoad(s.name, s.ready, s.clients, s.max_clients, s.pending + 1)
        placed += 1
    # Every free seat gets used, and no server ever goes over its maximum.
    assert placed == room
    assert all(s.clients + s.pending <= s.max_clients for s in loads.values())


# -------------------------------------------------------------------- backoff


def test_backoff_doubles_up_to_a_limit_and_resets_after_a_good_run() -> None:
    delays = [FIRST]
    for _ in range(10):
        delays.append(next_delay(delays[-1], ran_for=0.1))
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert delays[-1] == LIMIT
    assert next_delay(LIMIT, ran_for=600) == FIRST


# -------------------------------------------------------------------- changes


def test_nothing_changed_touches_nothing() -> None:
    plan, _ = local_plan(declared())
    changes = diff_servers(plan.servers, plan.servers)
    assert changes.empty
    assert sorted(changes.unchanged) == ["east", "fan-0", "fan-1"]


def test_motd_change_reloads_without_restart() -> None:
    old, ports = local_plan(declared(motd="one"))
    new, _ = local_plan(declared(motd="two"), ports)
    changes = diff_servers(old.servers, new.servers)
    assert sorted(changes.reload) == ["east", "fan-0", "fan-1"]
    assert changes.restart == changes.start == changes.stop == []


def test_scaling_starts_and_stops_only_the_difference() -> None:
    old, ports = local_plan(declared(replicas=2))
    new, _ = local_plan(declared(replicas=3), ports)
    changes = diff_servers(old.servers, new.servers)
    assert changes.start == ["fan-2"]
    assert changes.stop == []
    # east now accepts one more leaf: a live link change, not a restart.
    assert changes.reload == ["east"]
    back = diff_servers(new.servers, old.servers)
    assert back.stop == ["fan-2"]


def test_new_listener_means_restart() -> None:
    old, ports = local_plan(declared())
    moved = dict(ports)
    moved["east"] = ServerPorts(1, 2, 3)
    new, _ = local_plan(declared(), moved)
    assert diff_servers(old.servers, new.servers).restart == ["east"]


# --------------------------------------------------------------------- report


def test_ready_when_every_server_answers_and_takes_clients() -> None:
    plan, _ = local_plan(declared())
    good = {n: Probe(healthy=True, ready=True) for n in plan.servers}
    assert network_ready(plan, good, require_links=False)
    assert not network_ready(
        plan, {**good, "fan-0": Probe(healthy=True, ready=False)}, require_links=False
    )
    assert not network_ready(
        plan, {k: v for k, v in good.items() if k != "east"}, require_links=False
    )
    assert not network_ready(plan, good), "no links are up"
    linked = {n: Probe(healthy=True, ready=True, links_up=1) for n in plan.servers}
    linked["east"] = Probe(healthy=True, ready=True, links_up=2)
    assert network_ready(plan, linked)


def test_endpoints_document_shape(tmp_path: Path) -> None:
    plan, ports = local_plan(declared())
    front = FrontDoor("acme", "127.0.0.1", 6667, 8080)
    doc = endpoints_document([front], [plan], ports, "127.0.0.1")
    assert doc["network"] == {
        "irc": "127.0.0.1:6667",
        "ws": "ws://127.0.0.1:8080/",
        "http": "http://127.0.0.1:8080/",
    }
    assert doc["servers"]["fan-1"]["serverId"] == 21
    assert doc["servers"]["east"]["role"] == "hub"
    assert doc["servers"]["east"]["irc"] == f"127.0.0.1:{ports['east'].irc}"
    assert doc["servers"]["east"]["admin"] == f"http://127.0.0.1:{ports['east'].admin}/"
    out = tmp_path / "sub" / "endpoints.json"
    write_atomically(out, json.dumps(doc))
    assert json.loads(out.read_text()) == doc
    assert [p.name for p in out.parent.iterdir()] == ["endpoints.json"]


def test_table_lists_servers_and_front_door() -> None:
    plan, ports = local_plan(declared())
    text = table([FrontDoor("acme", "127.0.0.1", 6667, 8080)], [plan], ports, "127.0.0.1")
    assert "SERVER" in text and "fan-1" in text
    assert f"http://127.0.0.1:{ports['fan-1'].admin}/" in text
    assert "web chat   http://127.0.0.1:8080/" in text
    assert "IRC        127.0.0.1:6667" in text


# ------------------------------------------------------------------ history


def test_postgres_history_locally_needs_the_dsn_in_the_environment() -> None:

    text = BASE.replace("{motd: MOTD}", "{history: {store: postgres, postgres: {secretName: pg}}}")
    report = validate_documents(parse_text(text.replace("REPLICAS", "1"), "t.yaml"))
    assert report.ok
    with pytest.raises(InputError, match="set CHATNET_HISTORY_DSN") as caught:
        check_local_history(report.networks, {})
    assert caught.value.code == 1 and "ChatNetwork acme" in str(caught.value)
    check_local_history(report.networks, {"CHATNET_HISTORY_DSN": "postgresql://x@y/z"})
    check_local_history([declared()], {})  # sqlite needs nothing
    plan, _ = local_plan(report.networks[0])
    history = plan.servers["east"].node.history
    assert (history.store, history.path, history.dsn) == ("postgres", None, None)
