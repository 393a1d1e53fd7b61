"""Accounts and a registered channel on a whole `chatnet up` network: real processes.

ConferenceRoom's geographic network (two hubs, three leaves each): an
account registered on one hub logs in with SASL PLAIN on a leaf of the
other; a channel registered with ChanServ gives its founder ``@`` back on
another server after the founder's server is killed; and after every
server restarts, the channel's topic and ban and the account are still there.
"""

from __future__ import annotations

import base64
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.irc.blocking import LineClient
from tests.irc.conversation import end_of_names
from tests.irc.lines import Msg, contains
from tests.nodeproc import REPO, node_pids
from tests.operator.test_up import Up, irc_client, server_of
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

GEO = REPO / "examples" / "conferenceroom-geographic.yaml"
PASSWORD = "correct-horse-battery"
TOPIC = "ops only, kept by ChanServ"
BAN = "*!*@banned.example"


def sasl_plain(address: str, nick: str, account: str, password: str) -> LineClient:
    """A client that logs in with SASL PLAIN before registering, at ``HOST:PORT``."""
    host, port = address.rsplit(":", 1)
    client = LineClient.tcp(int(port), host)
    client.send("CAP LS 302", "CAP REQ :sasl", f"NICK {nick}", f"USER {nick} 0 * :{nick}")
    client.expect(lambda m: m.command == "CAP" and m.params[1:2] == ["ACK"])
    client.send("AUTHENTICATE PLAIN")
    client.expect("AUTHENTICATE", "+")
    token = base64.b64encode(f"\0{account}\0{password}".encode()).decode()
    client.send(f"AUTHENTICATE {token}")
    logged_in = client.expect("900")
    assert logged_in.params[2] == account, logged_in
    client.expect("903")
    client.send("CAP END")
    client.expect(lambda m: m.command in ("376", "422"))
    return client


def known_account(client: LineClient, name: str) -> bool:
    """Does the client's server know the account ``name`` (NickServ INFO)?"""
    client.send(f"PRIVMSG NickServ :INFO {name}")
    answer = client.expect(lambda m: m.command == "NOTICE" and m.nick == "NickServ")
    client.drain(0.1)
    return answer.last.startswith(f"Account {name}: registered")


def joined(client: LineClient, channel: str) -> list[Msg]:
    """JOIN ``channel``; the lines up to its end of NAMES."""
    client.send(f"JOIN {channel}")
    lines: list[Msg] = []
    for line in client.incoming(10):
        lines.append(line)
        if end_of_names(channel)(line):
            return lines
    raise AssertionError(f"no end of NAMES for {channel}: {[m.raw for m in lines]}")


def names_of(lines: list[Msg]) -> list[str]:
    return [n for m in lines if m.command == "353" for n in m.last.split()]


def pid_of(up: Up, network: str, server: str) -> int:
    (pid,) = node_pids(str(up.state / network / f"{server}.yaml"))
    return pid


@pytest.fixture
def ups(tmp_path: Path) -> Any:
    started: list[Up] = []

    def start() -> Up:
        # The same state directory each time: a restart of the whole network.
        (tmp_path / "endpoints.json").unlink(missing_ok=True)
        up = Up(tmp_path, GEO)
        started.append(up)
        return up

    yield start
    for up in started:
        up.stop()
    for pid in node_pids(str(tmp_path / "state")):
        os.kill(pid, signal.SIGKILL)


def test_accounts_and_a_registered_channel_survive_failover_and_restarts(ups: Any) -> None:
    up = ups()
    doc = up.endpoints()
    servers = doc["servers"]
    assert (servers["hub-us"]["role"], servers["eu-london"]["role"]) == ("hub", "leaf")

    # Registered on one hub...
    alice = up.client(servers["hub-us"]["irc"], "alice")
    alice.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    alice.expect(contains("Account alice registered; you are logged in"))
    # ...and logged in with SASL on a leaf of the other.
    probe = up.client(servers["eu-london"]["irc"], "probe")
    wait_until(lambda: known_account(probe, "alice"), 10, "eu-london knows alice", 0.2)
    leaf = sasl_plain(servers["eu-london"]["irc"], "fromleaf", "alice", PASSWORD)
    up.clients.append(leaf)
    leaf.send("WHOIS fromleaf")
    assert leaf.expect("330").params[2] == "alice"
    assert server_of(leaf, doc) == "eu-london"

    # alice makes #ops, registers it, sets a topic and a ban.
    ops = joined(alice, "#ops")
    assert "@alice" in names_of(ops)
    alice.send("PRIVMSG ChanServ :REGISTER #ops")
    alice.expect(contains("#ops is registered to alice"))
    watcher = up.client(servers["eu-paris"]["irc"], "watcher")
    joined(watcher, "#ops")
    alice.send(f"TOPIC #ops :{TOPIC}", f"MODE #ops +b {BAN}", "PRIVMSG #ops :all set")
    # The link carries alice's changes in order: once this arrives, so have the records.
    watcher.expect(contains("PRIVMSG #ops :all set"))

    # Her server dies; she comes back through the front door, elsewhere.
    os.kill(pid_of(up, "geo", "hub-us"), signal.SIGKILL)
    alice.wait_closed(timeout=10)
    watcher.expect(contains(":alice!"), timeout=10)  # her QUIT from the netsplit
    back = up.client(doc["network"]["irc"], "aliceback")
    landed = server_of(back, doc)
    assert landed != "hub-us"
    back.send(f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")
    back.expect(contains("You are now logged in as alice"))
    rejoined = joined(back, "#ops")
    assert "@aliceback" in names_of(rejoined), f"no op on {landed}: {names_of(rejoined)}"
    watcher.expect(contains("JOIN #ops"))

    def watcher_sees_the_op() -> bool:
        # Her join and her op are two changes on the link: the op may land a
        # moment after the JOIN the watcher saw.
        watcher.send("NAMES #ops")
        return "@aliceback" in watcher.expect("353").last.split()

    wait_until(watcher_sees_the_op, 10, "eu-paris shows aliceback as op", 0.2)
    print(f"the founder came back on {landed}")
    wait_until(
        lambda: "restart 1 in" in up.log() and len(node_pids(str(up.state))) == 8,
        15,
        "hub-us restarted",
        0.1,
        up.log,
    )

    # Every server restarts (the whole network stops and starts on the same state).
    assert up.stop() < 5
    up = ups()
    doc = up.endpoints()
    servers = doc["servers"]
    newcomer = up.client(doc["network"]["irc"], "newcomer")
    again = joined(newcomer, "#ops")
    topic = next(m for m in again if m.command == "332")
    assert topic.last == TOPIC
    assert names_of(again) == ["newcomer"], "a stranger making it again gets no op"
    newcomer.send("MODE #ops +b")
    assert newcomer.expect("367").params[2] == BAN
    newcomer.expect("368")
    founder = sasl_plain(servers["eu-frankfurt"]["irc"], "alice", "alice", PASSWORD)
    up.clients.append(founder)
    assert "@alice" in names_of(joined(founder, "#ops"))
    assert server_of(founder, doc) == "eu-frankfurt"
    wrong = irc_client(servers["us-west"]["irc"], "guess")
    up.clients.append(wrong)
    wrong.send("PRIVMSG NickServ :IDENTIFY alice not-the-password")
    wrong.expect(contains("Invalid account or password"))
