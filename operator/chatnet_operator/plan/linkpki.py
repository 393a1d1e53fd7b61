"""The network's own link CA without cert-manager: what its Secrets should hold.

Pure (no I/O): given what the Secrets hold now (``None`` when absent) and
the time, say what they should hold; the operator writes the answer
(``cluster.linkca``). Never part of ``chatnet render`` (no key material is
ever rendered).

- The CA Secret ``NETWORK-link-ca`` (``kubernetes.io/tls``): ``tls.crt`` and
  ``tls.key`` are the CA that signs; ``ca.crt`` is the trust bundle: a
  coming CA (during a rotation), the signing one and every older one not
  yet expired, newest first.
- Each ChatServer's Secret ``SERVER-link-tls``: its certificate and key,
  signed by a CA of the bundle, and ``ca.crt``, a copy of the bundle.

Rotation without a split. A server certificate is renewed when a third of
its life is left, or when its names change. When a third of the CA's life
is left, a new CA is made (``next.crt``, ``next.key``) and joins the bundle
at once, while the old CA goes on signing; only after ``GRACE`` (time for
the kubelet to update every pod's files and the nodes to read them) does
the new CA sign, and every server certificate is re-signed by it. The old
CA leaves the bundle when it expires. So at no moment does a server present
a certificate its peers do not trust, whatever order the Secrets reach the
pods in.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
SERVER_DAYS = 90
#: How long a new CA is trusted everywhere before certificates move to it.
GRACE = datetime.timedelta(minutes=10)
#: Backdating, so a clock a little behind still accepts a fresh certificate.
SKEW = datetime.timedelta(minutes=5)

Data = dict[str, bytes]


@dataclass(frozen=True)
class Lifetimes:
    """How long certificates live (tests shorten them)."""

    ca: datetime.timedelta = datetime.timedelta(days=CA_DAYS)
    server: datetime.timedelta = datetime.timedelta(days=SERVER_DAYS)
    grace: datetime.timedelta = GRACE


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_certs(pem: bytes | None) -> list[x509.Certificate]:
    if not pem:
        return []
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError:
        return []


def _needs_renewal(cert: x509.Certificate, now: datetime.datetime) -> bool:
    """A third or less of its life left (or not yet valid: a clock moved back)."""
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    if now < start or now >= end:
        return True
    return (end - now) * 3 <= (end - start)


def new_ca(
    network: str,
    now: datetime.datetime,
    life: datetime.timedelta,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> Data:
    """A fresh CA: ``tls.crt``, ``tls.key`` (and ``ca.crt``, itself alone); with
    ``key``, the same CA renewed (same name, same key: either certificate
    verifies what the other's key signed)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{network} link CA"[:64])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - SKEW)
        .not_valid_after(now + life)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return {"tls.crt": _pem(cert), "tls.key": _key_pem(key), "ca.crt": _pem(cert)}


def ca_data(
    network: str,
    existing: Mapping[str, bytes] | None,
    now: datetime.datetime,
    life: Lifetimes,
    *,
    keep_key: bool = False,
) -> Data:
    """What the CA Secret should hold: the signing CA, a coming one, and the trust bundle.

    ``tls.crt``/``tls.key`` sign; ``next.crt``/``next.key`` (during a rotation)
    are the new CA, already in the bundle, signing once it has been trusted for
    ``life.grace``.

    ``keep_key``: the CA is renewed with its own key instead (no ``next``), for
    pods that trust only the CA their certificate came with (each pod's own
    certificate from cert-manager's csi-driver, whose ``ca.crt`` is the signing
    CA alone, not this bundle): a pod renewed after the renewal and one renewed
    before it still trust each other.
    """
    have = dict(existing or {})
    current = _load_certs(have.get("tls.crt"))
    if not current or not have.get("tls.key"):
        return new_ca(network, now, life.ca)
    # With keep_key a rotation under way is dropped: its new key would sign what
    # the pods do not trust.
    coming = [] if keep_key else _load_certs(have.get("next.crt"))
    out = {"tls.crt": _pem(current[0]), "tls.key": have["tls.key"]}
    if coming and have.get("next.key"):
        if now - (coming[0].not_valid_before_utc + SKEW) >= life.grace:
            out = {"tls.crt": _pem(coming[0]), "tls.key": have["next.key"]}  # it signs now
        else:
            out |= {"next.crt": _pem(coming[0]), "next.key": have["next.key"]}
    elif _needs_renewal(current[0], now) and keep_key:
        key = _ec_key(have["tls.key"])
        if key is None:
            return new_ca(network, now, life.ca)  # not a key this module made: as if broken
        out["tls.crt"] = new_ca(network, now, life.ca, key)["tls.crt"]  # re-signed in place
    elif _needs_renewal(current[0], now):
        fresh = new_ca(network, now, life.ca)
        out |= {"next.crt": fresh["tls.crt"], "next.key": fresh["tls.key"]}
    first = _load_certs(out.get("next.crt")) + _load_certs(out["tls.crt"])
    older = _unexpired(_load_certs(have.get("ca.crt")) + current, now, exclude=first)
    out["ca.crt"] = b"".join(_pem(c) for c in first + older)
    return out


def _ec_key(pem: bytes) -> ec.EllipticCurvePrivateKey | None:
    """The EC private key in ``pem`` (None: unreadable, or another kind)."""
    try:
        key = serialization.load_pem_private_key(pem, None)
    except (ValueError, TypeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePrivateKey) else None


def _unexpired(
    certs: list[x509.Certificate], now: datetime.datetime, exclude: list[x509.Certificate]
) -> list[x509.Certificate]:
    seen = {c.fingerprint(hashes.SHA256()) for c in exclude}
    out = []
    for cert in certs:
        fp = cert.fingerprint(hashes.SHA256())
        if fp in seen or cert.not_valid_after_utc <= now:
            continue
        seen.add(fp)
        out.append(cert)
    return out


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _names(cert: x509.Certificate) -> list[str]:
    try:
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return alt.value.get_values_for_type(x509.DNSName)


def server_data(
    ca: Mapping[str, bytes],
    existing: Mapping[str, bytes] | None,
    dns_names: list[str],
    now: datetime.datetime,
    life: Lifetimes,
) -> Data:
    """What a ChatServer's Secret should hold, given the CA Secret ``ca`` (from ``ca_data``)."""
    ca_cert = _load_certs(ca["tls.crt"])[0]
    have = _load_certs((existing or {}).get("tls.crt"))
    key_pem = (existing or {}).get("tls.key")
    if have and key_pem:
        cert = have[0]
        # Kept while fresh, named right and signed by the signing CA; after a CA
        # rotation every certificate moves to the new CA, which all peers
        # trust by then (it was in the bundle for the grace period).
        if (
            _signed_by(cert, ca_cert)
            and not _needs_renewal(cert, now)
            and _names(cert) == dns_names
        ):
            return {"tls.crt": _pem(cert), "tls.key": key_pem, "ca.crt": ca["ca.crt"]}
    ca_key = serialization.load_pem_private_key(ca["tls.key"], password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0][:64])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - SKEW)
        .not_valid_after(min(now + life.server, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return {"tls.crt": _pem(cert), "tls.key": _key_pem(key), "ca.crt": ca["ca.crt"]}
