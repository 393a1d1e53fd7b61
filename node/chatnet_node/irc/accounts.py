"""Accounts and registered channels: the records, and checking a password.

An ``Account`` holds what logging in needs and nothing in clear: an
Argon2id hash (argon2-cffi) for PLAIN and IDENTIFY, and SCRAM-SHA-256 keys
(salt, StoredKey, ServerKey: RFC 5802/7677, made by scramp) for
SCRAM-SHA-256, which never sends the password at all; plus the client
certificate fingerprints accepted for EXTERNAL. A ``ChannelRecord`` is a
channel owned by an account: its access list and the settings that come
back when the channel is recreated (topic, modes, key, limit, bans,
exceptions, invite exceptions).

Both are ``registry.Record`` s: every server keeps them, and links carry
them. Hashing is CPU work (about 30 ms per password with the parameters
below): the commands that need it run it off the event loop
(``commands.passwords``, ``slowwork``).
"""

from __future__ import annotations

import base64
import re
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict
from scramp import ScramMechanism

from .model import Client
from .names import casefold
from .registry import Record

#: OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
#: SCRAM's iteration count: RFC 7677's minimum, what clients expect.
SCRAM_ITERATIONS = 4096
SCRAM = ScramMechanism("SCRAM-SHA-256")
#: Account names: what a nick may be, minus the characters nicks allow that read badly.
ACCOUNT_NAME = re.compile(r"^[A-Za-z_\[\]\\`^{}|][A-Za-z0-9_\[\]\\`^{}|-]{0,29}$")
PASSWORD_MIN = 8
PASSWORD_MAX = 300
#: A certificate fingerprint: SHA-256 in lowercase hex.
CERTFP = re.compile(r"^[0-9a-f]{64}$")

Access = Literal["op", "voice"]


class ScramKeys(BaseModel):
    """SCRAM-SHA-256 credentials, base64: what the server keeps instead of the password."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    salt: str
    stored_key: str
    server_key: str
    iterations: int

    def auth_info(self) -> tuple[bytes, bytes, bytes, int]:
        """The tuple scramp's server asks for."""
        return (
            base64.b64decode(self.salt),
            base64.b64decode(self.stored_key),
            base64.b64decode(self.server_key),
            self.iterations,
        )


class Account(Record):
    """A user account."""

    password: str = ""  # Argon2id hash ("" once dropped)
    scram: ScramKeys | None = None
    email: str | None = None
    certfps: tuple[str, ...] = ()


class Mask(BaseModel):
    """One entry of a channel's ban, exception or invite-exception list."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mask: str
    set_by: str
    set_at: int


class ChannelRecord(Record):
    """A channel registered to a founder account, and the settings it keeps."""

    founder: str = ""  # the founder's account name
    access: dict[str, Access] = {}  # folded account name -> what it gets on join
    topic: str = ""
    topic_by: str = ""
    topic_at: int = 0
    modes: tuple[str, ...] = ()  # flag modes: i, m, n, t, s
    key: str | None = None
    limit: int | None = None
    bans: tuple[Mask, ...] = ()
    excepts: tuple[Mask, ...] = ()
    invex: tuple[Mask, ...] = ()


def credentials(password: str) -> dict[str, object]:
    """The stored forms of a new password: the Argon2id hash and the SCRAM keys."""
    salt, stored_key, server_key, iterations = SCRAM.make_auth_info(
        password, iteration_count=SCRAM_ITERATIONS
    )
    return {
        "password": _HASHER.hash(password),
        "scram": ScramKeys(
            salt=base64.b64encode(salt).decode(),
            stored_key=base64.b64encode(stored_key).decode(),
            server_key=base64.b64encode(server_key).decode(),
            iterations=iterations,
        ),
    }


def password_ok(account: Account, password: str) -> bool:
    """Does ``password`` match the account's (constant-time, via argon2)?"""
    if not account.password:
        return False
    try:
        return _HASHER.verify(account.password, password)
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < PASSWORD_MIN:
        return f"Passwords must be at least {PASSWORD_MIN} characters"
    if len(password.encode()) > PASSWORD_MAX:
        return f"Passwords must be at most {PASSWORD_MAX} bytes"
    if password == "*":
        return "That password is not allowed"
    return None


def account_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an account name, or None."""
    if not ACCOUNT_NAME.match(name):
        return "Account names are nicks: a letter or one of _[]\\`^{}| first, at most 30"
    return None


class Logins:
    """The local connections logged in, by account: who to log out when an account goes."""

    def __init__(self) -> None:
        #: Per connection: the folded account name and the registration it logged in to.
        self._of: dict[Client, tuple[str, tuple[float, str]]] = {}
        self._by_account: dict[str, dict[Client, None]] = {}

    def __len__(self) -> int:
        return len(self._of)

    def add(self, client: Client, account: Account) -> None:
        """``client`` logged in to ``account``."""
        self.remove(client)
        self._of[client] = (account.folded, account.identity)
        self._by_account.setdefault(account.folded, {})[client] = None

    def remove(self, client: Client) -> None:
        """``client`` logged out, or left."""
        entry = self._of.pop(client, None)
        if entry is None:
            return
        clients = self._by_account[entry[0]]
        del clients[client]
        if not clients:
            del self._by_account[entry[0]]

    def of(self, name: str) -> list[Client]:
        """The connections logged in to the account ``name`` (any case)."""
        return list(self._by_account.get(casefold(name), ()))

    def identity(self, client: Client) -> tuple[float, str] | None:
        """Which registration ``client`` logged in to (None: not logged in)."""
        entry = self._of.get(client)
        return None if entry is None else entry[1]
