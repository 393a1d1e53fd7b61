"""Adverts signed by their own server: who may say which links a server has.

Adverts (link state, ``links.topology``) are flooded: every server relays
every other server's. The link secret only proves that a peer belongs to the
network, so without more, a peer that has it could send an advert in another
server's name, with a higher sequence number: it could cut that server off
(its users would quit everywhere in a netsplit) or claim links that do not
exist, and so put itself on the routing trees of servers it has no link to
(and speak for them: ``links.routing``).

With ``links.signAdverts`` (the operator turns it on where every server has
its own certificate from the network's CA), a server signs its adverts with
the key of its link certificate, and the advert carries the certificate.
Every server checks, before it takes an advert: the certificate chains to
``caFile`` and is valid now, one of its DNS names is the advert's server, and
the signature covers the advert's fields. An advert that fails is refused
and logged, with the reason; the link that brought it stays (it may only be
relaying).

The throttle counts servers share (``Counts``, every second) are signed as
well, without the certificate: each is checked with the certificate of its
server's latest advert, so a server cannot block addresses network-wide in
another server's name.

Files are read again when they change (cert-manager renews certificates in
place): the key and certificate when this server next signs, the CA bundle
when the next advert is checked. A certificate checked once is remembered
by its bytes until the CA bundle changes, so a flood of adverts costs one
signature check each, not a chain verification.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509 import verification

from . import protocol as lp

__all__ = ["SIGNING_ERRORS", "AdvertSignatures", "auth_payload", "counts_payload", "payload"]

#: What signing raises when the key or certificate cannot be used (unreadable,
#: not PEM, passphrase-protected): the caller logs it and sends the message
#: unsigned; peers that check refuse it, saying why.
SIGNING_ERRORS = (OSError, ValueError, TypeError)
#: Verified certificates remembered (by their bytes) between CA bundle changes.
MAX_REMEMBERED = 256


def _canonical(kind: str, *fields: object) -> bytes:
    """One unambiguous encoding (a JSON array): no field can spill into another."""
    return json.dumps([kind, *fields], separators=(",", ":"), ensure_ascii=True).encode()


def payload(advert: lp.Advert) -> bytes:
    """The bytes an advert's signature covers: every field but the signature's own."""
    return _canonical(
        "chatnet-advert-v1",
        advert.server,
        advert.sid,
        advert.seq,
        sorted(advert.neighbours),
        advert.role,
        advert.description,
    )


def counts_payload(counts: lp.Counts) -> bytes:
    """The bytes a throttle counts message's signature covers."""
    return _canonical("chatnet-counts-v1", counts.server, counts.seq, counts.blocks)


def auth_payload(network: str, challenge: str, server: str, sid: int) -> bytes:
    """What a server signs in the handshake: the peer's challenge, in its own name."""
    return _canonical("chatnet-auth-v1", network, challenge, server, sid)


@dataclass
class _Checked:
    names: frozenset[str]
    key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
    not_before: datetime.datetime
    not_after: datetime.datetime


