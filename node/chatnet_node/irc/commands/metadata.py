"""METADATA (IRCv3 ``draft/metadata-2``): GET, LIST, SET, CLEAR, SUB, UNSUB, SUBS, SYNC.

``METADATA <target> <subcommand> [...]``, the target a nick, a channel or
``*`` (yourself). Anyone may read; a user sets keys on itself, a channel
operator on its channel (IRC operators on anyone). Replies are the spec's
numerics (761 RPL_KEYVALUE, 766, 768, 770-772) and standard replies; GET,
LIST, CLEAR and SYNC answer in a ``metadata`` batch.
"""

from __future__ import annotations

from collections.abc import Iterator

from .. import metadata, transitions
from .. import numerics as rpl
from ..core import ChatCore, Command
from ..message import Message
from ..model import Channel, Client
from ..names import casefold, is_channel_name


def metadata_(core: ChatCore, client: Client, msg: Message) -> None:
    raw_target, sub = msg.params[0], msg.params[1].upper()
    handler = SUBCOMMANDS.get(sub)
    if handler is None:
        core.fail(client, "METADATA", "INVALID_SUBCOMMAND", msg.params[1], "invalid subcommand")
        return
    if sub in ("SUB", "UNSUB", "SUBS"):
        handler(core, client, client, msg.params[2:])
        return
    target = _target(core, client, raw_target)
    if target is None:
        core.fail(client, "METADATA", "INVALID_TARGET", raw_target, "invalid metadata target")
        return
    handler(core, client, target, msg.params[2:])


def _target(core: ChatCore, client: Client, name: str) -> Client | Channel | None:
    if name == "*":
        return client
    if is_channel_name(name):
        channel = core.channels.get(casefold(name))
        if channel is None or ("s" in channel.flags and client not in channel.members):
            return None
        return channel
    return core.nicks.get(casefold(name))


def _name(target: Client | Channel) -> str:
    return target.name if isinstance(target, Channel) else target.nick


def _keys(target: Client | Channel) -> dict[str, str]:
    if isinstance(target, Channel):
        return target.metadata
    return target.metadata or {}


def _may_set(client: Client, target: Client | Channel) -> bool:
    if client.oper is not None:
        return True
    if isinstance(target, Channel):
        return target.is_op(client)
    return target is client


def _key_value(
    core: ChatCore, client: Client, target: Client | Channel, key: str, value: str | None
) -> Message:
    """761 RPL_KEYVALUE: a key's value (none: it is not set any more)."""
    params = [_name(target), key, metadata.VISIBILITY] + ([value] if value is not None else [])
    return _numeric(core, client, rpl.RPL_KEYVALUE, *params)


def _numeric(core: ChatCore, client: Client, numeric: str, *params: str) -> Message:
    """A numeric for ``client`` to be sent in a batch (``reply`` sends at once)."""
    return Message(numeric, [client.nick, *params], core.config.name)


def get(core: ChatCore, client: Client, target: Client | Channel, keys: list[str]) -> None:
    if not keys:
        core.reply(client, rpl.ERR_NEEDMOREPARAMS, "METADATA", "Not enough parameters")
        return
    held = _keys(target)
    lines: list[Message] = []
    for raw in keys:
        key = raw.lower()
        if not metadata.valid_key(key):
            fail = ["METADATA", "INVALID_KEY", raw, "invalid key"]
            lines.append(Message("FAIL", fail, core.config.name))
        elif key in held:
            lines.append(_key_value(core, client, target, key, held[key]))
        else:
            missing = (_name(target), key, "no matching key")
            lines.append(_numeric(core, client, rpl.ERR_NOMATCHINGKEY, *missing))
    core.send_batch(client, "metadata", [], lines)


def list_(core: ChatCore, client: Client, target: Client | Channel, _: list[str]) -> None:
    lines = [
        _key_value(core, client, target, key, value) for key, value in sorted(_keys(target).items())
    ]
    core.send_batch(client, "metadata", [], lines)


