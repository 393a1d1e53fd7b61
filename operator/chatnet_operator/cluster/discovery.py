"""Which optional kinds this cluster serves: API discovery, and what to say when one is missing.

cert-manager, the Gateway API and prometheus-operator are separate
installs. Before creating one of their objects the operator asks the API
server's discovery (``GET /apis/GROUP/VERSION``) whether the kind is
served. A group version that serves it is remembered for a while (CRDs
are rarely removed, and then a create answers 404, which the controller
reports); one that does not is asked again at every reconcile, so
installing cert-manager or prometheus-operator takes effect at the next
re-sync. A kind that is
not served is left out, and ``missing_condition`` says on the ChatNetwork
which kinds are missing and which spec field wants them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from chatnet_operator.api.fields import Condition
from chatnet_operator.cluster.kube import ApiError, KubeClient

#: Seconds a discovery answer is trusted; an installed CRD is noticed within this.
CACHE_SECONDS = 30.0
CONDITION = "OptionalKindsAvailable"

Kind = tuple[str, str]  # (apiVersion, kind)


@dataclass
class Discovery:
    """Served kinds per group version, from discovery; a non-empty answer kept ``ttl`` seconds."""

    kube: KubeClient
    ttl: float = CACHE_SECONDS
    _seen: dict[str, tuple[float, frozenset[str]]] = field(default_factory=dict)

    async def served_kinds(self, api_version: str) -> frozenset[str]:
        """The kinds ``api_version`` serves (empty when the group version is not served)."""
        cached = self._seen.get(api_version)
        if cached is not None and cached[1] and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        prefix = "/apis/" if "/" in api_version else "/api/"
        try:
            found = await self.kube.get_path(prefix + api_version)
        except ApiError as exc:
            if exc.status != 404:
                raise
            found = {}
        kinds = frozenset(
            r["kind"] for r in found.get("resources", []) if "/" not in r.get("name", "")
        )
        self._seen[api_version] = (time.monotonic(), kinds)
        return kinds

    async def missing(self, wanted: Iterable[Kind]) -> list[Kind]:
        """Those of ``wanted`` this cluster does not serve, in order."""
        out = []
        for api_version, kind in dict.fromkeys(wanted):
            if kind not in await self.served_kinds(api_version):
                out.append((api_version, kind))
        return out


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
