"""Questions about users: WHO (with WHOX), WHOIS, WHOWAS, USERHOST and ISON.

A user's server, flags and channels are the same answer on every server of
the network; only idle time is known where the user is connected.
"""

from __future__ import annotations

from .. import numerics as rpl
from ..core import ChatCore, Command
from ..message import Message
from ..model import Client
from ..names import casefold, is_channel_name, mask_matches
from ..serverinfo import MAX_WHOWAS_TARGETS
from ..servertime import format_time
from .lookup import refuse_no_such_nick
from .queries import network_servers

#: WHOX fields, in the order RPL_WHOSPCRPL (354) gives them.
WHOX_FIELDS = "tcuihsnfdlaor"
#: What a user's IP address is to those who may not see it.
HIDDEN_IP = "255.255.255.255"


def who(core: ChatCore, client: Client, msg: Message) -> None:
    """WHO <mask>|<#channel> [%<fields>[,<token>]]: RPL_WHOREPLY, or WHOX's RPL_WHOSPCRPL.

    A mask matches nicks (or ``nick!user@host`` when it has ``!`` or ``@``);
    invisible users show only to those who share a channel with them.
    """
    mask = msg.param(0, "*") or "*"
    if not core.afford(client, "query", "WHO"):
        return
    fields, token = _whox(msg.param(1))
    found = _matches(core, client, mask)
    core.charge(client, "query", len(found) + 1)
    for target, channel_name in found:
        if fields is None:
            _who_reply(core, client, target, channel_name)
        else:
            _whox_reply(core, client, target, channel_name, fields, token)
    core.reply(client, rpl.RPL_ENDOFWHO, mask, "End of WHO list")


def _whox(option: str) -> tuple[str | None, str]:
    """The WHOX fields and token asked for (``%tcuihsnfdlaor,123``), or None for plain WHO."""
    if not option.startswith("%"):
        return None, ""
    letters, _, token = option[1:].partition(",")
    token = token if token.isdigit() and len(token) <= 3 else ""  # the spec's 1-3 digits
    return "".join(f for f in WHOX_FIELDS if f in letters), token


def _matches(core: ChatCore, client: Client, mask: str) -> list[tuple[Client, str]]:
    """The users WHO answers with, each with the channel its line names (or ``*``)."""
    if is_channel_name(mask):
        channel = core.channels.get(casefold(mask))
        if channel is None or ("s" in channel.flags and client not in channel.members):
            return []
        member_view = client in channel.members
        return [(m, channel.name) for m in channel.members if member_view or not m.invisible]
    exact = core.nicks.get(casefold(mask))
    if exact is not None:
        return [(exact, "*")]
    shared = core.common_peers(client)
    full = "!" in mask or "@" in mask
    found = []
    for user in core.nicks.values():
        if user.invisible and user not in shared and user is not client:
            continue
        if mask in ("*", "0") or mask_matches(mask, user.prefix if full else user.nick):
            found.append((user, "*"))
    return found


def _flags(core: ChatCore, client: Client, target: Client, channel_name: str) -> str:
    """``H``ere or ``G``one, ``*`` for an operator, ``B`` for a bot, then the channel status."""
    flags = "G" if target.away is not None else "H"
    if target.oper:
        flags += "*"
    if target.bot:
        flags += "B"
    if channel_name != "*":
        channel = core.channels.get(casefold(channel_name))
        if channel is not None:
            flags += channel.prefix_of(target, client.has("multi-prefix"))
    return flags


def _who_reply(core: ChatCore, client: Client, target: Client, channel_name: str) -> None:
    core.reply(
        client,
        rpl.RPL_WHOREPLY,
        channel_name,
        target.user,
        target.host,
        target.server or core.config.name,
        target.nick,
        _flags(core, client, target, channel_name),
        f"0 {target.realname}",
    )


def _whox_reply(
    core: ChatCore, client: Client, target: Client, channel_name: str, fields: str, token: str
) -> None:
    sees_address = client is target or client.oper is not None
    values = {
        "t": token or "0",
        "c": channel_name,
        "u": target.user,
        "i": target.address if sees_address else HIDDEN_IP,
        "h": target.host,
        "s": target.server or core.config.name,
        "n": target.nick,
        "f": _flags(core, client, target, channel_name),
        "d": "0",
        "l": "0" if target.remote else str(int(core.clock() - target.last_active)),
        "a": target.account or "0",
        "o": "n/a",
        "r": target.realname,
    }
    core.reply(client, rpl.RPL_WHOSPCRPL, *(values[f] for f in fields))


