"""A chaos harness: members, steady traffic, kills and partitions, and the accounting.

The guarantee under test (issue 7): a channel message acknowledged to its
sender (the echo-message echo) reaches every member who stays exactly once,
and every member who comes back (reconnect through the network's endpoint,
rejoin, ``CHATHISTORY AFTER`` its last msgid) recovers it, exactly once.

* ``Member``: one chat user on the asyncio IRC test client
  (``tests.irc.client``: its parser, framing checks and PING answers). It records, per
  connection, every msgid it receives live (the same msgid twice on one
  connection is a duplicate, always an error), and merges live lines and
  history by msgid like the web page does (``overlaps`` counts what the
  merge removed). When its connection drops it comes back by itself: at
  once (jittered), then with backoff, through ``opener`` (the front door).
* ``Sender``: a member that also talks at a steady rate; a line is
  *acknowledged* when its echo comes back, and only then is it owed to
  everyone (``Ledger``).
* ``account``: who lacks which acknowledged message, who got one twice, and
  (from a final look at every server's history) where each lost message is
  stored, so a failure says whether the server or the recovery lost it.

Everything is bounded: every wait has a deadline (``tests.waiting``), every
loop a count.
"""

# Every wait here takes an explicit ``timeout`` (bounded waits are the point).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tests.irc.client import IrcClient
from tests.irc.lines import Msg
from tests.waiting import within

CHANNEL = "#chaos"
CAPS = ("message-tags", "server-time", "echo-message", "batch", "chathistory")
AUDIT_CAPS = ("batch", "message-tags", "server-time", "chathistory")
#: How a server that does not answer shows to the audit and the views (the
#: test client fails with an AssertionError when a connection closes or stalls).
UNANSWERED = (OSError, ConnectionError, TimeoutError, AssertionError)
HISTORY_PAGE = 100
#: A member's catch-up stops after this many pages (a server that has just
#: started and cannot know better looks back over the whole sync window: at
#: 10 lines a second, 90 pages).
MAX_PAGES = 200
#: A connection that hears nothing (not even a PING) for this long is taken for dead.
SILENCE = 120.0
#: What a member never looks at: in a channel of thousands, a server's split and
#: rejoin brings each member thousands of these at once, and a harness that parses
#: them all (300 members in one process) measured its own backlog as the network's
#: recovery (a member read its server's close 56 s late, behind 3,585 such lines).
IGNORED = frozenset({b"JOIN", b"PART", b"QUIT", b"NICK", b"MODE", b"AWAY", b"ACCOUNT"})
#: Lines a member's connection remembers once read (a member lives long).
KEEP = 200

#: Opens a connection to the network (through its front door, or to a chosen server).
Opener = Callable[[], Awaitable[IrcClient]]


def clock() -> float:
    return time.monotonic()


# ---------------------------------------------------------------- times


