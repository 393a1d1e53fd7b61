"""`chatnet up` with real node processes: front door, restarts, live edits, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatnet_operator.local.frontdoor import Listener
from tests.irc.blocking import LineClient
from tests.irc.lines import contains
from tests.nodeproc import REPO, node_pids, operator_env, start_up, stop_process
from tests.waiting import wait_until

EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


class Up:
    """A running `chatnet up` and helpers to reach what it started."""

    def __init__(self, tmp: Path, manifest: Path) -> None:
        self.tmp = tmp
        self.manifest = manifest
        self.state = tmp / "state"
        self.endpoints_path = tmp / "endpoints.json"
        self.out = (tmp / "up.out").open("wb")
        self.err_path = tmp / "up.err"
        self.err = self.err_path.open("wb")
        self.clients: list[LineClient] = []
        self.proc = start_up(manifest, self.endpoints_path, self.state, self.out, self.err, tmp)

    def log(self) -> str:
        return self.err_path.read_text(errors="replace")

    def endpoints(self, timeout: float = 30.0, servers: set[str] | None = None) -> dict[str, Any]:
        """The endpoints file, once it exists (and lists exactly ``servers``, if given)."""

        def listed() -> dict[str, Any] | None:
            assert self.proc.poll() is None, f"chatnet up exited: {self.log()}"
            if not self.endpoints_path.exists():
                return None
            doc: dict[str, Any] = json.loads(self.endpoints_path.read_text())
            return doc if servers is None or set(doc["servers"]) == servers else None

        return wait_until(listed, timeout, "the endpoints file", 0.1, self.log)

    def stop(self, signum: int = signal.SIGTERM) -> float:
        """Send ``signum``; returns how long it took to exit."""
        start = time.monotonic()
        stop_process(self.proc, 10, signum)
        self.out.close()
        self.err.close()
        for client in self.clients:
            client.close()
        return time.monotonic() - start

    def client(self, address: str, nick: str) -> LineClient:
        """An IRC client, closed when the test ends."""
        client = irc_client(address, nick)
        self.clients.append(client)
        return client


@pytest.fixture
def up_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Up] = []

    def start(manifest: Path) -> Up:
        up = Up(tmp_path, manifest)
        started.append(up)
        return up

    yield start
    for up in started:
        up.stop()
        for pid in node_pids(str(up.state)):
            os.kill(pid, signal.SIGKILL)


def irc_client(address: str, nick: str) -> LineClient:
    """A registered client at ``HOST:PORT``; ``server_of`` tells where it landed."""
    host, port = address.rsplit(":", 1)
    return LineClient.tcp(int(port), host).register(nick)


def server_of(client: LineClient, doc: dict[str, Any] | None = None) -> str:
    """The server that welcomed ``client`` (the source of its 001).

    With the endpoints document: the server's object name, which the IRC
    name (``NAME.<serverDomain>``) maps back to.
    """
    irc_name = next(m.source or "" for m in client.seen if m.command == "001")
    if doc is None:
        return irc_name
    by_irc_name = {entry["ircName"]: name for name, entry in doc["servers"].items()}
    return by_irc_name[irc_name]


def test_quickstart_front_door_spreads_clients_over_ready_servers(up_factory: Any) -> None:
    up = up_factory(REPO / "examples" / "quickstart.yaml")
    doc = up.endpoints()
    assert set(doc["servers"]) == {"east", "west", "east-fanout-0", "east-fanout-1"}
    assert doc["servers"]["east-fanout-1"] == {
        **doc["servers"]["east-fanout-1"],
        "role": "leaf",
        "serverId": 21,
    }
    clients = [up.client(doc["network"]["irc"], f"user{i}") for i in range(4)]
    # Four new clients on four empty servers: the least-loaded rule gives one each.
    assert sorted(server_of(c) for c in clients) == sorted(doc["servers"])
    out = (up.tmp / "up.out").read_text()
    assert "web chat   " + doc["network"]["http"] in out


def test_websocket_and_web_page_through_the_front_door(up_factory: Any) -> None:
    up = up_factory(REPO / "examples" / "local.yaml")
    doc = up.endpoints()
    with urllib.request.urlopen(doc["network"]["http"], timeout=5) as resp:
        assert resp.status == 200
        assert b"<html" in resp.read().lower()
    with LineClient.websocket(doc["network"]["ws"]) as ws:
        ws.register("webuser")
    # Status and metrics answer on each server's admin port, not on the client port.
    server = doc["servers"]["local"]
    with urllib.request.urlopen(server["admin"] + "status", timeout=5) as resp:
        assert json.load(resp)["clients"] >= 0
    for url in (server["http"] + "status", doc["network"]["http"] + "metrics"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=5)
        refused.value.close()
        assert refused.value.code == 404, url


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_comes_up(example: Path, up_factory: Any) -> None:
    up = up_factory(example)
    doc = up.endpoints()
    client = up.client(doc["network"]["irc"], "visitor")
    server = server_of(client, doc)
    assert doc["servers"][server]["role"] != "control", "the control room takes no one"
    assert up.stop() < 5


def test_server_domain_gives_the_irc_names(up_factory: Any) -> None:
    """ConferenceRoom's network with serverDomain: LINKS, WHOIS and 004 show NAME.geo.example."""
    up = up_factory(REPO / "examples" / "conferenceroom-geographic.yaml")
    doc = up.endpoints()
    assert {entry["ircName"] for entry in doc["servers"].values()} == {
        f"{name}.geo.example" for name in doc["servers"]
    }
    client = up.client(doc["network"]["irc"], "visitor")
    client.send("LINKS")
    linked = []
    for line in client.incoming(10):
        if line.command == "364":
            linked.append(line.params[1])
        if line.command == "365":
            break
    assert sorted(linked) == sorted(entry["ircName"] for entry in doc["servers"].values())
    client.send("WHOIS visitor")
    assert client.expect("312").params[2] == server_of(client)


