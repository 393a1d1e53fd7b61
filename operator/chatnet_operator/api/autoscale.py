"""``ChatServer.spec.autoscale``: fan-out replicas that follow the client load.

With ``autoscale`` set, chatnet owns ``spec.replicas`` of the set: the
operator (or ``chatnet up``) writes it between ``minReplicas`` and
``maxReplicas`` so that clients stay near ``targetClientsPercent`` of the
set's capacity (see ``plan.autoscale`` for the decision). It writes through
the same field the ``scale`` subresource exposes, so an HPA must not target
the same ChatServer: the two are mutually exclusive, and a replica count
outside the bounds (say, from an HPA or ``kubectl scale``) is refused by the
API server with a clear message. To use an HPA, remove ``autoscale``.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from chatnet_operator.api.fields import (
    MAX_SERVER_ID,
    ApiModel,
    Duration,
    Rule,
    check_rules,
    parse_duration,
)


class Autoscale(ApiModel):
    """Bounds and target of fan-out autoscaling."""

    min_replicas: int = Field(ge=1, le=1000, description="never fewer replicas")
    max_replicas: int = Field(ge=1, le=1000, description="never more replicas")
    target_clients_percent: int = Field(
        default=70, ge=1, le=100, description="clients / capacity the set is sized for"
    )
    stabilization_window: Duration = Field(
        default="60s", description="how long the load must stay beyond the target"
    )

    @model_validator(mode="after")
    def _rules(self) -> Autoscale:
        check_rules(self, AUTOSCALE_RULES)
        return self

    @property
    def window_seconds(self) -> float:
        return parse_duration(self.stabilization_window)


AUTOSCALE_RULES = [
    Rule(
        "self.minReplicas <= self.maxReplicas",
        "autoscale.minReplicas must not exceed autoscale.maxReplicas",
        lambda a: a.min_replicas <= a.max_replicas,
    ),
]

#: ChatServerSpec rules that involve ``autoscale``.
SERVER_AUTOSCALE_RULES = [
    Rule(
        "self.role != 'control' || !has(self.autoscale)",
        "a control server serves no clients and cannot autoscale: remove autoscale",
        lambda s: s.role != "control" or s.autoscale is None,
    ),
    Rule(
        "!has(self.autoscale) || (self.replicas >= self.autoscale.minReplicas"
        " && self.replicas <= self.autoscale.maxReplicas)",
        "with autoscale, replicas must lie between autoscale.minReplicas and maxReplicas; "
        "chatnet sets it itself (an HPA must not target a ChatServer with autoscale)",
        lambda s: (
            s.autoscale is None
            or s.autoscale.min_replicas <= s.replicas <= s.autoscale.max_replicas
        ),
    ),
    Rule(
        "!has(self.autoscale)"
        f" || self.serverId + self.autoscale.maxReplicas <= {MAX_SERVER_ID + 1}",
        f"serverId + autoscale.maxReplicas - 1 must not exceed {MAX_SERVER_ID}",
        lambda s: (
            s.autoscale is None or s.server_id + s.autoscale.max_replicas <= MAX_SERVER_ID + 1
        ),
    ),
]


class AutoscaleStatus(ApiModel):
    """``status.autoscale``: the last resize and why (also posted as an Event)."""

    replicas: int = Field(ge=0, description="replicas chosen")
    last_scale_time: str = Field(description="when (RFC 3339)")
    reason: str = Field(max_length=1024, description="the load that caused it")
    emptiest: str | None = Field(
        default=None, max_length=1024, description="scale-down: the emptiest replicas then"
    )
