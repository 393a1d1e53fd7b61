"""Status of networks and servers from what their nodes report: pure functions.

The operator writes these into ``.status`` (``kubectl get chatnetworks``
shows servers ready/declared, clients/capacity, links up/expected), and
``chatnet up`` prints the same summary. Conditions follow Kubernetes habits:
``Ready``, ``TopologyValid`` and ``Degraded``, each keeping its
``lastTransitionTime`` while its status does not change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from chatnet_operator.api.fields import Condition
from chatnet_operator.api.models import ChatNetworkStatus, ChatServerStatus
from chatnet_operator.plan.desired import NetworkPlan


@dataclass(frozen=True)
class Probe:
    """One server as last seen over HTTP (``/healthz``, ``/readyz``, ``/status``)."""

    healthy: bool = False
    ready: bool = False
    clients: int = 0
    max_clients: int = 0
    links_up: int = 0
    #: Told to stop: taking no one, handing its clients over (``/status`` ``draining``).
    draining: bool = False

    @property
    def full(self) -> bool:
        """Not ready only because every place is taken (``/readyz`` says 503 then too)."""
        return self.healthy and not self.draining and 0 < self.max_clients <= self.clients


def find_condition(conditions: Sequence[Condition], kind: str) -> Condition | None:
    """The condition of type ``kind`` among ``conditions`` (None: not there)."""
    return next((c for c in conditions if c.type == kind), None)


def _condition(
    kind: str,
    ok: bool,
    reason: str,
    message: str,
    previous: Sequence[Condition],
    now: str,
    generation: int | None,
) -> Condition:
    status: Literal["True", "False"] = "True" if ok else "False"
    before = find_condition(previous, kind)
    since = before.last_transition_time if before and before.status == status else now
    return Condition(
        type=kind,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )


def secrets_condition(
    problems: Sequence[str], previous: Sequence[Condition], now: str, generation: int | None
) -> Condition:
    """``SecretsFound``: every Secret the spec names exists with the keys it needs."""
    return _condition(
        "SecretsFound",
        not problems,
        "AllFound" if not problems else "SecretMissing",
        "; ".join(problems) or "every Secret the spec names exists",
        previous,
        now,
        generation,
    )


#: Whether cert-manager's csi-driver, which ``spec.links.podCertificates`` needs, is installed.
POD_CERTIFICATES = "PodCertificatesAvailable"


def pod_certificates_condition(
    ok: bool,
    reason: str,
    message: str,
    previous: Sequence[Condition],
    now: str,
    generation: int | None,
) -> Condition:
    """``PodCertificatesAvailable``: each pod can get its own link certificate."""
    return _condition(POD_CERTIFICATES, ok, reason, message, previous, now, generation)


def _links(plan: NetworkPlan, probes: Mapping[str, Probe], names: set[str]) -> tuple[int, int]:
    """(up, expected) links touching ``names``.

    Each link is reported by both of its ends, so a link with both ends in
    ``names`` counts twice in the reports; the halving errs low, never high.
    """
    reported = sum(probes[n].links_up for n in names if n in probes)
    inside = sum(1 for a, b in plan.links if a in names and b in names)
    expected = sum(1 for a, b in plan.links if a in names or b in names)
    return min(expected, reported - min(inside, reported // 2)), expected


def _health(
    problems: Sequence[str],
    ready: int,
    total: int,
    links_missing: bool,
    down: str,
    previous: Sequence[Condition],
    now: str,
    generation: int | None,
) -> list[Condition]:
    """``TopologyValid`` and ``Degraded``, alike for a network and a ChatServer.

    ``ready`` of ``total`` servers are ready; ``down`` is Degraded's message.
    """
    if 0 < ready < total:
        reason = "PartiallyAvailable"
    elif ready < total:
        reason = "Unavailable"
    else:
        reason = "LinksDown" if links_missing else "OK"
    return [
        _condition(
            "TopologyValid",
            not problems,
            "Valid" if not problems else "InvalidTopology",
            "; ".join(problems) or "every cross-object rule holds",
            previous,
            now,
            generation,
        ),
        _condition(
            "Degraded",
            0 < ready < total or (ready == total and links_missing),
            reason,
            down,
            previous,
            now,
            generation,
        ),
    ]


def server_ready(plan: NetworkPlan, name: str, probe: Probe | None) -> bool:
    """Answers, and takes clients if it is meant to."""
    if probe is None or not probe.healthy:
        return False
    return probe.ready or not plan.servers[name].serves_clients


def network_status(
    plan: NetworkPlan,
    probes: Mapping[str, Probe],
    problems: Sequence[str] = (),
    previous: Sequence[Condition] = (),
    now: str = "",
    generation: int | None = None,
) -> ChatNetworkStatus:
    """The ChatNetwork's status: counts, display strings and conditions."""
    names = set(plan.servers)
    ready = sum(1 for n in names if server_ready(plan, n, probes.get(n)))
    clients = sum(probes[n].clients for n in names if n in probes)
    capacity = sum(s.node.limits.max_clients for s in plan.servers.values())
    links_up, links_expected = _links(plan, probes, names)
    whole = ready == len(names) and links_up == links_expected and not problems
    down = [n for n in sorted(names) if not server_ready(plan, n, probes.get(n))]
    conditions = [
        _condition(
            "Ready",
            whole,
            "AllServersReady" if whole else "NotReady",
            f"{ready}/{len(names)} servers ready, {links_up}/{links_expected} links up"
            + (f"; waiting for {', '.join(down)}" if down else ""),
            previous,
            now,
            generation,
        ),
        *_health(
            problems,
            ready,
            len(names),
            links_up < links_expected,
            f"down: {', '.join(down)}" if down else "",
            previous,
            now,
            generation,
        ),
    ]
    return ChatNetworkStatus(
        observed_generation=generation,
        servers_ready=ready,
        servers_declared=len(names),
        servers=f"{ready}/{len(names)}",
        links_up=links_up,
        links_expected=links_expected,
        links=f"{links_up}/{links_expected}",
        client_count=clients,
        capacity=capacity,
        clients=f"{clients}/{capacity}",
        conditions=conditions,
    )


