"""`chatnet validate`: every rule, with the error text a user reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import chatnet_node
from chatnet_node.config.base import ids_clash
from chatnet_operator.api.loader import Document
from chatnet_operator.api.server_ids import free_server_ids
from chatnet_operator.api.validate import validate_documents
from chatnet_operator.cli import main
from chatnet_operator.plan.placement import ClusterPlacement
from chatnet_operator.plan.planner import plan_network

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))

NETWORK = """\
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {name: acme}
spec: {endpoint: {websocketPort: 8080, ircPort: 6667}}
"""


def server(name: str, spec: str) -> str:
    return (
        f"---\napiVersion: chatnet.io/v1alpha1\nkind: ChatServer\n"
        f"metadata: {{name: {name}}}\nspec: {{network: acme, {spec}}}\n"
    )


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *texts: str) -> tuple[int, str, str]:
    paths = []
    for index, text in enumerate(texts):
        path = tmp_path / f"f{index}.yaml"
        path.write_text(text)
        paths.append(str(path))
    code = main(["validate", *paths])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_valid(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(example)]) == 0, capsys.readouterr().err
    assert "valid: ChatNetwork" in capsys.readouterr().out


def test_valid_network_lists_its_servers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        NETWORK
        + server("hub", "role: hub, serverId: 1")
        + server("fan", "role: leaf, serverId: 5, replicas: 2, uplinks: [hub]")
    )
    code, out, err = run(tmp_path, capsys, text)
    assert code == 0, err
    assert "acme: 3 servers (hub, fan-0, fan-1)" in out


def test_yaml_syntax_error_names_file_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(tmp_path, capsys, NETWORK + "---\nkind: ChatServer\nspec: [1,\n  x: y: z\n")
    assert code == 2
    assert "f0.yaml:8:" in err and "YAML syntax error" in err


def test_missing_file_is_unreadable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: cannot read" in capsys.readouterr().err


def test_all_problems_are_reported_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        NETWORK
        + server("a", "role: hub, serverId: 1")
        + server("b", "role: leaf, serverId: 1, uplinks: [nowhere]")
        + server("c", "role: boss, serverId: 3")
    )
    code, _, err = run(tmp_path, capsys, text)
    assert code == 1
    assert "server ID 1" in err
    assert "no ChatServer or portal named 'nowhere'" in err
    assert "ChatServer/c: spec.role: Input should be 'hub', 'leaf' or 'control'" in err
    assert "3 problems found" in err


def test_problem_names_file_line_object_field_and_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = NETWORK + server("hub", "role: hub, serverId: 1, maxClinets: 5")
    code, _, err = run(tmp_path, capsys, text)
    assert code == 1
    assert "f0.yaml:9: ChatServer/hub: spec.maxClinets: Extra inputs are not permitted" in err
    assert "fix: did you mean maxClients? (keys are camelCase)" in err


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("acme.chat", None),
        (
            "Acme.Chat",
            "ChatNetwork/acme: spec.serverDomain: String should match pattern",
        ),
        ("-acme.chat", "spec.serverDomain: String should match pattern"),
        (
            "a-very-long-domain-name-for-a-chat-network.example.org.uk",
            "ChatNetwork/acme: spec.serverDomain: server hub-east would be IRC server "
            "'hub-east.a-very-long-domain-name-for-a-chat-network.example.org.uk', longer than "
            "63 characters; fix: use a shorter serverDomain or shorter ChatServer names",
        ),
    ],
)
def test_server_domain(
    domain: str, expected: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    network = NETWORK.replace("spec: {", f"spec: {{serverDomain: {domain}, ")
    code, _, err = run(tmp_path, capsys, network + server("hub-east", "role: hub, serverId: 1"))
    if expected is None:
        assert code == 0, err
    else:
        assert code == 1
        assert expected in err


@pytest.mark.parametrize(
    ("servers", "expected"),
    [
        pytest.param(
            server("a", "role: hub, serverId: 1") + server("a", "role: hub, serverId: 2"),
            "ChatServer/a: metadata.name: ChatServer 'a' is declared twice",
            id="duplicate-name",
        ),
        pytest.param(
            server("a", "role: hub, serverId: 1, peers: [b]")
            + server("b", "role: hub, serverId: 1"),
            "ChatServer/b: spec.serverId: server ID 1 (of b) is also used by a; "
            "fix: give each server its own ID range, e.g. serverId: 2",
            id="duplicate-id",
        ),
        pytest.param(
            server("a", "role: hub, serverId: 1, peers: [b]")
            + server("b", "role: hub, serverId: 2, replicas: 3"),
            None,
            id="replica-ranges-disjoint-ok",
        ),
        pytest.param(
            server("a", "role: hub, serverId: 3")
            + server("f", "role: leaf, serverId: 1, replicas: 3, uplinks: [a]"),
            "server ID 3 (of f-2) is also used by a",
            id="replica-range-overlaps",
        ),
        pytest.param(
            server("a", "role: hub, serverId: 3, peers: [f]")
            + server(
                "f",
                "role: hub, serverId: 1, replicas: 1, autoscale: {minReplicas: 1, maxReplicas: 3}",
            ),
            "ChatServer/f: spec.serverId: server ID 3 (of f-2, a replica autoscaling may add) "
            "is also used by a; fix: give each server its own ID range, e.g. serverId: 4",
            id="autoscale-ceiling-overlaps",
        ),
        pytest.param(
            server("a", "role: hub, serverId: 1, peers: [b]")
            + server("b", "role: hub, serverId: 26"),
            "ChatServer/b: spec.serverId: server ID 26 of b (hex 1a) begins like a's 1 (hex 1): "
            "their msgids could not be told apart; fix: give the network's servers IDs of one "
            "hex width: all from 1 to 15, 16 to 255 (two hex digits) or 256 to 4095 (three)",
            id="ids-hex-begin-alike",
        ),
        pytest.param(
            server("a", "role: hub, serverId: 1")
            + server(
                "f",
                "role: leaf, serverId: 10, replicas: 1, uplinks: [a], "
                "autoscale: {minReplicas: 1, maxReplicas: 8}",
            ),
            "ChatServer/f: spec.serverId: server ID 16 of f-6 (hex 10) begins like a's 1 (hex 1)",
            id="autoscale-ceiling-begins-alike",
        ),
        pytest.param(
            server(
                "a",
                "role: hub, serverId: 2, peers: [far], "
                "portals: [{name: far, address: far.example, port: 8443, serverId: 42}]",
            ),
            # The portal's ID is its remote server's: a's is the one to change.
            "ChatServer/a: spec.serverId: server ID 2 of a (hex 2) begins like far's 42 "
            "(hex 2a): their msgids could not be told apart; fix: give the network's servers "
            "IDs of one hex width: all from 1 to 15, 16 to 255 (two hex digits) or 256 to 4095 "
            "(three), e.g. serverId: 1",
            id="portal-begins-alike",
        ),
        pytest.param(
            server("hub-us", "role: hub, serverId: 16, peers: [hub-eu]")
            + server("hub-eu", "role: hub, serverId: 32")
            + server("us", "role: leaf, serverId: 17, replicas: 3, uplinks: [hub-us]")
            + server("eu", "role: leaf, serverId: 33, replicas: 3, uplinks: [hub-eu]"),
            None,
            id="ids-of-one-hex-width-ok",
        ),
        pytest.param(
            server("a", "role: hub, serverId: 1")
            + server("b", "role: hub, serverId: 2")
            + server("c", "role: hub, serverId: 3, peers: [b]"),
            "ChatNetwork/acme: metadata.name: its hubs form 2 separate groups (a | b, c), so "
            "users on one side never see the other; fix: add 'b' to spec.peers of "
            "ChatServer 'a'",
            id="hubs-disconnected",
        ),
        pytest.param(
            server("a", "role: hub, serverId: 1")
            + server("l", "role: leaf, serverId: 2, uplinks: [a]")
            + server("m", "role: leaf, serverId: 3, uplinks: [l]"),
            "ChatServer/m: spec.uplinks[0]: 'l' is a leaf; uplinks must be hubs; "
            "fix: use a hub of network acme: a",
            id="uplink-to-leaf",
        ),
        pytest.param(
            server("a", "role: hub, serverId: 1")
            + server("l", "role: leaf, serverId: 2, uplinks: [ghost]"),
            "ChatServer/l: spec.uplinks[0]: no ChatServer or portal named 'ghost'; "
            "fix: use a hub of network acme: a",
            id="uplink-missing",
        ),
        pytest.param(
            server("a", "role: hub, serverId: 1, peers: [a]"),
            "ChatServer/a: spec.peers[0]: a server cannot link to itself",
            id="peer-self",
        ),
        pytest.param(
            server("a", "role: hub, serverId: 1, peers: [c1]")
            + server("c1", "role: control, serverId: 2")
            + server("c2", "role: control, serverId: 3, peers: [a]"),
            "ChatServer/c2: spec.role: the network already has a control server (c1); "
            "a network has at most one",
            id="two-controls",
        ),
        pytest.param(
            server("a", "role: hub, serverId: 1")
            + server("c", "role: control, serverId: 2, maxClients: 10, peers: [a]"),
            "ChatServer/c: spec: a control server serves no clients: remove maxClients or "
            "set it to 0",
            id="control-serves-clients",
        ),
        pytest.param(
            server("c", "role: control, serverId: 2"),
            "ChatNetwork/acme: metadata.name: no ChatServer in this network serves clients",
            id="no-client-server",
        ),
        pytest.param(
            server("a", "role: hub, serverId: 1, uplinks: [a]"),
            "only leaves have uplinks",
            id="hub-with-uplinks",
        ),
        pytest.param(
            server("a", "role: hub, serverId: 1")
            + server("l", "role: leaf, serverId: 2, peers: [a]"),
            "a leaf links to one hub at a time: list its hubs in uplinks, not peers",
            id="leaf-with-peers",
        ),
        pytest.param(
            server("a", "role: hub, serverId: 4095, replicas: 2"),
            "serverId + replicas - 1 must not exceed 4095",
            id="id-range-too-high",
        ),
        pytest.param(
            server("a", "role: hub, serverId: 1")
            + server("f", "role: leaf, serverId: 5, replicas: 2, uplinks: [a]")
            + server("f-1", "role: leaf, serverId: 9, uplinks: [a]"),
            "server name 'f-1' is also a replica of ChatServer 'f'",
            id="replica-name-clash",
        ),
        pytest.param(
            server(
                "a",
                "role: hub, serverId: 1, peers: [far], portals: "
                "[{name: far, address: 10.0.0.1, port: 8080, serverId: 1}]",
            ),
            "portal 'far' uses server ID 1, already used by a",
            id="portal-id-clash",
        ),
        pytest.param(
            server("a", "role: hub, serverId: 1, peers: [far]")
            + server(
                "l",
                "role: leaf, serverId: 2, uplinks: [far], portals: "
                "[{name: far, address: far.example.net, port: 8080, serverId: 99}]",
            ),
            "ChatServer/a: spec.peers[0]: no ChatServer or portal named 'far'",
            id="portal-is-per-server",
        ),
        pytest.param(
            server("a", "role: hub, serverId: 1")
            + "---\napiVersion: chatnet.io/v1alpha1\nkind: ChatServer\n"
            "metadata: {name: x}\nspec: {network: other, role: hub, serverId: 7}\n",
            "ChatServer/x: spec.network: no ChatNetwork named 'other' in namespace 'default'; "
            "fix: create it, or use one of: acme",
            id="network-missing",
        ),
        pytest.param(
            server("a", "role: hub, serverId: 1")
            + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
            "ConfigMap/x: kind: 'ConfigMap' is not a chatnet kind",
            id="foreign-kind",
        ),
        pytest.param(
            server("a", "role: hub, serverId: 1")
            + "---\napiVersion: chatnet.io/v1\nkind: ChatServer\nmetadata: {name: x}\n",
            "ChatServer/x: apiVersion: 'chatnet.io/v1' is not served; "
            "fix: use apiVersion: chatnet.io/v1alpha1",
            id="wrong-version",
        ),
    ],
)
def test_rule(
    servers: str, expected: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(tmp_path, capsys, NETWORK + servers)
    if expected is None:
        assert code == 0, err
    else:
        assert code == 1
        assert expected in err


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (
            "links: {peerRate: -5}",
            "ChatNetwork/acme: spec.links.peerRate: Input should be greater than or equal to 0",
        ),
        (
            "history: {maxMessagesPerTarget: 0}",
            "ChatNetwork/acme: spec.history.maxMessagesPerTarget: "
            "Input should be greater than or equal to 1",
        ),
    ],
    ids=["negative-link-flood-limit", "no-history-kept-per-channel"],
)
def test_a_number_out_of_range_is_refused_by_name(
    setting: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    network = NETWORK.replace("spec: {", f"spec: {{{setting}, ")
    code, _, err = run(tmp_path, capsys, network + server("a", "role: hub, serverId: 1"))
    assert code == 1
    assert expected in err, err


def test_uplink_in_another_network(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = NETWORK.replace("acme", "beta").replace("8080", "8081").replace("6667", "6668")
    text = (
        NETWORK
        + server("a", "role: hub, serverId: 1")
        + "---\n"
        + other
        + server("b", "role: hub, serverId: 1").replace("network: acme", "network: beta")
        + server("l", "role: leaf, serverId: 2, uplinks: [b]")
    )
    code, _, err = run(tmp_path, capsys, text)
    assert code == 1
    assert "ChatServer/l: spec.uplinks[0]: 'b' belongs to network 'beta', not 'acme'" in err


def test_local_port_clash_between_networks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = NETWORK.replace("acme", "beta").replace("6667", "6668")
    text = (
        NETWORK
        + server("a", "role: hub, serverId: 1")
        + "---\n"
        + other
        + server("b", "role: hub, serverId: 1").replace("network: acme", "network: beta")
    )
    # On a cluster each network has its own Service: the same port is fine.
    code, _, err = run(tmp_path, capsys, text)
    assert code == 0, err
    # Locally both front doors would listen on this machine.
    assert main(["validate", "--local", str(tmp_path / "f0.yaml")]) == 1
    err = capsys.readouterr().err
    assert (
        "ChatNetwork/beta: spec.endpoint.websocketPort: port 8080 is also used by network acme"
        in err
    )
    assert "6667" not in err, "only the clashing port is reported"


def test_objects_spread_over_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(tmp_path, capsys, NETWORK, server("a", "role: hub, serverId: 1"))
    assert code == 0, err


def test_empty_input_is_invalid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(tmp_path, capsys, "# nothing here\n")
    assert code == 1
    assert "no documents found" in err


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5000), st.sampled_from(["hub", "leaf", "a", ""])
)


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # A named function, not a lambda: hypothesis reads its source to check
    # that it uses its argument, and cannot always find a lambda's.
    keys = st.sampled_from(["name", "peers", "uplinks", "x"])
    return st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3)


_values = st.recursive(_scalars, _containers, max_leaves=8)
_specs = st.fixed_dictionaries(
    {},
    optional={
        "network": st.sampled_from(["acme", "other", 3]),
        "role": st.sampled_from(["hub", "leaf", "control", "boss"]),
        "serverId": st.integers(-1, 5000),
        "replicas": st.integers(-1, 4),
        "maxClients": st.integers(-1, 10),
        "peers": st.lists(st.sampled_from(["a", "b", "c", "far"]), max_size=3),
        "uplinks": st.lists(st.sampled_from(["a", "b", "c", "far"]), max_size=3),
        "portals": st.lists(_values, max_size=2),
        "junk": _values,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", "B!"]), _specs), max_size=5))
def test_any_input_gives_problems_never_a_crash(servers: list[tuple[str, dict[str, Any]]]) -> None:
    docs = [Document("f.yaml", 1, yaml.safe_load(NETWORK))]
    for name, spec in servers:
        data = {
            "apiVersion": "chatnet.io/v1alpha1",
            "kind": "ChatServer",
            "metadata": {"name": name},
            "spec": spec,
        }
        docs.append(Document("f.yaml", 1, data))
    report = validate_documents(docs)
    for problem in report.problems:
        assert problem.obj and problem.field and problem.problem and problem.fix
    if report.ok:
        # Whatever validates can be planned.
        for declared in report.networks:
            plan_network(declared, ClusterPlacement(declared.network))


def test_a_broken_object_is_reported_once_not_echoed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        NETWORK
        + server("a", "role: hub, serverId: 1, peers: [b]")
        + server("b", "role: hub, serverId: 2, maxClinets: 5")
        + server("l", "role: leaf, serverId: 3, uplinks: [b]")
    )
    code, _, err = run(tmp_path, capsys, text)
    assert code == 1
    assert "did you mean maxClients?" in err
    assert "named 'b'" not in err, "b exists; only its own problem is reported"
    assert "1 problem found" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """``chatnet --version``: the operator and the node ship together, one version."""
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"chatnet {chatnet_node.__version__}\n"


@pytest.mark.parametrize(
    ("links", "servers", "expected"),
    [
        (
            "{tls: 'off', signAdverts: true}",
            server("a", "role: hub, serverId: 1"),
            "ChatNetwork/acme: spec.links: links.signAdverts needs each server's own "
            "certificate from the network CA",
        ),
        (
            "{tlsSecretName: shared-tls, signAdverts: true}",
            server("a", "role: hub, serverId: 1"),
            "no tlsSecretName (one certificate shared by every server)",
        ),
        (
            "{signAdverts: true}",
            server(
                "a",
                "role: hub, serverId: 1, portals: "
                "[{name: old, address: 10.0.0.9, port: 7000, serverId: 40}]",
            ),
            "ChatNetwork/acme: spec.links.signAdverts: ChatServer/a links to servers outside "
            "the network (old), which cannot sign their adverts",
        ),
        (
            "{signAdverts: true}",
            server(
                "a",
                "role: hub, serverId: 16, replicas: 2, "
                "autoscale: {minReplicas: 2, maxReplicas: 41}",
            ),
            "ChatServer/a may run 41 replicas; its link certificate names each of them",
        ),
    ],
    ids=["tls-off", "shared-certificate", "portals", "set-too-large"],
)
def test_signed_adverts_need_a_certificate_per_server(
    links: str, servers: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    network = NETWORK.replace("spec: {", f"spec: {{links: {links}, ")
    code, _, err = run(tmp_path, capsys, network + servers)
    assert code == 1, err
    assert expected in err


@pytest.mark.parametrize(
    "links",
    ["{tls: 'off', podCertificates: true}", "{tlsSecretName: shared-tls, podCertificates: true}"],
    ids=["tls-off", "shared-certificate"],
)
def test_pod_certificates_need_link_tls_from_an_issuer(
    links: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    network = NETWORK.replace("spec: {", f"spec: {{links: {links}, ")
    code, _, err = run(tmp_path, capsys, network + server("a", "role: hub, serverId: 1"))
    assert code == 1, err
    assert (
        "ChatNetwork/acme: spec.links: links.podCertificates needs each pod's own certificate "
        "from the network CA (or issuerRef): tls not off, and no tlsSecretName (one "
        "certificate shared by every server)"
    ) in err


@pytest.mark.parametrize("pod_certificates", [False, True], ids=["shared", "per-pod"])
def test_signed_adverts_of_any_set_size_with_pod_certificates(
    pod_certificates: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ChatServer's certificate names every replica, so signAdverts caps a set at 40;
    each pod's own certificate names it alone, so no cap."""
    links = f"{{signAdverts: true, podCertificates: {str(pod_certificates).lower()}}}"
    network = NETWORK.replace("spec: {", f"spec: {{links: {links}, ")
    code, out, err = run(
        tmp_path, capsys, network + server("a", "role: hub, serverId: 16, replicas: 60")
    )
    if pod_certificates:
        assert code == 0, err
        assert "acme: 60 servers (a-0, a-1, " in out
    else:
        assert code == 1, err
        assert "ChatServer/a may run 60 replicas; its link certificate names each of them" in err
        assert "fix: set links.podCertificates: true (each pod its own certificate" in err


