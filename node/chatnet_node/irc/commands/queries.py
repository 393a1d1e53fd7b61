"""Questions about the server and the network: MOTD, LUSERS, VERSION (and
ISUPPORT), TIME, ADMIN, INFO, LINKS and MAP. Questions about users are in ``who``."""

from __future__ import annotations

import time

from .. import numerics as rpl
from ..core import ChatCore, Command
from ..message import Message
from ..model import Client
from ..network import ServerView
from ..serverinfo import VERSION, isupport_tokens
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
    "MOTD": Command(motd, 0),
    "LUSERS": Command(lusers, 0),
    "VERSION": Command(version, 0),
    "TIME": Command(time_, 0),
    "ADMIN": Command(admin, 0),
    "INFO": Command(info, 0),
    "LINKS": Command(links, 0),
    "MAP": Command(map_, 0),
}
