"""What every section of the node's configuration shares: the model base, ports, names.

Keys are camelCase in YAML (the alias generator); unknown keys are errors;
every section is frozen (a reload builds a new configuration).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = ["SERVER_NAME_MAX", "ConfigError", "Port", "Section", "cidr", "valid_server_name"]

#: A host name: dot-separated labels of letters, digits and '-' (not at either end).
SERVER_NAME_RE = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
#: The longest server name IRC allows (RFC 2812's 63-character host names).
SERVER_NAME_MAX = 63


def valid_server_name(name: str) -> bool:
    """Is ``name`` a host name IRC accepts as a server name (``hub1.sd.com``, ``east``)?"""
    return len(name) <= SERVER_NAME_MAX and SERVER_NAME_RE.match(name) is not None


class ConfigError(Exception):
    """A configuration file that cannot be read or does not validate."""


class Section(BaseModel):
    """One part of the configuration: camelCase keys, no unknown ones, frozen."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


Port = Annotated[int, Field(ge=0, le=65535)]


def cidr(value: str) -> str:
    """A CIDR block (``203.0.113.0/24``, ``2001:db8::/32``) in its normal form."""
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an address block (e.g. 203.0.113.0/24)") from exc