def iso(ts: float) -> str:
    """An IRCv3 timestamp for ``ts`` (seconds since the epoch)."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_ts(value: str) -> float:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


# ---------------------------------------------------------------- records


@dataclass
class Acked:
    """One acknowledged message: who sent it, on which server, when the echo came."""

    msgid: str
    sender: str
    seq: int
    server: str
    at: float


@dataclass
class Ledger:
    """Shared by every member: what was sent, what was acknowledged, what happened when."""

    started: float = field(default_factory=clock)
    acked: dict[str, Acked] = field(default_factory=dict)
    sent: int = 0
    sent_by: dict[str, list[int]] = field(default_factory=dict)  # sender -> seqs sent
    #: Every msgid of a member's line that reached any member -> its text ("sender
    #: seq"): what became of a line never acknowledged is looked up by its text.
    texts: dict[str, str] = field(default_factory=dict)
    #: msgids seen carrying two different texts -> those texts.
    clashes: dict[str, set[str]] = field(default_factory=dict)
    timeline: list[tuple[float, str]] = field(default_factory=list)

    def note(self, what: str) -> None:
        self.timeline.append((clock(), what))

    def rel(self, at: float) -> str:
        return f"+{at - self.started:.2f}s"

    def acked_between(self, start: float, end: float) -> list[Acked]:
        return [a for a in self.acked.values() if start <= a.at <= end]


@dataclass
class Session:
    """One connection of a member."""

    number: int
    opened: float
    server: str = "?"
    nick: str = "?"
    joined: float | None = None
    caught_up: float | None = None  # history fetched after the rejoin
    closed: float | None = None
    live: Counter[str] = field(default_factory=Counter)
    history_fetched: int = 0


# ---------------------------------------------------------------- a member


class Member:
    """One chat user that comes back by itself when its connection drops."""

    def __init__(
        self,
        label: str,
        opener: Opener,
        ledger: Ledger,
        *,
        channel: str = CHANNEL,
        recover: bool = True,
        rng: random.Random | None = None,
        give_up_after: float = 30.0,
    ) -> None:
        self.label = label
        self.opener = opener
        self.ledger = ledger
        self.channel = channel
        self.recover = recover
        self.rng = rng or random.Random(label)
        self.give_up_after = give_up_after
        self.sessions: list[Session] = []
        self.have: dict[str, float] = {}  # msgid -> when it first arrived (merged view)
        self.overlaps = 0  # arrivals the msgid merge removed (history vs live, reconnects)
        self.history_dups = 0  # a msgid twice within one history answer
        #: Where the next catch-up resumes: everything stamped up to it was seen, with no gap.
        self.last_msgid: str | None = None
        self.last_ts = 0.0
        #: The newest line seen live while catching up: the resume point once caught up.
        self._live_newest: tuple[float, str | None] = (0.0, None)
        self.first_join_ts: float | None = None  # server time of the first join
        self.errors: list[str] = []
        #: Ended attempts by stage and exception ("connect: TimeoutError", ...).
        self.failures: Counter[str] = Counter()
        self.joined = asyncio.Event()  # set while joined and caught up
        self.stopping = False
        self._client: IrcClient | None = None
        self._waiters: list[tuple[Callable[[Msg], bool], asyncio.Future[Msg]]] = []
        self._history_refs: set[str] = set()
        self._batch_lines: dict[str, list[Msg]] = {}
        self._task: asyncio.Task[None] | None = None
        self._alive = asyncio.Event()

    # -- state

    @property
    def session(self) -> Session | None:
        return self.sessions[-1] if self.sessions else None

    @property
    def server(self) -> str:
        return self.session.server if self.session else "?"

    @property
    def nick(self) -> str:
        return self.session.nick if self.session else self.label

    def describe(self) -> str:
        """Where this member was: its connections with their servers and times."""
        parts = []
        for s in self.sessions:
            end = self.ledger.rel(s.closed) if s.closed is not None else "end"
            parts.append(f"{s.server} {self.ledger.rel(s.opened)}..{end}")
        return f"{self.label} [{', '.join(parts)}]"

    def _stage(self) -> str:
        """How far the current connection got: register, join, catch-up or live."""
        session = self.session
        if session is None or session.nick == "?":
            return "register"
        if session.joined is None:
            return "join"
        return "catch-up" if session.caught_up is None else "live"

    def away_since(self) -> float | None:
        """When its last connection ended, if it is not joined and caught up now."""
        session = self.session
        if self._task is None or self.joined.is_set() or session is None:
            return None  # never started (fed lines by hand), or here
        return session.closed if session.closed is not None else session.opened

    # -- life cycle

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"member {self.label}")

    async def wait_joined(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            await self.joined.wait()

    async def stop(self) -> None:
        self.stopping = True
        if self._client is not None:
            self._client.abort()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def drop(self) -> bool:
        """Cut the connection as a network failure would (no QUIT); the member comes
        back by itself. False when it is not connected and joined."""
        if self._client is None or not self.joined.is_set():
            return False
        self._client.abort()
        return True

    async def _run(self) -> None:
        attempt = 0
        gave_up_at = clock() + self.give_up_after
        while not self.stopping:
            started = clock()
            sessions = len(self.sessions)
            try:
                await self._session()
            except (OSError, ConnectionError, TimeoutError) as exc:
                # Every failure is counted, also the connects that never made a
                # session (a refused or timed-out connect leaves no other trace).
                stage = "connect" if len(self.sessions) == sessions else self._stage()
                self.failures[f"{stage}: {type(exc).__name__}"] += 1
                if self.session is not None and self.session.joined is None:
                    self.errors.append(f"{self.ledger.rel(clock())} connect failed: {exc!r}")
            except AssertionError as exc:  # the server broke the framing: never retried
                self.failures["framing: AssertionError"] += 1
                self.errors.append(f"{self.ledger.rel(clock())} {exc}")
                return
            except Exception as exc:  # a harness bug must show, not end the member silently
                self.failures[f"harness: {type(exc).__name__}"] += 1
                self.errors.append(f"{self.ledger.rel(clock())} harness error: {exc!r}")
                return
            finally:
                self.joined.clear()
                self._alive.clear()
                if self._client is not None:
                    self._client.abort()
                    self._client = None
                for _, future in self._waiters:
                    if not future.done():
                        future.set_exception(ConnectionError("connection closed"))
                self._waiters.clear()
            if self.stopping or not self.recover:
                return
            if clock() - started > 2.0:
                attempt = 0
                gave_up_at = clock() + self.give_up_after
            if clock() > gave_up_at:
                self.failures["gave up"] += 1
                self.errors.append(f"gave up reconnecting after {self.give_up_after:.0f}s")
                return
            # At once the first time (jittered, so a server's clients do not all
            # arrive together), then backing off: 0.25 s, 0.5 s, ... up to 2 s.
            if attempt == 0:
                delay = self.rng.uniform(0.0, 0.2)
            else:
                delay = min(2.0, 0.25 * 2 ** (attempt - 1)) * self.rng.uniform(0.5, 1.0)
            attempt += 1
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        client = await asyncio.wait_for(self.opener(), 5.0)
        client.inbox.keep = KEEP
        client.ignore = IGNORED
        self._client = client
        session = Session(number=len(self.sessions) + 1, opened=clock())
        self._live_newest = (0.0, None)  # a session that never caught up moves nothing
        self.sessions.append(session)
        self._alive.set()
        reading = asyncio.create_task(self._read(client, session))
        try:
            await self._register(session)
            await self._join(session)
            if len(self.sessions) > 1 or self.last_msgid is not None:
                await self._catch_up(session)
            self._caught_up(session)
            self.joined.set()
            await reading
        finally:
            session.closed = clock()
            # Closed first: on Python 3.11, cancelling a read whose line has just
            # arrived is lost (``asyncio.wait_for`` returns the line instead), and
            # the reader would go on reading the still open connection for ever:
            # the member never came back (30 of 300 in a 20-minute soak).
            client.abort()
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reading

    # -- I/O

    def send(self, line: str) -> bool:
        """Queue a line on the current connection; False when there is none."""
        return self._client is not None and self._client.send_nowait(line)

    def _expect(self, check: Callable[[Msg], bool]) -> asyncio.Future[Msg]:
        future: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        self._waiters.append((check, future))
        return future

    async def _read(self, client: IrcClient, session: Session) -> None:
        while True:
            try:
                line = await client.recv(timeout=SILENCE)
            except ConnectionError:  # closed by the server
                # Whoever waits for an answer (registration, join, catch-up)
                # learns it now, not at its own timeout: the member comes back
                # at once instead of 8 s later.
                for _, future in self._waiters:
                    if not future.done():
                        future.set_exception(ConnectionError("connection closed"))
                return
            self._handle(line, session)
            for check, future in list(self._waiters):
                if not future.done() and check(line):
                    future.set_result(line)
                    self._waiters.remove((check, future))

    async def _register(self, session: Session) -> None:
        nicks = [self.label] + [f"{self.label[:26]}_{n}" for n in range(1, 6)]
        welcome = self._expect(lambda m: m.command == "001")
        self.send("CAP LS 302")
        self.send("CAP REQ :" + " ".join(CAPS))
        self.send(f"NICK {nicks[0]}")
        self.send(f"USER {self.label} 0 * :chaos member")
        self.send("CAP END")
        taken = self._expect(lambda m: m.command in ("433", "436"))
        tried = 0
        async with asyncio.timeout(8.0):
            while not welcome.done():
                done, _ = await asyncio.wait({welcome, taken}, return_when=asyncio.FIRST_COMPLETED)
                if welcome in done:
                    break
                # The nick is still held (its old connection is not gone everywhere yet).
                tried += 1
                if tried >= len(nicks):
                    raise ConnectionError(f"no free nick among {nicks}")
                taken = self._expect(lambda m: m.command in ("433", "436"))
                self.send(f"NICK {nicks[tried]}")
        line = welcome.result()
        session.nick = line.params[0]
        session.server = line.source or ""
        if not taken.done():
            taken.cancel()

    async def _join(self, session: Session) -> None:
        end = self._expect(lambda m: m.command == "366" and m.params[1:2] == [self.channel])
        self.send(f"JOIN {self.channel}")
        line = await asyncio.wait_for(end, 8.0)
        del line
        session.joined = clock()
        if self.first_join_ts is None:
            self.first_join_ts = time.time() - 1.0

    async def _catch_up(self, session: Session) -> None:
        """CHATHISTORY AFTER the last msgid seen (paged), with no lookback: as the web page."""
        await self._after()

    def _caught_up(self, session: Session) -> None:
        """The live lines the catch-up ran beside are seen without a gap now."""
        session.caught_up = clock()
        ts, msgid = self._live_newest
        if msgid is not None and ts >= self.last_ts:
            self.last_ts, self.last_msgid = ts, msgid
        self._live_newest = (0.0, None)

    async def _after(self) -> None:
        session = self.sessions[-1]
        ref = (
            f"msgid={self.last_msgid}"
            if self.last_msgid
            else f"timestamp={iso(self.first_join_ts or time.time() - 60)}"
        )
        for _ in range(MAX_PAGES):
            lines = await self._history(f"AFTER {self.channel} {ref}")
            if lines is None:  # unknown msgid here: fall back to its time
                if ref.startswith("timestamp="):
                    return
                ref = f"timestamp={iso(self.last_ts - 1.0)}"
                continue
            session.history_fetched += len(lines)
            if len(lines) < HISTORY_PAGE:
                return
            ref = f"msgid={lines[-1].tags['msgid']}"
        # What lies past the last page is missed: counted, so a loss it causes shows why.
        self.failures[f"catch-up: more than {MAX_PAGES} pages"] += 1

    async def _history(self, query: str) -> list[Msg] | None:
        def end_or_fail(m: Msg) -> bool:
            if m.command == "FAIL" and m.params[:1] == ["CHATHISTORY"]:
                return True
            ref = m.params[0] if m.command == "BATCH" and m.params else ""
            return ref.startswith("-") and ref[1:] in self._history_refs

        for _ in range(MAX_PAGES):
            done = self._expect(end_or_fail)
            self.send(f"CHATHISTORY {query} {HISTORY_PAGE}")
            line = await asyncio.wait_for(done, 8.0)
            if line.command != "FAIL":
                return self._batch_lines.pop(line.params[0][1:], [])
            if line.params[1:2] != ["RATE_LIMITED"]:
                return None
            # As the web page: the same page again once the budget allows, not a fallback.
            self.failures["catch-up: rate limited"] += 1
            wait = re.search(r"try again in (\d+)s", line.params[-1])
            await asyncio.sleep(float(wait.group(1)) if wait else 2.0)
        raise TimeoutError(f"CHATHISTORY {query}: still rate limited")

    # -- what arrives

    def _handle(self, line: Msg, session: Session) -> None:
        command = line.command
        if command == "BATCH" and line.params:
            ref = line.params[0]
            if ref.startswith("+") and line.params[1:2] == ["chathistory"]:
                self._history_refs.add(ref[1:])
                self._batch_lines[ref[1:]] = []
        elif command == "PRIVMSG" and line.params[:1] == [self.channel]:
            self._message(line, session)

    def _message(self, line: Msg, session: Session) -> None:
        msgid = line.tags.get("msgid")
        if not msgid:
            self.errors.append(f"a message without msgid: {line.raw}")
            return
        batch = line.tags.get("batch")
        now = clock()
        live = batch is None or batch not in self._history_refs
        if live:
            session.live[msgid] += 1
            if line.nick == session.nick:
                self._acknowledged(line, session, now)
        else:
            page = self._batch_lines.setdefault(str(batch), [])
            if any(m.tags.get("msgid") == msgid for m in page):
                self.history_dups += 1
            page.append(line)
        # The resume point moves only past what is seen with no gap: a line that
        # came live before the catch-up reached it waits (as on the web page), or a
        # connection lost mid-catch-up would resume past the pages still to come.
        ts = parse_ts(line.tags.get("time", ""))
        if live and session.caught_up is None:
            if ts >= self._live_newest[0]:
                self._live_newest = (ts, msgid)
        elif ts >= self.last_ts:
            self.last_ts, self.last_msgid = ts, msgid
        if msgid in self.have:
            if live and session.live[msgid] > 1:
                return  # a live duplicate: counted per session, reported as an error
            self.overlaps += 1
            return
        self.have[msgid] = now
        if line.last.partition(" ")[0] in self.ledger.sent_by:  # a member's (bystanders talk)
            known = self.ledger.texts.setdefault(msgid, line.last)
            if known != line.last:
                self.ledger.clashes.setdefault(msgid, {known}).add(line.last)

    def _acknowledged(self, line: Msg, session: Session, now: float) -> None:
        label, _, seq = line.last.partition(" ")
        if label != self.label or not seq.isdigit():
            return
        msgid = line.tags["msgid"]
        if msgid not in self.ledger.acked:
            self.ledger.acked[msgid] = Acked(msgid, self.label, int(seq), session.server, now)

    def live_duplicates(self) -> list[tuple[int, str, int]]:
        """(session, msgid, times) for every msgid one connection received live twice."""
        return [(s.number, msgid, n) for s in self.sessions for msgid, n in s.live.items() if n > 1]


class Sender:
    """Makes a member talk: ``rate`` lines a second, at most ``limit`` lines."""

    def __init__(self, member: Member, rate: float, limit: int) -> None:
        self.member = member
        self.rate = rate
        self.limit = limit
        self.seq = 0

    async def run(self, until: float) -> None:
        member = self.member
        rng = random.Random(f"send {member.label}")
        while self.seq < self.limit and clock() < until:
            if member.joined.is_set():
                self.seq += 1
                if member.send(f"PRIVMSG {member.channel} :{member.label} {self.seq}"):
                    member.ledger.sent += 1
                    member.ledger.sent_by.setdefault(member.label, []).append(self.seq)
            await asyncio.sleep(rng.uniform(0.5, 1.5) / self.rate)


# ---------------------------------------------------------------- running it


async def start_members(members: Iterable[Member], timeout: float = 20.0) -> None:
    """Connect members one after another (so a front door spreads them), all joined."""
    for member in members:
        member.start()
        await member.wait_joined(timeout)


async def traffic(senders: list[Sender], seconds: float) -> None:
    until = clock() + seconds
    await asyncio.gather(*(s.run(until) for s in senders))


async def settle(members: list[Member], ledger: Ledger, timeout: float) -> float:
    """Wait until every member is joined and has every acknowledged message (or
    ``timeout``); the seconds it took. The accounting explains any shortfall."""
    started = clock()
    await within(
        lambda: all(m.joined.is_set() and ledger.acked.keys() <= m.have.keys() for m in members),
        timeout,
        poll=0.1,
    )
    return clock() - started


# ---------------------------------------------------------------- accounting


@dataclass
class Report:
    acked: int
    sent: int
    members: int
    lost: dict[str, list[str]]  # member -> msgids it lacks
    duplicated: dict[str, list[tuple[int, str, int]]]
    overlaps: int
    history_dups: int
    unacked: dict[str, list[int]]
    #: What became of the lines never acknowledged: "everywhere" (every member
    #: present at the end has it), "nowhere", "partly".
    unacked_fate: Counter[str]
    #: Lines (acknowledged or not) that arrived under more than one msgid: a
    #: member sees those twice, whatever it does by msgid.
    restamped: dict[str, list[str]]
    #: msgids that carried two different lines.
    clashes: dict[str, set[str]]
    reconnections: int
    #: Members away (not joined) at the end -> acknowledged messages they could not fetch.
    away: dict[str, int]
    #: Every member's ended connection attempts, by stage and exception.
    failures: Counter[str]
    errors: dict[str, list[str]]
    text: str

    @property
    def ok(self) -> bool:
        return not (
            self.lost or self.duplicated or self.history_dups or self.restamped or self.clashes
        )

    def summary(self) -> str:
        lost = sum(len(v) for v in self.lost.values())
        dups = sum(len(v) for v in self.duplicated.values())
        return (
            f"{self.acked} acknowledged of {self.sent} sent, {self.members} members, "
            f"{self.reconnections} reconnections: lost {lost}, duplicated {dups}, "
            f"history repeats {self.history_dups}, under two msgids {len(self.restamped)}, "
            f"msgids with two texts {len(self.clashes)}, "
            f"overlaps removed by msgid {self.overlaps}, "
            f"never acknowledged {sum(len(v) for v in self.unacked.values())}"
            f"{self._fate()}, "
            f"members away at the end {len(self.away)} (missing {sum(self.away.values())} "
            "acknowledged after they last caught up, not counted as lost)"
        )

    def _fate(self) -> str:
        if not self.unacked_fate:
            return ""
        order = ("everywhere", "nowhere", "partly")
        return " (arrived " + ", ".join(f"{k} {self.unacked_fate[k]}" for k in order) + ")"

    def failure_summary(self) -> str:
        """The members' ended connection attempts, most frequent first."""
        return ", ".join(f"{k} {n}" for k, n in self.failures.most_common()) or "none"


