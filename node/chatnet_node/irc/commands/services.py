"""Reaching the services: ``PRIVMSG NickServ``/``ChanServ``, and ``/NS``, ``/CS`` and friends.

The services are part of every server (no separate process, as with Ergo):
a message to one is answered here, and what it changes travels as records
(``transitions.accounts``). Their nicks are reserved.
"""

from __future__ import annotations

from collections.abc import Callable

from ..core import ChatCore, Command
from ..message import Message
from ..model import Client
from ..names import casefold
from . import chanserv, nickserv

_SERVICES: dict[str, Callable[[ChatCore, Client, list[str]], None]] = {
    "nickserv": nickserv.handle,
    "chanserv": chanserv.handle,
}


def is_service(nick: str) -> bool:
    """Is ``nick`` one of the services (reserved: no user may take it)?"""
    return casefold(nick) in _SERVICES


def to_service(core: ChatCore, client: Client, target: str, text: str) -> bool:
    """Hand a PRIVMSG to a service; False when ``target`` is not one."""
    handler = _SERVICES.get(casefold(target))
    if handler is None:
        return False
    handler(core, client, text.split())
    return True


def _alias(service: str) -> Callable[[ChatCore, Client, Message], None]:
    def command(core: ChatCore, client: Client, msg: Message) -> None:
        words = [word for param in msg.params for word in param.split()]
        _SERVICES[service](core, client, words)

    return command


COMMANDS = {
    "NICKSERV": Command(_alias("nickserv")),
    "NS": Command(_alias("nickserv")),
    "CHANSERV": Command(_alias("chanserv")),
    "CS": Command(_alias("chanserv")),
}
