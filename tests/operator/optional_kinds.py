"""The optional kinds chatnet writes: CRDs for the emulated API, and their published schemas.

The emulated API server (``kubeapi.py``) serves each kind from a CRD that
keeps every field (``x-kubernetes-preserve-unknown-fields``); whether an
object is right is checked against the kind's published schema, the
validators ``@kubernetes-models`` generates from the upstream CRDs
(cert-manager, Gateway API, prometheus-operator; ``tests/operator/crdcheck``,
installed by ``make client-deps``; see ``published.py``).
"""

from __future__ import annotations

from typing import Any

from tests.operator.published import published_problems

Obj = dict[str, Any]

#: (group, version, kind, plural) of every optional kind the operator may create.
KINDS = [
    ("cert-manager.io", "v1", "Certificate", "certificates"),
    ("cert-manager.io", "v1", "Issuer", "issuers"),
    ("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes"),
    ("monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors"),
    ("monitoring.coreos.com", "v1", "PodMonitor", "podmonitors"),
    ("monitoring.coreos.com", "v1", "PrometheusRule", "prometheusrules"),
]


def crd(group: str, kind: str) -> Obj:
    """A CustomResourceDefinition serving one optional kind (for ``Store.add_crd``)."""
    for g, version, k, plural in KINDS:
        if (g, k) == (group, kind):
            return {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": f"{plural}.{group}"},
                "spec": {
                    "group": group,
                    "names": {"kind": kind, "plural": plural},
                    "scope": "Namespaced",
                    "versions": [
                        {
                            "name": version,
                            "served": True,
                            "storage": True,
                            "schema": {
                                "openAPIV3Schema": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                }
                            },
                        }
                    ],
                },
            }
    raise KeyError(f"no optional kind {group} {kind}")


def all_crds() -> list[Obj]:
    return [crd(group, kind) for group, _, kind, _ in KINDS]


def cert_manager_crds() -> list[Obj]:
    return [crd(group, kind) for group, _, kind, _ in KINDS if group == "cert-manager.io"]


def validate(obj: Obj) -> None:
    """Fail (AssertionError naming the problem) when ``obj`` breaks its published schema."""
    problems = published_problems([obj])
    assert problems == [], problems