def test_full_servers_are_skipped_and_then_refused(tmp_path: Path, up_factory: Any) -> None:
    manifest = tmp_path / "tiny.yaml"
    manifest.write_text(
        "apiVersion: chatnet.io/v1alpha1\nkind: ChatNetwork\nmetadata: {name: tiny}\n---\n"
        "apiVersion: chatnet.io/v1alpha1\nkind: ChatServer\nmetadata: {name: a}\n"
        "spec: {network: tiny, role: hub, serverId: 1, maxClients: 1, peers: [b]}\n---\n"
        "apiVersion: chatnet.io/v1alpha1\nkind: ChatServer\nmetadata: {name: b}\n"
        "spec: {network: tiny, role: hub, serverId: 2, maxClients: 1}\n"
    )
    up = up_factory(manifest)
    doc = up.endpoints()
    first = up.client(doc["network"]["irc"], "first")
    second = up.client(doc["network"]["irc"], "second")
    assert {server_of(first), server_of(second)} == {"a", "b"}
    time.sleep(1.0)  # let the front door see both servers full
    host, port = doc["network"]["irc"].rsplit(":", 1)
    with LineClient.tcp(int(port), host, timeout=5) as refused:
        assert "full" in refused.expect("ERROR", timeout=5).last


def test_crashed_server_is_restarted_and_logged(up_factory: Any) -> None:
    up = up_factory(REPO / "examples" / "exchange-three-servers.yaml")
    doc = up.endpoints()
    victim = node_pids(str(up.state))[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(
        lambda: "restart 1 in" in up.log() and len(node_pids(str(up.state))) == 3,
        15,
        "the killed server restarted",
        0.1,
        up.log,
    )
    assert "exited (code -9)" in up.log()
    assert len(node_pids(str(up.state))) == 3
    up.client(doc["network"]["irc"], "after")


def test_a_port_taken_while_a_server_was_down_gets_it_new_ports(up_factory: Any) -> None:
    """``chatnet up`` picked the server's ports; another program took one while
    the server was down. It is not restarted on that port for ever: it gets
    new ports, the others link to it there, and clients reach it."""
    up = up_factory(REPO / "examples" / "exchange-three-servers.yaml")
    doc = up.endpoints()
    victim, entry = next(iter(doc["servers"].items()))
    old_irc = int(entry["irc"].rsplit(":", 1)[1])
    (pid,) = node_pids(f"/{victim}.yaml")
    with socket.socket() as squatter:
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), 5, "the server gone")
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", old_irc))
        squatter.listen()

        def moved() -> dict[str, Any] | None:
            if not up.endpoints_path.exists():
                return None
            now: dict[str, Any] = json.loads(up.endpoints_path.read_text())
            return now if now["servers"][victim]["irc"] != entry["irc"] else None

        after = wait_until(moved, 30, "new ports in the endpoints file", 0.2, up.log)
        assert f"server {victim}: a port picked for it was taken" in up.log()
        assert "exited (code 3)" in up.log()
        client = up.client(after["servers"][victim]["irc"], "movedin")
        assert server_of(client, after) == victim
        client.wait_linked(3)  # the others dialed it at its new port