def whois(core: ChatCore, client: Client, msg: Message) -> None:
    nick = msg.params[-1]
    target = core.nicks.get(casefold(nick))
    if target is None:
        refuse_no_such_nick(core, client, nick)
        core.reply(client, rpl.RPL_ENDOFWHOIS, nick, "End of /WHOIS list")
        return
    core.reply(
        client, rpl.RPL_WHOISUSER, target.nick, target.user, target.host, "*", target.realname
    )
    visible = [
        channel.prefix_of(target, client.has("multi-prefix")) + channel.name
        for channel in target.channels.values()
        if "s" not in channel.flags or client in channel.members
    ]
    if visible:
        core.reply(client, rpl.RPL_WHOISCHANNELS, target.nick, " ".join(visible))
    server = target.server or core.config.name
    info = next((s.description for s in network_servers(core) if s.name == server), "")
    core.reply(client, rpl.RPL_WHOISSERVER, target.nick, server, info)
    if target.away is not None:
        core.reply(client, rpl.RPL_AWAY, target.nick, target.away)
    if target.account is not None:
        core.reply(client, rpl.RPL_WHOISACCOUNT, target.nick, target.account, "is logged in as")
    if target.oper:
        core.reply(client, rpl.RPL_WHOISOPERATOR, target.nick, "is an IRC operator")
    if target.bot:
        core.reply(client, rpl.RPL_WHOISBOT, target.nick, f"is a bot on {core.config.network}")
    if target.secure:
        core.reply(client, rpl.RPL_WHOISSECURE, target.nick, "is using a secure connection")
    if target.certfp is not None and (client is target or client.oper):
        core.reply(
            client,
            rpl.RPL_WHOISCERTFP,
            target.nick,
            f"has client certificate fingerprint {target.certfp}",
        )
    if client is target or client.oper:
        core.reply(
            client,
            rpl.RPL_WHOISHOST,
            target.nick,
            f"is connecting from {target.user}@{target.address} {target.address}",
        )
    if client.oper and target.host != target.address:
        core.reply(
            client, rpl.RPL_WHOISACTUALLY, target.nick, target.address, "actually using host"
        )
    if not target.remote:  # idle time is only known where the user is
        idle = int(core.clock() - target.last_active)
        core.reply(
            client,
            rpl.RPL_WHOISIDLE,
            target.nick,
            str(idle),
            str(int(target.connected_at)),
            "seconds idle, signon time",
        )
    core.reply(client, rpl.RPL_ENDOFWHOIS, target.nick, "End of /WHOIS list")


def whowas(core: ChatCore, client: Client, msg: Message) -> None:
    """WHOWAS nick[,nick...] [count]: who left, most recent first; masks allowed."""
    if not msg.params or not msg.params[0]:
        core.reply(client, rpl.ERR_NONICKNAMEGIVEN, "No nickname given")
        core.reply(client, rpl.RPL_ENDOFWHOWAS, "*", "End of WHOWAS")
        return
    targets = [t for t in msg.params[0].split(",") if t][:MAX_WHOWAS_TARGETS]
    raw_count = msg.param(1)
    count = int(raw_count) if raw_count.lstrip("-").isdigit() else 0  # <= 0: every entry
    shown: dict[str, int] = {}
    for entry in core.whowas:  # newest first
        target = next((t for t in targets if _nick_matches(t, entry.nick)), None)
        if target is None or 0 < count <= shown.get(target, 0):
            continue
        shown[target] = shown.get(target, 0) + 1
        core.reply(
            client, rpl.RPL_WHOWASUSER, entry.nick, entry.user, entry.host, "*", entry.realname
        )
        core.reply(client, rpl.RPL_WHOISSERVER, entry.nick, entry.server, format_time(entry.at))
    for target in targets:
        if target not in shown:
            core.reply(client, rpl.ERR_WASNOSUCHNICK, target, "There was no such nickname")
    core.reply(client, rpl.RPL_ENDOFWHOWAS, msg.params[0], "End of WHOWAS")


def _nick_matches(mask: str, nick: str) -> bool:
    if "*" in mask or "?" in mask:
        return mask_matches(mask, nick)
    return casefold(mask) == casefold(nick)


def userhost(core: ChatCore, client: Client, msg: Message) -> None:
    """USERHOST nick [nick...]: ``nick[*]=[+-]user@host`` for up to five nicks online."""
    replies = []
    for nick in msg.params[:5]:
        target = core.nicks.get(casefold(nick))
        if target is None:
            continue
        oper = "*" if target.oper else ""
        away = "-" if target.away is not None else "+"
        replies.append(f"{target.nick}{oper}={away}{target.user}@{target.host}")
    core.reply(client, rpl.RPL_USERHOST, " ".join(replies))


def ison(core: ChatCore, client: Client, msg: Message) -> None:
    """ISON nick [nick...]: which of these nicks are online."""
    wanted = [n for param in msg.params for n in param.split()]
    online = [core.nicks[casefold(n)].nick for n in wanted if casefold(n) in core.nicks]
    core.reply(client, rpl.RPL_ISON, " ".join(online))


COMMANDS = {
    "WHO": Command(who, 0),
    "WHOIS": Command(whois, 1),
    "WHOWAS": Command(whowas, 0),
    "USERHOST": Command(userhost, 1),
    "ISON": Command(ison, 1),
}