def test_signed_adverts_are_refused_locally_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    network = NETWORK.replace("spec: {", "spec: {links: {signAdverts: true}, ")
    code, _, err = run(tmp_path, capsys, network + server("a", "role: hub, serverId: 1"))
    assert code == 0, err  # on a cluster: per-server certificates from the network CA
    assert main(["validate", "--local", str(tmp_path / "f0.yaml")]) == 1
    err = capsys.readouterr().err
    assert (
        "ChatNetwork/acme: spec.links.signAdverts: run locally, servers have no link "
        "certificates from a network CA to sign their adverts with; fix: set "
        "signAdverts: false to run this network with chatnet up"
    ) in err


def test_the_free_id_suggested_clashes_with_none_taken_nor_within_its_set() -> None:
    assert free_server_ids({1}, 1) == 2
    assert free_server_ids({1, 15}, 1) == 2
    assert free_server_ids({1, 2, 3}, 20) == 0x40  # 4..23 holds 16 (hex 10), which begins like 1
    assert free_server_ids(set(range(1, 16)), 3) is None  # every hex digit begins a taken ID
    for taken, count in (({1, 2, 3}, 20), ({16, 32, 0x2A5}, 5)):
        start = free_server_ids(taken, count)
        assert start is not None
        ids = set(range(start, start + count))
        assert not any(ids_clash(a, b) for a in ids for b in taken)
        assert not any(ids_clash(a, b) for a in ids for b in ids if a != b)
