"""Where and how a chat server's pods run: the ``spec.pod`` block of both kinds.

A ChatNetwork's ``spec.pod`` is the default for every server of the network;
a ChatServer's ``spec.pod`` overrides it field by field (see
``PodSettings.over``). The core/v1 shapes (tolerations, affinity, pull
secrets) are typed here rather than passed through with
``x-kubernetes-preserve-unknown-fields``: a typo is then refused by
``chatnet validate`` and by the API server with the field's name, instead of
being pruned silently or failing later when the StatefulSet is written, and
the CRD stays structural (``kubectl explain`` shows every field). The cost is
that a field Kubernetes adds to these shapes needs a line here.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

from pydantic import Field, field_validator, model_validator

from chatnet_operator.api.fields import ApiModel, Name

#: A label or annotation key: an optional DNS-subdomain prefix, then a name.
_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
#: Label prefixes the operator owns: its selectors and the recommended labels.
RESERVED_LABEL_PREFIXES = ("chatnet.io/", "app.kubernetes.io/")
_MAX_ITEMS = 32
_MAX_TERMS = 16


def _check_key(key: str, what: str) -> None:
    prefix = key.split("/", 1)[0] if "/" in key else ""
    if not _KEY.match(key) or len(prefix) > 253:
        raise ValueError(
            f"{what} key {key!r} is not a valid Kubernetes key"
            " (optional DNS prefix and '/', then at most 63 of A-Z a-z 0-9 - _ .)"
        )


class Effect(StrEnum):
    """A taint's effect (core/v1 Toleration.effect)."""

    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Toleration(ApiModel):
    """core/v1 Toleration: lets the pods run on nodes with a matching taint."""

    key: str | None = Field(default=None, max_length=317)
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = Field(default=None, max_length=63)
    effect: Effect | None = None
    toleration_seconds: int | None = Field(default=None, description="for NoExecute only")

    @model_validator(mode="after")
    def _consistent(self) -> Toleration:
        # The API server's own rules, checked here so the error names the field early.
        if self.operator == "Exists" and self.value:
            raise ValueError("a toleration with operator Exists takes no value: remove value")
        if not self.key and self.operator != "Exists":
            raise ValueError("a toleration without a key needs operator: Exists (any taint)")
        return self


class LocalObjectReference(ApiModel):
    """core/v1 LocalObjectReference: a Secret in the same namespace, by name."""

    name: Name


class Requirement(ApiModel):
    """A selector requirement (label or node field): key, operator, values."""

    key: str = Field(min_length=1, max_length=317)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"] = Field(
        description="Gt and Lt: node selectors only"
    )
    values: list[str] | None = Field(default=None, max_length=_MAX_ITEMS)

    @model_validator(mode="after")
    def _values(self) -> Requirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs values: [at least one]")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no values: remove values")
        if self.operator in ("Gt", "Lt") and len(self.values or []) != 1:
            raise ValueError(f"operator {self.operator} needs exactly one value (an integer)")
        return self


class NodeSelectorTerm(ApiModel):
    """core/v1 NodeSelectorTerm: every requirement must hold."""

    match_expressions: list[Requirement] | None = Field(default=None, max_length=_MAX_TERMS)
    match_fields: list[Requirement] | None = Field(default=None, max_length=_MAX_TERMS)


class NodeSelector(ApiModel):
    """core/v1 NodeSelector: one of the terms must hold."""

    node_selector_terms: list[NodeSelectorTerm] = Field(max_length=_MAX_TERMS)


class PreferredSchedulingTerm(ApiModel):
    """core/v1 PreferredSchedulingTerm."""

    weight: int = Field(ge=1, le=100)
    preference: NodeSelectorTerm


class NodeAffinity(ApiModel):
    """core/v1 NodeAffinity."""

    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] | None = (
        Field(default=None, max_length=_MAX_TERMS)
    )