def account(
    ledger: Ledger,
    members: list[Member],
    stored: dict[str, set[str]] | None = None,
    title: str = "",
) -> Report:
    """Count every acknowledged message per member; explain every loss and duplicate."""
    acked = ledger.acked
    lost: dict[str, list[str]] = {}
    duplicated: dict[str, list[tuple[int, str, int]]] = {}
    lines: list[str] = []
    away: dict[str, int] = {}
    for member in members:
        missing = sorted(set(acked) - member.have.keys(), key=lambda m: acked[m].at)
        if member.away_since() is not None:
            # Away at the end: it owes only what was acknowledged before it
            # last came back and caught up (what came later it never had the
            # chance to fetch); the rest is counted apart, not as lost.
            back = max((s.caught_up for s in member.sessions if s.caught_up), default=0.0)
            later = [m for m in missing if acked[m].at > back]
            if later:
                away[member.label] = len(later)
            missing = [m for m in missing if acked[m].at <= back]
        if missing:
            lost[member.label] = missing
        dups = member.live_duplicates()
        if dups:
            duplicated[member.label] = dups
    for label, msgids in lost.items():
        member = next(m for m in members if m.label == label)
        lines.append(f"{member.describe()} lacks {len(msgids)} acknowledged messages:")
        lines.extend(_where_missed(member, msgids, acked, ledger))
        for msgid in msgids[:8]:
            a = acked[msgid]
            where = ""
            if stored is not None:
                holders = sorted(s for s, ids in stored.items() if msgid in ids)
                where = f"; in the history of: {', '.join(holders) or 'no live server'}"
            lines.append(
                f"  {msgid} '{a.sender} {a.seq}' acked by {a.sender} on {a.server} "
                f"at {ledger.rel(a.at)}{where}"
            )
        if len(msgids) > 8:
            lines.append(f"  ... and {len(msgids) - 8} more")
    for label, count in away.items():
        # Which stage its last attempt was in says whether it hangs or keeps failing.
        member = next(m for m in members if m.label == label)
        lines.append(
            f"{member.describe()} is away at the end ({member._stage()}, "
            f"{count} acknowledged since it last caught up; failures "
            f"{dict(member.failures) or 'none'}; errors {member.errors[-3:] or 'none'})"
        )
    for label, dups in duplicated.items():
        member = next(m for m in members if m.label == label)
        lines.append(f"{member.describe()} received live twice on one connection:")
        for number, msgid, times in dups[:8]:
            sender = acked[msgid].sender if msgid in acked else "?"
            lines.append(f"  {msgid} (from {sender}) {times}x on connection {number}")
    errors = {m.label: m.errors for m in members if m.errors}
    acked_seqs = {(a.sender, a.seq) for a in acked.values()}
    unacked = {
        sender: [n for n in seqs if (sender, n) not in acked_seqs]
        for sender, seqs in ledger.sent_by.items()
    }
    unacked = {k: v for k, v in unacked.items() if v}
    for sender, seqs in unacked.items():
        talker = next((m for m in members if m.label == sender), None)
        where = talker.describe() if talker else sender
        lines.append(f"never acknowledged to {where}: lines {_ranges(seqs)} of {sender}")
    by_text: dict[str, list[str]] = {}
    for msgid, text in ledger.texts.items():
        by_text.setdefault(text, []).append(msgid)
    restamped = {text: ids for text, ids in by_text.items() if len(ids) > 1}
    lines.extend(
        _listed(
            [
                f"'{text}' arrived under {len(ids)} msgids: {', '.join(ids)}"
                for text, ids in restamped.items()
            ]
            + [
                f"{msgid} carried {len(texts)} lines: {sorted(texts)}"
                for msgid, texts in ledger.clashes.items()
            ]
        )
    )
    fate, fate_lines = _unacked_fate(by_text, members, unacked)
    lines.extend(_listed(fate_lines))
    report = Report(
        acked=len(acked),
        sent=ledger.sent,
        members=len(members),
        lost=lost,
        duplicated=duplicated,
        overlaps=sum(m.overlaps for m in members),
        history_dups=sum(m.history_dups for m in members),
        unacked=unacked,
        unacked_fate=fate,
        restamped=restamped,
        clashes=dict(ledger.clashes),
        reconnections=sum(max(0, len(m.sessions) - 1) for m in members),
        away=away,
        failures=sum((m.failures for m in members), Counter()),
        errors=errors,
        text="",
    )
    events = [f"  {ledger.rel(at)} {what}" for at, what in ledger.timeline]
    head = f"{title}: {report.summary()}" if title else report.summary()
    report.text = "\n".join([head, *lines, "timeline:", *events])
    if errors:
        report.text += "\nmember errors: " + "; ".join(f"{k}: {v[:3]}" for k, v in errors.items())
    return report


