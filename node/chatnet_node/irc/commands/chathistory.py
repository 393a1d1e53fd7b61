"""CHATHISTORY: LATEST, BEFORE, AFTER, AROUND, BETWEEN and TARGETS.

Follows the IRCv3 chathistory specification. Replies come in a ``chathistory``
batch when the client negotiated ``batch``; errors are standard replies
(``FAIL CHATHISTORY <code>``).
"""

from __future__ import annotations

from ...history.contract import HistoryUnavailable, Ref, StoredMessage, dm_target
from .. import multiline
from ..core import ChatCore, Command
from ..ids import horizon_in, horizon_of
from ..message import Message
from ..model import Client
from ..names import casefold, is_channel_name
from ..servertime import format_time, parse_time


def _resolve(core: ChatCore, target: str, raw: str, *, after: bool) -> Ref | None:
    """Resolve a message reference. References are exclusive (IRCv3 chathistory):
    a timestamp used as a lower bound (``after``) sits after every message at
    that time, as an upper bound before all of them."""
    kind, _, value = raw.partition("=")
    if kind == "msgid" and value:
        return core.history.resolve_msgid(target, value)
    if kind == "timestamp" and value:
        ts = parse_time(value)
        if ts is None:
            return None
        return Ref.end(ts) if after else Ref.start(ts)
    return None


def _unknown_msgid(raw: str) -> Ref | None:
    """AFTER (or LATEST down to) a msgid this server does not know: from the
    horizon it carries.

    The client saw it on a server across a split nobody has noticed yet
    (its line never came here): what it may have missed is stamped after
    that server's horizon, which the msgid says (``ids.horizon_in``). None
    for anything else (a malformed reference, another server software's
    msgid): the client is told the reference is invalid, as before.
    """
    kind, _, value = raw.partition("=")
    horizon = horizon_in(value) if kind == "msgid" else None
    return None if horizon is None else Ref.start(horizon)


def _history_key(core: ChatCore, client: Client, target: str) -> str | None:
    """The history key for a target this client may read, or None."""
    if is_channel_name(target):
        channel = core.channels.get(casefold(target))
        private = channel is not None and (channel.flags & {"s", "i"} or channel.key is not None)
        if private and channel is not None and client not in channel.members:
            return None
        return casefold(target)
    return dm_target(casefold(client.nick), casefold(target))


def chathistory(core: ChatCore, client: Client, msg: Message) -> None:
    if not core.afford(client, "history", msg.params[0].upper()):
        return
    core.charge(client, "history", 1)  # a request costs even when it finds nothing
    try:
        _chathistory(core, client, msg)
    except HistoryUnavailable:
        # The store is unreachable (a shared database restarting): the
        # client may retry; nothing was sent, so no batch is left open.
        core.fail(
            client,
            "CHATHISTORY",
            "MESSAGE_ERROR",
            msg.params[0].upper(),
            "Messages could not be retrieved",
        )


