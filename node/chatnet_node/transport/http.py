"""HTTP routes: health, readiness, status, metrics (the admin paths) and the page.

``/healthz`` answers while the process serves; ``/readyz`` turns 503 when the
server is full or draining, so a Kubernetes Service stops sending it users;
``/status`` is JSON for the operator and people; ``/metrics`` is Prometheus;
``/`` is the web chat page.

Two route tables share this code: the WebSocket port's (the page, and the
admin paths only when the node has no admin listener, so a bare node stays
observable) and the admin listener's (the admin paths, no page). With an admin
listener the client port answers 404 for the admin paths: whoever reaches
the public endpoint cannot read the node's status or metrics.
"""

from __future__ import annotations

import email.utils
import json
from importlib import resources
from typing import Any

from prometheus_client import CollectorRegistry
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from .. import metrics
from ..irc.core import ChatCore

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}
#: What the admin listener serves (and the client port too when there is none).
ADMIN_PATHS = frozenset({"/healthz", "/readyz", "/status", "/metrics"})


def load_page() -> bytes:
    """The web chat page shipped with the package."""
    try:
        return resources.files("chatnet_node").joinpath("static/index.html").read_bytes()
    except (FileNotFoundError, OSError):
        return b"<!doctype html><title>chatnet</title><p>The web page is not installed.</p>"


def response(status: int, body: bytes, content_type: str) -> Response:
    """A complete HTTP/1.1 response that closes the connection."""
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", content_type),
            ("Cache-Control", "no-store"),
        ]
    )
    return Response(status, _REASONS.get(status, "OK"), headers, body)


def status_document(core: ChatCore) -> dict[str, Any]:
    """What ``/status`` reports."""
    config = core.config
    return {
        "name": config.name,
        "serverId": config.server_id,
        "network": config.network,
        "ready": core.ready,
        "draining": core.draining,
        "clients": len(core.clients),
        "users": core.registered_count,
        "maxClients": config.limits.max_clients,
        "channels": len(core.channels),
        "unacknowledged": core.unacknowledged(),
        "replayed": core.stats.replayed,
        "links": core.network.status() if core.network is not None else [],
        # How far back CHATHISTORY AFTER a line said now would look (irc.disruptions).
        "disruptions": core.disruptions.report(core.ids.now()),
        "uptimeSeconds": round(core.clock() - core.started, 1),
    }


class HttpRoutes:
    """Maps a request path to a response. Called by the WebSocket and admin adapters.

    ``admin``: serve the admin paths; ``page``: serve the web chat page.
    """

    def __init__(
        self,
        core: ChatCore,
        registry: CollectorRegistry,
        *,
        admin: bool = True,
        page: bool = True,
    ) -> None:
        self.core = core
        self.registry = registry
        self.admin = admin
        self.page = load_page() if page else None

    def __call__(self, request: Request) -> Response:
        return self.get(request.path.split("?", 1)[0])

    def get(self, path: str) -> Response:
        """The response to ``GET path``."""
        core = self.core
        if path in ADMIN_PATHS and not self.admin:
            return response(404, b"not found\n", "text/plain; charset=utf-8")
        if path == "/healthz":
            return response(200, b"ok\n", "text/plain; charset=utf-8")
        if path == "/readyz":
            if core.ready:
                return response(200, b"ready\n", "text/plain; charset=utf-8")
            why = b"draining\n" if core.draining else b"full\n"
            return response(503, why, "text/plain; charset=utf-8")
        if path == "/status":
            body = json.dumps(status_document(core), indent=2).encode() + b"\n"
            return response(200, body, "application/json")
        if path == "/metrics":
            return response(200, metrics.render(self.registry), "text/plain; version=0.0.4")
        if path in ("/", "/index.html") and self.page is not None:
            return response(200, self.page, "text/html; charset=utf-8")
        return response(404, b"not found\n", "text/plain; charset=utf-8")
