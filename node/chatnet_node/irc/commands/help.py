"""HELP and HELPOP: what each command does, in the numerics modern IRC uses.

``HELP`` alone lists the commands; ``HELP <command>`` explains one
(RPL_HELPSTART 704, RPL_HELPTXT 705, RPL_ENDOFHELP 706); an unknown subject
gets ERR_HELPNOTFOUND (524).
"""

from __future__ import annotations

from .. import numerics as rpl
from ..core import ChatCore, Command
from ..message import Message
from ..model import Client

#: Per command: its syntax, then what it does.
TOPICS: dict[str, tuple[str, ...]] = {
    "ADMIN": ("ADMIN", "Who runs this server and how to reach them."),
    "AWAY": ("AWAY [:<message>]", "Mark yourself away with a message; without one, back."),
    "AUTHENTICATE": (
        "AUTHENTICATE PLAIN|SCRAM-SHA-256|EXTERNAL, then base64 pieces",
        "Log in with SASL (the sasl capability); * aborts.",
    ),
    "BATCH": (
        "BATCH +<ref> draft/multiline <target> ... BATCH -<ref>",
        "Send one message of several lines (draft/multiline): lines tagged batch=<ref>.",
    ),
    "CAP": ("CAP LS|LIST|REQ|END [...]", "Negotiate IRCv3 capabilities."),
    "CHATHISTORY": (
        "CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN|TARGETS <target> ...",
        "Read the history of a channel or conversation (IRCv3 chathistory).",
    ),
    "CHANSERV": ("CHANSERV <command> ...", "Talk to ChanServ (/msg ChanServ HELP); CS is short."),
    "CONNECT": ("CONNECT <server>", "Operators: bring up a configured portal now."),
    "HELP": ("HELP [<command>]", "This help; HELPOP is the same."),
    "HELPOP": ("HELPOP [<command>]", "This help; HELP is the same."),
    "INFO": ("INFO", "About this server."),
    "INVITE": ("INVITE <nick> <channel>", "Invite someone into a channel."),
    "ISON": ("ISON <nick> [<nick>...]", "Which of these nicks are online."),
    "JOIN": ("JOIN <channel>[,<channel>...] [<key>[,<key>...]]", "Join channels; 0 parts all."),
    "KICK": (
        "KICK <channel>[,<channel>...] <nick>[,<nick>...] [:<reason>]",
        "Channel operators: put someone out of a channel.",
    ),
    "KILL": ("KILL <nick> [:<reason>]", "Operators: disconnect someone from the network."),
    "KLINE": (
        "KLINE [<minutes>|<1h30m>] <user@host> [:<reason>]",
        "Operators: ban a mask from the whole network (no duration: until UNKLINE).",
    ),
    "UNKLINE": ("UNKLINE <user@host>", "Operators: lift a network-wide ban."),
    "STATS": ("STATS k", "Operators: the network-wide bans (K-lines) in force."),
    "LINKS": ("LINKS", "The servers of this network."),
    "LIST": (
        "LIST [<mask>|!<mask>|>n|<n|C<m|C>m|T<m|T>m[,...]]",
        "Channels and their topics; filter by name, members, minutes since creation or topic.",
    ),
    "LUSERS": ("LUSERS", "How many users, servers and channels there are."),
    "MAP": ("MAP", "The servers of this network as a tree, with their users."),
    "METADATA": (
        "METADATA <target>|* GET|LIST|SET|CLEAR|SUB|UNSUB|SUBS|SYNC [...]",
        "Key-value metadata on users and channels (draft/metadata-2), and what you follow.",
    ),
    "MODE": (
        "MODE <channel>|<nick> [<modes> [<arguments>...]]",
        "Channel modes (+imnstkl, lists +b/+e/+I, m:mask mutes, +o/+v) or yours (+iwB).",
    ),
    "NICKSERV": ("NICKSERV <command> ...", "Talk to NickServ (/msg NickServ HELP); NS is short."),
    "NS": ("NS <command> ...", "Talk to NickServ: /msg NickServ HELP lists its commands."),
    "CS": ("CS <command> ...", "Talk to ChanServ: /msg ChanServ HELP lists its commands."),
    "REGISTER": (
        "REGISTER <account|*> <email|*> <password>",
        "Register an account and log in (draft/account-registration).",
    ),
    "VERIFY": ("VERIFY <account> <code>", "Confirm a registration (none is ever pending here)."),
    "MONITOR": (
        "MONITOR +|-|C|L|S [<nick>[,<nick>...]]",
        "Be told when nicks come online or go offline, anywhere on the network.",
    ),
    "MARKREAD": (
        "MARKREAD <target> [timestamp=<time>]",
        "Your read marker in a conversation: ask for it, or move it forward.",
    ),
    "MOTD": ("MOTD", "The message of the day."),
    "NAMES": ("NAMES [<channel>]", "Who is in a channel."),
    "NICK": ("NICK <nick>", "Change your nick."),
    "NOTICE": ("NOTICE <target>[,<target>...] :<text>", "Like PRIVMSG; never answered."),
    "OPER": ("OPER <name> <password>", "Become an IRC operator."),
    "PART": ("PART <channel>[,<channel>...] [:<reason>]", "Leave channels."),
    "PASS": ("PASS <password>", "The connection password, before NICK and USER."),
    "PING": ("PING <token>", "The server answers PONG with the same token."),
    "PONG": ("PONG <token>", "The answer to the server's PING."),
    "PRIVMSG": ("PRIVMSG <target>[,<target>...] :<text>", "Send a message to channels or users."),
    "QUIT": ("QUIT [:<reason>]", "Leave the network."),
    "RENAME": (
        "RENAME <channel> <new name> [:<reason>]",
        "Channel operators: give a channel a new name, members and all.",
    ),
    "REDACT": (
        "REDACT <target> <msgid> [:<reason>]",
        "Take a message back: yours, or any in a channel you operate.",
    ),
    "SETNAME": ("SETNAME :<real name>", "Change your real name (IRCv3 setname)."),
    "SQUIT": ("SQUIT <server> [:<reason>]", "Operators: close a portal until CONNECT."),
    "TAGMSG": ("TAGMSG <target>", "A message of tags only (typing notices, reactions)."),
    "TIME": ("TIME", "The server's time."),
    "TOPIC": ("TOPIC <channel> [:<topic>]", "Show or set a channel's topic."),
    "USER": ("USER <username> 0 * :<real name>", "Your user name and real name, at connection."),
    "USERHOST": ("USERHOST <nick> [<nick>...]", "User and host of up to five nicks."),
    "VERSION": ("VERSION", "This server's version and what it supports (005)."),
    "WALLOPS": ("WALLOPS :<text>", "Operators: a message to every user with mode +w."),
    "WHO": ("WHO <mask>|<channel>", "Who matches a mask, or is in a channel."),
    "WHOIS": ("WHOIS <nick>", "Who someone is."),
    "WHOWAS": ("WHOWAS <nick>[,<nick>...] [<count>]", "Who used a nick that is gone."),
}


def help_(core: ChatCore, client: Client, msg: Message) -> None:
    subject = msg.param(0).upper()
    if not subject:
        core.reply(client, rpl.RPL_HELPSTART, "*", f"** Help for {core.config.network} **")
        core.reply(client, rpl.RPL_HELPTXT, "*", "Commands (HELP <command> tells more):")
        names = sorted(TOPICS)
        for start in range(0, len(names), 8):
            core.reply(client, rpl.RPL_HELPTXT, "*", " ".join(names[start : start + 8]))
        core.reply(client, rpl.RPL_ENDOFHELP, "*", "End of /HELP")
        return
    topic = TOPICS.get(subject)
    if topic is None:
        core.reply(client, rpl.ERR_HELPNOTFOUND, subject, "No help available on this topic")
        return
    syntax, *lines = topic
    core.reply(client, rpl.RPL_HELPSTART, subject, syntax)
    for line in lines:
        core.reply(client, rpl.RPL_HELPTXT, subject, line)
    core.reply(client, rpl.RPL_ENDOFHELP, subject, "End of /HELP")


COMMANDS = {
    "HELP": Command(help_, 0),
    "HELPOP": Command(help_, 0),
}