def _chathistory(core: ChatCore, client: Client, msg: Message) -> None:
    sub = msg.params[0].upper()
    limit_cap = core.config.limits.history_limit
    if sub == "TARGETS":
        _targets(core, client, msg, limit_cap)
        return
    needed = 5 if sub == "BETWEEN" else 4
    if sub not in {"LATEST", "BEFORE", "AFTER", "AROUND", "BETWEEN"}:
        core.fail(client, "CHATHISTORY", "INVALID_PARAMS", sub, "Unknown subcommand")
        return
    if len(msg.params) < needed:
        core.fail(client, "CHATHISTORY", "NEED_MORE_PARAMS", sub, "Missing parameters")
        return
    target = msg.params[1]
    key = _history_key(core, client, target)
    if key is None:
        core.fail(
            client, "CHATHISTORY", "INVALID_TARGET", sub, target, "Messages could not be retrieved"
        )
        return
    raw_limit = msg.params[needed - 1]
    if not raw_limit.isdigit():
        core.fail(client, "CHATHISTORY", "INVALID_PARAMS", sub, raw_limit, "Invalid limit")
        return
    limit = min(int(raw_limit), limit_cap)
    store = core.history
    rows: list[StoredMessage]
    if sub == "LATEST":
        if msg.params[2] == "*":
            rows = store.latest(key, None, limit)
        else:
            ref = _resolve(core, key, msg.params[2], after=True) or _unknown_msgid(msg.params[2])
            if ref is None:
                _bad_ref(core, client, sub, target, msg.params[2])
                return
            rows = _latest(core, key, ref, limit)
    elif sub == "BETWEEN":
        start = _resolve(core, key, msg.params[2], after=True)
        end = _resolve(core, key, msg.params[3], after=False)
        if start is None or end is None:
            _bad_ref(core, client, sub, target, msg.params[2] if start is None else msg.params[3])
            return
        if start.ts > end.ts:  # backwards: before ``start``, after ``end``
            start = _resolve(core, key, msg.params[2], after=False)
            end = _resolve(core, key, msg.params[3], after=True)
            assert start is not None and end is not None
            empty = start <= end
        else:
            empty = start >= end
        rows = [] if empty else store.between(key, start, end, limit)
    else:
        ref = _resolve(core, key, msg.params[2], after=sub == "AFTER")
        if ref is None and sub == "AFTER":
            ref = _unknown_msgid(msg.params[2])
        if ref is None:
            _bad_ref(core, client, sub, target, msg.params[2])
            return
        if sub == "BEFORE":
            rows = store.before(key, ref, limit)
        elif sub == "AFTER":
            rows = _after(core, client, key, ref, limit)
        else:
            rows = store.around(key, ref, limit)
    core.charge(client, "history", len(rows))
    lines = [line for r in rows for line in _lines(core, client, _replay(core, r))]
    core.send_batch(client, "chathistory", [target], lines)


#: History keys per client whose AFTER page ends are remembered (paging state),
#: and page ends per key (a bouncer may page for several of its clients at once).
PAGED_KEYS = 64
PAGE_ENDS = 4


