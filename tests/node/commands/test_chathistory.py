"""CHATHISTORY line by line on the core (IRCv3 chathistory): every subcommand,
both kinds of reference, private conversations, TARGETS, errors, a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatnet_node.irc import remote
from tests.corekit import CoreServer, CoreUser

CAPS = "batch server-time message-tags echo-message draft/chathistory"


@pytest.fixture
def server() -> CoreServer:
    return CoreServer(name="test", limits={"floodBurst": 1000})  # many requests, no waits


def say(server: CoreServer, user: CoreUser, target: str, *texts: str) -> list[dict[str, str]]:
    """Each text sent 10 ms apart (distinct server-times); the echoes' tags."""
    tags = []
    for text in texts:
        server.clock.now += 0.01
        (echo,) = [line for line in user.ask(f"PRIVMSG {target} :{text}") if "PRIVMSG" in line]
        tags.append(dict(item.split("=", 1) for item in echo[1:].split(" ", 1)[0].split(";")))
    return tags


def history(user: CoreUser, request: str) -> tuple[str, list[str]]:
    """A CHATHISTORY request: the batch's opening line, and the texts in it."""
    lines = user.ask(request)
    opening, *body, closing = lines
    ref = opening.split()[2][1:]
    assert closing == f":test BATCH -{ref}", lines
    assert all(f";batch={ref} :" in line for line in body), lines
    return opening, [line.rsplit(" :", 1)[1] for line in body]


def test_chathistory_subcommands(server: CoreServer) -> None:
    alice = server.user("alice", CAPS)
    alice.ask("JOIN #hist")
    tags = say(server, alice, "#hist", *(f"m {i}" for i in range(10)))
    ids = [t["msgid"] for t in tags]
    times = [t["time"] for t in tags]
    assert len(set(ids)) == 10 and len(set(times)) == 10

    opening, texts = history(alice, "CHATHISTORY LATEST #hist * 3")
    assert opening.endswith(" chathistory #hist")
    assert texts == ["m 7", "m 8", "m 9"]
    opening, line, _ = alice.ask("CHATHISTORY LATEST #hist * 1")
    ref = opening.split()[2][1:]
    assert line == (
        f"@time={times[9]};msgid={ids[9]};batch={ref} :alice!~alice@127.0.0.1 PRIVMSG #hist :m 9"
    )

    def after(ref: str, count: int = 10, sub: str = "AFTER") -> list[str]:
        return history(alice, f"CHATHISTORY {sub} #hist {ref} {count}")[1]

    assert after(f"msgid={ids[6]}", sub="LATEST") == ["m 7", "m 8", "m 9"]
    assert after(f"msgid={ids[5]}", 2, "BEFORE") == ["m 3", "m 4"]
    assert after(f"msgid={ids[5]}", 2) == ["m 6", "m 7"]
    assert after(f"msgid={ids[5]}", 3, "AROUND") == ["m 4", "m 5", "m 6"]
    assert after(f"msgid={ids[2]} msgid={ids[6]}", sub="BETWEEN") == ["m 3", "m 4", "m 5"]
    assert after(f"msgid={ids[6]} msgid={ids[2]}", 2, "BETWEEN") == ["m 4", "m 5"]
    # Timestamp references are exclusive too.
    assert after(f"timestamp={times[7]}") == ["m 8", "m 9"]
    assert after(f"timestamp={times[2]}", sub="BEFORE") == ["m 0", "m 1"]
    assert after(f"timestamp={times[7]}", sub="LATEST") == ["m 8", "m 9"]
    between = f"timestamp={times[0]} timestamp={times[9]}"
    assert after(between, 100, "BETWEEN") == [f"m {i}" for i in range(1, 9)]
    backwards = f"timestamp={times[9]} timestamp={times[0]}"
    assert after(backwards, 3, "BETWEEN") == ["m 6", "m 7", "m 8"]
    assert after(f"timestamp={times[4]} timestamp={times[4]}", sub="BETWEEN") == []
    assert len(after(f"timestamp={times[5]}", 1, "AROUND")) == 1

    assert alice.ask("CHATHISTORY LATEST #hist * notanumber") == [
        ":test FAIL CHATHISTORY INVALID_PARAMS LATEST notanumber :Invalid limit"
    ]
    assert alice.ask("CHATHISTORY BEFORE #hist msgid=doesnotexist 5") == [
        ":test FAIL CHATHISTORY INVALID_PARAMS BEFORE #hist msgid=doesnotexist "
        ":Invalid message reference"
    ]
    assert alice.ask("CHATHISTORY FOO #hist * 5") == [
        ":test FAIL CHATHISTORY INVALID_PARAMS FOO :Unknown subcommand"
    ]


