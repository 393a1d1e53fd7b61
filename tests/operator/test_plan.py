"""The planner: per-server node configuration and links, as a pure function."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from chatnet_node.config import Limits, Links, dump_config, parse_config
from chatnet_node.links import protocol as lp
from chatnet_node.links.protocol import MAX_LINK_MESSAGE
from chatnet_node.links.signatures import AdvertSignatures
from chatnet_operator.api.loader import load_files, parse_text
from chatnet_operator.api.models import ChatNetwork, ChatServer
from chatnet_operator.api.outcome import Declared
from chatnet_operator.api.rules import SIGNED_SET_MAX
from chatnet_operator.api.validate import check_objects, validate_documents
from chatnet_operator.cli import _with_namespace
from chatnet_operator.plan import linkpki
from chatnet_operator.plan.desired import NetworkPlan
from chatnet_operator.plan.placement import ClusterPlacement
from chatnet_operator.plan.planner import node_links, plan_network

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def plan_file(name: str, namespace: str | None = None) -> NetworkPlan:
    report = validate_documents(load_files([EXAMPLES / name]))
    assert report.ok, report.problems
    declared = _with_namespace(report.networks[0], namespace)
    return plan_network(declared, ClusterPlacement(declared.network))


def plan_text(text: str) -> NetworkPlan:
    report = validate_documents(parse_text(text, "test.yaml"))
    assert report.ok, [str(p) for p in report.problems]
    declared = report.networks[0]
    return plan_network(declared, ClusterPlacement(declared.network))


HEAD = """\
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {name: acme}
spec: {displayName: AcmeNet, limits: {maxClients: 300}, SPEC}
"""


def net(spec: str = "", *servers: str) -> str:
    out = HEAD.replace(", SPEC", f", {spec}" if spec else "")
    for text in servers:
        name, rest = text.split(":", 1)
        out += (
            "---\napiVersion: chatnet.io/v1alpha1\nkind: ChatServer\n"
            f"metadata: {{name: {name}}}\nspec: {{network: acme, {rest}}}\n"
        )
    return out


def test_exchange_three_servers_ids_capacity_and_links() -> None:
    plan = plan_file("exchange-three-servers.yaml")
    assert {n: s.server_id for n, s in plan.servers.items()} == {
        "chat1": 10,
        "chat2": 11,
        "chat3": 12,
    }
    assert sum(s.node.limits.max_clients for s in plan.servers.values()) == 3000
    # Every declared hub link comes up (a triangle), each dialed by the higher ID...
    assert plan.links == [("chat2", "chat1"), ("chat3", "chat1"), ("chat3", "chat2")]
    assert plan.expected_links == 3
    assert [t.name for t in plan.servers["chat3"].links.dial] == ["chat1", "chat2"]
    assert plan.servers["chat1"].links.dial == []
    for name, server in plan.servers.items():
        assert server.links.accept == sorted(set(plan.servers) - {name})
    # ...and a spanning tree of them is the loop-free backbone.
    assert plan.tree == [("chat2", "chat1"), ("chat3", "chat1")]


def test_every_replica_is_a_server_with_its_own_id() -> None:
    plan = plan_file("webcrossing-fanout.yaml")
    fanouts = {n: s for n, s in plan.servers.items() if s.chat_server == "fanout"}
    assert {n: s.server_id for n, s in fanouts.items()} == {
        "fanout-0": 100,
        "fanout-1": 101,
        "fanout-2": 102,
        "fanout-3": 103,
    }
    assert all(s.node.limits.max_clients == 512 for s in fanouts.values())
    assert plan.servers["control"].node.limits.max_clients == 0
    assert not plan.servers["control"].serves_clients


def test_fanout_replicas_spread_over_a_hub_set() -> None:
    plan = plan_file("webcrossing-fanout.yaml")
    first = {n: s.links.dial[0].name for n, s in plan.servers.items() if n.startswith("fanout")}
    assert first == {
        "fanout-0": "conference-0",
        "fanout-1": "conference-1",
        "fanout-2": "conference-0",
        "fanout-3": "conference-1",
    }
    # The control room comes last: the declared order of uplinks is kept.
    assert [t.name for t in plan.servers["fanout-0"].links.dial][-1] == "control"


def test_a_hub_set_and_its_peers_form_a_mesh() -> None:
    plan = plan_file("webcrossing-fanout.yaml")
    hub_links = [(a, b) for a, b in plan.links if not a.startswith("fanout")]
    assert hub_links == [
        ("conference-0", "control"),
        ("conference-1", "control"),
        ("conference-1", "conference-0"),
    ]
    assert len(plan.tree) == len(plan.servers) - 1


def test_leaf_prefers_its_first_uplink_then_fails_over() -> None:
    plan = plan_file("conferenceroom-geographic.yaml")  # IRC names end in geo.example
    dial = {name: [t.name for t in plan.servers[name].links.dial] for name in plan.servers}
    assert dial["eu-paris"] == ["hub-eu.geo.example", "hub-us.geo.example"]
    assert dial["us-west"] == ["hub-us.geo.example", "hub-eu.geo.example"]
    assert "eu-paris.geo.example" in plan.servers["hub-eu"].links.accept
    assert "eu-paris.geo.example" in plan.servers["hub-us"].links.accept, "a failover hub too"
    assert plan.expected_links == 7


def test_link_settings_come_from_the_network() -> None:
    plan = plan_file("conferenceroom-geographic.yaml")
    links = plan.servers["us-east"].links
    assert links.tls == "required"
    assert all(t.tls for t in links.dial), "SSL-only links dial with TLS"
    assert (links.ping_interval, links.ping_timeout) == (60.0, 180.0)
    assert links.secret_file == Path("/etc/chatnet/link/secret")


def test_the_link_flood_limit_comes_from_the_network() -> None:
    text = """
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {name: acme}
spec: {links: {peerRate: 500, peerBurst: 5000}}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: hub}
spec: {network: acme, role: hub, serverId: 1}
"""
    links = plan_text(text).servers["hub"].links
    assert (links.peer_rate, links.peer_burst) == (500, 5000)
    rendered = node_links(links).model_dump(by_alias=True)
    assert (rendered["peerRate"], rendered["peerBurst"]) == (500, 5000)
    default = plan_text(text.replace("{links: {peerRate: 500, peerBurst: 5000}}", "{}"))
    assert (default.servers["hub"].links.peer_rate, default.servers["hub"].links.peer_burst) == (
        Links().peer_rate,
        Links().peer_burst,
    ), "the cluster's default is the node's"


QUOTAS = """
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {name: acme}
spec: {limits: {maxClients: 3000}, links: {}}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: hub}
spec: {network: acme, role: hub, serverId: 1}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: fanout}
spec:
  network: acme
  role: leaf
  serverId: 2
  uplinks: [hub]
  maxClients: 8000
  autoscale: {minReplicas: 1, maxReplicas: 4}
