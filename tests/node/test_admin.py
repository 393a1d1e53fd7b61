"""The admin listener: status, metrics and probes on a port of their own.

With ``listeners.admin`` the WebSocket port keeps the page and the WebSocket
and answers 404 for the admin paths; without it (a bare node) the WebSocket
port serves them as before.
"""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from tests.irc.client import Clients
from tests.nodeproc import NodeProcess, make_node

ADMIN_PATHS = ("/healthz", "/readyz", "/status", "/metrics")


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode()


def raw(port: int, request: bytes) -> bytes:
    """Send ``request`` to the port and read the whole answer (the server closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_admin_paths_move_to_the_admin_port(node: NodeProcess, irc: Clients) -> None:
    assert node.admin_port is not None and node.admin_port != node.ws_port
    alice = await irc.tcp("alice")
    await alice.join("#admin")
    for path in ADMIN_PATHS:
        status, body = await asyncio.to_thread(get, node.http_url + path)
        assert status == 404, (path, body)
        status, body = await asyncio.to_thread(get, node.admin_url + path)
        assert status == 200, (path, body)
    _, body = await asyncio.to_thread(get, node.admin_url + "/status")
    assert json.loads(body)["clients"] == 1
    _, body = await asyncio.to_thread(get, node.admin_url + "/metrics")
    assert "chatnet_clients" in body
    # The page and the WebSocket stay on the client port; the admin port has neither.
    status, page = await asyncio.to_thread(get, node.http_url + "/")
    assert status == 200 and "<html" in page.lower()
    assert (await asyncio.to_thread(get, node.admin_url + "/"))[0] == 404
    web = await irc.websocket("webby")
    await web.join("#admin")
    with pytest.raises(InvalidStatus):
        async with ws_connect(node.admin_url.replace("http", "ws") + "/"):
            pass


def test_admin_port_refuses_what_is_not_a_get(node: NodeProcess) -> None:
    assert node.admin_port is not None
    answer = raw(node.admin_port, b"POST /status HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 405 ")
    answer = raw(node.admin_port, b"GET /status SPDY/9\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    answer = raw(node.admin_port, b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    # A well-formed request still gets its answer afterwards.
    assert raw(node.admin_port, b"GET /healthz HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 200 ")


def test_without_an_admin_listener_the_client_port_serves_everything(tmp_path: Path) -> None:
    node = make_node(
        tmp_path,
        "bare",
        listeners={"admin": []},
    )
    assert node.admin_port is None
    node.start()
    try:
        for path in ADMIN_PATHS:
            assert get(node.http_url + path)[0] == 200, path
        assert get(node.http_url + "/")[0] == 200
    finally:
        node.stop()