def test_chathistory_private_messages_and_targets(server: CoreServer) -> None:
    alice, bob = server.user("alice", CAPS), server.user("bob", CAPS)
    alice.ask("JOIN #a", "JOIN #b")
    say(server, alice, "#a", "in a")
    first = say(server, alice, "bob", "hi bob")
    say(server, bob, "alice", "hi alice")
    say(server, alice, "#b", "in b")
    bob.lines()
    lines = bob.ask("CHATHISTORY LATEST alice * 10")
    assert [line.split(" ", 1)[1] for line in lines[1:-1]] == [
        ":alice!~alice@127.0.0.1 PRIVMSG bob :hi bob",
        ":bob!~bob@127.0.0.1 PRIVMSG alice :hi alice",
    ]
    lines = alice.ask(
        f"CHATHISTORY TARGETS timestamp={first[0]['time']} timestamp=2999-01-01T00:00:00.000Z 10"
    )
    assert lines[0].endswith(" draft/chathistory-targets")
    found = [line.split()[4] for line in lines[1:-1]]
    assert set(found) == {"bob", "#b"}, "#a's message came before the start"
    assert all(line.split()[3] == "TARGETS" for line in lines[1:-1])


def test_chathistory_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    before = CoreServer(name="test", history=path)
    alice = before.user("alice", CAPS)
    alice.ask("JOIN #keep")
    echoes = say(before, alice, "#keep", "before restart 1", "before restart 2")
    before.core.history.close()
    after = CoreServer(name="test", history=path)
    bob = after.user("bob", CAPS)
    lines = bob.ask("CHATHISTORY LATEST #keep * 10")[1:-1]
    assert [line.rsplit(" :", 1)[1] for line in lines] == ["before restart 1", "before restart 2"]
    for line, tags in zip(lines, echoes, strict=True):
        assert line.startswith(f"@time={tags['time']};msgid={tags['msgid']};batch=")
    # Message ids stay unique across the restart.
    bob.ask("JOIN #keep")
    (again,) = say(after, bob, "#keep", "after restart")
    assert again["msgid"] not in {tags["msgid"] for tags in echoes}


def test_chathistory_without_batch_sends_plain_lines(server: CoreServer) -> None:
    alice = server.user("alice", "echo-message")
    alice.ask("JOIN #plain", "PRIVMSG #plain :one", "PRIVMSG #plain :two")
    assert alice.ask("CHATHISTORY LATEST #plain * 10") == [
        ":alice!~alice@127.0.0.1 PRIVMSG #plain one",
        ":alice!~alice@127.0.0.1 PRIVMSG #plain two",
    ]