class LabelSelector(ApiModel):
    """meta/v1 LabelSelector."""

    match_labels: dict[str, str] | None = Field(default=None, max_length=_MAX_ITEMS)
    match_expressions: list[Requirement] | None = Field(default=None, max_length=_MAX_TERMS)


class PodAffinityTerm(ApiModel):
    """core/v1 PodAffinityTerm."""

    label_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    namespaces: list[str] | None = Field(default=None, max_length=_MAX_ITEMS)
    topology_key: str = Field(min_length=1, max_length=317)
    match_label_keys: list[str] | None = Field(default=None, max_length=_MAX_ITEMS)
    mismatch_label_keys: list[str] | None = Field(default=None, max_length=_MAX_ITEMS)


class WeightedPodAffinityTerm(ApiModel):
    """core/v1 WeightedPodAffinityTerm."""

    weight: int = Field(ge=1, le=100)
    pod_affinity_term: PodAffinityTerm


class PodAffinity(ApiModel):
    """core/v1 PodAffinity and PodAntiAffinity (the same shape)."""

    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] | None = Field(
        default=None, max_length=_MAX_TERMS
    )
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] | None = (
        Field(default=None, max_length=_MAX_TERMS)
    )


class Affinity(ApiModel):
    """core/v1 Affinity. The operator adds its own preferred anti-affinity between hubs."""

    node_affinity: NodeAffinity | None = None
    pod_affinity: PodAffinity | None = None
    pod_anti_affinity: PodAffinity | None = None


class PodSettings(ApiModel):
    """Scheduling and metadata of a server's pods; unset fields take the network's."""

    tolerations: list[Toleration] | None = Field(
        default=None, max_length=_MAX_ITEMS, description="taints the pods tolerate"
    )
    affinity: Affinity | None = Field(
        default=None,
        description="node and pod (anti-)affinity; hub anti-affinity is added to it",
    )
    node_selector: dict[str, str] | None = Field(
        default=None,
        max_length=_MAX_ITEMS,
        description="node labels the pods need (merged with the network's, and with zone/region)",
    )
    priority_class_name: str | None = Field(
        default=None,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="a PriorityClass",
    )
    image_pull_secrets: list[LocalObjectReference] | None = Field(
        default=None, max_length=_MAX_ITEMS, description="Secrets for a private registry"
    )
    annotations: dict[str, str] | None = Field(
        default=None, max_length=_MAX_ITEMS, description="added to every pod (merged by key)"
    )
    labels: dict[str, str] | None = Field(
        default=None,
        max_length=_MAX_ITEMS,
        description="extra labels on every pod (merged by key); chatnet.io/ and "
        "app.kubernetes.io/ keys are the operator's",
    )

    @field_validator("node_selector", "annotations")
    @classmethod
    def _keys(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key in value or {}:
            _check_key(key, "a")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key, text in (value or {}).items():
            _check_key(key, "label")
            if key.startswith(RESERVED_LABEL_PREFIXES):
                raise ValueError(
                    f"label {key!r} is set by the operator (its selectors and recommended "
                    f"labels use {' and '.join(RESERVED_LABEL_PREFIXES)}): pick another key"
                )
            if not _LABEL_VALUE.match(text):
                raise ValueError(
                    f"label {key!r}: value {text!r} is not a valid label value"
                    " (at most 63 of A-Z a-z 0-9 - _ ., starting and ending alphanumeric)"
                )
        return value

    def over(self, base: PodSettings) -> PodSettings:
        """These settings on top of ``base`` (a server's over its network's).

        Maps (nodeSelector, annotations, labels) merge key by key, this one's
        winning; any other field set here replaces ``base``'s (an empty list
        clears the network's tolerations or pull secrets).
        """
        merged = base.model_dump(exclude_unset=True)
        for name in self.model_fields_set:
            value = getattr(self, name)
            if isinstance(value, dict) and isinstance(merged.get(name), dict):
                merged[name] = {**merged[name], **value}
            else:
                merged[name] = self.model_dump(include={name})[name]
        return PodSettings.model_validate(merged)
