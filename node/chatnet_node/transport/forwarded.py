"""Who the client is behind proxies: trusted networks and forwarded headers, no I/O.

``trustedProxies`` names the peers whose word about a client's address is
believed: a PROXY protocol header, or an HTTP ``Forwarded`` (RFC 7239) or
``X-Forwarded-For`` header on a WebSocket handshake. Every other peer is the
client itself, and a peer that claims otherwise is refused, never believed.

Forwarded headers are a list of hops, the original client first and each
proxy appending the address it saw. Only the right end can be trusted (any
client can write the left), so ``client_address`` walks from the right,
past each trusted hop; the first untrusted address is the client. When both
headers are present ``Forwarded`` wins (it is the standard one).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class ForwardedError(ValueError):
    """A forwarded header that must not be believed; the message says why."""


@functools.lru_cache(maxsize=16)
def trusted_networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    """The parsed ``trustedProxies`` (validated by the config; cached: it changes on reload)."""
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def ip(text: str) -> Address | None:
    """An address as the kernel or a header gives it; IPv4-mapped IPv6 becomes IPv4."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def normal_address(text: str) -> str:
    """The address in the form every limit and ban compares (IPv4-mapped made IPv4)."""
    address = ip(text)
    return str(address) if address is not None else text


def is_trusted(address: str, networks: Sequence[Network]) -> bool:
    """Is ``address`` inside one of ``networks``?"""
    parsed = ip(address)
    return parsed is not None and any(parsed in network for network in networks)


def forwarded_for(values: Iterable[str]) -> list[str]:
    """The ``for=`` of every element of ``Forwarded`` header values, left to right.

    An element without ``for=`` contributes nothing; an unknown or obfuscated
    node (``for=unknown``, ``for=_hidden``) is kept as written.
    """
    hops: list[str] = []
    for value in values:
        for element in _split(value, ","):
            for pair in _split(element, ";"):
                name, sep, raw = pair.partition("=")
                if sep and name.strip().lower() == "for":
                    hops.append(_node_address(raw.strip()))
    return hops


def x_forwarded_for(values: Iterable[str]) -> list[str]:
    """The addresses of ``X-Forwarded-For`` header values, left to right."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def client_address(peer: str, hops: Sequence[str], networks: Sequence[Network], header: str) -> str:
    """The client's address: ``peer``, or what trusted proxies say behind it.

    ``hops``: the forwarded addresses (left: the original client); ``header``
    names the header in messages.

    Raises:
        ForwardedError: ``peer`` is not a trusted proxy yet sent ``header``,
            or a hop is not an address.
    """
    if not hops:
        return peer
    if not is_trusted(peer, networks):
        raise ForwardedError(
            f"{header} header from {peer}, which is not a trusted proxy (trustedProxies)"
        )
    for hop in reversed(hops):
        address = ip(_strip_port(hop))
        if address is None:
            raise ForwardedError(f"{header} header names {hop!r}, which is not an IP address")
        if not any(address in network for network in networks):
            return str(address)
    # Every hop is a trusted proxy: the leftmost is as far back as anyone knows.
    left = ip(_strip_port(hops[0]))
    return str(left) if left is not None else peer


def _split(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _node_address(raw: str) -> str:
    """``"[2001:db8::1]:4711"`` -> ``2001:db8::1``; ``192.0.2.60`` stays."""
    value = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value


def _strip_port(hop: str) -> str:
    """``192.0.2.7:4711`` -> ``192.0.2.7``; ``[::1]:80`` -> ``::1``; an IPv6 address stays."""
    if hop.startswith("["):
        return hop[1 : hop.find("]")] if "]" in hop else hop
    if hop.count(":") == 1:
        return hop.split(":", 1)[0]
    return hop
