"""NickServ: accounts for clients without SASL or account-registration, Atheme/Ergo-style.

``/msg NickServ <command> ...`` (or ``/NS``): REGISTER, IDENTIFY, LOGOUT,
GHOST, DROP, SET PASSWORD, INFO, CERT ADD/DEL/LIST and HELP. Every answer
is a NOTICE from NickServ. Passwords are checked against the account's
Argon2id hash, off the event loop (``passwords``), and never logged.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import transitions
from ..accounts import CERTFP, Account, password_problem
from ..core import ChatCore
from ..model import Client
from ..names import casefold
from ..servertime import format_time
from ..transitions import accounts
from ..transitions.accounts import NICKSERV
from .passwords import check_password, hash_password
from .register import registration_problem

Handler = Callable[[ChatCore, Client, list[str]], None]

HELP = {
    "REGISTER": "REGISTER <password> [email]: register your current nick as an account",
    "IDENTIFY": "IDENTIFY [account] <password>: log in",
    "LOGOUT": "LOGOUT: log out",
    "GHOST": "GHOST <nick> [password]: disconnect someone using your nick",
    "DROP": "DROP <password>: delete your account, for good",
    "SET": "SET PASSWORD <new password>: change your password",
    "INFO": "INFO [account]: when an account was registered, and more for your own",
    "CERT": "CERT ADD [fingerprint] | DEL <fingerprint> | LIST: TLS certificates that log you in",
    "SADROP": "SADROP <account>: IRC operators: delete an account",
    "SASET": "SASET <account> PASSWORD <new password>: IRC operators: reset a password",
}


def tell(core: ChatCore, client: Client, text: str) -> None:
    accounts.service_notice(core, client, NICKSERV, text)


def handle(core: ChatCore, client: Client, words: list[str]) -> None:
    """One message to NickServ, split into words."""
    if not core.config.accounts.enabled:
        tell(core, client, "Accounts are disabled on this network")
        return
    command = words[0].upper() if words else "HELP"
    handler = _HANDLERS.get(command)
    if handler is None:
        tell(core, client, f"Unknown command {command}. /msg NickServ HELP lists them")
        return
    handler(core, client, words[1:])


def _help(core: ChatCore, client: Client, args: list[str]) -> None:
    topic = args[0].upper() if args else ""
    if topic in HELP:
        tell(core, client, HELP[topic])
        return
    tell(core, client, "NickServ keeps accounts and their nicks. Commands:")
    for line in HELP.values():
        tell(core, client, line)


def _register(core: ChatCore, client: Client, args: list[str]) -> None:
    if not args:
        tell(core, client, "Syntax: " + HELP["REGISTER"])
        return
    password, email = args[0], (args[1] if len(args) > 1 else "*")
    problem = registration_problem(core, client, client.nick, email, password)
    if problem is not None:
        tell(core, client, problem[1])
        return
    name = client.nick

    def hashed(creds: dict[str, object]) -> None:
        # Asked again: the name may have been taken while the password was hashed.
        again = registration_problem(core, client, name, email, password)
        if again is not None:
            tell(core, client, again[1])
            return
        account = accounts.register_account(core, name, creds, None if email == "*" else email)
        tell(core, client, f"Account {account.name} registered; you are logged in")
        accounts.login(core, client, account)

    hash_password(core, client, password, hashed)


def _identify(core: ChatCore, client: Client, args: list[str]) -> None:
    if not args:
        tell(core, client, "Syntax: " + HELP["IDENTIFY"])
        return
    name, password = (args[0], args[1]) if len(args) > 1 else (client.nick, args[0])
    if client.account is not None:
        tell(core, client, f"You are already logged in as {client.account}")
        return
    account = core.accounts.get(name)

    def checked(account: Account | None) -> None:
        if account is None:
            tell(core, client, "Invalid account or password")
            accounts.login_failed(core, client)
            return
        accounts.login(core, client, account)
        tell(core, client, f"You are now logged in as {account.name}")

    if account is None:
        checked(None)
    else:
        check_password(core, client, account, password, checked)


def _logout(core: ChatCore, client: Client, args: list[str]) -> None:
    if client.account is None:
        tell(core, client, "You are not logged in")
        return
    accounts.logout(core, client)
    tell(core, client, "You are now logged out")


def _ghost(core: ChatCore, client: Client, args: list[str]) -> None:
    if not args:
        tell(core, client, "Syntax: " + HELP["GHOST"])
        return
    nick = args[0]
    holder = core.nicks.get(casefold(nick))
    if holder is None or holder is client:
        tell(core, client, f"{nick} is not online")
        return
    owner = core.accounts.get(nick)
    mine = client.account is not None and (
        (owner is not None and casefold(client.account) == owner.folded)
        or (holder.account is not None and casefold(holder.account) == casefold(client.account))
    )
    if mine:
        _ghost_now(core, client, nick)
    elif owner is not None and len(args) > 1:

        def checked(account: Account | None) -> None:
            if account is None:
                tell(core, client, f"You may not ghost {nick}: it is not yours")
                accounts.login_failed(core, client)
            else:
                _ghost_now(core, client, nick)

        check_password(core, client, owner, args[1], checked)
    else:
        tell(core, client, f"You may not ghost {nick}: it is not yours")
        if len(args) > 1:  # a password for a nick nobody registered: still a wrong one
            accounts.login_failed(core, client)


def _ghost_now(core: ChatCore, client: Client, nick: str) -> None:
    holder = core.nicks.get(casefold(nick))
    if holder is None or holder is client:  # gone while the password was checked
        tell(core, client, f"{nick} is not online")
        return
    transitions.kill(core, holder, f"GHOST command used by {client.nick}", by_uid=NICKSERV)
    tell(core, client, f"{nick} has been ghosted")


def _drop(core: ChatCore, client: Client, args: list[str]) -> None:
    account = _own_account(core, client)
    if account is None:
        return
    if not args:
        tell(core, client, "Syntax: DROP <password> (your account's password, to confirm)")
        return

    def checked(account: Account | None) -> None:
        if account is None:
            tell(core, client, "Syntax: DROP <password> (your account's password, to confirm)")
            accounts.login_failed(core, client)
            return
        accounts.drop(core, account)
        tell(core, client, f"Account {account.name} has been dropped")

    check_password(core, client, account, args[0], checked)


def _set(core: ChatCore, client: Client, args: list[str]) -> None:
    account = _own_account(core, client)
    if account is None:
        return
    if len(args) < 2 or args[0].upper() != "PASSWORD":
        tell(core, client, "Syntax: " + HELP["SET"])
        return
    if (why := password_problem(args[1])) is not None:
        tell(core, client, why)
        return
    _set_password(core, client, account, args[1], "Your password has been changed")


def _info(core: ChatCore, client: Client, args: list[str]) -> None:
    name = args[0] if args else (client.account or client.nick)
    account = core.accounts.get(name)
    if account is None:
        tell(core, client, f"{name} is not a registered account")
        return
    tell(core, client, f"Account {account.name}: registered {format_time(account.created)}")
    own = client.account is not None and casefold(client.account) == account.folded
    if own or client.oper:
        tell(core, client, f"E-mail: {account.email or '(none)'}")
        tell(core, client, f"Certificates: {len(account.certfps)}")
    online = [
        u.nick for u in core.users.values() if u.account and casefold(u.account) == account.folded
    ]
    tell(core, client, f"Logged in now: {', '.join(sorted(online)) or 'nobody'}")


def _cert(core: ChatCore, client: Client, args: list[str]) -> None:
    account = _own_account(core, client)
    if account is None:
        return
    sub = args[0].upper() if args else "LIST"
    if sub == "LIST":
        for listed in account.certfps:
            tell(core, client, listed)
        tell(core, client, f"{len(account.certfps)} certificate(s) log in to {account.name}")
        return
    given = args[1].lower().replace(":", "") if len(args) > 1 else None
    if sub == "ADD":
        new = given or client.certfp
        if new is None or not CERTFP.match(new):
            tell(
                core,
                client,
                "Give a SHA-256 fingerprint (64 hex digits), or connect with a certificate",
            )
            return
        if new in account.certfps:
            tell(core, client, "That certificate is already on your account")
            return
        if len(account.certfps) >= core.config.accounts.max_certfps:
            tell(core, client, f"Your account already has {len(account.certfps)} certificates")
            return
        if any(new in other.certfps for other in core.accounts.effective()):
            tell(core, client, "That certificate belongs to another account")
            return
        certfps = (*account.certfps, new)
    elif sub == "DEL" and given is not None:
        if given not in account.certfps:
            tell(core, client, "That certificate is not on your account")
            return
        certfps = tuple(c for c in account.certfps if c != given)
    else:
        tell(core, client, "Syntax: " + HELP["CERT"])
        return
    accounts.save(
        core, account.model_copy(update=accounts.new_version(core, account, certfps=certfps))
    )
    tell(core, client, f"Certificate {'added' if sub == 'ADD' else 'removed'}")


def _sadrop(core: ChatCore, client: Client, args: list[str]) -> None:
    account = _operated_account(core, client, args, "SADROP")
    if account is not None:
        accounts.drop(core, account)
        tell(core, client, f"Account {account.name} has been dropped")


def _saset(core: ChatCore, client: Client, args: list[str]) -> None:
    account = _operated_account(core, client, args, "SASET")
    if account is None:
        return
    if len(args) < 3 or args[1].upper() != "PASSWORD":
        tell(core, client, "Syntax: " + HELP["SASET"])
        return
    if (why := password_problem(args[2])) is not None:
        tell(core, client, why)
        return
    done = f"The password of {account.name} has been changed"
    _set_password(core, client, account, args[2], done)


def _operated_account(
    core: ChatCore, client: Client, args: list[str], command: str
) -> Account | None:
    """The account an IRC operator's command names; says why not when there is none."""
    if not client.oper:
        tell(core, client, f"{command} is for IRC operators")
        return None
    if not args:
        tell(core, client, "Syntax: " + HELP[command])
        return None
    account = core.accounts.get(args[0])
    if account is None:
        tell(core, client, f"{args[0]} is not a registered account")
    return account