def _after(core: ChatCore, client: Client, key: str, ref: Ref, limit: int) -> list[StoredMessage]:
    """AFTER a reference: from what its horizon says may not have been seen, in order.

    A message from another server stamped a moment before the reference may
    not have reached the server that delivered the reference when it died
    (``irc.ids``). So the page starts at the reference's horizon, not at the
    reference, or, for a reference stamped during a disruption of the
    network (a ``timestamp=`` too, if this server saw that disruption), at
    the disruption's start (``irc.disruptions``: messages it
    held up reach servers at different moments, and the client may have
    been on another server): a client merges by msgid what it saw already. Before that
    come the messages a catch-up brought here after the reference (a split
    healing: their stamps are older than the horizon), up to half a page. The window
    between horizon and reference can be longer than a page (a server that
    stalled holds every other server's horizon back): the page then ends
    inside it, and the client pages on with AFTER that page's last msgid,
    which this connection recognises (one of the last ``PAGE_ENDS`` page
    ends it sent for that target) and answers from exactly there. So a
    client paging forward sees every message after the horizon, and always
    moves on.
    """
    pages = client.history_pages
    paging = pages is not None and bool(ref.msgid) and ref.msgid in pages.get(key, ())
    store = core.history
    start = ref if paging else _lookback(core, ref)
    # Caught up late (a split healing, a leaf re-homing): stamped before the
    # horizon, stored here after the reference. At most half a page of them.
    rows = [] if paging or not ref.msgid else store.arrived_after(key, ref.msgid, start, limit // 2)
    room = limit - len(rows)
    if room > 0 and start is not ref:
        found = store.after(key, start, room + 1)
        rows += [row for row in found if row.msgid != ref.msgid][:room]
    elif room > 0:
        rows += store.after(key, ref, room)
    if rows:
        if pages is None:
            pages = client.history_pages = {}
        ends = [*pages.pop(key, ()), rows[-1].msgid][-PAGE_ENDS:]
        pages[key] = tuple(ends)
        if len(pages) > PAGED_KEYS:
            del pages[next(iter(pages))]
    return rows


def _lookback(core: ChatCore, ref: Ref) -> Ref:
    """Where a page after ``ref`` starts: its horizon, or the start of a
    disruption it was stamped in (``_after``); ``ref`` itself when neither is
    earlier."""
    horizon = horizon_of(ref.msgid, ref.ts) if ref.msgid else ref.ts
    # A time is what a client falls back to when this server does not know its
    # last msgid (said on the other side of a split): it looks back over a
    # disruption this server saw, not over a start's assumption (a time alone
    # is a plain query then).
    disrupted = core.disruptions.lookback(ref.ts, assumed=bool(ref.msgid))
    if disrupted is not None and disrupted < horizon:
        horizon = disrupted
        core.stats.lookback_disrupted += 1
    if ref.msgid:
        # To the millisecond: a float's last bit must not move it up a bucket.
        core.stats.lookback.observe(max(0.0, round(ref.ts - horizon, 3)))
    return Ref.start(horizon) if horizon < ref.ts else ref


def _latest(core: ChatCore, key: str, ref: Ref, limit: int) -> list[StoredMessage]:
    """LATEST down to ``ref``: down to where ``AFTER`` would start (``_lookback``),
    for a client that catches up with LATEST after its last msgid; the
    reference itself is left out, as AFTER leaves it out."""
    start = _lookback(core, ref)
    if start is ref:
        return core.history.latest(key, ref, limit)
    found = core.history.latest(key, start, limit + 1)
    return [row for row in found if row.msgid != ref.msgid][-limit:]


def _bad_ref(core: ChatCore, client: Client, sub: str, target: str, raw: str) -> None:
    core.fail(
        client, "CHATHISTORY", "INVALID_PARAMS", sub, target, raw, "Invalid message reference"
    )


def _replay(core: ChatCore, row: StoredMessage) -> Message:
    tags = {"time": format_time(row.ts), "msgid": row.msgid, **row.tags}
    return Message(row.command, [row.target, row.text], row.source, tags)


def _lines(core: ChatCore, client: Client, message: Message) -> list[Message]:
    """A stored message as the client sees it: a multiline one as its lines or its batch."""
    if len(message.params) < 2 or not multiline.is_multiline(message.params[1]):
        return [message]
    batch_id = core.ids.batch_id() if multiline.capable(client.caps) else None
    return multiline.render(message, batch_id)


def _targets(core: ChatCore, client: Client, msg: Message, limit_cap: int) -> None:
    if len(msg.params) < 4:
        core.fail(client, "CHATHISTORY", "NEED_MORE_PARAMS", "TARGETS", "Missing parameters")
        return
    times = []
    for raw in msg.params[1:3]:
        kind, _, value = raw.partition("=")
        ts = parse_time(value) if kind == "timestamp" else None
        if ts is None:
            core.fail(client, "CHATHISTORY", "INVALID_PARAMS", "TARGETS", raw, "Invalid timestamp")
            return
        times.append(ts)
    if not msg.params[3].isdigit():
        core.fail(
            client, "CHATHISTORY", "INVALID_PARAMS", "TARGETS", msg.params[3], "Invalid limit"
        )
        return
    limit = min(int(msg.params[3]), limit_cap)
    names = {casefold(ch.name): ch.name for ch in client.channels.values()}
    for key, other in core.history.conversations(casefold(client.nick)):
        online = core.nicks.get(other)
        names[key] = online.nick if online is not None else other
    found = core.history.targets(list(names), times[0], times[1], limit)
    core.charge(client, "history", len(found))
    lines = [
        Message("CHATHISTORY", ["TARGETS", names[key], format_time(ts)], core.config.name)
        for key, ts in found
    ]
    core.send_batch(client, "draft/chathistory-targets", [], lines)


COMMANDS = {
    "CHATHISTORY": Command(chathistory, 1),
}
