"""Network-wide bans for IRC operators: KLINE, UNKLINE and ``STATS k``.

``KLINE [duration] user@host [:reason]`` (the duration as hybrid and solanum
read it, minutes, or as InspIRCd does, ``1h30m``, ``2d``, ``1w``; none:
until UNKLINE) bans a mask from the whole network: every server disconnects
its matching users at once and refuses them at registration with 465, and
the ban survives restarts (see ``irc.klines`` and ``transitions.accounts``).
"""

from __future__ import annotations

from .. import numerics as rpl
from ..core import ChatCore, Command
from ..klines import MAX_SECONDS, NetworkBan, describe, mask_problem, parse_duration
from ..message import Message
from ..model import Client
from ..transitions import accounts


def _oper_only(core: ChatCore, client: Client) -> bool:
    if client.oper:
        return True
    core.reply(client, rpl.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
    return False


def kline(core: ChatCore, client: Client, msg: Message) -> None:
    if not _oper_only(core, client):
        return
    params = list(msg.params)
    seconds = parse_duration(params[0]) if len(params) > 1 else None
    if seconds is not None:
        params.pop(0)
    mask = params[0]
    problem = mask_problem(mask)
    if problem is not None:
        core.notice(client, f"*** KLINE {mask}: {problem}")
        return
    if seconds is not None and not 0 < seconds <= MAX_SECONDS:
        core.notice(client, "*** KLINE: a duration from 1 minute to a year; none: until UNKLINE")
        return
    now = core.clock()
    reason = (params[1] if len(params) > 1 else "") or "No reason given"
    settings = {
        "reason": reason[:300],
        "set_by": client.prefix,
        "set_at": now,
        "expires": now + seconds if seconds is not None else None,
    }
    # The same mask again (even one UNKLINEd before): a newer version of its
    # record, brought back to life; else a new record.
    known = core.klines.get(mask) or max(
        core.klines.versions(mask), key=lambda b: b.version, default=None
    )
    if known is None:
        ban = NetworkBan(**accounts.created_here(core, mask), **settings)
    else:
        update = accounts.new_version(core, known, dropped=False, **settings)
        ban = known.model_copy(update=update)
    accounts.save(core, ban)
    core.notice(client, f"*** K-line added: {describe(ban, now)}")


def unkline(core: ChatCore, client: Client, msg: Message) -> None:
    if not _oper_only(core, client):
        return
    mask = msg.params[0]
    current = core.klines.get(mask)
    if current is None or not current.active(core.clock()):
        core.notice(client, f"*** UNKLINE {mask}: no such K-line")
        return
    accounts.save(
        core, current.model_copy(update=accounts.new_version(core, current, dropped=True))
    )
    core.notice(client, f"*** K-line removed: {mask}")


def stats(core: ChatCore, client: Client, msg: Message) -> None:
    """STATS k: the active K-lines (operators); other letters answer only the end."""
    letter = msg.params[0][:1]
    if letter in ("k", "K") and _oper_only(core, client):
        now = core.clock()
        for ban in sorted(core.klines.effective(), key=lambda b: b.name):
            if ban.active(now):
                user, _, host = ban.name.partition("@")
                core.reply(client, rpl.RPL_STATSKLINE, "K", host, "*", user, describe(ban, now))
    core.reply(client, rpl.RPL_ENDOFSTATS, letter or "*", "End of /STATS report")


COMMANDS = {
    "KLINE": Command(kline, 1),
    "UNKLINE": Command(unkline, 1),
    "STATS": Command(stats, 1),
}
