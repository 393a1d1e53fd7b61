"""Generate the CustomResourceDefinitions in ``crds/`` from the pydantic models.

The API server needs a *structural* OpenAPI v3 schema: every node typed, no
``$ref``, no ``anyOf`` over types, no ``additionalProperties`` beside
``properties``. Pydantic's JSON schema is close; this module inlines the
references, drops what Kubernetes rejects and adds what only Kubernetes knows
(CEL rules, subresources, printer columns, short names).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from chatnet_operator.api import autoscale, certificates, endpoint, models, monitoring
from chatnet_operator.api.fields import GROUP, VERSION, Rule

#: Where ``chatnet crds --write`` puts the files: the repository's crds/ folder.
CRDS_DIR = Path(__file__).resolve().parents[3] / "crds"
#: The Helm chart ships the same files (beside kopf's peering CRDs, not generated here).
CHART_CRDS_DIR = CRDS_DIR.parent / "charts" / "chatnet" / "crds"
HEADER = (
    "# Generated from operator/chatnet_operator/api/models.py by `chatnet crds --write`.\n"
    "# Do not edit by hand: change the models and regenerate.\n"
)

# CEL rules per model, by the model's name in the JSON schema's $defs.
_RULES: dict[str, list[Rule]] = {
    "Endpoint": endpoint.ENDPOINT_RULES,
    "EndpointTls": certificates.TLS_RULES,
    "Monitoring": monitoring.MONITORING_RULES,
    "Links": models.LINKS_RULES,
    "History": models.HISTORY_RULES,
    "ChatServerSpec": models.SERVER_RULES,
    "ChatNetworkSpec": models.NETWORK_RULES,
    "Autoscale": autoscale.AUTOSCALE_RULES,
}
# Rules only the API server can check: they compare with the stored object.
_TRANSITION_RULES: dict[str, list[dict[str, str]]] = {
    "ChatServerSpec": [
        {
            "rule": "self.network == oldSelf.network",
            "message": "network is immutable: delete the ChatServer and create it in the "
            "other network",
        }
    ],
}
_READY = '.status.conditions[?(@.type=="Ready")].status'
_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def _structural(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Turn one pydantic JSON schema node into a structural Kubernetes schema node."""
    node = dict(node)
    def_name: str | None = None
    if "$ref" in node:
        def_name = node.pop("$ref").rsplit("/", 1)[-1]
        node = {**defs[def_name], **node}
    if "anyOf" in node:
        # Optional[X] is X that may be left out; Kubernetes prunes nulls anyway.
        options = [o for o in node.pop("anyOf") if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express a union in a structural schema: {options}")
        merged = {**options[0], **{k: v for k, v in node.items() if k != "default"}}
        if node.get("default") is not None:
            merged["default"] = node["default"]
        return _structural(merged, defs)
    out: dict[str, Any] = {}
    for key in ("description", "type", "enum", "format", "pattern"):
        if key in node:
            out[key] = node[key]
    if "const" in node:
        out["enum"] = [node["const"]]
        out.setdefault("type", "string")
    for key in (
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "maxProperties",
    ):
        if key in node:
            out[key] = node[key]
    if node.get("type") == "object" or "properties" in node:
        out["type"] = "object"
        if "properties" in node:
            out["properties"] = {
                name: _structural(sub, defs) for name, sub in node["properties"].items()
            }
            if node.get("required"):
                out["required"] = list(node["required"])
        elif isinstance(node.get("additionalProperties"), dict):
            out["additionalProperties"] = _structural(node["additionalProperties"], defs)
    if node.get("type") == "array":
        out["items"] = _structural(node["items"], defs)
    default = node.get("default")
    if isinstance(default, dict):
        # An empty object default lets the API server apply the nested defaults.
        out["default"] = {}
    elif default is not None and not isinstance(default, list):
        out["default"] = default
    rules = [{"rule": r.cel, "message": r.message} for r in _RULES.get(def_name or "", [])]
    rules += _TRANSITION_RULES.get(def_name or "", [])
    if rules:
        out["x-kubernetes-validations"] = rules
    return out


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural openAPIV3Schema of one resource model."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    props = raw["properties"]
    schema: dict[str, Any] = {
        "type": "object",
        "description": raw.get("description", ""),
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": _structural(props["spec"], defs),
            "status": _structural(props["status"], defs),
        },
    }
    if "spec" in raw.get("required", []):
        schema["required"] = ["spec"]
    return schema


def _crd(
    model: type[BaseModel],
    *,
    kind: str,
    plural: str,
    short_names: list[str],
    columns: list[dict[str, Any]],
    scale: bool,
) -> dict[str, Any]:
    subresources: dict[str, Any] = {"status": {}}
    if scale:
        subresources["scale"] = {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": ["chatnet"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi_schema(model)},
                    "subresources": subresources,
                    "additionalPrinterColumns": [*columns, _AGE],
                }
            ],
        },
    }


def crd_documents() -> list[dict[str, Any]]:
    """Both CRDs, ChatNetwork first."""
    network = _crd(
        models.ChatNetwork,
        kind="ChatNetwork",
        plural="chatnetworks",
        short_names=["cnet"],
        columns=[
            {"name": "Display", "type": "string", "jsonPath": ".spec.displayName"},
            {"name": "Servers", "type": "string", "jsonPath": ".status.servers"},
            {"name": "Clients", "type": "string", "jsonPath": ".status.clients"},
            {"name": "Links", "type": "string", "jsonPath": ".status.links"},
            {"name": "Ready", "type": "string", "jsonPath": _READY},
        ],
        scale=False,
    )
    server = _crd(
        models.ChatServer,
        kind="ChatServer",
        plural="chatservers",
        short_names=["csrv"],
        columns=[
            {"name": "Network", "type": "string", "jsonPath": ".spec.network"},
            {"name": "Role", "type": "string", "jsonPath": ".spec.role"},
            {"name": "ID", "type": "integer", "jsonPath": ".spec.serverId"},
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
            {"name": "Clients", "type": "string", "jsonPath": ".status.clients"},
            {"name": "Links", "type": "string", "jsonPath": ".status.links"},
            {"name": "Ready", "type": "string", "jsonPath": _READY},
        ],
        scale=True,
    )
    return [network, server]


def crd_files() -> dict[str, str]:
    """File name in ``crds/`` to its YAML text."""
    return {
        f"{doc['metadata']['name']}.yaml": HEADER + yaml.safe_dump(doc, sort_keys=False, width=100)
        for doc in crd_documents()
    }


def crds_yaml() -> str:
    """Every CRD as one multi-document YAML stream (what ``chatnet crds`` prints)."""
    return "---\n".join(crd_files().values())


def stale_files(directory: Path = CRDS_DIR) -> list[str]:
    """Names of files in ``directory`` that differ from the generator (missing ones too)."""
    expected = crd_files()
    stale = [
        name
        for name, text in expected.items()
        if not (directory / name).is_file() or (directory / name).read_text() != text
    ]
    stale += [p.name for p in sorted(directory.glob("*.yaml")) if p.name not in expected]
    return stale


def write_files(directory: Path = CRDS_DIR) -> list[Path]:
    """Write the generated CRDs, remove stale generated ones; return the written paths."""
    directory.mkdir(parents=True, exist_ok=True)
    expected = crd_files()
    for path in directory.glob("*.yaml"):
        if path.name not in expected and path.read_text().startswith(HEADER):
            path.unlink()
    written = []
    for name, text in expected.items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written