def _set_password(
    core: ChatCore, client: Client, account: Account, password: str, done: str
) -> None:
    """A new version of ``account`` with ``password`` (hash and SCRAM keys), network-wide."""

    def hashed(creds: dict[str, object]) -> None:
        now = core.accounts.get(account.name)  # as it is once hashed: dropped, or made anew
        if now is None or now.created != account.created or now.origin != account.origin:
            tell(core, client, f"{account.name} is not a registered account")
            return
        accounts.save(core, now.model_copy(update=accounts.new_version(core, now, **creds)))
        tell(core, client, done)

    hash_password(core, client, password, hashed)


def _own_account(core: ChatCore, client: Client) -> Account | None:
    """The account ``client`` is logged in to; tells it to log in first when none."""
    account = core.accounts.get(client.account) if client.account else None
    if account is None:
        tell(core, client, "You are not logged in")
    return account


_HANDLERS: dict[str, Handler] = {
    "HELP": _help,
    "REGISTER": _register,
    "IDENTIFY": _identify,
    "LOGIN": _identify,
    "LOGOUT": _logout,
    "GHOST": _ghost,
    "DROP": _drop,
    "SET": _set,
    "INFO": _info,
    "CERT": _cert,
    "SADROP": _sadrop,
    "SASET": _saset,
}
