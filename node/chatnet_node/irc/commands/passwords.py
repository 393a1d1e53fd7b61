"""Checking and hashing passwords for the commands that need it, off the event loop.

Hashing a password (Argon2id) takes about 30 ms, so SASL PLAIN, REGISTER
and NickServ's IDENTIFY, GHOST, DROP, SET PASSWORD and SASET hand it to
``ChatCore.slow`` (``irc.slowwork``): each of these is the last thing its
command does, and what follows runs when the work is done, against the
accounts as they are then.
"""

from __future__ import annotations

from collections.abc import Callable

from ..accounts import Account, credentials, password_ok
from ..core import ChatCore
from ..model import Client


def check_password(
    core: ChatCore,
    client: Client,
    account: Account,
    password: str,
    then: Callable[[Account | None], None],
) -> None:
    """Check ``password`` against ``account``; ``then`` the account as it is now, or None.

    None when the password is wrong, or when the account was dropped or its
    password changed while the check ran.
    """

    def checked(ok: bool) -> None:
        now = core.accounts.get(account.name)
        same = ok and now is not None and now.password == account.password
        then(now if same else None)

    core.slow(client, lambda: password_ok(account, password), checked)


def hash_password(
    core: ChatCore, client: Client, password: str, then: Callable[[dict[str, object]], None]
) -> None:
    """The stored forms of a new ``password`` (``accounts.credentials``), then ``then`` them."""
    core.slow(client, lambda: credentials(password), then)
