"""The CRDs in crds/ are generated from the models, valid and structural."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from chatnet_operator.api import crds
from chatnet_operator.cli import main
from chatnet_operator.plan.render import MIN_KUBERNETES

K8S_VERSIONS = [f"{MIN_KUBERNETES}.0", kubernetes_validate.utils.latest_version()]


def test_crds_folder_matches_the_models() -> None:
    stale = crds.stale_files()
    assert not stale, (
        f"crds/ is out of date with operator/chatnet_operator/api/models.py ({', '.join(stale)}); "
        "regenerate with: chatnet crds --write"
    )


def test_crds_write_then_check_round_trip(tmp_path: Path) -> None:
    (tmp_path / "old.yaml").write_text(crds.HEADER + "kind: Old\n")
    assert main(["crds", "--write", "--dir", str(tmp_path)]) == 0
    assert crds.stale_files(tmp_path) == []
    assert not (tmp_path / "old.yaml").exists(), "a stale generated CRD is removed"


def test_crds_command_prints_both(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crds"]) == 0
    docs = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
    assert [d["spec"]["names"]["kind"] for d in docs] == ["ChatNetwork", "ChatServer"]


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("doc", crds.crd_documents(), ids=lambda d: d["metadata"]["name"])
def test_crd_is_a_valid_kubernetes_object(doc: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


def _walk(node: dict[str, Any], path: str) -> list[str]:
    """Paths of schema nodes that break the structural schema rules."""
    bad = []
    if "type" not in node and not node.get("x-kubernetes-int-or-string"):
        bad.append(f"{path}: no type")
    for key in ("$ref", "anyOf", "oneOf", "allOf", "const", "title"):
        if key in node:
            bad.append(f"{path}: has {key}")
    if "properties" in node and "additionalProperties" in node:
        bad.append(f"{path}: properties beside additionalProperties")
    for name, sub in node.get("properties", {}).items():
        bad += _walk(sub, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        bad += _walk(node["additionalProperties"], f"{path}.*")
    if "items" in node:
        bad += _walk(node["items"], f"{path}[]")
    return bad


@pytest.mark.parametrize("doc", crds.crd_documents(), ids=lambda d: d["metadata"]["name"])
def test_schema_is_structural(doc: dict[str, Any]) -> None:
    schema = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _walk(schema, "") == []


def _version(kind: str) -> dict[str, Any]:
    doc = next(d for d in crds.crd_documents() if d["spec"]["names"]["kind"] == kind)
    version: dict[str, Any] = doc["spec"]["versions"][0]
    return version


def test_chatserver_has_scale_and_status_subresources() -> None:
    version = _version("ChatServer")
    assert version["subresources"]["status"] == {}
    assert version["subresources"]["scale"]["specReplicasPath"] == ".spec.replicas"
    assert version["subresources"]["scale"]["statusReplicasPath"] == ".status.replicas"


def test_printer_columns_show_role_clients_links_ready_age() -> None:
    names = [c["name"] for c in _version("ChatServer")["additionalPrinterColumns"]]
    for wanted in ("Role", "Clients", "Links", "Ready", "Age"):
        assert wanted in names
    names = [c["name"] for c in _version("ChatNetwork")["additionalPrinterColumns"]]
    for wanted in ("Servers", "Clients", "Links", "Ready", "Age"):
        assert wanted in names


def test_short_names() -> None:
    short = {
        d["spec"]["names"]["kind"]: d["spec"]["names"]["shortNames"] for d in crds.crd_documents()
    }
    assert short == {"ChatNetwork": ["cnet"], "ChatServer": ["csrv"]}


def _schema_errors(kind: str, obj: dict[str, Any]) -> list[str]:
    schema = _version(kind)["schema"]["openAPIV3Schema"]
    validator = jsonschema.Draft202012Validator(schema)
    return [e.message for e in validator.iter_errors(obj)]


def test_schema_carries_enums_ranges_and_patterns() -> None:
    good: dict[str, Any] = {
        "apiVersion": "chatnet.io/v1alpha1",
        "kind": "ChatServer",
        "metadata": {"name": "east"},
        "spec": {"network": "acme", "role": "hub", "serverId": 10},
    }
    assert _schema_errors("ChatServer", good) == []
    for field, value in (
        ("role", "boss"),
        ("serverId", 0),
        ("serverId", 5000),
        ("network", "Acme!"),
    ):
        bad = {**good, "spec": {**good["spec"], field: value}}
        assert _schema_errors("ChatServer", bad), f"{field}={value!r} should be rejected"


def test_single_object_rules_are_cel_rules_too() -> None:
    spec = _version("ChatServer")["schema"]["openAPIV3Schema"]["properties"]["spec"]
    messages = [r["message"] for r in spec["x-kubernetes-validations"]]
    assert any("control server serves no clients" in m for m in messages)
    assert any("network is immutable" in m for m in messages)