def set_(core: ChatCore, client: Client, target: Client | Channel, args: list[str]) -> None:
    if not args:
        core.reply(client, rpl.ERR_NEEDMOREPARAMS, "METADATA", "Not enough parameters")
        return
    raw, value = args[0], (args[1] if len(args) > 1 else None)
    key = raw.lower()
    if not metadata.valid_key(key):
        core.fail(client, "METADATA", "INVALID_KEY", raw, "invalid key")
        return
    if not _may_set(client, target):
        core.fail(client, "METADATA", "KEY_NO_PERMISSION", _name(target), key, "permission denied")
        return
    held = _keys(target)
    if value is None and key not in held:
        core.reply(client, rpl.ERR_KEYNOTSET, _name(target), key, "key not set")
        return
    if value is not None and not metadata.valid_value(value):
        core.fail(client, "METADATA", "INVALID_VALUE", key, "value is too long")
        return
    if value is not None and key not in held and len(held) >= metadata.MAX_KEYS:
        core.fail(client, "METADATA", "LIMIT_REACHED", _name(target), "metadata limit reached")
        return
    transitions.set_metadata(core, client, target, key, value)
    core.send(client, _key_value(core, client, target, key, value))


def clear(core: ChatCore, client: Client, target: Client | Channel, _: list[str]) -> None:
    if not _may_set(client, target):
        core.fail(client, "METADATA", "KEY_NO_PERMISSION", _name(target), "*", "permission denied")
        return
    cleared = sorted(_keys(target))
    for key in cleared:
        transitions.set_metadata(core, client, target, key, None)
    lines = [_key_value(core, client, target, key, None) for key in cleared]
    core.send_batch(client, "metadata", [], lines)


def sub(core: ChatCore, client: Client, _: Client | Channel, keys: list[str]) -> None:
    if not keys:
        core.reply(client, rpl.ERR_NEEDMOREPARAMS, "METADATA", "Not enough parameters")
        return
    subs = client.metadata_subs if client.metadata_subs is not None else set()
    client.metadata_subs = subs
    done: list[str] = []
    for key in _valid_keys(core, client, keys):
        if key not in subs and len(subs) >= metadata.MAX_SUBS:
            core.fail(client, "METADATA", "TOO_MANY_SUBS", key, "too many subscriptions")
            break
        subs.add(key)
        if key not in done:
            done.append(key)
    if done:
        core.reply(client, rpl.RPL_METADATASUBOK, " ".join(done))


def unsub(core: ChatCore, client: Client, _: Client | Channel, keys: list[str]) -> None:
    if not keys:
        core.reply(client, rpl.ERR_NEEDMOREPARAMS, "METADATA", "Not enough parameters")
        return
    done: list[str] = []
    for key in _valid_keys(core, client, keys):
        if client.metadata_subs is not None:
            client.metadata_subs.discard(key)
        done.append(key)
    if done:
        core.reply(client, rpl.RPL_METADATAUNSUBOK, " ".join(done))


def _valid_keys(core: ChatCore, client: Client, keys: list[str]) -> Iterator[str]:
    """The keys, folded, in order; each invalid one is refused (FAIL) and left out."""
    for raw in keys:
        key = raw.lower()
        if metadata.valid_key(key):
            yield key
        else:
            core.fail(client, "METADATA", "INVALID_KEY", raw, "invalid key")


def subs(core: ChatCore, client: Client, _: Client | Channel, __: list[str]) -> None:
    if client.metadata_subs:
        core.reply(client, rpl.RPL_METADATASUBS, " ".join(sorted(client.metadata_subs)))


def sync(core: ChatCore, client: Client, target: Client | Channel, _: list[str]) -> None:
    core.send_batch(client, "metadata", [], subscribed_values(core, client, target))


def subscribed_values(core: ChatCore, client: Client, target: Client | Channel) -> list[Message]:
    """METADATA lines of the keys ``client`` follows: of a user, or a channel and its members."""
    wanted = client.metadata_subs or set()
    holders: list[Client | Channel] = [target]
    if isinstance(target, Channel):
        holders += list(target.members)
    return [
        metadata.notice(core.config.name, _name(holder), key, value)
        for holder in holders
        for key, value in sorted(_keys(holder).items())
        if key in wanted
    ]


SUBCOMMANDS = {
    "GET": get,
    "LIST": list_,
    "SET": set_,
    "CLEAR": clear,
    "SUB": sub,
    "UNSUB": unsub,
    "SUBS": subs,
    "SYNC": sync,
}

COMMANDS = {
    "METADATA": Command(metadata_, 2),
}