def server_status(
    plan: NetworkPlan,
    chat_server: str,
    probes: Mapping[str, Probe],
    selector: str = "",
    previous: Sequence[Condition] = (),
    now: str = "",
    generation: int | None = None,
    problems: Sequence[str] | None = None,
) -> ChatServerStatus:
    """The status of one ChatServer (all of its replicas).

    With ``problems`` (the network's validation problems, empty when valid)
    the conditions also carry ``TopologyValid`` and ``Degraded``, as the
    operator writes them; without, only ``Ready`` (what ``chatnet up`` needs).
    """
    names = {n for n, s in plan.servers.items() if s.chat_server == chat_server}
    ready = sum(1 for n in names if server_ready(plan, n, probes.get(n)))
    running = sum(1 for n in names if n in probes and probes[n].healthy)
    clients = sum(probes[n].clients for n in names if n in probes)
    capacity = sum(plan.servers[n].node.limits.max_clients for n in names)
    links_up, links_expected = _links(plan, probes, names)
    whole = ready == len(names)
    conditions = [
        _condition(
            "Ready",
            whole,
            "AllReplicasReady" if whole else "NotReady",
            f"{ready}/{len(names)} replicas ready",
            previous,
            now,
            generation,
        )
    ]
    if problems is not None:
        down = sorted(n for n in names if not server_ready(plan, n, probes.get(n)))
        conditions += _health(
            problems,
            ready,
            len(names),
            links_up < links_expected,
            f"down: {', '.join(down)}" if 0 < ready < len(names) else "",
            previous,
            now,
            generation,
        )
    return ChatServerStatus(
        observed_generation=generation,
        replicas=running,
        ready_replicas=ready,
        selector=selector,
        client_count=clients,
        capacity=capacity,
        clients=f"{clients}/{capacity}",
        links_up=links_up,
        links_expected=links_expected,
        links=f"{links_up}/{links_expected}",
        conditions=conditions,
    )


def summary(status: ChatNetworkStatus, network: str) -> str:
    """One line for a terminal: ``acme: servers 4/4, clients 0/3024, links 0/3``."""
    return f"{network}: servers {status.servers}, clients {status.clients}, links {status.links}"


def invalid_conditions(
    previous: Sequence[Condition], problems: Sequence[str], now: str, generation: int | None
) -> list[Condition]:
    """Conditions of an object whose network does not validate.

    Nothing is applied, so the object is not Ready for its current
    generation (GitOps tools see a failure, not progress); its running
    servers keep going on the last good configuration, so Degraded keeps
    what it was.
    """
    message = "; ".join(problems)
    degraded = find_condition(previous, "Degraded")
    return [
        _condition("Ready", False, "InvalidTopology", message, previous, now, generation),
        _condition("TopologyValid", False, "InvalidTopology", message, previous, now, generation),
        degraded.model_copy(update={"observed_generation": generation})
        if degraded
        else _condition("Degraded", False, "OK", "", previous, now, generation),
    ]
