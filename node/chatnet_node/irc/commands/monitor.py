"""MONITOR (IRCv3 monitor): a client's notify list of nicks, network-wide.

``MONITOR + a,b`` watches nicks (answering at once which are online),
``MONITOR - a,b`` stops, ``C`` clears, ``L`` lists, ``S`` gives each one's
status. Only valid nicks can be watched, never masks. The list holds at
most ``limits.maxMonitor`` nicks (ISUPPORT ``MONITOR``); what does not fit is
refused with ERR_MONLISTFULL.
"""

from __future__ import annotations

from .. import numerics as rpl
from ..core import ChatCore, Command
from ..message import Message
from ..model import Client
from ..monitor import chunks
from ..names import casefold, is_valid_nick


def monitor(core: ChatCore, client: Client, msg: Message) -> None:
    modifier = msg.params[0]
    targets = [t for t in msg.param(1).split(",") if t]
    books = core.monitors
    if not core.afford(client, "query", "MONITOR"):
        return
    # Every nick named or listed is a reply line (or a search): that is the cost.
    watched = len(books.targets(client)) if modifier.upper() in ("L", "S") else 0
    core.charge(client, "query", 1 + len(targets) + watched)
    if modifier in ("+", "-") and not targets:
        core.reply(client, rpl.ERR_NEEDMOREPARAMS, "MONITOR", "Not enough parameters")
    elif modifier == "+":
        added, refused = books.add(client, [t for t in targets if is_valid_nick(t)])
        _status(core, client, added)
        if refused:
            for listed in chunks(refused):
                core.reply(
                    client, rpl.ERR_MONLISTFULL, str(books.limit), listed, "Monitor list is full."
                )
    elif modifier == "-":
        books.remove(client, targets)
    elif modifier.upper() == "C":
        books.forget(client)
    elif modifier.upper() == "L":
        for listed in chunks(books.targets(client)):
            core.reply(client, rpl.RPL_MONLIST, listed)
        core.reply(client, rpl.RPL_ENDOFMONLIST, "End of MONITOR list")
    elif modifier.upper() == "S":
        _status(core, client, books.targets(client))
    else:
        core.fail(client, "MONITOR", "INVALID_PARAMS", modifier, "Unknown MONITOR modifier")


def _status(core: ChatCore, client: Client, nicks: list[str]) -> None:
    """RPL_MONONLINE for the nicks online (with their hostmask), RPL_MONOFFLINE for the rest."""
    online, offline = [], []
    for nick in nicks:
        user = core.nicks.get(casefold(nick))
        if user is not None:
            online.append(user.prefix)
        else:
            offline.append(nick)
    for listed in chunks(online):
        core.reply(client, rpl.RPL_MONONLINE, listed)
    for listed in chunks(offline):
        core.reply(client, rpl.RPL_MONOFFLINE, listed)


COMMANDS = {
    "MONITOR": Command(monitor, 1),
}
