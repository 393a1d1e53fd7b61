"""A tag reaches a client only under the capability that carries it.

``time`` under server-time, ``msgid`` and client-only tags under
message-tags, ``label`` and ``batch`` only to clients that asked for
labeled-response and batch; a client that negotiated nothing gets plain
lines (IRCv3 message-tags, server-time, labeled-response, batch).
"""

from __future__ import annotations

import re

import pytest

from tests.corekit import CoreServer, CoreUser

PLAIN = ":alice!~alice@127.0.0.1 PRIVMSG #c :hi there"
TIME = r"time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
MSGID = r"msgid=[\w-]+"


def channel_pair(caps: str) -> tuple[CoreUser, CoreUser]:
    server = CoreServer()
    alice = server.user("alice", f"echo-message {caps}".strip())
    bob = server.user("bob", caps)
    for user in (alice, bob):
        user.send("JOIN #c")
    for user in (alice, bob):
        user.lines()
    return alice, bob


@pytest.mark.parametrize(
    ("caps", "pattern"),
    [
        ("", re.escape(PLAIN)),
        ("server-time", f"@{TIME} " + re.escape(PLAIN)),
        ("message-tags", f"@{MSGID} " + re.escape(PLAIN)),
        ("message-tags server-time", f"@{TIME};{MSGID} " + re.escape(PLAIN)),
        ("batch labeled-response", re.escape(PLAIN)),
    ],
)
def test_a_message_carries_only_the_tags_its_reader_negotiated(caps: str, pattern: str) -> None:
    alice, bob = channel_pair(caps)
    alice.send("PRIVMSG #c :hi there")
    (echo,) = alice.lines()
    (delivered,) = bob.lines()
    assert re.fullmatch(pattern, echo), echo
    assert re.fullmatch(pattern, delivered), delivered


def test_a_labelled_echo_carries_the_label_and_nothing_unasked() -> None:
    alice, _ = channel_pair("batch labeled-response")
    assert alice.ask("@label=q1 PRIVMSG #c :hi there") == [f"@label=q1 {PLAIN}"]
    batch = alice.ask("@label=q2 WHOIS alice")
    assert re.fullmatch(r"@label=q2 :unit BATCH \+(\w+) labeled-response", batch[0])
    ref = batch[0].split("+")[1].split()[0]
    assert all(line.startswith(f"@batch={ref} :unit 3") for line in batch[1:-1]), batch
    assert batch[-1] == f":unit BATCH -{ref}"


def test_history_in_a_batch_without_message_tags_has_only_the_batch_tag() -> None:
    alice, bob = channel_pair("batch")
    alice.send("PRIVMSG #c :hi there")
    bob.lines()
    lines = bob.ask("CHATHISTORY LATEST #c * 10")
    ref = lines[0].split("+")[1].split()[0]
    assert lines == [
        f":unit BATCH +{ref} chathistory #c",
        f"@batch={ref} {PLAIN}",
        f":unit BATCH -{ref}",
    ]
