"""SASL over IRC (the ``sasl`` capability, AUTHENTICATE): the mechanisms, as plain objects.

A client picks a mechanism (``AUTHENTICATE PLAIN``), then sends its
responses base64-encoded in lines of at most 400 characters (a line of
exactly 400 means more follows; ``+`` is an empty response or the end).
``Exchange`` collects those pieces and runs one mechanism:

* ``PLAIN`` (RFC 4616): ``authzid NUL authcid NUL password``, to be
  checked against the account's Argon2id hash (``Check``: slow work, left
  to the command);
* ``SCRAM-SHA-256`` (RFC 5802/7677), through scramp: the password never
  crosses the wire, and the server proves it knows the account too;
* ``EXTERNAL`` (RFC 4422): the client's TLS certificate fingerprint, if
  the account lists it (``NickServ CERT ADD``).

Each step returns what the command sends next: a challenge, a success
naming the account, a password to check, or a failure. No I/O, no state
beyond the exchange.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field

from scramp import ScramException

from .accounts import SCRAM, Account

MECHANISMS = ("PLAIN", "EXTERNAL", "SCRAM-SHA-256")
#: What a client may send in one exchange, decoded (long enough for any SCRAM step).
MAX_RESPONSE = 8192
#: The longest piece a line carries.
CHUNK = 400


@dataclass(frozen=True, slots=True)
class Challenge:
    """Send this to the client (``AUTHENTICATE`` lines) and wait for its answer."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Success:
    """The client proved it owns ``account``."""

    account: Account


@dataclass(frozen=True, slots=True)
class Check:
    """The client is ``account`` if ``password`` is its password (PLAIN): check it."""

    account: Account
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Failure:
    """Authentication failed; ``reason`` is for the server's log, never the client."""

    reason: str


Step = Challenge | Success | Check | Failure
Lookup = Callable[[str], Account | None]


@dataclass(slots=True)
class Exchange:
    """One SASL exchange in progress on one connection."""

    mechanism: str
    certfp: str | None = None
    pending: bytearray = field(default_factory=bytearray)
    scram: object | None = None  # scramp's server, between SCRAM steps
    proven: Account | None = None  # SCRAM: proven, waiting for the client's last "+"

    def take_piece(self, piece: str) -> bytes | str | None:
        """Add one AUTHENTICATE line; the whole response once complete.

        Returns the decoded response when the last piece arrived, None while
        more is expected, or an error text (``"too long"``, ``"bad base64"``).
        """
        if piece != "+":
            try:
                self.pending += base64.b64decode(piece, validate=True)
            except (binascii.Error, ValueError):
                return "bad base64"
            if len(self.pending) > MAX_RESPONSE:
                return "too long"
            if len(piece) == CHUNK:
                return None
        response, self.pending = bytes(self.pending), bytearray()
        return response

    def step(self, response: bytes, lookup: Lookup, by_certfp: Lookup) -> Step:
        """Run the mechanism on one complete response from the client.

        ``lookup`` finds an account by name, ``by_certfp`` by a certificate
        fingerprint it lists.
        """
        if self.mechanism == "PLAIN":
            return _plain(response, lookup)
        if self.mechanism == "EXTERNAL":
            return _external(response, self.certfp, lookup, by_certfp)
        return self._scram(response, lookup)

    def _scram(self, response: bytes, lookup: Lookup) -> Step:
        if self.proven is not None:
            return Success(self.proven)  # the client's "+" after our final message
        try:
            text = response.decode()
        except UnicodeDecodeError:
            return Failure("SCRAM message is not UTF-8")
        try:
            if self.scram is None:
                found: dict[str, Account] = {}

                def auth_info(username: str) -> tuple[bytes, bytes, bytes, int]:
                    account = lookup(username)
                    if account is None or account.scram is None:
                        raise ScramException("unknown account")
                    found["account"] = account
                    return account.scram.auth_info()

                server = SCRAM.make_server(auth_info)
                server.set_client_first(text)
                self.scram = (server, found)
                return Challenge(server.get_server_first().encode())
            server, found = self.scram  # type: ignore[misc]
            server.set_client_final(text)
            self.proven = found["account"]
            return Challenge(server.get_server_final().encode())
        except ScramException as exc:
            return Failure(f"SCRAM: {exc}")


def _plain(response: bytes, lookup: Lookup) -> Step:
    parts = response.split(b"\0")
    if len(parts) != 3:
        return Failure("PLAIN response is not authzid NUL authcid NUL password")
    try:
        authzid, authcid, password = (part.decode() for part in parts)
    except UnicodeDecodeError:
        return Failure("PLAIN response is not UTF-8")
    if authzid and authzid.casefold() != authcid.casefold():
        return Failure("PLAIN: logging in as another account is not allowed")
    account = lookup(authcid)
    if account is None:
        return Failure(f"PLAIN: wrong account or password for {authcid!r}")
    return Check(account, password)


def _external(response: bytes, certfp: str | None, lookup: Lookup, by_certfp: Lookup) -> Step:
    if certfp is None:
        return Failure("EXTERNAL without a client certificate")
    authzid = response.decode(errors="replace")
    account = lookup(authzid) if authzid else by_certfp(certfp)
    if account is not None and certfp in account.certfps:
        return Success(account)
    return Failure(f"EXTERNAL: no account {authzid!r} lists this certificate")


def encode_challenge(data: bytes) -> list[str]:
    """A server message as AUTHENTICATE parameters: 400-character pieces, ``+`` when needed."""
    text = base64.b64encode(data).decode()
    pieces = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)] or ["+"]
    if len(pieces[-1]) == CHUNK:
        pieces.append("+")
    return pieces
