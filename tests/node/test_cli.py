"""`chatnet-node` as a person runs it: flags, a config file, wrong input."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

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
    assert proc.returncode == 1
    assert "cannot listen" in err
