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

__all__ = [
    "ONE_HEX_WIDTH",
    "SERVER_NAME_MAX",
    "ConfigError",
    "Port",
    "Section",
    "cidr",
    "ids_clash",
    "ids_clash_reason",
    "valid_server_name",
]

#: A host name: dot-separated labels of letters, digits and '-' (not at either end).
SERVER_NAME_RE = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
#: The longest server name IRC allows (RFC 2812's 63-character host names).
SERVER_NAME_MAX = 63


def valid_server_name(name: str) -> bool:
    """Is ``name`` a host name IRC accepts as a server name (``hub1.sd.com``, ``east``)?"""
    return len(name) <= SERVER_NAME_MAX and SERVER_NAME_RE.match(name) is not None


def ids_clash(a: int, b: int) -> bool:
    """May two servers of one network not have server IDs ``a`` and ``b``?

    Not the same ID, and not two whose hex begins alike (1 and 26: ``1`` and
    ``1a``). Every msgid and link event id a server makes is its ID in hex,
    six random hex digits of its start, then a counter: where one ID's hex
    begins another's, an id of the one also fits the other's shape, and no
    server could tell whose it is (a server could send a line under the msgid
    the other gives next, and shut the real line out as seen).
    """
    hex_a, hex_b = f"{a:x}", f"{b:x}"
    return hex_a.startswith(hex_b) or hex_b.startswith(hex_a)


def ids_clash_reason(sid: int, name: str, other_sid: int, other: str) -> str:
    """What is wrong with ``name`` having ``sid`` where ``other`` has ``other_sid`` (they clash)."""
    if sid == other_sid:
        return f"server ID {sid} of {name} is also used by {other}"
    return (
        f"server ID {sid} of {name} (hex {sid:x}) begins like {other}'s {other_sid} "
        f"(hex {other_sid:x}): their msgids could not be told apart"
    )


#: How to give a network's servers IDs that do not clash (``ids_clash``).
ONE_HEX_WIDTH = (
    "give the network's servers IDs of one hex width: all from 1 to 15, 16 to 255 "
    "(two hex digits) or 256 to 4095 (three)"
)


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
