"""What this server tells clients about itself: version, limits and ISUPPORT (005)."""

from __future__ import annotations

from .. import __version__
from ..config import NodeConfig
from .names import CHANNELLEN, NICKLEN

VERSION = f"chatnet-{__version__}"
TOPICLEN = 390
KICKLEN = 255
AWAYLEN = 200
MAX_TARGETS = 4
MAX_KICK_TARGETS = 4
MAX_WHOWAS_TARGETS = 4
#: Most entries a channel keeps in each of its lists: bans, exceptions, invite exceptions.
MAX_LIST_ENTRIES = 100
#: The longest mask a list mode takes (a nick!user@host mask fits easily).
MAX_MASK_LENGTH = 200
#: User modes and channel modes, as RPL_MYINFO (004) lists them.
USER_MODES = "Biow"
CHANNEL_MODES = "Ibeklimnostv"
CHANNEL_MODES_WITH_PARAM = "Ibeklov"
#: Channel statuses a message may be addressed to (``PRIVMSG @#chan``), highest first.
STATUSMSG = "@+"


def isupport_tokens(config: NodeConfig) -> list[str]:
    """The tokens of RPL_ISUPPORT (005)."""
    limits = config.limits
    return [
        f"AWAYLEN={AWAYLEN}",
        "BOT=B",
        "CASEMAPPING=rfc1459",
        f"CHANLIMIT=#:{limits.max_channels_per_client}",
        "CHANMODES=Ibe,k,l,imnst",
        f"CHANNELLEN={CHANNELLEN}",
        "CHANTYPES=#",
        f"CHATHISTORY={limits.history_limit}",
        "ELIST=CMNTU",
        "EXCEPTS=e",
        "EXTBAN=,m",
        "INVEX=I",
        f"KICKLEN={KICKLEN}",
        "LINELEN=512",
        f"MAXLIST=beI:{MAX_LIST_ENTRIES}",
        "MODES=4",
        f"MONITOR={limits.max_monitor}",
        "MSGREFTYPES=msgid,timestamp",
        f"NETWORK={config.network}",
        f"NICKLEN={NICKLEN}",
        "PREFIX=(ov)@+",
        f"STATUSMSG={STATUSMSG}",
        f"TARGMAX=PRIVMSG:{MAX_TARGETS},NOTICE:{MAX_TARGETS},JOIN:,PART:,"
        f"KICK:{MAX_KICK_TARGETS},NAMES:1,WHOWAS:{MAX_WHOWAS_TARGETS},USERHOST:5",
        f"TOPICLEN={TOPICLEN}",
        "UTF8ONLY",
        "WHOX",
    ]
