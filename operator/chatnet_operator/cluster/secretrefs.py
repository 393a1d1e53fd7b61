"""The Secrets a ChatNetwork names, and what is wrong with them: pure functions.

A pod whose Secret volume is missing never starts, and ``kubectl describe
pod`` is the last place a platform engineer looks. So the operator checks
every Secret the spec names (and the key it needs) before it applies
anything, and says in the network's ``SecretsFound`` condition which field
names what, and what to create.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chatnet_operator.api.models import ChatNetwork, HistoryStore, LinkTls
from chatnet_operator.plan.render import LINK_SECRET_KEY

Obj = dict[str, Any]

_TLS_KEYS = ("tls.crt", "tls.key")


@dataclass(frozen=True)
class SecretUse:
    """One field of the spec naming a Secret, and the keys it must hold."""

    secret: str
    keys: tuple[str, ...]
    field: str


def secret_uses(network: ChatNetwork) -> list[SecretUse]:
    """Every Secret the network's spec names (generated ones are not named, so absent)."""
    spec = network.spec
    uses = []
    if spec.links.secret_name is not None:
        uses.append(SecretUse(spec.links.secret_name, (LINK_SECRET_KEY,), "spec.links.secretName"))
    if spec.links.tls != LinkTls.OFF and spec.links.tls_secret_name is not None:
        uses.append(SecretUse(spec.links.tls_secret_name, _TLS_KEYS, "spec.links.tlsSecretName"))
    # With issuerRef cert-manager writes the Secret: the Certificate's status tells.
    if (
        spec.endpoint.tls is not None
        and spec.endpoint.tls.secret_name is not None
        and (spec.endpoint.tls.issuer_ref is None)
    ):
        uses.append(
            SecretUse(spec.endpoint.tls.secret_name, _TLS_KEYS, "spec.endpoint.tls.secretName")
        )
    if spec.history.store == HistoryStore.POSTGRES and spec.history.postgres is not None:
        uses.append(SecretUse(spec.history.postgres.secret_name, ("dsn",), "spec.history.postgres"))
    if spec.cloaks.enabled and spec.cloaks.secret_ref is not None:
        ref = spec.cloaks.secret_ref
        uses.append(SecretUse(ref.name, (ref.key,), "spec.cloaks.secretRef"))
    for index, oper in enumerate(spec.operators):
        ref = oper.password_secret_ref
        uses.append(SecretUse(ref.name, (ref.key,), f"spec.operators[{index}].passwordSecretRef"))
    return uses


def secret_problems(
    uses: Sequence[SecretUse], found: Mapping[str, Obj | None], namespace: str
) -> list[str]:
    """One message per missing Secret or key, naming the field and the fix."""
    problems = []
    for use in uses:
        secret = found.get(use.secret)
        if secret is None:
            problems.append(
                f"{use.field}: Secret/{use.secret} not found in namespace {namespace}; "
                f"fix: create it with key {', '.join(use.keys)}"
            )
            continue
        present = set(secret.get("data") or {}) | set(secret.get("stringData") or {})
        missing = [k for k in use.keys if k not in present]
        if missing:
            problems.append(
                f"{use.field}: Secret/{use.secret} has no key {', '.join(missing)}; "
                "fix: add it to the Secret"
            )
    return problems
