"""BATCH from clients: the ``draft/multiline`` batch, opened and closed.

``BATCH +ref draft/multiline <target>`` opens a batch; its lines are taken
by the core as they come (``ChatCore._batch_line``, which checks each one
against ``irc.multiline.OpenBatch``); ``BATCH -ref`` sends the whole as one
message, through the same checks and transitions as a PRIVMSG. Every broken
rule is a ``FAIL BATCH`` and the batch is dropped, nothing sent.
"""

from __future__ import annotations

from .. import multiline, transitions
from .. import numerics as rpl
from ..core import ChatCore, Command
from ..message import Message
from ..model import Client
from ..names import casefold, is_channel_name
from .messaging import refused_for_overload, sender_tags, speakable_channel


def batch(core: ChatCore, client: Client, msg: Message) -> None:
    reference = msg.params[0]
    if reference.startswith("+") and len(reference) > 1:
        open_batch(core, client, msg)
    elif reference.startswith("-") and len(reference) > 1:
        close_batch(core, client, reference[1:])
    else:
        _fail(core, client, multiline.BatchError("MULTILINE_INVALID"))


def open_batch(core: ChatCore, client: Client, msg: Message) -> None:
    if len(msg.params) < 3 or msg.params[1] != multiline.BATCH_TYPE:
        kind = msg.params[1] if len(msg.params) > 1 else ""
        core.fail(
            client, "BATCH", "UNKNOWN_TYPE", kind, "Only draft/multiline batches are accepted"
        )
        return
    if not multiline.capable(client.caps) or client.multiline is not None:
        _fail(core, client, multiline.BatchError("MULTILINE_INVALID"))
        return
    client.multiline = multiline.OpenBatch(
        ref=msg.params[0][1:],
        target=msg.params[2],
        tags=sender_tags(client, msg),
        label=client.label,
    )
    client.dropped_batch = None
    client.label = None  # the label answers the whole batch, on the echo's opening line


def close_batch(core: ChatCore, client: Client, ref: str) -> None:
    if client.dropped_batch == ref:
        client.dropped_batch = None  # its failure was told already
        return
    opened = client.multiline
    if opened is None or opened.ref != ref:
        _fail(core, client, multiline.BatchError("MULTILINE_INVALID"))
        return
    client.multiline = None
    try:
        text = opened.text()
    except multiline.BatchError as error:
        _fail(core, client, error)
        return
    core.flood.charge(client, len(opened.lines), core.clock())
    if refused_for_overload(core, client, "BATCH", opened.target):
        return
    core.stats.messages_in += 1
    target = opened.target
    out = Message(opened.command, [target, text], client.prefix, {**core.stamp(), **opened.tags})
    notice = opened.command == "NOTICE"
    echoed = client.has("echo-message")
    echo_id = core.ids.batch_id() if multiline.capable(client.caps) else None
    if echoed:
        echo = multiline.render(out, echo_id, label=opened.label)
    else:
        client.label = opened.label  # no echo: the label is acknowledged (ACK)
    if is_channel_name(target):
        channel = speakable_channel(core, client, target, notice)
        if channel is None:
            return
        transitions.channel_message(core, client, channel, out, text)
        core.replication.acknowledge(client, out, echo if echoed else None)
        return
    recipient = core.nicks.get(casefold(target))
    if recipient is None:
        if not notice:
            core.reply(client, rpl.ERR_NOSUCHNICK, target, "No such nick/channel")
        return
    transitions.private_message(core, client, recipient, out)
    if not notice and recipient.away is not None:
        core.reply(client, rpl.RPL_AWAY, recipient.nick, recipient.away)
    core.replication.acknowledge(client, out, echo if echoed else None)


def _fail(core: ChatCore, client: Client, error: multiline.BatchError) -> None:
    core.fail(client, "BATCH", error.code, *error.context, error.description)


COMMANDS = {
    "BATCH": Command(batch, 1),
}
