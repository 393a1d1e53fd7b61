"""irc-framework (npm; the library of Kiwi IRC and The Lounge) against a real node.

Each test runs one scenario of ``ircframework/driver.mjs`` under Node.js:
real irc-framework clients on TCP connections to the node, printing what
irc-framework parsed as JSON lines. The tests assert on those events, as a
web client built on irc-framework would show them: MONITOR (notify lists,
extended-monitor), WHOX through irc-framework's own ``who()``,
draft/multiline batches (irc-framework has no multiline API: the batch is
sent with ``raw()`` and read from its ``batch end`` event) and read markers
(MARKREAD, which irc-framework hands over as an unknown command).

irc-framework is installed from ``ircframework/package-lock.json`` by
``make client-deps`` (``npm ci``); without Node.js or that install, the
tests skip and say so.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import SERVER_NAME, register_account
from tests.irc.blocking import LineClient
from tests.irc.lines import Msg, parse
from tests.nodeproc import LOCAL_CLOAK, NodeProcess

NODE = shutil.which("node")
DRIVER_DIR = Path(__file__).resolve().parent / "ircframework"
DRIVER = DRIVER_DIR / "driver.mjs"
INSTALLED = (DRIVER_DIR / "node_modules" / "irc-framework" / "package.json").is_file()
#: The driver's own deadline is 30 s; this one only catches a hung Node.js.
RUN_TIMEOUT = 40

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(NODE is None, reason="needs Node.js: Debian packages nodejs and npm"),
    pytest.mark.skipif(
        not INSTALLED,
        reason="irc-framework is not installed: run `make client-deps` "
        "(npm ci --prefix tests/clients/ircframework)",
    ),
]


@dataclass
class Run:
    """What one driver scenario printed: its events, and the raw lines of every client."""

    events: list[dict[str, Any]]
    trace: str

    def named(self, name: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["event"] == name]

    def one(self, name: str) -> dict[str, Any]:
        (event,) = self.named(name)
        return event

    def received(self, nick: str, command: str) -> list[Msg]:
        """The ``command`` lines client ``nick`` received, parsed by the tests' own parser."""
        prefix = f"{nick} < "
        lines = self.trace.splitlines()
        parsed = [parse(ln[len(prefix) :]) for ln in lines if ln.startswith(prefix)]
        return [msg for msg in parsed if msg.command == command]


