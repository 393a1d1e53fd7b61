"""The optional kinds' schemas (``tests/operator/schemas``): as CRDs for the emulated API,
and as JSON schemas to validate what chatnet renders.

See ``tests/operator/schemas/README.md`` for where each schema comes from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

Obj = dict[str, Any]
SCHEMAS = Path(__file__).parent / "schemas"


def _load() -> list[Obj]:
    return [yaml.safe_load(path.read_text()) for path in sorted(SCHEMAS.glob("*.yaml"))]


def schemas() -> dict[tuple[str, str], Obj]:
    """openAPIV3Schema by (apiVersion, kind)."""
    return {(f"{d['group']}/{d['version']}", d["kind"]): d["schema"] for d in _load()}


def crd(group: str, kind: str) -> Obj:
    """A CustomResourceDefinition serving one optional kind (for ``Store.add_crd``)."""
    for d in _load():
        if (d["group"], d["kind"]) == (group, kind):
            return {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": f"{d['plural']}.{d['group']}"},
                "spec": {
                    "group": d["group"],
                    "names": {"kind": d["kind"], "plural": d["plural"]},
                    "scope": "Namespaced",
                    "versions": [
                        {
                            "name": d["version"],
                            "served": True,
                            "storage": True,
                            "schema": {"openAPIV3Schema": d["schema"]},
                        }
                    ],
                },
            }
    raise KeyError(f"no schema for {group} {kind}")


def all_crds() -> list[Obj]:
    return [crd(d["group"], d["kind"]) for d in _load()]


def validate(obj: Obj) -> None:
    """Raise jsonschema.ValidationError when ``obj`` breaks its kind's schema."""
    jsonschema.validate(obj, schemas()[(obj["apiVersion"], obj["kind"])])
