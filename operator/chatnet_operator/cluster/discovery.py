"""Which optional kinds this cluster serves, in which version, and what to say when one is missing.

cert-manager, the Gateway API, prometheus-operator and CloudNativePG are
separate installs. Before creating one of their objects the operator asks
the API server's discovery (``KubeClient.served_kinds``: the group
version's document, one request) whether the kind is served. An answer
that it is is kept for a while by the client (a CRD removed later makes a
write answer 404, which the controller reports and which drops the kept
answer); one that it is not is asked again at the next reconcile, so
installing cert-manager or prometheus-operator takes effect at the next
re-sync.

Which version: the rendered objects name the version chatnet writes; where
an older version of the same group serves the kind with the same schema
(``ALTERNATIVES``), the object is written in that version instead, so an
older Gateway API install (HTTPRoute in ``v1beta1`` only) still gets its
route. A kind served in none of them is left out, and
``missing_condition`` says on the ChatNetwork which kinds are missing and
which spec field wants them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from chatnet_operator.api.fields import Condition
from chatnet_operator.cluster.kube import KubeClient

CONDITION = "OptionalKindsAvailable"

Kind = tuple[str, str]  # (apiVersion, kind)

#: Other versions that serve a kind with the same schema, in order of preference.
ALTERNATIVES: dict[Kind, tuple[str, ...]] = {
    # Gateway API v0.8-v1.0 installs serve HTTPRoute as v1beta1 (identical schema).
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): ("gateway.networking.k8s.io/v1beta1",),
}


@dataclass
class Discovery:
    """Which version of each wanted kind the cluster serves, by asking its discovery.

    One per reconcile: each group version is asked at most once in it.
    """

    kube: KubeClient
    _answers: dict[Kind, str | None] = field(default_factory=dict)
    _kinds: dict[str, frozenset[str]] = field(default_factory=dict)

    async def version(self, api_version: str, kind: str) -> str | None:
        """The apiVersion to write ``kind`` in (``api_version`` or an alternative), else None."""
        key = (api_version, kind)
        if key not in self._answers:
            self._answers[key] = None
            for candidate in (api_version, *ALTERNATIVES.get(key, ())):
                if candidate not in self._kinds:
                    self._kinds[candidate] = await self.kube.served_kinds(candidate)
                if kind in self._kinds[candidate]:
                    self._answers[key] = candidate
                    break
        return self._answers[key]

    async def resolve(self, wanted: Iterable[Kind]) -> tuple[dict[Kind, str], list[Kind]]:
        """(the served apiVersion of each served kind, those not served in order)."""
        served: dict[Kind, str] = {}
        missing: list[Kind] = []
        for api_version, kind in dict.fromkeys(wanted):
            found = await self.version(api_version, kind)
            if found is None:
                missing.append((api_version, kind))
            else:
                served[(api_version, kind)] = found
        return served, missing

    async def missing(self, wanted: Iterable[Kind]) -> list[Kind]:
        """Those of ``wanted`` this cluster does not serve, in order."""
        return (await self.resolve(wanted))[1]


def missing_message(missing: list[Kind], fields: dict[Kind, str]) -> str:
    """Which kinds are missing and which spec field asked for each."""
    parts = [
        f"{kind} ({api_version}) for {fields.get((api_version, kind), '?')}"
        for api_version, kind in missing
    ]
    return (
        "not served by this cluster, so not created: "
        + "; ".join(parts)
        + " (install its CRDs, e.g. cert-manager, Gateway API, prometheus-operator or "
        "CloudNativePG, or remove the field)"
    )


def missing_condition(
    missing: list[Kind],
    fields: dict[Kind, str],
    previous: Condition | None,
    now: str,
    generation: int | None,
) -> Condition:
    """``OptionalKindsAvailable``: False naming what is missing, else True."""
    if missing:
        status, reason, message = "False", "KindsMissing", missing_message(missing, fields)
    else:
        status, reason, message = "True", "AllServed", "every kind the spec asks for is served"
    since = now
    if previous is not None and previous.status == status and previous.last_transition_time:
        since = previous.last_transition_time
    return Condition(
        type=CONDITION,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )
