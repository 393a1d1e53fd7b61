"""Questions about the server and its users: WHO, WHOIS, WHOWAS, MOTD, LUSERS,
VERSION, TIME, ADMIN, INFO, LINKS."""

from __future__ import annotations

import time

from .. import numerics as rpl
from ..core import ChatCore, Command
from ..message import Message
from ..model import Client
from ..names import casefold, is_channel_name, mask_matches
from ..network import ServerView
from ..serverinfo import MAX_WHOWAS_TARGETS, VERSION, isupport_tokens
from ..servertime import format_time


def send_lusers(core: ChatCore, client: Client) -> None:
    """The LUSERS numerics (also part of the welcome burst)."""
    users = core.users.values()
    invisible = sum(1 for u in users if u.invisible)
    opers = sum(1 for u in users if u.oper)
    local = core.local_users
    unknown = len(core.clients) - local
    total = len(users)
    servers = len(network_servers(core))
    local_peak, global_peak = core.stats.max_local_users, core.stats.max_global_users
    core.reply(
        client,
        rpl.RPL_LUSERCLIENT,
        f"There are {total - invisible} users and {invisible} invisible on {servers} servers",
    )
    if opers:
        core.reply(client, rpl.RPL_LUSEROP, str(opers), "operator(s) online")
    if unknown:
        core.reply(client, rpl.RPL_LUSERUNKNOWN, str(unknown), "unknown connection(s)")
    core.reply(client, rpl.RPL_LUSERCHANNELS, str(len(core.channels)), "channels formed")
    links = servers - 1
    core.reply(client, rpl.RPL_LUSERME, f"I have {local} clients and {links} servers")
    core.reply(
        client,
        rpl.RPL_LOCALUSERS,
        str(local),
        str(local_peak),
        f"Current local users {local}, max {local_peak}",
    )
    core.reply(
        client,
        rpl.RPL_GLOBALUSERS,
        str(total),
        str(global_peak),
        f"Current global users {total}, max {global_peak}",
    )


def send_isupport(core: ChatCore, client: Client) -> None:
    """RPL_ISUPPORT, at most 13 tokens a line."""
    tokens = isupport_tokens(core.config)
    for start in range(0, len(tokens), 13):
        core.reply(
            client, rpl.RPL_ISUPPORT, *tokens[start : start + 13], "are supported by this server"
        )


def send_motd(core: ChatCore, client: Client) -> None:
    """The message of the day, or ERR_NOMOTD when there is none."""
    text = core.config.motd
    if not text.strip():
        core.reply(client, rpl.ERR_NOMOTD, "MOTD File is missing")
        return
    core.reply(client, rpl.RPL_MOTDSTART, f"- {core.config.name} Message of the day - ")
    for line in text.splitlines() or [""]:
        core.reply(client, rpl.RPL_MOTD, f"- {line}")
    core.reply(client, rpl.RPL_ENDOFMOTD, "End of /MOTD command.")


def motd(core: ChatCore, client: Client, msg: Message) -> None:
    send_motd(core, client)


def lusers(core: ChatCore, client: Client, msg: Message) -> None:
    send_lusers(core, client)


def who_reply(core: ChatCore, client: Client, target: Client, channel_name: str) -> None:
    """One RPL_WHOREPLY line."""
    flags = "G" if target.away is not None else "H"
    if target.oper:
        flags += "*"
    if channel_name != "*":
        channel = core.channels.get(casefold(channel_name))
        if channel is not None:
            flags += channel.prefix_of(target, client.has("multi-prefix"))
    core.reply(
        client,
        rpl.RPL_WHOREPLY,
        channel_name,
        target.user,
        target.host,
        target.server or core.config.name,
        target.nick,
        flags,
        f"0 {target.realname}",
    )


def who(core: ChatCore, client: Client, msg: Message) -> None:
    mask = msg.param(0, "*") or "*"
    if is_channel_name(mask):
        channel = core.channels.get(casefold(mask))
        if channel is not None and ("s" not in channel.flags or client in channel.members):
            member_view = client in channel.members
            for member in channel.members:
                if member_view or not member.invisible:
                    who_reply(core, client, member, channel.name)
    else:
        exact = core.nicks.get(casefold(mask))
        if exact is not None:
            who_reply(core, client, exact, "*")
        else:
            shared = set(core.common_peers(client))
            for user in core.nicks.values():
                if user.invisible and user not in shared and user is not client:
                    continue
                if mask in ("*", "0") or mask_matches(mask, user.nick):
                    who_reply(core, client, user, "*")
    core.reply(client, rpl.RPL_ENDOFWHO, mask, "End of WHO list")


