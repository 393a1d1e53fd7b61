"""The web page through a big netsplit: how long until it shows it, and how long it froze.

Starts two linked chatnet-nodes (pings 1 s / 2 s), puts ``--users`` users
on ``b`` in ``#lobby`` (raw TCP, from this process) and the web page on
``a`` (headless Chromium), then freezes ``b`` (SIGSTOP) so that ``a`` splits
it off at its ping timeout. Prints, for the page:

* how long after ``a`` logged the link down its member list was down to
  itself (every QUIT handled);
* the main thread's long tasks meanwhile (Chromium's ``longtask`` entries:
  each over 50 ms, the page unresponsive for that long), in total and the
  longest;
* how many lines its channel log holds;

and then, once ``b`` resumes and links again (its users come back), the
same for the heal.

``--against DIR`` runs it again with the node code (and so the page) in
``DIR`` (another checkout's ``node/``), in the same run.

    .venv/bin/python bench/netsplit_page.py --users 2000
    .venv/bin/python bench/netsplit_page.py --users 2000 --against /tmp/old/node
"""

from __future__ import annotations

import argparse
import datetime
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import HOST, free_port, node_env, stop_process, venv_python, wait_http  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
LINKS = {"secret": "bench-split", "pingInterval": 1, "pingTimeout": 2}
WATCH_LONG_TASKS = """() => {
  window.benchLong = [0, 0];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      window.benchLong[0] += e.duration;
      window.benchLong[1] = Math.max(window.benchLong[1], e.duration);
    }
  }).observe({ type: "longtask" });
}"""
MEMBERS = "document.querySelectorAll('#member-list li').length"
LOG_LINES = "document.querySelectorAll('#log ol[data-channel=\"#lobby\"] li').length"


class Node:
    """One chatnet-node process on loopback ports of its own."""

    def __init__(self, work: Path, name: str, sid: int, node_dir: Path | None, **links: Any):
        self.name = name
        self.irc, self.ws, self.admin = free_port(), free_port(), free_port()
        self.log = work / f"{name}.log"
        config = {
            "name": name,
            "serverId": sid,
            "network": "Bench",
            "listeners": {
                "irc": [{"host": HOST, "port": self.irc}],
                "websocket": [{"host": HOST, "port": self.ws}],
                "admin": [{"host": HOST, "port": self.admin}],
            },
            "history": {"path": None},
            "links": {**LINKS, **links},
            # The users never answer a PING: no client ping timeout within the run.
            "limits": {"maxClients": 20_000, "pingInterval": 3600, "pingTimeout": 3600},
        }
        path = work / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [venv_python(), "-m", "chatnet_node", "--config", str(path)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=node_env(node_dir),
            )
        wait_http(f"http://{HOST}:{self.admin}/healthz", 20.0)

    def logged_at(self, what: str, nth: int = 1) -> float:
        """When this node logged ``what`` the ``nth`` time (epoch seconds)."""
        seen = 0
        for line in self.log.read_text(errors="replace").splitlines():
            if what in line:
                seen += 1
                if seen == nth:
                    stamp = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
                    return stamp.timestamp()
        raise RuntimeError(f"{self.name} logged {what!r} {seen} times, not {nth}")


def connect_users(port: int, count: int) -> list[socket.socket]:
    """``count`` registered users in ``#lobby``; their sockets, which nobody reads."""
    users = []
    for n in range(count):
        sock = socket.create_connection((HOST, port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.sendall(f"NICK u{n:05d}\r\nUSER u 0 * :u\r\nJOIN #lobby\r\n".encode())
        users.append(sock)
        if n % 250 == 249:
            time.sleep(0.1)  # within the throttle of unregistered connections
    return users


def drain(users: list[socket.socket]) -> None:
    """Read what the users were sent so far (the JOINs of everyone), so none falls behind."""
    for sock in users:
        sock.setblocking(False)
        try:
            while sock.recv(1 << 16):
                pass
        except OSError:
            pass


def run(users: int, node_dir: Path | None, timeout: float) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 (bench-only dependency)

    with tempfile.TemporaryDirectory(prefix="netsplit-page-") as tmp:
        work = Path(tmp)
        a = Node(work, "a", 1, node_dir)
        dial = {"name": "a", "serverId": 1, "host": HOST, "port": a.ws}
        b = Node(work, "b", 2, node_dir, dial=[dial])
        socks: list[socket.socket] = []
        try:
            socks = connect_users(b.irc, users)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
                )
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(f"http://{HOST}:{a.ws}/")
                page.get_by_test_id("nick-input").fill("ann")
                page.get_by_test_id("channels-input").fill("#lobby")
                page.get_by_test_id("nick-input").press("Enter")
                deadline = time.monotonic() + timeout
                while page.evaluate(MEMBERS) < users + 1:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the page never listed {users + 1} members")
                    drain(socks)
                    time.sleep(0.5)
                figures: dict[str, Any] = {"code": str(node_dir or REPO / "node"), "users": users}
                page.evaluate(WATCH_LONG_TASKS)
                b.proc.send_signal(signal.SIGSTOP)
                split = timed(page, lambda n: n == 1, deadline, "the split")
                split["after_link_down_s"] = split["at"] - a.logged_at("link down:")
                page.evaluate(WATCH_LONG_TASKS)
                b.proc.send_signal(signal.SIGCONT)
                heal = timed(page, lambda n: n == users + 1, deadline, "the heal")
                heal["after_link_up_s"] = heal["at"] - a.logged_at("link up:", 2)
                for part, values in (("split", split), ("heal", heal)):
                    figures[part] = {k: round(v, 2) for k, v in values.items() if k != "at"}
                browser.close()
                return figures
        finally:
            for sock in socks:
                sock.close()
            b.proc.send_signal(signal.SIGCONT)
            stop_process(b.proc)
            stop_process(a.proc)


def timed(page: Any, done: Any, deadline: float, what: str) -> dict[str, float]:
    """Wait until the page's member count satisfies ``done``; when, and its long tasks."""
    while not done(page.evaluate(MEMBERS)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the page never showed {what}")
        time.sleep(0.05)
    at = time.time()
    long_total, longest = page.evaluate("window.benchLong")
    return {"at": at, "long_tasks_ms": long_total, "longest_task_ms": longest,
            "log_lines": page.evaluate(LOG_LINES)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=2000, help="users split off (default 2000)")
    parser.add_argument("--against", type=Path, help="another checkout's node/ to run as well")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a run may take")
    args = parser.parse_args()
    if not 1 <= args.users <= 10_000:
        parser.error("--users must be between 1 and 10000")
    for node_dir in [None, args.against] if args.against else [None]:
        print(json.dumps(run(args.users, node_dir, args.timeout)), flush=True)


if __name__ == "__main__":
    main()