def _listed(items: list[str], most: int = 8) -> list[str]:
    """The first ``most`` of ``items``, and how many more there were."""
    if len(items) <= most:
        return items
    return [*items[:most], f"  ... and {len(items) - most} more"]


def _unacked_fate(
    by_text: dict[str, list[str]],
    members: list[Member],
    unacked: dict[str, list[int]],
) -> tuple[Counter[str], list[str]]:
    """Where each line never acknowledged to its sender arrived, found by its text.

    No echo reached the sender (its connection went first), so the guarantee
    says nothing of these lines; but one that reached some members and not
    others is a split view worth naming.
    """
    if not unacked:
        return Counter(), []
    present = [m for m in members if m.away_since() is None]
    fate: Counter[str] = Counter()
    lines: list[str] = []
    for sender, seqs in unacked.items():
        for seq in seqs:
            msgids = by_text.get(f"{sender} {seq}", [])
            holders = {m.label for m in present if any(i in m.have for i in msgids)}
            if not holders:
                fate["nowhere"] += 1
            elif len(holders) == len(present):
                fate["everywhere"] += 1
            else:
                fate["partly"] += 1
                without = sorted(m.label for m in present if m.label not in holders)
                lines.append(
                    f"  '{sender} {seq}' never acknowledged, arrived at {len(holders)} of "
                    f"{len(present)} members (not {', '.join(without[:8])})"
                )
    return fate, lines


