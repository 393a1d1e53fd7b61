"""Connection registration: PASS, NICK, USER, CAP, PING, PONG, QUIT, SETNAME.

Registration completes once NICK and USER are in, the password (if the server
has one) matched and capability negotiation (CAP LS/REQ ... CAP END) is over.
"""

from __future__ import annotations

import hashlib
import hmac

from .. import metadata, multiline, transitions
from .. import numerics as rpl
from ..core import ChatCore, Command
from ..klines import ban_for
from ..message import Message
from ..model import Client
from ..names import casefold, is_valid_nick
from ..serverinfo import CHANNEL_MODES, CHANNEL_MODES_WITH_PARAM, USER_MODES, VERSION
from ..transitions import accounts
from . import register, sasl
from .queries import send_isupport, send_lusers, send_motd
from .services import is_service

# Capabilities this server offers, with their CAP LS 302 values.
CAPABILITIES: dict[str, str] = {
    "away-notify": "",
    "batch": "",
    "cap-notify": "",
    "chghost": "",
    "chathistory": "",
    "draft/channel-rename": "",
    "draft/chathistory": "",
    "draft/extended-monitor": "",
    "draft/message-redaction": "",
    "draft/metadata-2": metadata.CAP_VALUE,
    "draft/multiline": multiline.CAP_VALUE,
    "draft/read-marker": "",
    "echo-message": "",
    "extended-join": "",
    "extended-monitor": "",
    "labeled-response": "",
    "message-tags": "",
    "multi-prefix": "",
    "server-time": "",
    "setname": "",
    "userhost-in-names": "",
}
#: Offered when accounts are on (``accounts.enabled``), with their values.
ACCOUNT_CAPABILITIES = ("account-notify", "account-tag", "draft/account-registration", "sasl")
REALNAME_MAX = 200


def offered(core: ChatCore) -> dict[str, str]:
    """The capabilities this server offers now, with their values."""
    if not core.config.accounts.enabled:
        return CAPABILITIES
    return dict(
        sorted(
            {
                **CAPABILITIES,
                "account-notify": "",
                "account-tag": "",
                "draft/account-registration": register.cap_value(core),
                "sasl": sasl.CAP_VALUE,
            }.items()
        )
    )


def password_matches(expected: str, given: str) -> bool:
    """Compare a password in constant time; ``sha256:HEX`` entries are hashed first."""
    if expected.startswith("sha256:"):
        digest = hashlib.sha256(given.encode()).hexdigest()
        return hmac.compare_digest(expected[7:].lower(), digest)
    return hmac.compare_digest(expected.encode(), given.encode())


