"""LIST, with the search filters ISUPPORT ``ELIST=CMNTU`` promises.

``LIST`` takes comma-separated terms; a channel is listed when it passes
every condition and, if masks were given, matches one of them:

* ``#chan`` or ``#c*n?`` (M): names or masks to match;
* ``!*spam*`` (N): masks the name must not match;
* ``>5`` / ``<100`` (U): more / fewer members than that;
* ``C<10`` / ``C>60`` (C): created less / more than that many minutes ago;
* ``T<10`` / ``T>60`` (T): topic set less / more than that many minutes ago
  (a channel without a topic has no topic time and never passes).

Secret channels are listed only to their members.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .. import numerics as rpl
from ..core import ChatCore, Command
from ..message import Message
from ..model import Channel, Client
from ..names import casefold, mask_matches

Condition = Callable[[Channel, float], bool]


@dataclass
class Search:
    """What one LIST asks for: masks to match, masks to avoid, conditions to pass."""

    masks: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)

    def matches(self, channel: Channel, now: float) -> bool:
        folded = casefold(channel.name)
        if self.masks and not any(mask_matches(mask, folded) for mask in self.masks):
            return False
        if any(mask_matches(mask, folded) for mask in self.excluded):
            return False
        return all(condition(channel, now) for condition in self.conditions)


def parse_search(terms: str) -> Search:
    """The search a LIST parameter describes (see the module docstring)."""
    search = Search()
    for term in filter(None, terms.split(",")):
        condition = _condition(term)
        if condition is not None:
            search.conditions.append(condition)
        elif term.startswith("!"):
            search.excluded.append(casefold(term[1:]))
        else:
            search.masks.append(casefold(term))
    return search


def _condition(term: str) -> Condition | None:
    """A U, C or T condition, or None when ``term`` is a mask."""
    kind, rest = (term[0], term[1:]) if term[:1] in ("C", "T") else ("U", term)
    if rest[:1] not in ("<", ">") or not rest[1:].isdigit():
        return None
    more, value = rest[0] == ">", int(rest[1:])
    if kind == "U":
        if more:
            return lambda channel, now: len(channel.members) > value
        return lambda channel, now: len(channel.members) < value
    seconds = value * 60

    def age_passes(channel: Channel, now: float) -> bool:
        since = channel.created if kind == "C" else channel.topic_at
        if kind == "T" and not channel.topic:
            return False
        age = now - since
        return age > seconds if more else age < seconds

    return age_passes


def list_(core: ChatCore, client: Client, msg: Message) -> None:
    search = parse_search(msg.params[0]) if msg.params else Search()
    now = core.clock()
    core.reply(client, rpl.RPL_LISTSTART, "Channel", "Users  Name")
    for _, channel in sorted(core.channels.items()):
        if "s" in channel.flags and client not in channel.members:
            continue
        if not search.matches(channel, now):
            continue
        modes, _ = channel.mode_string(reveal_key=False)
        text = f"[{modes}] {channel.topic}"
        core.reply(client, rpl.RPL_LIST, channel.name, str(len(channel.members)), text)
    core.reply(client, rpl.RPL_LISTEND, "End of /LIST")


COMMANDS = {
    "LIST": Command(list_, 0),
}
