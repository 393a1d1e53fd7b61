"""Start real chatnet-node processes for tests, on free loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class NodeProcess:
    """One chatnet-node subprocess and where to reach it."""

    name: str
    irc_port: int
    ws_port: int
    config_path: Path
    proc: subprocess.Popen[bytes] | None = None
    tls_port: int | None = None
    log_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.ws_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/"

    def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "node"), env.get("PYTHONPATH", "")])
        assert self.log_path is not None
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "chatnet_node", "--config", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.wait_ready()

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.name} exited: {self.log()}")
            try:
                with urllib.request.urlopen(self.http_url + "/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"node {self.name} did not start: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def make_node(tmp: Path, name: str = "test", **overrides: Any) -> NodeProcess:
    """Write a configuration for a node on free ports and return it, not started.

    ``overrides`` are merged into the top level of the YAML configuration
    (camelCase keys, as in the file format).
    """
    irc_port, ws_port = free_port(), free_port()
    config: dict[str, Any] = {
        "name": name,
        "serverId": 10,
        "network": "TestNet",
        "listeners": {
            "irc": [{"host": "127.0.0.1", "port": irc_port}],
            "websocket": [{"host": "127.0.0.1", "port": ws_port}],
        },
        "history": {"path": str(tmp / f"{name}-history.sqlite3")},
        "drainSeconds": 1.0,
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return NodeProcess(
        name=name,
        irc_port=irc_port,
        ws_port=ws_port,
        config_path=path,
        log_path=tmp / f"{name}.log",
    )
