"""A hypothesis state machine over one ChatCore: clients doing random commands.

A few clients NICK, JOIN, PART, PRIVMSG, MODE, KICK, TOPIC, QUIT (and come
back) in any order; after every step the core's indexes agree with each
other and with what the clients were told.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from chatnet_node.irc.names import casefold
from tests.corekit import CoreServer, CoreUser

NICKS = ["ann", "bob", "cy", "dee"]
CHANNELS = ["#a", "#b", "#c"]
ci = st.sampled_from(range(len(NICKS)))
channels = st.sampled_from(CHANNELS)


def _prefix_nick(line: str) -> str:
    words = line.split(" ")
    if words[0].startswith("@"):
        words = words[1:]
    return words[0][1:].split("!", 1)[0] if words[0].startswith(":") else ""


def _words(line: str) -> list[str]:
    words = line.split(" ")
    return words[1:] if words[0].startswith("@") else words


class CoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.server = CoreServer()
        self.users: list[CoreUser | None] = [None] * len(NICKS)
        # per user: the channels it saw itself join, and who it saw join them
        self.seen: list[dict[str, set[str]]] = [{} for _ in NICKS]
        self.serial = 0
        for index in range(len(NICKS)):
            self._connect(index)

    def _connect(self, index: int) -> None:
        self.serial += 1
        self.users[index] = self.server.user(f"{NICKS[index]}{self.serial}")
        self.seen[index] = {}

    def _send(self, index: int, line: str) -> None:
        user = self.users[index]
        if user is None:
            return
        user.send(line)
        self._read_all()

    def _read_all(self) -> None:
        for index, user in enumerate(self.users):
            if user is None:
                continue
            me = casefold(user.nick)
            seen = self.seen[index]
            for line in user.lines():
                words = _words(line)
                source = casefold(_prefix_nick(line))
                if len(words) < 3:
                    continue
                command, target = words[1], casefold(words[2].lstrip(":"))
                if command == "JOIN":
                    if source == me:
                        seen[target] = set()
                    seen.setdefault(target, set()).add(source)
                elif command == "353" and len(words) > 5:  # NAMES after our JOIN
                    names = " ".join(words[5:]).lstrip(":").split()
                    room = casefold(words[4])
                    seen.setdefault(room, set()).update(casefold(n.lstrip("~&@%+")) for n in names)
                elif command in ("PART", "KICK"):
                    gone = source if command == "PART" else casefold(words[3])
                    if gone == me:
                        seen.pop(target, None)
                    else:
                        seen.get(target, set()).discard(gone)
                elif command == "QUIT":
                    for members in seen.values():
                        members.discard(source)
                elif command == "NICK":
                    for members in seen.values():
                        if source in members:
                            members.discard(source)
                            members.add(target)
                    if source == me:
                        me = target
                elif command == "PRIVMSG" and target.startswith("#") and source != me:
                    assert source in seen.get(target, set()), (line, seen)
            if user.closed:
                self.users[index] = None

    @rule(index=ci, channel=channels)
    def join(self, index: int, channel: str) -> None:
        self._send(index, f"JOIN {channel}")

    @rule(index=ci, channel=channels)
    def part(self, index: int, channel: str) -> None:
        self._send(index, f"PART {channel} :bye")

    @rule(index=ci, channel=channels, text=st.sampled_from(["hi", ":)", "a b c"]))
    def privmsg(self, index: int, channel: str, text: str) -> None:
        self._send(index, f"PRIVMSG {channel} :{text}")

    @rule(index=ci, other=ci, channel=channels)
    def kick(self, index: int, other: int, channel: str) -> None:
        victim = self.users[other]
        if victim is not None:
            self._send(index, f"KICK {channel} {victim.nick} :out")

    @rule(index=ci, channel=channels, mode=st.sampled_from(["+m", "-m", "+i", "-t", "+t"]))
    def mode(self, index: int, channel: str, mode: str) -> None:
        self._send(index, f"MODE {channel} {mode}")

    @rule(index=ci, other=ci, channel=channels, mode=st.sampled_from(["+o", "-o", "+v"]))
    def member_mode(self, index: int, other: int, channel: str, mode: str) -> None:
        target = self.users[other]
        if target is not None:
            self._send(index, f"MODE {channel} {mode} {target.nick}")

    @rule(index=ci, channel=channels)
    def topic(self, index: int, channel: str) -> None:
        self._send(index, f"TOPIC {channel} :topic by {index}")

    @rule(index=ci, suffix=st.sampled_from(["x", "y", "Z"]))
    def nick(self, index: int, suffix: str) -> None:
        self.serial += 1
        self._send(index, f"NICK {NICKS[index]}{suffix}{self.serial}")

    @rule(index=ci, other=ci)
    def nick_collision(self, index: int, other: int) -> None:
        target = self.users[other]
        if target is not None:
            self._send(index, f"NICK {target.nick.upper()}")

    @rule(index=ci)
    def quit_and_come_back(self, index: int) -> None:
        self._send(index, "QUIT :later")
        assert self.users[index] is None
        self._connect(index)
        self._read_all()

    @invariant()
    def nick_index_matches_the_clients(self) -> None:
        core = self.server.core
        live = [u for u in self.users if u is not None]
        assert {casefold(u.nick): u.client for u in live} == core.nicks
        for user in live:
            assert user.client in core.clients

    @invariant()
    def channels_and_members_agree(self) -> None:
        core = self.server.core
        for folded, channel in core.channels.items():
            assert channel.members, f"empty channel {channel.name}"
            assert casefold(channel.name) == folded
            for member in channel.members:
                assert member.channels.get(folded) is channel
        for user in self.users:
            if user is None:
                continue
            for folded, channel in user.client.channels.items():
                assert core.channels.get(folded) is channel
                assert user.client in channel.members

    @invariant()
    def clients_saw_who_is_in_their_channels(self) -> None:
        for index, user in enumerate(self.users):
            if user is None:
                continue
            mine = {folded for folded in user.client.channels}
            assert set(self.seen[index]) == mine, (self.seen[index], mine)


CoreMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
test_core_state_machine = CoreMachine.TestCase
