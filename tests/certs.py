"""Self-signed certificates for TLS tests, made by ``chatnet_node.transport.tls``."""

from __future__ import annotations

from pathlib import Path

from chatnet_node.transport.tls import self_signed


def make_certificate(cert: Path, key: Path) -> bool:
    """Write a certificate for localhost/127.0.0.1 (valid for a day) and its key.

    Always True (``cryptography`` is a core dependency); the result is kept
    for callers that skip when no certificate can be made.
    """
    cert_pem, key_pem = self_signed("localhost", days=1, addresses=["127.0.0.1"])
    cert.write_bytes(cert_pem)
    key.write_bytes(key_pem)
    return True