def _where_missed(
    member: Member, msgids: list[str], acked: dict[str, Acked], ledger: Ledger
) -> list[str]:
    """What a member lacks, by the connection it had when each was acknowledged.

    Lacking lines acknowledged while it was connected and caught up points
    at its server's live delivery; lines of a gap between connections point
    at a catch-up.
    """
    groups: dict[str, list[Acked]] = {}
    for msgid in msgids:
        a = acked[msgid]
        session = next(
            (s for s in member.sessions if s.opened <= a.at <= (s.closed or float("inf"))),
            None,
        )
        if session is None:
            key = "between connections"
        else:
            ready = ledger.rel(session.caught_up) if session.caught_up else "never"
            key = f"while on {session.server} (connection {session.number}, caught up {ready})"
        groups.setdefault(key, []).append(a)
    out = []
    for key, group in groups.items():
        origins = Counter(a.server for a in group)
        span = f"{ledger.rel(group[0].at)}..{ledger.rel(group[-1].at)}"
        by = ", ".join(f"{server} {n}" for server, n in origins.most_common())
        out.append(f"  {len(group)} acknowledged {span} {key}; acked on {by}")
    return out


def _ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 7]`` as ``1-3, 7``."""
    out: list[str] = []
    for n in sorted(numbers):
        if out and out[-1].split("-")[-1] == str(n - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ", ".join(out)


async def history_of(opener: Opener, channel: str = CHANNEL, since: float = 0.0) -> set[str]:
    """Every msgid a server's history holds for ``channel`` since ``since`` (epoch seconds)."""
    client = await asyncio.wait_for(opener(), 5.0)
    got: set[str] = set()
    nick = f"audit{random.randrange(10**6)}"
    try:
        ref = f"timestamp={iso(since)}"
        async with asyncio.timeout(15.0):
            await client.register(nick, AUDIT_CAPS, user="audit", realname="audit", timeout=15)
            for _ in range(200):
                await client.send(f"CHATHISTORY AFTER {channel} {ref} {HISTORY_PAGE}")
                page = await client.collect_until(_history_end, timeout=15)
                ids = [m.tags["msgid"] for m in page if m.command == "PRIVMSG"]
                got.update(ids)
                if len(ids) < HISTORY_PAGE:
                    break
                ref = f"msgid={ids[-1]}"
    finally:
        client.abort()
    return got


