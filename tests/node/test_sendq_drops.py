"""Clients dropped together (``ChatCore.drop``): QUITs only to those who stay.

The transport drops the clients whose send queue overflowed a batch at a
time; those dropped now, and those queued to be dropped next, get none of
each other's QUITs (500 readers of one channel would otherwise cost 250,000
lines), while every member who stays sees each QUIT once.
"""

from __future__ import annotations

from tests.corekit import CoreServer


def test_dropped_clients_quit_to_those_who_stay_and_not_to_each_other() -> None:
    server = CoreServer()
    watcher = server.user("watcher")
    slow = [server.user(f"slow{i}") for i in range(4)]
    for user in (watcher, *slow):
        user.send("JOIN #flood")
    for user in (watcher, *slow):
        user.lines()

    server.core.drop([slow[0].client, slow[1].client], "SendQ exceeded", {slow[2].client: None})
    assert watcher.lines() == [
        ":slow0!~slow0@127.0.0.1 QUIT :SendQ exceeded",
        ":slow1!~slow1@127.0.0.1 QUIT :SendQ exceeded",
    ]
    assert slow[2].lines() == [], "queued to be dropped next: no QUITs for it"
    assert slow[3].lines() == [
        ":slow0!~slow0@127.0.0.1 QUIT :SendQ exceeded",
        ":slow1!~slow1@127.0.0.1 QUIT :SendQ exceeded",
    ]

    server.core.drop([slow[2].client], "SendQ exceeded")
    assert watcher.lines() == [":slow2!~slow2@127.0.0.1 QUIT :SendQ exceeded"]
    names = watcher.ask("NAMES #flood")
    assert "watcher" in names[0] and "slow3" in names[0]
    assert not any(f"slow{i}" in names[0] for i in range(3))
