"""Transitions of messages: PRIVMSG, NOTICE and TAGMSG to a channel or a user.

See the package docstring for what a transition is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, cast

from ...history.contract import dm_target
from .. import multiline
from ..events import ChatMessage, MessageRedact
from ..message import Message
from ..model import Channel, Client
from ..names import casefold
from ..state import ChatState

MessageCommand = Literal["PRIVMSG", "NOTICE", "TAGMSG"]
#: The capability of clients that understand REDACT (no fallback is sent to the others).
REDACTION_CAP = "draft/message-redaction"


def channel_message(
    state: ChatState,
    sender: Client | None,
    channel: Channel,
    out: Message,
    text: str,
    origin: str | None = None,
) -> bool:
    """A PRIVMSG, NOTICE or TAGMSG to ``channel``, from a member or an outsider.

    PRIVMSG and NOTICE are stored (history and the recent window) and shown
    to the other members once: False when the message was known already (a
    catch-up brought it first). TAGMSG goes to members with message-tags
    only, and is not stored. ``origin`` is the sender's server (None: this
    one); ``sender`` is None when that server's burst has not arrived yet
    (``out`` carries the source).
    """
    out.params[0] = channel.name
    if out.command == "TAGMSG":
        if sender is not None:
            _emit_message(state, sender, channel.name, out, "")
        receivers = [m for m in channel.members if m.has("message-tags") and m is not sender]
        state.deliver(out, receivers)
        return True
    replication = state.replication
    store = origin is None or not replication.shared_store  # the origin wrote a shared store
    if not replication.record(casefold(channel.name), out, channel.name, text, origin, store):
        return False
    if sender is not None:
        if multiline.is_multiline(text):
            deliver_message(state, out, [m for m in channel.members if m is not sender])
        else:
            state.output.deliver_to_channel(out, channel, sender)
        _emit_message(state, sender, channel.name, out, text)
    else:
        deliver_message(state, out, channel.members)
    return True


def status_message(
    state: ChatState, sender: Client | None, channel: Channel, prefix: str, out: Message
) -> None:
    """A message to the members of ``channel`` with status ``prefix`` or higher (STATUSMSG).

    ``PRIVMSG @#chan`` reaches the channel operators, ``+#chan`` the voiced
    and the operators. It is not stored: history is for everyone who may
    read the channel, and these members are fewer.
    """
    out.params[0] = prefix + channel.name
    if sender is not None:
        text = out.params[1] if len(out.params) > 1 else ""
        _emit_message(state, sender, out.params[0], out, text)
    receivers = [
        member
        for member in channel.members
        if member is not sender
        and channel.has_status(member, prefix)
        and (out.command != "TAGMSG" or member.has("message-tags"))
    ]
    state.deliver(out, receivers)


def private_message(
    state: ChatState,
    sender: Client | None,
    recipient: Client,
    out: Message,
    origin: str | None = None,
) -> bool:
    """A PRIVMSG, NOTICE or TAGMSG to one user: stored (not TAGMSG) and delivered.

    A PRIVMSG or NOTICE is stored on every server, as a channel message is
    (history and the recent window), so the recipient finds it after the
    loss of any one server; False when it was known already (a catch-up
    brought it first). Only the recipient's server delivers it. ``origin``
    is the sender's server (None: this one); ``sender`` is None when a link
    brought the message before the sender's introduction (``out`` carries
    the source).
    """
    out.params[0] = recipient.nick
    text = out.params[1] if len(out.params) > 1 else ""
    stored = out.command != "TAGMSG"
    replication = state.replication
    if stored:
        sender_nick = (out.source or "").split("!", 1)[0]
        key = dm_target(casefold(sender_nick), casefold(recipient.nick))
        store = origin is None or not replication.shared_store  # the origin wrote a shared store
        if not replication.record(key, out, recipient.nick, text, origin, store):
            return False
    # Every server keeps a copy (unless they share one store); a TAGMSG goes
    # only to the recipient's server.
    sent_on = recipient.remote or (stored and replication.waits_for_peer)
    if origin is None and sender is not None and sent_on:
        _emit_message(state, sender, recipient.uid, out, text)
    if not recipient.remote and (stored or recipient.has("message-tags")):
        deliver_message(state, out, [recipient])
    return True


def deliver_message(state: ChatState, out: Message, receivers: Iterable[Client]) -> None:
    """Deliver a PRIVMSG or NOTICE, as lines of a multiline message when it has several."""
    if len(out.params) < 2 or not multiline.is_multiline(out.params[1]):
        state.deliver(out, receivers)
        return
    batched: list[Client] = []
    plain: list[Client] = []
    for client in receivers:
        (batched if multiline.capable(client.caps) else plain).append(client)
    if batched:
        for line in multiline.render(out, state.ids.batch_id()):
            state.deliver(line, batched)
    if plain:
        for line in multiline.render(out, None):
            state.deliver(line, plain)


def redact(
    state: ChatState,
    redactor: Client,
    where: Channel | Client,
    key: str,
    msgid: str,
    reason: str,
    *,
    tags: dict[str, str] | None = None,
    origin: str | None = None,
) -> None:
    """Take message ``msgid`` back from ``where`` (a channel, or the other side of a DM).

    It leaves history (``key`` is its history key; a shared store is its
    origin's to delete) and the recent window, and every client here that
    understands REDACT is told, the redactor included.
    """
    state.replication.forget(key, msgid, store=origin is None or not state.replication.shared_store)
    tags = tags or state.stamp()
    if isinstance(where, Channel):
        name, target, receivers = where.name, where.name, list(where.members)
    else:
        name, target, receivers = where.nick, where.uid, [redactor, where]
    state.emit(
        MessageRedact(
            uid=redactor.uid,
            target=target,
            redacted=msgid,
            reason=reason,
            msgid=tags["msgid"],
            time=tags["time"],
        )
    )
    params = [name, msgid, reason] if reason else [name, msgid]
    line = Message("REDACT", params, redactor.prefix, tags)
    state.deliver(line, [client for client in receivers if client.has(REDACTION_CAP)])


def _emit_message(state: ChatState, sender: Client, target: str, out: Message, text: str) -> None:
    assert out.command in ("PRIVMSG", "NOTICE", "TAGMSG")
    if state.network is None or state.relaying:
        return  # ``emit`` would drop it: do not build it (every message passes here)
    state.emit(
        ChatMessage(
            uid=sender.uid,
            target=target,
            command=cast(MessageCommand, out.command),
            text=text,
            tags=out.tags,
            source=sender.prefix,
        )
    )