def _history_end(m: Msg) -> bool:
    return (m.command == "BATCH" and m.params[0].startswith("-")) or m.command == "FAIL"


#: The nick of an accounted member (``c12``, or ``c12_1`` while its old one is held);
#: anything else in a channel is a bystander or a probe.
MEMBER_NICK = re.compile(r"c\d+(_\d)?")


def _natural(nick: str) -> tuple[int, str]:
    number, _, suffix = nick[1:].partition("_")
    return int(number), suffix


async def views(openers: dict[str, Opener], channel: str = CHANNEL) -> str:
    """Each server's own picture (MAP, and NAMES of the channel), for a failure message."""
    out = []
    for name, opener in openers.items():
        try:
            client = await asyncio.wait_for(opener(), 5.0)
        except UNANSWERED as exc:
            out.append(f"{name}: no answer ({exc!r})")
            continue
        nick = f"view{random.randrange(10**6)}"
        try:
            async with asyncio.timeout(5.0):
                await client.register(nick, user="v", realname="v")
                await client.send("MAP")
                await client.send(f"NAMES {channel}")
                lines = await client.collect_until("366")
            shown = [m.last for m in lines if m.command == "006"]
            names = [n.lstrip("@+") for m in lines if m.command == "353" for n in m.last.split()]
            # Members by name; bystanders (thousands in a soak) only counted.
            members = sorted((n for n in names if MEMBER_NICK.fullmatch(n)), key=_natural)
            out.append(
                f"{name}: MAP {' | '.join(shown)}; NAMES {len(names)} names, "
                f"members {' '.join(members)}"
            )
        except UNANSWERED as exc:
            out.append(f"{name}: {exc!r}")
        finally:
            client.abort()
    return "\n".join(out)


