"""Messages between people: PRIVMSG, NOTICE, TAGMSG and AWAY.

A channel message is stamped (``time``, ``msgid``), stored in history, fanned
out to the other members and echoed to the sender when it asked for
echo-message: the echo is the sender's acknowledgement, so it waits until the
message is safe beyond this server (``Replication.acknowledge``).
"""

from __future__ import annotations

from .. import numerics as rpl
from .. import transitions
from ..core import ChatCore, Command
from ..message import Message
from ..model import Channel, Client
from ..names import casefold, is_channel_name
from ..serverinfo import AWAYLEN, MAX_TARGETS, STATUSMSG
from .lookup import refuse_no_such_nick, user_named
from .services import to_service

#: The tags a bot's messages carry: the ratified name, and the draft one older clients know.
BOT_TAGS = {"bot": "", "draft/bot": ""}


def sender_tags(client: Client, msg: Message) -> dict[str, str]:
    """Tags a message takes from its sender: client-only tags, ``bot``, ``account``.

    Client-only tags (``+name``) pass only from a client that negotiated
    message-tags; other tags it sent are the server's to set.
    """
    tags = BOT_TAGS.copy() if client.bot else {}
    if client.account is not None:
        tags["account"] = client.account
    if msg.tags and client.has("message-tags"):
        tags.update((k, v) for k, v in msg.tags.items() if k.startswith("+"))
    return tags


def refused_for_overload(core: ChatCore, client: Client, command: str, target: str) -> bool:
    """Refuse a message history cannot take now (FAIL TEMPORARILY_UNAVAILABLE); True if so.

    Refused, never accepted and then lost: the sender may send it again.
    """
    if not core.history.overloaded:
        return False
    core.fail(
        client,
        command,
        "TEMPORARILY_UNAVAILABLE",
        target,
        "History is overloaded (its database is slow or unreachable): "
        "message not sent, try again shortly",
    )
    return True


def privmsg(core: ChatCore, client: Client, msg: Message) -> None:
    relay(core, client, msg, notice=False)


def notice(core: ChatCore, client: Client, msg: Message) -> None:
    relay(core, client, msg, notice=True)


def relay(core: ChatCore, client: Client, msg: Message, notice: bool) -> None:
    """PRIVMSG and NOTICE: NOTICE never causes automatic error replies."""
    command = msg.command
    if not msg.params or not msg.params[0]:
        if not notice:
            core.reply(client, rpl.ERR_NORECIPIENT, f"No recipient given ({command})")
        return
    if len(msg.params) < 2 or not msg.params[1]:
        if not notice:
            core.reply(client, rpl.ERR_NOTEXTTOSEND, "No text to send")
        return
    text = msg.params[1]
    if refused_for_overload(core, client, command, msg.params[0]):
        return
    extra = sender_tags(client, msg)
    core.stats.messages_in += 1
    raw_targets = msg.params[0]
    # One copy per distinct target: "bob,Bob" is one person. (One target is
    # the common case: no splitting, no folding here.)
    targets = (
        list({casefold(t): t for t in raw_targets.split(",") if t}.values())
        if "," in raw_targets
        else [raw_targets]
    )
    if len(targets) > MAX_TARGETS and not notice:
        core.reply(
            client,
            rpl.ERR_TOOMANYTARGETS,
            targets[MAX_TARGETS],
            f"Too many recipients. Only {MAX_TARGETS} processed",
        )
    source = client.prefix
    for target in targets[:MAX_TARGETS]:
        tags = core.ids.stamp()  # a fresh dict: the message's own
        if extra:
            tags.update(extra)
        out = Message(command, [target, text], source, tags)
        if is_channel_name(target):
            to_channel(core, client, target, out, text, notice)
        elif is_status_target(target):
            to_status(core, client, target, out, notice)
        else:
            to_nick(core, client, target, out, text, notice)


def is_status_target(target: str) -> bool:
    """``@#chan`` or ``+#chan``: a message for the members with that status (STATUSMSG)."""
    return target[:1] in STATUSMSG and is_channel_name(target[1:])


def to_status(core: ChatCore, client: Client, target: str, out: Message, notice: bool) -> None:
    """PRIVMSG, NOTICE or TAGMSG to ``@#chan``: the operators, or ``+#chan``: the voiced too."""
    prefix, name = target[0], target[1:]
    channel = speakable_channel(core, client, name, notice)
    if channel is None:
        return
    transitions.status_message(core, client, channel, prefix, out)
    if client.has("echo-message"):
        core.send(client, out)


def speakable_channel(core: ChatCore, client: Client, name: str, notice: bool) -> Channel | None:
    """The channel ``name`` if ``client`` may send to it; else the reason (never to a NOTICE)."""
    channel = core.channels.get(casefold(name))
    if channel is None:
        if not notice:
            core.reply(client, rpl.ERR_NOSUCHCHANNEL, name, "No such channel")
        return None
    if not channel.can_speak(client):
        if not notice:
            core.reply(client, rpl.ERR_CANNOTSENDTOCHAN, channel.name, "Cannot send to channel")
        return None
    return channel


def to_channel(
    core: ChatCore, client: Client, target: str, out: Message, text: str, notice: bool
) -> None:
    channel = speakable_channel(core, client, target, notice)
    if channel is None:
        return
    transitions.channel_message(core, client, channel, out, text)
    core.replication.acknowledge(client, out)


def to_nick(
    core: ChatCore, client: Client, target: str, out: Message, text: str, notice: bool
) -> None:
    recipient = core.nicks.get(casefold(target))
    if recipient is None:
        if not notice and not to_service(core, client, target, text):
            refuse_no_such_nick(core, client, target)
        return
    transitions.private_message(core, client, recipient, out)
    if not notice and recipient.away is not None:
        core.reply(client, rpl.RPL_AWAY, recipient.nick, recipient.away)
    # Acknowledged like a channel message: once a second server (or the
    # shared store) holds it, so the recipient finds it after any one loss.
    core.replication.acknowledge(client, out)


def tagmsg(core: ChatCore, client: Client, msg: Message) -> None:
    """TAGMSG carries only client tags (typing notifications, reactions)."""
    extra = sender_tags(client, msg)
    for target in msg.params[0].split(",")[:MAX_TARGETS]:
        out = Message("TAGMSG", [target], client.prefix, {**core.stamp(), **extra})
        if is_channel_name(target):
            channel = core.channels.get(casefold(target))
            if channel is None or not channel.can_speak(client):
                continue
            transitions.channel_message(core, client, channel, out, "")
        elif is_status_target(target):
            to_status(core, client, target, out, notice=True)
            continue  # to_status echoes
        else:
            recipient = user_named(core, client, target)
            if recipient is None:
                continue
            transitions.private_message(core, client, recipient, out)
        if client.has("echo-message"):
            core.send(client, out)


def away(core: ChatCore, client: Client, msg: Message) -> None:
    text = msg.param(0)[:AWAYLEN]
    if text:
        core.reply(client, rpl.RPL_NOWAWAY, "You have been marked as being away")
    else:
        core.reply(client, rpl.RPL_UNAWAY, "You are no longer marked as being away")
    transitions.away(core, client, text or None)


COMMANDS = {
    "PRIVMSG": Command(privmsg, 0),
    "NOTICE": Command(notice, 0),
    "TAGMSG": Command(tagmsg, 1),
    "AWAY": Command(away, 0),
}
