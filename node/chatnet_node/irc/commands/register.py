"""Account registration without a service (IRCv3 ``draft/account-registration``).

``REGISTER <account> <email|*> <password>`` registers an account (``*``
names the current nick) and logs the client in, before or after
connection registration (``before-connect``). ``VERIFY`` exists for
servers that mail a code; chatnet sends no mail, so no verification is
ever pending. Errors are standard replies (``FAIL REGISTER <code>``).
"""

from __future__ import annotations

import re

from ..accounts import account_name_problem, password_problem
from ..core import ChatCore, Command
from ..message import Message
from ..model import Client
from ..names import casefold
from ..transitions import accounts
from .passwords import hash_password

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def cap_value(core: ChatCore) -> str:
    """The capability's value: what this server's registration allows."""
    keys = ["before-connect", "custom-account-name"]
    if core.config.accounts.email_required:
        keys.append("email-required")
    return ",".join(keys)


def register(core: ChatCore, client: Client, msg: Message) -> None:
    name, email, password = msg.params[0], msg.params[1], msg.params[2]
    if name == "*":
        name = client.nick
    problem = registration_problem(core, client, name, email, password)
    if problem is not None:
        code, text = problem
        core.fail(client, "REGISTER", code, name, text)
        return

    def hashed(creds: dict[str, object]) -> None:
        # Asked again: the name may have been taken while the password was hashed.
        again = registration_problem(core, client, name, email, password)
        if again is not None:
            core.fail(client, "REGISTER", again[0], name, again[1])
            return
        account = accounts.register_account(core, name, creds, None if email == "*" else email)
        success = ["SUCCESS", account.name, "Account successfully registered"]
        core.send(client, Message("REGISTER", success, core.name))
        accounts.login(core, client, account)

    hash_password(core, client, password, hashed)


def registration_problem(
    core: ChatCore, client: Client, name: str, email: str, password: str
) -> tuple[str, str] | None:
    """Why ``client`` may not register ``name``: (FAIL code, text), or None.

    Shared by ``REGISTER`` and ``NickServ REGISTER``.
    """
    settings = core.config.accounts
    if not settings.enabled or not settings.registration:
        return ("DISALLOWED", "Account registration is disabled on this network")
    if client.account is not None:
        return ("ALREADY_AUTHENTICATED", f"You are already logged in as {client.account}")
    if name == "*":
        return ("NEED_NICK", "Choose a nick (or an account name) first")
    if (why := account_name_problem(name)) is not None:
        return ("BAD_ACCOUNT_NAME", why)
    if casefold(name) in (casefold(s) for s in accounts.SERVICES):
        return ("BAD_ACCOUNT_NAME", "That name is reserved")
    if core.accounts.get(name) is not None:
        return ("ACCOUNT_EXISTS", f"The account {name} is already registered")
    holder = core.nicks.get(casefold(name))
    if holder is not None and holder is not client:
        return ("ACCOUNT_EXISTS", f"{name} is in use by someone else")
    if email == "*" and settings.email_required:
        return ("INVALID_EMAIL", "This network requires an e-mail address")
    if email != "*" and not EMAIL.match(email):
        return ("INVALID_EMAIL", f"{email} is not an e-mail address")
    if (why := password_problem(password)) is not None:
        return ("WEAK_PASSWORD", why)
    return None


def verify(core: ChatCore, client: Client, msg: Message) -> None:
    core.fail(
        client,
        "VERIFY",
        "INVALID_CODE",
        msg.params[0],
        "No verification is pending for that account",
    )


COMMANDS = {
    "REGISTER": Command(register, 3, before_registration=True),
    "VERIFY": Command(verify, 2, before_registration=True),
}
