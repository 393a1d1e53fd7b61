"""Messages from other servers: relayed, replayed by a catch-up, redacted."""

from __future__ import annotations

from ...history.contract import dm_target
from .. import events as ev
from .. import transitions as change
from ..message import Message
from ..model import Channel, Client
from ..names import casefold, is_channel_name
from ..serverinfo import STATUSMSG
from ..servertime import format_time
from ..state import ChatState
from ..transitions.accounts import SERVICES
from .common import SidOf, guest_nick, log, tags_of


def on_message(state: ChatState, event: ev.ChatMessage, sid_of: SidOf) -> None:
    sender = state.users.get(event.uid)
    if sender is None and not event.source:
        return
    # The sender may not be known here yet (its server's burst is still on
    # the way after a re-homing): its source travels with the message.
    prefix = sender.prefix if sender is not None else unknown_source(state, event)
    params = [event.target] if event.command == "TAGMSG" else [event.target, event.text]
    out = Message(event.command, params, prefix, dict(event.tags))
    status, name = event.target[:1], event.target[1:]
    if status in STATUSMSG and is_channel_name(name):
        channel = state.channels.get(casefold(name))
        if channel is not None:
            change.status_message(state, sender, channel, status, out)
        return
    if is_channel_name(event.target):
        channel = state.channels.get(casefold(event.target))
        if channel is not None:
            change.channel_message(state, sender, channel, out, event.text, origin=event.o)
        elif event.command != "TAGMSG":
            # Stored even where nobody has joined: every server keeps every
            # channel's history (and a shared store was written by the origin).
            replication = state.replication
            replication.record(
                casefold(event.target),
                out,
                event.target,
                event.text,
                event.o,
                store=not replication.shared_store,
            )
        return
    recipient = state.users.get(event.target)
    if recipient is not None:
        # Stored here wherever the recipient is; delivered if it is here.
        change.private_message(state, sender, recipient, out, origin=event.o)


def unknown_source(state: ChatState, event: ev.ChatMessage) -> str:
    """The source of a message whose sender is not known here yet.

    As it names itself, unless that nick is held here by a user of another
    server, or is a service's: then ``Guest<uid>`` (what a collision may
    give it), so that no server shows its lines as another server's user,
    or as NickServ.
    """
    source = event.source
    cut = min((i for i in (source.find("!"), source.find("@")) if i >= 0), default=len(source))
    nick = source[:cut]
    folded = casefold(nick)
    holder = state.nicks.get(folded)
    if holder is not None and (holder.server or state.name) != event.o:
        why = f"{nick} is a user of {holder.server or state.name}"
    elif folded in _SERVICE_NICKS:
        why = f"{nick} is a service"
    elif not nick:
        why = "it names no nick"
    else:
        return source
    log.info(
        "message %s of %s: its sender %s is not known here, and %s",
        event.tags.get("msgid", event.id),
        event.o,
        event.uid,
        why,
    )
    return f"{guest_nick(event.uid)}{source[cut:]}"


_SERVICE_NICKS = frozenset(casefold(name) for name in SERVICES)


def replay(
    state: ChatState,
    *,
    origin: str,
    msgid: str,
    ts: float,
    source: str,
    command: str,
    target: str,
    text: str,
    tags: dict[str, str],
) -> bool:
    """A channel or private message from a catch-up: store it and deliver it if new here.

    Its sender may have left with its server, so it comes with its source
    (``nick!user@host``), not a uid. A private message's ``target`` is the
    recipient's nick when it was sent: a user here under that nick gets it.
    Returns False when it was already known.
    """
    stamped = {**tags, "time": format_time(ts), "msgid": msgid}
    if not is_channel_name(target):
        folded = casefold(target)
        key = dm_target(casefold(source.split("!", 1)[0]), folded)
        out = Message(command, [target, text], source, stamped)
        if not state.replication.record(key, out, target, text, origin=origin):
            return False
        recipient = state.nicks.get(folded)
        if recipient is not None and not recipient.remote:
            change.deliver_message(state, out, [recipient])
        return True
    key = casefold(target)
    channel = state.channels.get(key)
    display = channel.name if channel is not None else target
    out = Message(command, [display, text], source, stamped)
    if not state.replication.record(key, out, display, text, origin=origin):
        return False
    if channel is not None:
        change.deliver_message(state, out, channel.members)
    return True


def on_redact(state: ChatState, event: ev.MessageRedact, sid_of: SidOf) -> None:
    redactor = state.users.get(event.uid)
    if redactor is None:
        return
    where: Channel | Client | None
    if is_channel_name(event.target):
        where = state.channels.get(casefold(event.target))
        key = casefold(event.target)
    else:
        where = state.users.get(event.target)
        key = dm_target(casefold(redactor.nick), casefold(where.nick)) if where else ""
    tags = tags_of(event.msgid, event.time)
    if where is None:
        # Nobody here is in that conversation, but its history may be here.
        if key:
            state.replication.forget(key, event.redacted, store=not state.replication.shared_store)
        return
    change.redact(
        state, redactor, where, key, event.redacted, event.reason, tags=tags, origin=event.o
    )
