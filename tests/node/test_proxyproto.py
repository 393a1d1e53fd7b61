"""The PROXY protocol parser and the forwarded-header walk: pure functions, no sockets."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from chatnet_node.config import ConfigError, parse_config
from chatnet_node.transport.forwarded import (
    ForwardedError,
    client_address,
    forwarded_for,
    normal_address,
    trusted_networks,
    x_forwarded_for,
)
from chatnet_node.transport.proxyproto import (
    V1_MAX,
    V2_MAX_PAYLOAD,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyHeaderError,
    next_read,
    parse_header,
)


def read_all(stream: bytes) -> tuple[ProxyHeader, bytes]:
    """What the socket reader does: read ``next_read`` bytes at a time; the header and the rest."""
    data = b""
    while (wanted := next_read(data)) > 0:
        chunk = stream[len(data) : len(data) + wanted]
        if len(chunk) < wanted:
            raise ProxyHeaderError("truncated")
        data += chunk
    return parse_header(data), stream[len(data) :]


def v2(command: int, family: int, payload: bytes) -> bytes:
    return (
        V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(payload)) + payload
    )


def v2_inet(src: str, dst: str, sport: int, dport: int, tlvs: bytes = b"") -> bytes:
    addresses = ipaddress.ip_address(src).packed + ipaddress.ip_address(dst).packed
    family = 0x11 if len(addresses) == 8 else 0x21
    return v2(0x1, family, addresses + struct.pack("!HH", sport, dport) + tlvs)


# Version 1.


def test_v1_tcp4_and_nothing_past_it_is_read() -> None:
    tls_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc"
    header, rest = read_all(b"PROXY TCP4 203.0.113.7 10.0.0.5 51234 6667\r\n" + tls_hello)
    assert header == ProxyHeader(1, ("203.0.113.7", 51234), ("10.0.0.5", 6667))
    assert rest == tls_hello


def test_v1_tcp6() -> None:
    header, rest = read_all(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\nNICK a\r\n")
    assert header.source == ("2001:db8::1", 1)
    assert rest == b"NICK a\r\n"


def test_v1_unknown_names_no_client() -> None:
    header, rest = read_all(b"PROXY UNKNOWN\r\nNICK a\r\n")
    assert header.source is None and rest == b"NICK a\r\n"
    header, _ = read_all(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n")
    assert header.source is None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"PROXY TCP4 203.0.113.7 10.0.0.5 51234\r\n", "expected 'PROXY TCP4|TCP6"),
        (b"PROXY TCP5 203.0.113.7 10.0.0.5 1 2\r\n", "unknown protocol 'TCP5'"),
        (b"PROXY TCP4 2001:db8::1 10.0.0.5 1 2\r\n", "is not an IPv4 address"),
        (b"PROXY TCP4 300.1.1.1 10.0.0.5 1 2\r\n", "'300.1.1.1' is not an IP address"),
        (b"PROXY TCP4 1.1.1.1 10.0.0.5 01 2\r\n", "'01' is not a port number"),
        (b"PROXY TCP4 1.1.1.1 10.0.0.5 1 65536\r\n", "port 65536 is above 65535"),
        (b"PROXY TCP4 1.1.1.1 10.0.0.5 1 2\nNICK\r\n", "a line break inside the header"),
        (b"NICK alice\r\nUSER a 0 * :a\r\n", "does not start with a PROXY protocol header"),
        (b"GET / HTTP/1.1\r\n\r\n", "does not start with a PROXY protocol header"),
    ],
)
def test_v1_malformed(line: bytes, reason: str) -> None:
    with pytest.raises(ProxyHeaderError, match=reason.replace("|", r"\|")):
        read_all(line)


def test_v1_oversized_is_refused_at_the_bound() -> None:
    line = b"PROXY TCP4 " + b"1" * 200 + b"\r\n"
    with pytest.raises(ProxyHeaderError, match=f"longer than {V1_MAX} bytes"):
        read_all(line)


def test_v1_truncated_is_incomplete() -> None:
    whole = b"PROXY TCP4 203.0.113.7 10.0.0.5 51234 6667\r\n"
    for cut in range(len(whole)):
        assert next_read(whole[:cut]) > 0
        with pytest.raises(ProxyHeaderError):
            parse_header(whole[:cut])


# Version 2.


def test_v2_tcp4_with_tlvs_skipped() -> None:
    tlvs = b"\x01\x00\x02h2" + b"\x04\x00\x00"  # ALPN "h2", NOOP
    stream = v2_inet("198.51.100.4", "10.0.0.5", 40000, 6697, tlvs) + b"\x16\x03\x01"
    header, rest = read_all(stream)
    assert header == ProxyHeader(2, ("198.51.100.4", 40000), ("10.0.0.5", 6697))
    assert rest == b"\x16\x03\x01"


def test_v2_tcp6() -> None:
    header, _ = read_all(v2_inet("2001:db8::7", "2001:db8::1", 1, 2))
    assert header.source == ("2001:db8::7", 1)


def test_v2_local_is_the_proxy_speaking_for_itself() -> None:
    header, rest = read_all(v2(0x0, 0x00, b"") + b"rest")
    assert header.local and header.source is None and rest == b"rest"
    # LOCAL with addresses: they are to be ignored.
    header, _ = read_all(v2(0x0, 0x11, bytes(12)))
    assert header.local and header.source is None


def test_v2_unspec_and_unix_name_no_ip() -> None:
    assert read_all(v2(0x1, 0x00, b""))[0].source is None
    assert read_all(v2(0x1, 0x31, bytes(216)))[0].source is None


@pytest.mark.parametrize(
    ("stream", "reason"),
    [
        (V2_SIGNATURE[:5] + b"X" * 20, "does not start with a PROXY protocol header"),
        (V2_SIGNATURE + b"\x11\x11\x00\x0c" + bytes(12), "version 1, expected 2"),
        (V2_SIGNATURE + b"\x2f\x11\x00\x0c" + bytes(12), "unknown command 15"),
        (v2(0x1, 0x12, bytes(12)), "datagram"),
        (v2(0x1, 0x41, bytes(12)), "unknown address family 4"),
        (v2(0x1, 0x21, bytes(12)), "cannot hold the addresses"),
    ],
)
def test_v2_malformed(stream: bytes, reason: str) -> None:
    with pytest.raises(ProxyHeaderError, match=reason):
        read_all(stream)


def test_v2_oversized_is_refused_before_reading_it() -> None:
    head = V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", V2_MAX_PAYLOAD + 1)
    with pytest.raises(ProxyHeaderError, match=f"at most {V2_MAX_PAYLOAD}"):
        next_read(head)


def test_v2_truncated_never_reads_past_the_end() -> None:
    whole = v2_inet("198.51.100.4", "10.0.0.5", 40000, 6697, b"\x04\x00\x01x")
    for cut in range(len(whole)):
        wanted = next_read(whole[:cut])
        assert 0 < wanted <= len(whole) - cut
    assert next_read(whole) == 0
    with pytest.raises(ProxyHeaderError, match="more bytes than its length"):
        next_read(whole + b"x")


# Forwarded headers.

TRUSTED = trusted_networks(("10.0.0.0/8", "2001:db8:ffff::/48"))


def test_forwarded_syntax() -> None:
    assert forwarded_for(
        ['for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"', "for=_x"]
    ) == ["192.0.2.60", "2001:db8:cafe::17", "_x"]
    assert forwarded_for(['for="192.0.2.43:47011", proto=https']) == ["192.0.2.43:47011"]
    assert x_forwarded_for(["203.0.113.9, 10.1.1.1", "10.2.2.2"]) == [
        "203.0.113.9",
        "10.1.1.1",
        "10.2.2.2",
    ]


def test_the_walk_skips_trusted_hops_from_the_right() -> None:
    hops = ["198.51.100.1", "203.0.113.9", "10.1.1.1"]  # the client could write the first
    assert client_address("10.0.0.2", hops, TRUSTED, "X-Forwarded-For") == "203.0.113.9"
    assert client_address("10.0.0.2", ["10.9.9.9", "10.1.1.1"], TRUSTED, "XFF") == "10.9.9.9"
    assert client_address("10.0.0.2", ["192.0.2.43:47011"], TRUSTED, "Forwarded") == "192.0.2.43"
    assert client_address("10.0.0.2", [], TRUSTED, "Forwarded") == "10.0.0.2"


def test_a_forwarded_header_from_an_untrusted_peer_is_refused() -> None:
    with pytest.raises(ForwardedError, match=r"from 192\.0\.2\.1, which is not a trusted proxy"):
        client_address("192.0.2.1", ["10.0.0.9"], TRUSTED, "X-Forwarded-For")
    with pytest.raises(ForwardedError, match="'_hidden', which is not an IP address"):
        client_address("10.0.0.2", ["_hidden"], TRUSTED, "Forwarded")


def test_ipv4_mapped_addresses_are_one_address() -> None:
    assert normal_address("::ffff:192.0.2.5") == "192.0.2.5"
    assert normal_address("2001:db8::1") == "2001:db8::1"


# The configuration.


def test_config_trusted_proxies_and_proxy_listeners() -> None:
    config = parse_config(
        {
            "name": "a",
            "trustedProxies": ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"],
            "listeners": {"irc": [{"port": 6667, "proxyProtocol": True}]},
        }
    )
    assert config.trusted_proxies == ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]
    assert config.listeners.irc[0].proxy_protocol


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"trustedProxies": ["10.0.0.1/8"]}, "has host bits set; did you mean 10.0.0.0/8?"),
        ({"trustedProxies": ["lb.example"]}, "'lb.example' is not an IP network"),
        (
            {"listeners": {"websocketTls": [{"port": 1, "selfSigned": True, "proxyProtocol": 1}]}},
            "listeners.websocketTls[0] has proxyProtocol: true but trustedProxies is empty",
        ),
    ],
)
def test_config_errors(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("?", r"\?")):
        parse_config({"name": "a", **data})