def test_live_edit_adds_a_server_and_keeps_clients(tmp_path: Path, up_factory: Any) -> None:
    manifest = tmp_path / "net.yaml"
    shutil.copy(REPO / "examples" / "quickstart.yaml", manifest)
    up = up_factory(manifest)
    doc = up.endpoints()
    clients = [up.client(doc["network"]["irc"], f"stay{i}") for i in range(4)]
    pids_before = set(node_pids(str(up.state)))
    text = manifest.read_text()
    manifest.write_text(
        text.replace("replicas: 2", "replicas: 3").replace("quickstart network", "edited network")
    )
    doc = up.endpoints(servers={"east", "west", "east-fanout-0", "east-fanout-1", "east-fanout-2"})
    assert all(c.ping() for c in clients), "no client was dropped"
    pids_after = set(node_pids(str(up.state)))
    assert pids_before < pids_after, "servers that did not change kept running"
    assert "reloading (clients stay)" in up.log()
    # The new MOTD reached the running servers.
    fresh = up.client(doc["servers"]["east"]["irc"], "newcomer")
    fresh.send("MOTD")
    assert "edited network" in fresh.expect(contains("edited")).last
    # Scale back down: only the removed server stops.
    manifest.write_text(text)
    doc = up.endpoints(servers={"east", "west", "east-fanout-0", "east-fanout-1"})
    wait_until(lambda: len(node_pids(str(up.state))) == 4, 10, "four servers left", poll=0.1)
    assert set(node_pids(str(up.state))) == pids_before
    assert all(c.ping() for c in clients)
    assert not (up.state / "acme" / "east-fanout-2.yaml").exists()
    assert (up.state / "acme" / "east-fanout-2.log").exists(), "its log stays"


def test_invalid_edit_is_reported_and_the_network_keeps_running(
    tmp_path: Path, up_factory: Any
) -> None:
    manifest = tmp_path / "net.yaml"
    shutil.copy(REPO / "examples" / "local.yaml", manifest)
    up = up_factory(manifest)
    doc = up.endpoints()
    client = up.client(doc["network"]["irc"], "keeper")
    manifest.write_text(manifest.read_text().replace("role: hub", "role: boss"))
    wait_until(lambda: "were not applied" in up.log(), 10, "the refusal logged", 0.1)
    assert "spec.role: Input should be 'hub', 'leaf' or 'control'" in up.log()
    assert client.ping()


def test_sigterm_stops_everything_within_five_seconds(up_factory: Any) -> None:
    up = up_factory(REPO / "examples" / "webcrossing-fanout.yaml")
    doc = up.endpoints()
    for i in range(3):
        up.client(doc["network"]["irc"], f"u{i}")
    assert len(node_pids(str(up.state))) == 7, up.log()
    assert up.stop() < 5
    assert up.proc.returncode == 0
    assert node_pids(str(up.state)) == []


def test_ctrl_c_stops_everything(up_factory: Any) -> None:
    up = up_factory(REPO / "examples" / "local.yaml")
    up.client(up.endpoints()["network"]["irc"], "bye")
    assert up.stop(signal.SIGINT) < 5
    assert up.proc.returncode == 0
    assert node_pids(str(up.state)) == []
    assert "stopped" in up.log()


def test_invalid_and_unreadable_input_exit_codes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: chatnet.io/v1alpha1\nkind: ChatNetwork\nmetadata: {name: x}\n")
    cmd = [sys.executable, "-m", "chatnet_operator.cli", "up", "--state-dir", str(tmp_path)]
    result = subprocess.run(
        [*cmd, str(bad)], check=False, capture_output=True, env=operator_env(), timeout=30
    )
    assert result.returncode == 1
    assert b"no ChatServer in this network serves clients" in result.stderr
    result = subprocess.run(
        [*cmd, str(tmp_path / "missing.yaml")],
        check=False,
        capture_output=True,
        env=operator_env(),
        timeout=30,
    )
    assert result.returncode == 2


def test_networks_run_together_need_their_own_ports(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "chatnet_operator.cli", "up", "--state-dir", str(tmp_path)]
    files = [str(REPO / "examples" / "local.yaml"), str(REPO / "examples" / "quickstart.yaml")]
    result = subprocess.run(
        [*cmd, *files], check=False, capture_output=True, env=operator_env(), timeout=30
    )
    assert result.returncode == 1
    assert b"port 8080 is also used by network local" in result.stderr


