"""Accounts, cloaks and IRC operators of a ChatNetwork: validation, render, Secrets."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatnet_node.config import parse_config
from chatnet_operator.api.loader import parse_text
from chatnet_operator.api.validate import validate_documents
from chatnet_operator.cli import main
from chatnet_operator.cluster.reconcile import cloak_secret
from chatnet_operator.local.manifests import InputError, check_local_secrets, secret_values
from chatnet_operator.plan.placement import ClusterPlacement
from chatnet_operator.plan.planner import plan_network

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "operators-cloaks.yaml"
SERVER = """\
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: hub}
spec: {network: acme, role: hub, serverId: 1}
"""


def network(spec: str) -> str:
    return (
        "apiVersion: chatnet.io/v1alpha1\nkind: ChatNetwork\nmetadata: {name: acme}\n"
        f"spec:\n{spec}\n" + SERVER
    )


def problems(text: str) -> list[str]:
    return [str(p) for p in validate_documents(parse_text(text, "f.yaml")).problems]


def render(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["render", *args]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            "  accounts: {nickGraceSeconds: -1}",
            "f.yaml:5: ChatNetwork/acme: spec.accounts.nickGraceSeconds: Input should be "
            "greater than or equal to 0; fix: correct the value",
        ),
        (
            "  accounts: {nickGraceSeconds: 3601}",
            "f.yaml:5: ChatNetwork/acme: spec.accounts.nickGraceSeconds: Input should be "
            "less than or equal to 3600; fix: correct the value",
        ),
        (
            "  accounts: {guestPrefix: 9guest}",
            "f.yaml:5: ChatNetwork/acme: spec.accounts.guestPrefix: String should match "
            "pattern '^[A-Za-z][A-Za-z0-9_-]{0,15}$'; "
            "fix: use lowercase letters, digits and '-' (or the format shown)",
        ),
        (
            "  accounts: {nickEnforcement: kill}",
            "f.yaml:5: ChatNetwork/acme: spec.accounts.nickEnforcement: Input should be "
            "'rename' or 'warn'; fix: use one of the values listed",
        ),
        (
            "  cloaks: {suffix: -bad}",
            "f.yaml:5: ChatNetwork/acme: spec.cloaks.suffix: String should match pattern "
            "'^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,62})$'; "
            "fix: use lowercase letters, digits and '-' (or the format shown)",
        ),
        (
            "  cloaks: {secret: hunter2}",
            "f.yaml:5: ChatNetwork/acme: spec.cloaks.secret: Extra inputs are not permitted; "
            "fix: did you mean secretRef? (keys are camelCase)",
        ),
        (
            "  operators: [{name: a, passwordSecretRef: {name: s}},"
            " {name: a, passwordSecretRef: {name: s, key: k}}]",
            "f.yaml:4: ChatNetwork/acme: spec: operators must not repeat a name "
            "(operators[].name); "
            "fix: change the fields named in the message",
        ),
        (
            "  operators: [{name: a}]",
            "f.yaml:5: ChatNetwork/acme: spec.operators[0].passwordSecretRef: Field required; "
            "fix: add this field",
        ),
        (
            "  operators: [{name: a, password: x, passwordSecretRef: {name: s}}]",
            "f.yaml:5: ChatNetwork/acme: spec.operators[0].password: Extra inputs are not "
            "permitted; fix: remove it, or correct its spelling (keys are camelCase)",
        ),
    ],
)
def test_invalid_blocks_name_the_field_and_the_problem(spec: str, expected: str) -> None:
    assert problems(network(spec)) == [expected]


def test_accounts_defaults_are_the_nodes() -> None:
    [declared] = validate_documents(parse_text(network("  motd: hi"), "f.yaml")).networks
    plan = plan_network(declared, ClusterPlacement(declared.network))
    node = plan.servers["hub"].node
    assert node.accounts == type(node.accounts)()
    assert node.cloaks.enabled and node.operators == []
    # Cloaks on by default: the generated Secret, mounted, is the only source.
    assert str(node.cloaks.secret_file) == "/etc/chatnet/secrets/acme-cloak/secret"
    assert plan.cluster.cloak_secret_generated == "acme-cloak"


def _objects(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def test_render_mounts_operator_and_cloak_secrets_and_prints_no_cloak_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = render(capsys, str(EXAMPLE))
    assert render(capsys, str(EXAMPLE)) == first, "reproducible"
    objects = _objects(first)
    secrets = [o["metadata"]["name"] for o in objects if o["kind"] == "Secret"]
    assert secrets == [], "the link and cloak Secrets are made by the operator, not render"
    pod = next(o for o in objects if o["kind"] == "StatefulSet")["spec"]["template"]["spec"]
    assert {"name": "secret-0", "secret": {"secretName": "staff-opers"}} in pod["volumes"]
    assert {"name": "secret-1", "secret": {"secretName": "staffed-cloak"}} in pod["volumes"]
    mounts = pod["containers"][0]["volumeMounts"]
    for i, name in enumerate(["staff-opers", "staffed-cloak"]):
        mount = {"name": f"secret-{i}", "mountPath": f"/etc/chatnet/secrets/{name}"}
        assert {**mount, "readOnly": True} in mounts
    config = next(o for o in objects if o["kind"] == "ConfigMap")
    node = parse_config(yaml.safe_load(config["data"]["north-0.yaml"]))
    [oper] = node.operators
    assert (oper.name, oper.password, oper.hosts) == ("alice", None, ["*"])
    assert str(oper.password_file) == "/etc/chatnet/secrets/staff-opers/alice"
    assert str(node.cloaks.secret_file) == "/etc/chatnet/secrets/staffed-cloak/secret"
    assert node.cloaks.secret is None and node.cloaks.suffix == "staffed"
    assert node.accounts.nick_enforcement == "warn" and node.accounts.guest_prefix == "Visitor"
    assert "change-me-alice" not in first, "a Secret of the input is never rendered"


def test_a_named_cloak_secret_is_mounted_and_none_generated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = EXAMPLE.read_text().replace(
        "    enabled: true", "    secretRef: {name: my-cloak, key: hmac}"
    )
    path = tmp_path / "named.yaml"
    path.write_text(text)
    objects = _objects(render(capsys, str(path)))
    pod = next(o for o in objects if o["kind"] == "StatefulSet")["spec"]["template"]["spec"]
    assert {"name": "secret-0", "secret": {"secretName": "my-cloak"}} in pod["volumes"]
    assert "staffed-cloak" not in yaml.safe_dump_all(objects)
    config = next(o for o in objects if o["kind"] == "ConfigMap")
    node = parse_config(yaml.safe_load(config["data"]["north-0.yaml"]))
    assert str(node.cloaks.secret_file) == "/etc/chatnet/secrets/my-cloak/hmac"
    report = validate_documents(parse_text(text, "named.yaml"))
    assert (
        cloak_secret(
            plan_network(report.networks[0], ClusterPlacement(report.networks[0].network)), "x", {}
        )
        is None
    )


def test_cloaks_off_mount_nothing_for_them(capsys: pytest.CaptureFixture[str]) -> None:
    [declared] = validate_documents(
        parse_text(network("  cloaks: {enabled: false}"), "f.yaml")
    ).networks
    plan = plan_network(declared, ClusterPlacement(declared.network))
    assert plan.cluster.mounted_secrets == [] and plan.cluster.cloak_secret_generated is None
    assert plan.servers["hub"].node.cloaks.secret_file is None


def test_the_generated_cloak_secret_belongs_to_the_network() -> None:
    report = validate_documents(parse_text(EXAMPLE.read_text(), "x"))
    plan = plan_network(report.networks[0], ClusterPlacement(report.networks[0].network))
    owner = {"apiVersion": "chatnet.io/v1alpha1", "kind": "ChatNetwork"}
    owner["metadata"] = {"name": "staffed", "uid": "u1"}
    secret = cloak_secret(plan, "s3cret", owner)
    assert secret is not None
    assert secret["metadata"]["name"] == "staffed-cloak"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "u1"
    assert base64.b64decode(secret["data"]["secret"]) == b"s3cret"


def test_local_secrets_from_string_data_or_data_and_a_missing_one_named() -> None:
    text = EXAMPLE.read_text() + (
        "---\napiVersion: v1\nkind: Secret\nmetadata: {name: more}\n"
        f"data: {{bob: {base64.b64encode(b'pw-bob').decode()}}}\n"
    )
    docs = parse_text(text, "x")
    values = secret_values(docs)
    assert values == {("staff-opers", "alice"): "change-me-alice", ("more", "bob"): "pw-bob"}
    networks = validate_documents(docs).networks
    check_local_secrets(networks, values)
    with pytest.raises(InputError) as caught:
        check_local_secrets(networks, {})
    assert str(caught.value) == (
        "ChatNetwork/staffed: spec.operators[0].passwordSecretRef: Secret staff-opers "
        "(key alice) is not in the files; locally chatnet up reads Secrets only from its "
        "input: add a kind: Secret with that name and key (stringData or base64 data)"
    )
