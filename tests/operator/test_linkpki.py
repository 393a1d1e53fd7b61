"""The operator's own link CA (``plan.linkpki``): issuance, renewal, a CA rotation with no split.

Pure: each step is "what the Secrets hold now, and the time" in, "what they
should hold" out; certificates are checked with OpenSSL (``ssl``) the way a
node checks a peer: against the bundle in ``ca.crt``, for the name dialed.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509 import verification

from chatnet_operator.plan import linkpki

NAMES = ["east-0.east", "east-0.east.chat.svc.cluster.local"]
LIFE = linkpki.Lifetimes(
    ca=datetime.timedelta(days=30),
    server=datetime.timedelta(days=3),
    grace=datetime.timedelta(minutes=10),
)
#: The rotation steps through a month: it is checked at each step's time with
#: cryptography's RFC 5280 verifier; the handshake test runs now, with OpenSSL.
T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def trusts(trust: bytes, server: dict[str, bytes], name: str, now: datetime.datetime) -> None:
    """Raise VerificationError unless ``trust`` (a CA bundle) accepts ``server`` for ``name``."""
    store = verification.Store(x509.load_pem_x509_certificates(trust))
    verifier = (
        verification.PolicyBuilder()
        .store(store)
        .time(now)
        .build_server_verifier(x509.DNSName(name))
    )
    verifier.verify(cert(server), [])


def cert(data: dict[str, bytes]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(data["tls.crt"])


def bundle(data: dict[str, bytes]) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(data["ca.crt"])


def handshake(tmp: Path, server: dict[str, bytes], trust: bytes, name: str) -> None:
    """A TLS handshake on loopback: ``server``'s pair presented, ``trust`` verifying ``name``.

    Raises ssl.SSLCertVerificationError when the client does not trust the server.
    """
    (tmp / "s.crt").write_bytes(server["tls.crt"])
    (tmp / "s.key").write_bytes(server["tls.key"])
    (tmp / "trust.pem").write_bytes(trust)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp / "s.crt", tmp / "s.key")
    client_ctx = ssl.create_default_context(cafile=str(tmp / "trust.pem"))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with server_ctx.wrap_socket(conn, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with (
            socket.create_connection(listener.getsockname(), timeout=5) as raw,
            client_ctx.wrap_socket(raw, server_hostname=name),
        ):
            pass
    finally:
        thread.join(5)
        listener.close()


def test_a_server_certificate_from_the_network_ca_is_trusted_for_every_name(
    tmp_path: Path,
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    ca = linkpki.ca_data("chat", None, now, LIFE)
    server = linkpki.server_data(ca, None, NAMES, now, LIFE)
    assert server["ca.crt"] == ca["ca.crt"]
    for name in NAMES:
        handshake(tmp_path, server, server["ca.crt"], name)
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        handshake(tmp_path, server, server["ca.crt"], "west-0.west")
    stranger = linkpki.ca_data("other", None, now, LIFE)
    with pytest.raises(ssl.SSLCertVerificationError, match="issuer"):
        handshake(tmp_path, server, stranger["ca.crt"], NAMES[0])


def test_nothing_changes_while_certificates_are_fresh() -> None:
    ca = linkpki.ca_data("chat", None, T0, LIFE)
    server = linkpki.server_data(ca, None, NAMES, T0, LIFE)
    later = T0 + datetime.timedelta(days=1)
    assert linkpki.ca_data("chat", ca, later, LIFE) == ca
    assert linkpki.server_data(ca, server, NAMES, later, LIFE) == server


def test_a_server_certificate_is_renewed_with_a_third_of_its_life_left_or_new_names() -> None:
    ca = linkpki.ca_data("chat", None, T0, LIFE)
    server = linkpki.server_data(ca, None, NAMES, T0, LIFE)
    renewed = linkpki.server_data(ca, server, NAMES, T0 + datetime.timedelta(days=2), LIFE)
    assert cert(renewed) != cert(server) and renewed["tls.key"] != server["tls.key"]
    grown = linkpki.server_data(ca, server, [*NAMES, "east-1.east"], T0, LIFE)
    names = cert(grown).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert "east-1.east" in names.value.get_values_for_type(x509.DNSName)
    broken = linkpki.server_data(ca, {"tls.crt": b"junk", "tls.key": b"junk"}, NAMES, T0, LIFE)
    cert(broken).verify_directly_issued_by(cert(ca))


def test_a_ca_rotation_never_leaves_a_certificate_its_peers_do_not_trust() -> None:
    """Two servers through a CA rotation: at every step each trusts the other's certificate."""
    ca = linkpki.ca_data("chat", None, T0, LIFE)
    east = linkpki.server_data(ca, None, ["east"], T0, LIFE)
    west = linkpki.server_data(ca, None, ["west"], T0, LIFE)
    old_ca = cert(ca)

    def step(now: datetime.datetime) -> None:
        nonlocal ca, east, west
        ca = linkpki.ca_data("chat", ca, now, LIFE)
        # One server's Secret is written before the other's: check in between too.
        east = linkpki.server_data(ca, east, ["east"], now, LIFE)
        trusts(west["ca.crt"], east, "east", now)
        trusts(east["ca.crt"], west, "west", now)
        west = linkpki.server_data(ca, west, ["west"], now, LIFE)
        trusts(west["ca.crt"], east, "east", now)
        trusts(east["ca.crt"], west, "west", now)

    for day in range(20):  # the operator re-syncs often; once a day is plenty here
        step(T0 + datetime.timedelta(days=day))
    assert bundle(ca) == [old_ca]
    # Two thirds into the CA's life: a new CA, trusted next to the old one,
    # which goes on signing for GRACE (a server renewed now gets an old-CA
    # certificate: a peer that has not read the new bundle yet still trusts it).
    rotation = T0 + datetime.timedelta(days=20)
    step(rotation)
    new_ca = bundle(ca)[0]
    assert new_ca != old_ca and bundle(ca) == [new_ca, old_ca] and cert(ca) == old_ca
    step(rotation + datetime.timedelta(minutes=5))
    cert(east).verify_directly_issued_by(old_ca)
    # After GRACE the new CA signs and every certificate moves to it; the old
    # CA stays trusted until it expires.
    step(rotation + datetime.timedelta(minutes=11))
    assert cert(ca) == new_ca
    cert(east).verify_directly_issued_by(new_ca)
    cert(west).verify_directly_issued_by(new_ca)
    assert bundle(east) == [new_ca, old_ca]
    for day in range(21, 32):
        step(T0 + datetime.timedelta(days=day))
    assert bundle(ca) == [new_ca], "the expired CA left the bundle"


