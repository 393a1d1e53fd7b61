"""`chatnet-node` as a person runs it: flags, a config file, wrong input."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from chatnet_node.cli import EXIT_PORT_TAKEN
from tests.irc.blocking import LineClient
from tests.nodeproc import REPO, free_port


def run_node(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "node")}
    return subprocess.Popen(
        [sys.executable, "-m", "chatnet_node", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_flags_start_a_server_that_says_where_to_connect() -> None:
    irc, ws = free_port(), free_port()
    proc = run_node(
        "--name",
        "irc.flagged.example",
        "--irc",
        f"127.0.0.1:{irc}",
        "--ws",
        f"127.0.0.1:{ws}",
        "--max-clients",
        "5",
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "chatnet-node irc.flagged.example" in first
        rest = proc.stdout.readline() + proc.stdout.readline()
        assert f"127.0.0.1:{irc}" in rest and f"http://127.0.0.1:{ws}/" in rest
        with LineClient.tcp(irc, timeout=5).register("flag", timeout=5) as client:
            data = "\n".join(m.raw for m in client.seen)
            assert ":irc.flagged.example 001 flag :Welcome" in data
            assert ":irc.flagged.example 004 flag irc.flagged.example chatnet-0.1.0 " in data
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    assert proc.returncode == 0


def test_version() -> None:
    proc = run_node("--version")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and out == "chatnet-node 0.1.0\n"


def test_invalid_config_file_names_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Not Valid\nlimits: {maxClients: -1}\nbogus: 1\n")
    proc = run_node("--config", str(bad))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert str(bad) in err
    assert "line 2: limits.maxClients" in err
    assert "bogus" in err
    assert "server name must be" in err


def test_unreadable_and_malformed_config(tmp_path: Path) -> None:
    proc = run_node("--config", str(tmp_path / "missing.yaml"))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "cannot read" in err
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    proc = run_node("--config", str(broken))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "not valid YAML" in err
    assert f"{broken}:2:1:" in err, "the file, line and column of the syntax error"


def test_tls_flag_without_certificate_is_refused() -> None:
    proc = run_node("--tls-irc", "127.0.0.1:0")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "--tls-irc needs --tls-cert and --tls-key" in err


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_node("--irc", f"127.0.0.1:{port}")
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == EXIT_PORT_TAKEN, "a port in use has an exit code of its own"
    assert "cannot listen" in err


def _stop(proc: subprocess.Popen[str]) -> str:
    """SIGTERM, then everything the node wrote to stderr."""
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    return err


def test_uvloop_runs_the_node_by_default_and_asyncio_on_request() -> None:
    cases = (((), "event loop: uvloop"), (("--event-loop", "asyncio"), "event loop: asyncio"))
    for flags, expected in cases:
        port = free_port()
        proc = run_node("--irc", f"127.0.0.1:{port}", *flags)
        try:
            assert proc.stdout is not None
            assert "chatnet-node" in proc.stdout.readline()
            with (
                LineClient.tcp(port, timeout=5).register("alice", timeout=5) as alice,
                LineClient.tcp(port, timeout=5).register("bob", timeout=5) as bob,
            ):
                alice.send("JOIN #loop")
                alice.expect("366", "alice", "#loop", timeout=5)
                bob.send("JOIN #loop")
                bob.expect("366", "bob", "#loop", timeout=5)
                alice.send("PRIVMSG #loop :over the loop")
                bob.expect("PRIVMSG", "#loop", "over the loop", timeout=5)
        finally:
            err = _stop(proc)
        assert f"INFO chatnet.node: {expected}" in err


def test_uvloop_asked_for_but_missing_is_a_clear_error(tmp_path: Path) -> None:
    # A uvloop that cannot be imported, as where the package is not installed.
    (tmp_path / "uvloop.py").write_text("raise ImportError('No module named uvloop')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO / "node")])}
    cfg = tmp_path / "node.yaml"
    cfg.write_text(
        "name: irc.loop.example\neventLoop: uvloop\n"
        f"listeners: {{irc: [{{port: {free_port()}}}]}}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "chatnet_node", "--config", str(cfg)],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert "eventLoop: uvloop is not installed" in proc.stderr
    # Without insisting, the same machine runs on asyncio's loop.
    port = free_port()
    auto = subprocess.Popen(
        [sys.executable, "-m", "chatnet_node", "--irc", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert auto.stdout is not None
        assert "chatnet-node" in auto.stdout.readline()
        with LineClient.tcp(port, timeout=5).register("carol", timeout=5):
            pass
    finally:
        err = _stop(auto)
    assert "event loop: asyncio" in err


def test_unknown_event_loop_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "node.yaml"
    cfg.write_text("name: irc.loop.example\neventLoop: trio\n")
    proc = run_node("--config", str(cfg))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "eventLoop" in err and "'auto', 'uvloop' or 'asyncio'" in err


def test_tls_listeners_run_on_asyncio_and_refuse_uvloop(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    tls = ["--tls-irc", f"127.0.0.1:{free_port()}", "--tls-cert", str(cert), "--tls-key", str(key)]
    refused = run_node(*tls, "--event-loop", "uvloop")
    _, err = refused.communicate(timeout=30)
    assert refused.returncode == 2
    assert "eventLoop: uvloop cannot serve the ircTls/websocketTls listeners" in err
    proc = run_node(*tls)
    try:
        assert proc.stdout is not None
        assert "chatnet-node" in proc.stdout.readline()
    finally:
        err = _stop(proc)
    assert "event loop: asyncio (TLS listeners)" in err
