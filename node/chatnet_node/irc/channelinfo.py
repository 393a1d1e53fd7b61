"""What a client is told about a channel when it joins or asks: its topic and its names.

Shared by JOIN and NAMES (``commands.channels``) and by a channel rename,
which shows the renamed channel to clients without ``draft/channel-rename``
as if they had just joined it.
"""

from __future__ import annotations

from . import numerics as rpl
from .model import Channel, Client
from .state import ChatState

NAMES_LINE_BUDGET = 400  # bytes of names per RPL_NAMREPLY line


def send_topic(state: ChatState, client: Client, channel: Channel) -> None:
    """RPL_TOPIC and RPL_TOPICWHOTIME, or RPL_NOTOPIC."""
    if not channel.topic:
        state.reply(client, rpl.RPL_NOTOPIC, channel.name, "No topic is set")
        return
    state.reply(client, rpl.RPL_TOPIC, channel.name, channel.topic)
    state.reply(client, rpl.RPL_TOPICWHOTIME, channel.name, channel.topic_by, str(channel.topic_at))


def send_names(state: ChatState, client: Client, channel: Channel) -> None:
    """RPL_NAMREPLY lines (split to fit) and RPL_ENDOFNAMES."""
    in_channel = client in channel.members
    multi = client.has("multi-prefix")
    full = client.has("userhost-in-names")
    entries = [
        channel.prefix_of(member, multi) + (member.prefix if full else member.nick)
        for member in channel.members
        if in_channel or not member.invisible
    ]
    symbol = "@" if "s" in channel.flags else "="
    line: list[str] = []
    size = 0
    for entry in entries:
        if line and size + len(entry) + 1 > NAMES_LINE_BUDGET:
            state.reply(client, rpl.RPL_NAMREPLY, symbol, channel.name, " ".join(line))
            line, size = [], 0
        line.append(entry)
        size += len(entry) + 1
    if line:
        state.reply(client, rpl.RPL_NAMREPLY, symbol, channel.name, " ".join(line))
    state.reply(client, rpl.RPL_ENDOFNAMES, channel.name, "End of /NAMES list")
