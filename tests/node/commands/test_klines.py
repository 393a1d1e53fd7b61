"""KLINE, UNKLINE and STATS k: network-wide bans every server enforces and keeps."""

from __future__ import annotations

from pathlib import Path

from chatnet_node.config import Cloaks
from chatnet_node.irc.cloaks import cloak
from chatnet_node.irc.transitions import accounts
from tests.corekit import CoreNetwork, CoreServer, CoreUser

OPERS = {"operators": [{"name": "admin", "password": "operpass"}]}
SPAMMER = "203.0.113.7"


def oper_on(server: CoreServer, nick: str = "oper") -> CoreUser:
    user = server.user(nick)
    user.send("OPER admin operpass")
    user.lines()
    return user


def test_a_kline_disconnects_matching_users_on_every_server_and_refuses_them() -> None:
    net = CoreNetwork("a", "b", **OPERS)
    net.link("a", "b")
    spammer = net.servers["b"].user("spammer", address=SPAMMER)
    bystander = net.servers["b"].user("bystander", address="203.0.113.8")
    net.settle()
    oper = oper_on(net.servers["a"])
    net.say(oper, "KLINE 30 *@203.0.113.7 :spam is not welcome")
    assert oper.lines()[-1].startswith(
        ":a NOTICE oper :*** K-line added: *@203.0.113.7 (spam is not welcome) set by oper!"
    )
    assert spammer.lines()[-1] == (f"ERROR :Closing Link: {SPAMMER} (K-Lined: spam is not welcome)")
    for core in net.cores.values():
        assert "spammer" not in {u.nick for u in core.users.values()}
        assert "bystander" in {u.nick for u in core.users.values()}
    assert bystander.client.registered and not bystander.client.closed
    # Coming back, on either server, is refused at registration.
    for name in ("a", "b"):
        again = net.servers[name].connection(address=SPAMMER)
        again.send("NICK spammer2", "USER s 0 * :S")
        lines = again.lines()
        assert (
            f":{name} 465 spammer2 :You are banned from this network: spam is not welcome" in lines
        )
        assert lines[-1].startswith("ERROR :Closing Link:") and "K-Lined" in lines[-1]
        assert not again.client.registered


def test_stats_k_lists_kline_and_a_duration_runs_out() -> None:
    net = CoreNetwork("a", "b", **OPERS)
    net.link("a", "b")
    oper = oper_on(net.servers["a"])
    net.say(oper, "KLINE 1h30m *@198.51.100.* :flood")
    oper.lines()
    stats = oper.ask("STATS k")
    assert stats[0].startswith(
        ":a 216 oper K 198.51.100.* * * :*@198.51.100.* (flood) set by oper!"
    )
    assert stats[0].endswith(", 90 minutes left")
    assert stats[-1] == ":a 219 oper k :End of /STATS report"
    plain = net.servers["b"].user("plain")
    assert plain.ask("STATS k") == [
        ":b 481 plain :Permission Denied- You're not an IRC operator",
        ":b 219 plain k :End of /STATS report",
    ]
    for server in net.servers.values():
        server.clock.now += 91 * 60
    late = net.servers["b"].user("late", address="198.51.100.20")  # expired: welcome again
    assert late.client.registered
    assert oper.ask("STATS k") == [":a 219 oper k :End of /STATS report"]


def test_unkline_lifts_the_ban_everywhere() -> None:
    net = CoreNetwork("a", "b", **OPERS)
    net.link("a", "b")
    oper = oper_on(net.servers["a"])
    net.say(oper, f"KLINE *@{SPAMMER} :go away")
    net.say(oper, f"UNKLINE *@{SPAMMER}")
    assert oper.lines()[-1] == f":a NOTICE oper :*** K-line removed: *@{SPAMMER}"
    back = net.servers["b"].user("back", address=SPAMMER)
    assert back.client.registered
    assert oper.ask(f"UNKLINE *@{SPAMMER}") == [
        f":a NOTICE oper :*** UNKLINE *@{SPAMMER}: no such K-line"
    ]
    # Set again after the removal: a ban again (a new registration of the mask).
    net.say(oper, f"KLINE *@{SPAMMER} :again")
    assert back.lines()[-1] == f"ERROR :Closing Link: {SPAMMER} (K-Lined: again)"
    assert back.client.uid not in net.cores["a"].users


def test_wrong_klines_are_refused_with_the_reason_and_change_nothing() -> None:
    server = CoreServer(name="a", **OPERS)
    plain = server.user("plain")
    assert plain.ask("KLINE *@1.2.3.4 :x") == [
        ":a 481 plain :Permission Denied- You're not an IRC operator"
    ]
    oper = oper_on(server)
    assert oper.ask("KLINE") == [":a 461 oper KLINE :Not enough parameters"]
    assert oper.ask("KLINE spammer :x") == [
        ":a NOTICE oper :*** KLINE spammer: a K-line mask is user@host (wildcards * and ? "
        "allowed), e.g. *@203.0.113.7"
    ]
    assert oper.ask("KLINE *@* :everyone") == [
        ":a NOTICE oper :*** KLINE *@*: that mask would ban everyone"
    ]
    assert oper.ask("KLINE 0 *@1.2.3.4 :x") == [
        ":a NOTICE oper :*** KLINE: a duration from 1 minute to a year; none: until UNKLINE"
    ]
    assert len(server.core.klines) == 0
    assert plain.client.registered and not plain.client.closed


def test_klines_survive_a_restart_and_reach_a_server_that_links_later(tmp_path: Path) -> None:
    history = tmp_path / "history.db"
    first = CoreServer(name="a", history=history, **OPERS)
    oper = oper_on(first)
    oper.send(f"KLINE *@{SPAMMER} :kept")
    first.core.history.close()
    again = CoreServer(name="a", history=history, **OPERS)
    accounts.load_records(again.core, again.core.history.load_records())
    refused = again.connection(address=SPAMMER)
    refused.send("NICK s", "USER s 0 * :S")
    assert ":a 465 s :You are banned from this network: kept" in refused.lines()

    net = CoreNetwork("a", "c", **OPERS)
    oper = oper_on(net.servers["a"])
    net.say(oper, f"KLINE *@{SPAMMER} :burst")
    assert net.cores["c"].klines.get(f"*@{SPAMMER}") is None
    net.link("a", "c")
    assert net.cores["c"].klines.get(f"*@{SPAMMER}") is not None


def test_a_kline_on_an_address_holds_under_a_cloak() -> None:
    secret = "k" * 32
    server = CoreServer(name="a", cloaks={"secret": secret}, **OPERS)
    hidden = server.user("hidden", address=SPAMMER)
    assert hidden.client.host == cloak(Cloaks(secret=secret), SPAMMER)
    oper = oper_on(server)
    oper.send(f"KLINE *@{SPAMMER} :cloaked or not")
    assert hidden.lines()[-1].endswith("(K-Lined: cloaked or not)")
    assert hidden.client.uid not in server.core.users