async def audit(
    openers: dict[str, Opener], ledger: Ledger, since: float, timeout: float = 20.0
) -> dict[str, set[str]]:
    """Every server's history of the channel, once each holds every acknowledged
    message (a restarted server catches up when its links come back), or at ``timeout``."""
    stored: dict[str, set[str]] = {}

    async def complete() -> bool:
        for name, opener in openers.items():
            try:
                stored[name] = await history_of(opener, since=since)
            except UNANSWERED as exc:
                ledger.note(f"audit: {name} did not answer: {exc!r}")
                stored[name] = set()
        return all(ledger.acked.keys() <= ids for ids in stored.values())

    await within(complete, timeout, poll=0.5)
    return stored


async def all_acknowledged(ledger: Ledger, timeout: float) -> bool:
    """Wait until every line sent has been acknowledged (or ``timeout``)."""
    return await within(lambda: len(ledger.acked) >= ledger.sent, timeout, poll=0.1)


def tcp_opener(host: str, port: int) -> Opener:
    """Connect straight to ``host:port`` (a server, or the network's front door)."""
    return lambda: IrcClient.tcp(port, host)


def recovery_times(
    ledger: Ledger, members: list[Member], killed_at: float, server: str
) -> dict[str, float | None]:
    """Per member of ``server`` at ``killed_at``: seconds until it was back and caught up.

    Back: reconnected, registered and rejoined. Caught up: it holds every
    message acknowledged to someone else before it was back. None: never.
    """
    out: dict[str, float | None] = {}
    for member in members:
        before = [s for s in member.sessions if s.opened <= killed_at]
        if not before or before[-1].server != server:
            continue
        after = [s for s in member.sessions if s.opened > killed_at and s.joined is not None]
        if not after:
            out[member.label] = None
            continue
        back = after[0]
        assert back.joined is not None
        owed = [
            a
            for a in ledger.acked.values()
            if a.at <= back.joined and a.sender != member.label and a.at >= ledger.started
        ]
        arrivals = [member.have.get(a.msgid) for a in owed]
        if any(t is None for t in arrivals):
            out[member.label] = None
            continue
        done = max([back.caught_up or back.joined, *(t for t in arrivals if t is not None)])
        out[member.label] = done - killed_at
    return out


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1), nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


_counter = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_counter)}"