def test_a_ca_kept_for_per_pod_certificates_is_renewed_with_its_own_key(tmp_path: Path) -> None:
    """With each pod's own certificate (the csi-driver), a pod trusts only the CA its
    certificate came with, not the bundle: a new key would leave pods renewed on
    either side of the change refusing each other. Renewed in place, a certificate
    signed before the renewal and one signed after trust each other's CA alone."""
    ca = linkpki.ca_data("chat", None, T0, LIFE, keep_key=True)
    east = linkpki.server_data(ca, None, ["east"], T0, LIFE)
    assert linkpki.ca_data("chat", ca, T0 + datetime.timedelta(days=1), LIFE, keep_key=True) == ca
    renewal = T0 + datetime.timedelta(days=20)
    renewed = linkpki.ca_data("chat", ca, renewal, LIFE, keep_key=True)
    assert cert(renewed) != cert(ca), "a new certificate, good for a new CA lifetime"
    assert renewed["tls.key"] == ca["tls.key"] and "next.crt" not in renewed
    assert bundle(renewed) == [cert(renewed), cert(ca)]
    # east's certificate was last renewed just before, by the CA then.
    east = linkpki.server_data(ca, east, ["east"], renewal - datetime.timedelta(hours=1), LIFE)
    west = linkpki.server_data(renewed, None, ["west"], renewal, LIFE)
    cert(west).verify_directly_issued_by(cert(renewed))
    # Each pod's ca.crt is the CA alone that signed its certificate.
    trusts(cert_pem(ca), west, "west", renewal)
    trusts(cert_pem(renewed), east, "east", renewal)
    # And with OpenSSL, as a node checks a peer: a CA made 20 days ago, renewed now.
    now = datetime.datetime.now(datetime.UTC)
    old = linkpki.ca_data("chat", None, now - datetime.timedelta(days=20), LIFE, keep_key=True)
    peer = linkpki.server_data(old, None, NAMES, now - datetime.timedelta(hours=1), LIFE)
    fresh = linkpki.ca_data("chat", old, now, LIFE, keep_key=True)
    assert cert(fresh) != cert(old)
    handshake(tmp_path, peer, cert_pem(fresh), NAMES[0])
    # A rotation begun before (next.crt) is dropped: its key would sign what
    # pods already running do not trust.
    plain = linkpki.ca_data("chat", ca, renewal, LIFE)
    assert "next.crt" in plain
    kept = linkpki.ca_data("chat", plain, renewal, LIFE, keep_key=True)
    assert "next.crt" not in kept and kept["tls.key"] == ca["tls.key"]
    # A key this module did not make: a fresh CA, as for a broken Secret.
    broken = linkpki.ca_data("chat", {**ca, "tls.key": b"junk"}, renewal, LIFE, keep_key=True)
    assert broken["tls.key"] != ca["tls.key"]


def cert_pem(data: dict[str, bytes]) -> bytes:
    return data["tls.crt"]