"""


def test_what_other_servers_may_fill_a_server_with_is_bounded_by_the_manifests() -> None:
    """Five servers at most (the hub, four fan-outs), 8000 clients on one at most,
    100 channels a client, 35,000 clients in all (the hub's 3000, four times 8000):
    each bound is twice that (servers: at least 64, a power of two; clients in all: a
    power of two). Set in ``spec.links``, it is kept."""
    links = plan_text(QUOTAS).servers["hub"].links
    assert (
        links.max_servers,
        links.max_users_per_server,
        links.max_channels_per_user,
        links.max_remote_users,
    ) == (64, 16000, 2 * Limits().max_channels_per_client, 131072)
    rendered = node_links(links).model_dump(by_alias=True)
    assert (rendered["maxServers"], rendered["maxUsersPerServer"]) == (64, 16000)
    assert rendered["maxRemoteUsers"] == 131072
    grown = plan_text(QUOTAS.replace("maxReplicas: 4", "maxReplicas: 5"))
    assert grown.servers["hub"].links.max_remote_users == 131072, (
        "43,000 clients: a replica more changes no server's configuration"
    )
    mine = plan_text(QUOTAS.replace("links: {}", "links: {maxRemoteUsers: 7}"))
    assert mine.servers["fanout-0"].links.max_remote_users == 7
    mine = plan_text(QUOTAS.replace("links: {}", "links: {maxUsersPerServer: 50}"))
    assert mine.servers["fanout-0"].links.max_users_per_server == 50
    assert mine.servers["fanout-0"].links.max_servers == 64
    many = plan_text(
        QUOTAS.replace("maxReplicas: 4", "maxReplicas: 40")
        .replace("serverId: 1}", "serverId: 16}")
        .replace("serverId: 2\n", "serverId: 32\n")
    )
    assert many.servers["hub"].links.max_servers == 128, "41 servers: twice, a power of two"


def test_with_a_portal_outside_the_cluster_the_nodes_default_bounds_hold() -> None:
    outside = QUOTAS.replace(
        "spec: {network: acme, role: hub, serverId: 1}",
        "spec: {network: acme, role: hub, serverId: 1, peers: [partner],"
        " portals: [{name: partner, address: irc.partner.example, port: 7000, serverId: 9}]}",
    )
    links = plan_text(outside).servers["hub"].links
    assert (
        links.max_servers,
        links.max_users_per_server,
        links.max_channels_per_user,
        links.max_remote_users,
    ) == (
        Links().max_servers,
        Links().max_users_per_server,
        2 * Limits().max_channels_per_client,
        Links().max_remote_users,
    )


def test_cluster_addresses_are_stable_pod_dns_names() -> None:
    plan = plan_file("webcrossing-fanout.yaml", namespace="default")
    target = plan.servers["fanout-1"].links.dial[0]
    assert (target.host, target.port) == (
        "conference-1.conference.default.svc.cluster.local",
        8080,
    )
    control = plan.servers["conference-0"].links.dial[0]
    assert control.host == "control-0.control.default.svc.cluster.local"


def test_limits_default_from_network_and_override_per_server() -> None:
    plan = plan_text(
        net("", "a: role: hub, serverId: 1", "b: role: hub, serverId: 2, maxClients: 7, peers: [a]")
    )
    assert plan.servers["a"].node.limits.max_clients == 300
    assert plan.servers["b"].node.limits.max_clients == 7


def test_identity_motd_and_history() -> None:
    plan = plan_text(
        net(
            "motd: hello, history: {store: sqlite, retention: 2h, maxMessagesPerTarget: 50000}",
            "a: role: hub, serverId: 5",
        )
    )
    node = plan.servers["a"].node
    assert (node.name, node.server_id, node.network, node.motd) == ("a", 5, "AcmeNet", "hello")
    assert node.history.retention_seconds == 7200
    assert node.history.max_messages_per_target == 50000
    assert node.history.path == Path("/var/lib/chatnet/history.sqlite3")
    assert node.history.store == "sqlite"
    memory = plan_text(net("history: {store: memory}", "a: role: hub, serverId: 5"))
    assert memory.servers["a"].node.history.path is None
    assert memory.servers["a"].node.history.store == "sqlite"


def test_postgres_history_is_shared_and_its_dsn_never_in_the_configuration() -> None:
    plan = plan_text(
        net(
            "history: {store: postgres, retention: 1h, postgres: {secretName: pg}}",
            "a: role: hub, serverId: 5",
            "b: role: hub, serverId: 6, peers: [a]",
        )
    )
    for server in plan.servers.values():
        history = server.node.history
        assert (history.store, history.path, history.dsn, history.dsn_file) == (
            "postgres",
            None,
            None,
            None,
        )
        assert history.retention_seconds == 3600


def test_node_config_round_trips_through_the_node_loader() -> None:
    for server in plan_file("quickstart.yaml").servers.values():
        data = yaml.safe_load(dump_config(server.node))
        assert parse_config(data) == server.node


def test_portals_named_in_peers_are_dialed_others_only_accepted() -> None:
    plan = plan_text(
        net(
            "",
            "a: role: hub, serverId: 1, peers: [far], portals: ["
            "{name: far, address: far.example.net, port: 9000, serverId: 50},"
            "{name: near, address: 10.0.0.2, port: 9001, serverId: 51}]",
        )
    )
    links = plan.servers["a"].links
    assert [(t.name, t.host, t.port, t.external) for t in links.dial] == [
        ("far", "far.example.net", 9000, True)
    ]
    assert {"far", "near"} <= set(links.accept)
    assert plan.expected_links == 1


def test_leaf_uplink_to_an_external_portal() -> None:
    plan = plan_text(
        net(
            "",
            "a: role: hub, serverId: 1",
            "l: role: leaf, serverId: 2, uplinks: [far, a], portals: ["
            "{name: far, address: far.example.net, port: 9000, serverId: 50, tls: true}]",
        )
    )
    dial = plan.servers["l"].links.dial
    assert [(t.name, t.external, t.tls) for t in dial] == [("far", True, True), ("a", False, False)]


def test_auto_connect_off_is_passed_to_the_node() -> None:
    plan = plan_text(
        net(
            "",
            "a: role: hub, serverId: 1",
            "b: role: hub, serverId: 2, peers: [a], autoConnect: false",
        )
    )
    assert plan.servers["b"].links.auto_connect is False
    assert plan.servers["a"].links.auto_connect is True


def test_leaf_set_scaled_to_zero_plans_no_server() -> None:
    plan = plan_text(
        net(
            "", "a: role: hub, serverId: 1", "f: role: leaf, serverId: 5, replicas: 0, uplinks: [a]"
        )
    )
    assert list(plan.servers) == ["a"]


def test_planning_is_deterministic() -> None:
    assert plan_file("conferenceroom-geographic.yaml") == plan_file(
        "conferenceroom-geographic.yaml"
    )


# ------------------------------------------------------------ the tree property


def _meta(name: str) -> dict[str, Any]:
    return {"name": name}


@st.composite
def networks(draw: st.DrawFn) -> Declared:
    """A valid network: connected hubs (with sets), leaves with ordered uplinks."""
    hub_count = draw(st.integers(1, 6))
    hub_names = [f"h{i}" for i in range(hub_count)]
    peers: dict[str, set[str]] = {h: set() for h in hub_names}
    for i in range(1, hub_count):
        # A random spanning tree keeps the hubs connected...
        peers[hub_names[i]].add(hub_names[draw(st.integers(0, i - 1))])
    for _ in range(draw(st.integers(0, hub_count))):
        # ...and extra peer links add cycles the planner must break.
        a, b = draw(st.sampled_from(hub_names)), draw(st.sampled_from(hub_names))
        if a != b and a not in peers[b]:
            peers[a].add(b)
    next_id = 16  # IDs of one hex width (two digits): none begins another
    servers = []
    control = draw(st.booleans()) and hub_count > 1
    for index, name in enumerate(hub_names):
        role = "control" if control and index == 0 else "hub"
        replicas = 1 if role == "control" else draw(st.integers(1, 3))
        spec: dict[str, Any] = {
            "network": "net",
            "role": role,
            "serverId": next_id,
            "replicas": replicas,
            "peers": sorted(peers[name]),
        }
        next_id += replicas
        servers.append(ChatServer.model_validate({"metadata": _meta(name), "spec": spec}))
    for index in range(draw(st.integers(0, 5))):
        replicas = draw(st.integers(0, 4))
        uplinks = draw(st.lists(st.sampled_from(hub_names), min_size=1, max_size=3, unique=True))
        spec = {
            "network": "net",
            "role": "leaf",
            "serverId": next_id,
            "replicas": replicas,
            "uplinks": uplinks,
        }
        next_id += max(replicas, 1)
        servers.append(ChatServer.model_validate({"metadata": _meta(f"l{index}"), "spec": spec}))
    network = ChatNetwork.model_validate({"metadata": _meta("net")})
    report = check_objects([(network, None), *((s, None) for s in servers)])
    assert report.ok, [str(p) for p in report.problems]
    return report.networks[0]


@settings(max_examples=200, deadline=None)
@given(networks())
def test_every_hub_and_leaf_is_linked_into_one_tree(declared: Declared) -> None:
    plan = plan_network(declared, ClusterPlacement(declared.network))
    names = set(plan.servers)
    # A tree: one edge fewer than servers, and every server reachable.
    assert len(plan.tree) == len(names) - 1
    adjacency: dict[str, set[str]] = {n: set() for n in names}
    for a, b in plan.tree:
        adjacency[a].add(b)
        adjacency[b].add(a)
    start = next(iter(names))
    seen, stack = {start}, [start]
    while stack:
        for nxt in adjacency[stack.pop()] - seen:
            seen.add(nxt)
            stack.append(nxt)
    assert seen == names
    assert set(plan.tree) <= set(plan.links)
    for dialer, listener in plan.links:
        # Each link is dialed by exactly one side and accepted by the other.
        assert listener in [t.name for t in plan.servers[dialer].links.dial]
        assert dialer not in [t.name for t in plan.servers[listener].links.dial]
        assert dialer in plan.servers[listener].links.accept
    for name, server in plan.servers.items():
        if server.role == "leaf":
            # A leaf's first choice is its tree link, its only link.
            assert [(a, b) for a, b in plan.links if name in (a, b)] == [
                (name, server.links.dial[0].name)
            ]


def test_server_domain_names_every_server_on_irc_not_in_kubernetes() -> None:
    """Objects keep their names; the nodes, their links and LINKS see ``NAME.<domain>``."""
    plan = plan_file("conferenceroom-geographic.yaml")
    assert sorted(plan.servers) == sorted(s.name for s in plan.servers.values())
    assert {s.name: s.node.name for s in plan.servers.values()}["hub-us"] == "hub-us.geo.example"
    assert all(s.node.name == f"{s.name}.geo.example" for s in plan.servers.values())
    assert all(a.endswith(".geo.example") for s in plan.servers.values() for a in s.links.accept)
    without = plan_file("quickstart.yaml")
    assert all(s.node.name == s.name for s in without.servers.values())


def test_signed_adverts_go_to_every_server_with_a_certificate_naming_it() -> None:
    text = (EXAMPLES / "conferenceroom-geographic.yaml").read_text()
    signed = text.replace("links: {tls: required,", "links: {tls: required, signAdverts: true,")
    assert signed != text
    report = validate_documents(parse_text(signed, "geo.yaml"))
    assert report.ok, [str(p) for p in report.problems]
    declared = _with_namespace(report.networks[0], "chat")
    plan = plan_network(declared, ClusterPlacement(declared.network))
    for name, server in plan.servers.items():
        rendered = node_links(server.links).model_dump(by_alias=True)
        assert rendered["signAdverts"] is True, name
        assert rendered["caFile"] and rendered["certFile"] and rendered["keyFile"], name
    link_ca = plan.cluster.link_ca
    assert link_ca is not None
    names = {cert.server: cert.dns_names for cert in link_ca.certificates}
    assert "us-east.geo.example" in names["us-east"], "the IRC name its adverts are checked for"
    unsigned = plan_file("conferenceroom-geographic.yaml", namespace="chat")
    assert not any(s.links.sign_adverts for s in unsigned.servers.values())


def test_a_signed_advert_of_the_largest_set_allowed_fits_a_link_message(tmp_path: Path) -> None:
    """The longest names (a 50-character set, a 63-character namespace), the most
    replicas signAdverts allows: the certificate rides in every advert."""
    name = "s" * 50
    text = f"""
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {{name: acme}}
spec: {{links: {{tls: required, signAdverts: true}}}}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {{name: {name}}}
spec: {{network: acme, role: hub, serverId: 16, replicas: 2,
        autoscale: {{minReplicas: 2, maxReplicas: {SIGNED_SET_MAX}}}}}
"""
    report = validate_documents(parse_text(text, "big.yaml"))
    assert report.ok, [str(p) for p in report.problems]
    declared = _with_namespace(report.networks[0], "n" * 63)
    plan = plan_network(declared, ClusterPlacement(declared.network))
    assert plan.cluster.link_ca is not None
    (cert_plan,) = plan.cluster.link_ca.certificates
    now = datetime.datetime.now(datetime.UTC)
    ca = linkpki.ca_data("acme", None, now, linkpki.Lifetimes())
    for key, value in linkpki.server_data(
        ca, None, cert_plan.dns_names, now, linkpki.Lifetimes()
    ).items():
        (tmp_path / key).write_bytes(value)
    signer = AdvertSignatures(tmp_path / "tls.crt", tmp_path / "tls.key", tmp_path / "ca.crt")
    neighbours = [f"{name}-{i}" for i in range(SIGNED_SET_MAX)]
    advert = signer.sign(lp.Advert(server=f"{name}-0", sid=1, seq=1, neighbours=neighbours))
    size = len(lp.encode(advert).encode())
    assert size < MAX_LINK_MESSAGE, size
    assert signer.problem(advert, now) is None
