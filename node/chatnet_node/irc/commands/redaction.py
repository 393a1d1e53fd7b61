"""REDACT (IRCv3 ``draft/message-redaction``): take a message back.

``REDACT <target> <msgid> [:reason]``. A message may be taken back by its
author and, in a channel, by the channel's operators and by IRC operators.
The message must still be in history: that is how the server knows who
wrote it and that it was sent there. The redaction reaches every client
that negotiated the capability (the others see no change) on every
server, and the message leaves history everywhere.

The author is recognised by the account the message was sent from (its
``account`` tag), so a logged-in user may take a message back from any
connection, after a nick change or a reconnect; a message sent without an
account is recognised by the ``nick!user@host`` it was sent with.
"""

from __future__ import annotations

from ...history.contract import HistoryUnavailable, StoredMessage, dm_target
from .. import transitions
from ..core import ChatCore, Command
from ..message import Message
from ..model import Channel, Client
from ..names import casefold, is_channel_name


def redact(core: ChatCore, client: Client, msg: Message) -> None:
    target, msgid, reason = msg.params[0], msg.params[1], msg.param(2)
    where = _conversation(core, client, target)
    if where is None:
        core.fail(
            client, "REDACT", "INVALID_TARGET", target, f"You cannot delete messages from {target}"
        )
        return
    if isinstance(where, Channel):
        key = casefold(where.name)
    else:
        key = dm_target(casefold(client.nick), casefold(where.nick))
    try:
        stored = core.history.find(key, msgid)
    except HistoryUnavailable:
        core.fail(
            client,
            "REDACT",
            "TEMPORARILY_UNAVAILABLE",
            target,
            "History is unavailable; try again later",
        )
        return
    if stored is None:
        core.fail(
            client,
            "REDACT",
            "UNKNOWN_MSGID",
            target,
            msgid,
            "This message does not exist or is too old",
        )
        return
    if not _may_redact(client, where, stored):
        core.fail(
            client,
            "REDACT",
            "REDACT_FORBIDDEN",
            target,
            msgid,
            "You are not authorised to delete this message",
        )
        return
    transitions.redact(core, client, where, key, msgid, reason)


def _conversation(core: ChatCore, client: Client, target: str) -> Channel | Client | None:
    """The channel the client reads, or the user it talks with, that ``target`` names."""
    if is_channel_name(target):
        channel = core.channels.get(casefold(target))
        if channel is None or (client not in channel.members and not client.oper):
            return None
        return channel
    return core.nicks.get(casefold(target))


def _may_redact(client: Client, where: Channel | Client, stored: StoredMessage) -> bool:
    """The author may; in a channel, its operators and IRC operators may too."""
    author_account = stored.tags.get("account")
    if author_account is not None:
        if client.account is not None and casefold(client.account) == casefold(author_account):
            return True
    else:
        nick, _, address = stored.source.partition("!")
        if casefold(nick) == casefold(client.nick) and address == f"{client.user}@{client.host}":
            return True
    return isinstance(where, Channel) and (where.is_op(client) or client.oper is not None)


COMMANDS = {
    "REDACT": Command(redact, 2),
}
