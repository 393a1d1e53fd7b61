"""TLS server contexts: from a listener's PEM files, or with a certificate made at start.

Client certificates ("CertFP", for SASL EXTERNAL): a client TLS listener
asks every client for a certificate and accepts any, or none, because
clients use self-signed certificates that no CA signs: the server only
fingerprints them (SHA-256 of the DER, ``certificate_fingerprint``) and an
account lists the fingerprints that log in to it. Python's ``ssl`` module
has no verification callback, and without one OpenSSL refuses a
certificate it cannot verify, so ``accept_any_client_certificate`` installs
an accepting callback on the context's OpenSSL ``SSL_CTX`` through ctypes
(the same libssl ``_ssl`` uses). It checks first that it found the right
structure (OpenSSL must report the verify mode Python just set); if not,
it changes nothing, logs why, and clients connect without a fingerprint.
An expired or otherwise invalid certificate is fingerprinted all the same:
nothing here trusts a certificate, an account does.

Links authenticate peers with the network's shared secret (HMAC over a
challenge); TLS there is for privacy, so a server that was given no
certificate can make its own. The key never touches the disk: the PEM goes
through an anonymous in-memory file (``memfd``), because pods run with a
read-only root file system.

Certificates from files are renewed in place (cert-manager rewrites the
mounted Secret): ``ReloadingCertificate`` polls the files' modification
times and loads a changed pair into the running context, so every new
connection gets the new certificate while the connections already open
keep theirs (OpenSSL copies the certificate into each connection when it
starts). The new pair is first loaded into a scratch context: a bad one
(unreadable, a key that does not match) leaves the running certificate in
place, and the reason is logged.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime
import hashlib
import ipaddress
import logging
import os
import ssl
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification
from cryptography.x509.oid import NameOID

from ..config import TlsListener

VALID_DAYS = 3650  # replaced at every start anyway
log = logging.getLogger("chatnet.tls")

#: ``int verify_callback(int preverify_ok, X509_STORE_CTX *ctx)``
_VERIFY_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
#: Accept whatever certificate the client shows (kept alive for OpenSSL).
_ACCEPT_ANY = _VERIFY_CALLBACK(lambda preverify_ok, store: 1)
_SSL_VERIFY_PEER = 1


def _libssl() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("ssl")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    lib.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VERIFY_CALLBACK]
    lib.SSL_CTX_set_verify.restype = None
    lib.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
    lib.SSL_CTX_get_verify_mode.restype = ctypes.c_int
    return lib


def accept_any_client_certificate(context: ssl.SSLContext) -> bool:
    """Ask clients for a certificate and accept any (or none); False if this OpenSSL won't.

    See the module docstring for why and how.
    """
    context.verify_mode = ssl.CERT_OPTIONAL
    try:
        lib = _libssl()
        # CPython's SSLContext object: the object header, then ``SSL_CTX *ctx``.
        pointer = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
        ok = lib is not None and pointer is not None
        ok = ok and lib.SSL_CTX_get_verify_mode(pointer) == _SSL_VERIFY_PEER  # type: ignore[union-attr]
    except (OSError, AttributeError) as exc:
        log.warning("client certificates: libssl not usable (%s): no fingerprints", exc)
        ok, lib, pointer = False, None, None
    if not ok or lib is None:
        context.verify_mode = ssl.CERT_NONE
        log.warning("client certificates: cannot reach OpenSSL's context: no fingerprints")
        return False
    lib.SSL_CTX_set_verify(pointer, _SSL_VERIFY_PEER, _ACCEPT_ANY)
    return True


def certificate_fingerprint(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> str | None:
    """SHA-256 of the client's certificate (DER), lowercase hex; None without one."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest() if der else None


def untrusted_peer(der: bytes | None, ca_file: Path) -> str | None:
    """Why a server dialing in is not trusted by the ``ca_file`` bundle; None if it is.

    Server links ask for a certificate but accept any at the TLS handshake
    (the listener also serves clients, see above); this is the check, against
    the bundle as it is on disk now (a renewed bundle counts at once).
    """
    if not der:
        return "it showed no certificate (links.certFile)"
    try:
        store = verification.Store(x509.load_pem_x509_certificates(ca_file.read_bytes()))
        verifier = (
            verification.PolicyBuilder()
            .store(store)
            .time(datetime.datetime.now(datetime.UTC))
            .build_client_verifier()
        )
        verifier.verify(x509.load_der_x509_certificate(der), [])
    except OSError as exc:
        return f"caFile {ca_file} cannot be read: {exc.strerror}"
    except (ValueError, verification.VerificationError) as exc:
        return f"its certificate is not trusted (caFile {ca_file}): {exc}"
    return None


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


def _load_pem_pair(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """Load a certificate chain and key held in memory (the key never touches the disk)."""
    if not hasattr(os, "memfd_create"):  # not Linux
        with tempfile.NamedTemporaryFile(suffix=".pem") as handle:
            handle.write(cert_pem + b"\n" + key_pem)
            handle.flush()
            context.load_cert_chain(handle.name)
        return
    fd = os.memfd_create("chatnet-tls-reload")
    try:
        os.write(fd, cert_pem + b"\n" + key_pem)
        context.load_cert_chain(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


class ReloadingCertificate:
    """A listener's certificate files, loaded again into its context when they change."""

    def __init__(self, context: ssl.SSLContext, cert_file: Path, key_file: Path) -> None:
        self.context = context
        self.cert_file = cert_file
        self.key_file = key_file
        self._seen = self._stamp()
        #: How many times a changed pair was loaded (tests and logs).
        self.reloads = 0

    def _stamp(self) -> tuple[float, float] | None:
        try:
            return (self.cert_file.stat().st_mtime, self.key_file.stat().st_mtime)
        except OSError:
            return None

    def check(self) -> bool:
        """Load the files if they changed since the last look; True when a new pair took."""
        stamp = self._stamp()
        if stamp is None or stamp == self._seen:
            return False
        self._seen = stamp
        try:
            cert_pem, key_pem = self.cert_file.read_bytes(), self.key_file.read_bytes()
            # A scratch context first: a failed load half-changes the one it loads into.
            _load_pem_pair(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), cert_pem, key_pem)
        except (OSError, ssl.SSLError) as exc:
            log.error(
                "certificate %s changed but cannot be used, keeping the running one: %s",
                self.cert_file,
                exc,
            )
            return False
        _load_pem_pair(self.context, cert_pem, key_pem)
        self.reloads += 1
        log.info("certificate %s reloaded for new connections", self.cert_file)
        return True


def tls_context(
    listener: TlsListener, server_name: str, client_certificates: bool = False
) -> ssl.SSLContext:
    """A server TLS context from the listener's PEM files, or made now.

    With ``client_certificates``, clients are asked for a certificate (any
    is accepted: see the module docstring).
    """
    if listener.self_signed:
        context = self_signed_context(server_name)
    else:
        assert listener.cert_file is not None and listener.key_file is not None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(listener.cert_file), str(listener.key_file))
    if client_certificates:
        accept_any_client_certificate(context)
    return context
