"""MARKREAD (IRCv3 ``draft/read-marker``): get or move a user's read marker.

``MARKREAD <target>`` asks for the marker of a channel or private
conversation; ``MARKREAD <target> timestamp=<server-time>`` moves it
forward (never back, never past now). The answer is always the marker the
server keeps, ``*`` when there is none; errors are standard replies.
"""

from __future__ import annotations

from .. import transitions
from ..core import ChatCore, Command
from ..message import Message
from ..model import Client
from ..names import is_channel_name, is_valid_nick
from ..readmarkers import parse_marker


def markread(core: ChatCore, client: Client, msg: Message) -> None:
    if not msg.params or not msg.params[0]:
        core.fail(client, "MARKREAD", "NEED_MORE_PARAMS", "Missing parameters")
        return
    target = msg.params[0]
    if not (is_channel_name(target) or is_valid_nick(target)):
        core.fail(client, "MARKREAD", "INVALID_PARAMS", target, "Invalid parameters")
        return
    if len(msg.params) < 2:
        transitions.show_marker(core, client, target)
        return
    ts = parse_marker(msg.params[1])
    if ts is None:
        core.fail(client, "MARKREAD", "INVALID_PARAMS", msg.params[1], "Invalid parameters")
        return
    moved = transitions.mark_read(
        core, transitions.marker_owner(client), target, min(ts, core.clock())
    )
    if not moved or not client.has(transitions.READ_MARKER_CAP):
        transitions.show_marker(core, client, target)  # the answer: the marker as it stands


COMMANDS = {
    "MARKREAD": Command(markread, 0),
}
