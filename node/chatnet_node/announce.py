"""Local changes, told to the rest of the network as link events.

Each function builds one event from core state and hands it to the link
layer; all are no-ops on a server with no links. Users are named by uid on
the wire, so a nick change in flight never misroutes anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .links import protocol as lp

if TYPE_CHECKING:
    from .channel import Channel
    from .client import Client
    from .core import ChatCore
    from .message import Message


def introduction(client: Client, event_id: str) -> lp.UserIntro:
    """A user as the network learns of it (on registration, and in bursts)."""
    return lp.UserIntro(
        o=client.server,
        id=event_id,
        uid=client.uid,
        nick=client.nick,
        user=client.user,
        host=client.host,
        realname=client.realname,
        ts=client.nick_ts,
        signon=client.connected_at,
        away=client.away,
        oper=client.oper,
        invisible=client.invisible,
        secure=client.secure,
    )


def user(core: ChatCore, client: Client) -> None:
    """A user finished registering here."""
    if core.network is not None:
        core.emit(introduction(client, core.event_id()))


def quit_(core: ChatCore, client: Client, reason: str) -> None:
    """A user of this server left (quit, killed here, dropped)."""
    if core.network is not None:
        core.emit(lp.UserQuit(o=core.name, id=core.event_id(), uid=client.uid, reason=reason))


def nick(core: ChatCore, client: Client) -> None:
    if core.network is not None:
        core.emit(
            lp.NickChange(
                o=core.name,
                id=core.event_id(),
                uid=client.uid,
                nick=client.nick,
                ts=client.nick_ts,
            )
        )


def away(core: ChatCore, client: Client) -> None:
    if core.network is not None:
        core.emit(lp.UserAway(o=core.name, id=core.event_id(), uid=client.uid, text=client.away))


def setname(core: ChatCore, client: Client) -> None:
    if core.network is not None:
        core.emit(
            lp.UserSetname(
                o=core.name, id=core.event_id(), uid=client.uid, realname=client.realname
            )
        )


def modes(core: ChatCore, client: Client) -> None:
    """Oper status or +i changed."""
    if core.network is not None:
        core.emit(
            lp.UserOper(
                o=core.name,
                id=core.event_id(),
                uid=client.uid,
                oper=client.oper,
                invisible=client.invisible,
            )
        )


def join(core: ChatCore, client: Client, channel: Channel, status: str, msg: Message) -> None:
    if core.network is not None:
        core.emit(
            lp.ChannelJoin(
                o=core.name,
                id=core.event_id(),
                uid=client.uid,
                channel=channel.name,
                cts=channel.created,
                status=status,
                msgid=msg.tags.get("msgid", ""),
                time=msg.tags.get("time", ""),
            )
        )


def part(core: ChatCore, client: Client, channel: Channel, reason: str) -> None:
    if core.network is not None:
        core.emit(
            lp.ChannelPart(
                o=core.name,
                id=core.event_id(),
                uid=client.uid,
                channel=channel.name,
                reason=reason,
            )
        )


def kick(core: ChatCore, client: Client, channel: Channel, target: Client, reason: str) -> None:
    if core.network is not None:
        core.emit(
            lp.ChannelKick(
                o=core.name,
                id=core.event_id(),
                uid=client.uid,
                channel=channel.name,
                target=target.uid,
                reason=reason,
            )
        )


def mode(
    core: ChatCore,
    client: Client,
    channel: Channel,
    applied: list[tuple[str, str, str | None]],
) -> None:
    """Channel mode changes; member modes name their target by uid."""
    if core.network is None:
        return
    changes: list[tuple[str, str, str | None]] = []
    for sign, char, arg in applied:
        member = core.nicks.get(_fold(arg)) if char in "ov" and arg is not None else None
        changes.append((sign, char, member.uid if member is not None else arg))
    core.emit(
        lp.ChannelMode(
            o=core.name,
            id=core.event_id(),
            uid=client.uid,
            channel=channel.name,
            changes=changes,
        )
    )


def topic(core: ChatCore, client: Client, channel: Channel) -> None:
    if core.network is not None:
        core.emit(
            lp.ChannelTopic(
                o=core.name,
                id=core.event_id(),
                uid=client.uid,
                channel=channel.name,
                topic=channel.topic,
                by=channel.topic_by,
                at=channel.topic_at,
            )
        )


def message(core: ChatCore, client: Client, target: str, msg: Message, text: str) -> None:
    """A PRIVMSG, NOTICE or TAGMSG: ``target`` is a channel name or a uid."""
    if core.network is None:
        return
    command = msg.command
    assert command in ("PRIVMSG", "NOTICE", "TAGMSG")
    core.emit(
        lp.ChatMessage(
            o=core.name,
            id=core.event_id(),
            uid=client.uid,
            target=target,
            command=command,
            text=text,
            tags=msg.tags,
            source=client.prefix,
        )
    )


def invite(core: ChatCore, client: Client, target: Client, channel: Channel) -> None:
    if core.network is not None:
        core.emit(
            lp.UserInvite(
                o=core.name,
                id=core.event_id(),
                uid=client.uid,
                target=target.uid,
                channel=channel.name,
            )
        )


def kill(core: ChatCore, client: Client, target: Client, reason: str) -> None:
    if core.network is not None:
        core.emit(
            lp.UserKill(
                o=core.name,
                id=core.event_id(),
                uid=client.uid,
                target=target.uid,
                reason=reason,
            )
        )


def _fold(nick: str) -> str:
    from .names import casefold

    return casefold(nick)