class AdvertSignatures:
    """Signs this server's adverts and checks other servers'."""

    def __init__(self, cert_file: Path, key_file: Path, ca_file: Path) -> None:
        self.cert_file, self.key_file, self.ca_file = cert_file, key_file, ca_file
        self._own: tuple[tuple[float, float], str, object] | None = None
        self._ca_stamp: float | None = None
        self._store: verification.Store | None = None
        self._checked: dict[bytes, _Checked] = {}  # trusted ones only

    @property
    def files(self) -> tuple[Path, Path, Path]:
        """The certificate, key and CA bundle it reads."""
        return self.cert_file, self.key_file, self.ca_file

    def sign(self, advert: lp.Advert) -> lp.Advert:
        """``advert`` with this server's certificate and its signature."""
        cert, signature = self.sign_bytes(payload(advert))
        return advert.model_copy(update={"cert": cert, "sig": signature})

    def sign_bytes(self, data: bytes) -> tuple[str, str]:
        """This server's certificate and its signature of ``data`` (both base64)."""
        cert_b64, key = self._own_pair()
        if isinstance(key, ec.EllipticCurvePrivateKey):
            signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPrivateKey):
            signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ed25519.Ed25519PrivateKey):
            signature = key.sign(data)
        else:
            raise ValueError(f"links.keyFile {self.key_file}: an EC, RSA or Ed25519 key is needed")
        return cert_b64, base64.b64encode(signature).decode()

    def problem(self, advert: lp.Advert, now: datetime.datetime) -> str | None:
        """Why ``advert`` is not its server's own (None: it is)."""
        return self.check(advert.server, payload(advert), advert.cert, advert.sig, now)

    def check(
        self,
        server: str,
        data: bytes,
        cert: str | None,
        sig: str | None,
        now: datetime.datetime,
    ) -> str | None:
        """Why ``sig`` is not ``server``'s signature of ``data`` (None: it is)."""
        if not cert or not sig:
            return "it is not signed (links.signAdverts)"
        try:
            der = base64.b64decode(cert, validate=True)
            signature = base64.b64decode(sig, validate=True)
        except ValueError:
            return "its certificate or signature is not base64"
        checked = self._check_certificate(der, now)
        if isinstance(checked, str):
            return checked
        if now > checked.not_after:
            return "its certificate has expired"
        if now < checked.not_before:
            return "its certificate is not valid yet"
        if server not in checked.names:
            names = ", ".join(sorted(checked.names)) or "none"
            return f"its certificate does not name {server} (it names {names})"
        key = checked.key
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
            elif isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            else:
                key.verify(signature, data)
        except InvalidSignature:
            return "its signature does not match its fields"
        return None

    def _own_pair(self) -> tuple[str, object]:
        stamp = (self.cert_file.stat().st_mtime, self.key_file.stat().st_mtime)
        if self._own is None or self._own[0] != stamp:
            cert = x509.load_pem_x509_certificate(self.cert_file.read_bytes())
            key = serialization.load_pem_private_key(self.key_file.read_bytes(), password=None)
            der = cert.public_bytes(serialization.Encoding.DER)
            self._own = (stamp, base64.b64encode(der).decode(), key)
        return self._own[1], self._own[2]

    def _check_certificate(self, der: bytes, now: datetime.datetime) -> _Checked | str:
        store = self._ca()
        if isinstance(store, str):
            return store
        digest = hashlib.sha256(der).digest()
        known = self._checked.get(digest)
        if known is not None:
            return known
        try:
            cert = x509.load_der_x509_certificate(der)
            # Checked as of its own start: whether it is valid *now* is asked on
            # every use, so a certificate seen a moment early is not refused for good.
            at = max(now, cert.not_valid_before_utc)
            verifier = verification.PolicyBuilder().store(store).time(at).build_client_verifier()
            verifier.verify(cert, [])
            key = cert.public_key()
            if not isinstance(
                key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
            ):
                raise ValueError("its key is not EC, RSA or Ed25519")
            try:
                alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
                names = frozenset(alt.value.get_values_for_type(x509.DNSName))
            except x509.ExtensionNotFound:
                names = frozenset()
        except (ValueError, verification.VerificationError) as exc:
            return f"its certificate is not trusted (caFile {self.ca_file}): {exc}"
        checked = _Checked(names, key, cert.not_valid_before_utc, cert.not_valid_after_utc)
        if len(self._checked) >= MAX_REMEMBERED:
            self._checked.clear()
        self._checked[digest] = checked
        return checked

    def _ca(self) -> verification.Store | str:
        try:
            stamp = self.ca_file.stat().st_mtime
            if self._store is None or stamp != self._ca_stamp:
                pem = self.ca_file.read_bytes()
                self._store = verification.Store(x509.load_pem_x509_certificates(pem))
                self._ca_stamp = stamp
                self._checked.clear()
        except OSError as exc:
            return f"caFile {self.ca_file} cannot be read: {exc.strerror}"
        except ValueError as exc:
            return f"caFile {self.ca_file} holds no usable certificate: {exc}"
        return self._store