def test_after_pages_through_a_window_longer_than_a_page(server: CoreServer) -> None:
    """A stalled server held the horizon back over 250 messages: AFTER the last
    one starts at that horizon, and paging on with AFTER each page's last
    msgid reaches every message, then moves past the reference."""
    alice, reader = server.user("alice", CAPS), server.user("reader", CAPS)
    alice.ask("JOIN #hist")
    reader.ask("JOIN #hist")
    server.core.ids.hear("stalled", server.clock.now)  # its last clock event, never newer
    texts = [f"m {i}" for i in range(250)] + ["later 0", "later 1"]
    msgid_of = {
        text: tags["msgid"]
        for text, tags in zip(texts, say(server, alice, "#hist", *texts), strict=True)
    }
    reference = msgid_of["m 249"]

    pages = [history(reader, f"CHATHISTORY AFTER #hist msgid={reference} 100")[1]]
    assert pages[0] == texts[:100]  # from the horizon, in order
    while len(pages[-1]) == 100 and len(pages) < 10:
        ref = msgid_of[pages[-1][-1]]
        pages.append(history(reader, f"CHATHISTORY AFTER #hist msgid={ref} 100")[1])
    assert [text for page in pages for text in page] == texts  # each once, then past it

    # A connection that did not get the previous page (a fresh one, another
    # server) looks back again, once; from then on it is paging too.
    other = server.user("other", CAPS)
    other.ask("JOIN #hist")
    middle = msgid_of["m 99"]
    looked_back = history(other, f"CHATHISTORY AFTER #hist msgid={middle} 100")[1]
    assert looked_back == [*texts[:99], "m 100"]  # the reference itself is not repeated
    paged_on = history(other, f"CHATHISTORY AFTER #hist msgid={msgid_of['m 100']} 100")[1]
    assert paged_on == texts[101:201]


def test_after_returns_a_message_caught_up_late_with_an_older_stamp(server: CoreServer) -> None:
    """A split heals: a catch-up brings a line stamped a minute ago, after the
    reader's last one. AFTER that last line returns it (it came here later)."""
    alice, reader = server.user("alice", CAPS), server.user("reader", CAPS)
    alice.ask("JOIN #hist")
    reader.ask("JOIN #hist")
    (last,) = [tags["msgid"] for tags in say(server, alice, "#hist", "seen live")]
    stamped_before = server.clock.now - 60
    assert remote.replay(
        server.core,
        origin="far",
        msgid="far-split-1",
        ts=stamped_before,
        source="carol!~carol@far.example",
        command="PRIVMSG",
        target="#hist",
        text="from the other side of the split",
        tags={},
    )
    say(server, alice, "#hist", "after the heal")
    back = server.user("back", CAPS)
    back.ask("JOIN #hist")
    texts = history(back, f"CHATHISTORY AFTER #hist msgid={last} 10")[1]
    assert texts == ["from the other side of the split", "after the heal"]
    # By time alone it sits before what the reader saw: LATEST shows where.
    assert history(back, "CHATHISTORY LATEST #hist * 3")[1] == [
        "from the other side of the split",
        "seen live",
        "after the heal",
    ]


def test_latest_down_to_a_msgid_starts_where_after_would(server: CoreServer) -> None:
    """Some clients catch up with LATEST down to their last msgid, not AFTER. A
    message stamped just before that msgid on a server that was behind (inside
    its horizon) may have reached the client's old server after the msgid:
    LATEST answers down to the horizon too, leaving out the reference itself."""
    alice, reader = server.user("alice", CAPS), server.user("reader", CAPS)
    alice.ask("JOIN #hist")
    reader.ask("JOIN #hist")
    server.core.ids.hear("stalled", server.clock.now)  # the horizon stays here
    texts = [f"m {i}" for i in range(5)]
    msgids = [tags["msgid"] for tags in say(server, alice, "#hist", *texts)]
    after = history(reader, f"CHATHISTORY AFTER #hist msgid={msgids[2]} 50")[1]
    latest = history(reader, f"CHATHISTORY LATEST #hist msgid={msgids[2]} 50")[1]
    assert latest == after == ["m 0", "m 1", "m 3", "m 4"], (latest, after)
    # The newest ones when the limit is smaller than what lies past the horizon.
    assert history(reader, f"CHATHISTORY LATEST #hist msgid={msgids[2]} 2")[1] == ["m 3", "m 4"]
    # `*`: the newest, as before.
    assert history(reader, "CHATHISTORY LATEST #hist * 2")[1] == ["m 3", "m 4"]
