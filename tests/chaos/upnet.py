"""A ``chatnet up`` network for chaos runs: start it, find its servers, kill them.

``chatnet up`` runs every server as a supervised process (a killed one is
restarted after a short backoff) behind a front door that sends each new
connection to the least-loaded ready server: the local stand-in for a
Kubernetes Service. The endpoints file (``--endpoints``) says where
everything listens once the network is ready.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path
from typing import Any

from tests.nodeproc import node_pids, start_up, stop_process
from tests.waiting import wait_until


def manifest(
    name: str = "chaos",
    hubs: int = 2,
    leaves: int = 2,
    ping: str = "2s",
    timeout: str = "4s",
    max_clients: int = 1000,
    flood_rate: int = 4,
) -> str:
    """Hubs in a chain (hub-0 dials hub-1, ...) and leaves with uplinks [hub-0, hub-1, ...]."""
    docs = [
        {
            "apiVersion": "chatnet.io/v1alpha1",
            "kind": "ChatNetwork",
            "metadata": {"name": name},
            "spec": {
                "links": {"pingInterval": ping, "pingTimeout": timeout},
                # Every line of an hour's run is kept (not the last 10,000 of the
                # channel), so a loss's audit finds where each line is stored.
                "history": {
                    "store": "sqlite",
                    "retention": "1h",
                    "maxMessagesPerTarget": 200_000,
                },
                "limits": {"floodBurst": 50, "floodRate": flood_rate},
            },
        }
    ]
    hub_names = [f"hub-{i}" for i in range(hubs)]
    for i, hub in enumerate(hub_names):
        spec: dict[str, Any] = {
            "network": name,
            "role": "hub",
            "serverId": 10 + i,
            "maxClients": max_clients,
        }
        if i + 1 < hubs:
            spec["peers"] = [hub_names[i + 1]]
        docs.append(
            {
                "apiVersion": "chatnet.io/v1alpha1",
                "kind": "ChatServer",
                "metadata": {"name": hub},
                "spec": spec,
            }
        )
    if leaves:
        docs.append(
            {
                "apiVersion": "chatnet.io/v1alpha1",
                "kind": "ChatServer",
                "metadata": {"name": "leaf"},
                "spec": {
                    "network": name,
                    "role": "leaf",
                    "serverId": 20,
                    "replicas": leaves,
                    "maxClients": max_clients,
                    "uplinks": hub_names,
                },
            }
        )
    return "---\n".join(json.dumps(doc) + "\n" for doc in docs)


class UpNetwork:
    """One ``chatnet up`` process and what it started."""

    def __init__(self, tmp: Path, text: str) -> None:
        self.tmp = tmp
        self.manifest = tmp / "network.yaml"
        self.manifest.write_text(text)
        self.state = tmp / "state"
        self.endpoints_path = tmp / "endpoints.json"
        self.err_path = tmp / "up.err"
        self.doc: dict[str, Any] = {}
        with (tmp / "up.out").open("wb") as out, self.err_path.open("wb") as err:
            self.proc = start_up(self.manifest, self.endpoints_path, self.state, out, err, tmp)

    def log(self) -> str:
        return self.err_path.read_text(errors="replace") if self.err_path.exists() else ""

    def server_logs(self, tail: int = 4000) -> str:
        out = []
        for path in sorted(self.state.glob("*/*.log")):
            out.append(f"===== {path.name} =====\n{path.read_text(errors='replace')[-tail:]}")
        return "\n".join(out)

    def wait_ready(self, timeout: float = 30.0) -> dict[str, Any]:
        """The endpoints document, once every server and link is up."""

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chatnet up exited: {self.log()}")
            return self.endpoints_path.exists()

        wait_until(ready, timeout, "chatnet up ready", 0.1, self.log)
        self.doc = json.loads(self.endpoints_path.read_text())
        return self.doc

    @property
    def front_irc(self) -> tuple[str, int]:
        host, port = self.doc["network"]["irc"].rsplit(":", 1)
        return host, int(port)

    def irc_of(self, server: str) -> tuple[str, int]:
        host, port = self.doc["servers"][server]["irc"].rsplit(":", 1)
        return host, int(port)

    def servers(self, role: str | None = None) -> list[str]:
        return sorted(
            name
            for name, info in self.doc["servers"].items()
            if role is None or info["role"] == role
        )

    def pid(self, server: str) -> int | None:
        """The running node process of ``server`` (its config file names it)."""
        needle = f"/{server}.yaml"
        state = str(self.state)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "chatnet_node" in cmdline and state in cmdline and needle in cmdline:
                return int(entry.name)
        return None

    def kill(self, server: str) -> int:
        """SIGKILL the server's process (``chatnet up`` restarts it); returns the pid."""
        pid = self.pid(server)
        if pid is None:
            raise RuntimeError(f"no process for {server}")
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_restarted(self, server: str, old_pid: int, timeout: float = 15.0) -> None:
        """Wait until a new process of ``server`` answers on its IRC port."""

        def answers() -> bool:
            pid = self.pid(server)
            if pid is None or pid == old_pid:
                return False
            try:
                with socket.create_connection(self.irc_of(server), timeout=1):
                    return True
            except OSError:
                return False

        wait_until(answers, timeout, f"{server} restarted", 0.1, self.log)

    def stop(self) -> None:
        stop_process(self.proc, 10)
        # Whatever a failed stop left behind (nodes are matched by our state dir).
        for pid in node_pids(str(self.state)):
            os.kill(pid, signal.SIGKILL)