STOP_SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: s.name)
def test_stop_drains_clients_before_the_front_door_closes(
    signum: signal.Signals, up_factory: Any
) -> None:
    """Connected clients hear why they are dropped, and stopping prints no traceback."""
    up = up_factory(REPO / "examples" / "quickstart.yaml")
    doc = up.endpoints()
    # Not up.client(): Up.stop() closes those, and these must read after the stop.
    with contextlib.ExitStack() as stack:
        irc = [irc_client(doc["network"]["irc"], f"irc{i}") for i in range(3)]
        for client in irc:
            stack.callback(client.close)
        ws = stack.enter_context(LineClient.websocket(doc["network"]["ws"]))
        ws.register("webuser")
        assert up.stop(signum) < 5
        assert up.proc.returncode == 0
        log = up.log()
        assert "Traceback" not in log, log
        assert "Exception in callback" not in log, log
        assert "stopped" in log
        for client in irc:
            client.expect(contains("This server is shutting down"))
            assert "Server restarting" in client.expect("ERROR").last
        lines = [m.raw for m in ws.wait_closed(timeout=10)]
        code = ws.close_code
    assert any("shutting down for maintenance" in line for line in lines), lines
    assert any("ERROR :Closing Link" in line and "Server restarting" in line for line in lines)
    assert code == 1012, f"the server's close frame (service restart) reached the client: {code}"
    assert node_pids(str(up.state)) == []


def test_killed_up_takes_its_servers_with_it(up_factory: Any) -> None:
    """SIGKILL leaves no chatnet-node behind holding the network's ports."""
    up = up_factory(REPO / "examples" / "quickstart.yaml")
    up.endpoints()
    assert len(node_pids(str(up.state))) == 4
    up.stop(signal.SIGKILL)
    wait_until(lambda: not node_pids(str(up.state)), 10, "every node process gone", 0.1)


def test_front_door_cuts_leftover_connections_quietly() -> None:
    """A connection whose server never hangs up is cut by close(), without a logged error."""

    async def scenario() -> tuple[list[dict[str, Any]], bytes]:
        errors: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"hello\r\n")
            await reader.read()  # never hangs up first
            writer.close()

        upstream = await asyncio.start_server(silent, "127.0.0.1", 0)
        target = ("127.0.0.1", int(upstream.sockets[0].getsockname()[1]))
        door = Listener("127.0.0.1", 0, lambda _tried: target, "irc")
        reader, writer = await asyncio.open_connection("127.0.0.1", await door.start())
        assert await reader.readline() == b"hello\r\n"
        async with asyncio.timeout(10):
            await door.close(linger=0.1)
            rest = await reader.read()  # the client sees its connection end
        writer.close()
        upstream.close()
        await upstream.wait_closed()
        await asyncio.sleep(0.1)  # let the loop run any done-callbacks
        return errors, rest

    errors, rest = asyncio.run(scenario())
    assert rest == b""
    assert errors == []


def test_servers_share_one_cloak_secret_and_an_operator_from_a_secret_can_oper(
    up_factory: Any,
) -> None:
    up = up_factory(REPO / "examples" / "operators-cloaks.yaml")
    doc = up.endpoints()
    assert set(doc["servers"]) == {"north", "south"}
    state = up.state / "staffed"
    configs = {
        name: yaml.safe_load((state / f"{name}.yaml").read_text()) for name in doc["servers"]
    }
    files = {c["cloaks"]["secretFile"] for c in configs.values()}
    cloak = state / "secrets" / "staffed-cloak" / "secret"
    assert files == {str(cloak.resolve())}, "every server reads the network's one cloak secret"
    assert stat.S_IMODE(cloak.stat().st_mode) == 0o600
    secret = cloak.read_text()
    assert len(secret.strip()) >= 32
    password = state / "secrets" / "staff-opers" / "alice"
    assert password.read_text() == "change-me-alice"
    assert stat.S_IMODE(password.stat().st_mode) == 0o600
    for c in configs.values():
        [oper] = c["operators"]
        assert oper["passwordFile"] == str(password.resolve()) and oper["password"] is None
    client = up.client(doc["network"]["irc"], "alice")
    client.send("OPER alice wrong")
    client.expect("464")
    client.send("OPER alice change-me-alice")
    client.expect("381")
    assert up.stop() < 5
    # A second run keeps the cloak secret (cloaks and bans on them stay valid).
    up.endpoints_path.unlink(missing_ok=True)
    again = up_factory(REPO / "examples" / "operators-cloaks.yaml")
    assert again.state == up.state
    again.endpoints()
    assert cloak.read_text() == secret


def test_a_referenced_secret_missing_locally_is_named(tmp_path: Path) -> None:
    text = (REPO / "examples" / "operators-cloaks.yaml").read_text()
    manifest = tmp_path / "nosecret.yaml"
    manifest.write_text(text.split("---\n", 1)[1])
    done = subprocess.run(
        [sys.executable, "-m", "chatnet_operator.cli", "up", str(manifest)],
        capture_output=True,
        text=True,
        env=operator_env(),
        cwd=tmp_path,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert "spec.operators[0].passwordSecretRef: Secret staff-opers (key alice) is not in " in (
        done.stderr
    )
