"""IRC operator commands: OPER and KILL. Operators come from the configuration."""

from __future__ import annotations

from .. import numerics as rpl
from .. import transitions
from ..core import ChatCore, Command
from ..message import Message
from ..model import Client
from ..names import mask_matches
from .lookup import user_named
from .registration import password_matches


def oper(core: ChatCore, client: Client, msg: Message) -> None:
    name, password = msg.params[0], msg.params[1]
    entry = next((o for o in core.config.operators if o.name == name), None)
    if entry is None or entry.password is None or not password_matches(entry.password, password):
        core.reply(client, rpl.ERR_PASSWDMISMATCH, "Password incorrect")
        return
    hostmask = f"{client.user}@{client.address}"
    if not any(mask_matches(mask, hostmask) or mask == "*" for mask in entry.hosts):
        core.reply(client, rpl.ERR_NOOPERHOST, "No O-lines for your host")
        return
    transitions.user_modes(
        core, client, oper=entry.name, invisible=client.invisible, bot=client.bot
    )
    core.reply(client, rpl.RPL_YOUREOPER, "You are now an IRC operator")
    core.send(client, Message("MODE", [client.nick, "+o"], client.prefix))


def kill(core: ChatCore, client: Client, msg: Message) -> None:
    if not client.oper:
        core.reply(client, rpl.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
        return
    target = user_named(core, client, msg.params[0])
    if target is None:
        return
    reason = f"Killed ({client.nick} ({msg.param(1) or 'No reason given'}))"
    transitions.kill(core, target, reason, by_uid=client.uid)


def wallops(core: ChatCore, client: Client, msg: Message) -> None:
    """WALLOPS :text, from an operator to every user with ``+w`` on the network."""
    if not client.oper:
        core.reply(client, rpl.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
        return
    if not msg.params[0]:
        core.reply(client, rpl.ERR_NEEDMOREPARAMS, "WALLOPS", "Not enough parameters")
        return
    transitions.wallops(core, client.prefix, msg.params[0])


def connect(core: ChatCore, client: Client, msg: Message) -> None:
    """CONNECT <server>: bring up a configured portal now."""
    if not client.oper:
        core.reply(client, rpl.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
        return
    name = msg.params[0]
    why = core.network.connect(name) if core.network else "links are not configured here"
    if why is not None:
        core.reply(client, rpl.ERR_NOSUCHSERVER, name, why)
        return
    core.notice(client, f"*** Connecting to {name}")


def squit(core: ChatCore, client: Client, msg: Message) -> None:
    """SQUIT <server> [reason]: take a link down (it stays down until CONNECT)."""
    if not client.oper:
        core.reply(client, rpl.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
        return
    name = msg.params[0]
    reason = msg.param(1) or f"by {client.nick}"
    why = core.network.squit(name, reason) if core.network else "links are not configured here"
    if why is not None:
        core.reply(client, rpl.ERR_NOSUCHSERVER, name, why)
        return
    core.notice(client, f"*** Link to {name} closed ({reason})")


COMMANDS = {
    "CONNECT": Command(connect, 1),
    "SQUIT": Command(squit, 1),
    "OPER": Command(oper, 2),
    "KILL": Command(kill, 1),
    "WALLOPS": Command(wallops, 1),
}