def drive(scenario: str, node: NodeProcess) -> Run:
    """Run ``driver.mjs SCENARIO PORT`` to its end; fail with its trace unless it finished."""
    assert NODE is not None
    result = subprocess.run(
        [NODE, str(DRIVER), scenario, str(node.irc_port)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        cwd=DRIVER_DIR,
        check=False,
    )
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    finished = result.returncode == 0 and events[-1:] == [{"event": "done"}]
    assert finished, (
        f"driver {scenario} exited {result.returncode}\nstdout:\n{result.stdout}\n"
        f"stderr (tail):\n{result.stderr[-6000:]}\nnode log:\n{node.log()[-2000:]}"
    )
    return Run(events, result.stderr)


def test_monitor_notifies_online_away_and_offline(named_node: NodeProcess) -> None:
    run = drive("monitor", named_node)
    assert run.one("isupport") == {"event": "isupport", "MONITOR": "100"}
    assert "extended-monitor" in run.one("caps")["enabled"]
    # In order: offline at once (731), in the list (732/733), online (730),
    # away without a shared channel (extended-monitor), offline again (731).
    assert [e for e in run.events if e["event"] not in ("isupport", "caps")] == [
        {"event": "users offline", "nicks": ["ifwatched"]},
        {"event": "monitorList", "nicks": ["ifwatched"]},
        {"event": "users online", "nicks": ["ifwatched"]},
        {"event": "away", "nick": "ifwatched", "message": "gone fishing", "self": False},
        {"event": "users offline", "nicks": ["ifwatched"]},
        {"event": "done"},
    ]
    # The 730 line carries the full mask irc-framework reduces to the nick.
    (online,) = run.received("ifwatcher", "730")
    assert (online.source, online.params) == (
        SERVER_NAME,
        ["ifwatcher", f"ifwatched!~ifwatched@{LOCAL_CLOAK}"],
    )


def whox_user(nick: str, channel: str, **flags: Any) -> dict[str, Any]:
    """A user as irc-framework's ``who()`` reports it from RPL_WHOSPCRPL (354)."""
    return {
        "nick": nick,
        "ident": f"~{nick}",
        "hostname": LOCAL_CLOAK,
        "server": SERVER_NAME,
        "real_name": f"irc-framework {nick}",
        "account": "",
        "num_hops_away": 0,
        "channel": channel,
        "tags": {},
        "unparsed_flags": [],
        "away": False,
        "bot": False,
        "registered": False,
        "operator": False,
        "secure": False,
        "channel_modes": [],
        **flags,
    }


def test_whox_through_irc_framework_who(named_node: NodeProcess) -> None:
    run = drive("whox", named_node)
    assert run.one("isupport") == {"event": "isupport", "WHOX": True, "BOT": "B"}
    channel, single = run.named("who")
    # irc-framework asked with WHOX (its token) because ISUPPORT has WHOX.
    assert re.fullmatch(r"WHO #whox %tcuhsnfdaor,\d{1,3}", channel["sent"][0])
    assert channel["target"] == "#whox"
    # op_level ("o" is n/a) is undefined in irc-framework, so absent in JSON.
    assert sorted(channel["users"], key=lambda u: u["nick"]) == [
        whox_user("ifalice", "#whox", channel_modes=["o"]),
        whox_user("ifbob", "#whox", away=True),
        whox_user("ifcarol", "#whox", bot=True),
    ]
    assert re.fullmatch(r"WHO ifbob %tcuhsnfdaor,\d{1,3}", single["sent"][1])
    assert single["users"] == [whox_user("ifbob", "*", away=True)]


def test_multiline_batch_between_irc_framework_clients(named_node: NodeProcess) -> None:
    with LineClient.tcp(named_node.irc_port) as plain:
        plain.register("plainpeer", ("message-tags", "batch"))
        plain.join("#multiline")
        run = drive("multiline", named_node)
        plain_texts = [
            m.last
            for m in plain.drain(0.5)
            if m.command in ("PRIVMSG", "BATCH") and m.nick == "ifsender"
        ]

    caps = run.one("caps")
    assert caps["value"] == "max-bytes=4096,max-lines=32"
    assert "draft/multiline" in caps["enabled"]
    sent = [
        ("first line", False),
        ("second line, ", False),
        ("continued", True),
        ("", False),
        ("after a blank line", False),
    ]
    for batch in run.named("batch"):  # the receiver's, then the sender's echo
        assert (batch["type"], batch["params"]) == ("draft/multiline", ["#multiline"])
        lines = batch["lines"]
        assert {(ln["command"], ln["nick"], ln["params"][0]) for ln in lines} == {
            ("PRIVMSG", "ifsender", "#multiline")
        }
        got = [(ln["params"][1], "draft/multiline-concat" in ln["tags"]) for ln in lines]
        assert got == sent, batch["client"]
        assert len({ln["tags"]["batch"] for ln in lines}) == 1
    assert [b["client"] for b in run.named("batch")] == ["receiver", "sender"]
    # The message as a multiline client shows it (the spec's joining rule).
    text = ""
    for index, (line, concat) in enumerate(got):
        text += line if concat or index == 0 else "\n" + line
    assert text == "first line\nsecond line, continued\n\nafter a blank line"
    # irc-framework hands each line to the app as a privmsg marked with its batch.
    messages = run.one("privmsgs")["messages"]
    assert [m["message"] for m in messages] == [line for line, _ in sent]
    assert {m["batch"]["type"] for m in messages} == {"draft/multiline"}
    # The receiver's batch opened with the one msgid and time of the whole message.
    opening, _closing = run.received("ifreceiver", "BATCH")
    assert opening.nick == "ifsender" and opening.params[1:] == ["draft/multiline", "#multiline"]
    assert opening.tags.keys() >= {"msgid", "time"}, opening.raw
    # A client without the capability got the non-blank lines, one message each.
    assert plain_texts == ["first line", "second line, ", "continued", "after a blank line"]
    # 33 lines: the whole batch refused with the spec's FAIL, nothing relayed.
    fail = run.one("fail")
    assert (fail["command"], fail["params"]) == (
        "FAIL",
        ["BATCH", "MULTILINE_MAX_LINES", "32", "Multiline batch max-lines exceeded"],
    )
    assert "line 0" not in {m["message"] for m in messages}


def test_read_marker_round_trip_and_next_connection(named_node: NodeProcess) -> None:
    run = drive("readmarker", named_node)
    assert "draft/read-marker" in run.one("caps")["enabled"]
    # After JOIN, before the end of NAMES: no marker yet.
    assert run.one("join order")["order"] == [
        {"command": "MARKREAD", "nick": "", "params": ["#readmarker", "*"], "tags": {}},
        {"userlist": "#readmarker"},
    ]
    stamp = run.one("privmsg")["time"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    marker = ["#readmarker", f"timestamp={stamp}"]
    # Moved to the message's server-time; never moved back; kept for the next connection.
    assert [(e["why"], e["command"], e["params"]) for e in run.named("markread")] == [
        ("moved", "MARKREAD", marker),
        ("backwards", "MARKREAD", marker),
        ("reconnected", "MARKREAD", marker),
    ]


SASL_ACCOUNT = "ifsasl"
SASL_PASSWORD = "if-sasl-secret-pw"  # as in driver.mjs
WRONG_PASSWORD = "if-wrong-secret-pw"


def test_sasl_plain_through_irc_framework_account_option(named_node: NodeProcess) -> None:
    register_account(named_node.irc_port, SASL_ACCOUNT, SASL_PASSWORD)
    with LineClient.tcp(named_node.irc_port) as tagged:
        tagged.register("pytagged", ("account-tag", "extended-join", "message-tags"))
        tagged.join("#sasl")
        run = drive("sasl", named_node)
        heard = tagged.saw(lambda m: m.command == "PRIVMSG" and m.nick == SASL_ACCOUNT)
        joins = [m for m in tagged.inbox.seen if m.command == "JOIN" and m.nick == SASL_ACCOUNT]

    caps = run.one("caps")
    assert {"account-tag", "account-notify", "extended-join"} <= set(caps["enabled"])
    assert caps["sasl"] == "PLAIN,EXTERNAL,SCRAM-SHA-256"
    right, wrong = run.named("sasl")
    # Logged in (900) during capability negotiation, before the welcome.
    assert right["events"] == [
        {"loggedin": SASL_ACCOUNT, "nick": SASL_ACCOUNT, "motd": False},
        {"motd": True},
    ]
    # A wrong password: irc-framework's 'sasl failed' (904); it still connects, logged out.
    assert wrong["events"] == [
        {"failed": "fail", "message": "SASL authentication failed", "nick": "ifwrong"},
        {"motd": True},
    ]
    assert run.one("join") == {
        "event": "join",
        "nick": SASL_ACCOUNT,
        "account": SASL_ACCOUNT,
        "gecos": f"irc-framework {SASL_ACCOUNT}",
    }
    assert run.one("privmsg") == {
        "event": "privmsg",
        "message": "hello with an account",
        "account": SASL_ACCOUNT,
    }
    # account-notify, as irc-framework's 'account' event (false: logged out).
    assert [(e["why"], e["account"]) for e in run.named("account")] == [
        ("logout", False),
        ("identify", SASL_ACCOUNT),
    ]
    # The Python client with account-tag and extended-join sees the same.
    assert heard.tags.get("account") == SASL_ACCOUNT, heard.raw
    assert heard.last == "hello with an account"
    assert [m.params[:2] for m in joins] == [["#sasl", SASL_ACCOUNT]]
    # Nothing of either password in the node's log, plain or as the PLAIN response.
    log = named_node.log()
    for password in (SASL_PASSWORD, WRONG_PASSWORD):
        response = base64.b64encode(f"{SASL_ACCOUNT}\0{SASL_ACCOUNT}\0{password}".encode())
        assert password not in log
        assert response.decode() not in log
