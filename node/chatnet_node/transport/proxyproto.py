"""The PROXY protocol (HAProxy's, versions 1 and 2): a pure parser, no I/O.

A load balancer that forwards TCP connects to the server itself, so the
server sees the balancer's address; with the PROXY protocol it first sends
one header naming the real client. Version 1 is a text line
(``PROXY TCP4 203.0.113.7 10.0.0.5 51234 6667\\r\\n``, or ``PROXY UNKNOWN``),
version 2 a binary block (a 12-byte signature, command, family, length, the
addresses, then TLVs, which are skipped here).

The reader (``proxylisten``) must not read a single byte past the header:
on a TLS listener the bytes after it are the TLS handshake, and they belong
to the TLS layer. ``next_read`` tells it how many bytes it may read next
without passing the end; ``parse_header`` turns the complete header into a
``ProxyHeader``. Both raise ``ProxyHeaderError`` with the reason, which the
refusal names.

Specification: https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

#: The version 2 signature: cannot start any text protocol (and not v1).
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
#: The longest v1 header the specification allows (CR LF included).
V1_MAX = 107
#: The shortest one: ``PROXY UNKNOWN\r\n``; reading this many never passes the end.
V1_MIN = 15
V2_FIXED = 16
#: Addresses plus TLVs chatnet accepts in v2 (the protocol allows 65535): a
#: balancer's TLVs (ALPN, SSL details, a cloud's endpoint ID) fit easily.
V2_MAX_PAYLOAD = 2048

_V2_ADDRESS_SIZES = {0x1: 12, 0x2: 36, 0x3: 216}  # INET, INET6, UNIX
_V2_STREAM = 0x1
_V2_DGRAM = 0x2


class ProxyHeaderError(ValueError):
    """Not a valid PROXY header; the message says what is wrong."""


@dataclass(frozen=True)
class ProxyHeader:
    """What a PROXY header says.

    ``source`` is the real client's (address, port), or None when the header
    names none (v1 ``UNKNOWN``, v2 ``LOCAL`` such as a balancer's health
    check, or a family without an IP address): the TCP peer then stands.
    """

    version: int
    source: tuple[str, int] | None
    destination: tuple[str, int] | None = None
    #: v2 ``LOCAL``: the balancer speaks for itself (health checks).
    local: bool = False


def next_read(data: bytes) -> int:
    """How many bytes to read next so as never to pass the header's end; 0 when complete.

    Raises:
        ProxyHeaderError: ``data`` cannot begin a PROXY header, or is too long.
    """
    if not data:
        return V1_MIN
    if data[0] == V2_SIGNATURE[0]:
        return _next_read_v2(data)
    if not (V1_PREFIX.startswith(data[:6]) if len(data) < 6 else data.startswith(V1_PREFIX)):
        raise ProxyHeaderError("the connection does not start with a PROXY protocol header")
    if data.endswith(b"\r\n"):
        return 0
    if b"\n" in data or b"\r" in data[:-1]:
        raise ProxyHeaderError("PROXY v1 header: a line break inside the header")
    if len(data) >= V1_MAX:
        raise ProxyHeaderError(f"PROXY v1 header longer than {V1_MAX} bytes")
    # Before V1_MIN bytes the end cannot be there yet; after, one at a time.
    return max(V1_MIN - len(data), 1)


def _next_read_v2(data: bytes) -> int:
    head = data[: len(V2_SIGNATURE)]
    if not V2_SIGNATURE.startswith(head):
        raise ProxyHeaderError("the connection does not start with a PROXY protocol header")
    if len(data) < V2_FIXED:
        return V2_FIXED - len(data)
    length = int.from_bytes(data[14:16], "big")
    if length > V2_MAX_PAYLOAD:
        raise ProxyHeaderError(
            f"PROXY v2 header: {length} bytes of addresses and TLVs (at most {V2_MAX_PAYLOAD})"
        )
    total = V2_FIXED + length
    if len(data) > total:
        raise ProxyHeaderError("PROXY v2 header: more bytes than its length says")
    return total - len(data)


def parse_header(data: bytes) -> ProxyHeader:
    """The complete header ``data`` (as ``next_read`` delimited it), parsed.

    Raises:
        ProxyHeaderError: naming what is wrong with it.
    """
    if next_read(data) != 0:
        raise ProxyHeaderError("PROXY header is incomplete")
    if data.startswith(V2_SIGNATURE):
        return _parse_v2(data)
    return _parse_v1(data)


def _parse_v1(data: bytes) -> ProxyHeader:
    try:
        line = data[:-2].decode("ascii")
    except UnicodeDecodeError:
        raise ProxyHeaderError("PROXY v1 header: not ASCII text") from None
    parts = line.split(" ")
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        return ProxyHeader(version=1, source=None)  # the rest of the line is ignored
    if len(parts) != 6:
        raise ProxyHeaderError(
            "PROXY v1 header: expected 'PROXY TCP4|TCP6 SOURCE DEST SPORT DPORT' "
            f"or 'PROXY UNKNOWN', got {line!r}"
        )
    _, family, src, dst, sport, dport = parts
    if family not in ("TCP4", "TCP6"):
        raise ProxyHeaderError(f"PROXY v1 header: unknown protocol {family!r}")
    version = 4 if family == "TCP4" else 6
    return ProxyHeader(
        version=1,
        source=(_v1_address(src, version), _v1_port(sport)),
        destination=(_v1_address(dst, version), _v1_port(dport)),
    )


def _v1_address(text: str, version: int) -> str:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ProxyHeaderError(f"PROXY v1 header: {text!r} is not an IP address") from None
    if address.version != version:
        raise ProxyHeaderError(f"PROXY v1 header: {text} is not an IPv{version} address")
    return str(address)


def _v1_port(text: str) -> int:
    # Decimal without a leading zero (the specification's rule), 0..65535.
    if not text.isdigit() or not text.isascii() or (len(text) > 1 and text[0] == "0"):
        raise ProxyHeaderError(f"PROXY v1 header: {text!r} is not a port number")
    port = int(text)
    if port > 65535:
        raise ProxyHeaderError(f"PROXY v1 header: port {port} is above 65535")
    return port


def _parse_v2(data: bytes) -> ProxyHeader:
    version_command = data[12]
    if version_command >> 4 != 2:
        raise ProxyHeaderError(f"PROXY v2 header: version {version_command >> 4}, expected 2")
    command = version_command & 0x0F
    if command not in (0x0, 0x1):
        raise ProxyHeaderError(f"PROXY v2 header: unknown command {command}")
    family, transport = data[13] >> 4, data[13] & 0x0F
    payload = data[V2_FIXED:]
    if command == 0x0:
        # LOCAL: the balancer's own connection (a health check); addresses, if
        # any, are to be ignored.
        return ProxyHeader(version=2, source=None, local=True)
    if family == 0x0:
        return ProxyHeader(version=2, source=None)  # UNSPEC: the peer stands
    size = _V2_ADDRESS_SIZES.get(family)
    if size is None:
        raise ProxyHeaderError(f"PROXY v2 header: unknown address family {family}")
    if transport not in (_V2_STREAM, _V2_DGRAM):
        raise ProxyHeaderError(f"PROXY v2 header: unknown transport {transport}")
    if transport == _V2_DGRAM:
        raise ProxyHeaderError("PROXY v2 header: a datagram (UDP) connection on a TCP listener")
    if len(payload) < size:
        raise ProxyHeaderError(
            f"PROXY v2 header: {len(payload)} bytes cannot hold the addresses ({size} needed)"
        )
    # Whatever follows the addresses is TLVs: not needed here, skipped.
    if family == 0x3:
        return ProxyHeader(version=2, source=None)  # UNIX sockets: no IP address
    if family == 0x1:
        src4, dst4, sport, dport = struct.unpack_from("!4s4sHH", payload)
        return ProxyHeader(
            version=2,
            source=(str(ipaddress.IPv4Address(src4)), sport),
            destination=(str(ipaddress.IPv4Address(dst4)), dport),
        )
    src6, dst6, sport, dport = struct.unpack_from("!16s16sHH", payload)
    return ProxyHeader(
        version=2,
        source=(str(ipaddress.IPv6Address(src6)), sport),
        destination=(str(ipaddress.IPv6Address(dst6)), dport),
    )
