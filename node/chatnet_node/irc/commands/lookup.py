"""The channel or user a command names, and the one refusal when it is not there.

Every command answers an unknown channel, a channel the client has not
joined, a missing channel-operator status and an unknown nick with the same
numeric and text; they are said here once. Each function returns what it
found, or ``None`` (``False``) after telling the client why not.
"""

from __future__ import annotations

from .. import numerics as rpl
from ..core import ChatCore
from ..model import Channel, Client
from ..names import casefold


def channel_named(core: ChatCore, client: Client, name: str) -> Channel | None:
    """The channel called ``name``; ERR_NOSUCHCHANNEL when there is none."""
    channel = core.channels.get(casefold(name))
    if channel is None:
        core.reply(client, rpl.ERR_NOSUCHCHANNEL, name, "No such channel")
    return channel


def joined_channel(core: ChatCore, client: Client, name: str) -> Channel | None:
    """The channel called ``name`` if ``client`` is on it; else the reason it is not."""
    channel = channel_named(core, client, name)
    if channel is not None and client not in channel.members:
        refuse_not_on(core, client, channel)
        return None
    return channel


def refuse_not_on(core: ChatCore, client: Client, channel: Channel) -> None:
    core.reply(client, rpl.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")


def is_operator(core: ChatCore, client: Client, channel: Channel) -> bool:
    """Is ``client`` an operator of ``channel``? ERR_CHANOPRIVSNEEDED when not."""
    if channel.is_op(client):
        return True
    core.reply(client, rpl.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
    return False


def refuse_no_such_nick(core: ChatCore, client: Client, nick: str) -> None:
    core.reply(client, rpl.ERR_NOSUCHNICK, nick, "No such nick/channel")


def user_named(core: ChatCore, client: Client, nick: str) -> Client | None:
    """The user called ``nick`` anywhere on the network; ERR_NOSUCHNICK when none."""
    user = core.nicks.get(casefold(nick))
    if user is None:
        refuse_no_such_nick(core, client, nick)
    return user