def whois(core: ChatCore, client: Client, msg: Message) -> None:
    nick = msg.params[-1]
    target = core.nicks.get(casefold(nick))
    if target is None:
        core.reply(client, rpl.ERR_NOSUCHNICK, nick, "No such nick/channel")
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
    if target.oper:
        core.reply(client, rpl.RPL_WHOISOPERATOR, target.nick, "is an IRC operator")
    if target.secure:
        core.reply(client, rpl.RPL_WHOISSECURE, target.nick, "is using a secure connection")
    if client is target or client.oper:
        core.reply(
            client,
            rpl.RPL_WHOISHOST,
            target.nick,
            f"is connecting from {target.user}@{target.address} {target.address}",
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


def version(core: ChatCore, client: Client, msg: Message) -> None:
    core.reply(client, rpl.RPL_VERSION, VERSION, core.config.name, "chatnet IRC server")
    send_isupport(core, client)


def time_(core: ChatCore, client: Client, msg: Message) -> None:
    now = core.clock()
    human = time.strftime("%A %B %d %Y -- %H:%M:%S +00:00", time.gmtime(now))
    core.reply(client, rpl.RPL_TIME, core.config.name, str(int(now)), "0", human)


def admin(core: ChatCore, client: Client, msg: Message) -> None:
    info = core.config.admin
    core.reply(client, rpl.RPL_ADMINME, core.config.name, "Administrative info")
    core.reply(client, rpl.RPL_ADMINLOC1, info.location)
    core.reply(client, rpl.RPL_ADMINLOC2, info.description)
    core.reply(client, rpl.RPL_ADMINEMAIL, info.email)


def info(core: ChatCore, client: Client, msg: Message) -> None:
    lines = [
        f"{VERSION}: chatnet, a chat network that runs from YAML on Kubernetes.",
        f"This server: {core.config.name} (server ID {core.config.server_id}) "
        f"in network {core.config.network}.",
        f"Up since {format_time(core.started)}.",
    ]
    for line in lines:
        core.reply(client, rpl.RPL_INFO, line)
    core.reply(client, rpl.RPL_ENDOFINFO, "End of INFO list")


def network_servers(core: ChatCore) -> list[ServerView]:
    """Every reachable server (just this one when it has no links)."""
    if core.network is not None:
        return core.network.servers()
    config = core.config
    return [ServerView(config.name, config.name, 0, config.description, config.server_id)]


def links(core: ChatCore, client: Client, msg: Message) -> None:
    for server in network_servers(core):
        core.reply(
            client, rpl.RPL_LINKS, server.name, server.uplink, f"{server.hops} {server.description}"
        )
    core.reply(client, rpl.RPL_ENDOFLINKS, "*", "End of /LINKS list")


def map_(core: ChatCore, client: Client, msg: Message) -> None:
    """MAP: the servers as a tree, with users per server and server IDs."""
    servers = network_servers(core)
    users: dict[str, int] = {}
    for user in core.nicks.values():
        users[user.server] = users.get(user.server, 0) + 1
    children: dict[str, list[ServerView]] = {}
    for server in servers:
        if server.hops:
            children.setdefault(server.uplink, []).append(server)

    def walk(server: ServerView, depth: int) -> None:
        indent = "  " * depth + ("`- " if depth else "")
        line = f"{indent}{server.name} ({server.sid}) {users.get(server.name, 0)} users"
        core.reply(client, rpl.RPL_MAP, line)
        for child in sorted(children.get(server.name, []), key=lambda s: s.name):
            walk(child, depth + 1)

    walk(servers[0], 0)
    core.reply(client, rpl.RPL_MAPEND, "End of /MAP")


COMMANDS = {
    "WHO": Command(who, 0),
    "WHOIS": Command(whois, 1),
    "WHOWAS": Command(whowas, 0),
    "USERHOST": Command(userhost, 1),
    "ISON": Command(ison, 1),
    "MOTD": Command(motd, 0),
    "LUSERS": Command(lusers, 0),
    "VERSION": Command(version, 0),
    "TIME": Command(time_, 0),
    "ADMIN": Command(admin, 0),
    "INFO": Command(info, 0),
    "LINKS": Command(links, 0),
    "MAP": Command(map_, 0),
}