def pass_(core: ChatCore, client: Client, msg: Message) -> None:
    if client.registered:
        core.reply(client, rpl.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    expected = core.config.password
    client.password_ok = expected is None or password_matches(expected, msg.params[0])


def nick(core: ChatCore, client: Client, msg: Message) -> None:
    new = msg.params[0] if msg.params else ""
    if not new:
        core.reply(client, rpl.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    if not is_valid_nick(new):
        core.reply(client, rpl.ERR_ERRONEUSNICKNAME, new, "Erroneous nickname")
        return
    if is_service(new):
        core.reply(client, rpl.ERR_ERRONEUSNICKNAME, new, "Reserved for a service")
        return
    folded = casefold(new)
    holder = core.nicks.get(folded)
    if holder is not None and holder is not client:
        core.reply(client, rpl.ERR_NICKNAMEINUSE, new, "Nickname is already in use")
        return
    if new == client.nick:
        return
    if not client.registered:
        client.nick = new
        try_register(core, client)
        return
    if not core.afford(client, "nick", new):
        return
    core.charge(client, "nick", 1)
    transitions.nick(core, client, new, core.clock())
    accounts.claim_nick(core, client)


def user(core: ChatCore, client: Client, msg: Message) -> None:
    if client.registered:
        core.reply(client, rpl.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    if not msg.params[0] or not msg.params[3]:
        core.reply(client, rpl.ERR_NEEDMOREPARAMS, "USER", "Not enough parameters")
        return
    username = "".join(c for c in msg.params[0] if c.isalnum() or c in "-_.")[:10]
    client.user = "~" + (username or "user")
    client.realname = msg.params[3][:REALNAME_MAX]
    try_register(core, client)


def try_register(core: ChatCore, client: Client) -> None:
    """Finish registration once everything it needs is in."""
    if client.registered or client.cap_negotiating or client.nick == "*" or not client.user:
        return
    if not client.password_ok:
        core.reply(client, rpl.ERR_PASSWDMISMATCH, "Password incorrect")
        core.quit(client, "Bad password")
        return
    folded = casefold(client.nick)
    if folded in core.nicks:
        core.reply(client, rpl.ERR_NICKNAMEINUSE, client.nick, "Nickname is already in use")
        return
    ban = ban_for(core.klines.effective(), client, core.clock())
    if ban is not None:
        reason = ban.reason or "banned from this network"
        core.reply(client, rpl.ERR_YOUREBANNEDCREEP, f"You are banned from this network: {reason}")
        core.quit(client, f"K-Lined: {reason}")
        return
    transitions.register(core, client)
    config = core.config
    core.reply(
        client,
        rpl.RPL_WELCOME,
        f"Welcome to the {config.network} IRC Network {client.prefix}",
    )
    core.reply(client, rpl.RPL_YOURHOST, f"Your host is {config.name}, running version {VERSION}")
    core.reply(client, rpl.RPL_CREATED, "This server was created at startup")
    core.reply(
        client,
        rpl.RPL_MYINFO,
        config.name,
        VERSION,
        USER_MODES,
        CHANNEL_MODES,
        CHANNEL_MODES_WITH_PARAM,
    )
    send_isupport(core, client)
    send_lusers(core, client)
    send_motd(core, client)
    accounts.claim_nick(core, client)


def cap(core: ChatCore, client: Client, msg: Message) -> None:
    sub = msg.params[0].upper()
    target = client.nick if client.registered else "*"
    name = core.config.name
    if sub == "LS":
        if not client.registered:
            client.cap_negotiating = True
        version = int(msg.params[1]) if len(msg.params) > 1 and msg.params[1].isdigit() else 0
        client.cap_version = max(client.cap_version, version)
        if client.cap_version >= 302:
            client.caps.add("cap-notify")
        listing = " ".join(
            f"{k}={v}" if v and client.cap_version >= 302 else k for k, v in offered(core).items()
        )
        core.send(client, Message("CAP", [target, "LS", listing], name))
    elif sub == "LIST":
        core.send(client, Message("CAP", [target, "LIST", " ".join(sorted(client.caps))], name))
    elif sub == "REQ":
        if not client.registered:
            client.cap_negotiating = True
        wanted = msg.param(1).split()
        available = offered(core)
        ok = all(w.lstrip("-") in available for w in wanted) and wanted
        verdict = "ACK" if ok else "NAK"
        if ok:
            for item in wanted:
                if item.startswith("-"):
                    client.caps.discard(item[1:])
                else:
                    client.caps.add(item)
            client.update_wire_key()
            for channel in client.channels.values():
                channel.invalidate()
        core.send(client, Message("CAP", [target, verdict, msg.param(1)], name))
    elif sub == "END":
        if not client.registered:
            client.cap_negotiating = False
            try_register(core, client)
    else:
        core.reply(client, "410", sub, "Invalid CAP command")


def ping(core: ChatCore, client: Client, msg: Message) -> None:
    if not msg.params or not msg.params[0]:
        core.reply(client, rpl.ERR_NOORIGIN, "No origin specified")
        return
    core.send(client, Message("PONG", [core.config.name, msg.params[0]], core.config.name))


def pong(core: ChatCore, client: Client, msg: Message) -> None:
    client.ping_pending = False


def quit_(core: ChatCore, client: Client, msg: Message) -> None:
    reason = msg.param(0)
    core.quit(client, f"Quit: {reason}" if reason else "Quit")


def setname(core: ChatCore, client: Client, msg: Message) -> None:
    realname = msg.params[0]
    if not realname or len(realname) > REALNAME_MAX:
        core.fail(client, "SETNAME", "INVALID_REALNAME", "Realname is not valid")
        return
    transitions.setname(core, client, realname)


COMMANDS = {
    "PASS": Command(pass_, 1, before_registration=True),
    "NICK": Command(nick, 0, before_registration=True),
    "USER": Command(user, 4, before_registration=True),
    "CAP": Command(cap, 1, before_registration=True, counts_as_activity=False),
    "PING": Command(ping, 0, before_registration=True, counts_as_activity=False),
    "PONG": Command(pong, 0, before_registration=True, counts_as_activity=False),
    "QUIT": Command(quit_, 0, before_registration=True),
    "SETNAME": Command(setname, 1),
}
