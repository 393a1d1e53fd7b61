"""What both kinds are made of: field types, durations, CEL rules, metadata, conditions.

Shared by ``models`` (the two kinds) and ``crds`` (which turns each ``Rule``
into the CEL expression the API server checks).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "chatnet.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

#: Highest server ID a node accepts (``NodeConfig.server_id``).
MAX_SERVER_ID = 4095
#: Longest ChatServer name: a StatefulSet adds "-NNN" and a 10-character hash to pod labels.
MAX_SERVER_NAME = 50
#: A DNS domain for ``serverDomain`` (lower case, as Kubernetes names are).
DOMAIN_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# A subset of Go's time.ParseDuration syntax, so CEL's duration() accepts it too.
DURATION = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

Name = Annotated[str, Field(pattern=DNS_LABEL, min_length=1, max_length=63)]
Duration = Annotated[str, Field(pattern=DURATION, max_length=32)]
Port = Annotated[int, Field(ge=1, le=65535)]
Quantity = Annotated[str, Field(pattern=QUANTITY, max_length=32)]


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``90s``, ``1h30m`` or ``500ms``."""
    if not re.fullmatch(DURATION, text):
        raise ValueError(f"{text!r} is not a duration such as 30s, 5m or 1h30m")
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


class ApiModel(BaseModel):
    """camelCase keys as in any manifest; unknown keys are errors; frozen."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


@dataclass(frozen=True)
class Rule:
    """A single-object rule, checked in Python and emitted as CEL for the API server."""

    cel: str
    message: str
    check: Callable[[Any], bool]


def check_rules(obj: Any, rules: list[Rule]) -> None:
    broken = [rule.message for rule in rules if not rule.check(obj)]
    if broken:
        raise ValueError("; ".join(broken))


class ObjectMeta(BaseModel):
    """The part of metadata chatnet reads; everything else is kept as is."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: Name
    namespace: Name | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    generation: int | None = None


class Condition(ApiModel):
    """A Kubernetes-style condition (Ready, TopologyValid, Degraded)."""

    type: str = Field(max_length=64)
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(default="", max_length=128)
    message: str = Field(default="", max_length=4096)
    last_transition_time: str | None = None
    observed_generation: int | None = Field(default=None, ge=0)
