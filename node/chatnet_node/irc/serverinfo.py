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
#: User modes and channel modes, as RPL_MYINFO (004) lists them.
USER_MODES = "iow"
CHANNEL_MODES = "bklimnostv"
CHANNEL_MODES_WITH_PARAM = "bklov"


def isupport_tokens(config: NodeConfig) -> list[str]:
    """The tokens of RPL_ISUPPORT (005)."""
    limits = config.limits
    return [
        f"AWAYLEN={AWAYLEN}",
        "CASEMAPPING=rfc1459",
        f"CHANLIMIT=#:{limits.max_channels_per_client}",
        "CHANMODES=b,k,l,imnst",
        f"CHANNELLEN={CHANNELLEN}",
        "CHANTYPES=#",
        f"CHATHISTORY={limits.history_limit}",
        "ELIST=",
        f"KICKLEN={KICKLEN}",
        "LINELEN=512",
        "MAXLIST=b:100",
        "MODES=4",
        f"MONITOR={limits.max_monitor}",
        "MSGREFTYPES=msgid,timestamp",
        f"NETWORK={config.network}",
        f"NICKLEN={NICKLEN}",
        "PREFIX=(ov)@+",
        f"TARGMAX=PRIVMSG:{MAX_TARGETS},NOTICE:{MAX_TARGETS},JOIN:,PART:,"
        f"KICK:{MAX_KICK_TARGETS},NAMES:1,WHOWAS:{MAX_WHOWAS_TARGETS},USERHOST:5",
        f"TOPICLEN={TOPICLEN}",
        "UTF8ONLY",
        "WHOX",
    ]
