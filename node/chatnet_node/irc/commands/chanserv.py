"""ChanServ: channels owned by accounts, Atheme/Ergo-style.

``/msg ChanServ <command> #channel ...`` (or ``/CS``): REGISTER, ACCESS,
FLAGS, OP/DEOP/VOICE/DEVOICE, KICK, BAN/UNBAN, TOPIC, INFO, DROP and HELP.
A registered channel gives its founder and access list their status on
join, on every server, and keeps its topic, modes, key, limit and lists
when it empties or every server restarts (``transitions.owned``). Changes
ChanServ makes come from ``ChanServ!ChanServ@services.<network>``.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import transitions
from ..accounts import ChannelRecord, Mask
from ..core import ChatCore
from ..model import Channel, Client
from ..names import casefold, is_channel_name
from ..servertime import format_time
from ..transitions import accounts
from ..transitions.accounts import CHANSERV, service_prefix
from ..transitions.owned import access_status, masks

Handler = Callable[[ChatCore, Client, Channel | None, ChannelRecord, list[str]], None]

HELP = {
    "REGISTER": "REGISTER <#channel>: own a channel you are an operator of",
    "ACCESS": "ACCESS <#channel> LIST | ADD <account> <op|voice> | DEL <account>",
    "FLAGS": "FLAGS <#channel> [<account> <+o|+v|-o|-v|-*>]: the access list, Atheme-style",
    "OP": "OP|DEOP|VOICE|DEVOICE <#channel> [nick]",
    "KICK": "KICK <#channel> <nick> [reason]",
    "BAN": "BAN <#channel> <nick|mask> | UNBAN <#channel> <mask>",
    "TOPIC": "TOPIC <#channel> <text>",
    "INFO": "INFO <#channel>",
    "DROP": "DROP <#channel>: give up ownership (founder only)",
}


def tell(core: ChatCore, client: Client, text: str) -> None:
    accounts.service_notice(core, client, CHANSERV, text)


def handle(core: ChatCore, client: Client, words: list[str]) -> None:
    """One message to ChanServ, split into words."""
    if not core.config.accounts.enabled:
        tell(core, client, "Accounts are disabled on this network")
        return
    command = words[0].upper() if words else "HELP"
    if command == "HELP":
        topic = words[1].upper() if len(words) > 1 else ""
        for line in [HELP[topic]] if topic in HELP else ["ChanServ commands:", *HELP.values()]:
            tell(core, client, line)
        return
    if command == "REGISTER":
        _register(core, client, words[1:])
        return
    handler = _HANDLERS.get(command)
    if handler is None:
        tell(core, client, f"Unknown command {command}. /msg ChanServ HELP lists them")
        return
    if len(words) < 2 or not is_channel_name(words[1]):
        tell(core, client, f"Syntax: {HELP.get(command, command + ' <#channel>')}")
        return
    record = core.channel_records.get(words[1])
    if record is None:
        tell(core, client, f"{words[1]} is not registered")
        return
    handler(core, client, core.channels.get(casefold(words[1])), record, words[2:])


def _register(core: ChatCore, client: Client, args: list[str]) -> None:
    if not args or not is_channel_name(args[0]):
        tell(core, client, "Syntax: " + HELP["REGISTER"])
        return
    if client.account is None:
        tell(core, client, "Log in first (/msg NickServ IDENTIFY, or SASL)")
        return
    channel = core.channels.get(casefold(args[0]))
    if channel is None or "o" not in channel.members.get(client, ""):
        tell(core, client, f"You must be an operator of {args[0]} to register it")
        return
    if core.channel_records.get(channel.name) is not None:
        tell(core, client, f"{channel.name} is already registered")
        return
    record = ChannelRecord(
        **accounts.created_here(core, channel.name),
        founder=client.account,
        modes=tuple(sorted(channel.flags & accounts.SETTINGS_MODES)),
        key=channel.key,
        limit=channel.limit,
        topic=channel.topic,
        topic_by=channel.topic_by,
        topic_at=channel.topic_at,
        bans=masks(channel.bans),
        excepts=masks(channel.excepts),
        invex=masks(channel.invex),
    )
    accounts.save(core, record)
    tell(core, client, f"{channel.name} is registered to {client.account}")


def _may(core: ChatCore, client: Client, record: ChannelRecord, need: str) -> bool:
    """Has ``client`` access ``need`` ('F' founder, 'o', 'v') on the channel? Says no if not."""
    status = access_status(record, client) or ""
    founder = client.account is not None and casefold(client.account) == casefold(record.founder)
    ok = bool(client.oper) or founder or (need != "F" and status in ("o", need))
    if not ok:
        tell(core, client, f"You do not have access to do that on {record.name}")
    return ok


def _access(
    core: ChatCore, client: Client, channel: Channel | None, record: ChannelRecord, args: list[str]
) -> None:
    sub = args[0].upper() if args else "LIST"
    if sub == "LIST":
        if not _may(core, client, record, "v"):
            return
        tell(core, client, f"{record.founder}: founder")
        for name, level in sorted(record.access.items()):
            tell(core, client, f"{name}: {level}")
        tell(core, client, f"End of the access list of {record.name}")
        return
    if not _may(core, client, record, "F"):
        return
    if sub == "ADD" and len(args) >= 3 and args[2].lower() in ("op", "voice"):
        _set_access(core, client, channel, record, args[1], args[2].lower())
    elif sub == "DEL" and len(args) >= 2:
        _set_access(core, client, channel, record, args[1], None)
    else:
        tell(core, client, "Syntax: " + HELP["ACCESS"])


def _flags(
    core: ChatCore, client: Client, channel: Channel | None, record: ChannelRecord, args: list[str]
) -> None:
    if not args:
        _access(core, client, channel, record, ["LIST"])
        return
    if len(args) < 2 or not _may(core, client, record, "F"):
        if len(args) < 2:
            tell(core, client, "Syntax: " + HELP["FLAGS"])
        return
    level = {"+o": "op", "+v": "voice", "-o": None, "-v": None, "-*": None}
    if args[1] not in level:
        tell(core, client, "Flags are +o (auto-op), +v (auto-voice), -o, -v or -*")
        return
    _set_access(core, client, channel, record, args[0], level[args[1]])


def _set_access(
    core: ChatCore,
    client: Client,
    channel: Channel | None,
    record: ChannelRecord,
    name: str,
    level: str | None,
) -> None:
    account = core.accounts.get(name)
    if account is None:
        tell(core, client, f"{name} is not a registered account")
        return
    access = dict(record.access)
    if level is None:
        if access.pop(account.folded, None) is None:
            tell(core, client, f"{account.name} is not on the access list")
            return
    else:
        access[account.folded] = level  # type: ignore[assignment]
    accounts.save(core, record.model_copy(update=accounts.new_version(core, record, access=access)))
    tell(core, client, f"{account.name}: {level or 'removed'} on {record.name}")
    if channel is not None and level is not None:
        for member in list(channel.members):
            if member.account and casefold(member.account) == account.folded:
                accounts.grant_access(core, member, channel)


def _status_change(sign: str, letter: str, need: str) -> Handler:
    def change(
        core: ChatCore,
        client: Client,
        channel: Channel | None,
        record: ChannelRecord,
        args: list[str],
    ) -> None:
        if channel is None:
            tell(core, client, f"{record.name} is empty")
            return
        target = core.nicks.get(casefold(args[0])) if args else client
        if target is None or target not in channel.members:
            tell(core, client, f"{args[0] if args else client.nick} is not on {channel.name}")
            return
        if not _may(core, client, record, need if target is client else "o"):
            return
        _modes(core, channel, [(sign, letter, target.nick)])

    return change


def _modes(core: ChatCore, channel: Channel, changes: list[transitions.ModeChange]) -> None:
    transitions.channel_modes(
        core, channel, changes, source=service_prefix(core, CHANSERV), by_uid=CHANSERV
    )
    accounts.keep_settings(core, channel)


def _kick(
    core: ChatCore, client: Client, channel: Channel | None, record: ChannelRecord, args: list[str]
) -> None:
    if channel is None or not args:
        tell(core, client, "Syntax: " + HELP["KICK"])
        return
    if not _may(core, client, record, "o"):
        return
    target = core.nicks.get(casefold(args[0]))
    if target is None or target not in channel.members:
        tell(core, client, f"{args[0]} is not on {channel.name}")
        return
    reason = " ".join(args[1:]) or f"Kicked by {client.nick}"
    transitions.kick(
        core, channel, target, reason, source=service_prefix(core, CHANSERV), by_uid=CHANSERV
    )


def _ban(sign: str) -> Handler:
    def ban(
        core: ChatCore,
        client: Client,
        channel: Channel | None,
        record: ChannelRecord,
        args: list[str],
    ) -> None:
        if not args:
            tell(core, client, "Syntax: " + HELP["BAN"])
            return
        if not _may(core, client, record, "o"):
            return
        target = core.nicks.get(casefold(args[0]))
        mask = f"*!*@{target.host}" if target is not None else args[0]
        if channel is None:
            entries = [m for m in record.bans if casefold(m.mask) != casefold(mask)]
            if sign == "+":
                entries.append(
                    Mask(mask=mask, set_by=service_prefix(core, CHANSERV), set_at=int(core.clock()))
                )
            accounts.save(
                core,
                record.model_copy(update=accounts.new_version(core, record, bans=tuple(entries))),
            )
        else:
            _modes(core, channel, [(sign, "b", mask)])
        tell(
            core, client, f"{mask} {'banned from' if sign == '+' else 'unbanned on'} {record.name}"
        )

    return ban


def _topic(
    core: ChatCore, client: Client, channel: Channel | None, record: ChannelRecord, args: list[str]
) -> None:
    if not _may(core, client, record, "o"):
        return
    text = " ".join(args)
    if channel is None:
        update = accounts.new_version(
            core, record, topic=text, topic_by=CHANSERV, topic_at=int(core.clock())
        )
        accounts.save(core, record.model_copy(update=update))
    else:
        transitions.topic(
            core,
            channel,
            text,
            source=service_prefix(core, CHANSERV),
            by_uid=CHANSERV,
            set_by=client.nick,
            at=int(core.clock()),
        )
        accounts.keep_settings(core, channel)
    tell(core, client, f"Topic of {record.name} set")


def _info(
    core: ChatCore, client: Client, channel: Channel | None, record: ChannelRecord, args: list[str]
) -> None:
    tell(core, client, f"{record.name}: founder {record.founder}")
    tell(core, client, f"Registered {format_time(record.created)}")
    tell(core, client, f"Access list: {len(record.access)} account(s)")
    if record.topic:
        tell(core, client, f"Topic: {record.topic}")


def _drop(
    core: ChatCore, client: Client, channel: Channel | None, record: ChannelRecord, args: list[str]
) -> None:
    if not _may(core, client, record, "F"):
        return
    accounts.drop(core, record)
    tell(core, client, f"{record.name} is no longer registered")


_HANDLERS: dict[str, Handler] = {
    "ACCESS": _access,
    "FLAGS": _flags,
    "OP": _status_change("+", "o", "o"),
    "DEOP": _status_change("-", "o", "o"),
    "VOICE": _status_change("+", "v", "v"),
    "DEVOICE": _status_change("-", "v", "v"),
    "KICK": _kick,
    "BAN": _ban("+"),
    "UNBAN": _ban("-"),
    "TOPIC": _topic,
    "INFO": _info,
    "DROP": _drop,
}
