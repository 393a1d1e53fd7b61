"""TLS server contexts: from a listener's PEM files, or with a certificate made at start.

Links authenticate peers with the network's shared secret (HMAC over a
challenge); TLS there is for privacy, so a server that was given no
certificate can make its own. The key never touches the disk: the PEM goes
through an anonymous in-memory file (``memfd``), because pods run with a
read-only root file system.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ..config import TlsListener

VALID_DAYS = 3650  # replaced at every start anyway


def self_signed(
    common_name: str, days: int = VALID_DAYS, addresses: Sequence[str] = ()
) -> tuple[bytes, bytes]:
    """A fresh EC key and a self-signed certificate for it: (certificate PEM, key PEM).

    The certificate names ``common_name`` and the IP ``addresses``.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    alt_names: list[x509.GeneralName] = [x509.DNSName(common_name)]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def self_signed_pem(common_name: str) -> bytes:
    """A fresh EC key and a self-signed certificate for it, as one PEM blob."""
    cert_pem, key_pem = self_signed(common_name)
    return cert_pem + key_pem


def self_signed_context(common_name: str) -> ssl.SSLContext:
    """A server context presenting a certificate made now for ``common_name``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    pem = self_signed_pem(common_name)
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("chatnet-link-cert")
        try:
            os.write(fd, pem)
            context.load_cert_chain(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return context
    with tempfile.NamedTemporaryFile(suffix=".pem") as handle:  # not Linux
        handle.write(pem)
        handle.flush()
        context.load_cert_chain(handle.name)
    return context


def tls_context(listener: TlsListener, server_name: str) -> ssl.SSLContext:
    """A server TLS context from the listener's PEM files, or made now."""
    if listener.self_signed:
        return self_signed_context(server_name)
    assert listener.cert_file is not None and listener.key_file is not None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(listener.cert_file), str(listener.key_file))
    return context
