"""Ask a running node how it is: ``/healthz``, ``/readyz`` and ``/status`` over HTTP.

A tiny asyncio HTTP/1.1 client, so polling many servers twice a second costs
no threads. A server that does not answer in time is reported unhealthy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from chatnet_operator.observe.status import Probe


async def http_get(host: str, port: int, path: str, limit: float = 1.0) -> tuple[int, bytes]:
    """Status code and body of ``GET path``; raises OSError or TimeoutError."""
    async with asyncio.timeout(limit):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            length = next(
                (
                    int(line.split(":", 1)[1])
                    for line in lines[1:]
                    if line.lower().startswith("content-length:")
                ),
                None,
            )
            body = await (reader.readexactly(length) if length is not None else reader.read())
            return status, body
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def probe(host: str, port: int, limit: float = 1.0) -> Probe:
    """One node's health, readiness and load."""
    try:
        status_code, body = await http_get(host, port, "/status", limit)
        ready_code, _ = await http_get(host, port, "/readyz", limit)
    except (OSError, TimeoutError, ValueError, IndexError, asyncio.IncompleteReadError):
        return Probe()
    if status_code != 200:
        return Probe()
    try:
        status: dict[str, Any] = json.loads(body)
    except ValueError:
        return Probe(healthy=True, ready=ready_code == 200)
    links = status.get("links") or []
    return Probe(
        healthy=True,
        ready=ready_code == 200,
        clients=int(status.get("clients", 0)),
        max_clients=int(status.get("maxClients", 0)),
        links_up=sum(1 for link in links if not isinstance(link, dict) or link.get("up", True)),
        draining=bool(status.get("draining", False)),
    )
