"""MODE: a user's own modes (``+i``, ``-o``) and a channel's modes, lists and statuses.

The command reads the mode string, answers queries (``MODE #chan``, the
ban list) and refuses what the client may not do; the changes themselves
go through ``transitions.channel_modes``, the same function a change from
another server goes through.
"""

from __future__ import annotations

from .. import numerics as rpl
from .. import transitions
from ..core import ChatCore, Command
from ..message import Message
from ..model import FLAG_MODES, LIST_MODES, Channel, Client
from ..names import casefold, is_channel_name, normalize_ban_mask
from ..serverinfo import MAX_LIST_ENTRIES, MAX_MASK_LENGTH, USER_MODES
from ..transitions import accounts
from .lookup import channel_named, is_operator, refuse_no_such_nick, user_named


def mode(core: ChatCore, client: Client, msg: Message) -> None:
    target = msg.params[0]
    if is_channel_name(target):
        channel_mode(core, client, msg)
    else:
        user_mode(core, client, msg)


def user_mode(core: ChatCore, client: Client, msg: Message) -> None:
    target = msg.params[0]
    if casefold(target) != casefold(client.nick):
        if casefold(target) not in core.nicks:
            refuse_no_such_nick(core, client, target)
        else:
            core.reply(client, rpl.ERR_USERSDONTMATCH, "Cant change mode for other users")
        return
    if len(msg.params) < 2:
        core.reply(client, rpl.RPL_UMODEIS, client.user_modes)
        return
    invisible, oper, wallops, bot = client.invisible, client.oper, client.wallops, client.bot
    adding = True
    applied = ""
    last_sign = ""
    unknown = False
    for char in msg.params[1]:
        if char in "+-":
            adding = char == "+"
            continue
        sign = "+" if adding else "-"
        if char == "i" and invisible != adding:
            invisible = adding
        elif char == "o" and not adding and oper:
            oper = None  # anyone may drop operator status; only OPER grants it
        elif char == "w" and wallops != adding:
            wallops = adding
        elif char == "B" and bot != adding:
            bot = adding
        elif char not in USER_MODES:
            unknown = True
            continue
        else:
            continue
        applied += (sign if sign != last_sign else "") + char
        last_sign = sign
    if unknown:
        core.reply(client, rpl.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
    if applied:
        client.wallops = wallops  # only this server delivers WALLOPS to its users
        if (oper, invisible, bot) != (client.oper, client.invisible, client.bot):
            transitions.user_modes(core, client, oper=oper, invisible=invisible, bot=bot)
        core.send(client, Message("MODE", [client.nick, applied], client.prefix))


def channel_mode(core: ChatCore, client: Client, msg: Message) -> None:
    name = msg.params[0]
    channel = channel_named(core, client, name)
    if channel is None:
        return
    if len(msg.params) < 2:
        letters, params = channel.mode_string(reveal_key=client in channel.members)
        core.reply(client, rpl.RPL_CHANNELMODEIS, channel.name, letters, *params)
        core.reply(client, rpl.RPL_CREATIONTIME, channel.name, str(channel.created))
        return
    changes = _parse(core, client, channel, msg.params[1], list(msg.params[2:]))
    if not changes:
        return
    if not is_operator(core, client, channel):
        return
    checked = [change for change in changes if _allowed(core, client, channel, change)]
    transitions.channel_modes(core, channel, checked, source=client.prefix, by_uid=client.uid)
    accounts.keep_settings(core, channel)


def _parse(
    core: ChatCore, client: Client, channel: Channel, letters: str, args: list[str]
) -> list[transitions.ModeChange]:
    """The changes a mode string asks for; answers list queries and unknown letters."""
    changes: list[transitions.ModeChange] = []
    adding = True
    for char in letters:
        if char in "+-":
            adding = char == "+"
            continue
        sign = "+" if adding else "-"
        if char in LIST_MODES:
            if not args:
                if adding:
                    _mask_list(core, client, channel, char)
                continue
            changes.append((sign, char, args.pop(0)))
        elif char in "ov" or (char == "k" and adding) or (char == "l" and adding):
            if not args:
                core.reply(client, rpl.ERR_NEEDMOREPARAMS, "MODE", "Not enough parameters")
                continue
            changes.append((sign, char, args.pop(0)))
        elif char == "k":
            if args:
                args.pop(0)
            changes.append((sign, char, None))
        elif char in FLAG_MODES or char == "l":
            changes.append((sign, char, None))
        else:
            core.reply(client, rpl.ERR_UNKNOWNMODE, char, "is unknown mode char to me")
    return changes


#: What each list mode answers a query with: entry numeric, end numeric, end text.
LIST_REPLIES = {
    "b": (rpl.RPL_BANLIST, rpl.RPL_ENDOFBANLIST, "End of channel ban list"),
    "e": (rpl.RPL_EXCEPTLIST, rpl.RPL_ENDOFEXCEPTLIST, "End of channel exception list"),
    "I": (rpl.RPL_INVITELIST, rpl.RPL_ENDOFINVITELIST, "End of channel invite list"),
}


def _mask_list(core: ChatCore, client: Client, channel: Channel, mode: str) -> None:
    entry, end, text = LIST_REPLIES[mode]
    for ban in channel.mask_list(mode):
        core.reply(client, entry, channel.name, ban.mask, ban.set_by, str(ban.set_at))
    core.reply(client, end, channel.name, text)


def _allowed(
    core: ChatCore, client: Client, channel: Channel, change: transitions.ModeChange
) -> bool:
    """Is the change well-formed here? Tells the client why not."""
    sign, char, arg = change
    if char in "ov" and arg is not None:
        member = user_named(core, client, arg)
        if member is None:
            return False
        if member not in channel.members:
            core.reply(
                client,
                rpl.ERR_USERNOTINCHANNEL,
                member.nick,
                channel.name,
                "They aren't on that channel",
            )
            return False
    if char in LIST_MODES and sign == "+" and arg is not None and len(arg) > MAX_MASK_LENGTH:
        core.reply(
            client,
            rpl.ERR_INVALIDMODEPARAM,
            channel.name,
            char,
            arg[:40] + "...",
            "Mask is too long",
        )
        return False
    if char in LIST_MODES and sign == "+" and arg is not None:
        entries = channel.mask_list(char)
        mask = casefold(normalize_ban_mask(arg))
        full = len(entries) >= MAX_LIST_ENTRIES
        if full and all(casefold(entry.mask) != mask for entry in entries):
            core.reply(client, rpl.ERR_BANLISTFULL, channel.name, char, "Channel list is full")
            return False
    if char == "k" and sign == "+" and (not arg or " " in arg or "," in arg):
        core.reply(client, rpl.ERR_INVALIDKEY, channel.name, "Key is not well-formed")
        return False
    return True


COMMANDS = {
    "MODE": Command(mode, 1),
}
