"""What ``chatnet up`` tells the user: readiness, the endpoints file, the table.

All pure: the runtime feeds in what it probed and prints or writes the result.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatnet_operator.local.placement import ServerPorts
from chatnet_operator.observe.status import Probe, network_status, server_ready
from chatnet_operator.plan.desired import NetworkPlan

#: The endpoints file waits for every expected portal to be up.
REQUIRE_LINKS = True


@dataclass(frozen=True)
class FrontDoor:
    """Where a network's front door listens."""

    network: str
    host: str
    irc_port: int
    ws_port: int
    #: IRC over TLS (the network has ``endpoint.tls``).
    irc_tls_port: int | None = None

    @property
    def urls(self) -> dict[str, str]:
        urls = _urls(self.host, self.irc_port, self.ws_port)
        if self.irc_tls_port is not None:
            urls["ircs"] = f"{self.host}:{self.irc_tls_port}"
        return urls


def _urls(host: str, irc: int, ws: int) -> dict[str, str]:
    return {"irc": f"{host}:{irc}", "ws": f"ws://{host}:{ws}/", "http": f"http://{host}:{ws}/"}


def network_ready(
    plan: NetworkPlan, probes: Mapping[str, Probe], require_links: bool = REQUIRE_LINKS
) -> bool:
    """Every server answers, those serving clients take them, every link is up."""
    if not all(server_ready(plan, name, probes.get(name)) for name in plan.servers):
        return False
    if require_links:
        status = network_status(plan, probes)
        return status.links_up == status.links_expected
    return True


def endpoints_document(
    fronts: list[FrontDoor],
    plans: list[NetworkPlan],
    ports: Mapping[str, ServerPorts],
    host: str,
) -> dict[str, Any]:
    """The ``--endpoints`` JSON: the front door of the (first) network and every server."""
    servers: dict[str, Any] = {}
    for plan in plans:
        for name, server in plan.servers.items():
            p = ports[name]
            servers[name] = {
                **_urls(host, p.irc, p.ws),
                **({"ircs": f"{host}:{p.irc_tls}"} if p.irc_tls is not None else {}),
                "admin": f"http://{host}:{p.admin}/",  # /status, /metrics, /healthz, /readyz
                "ircName": server.node.name,  # NAME.<serverDomain> when the network has one
                "role": server.role.value,
                "serverId": server.server_id,
                "network": plan.network,
            }
    return {
        "network": fronts[0].urls if fronts else {},
        "networks": {f.network: f.urls for f in fronts},
        "servers": servers,
    }


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` in one step: readers see the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def endpoints_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def table(
    fronts: list[FrontDoor], plans: list[NetworkPlan], ports: Mapping[str, ServerPorts], host: str
) -> str:
    """The table printed at start: every server, then where users connect."""
    rows = [("SERVER", "ROLE", "ID", "MAX", "IRC", "WEB (HTTP + WebSocket)", "ADMIN (/status)")]
    for plan in plans:
        for name, server in plan.servers.items():
            p = ports[name]
            rows.append(
                (
                    name,
                    server.role.value,
                    str(server.server_id),
                    str(server.node.limits.max_clients),
                    f"{host}:{p.irc}",
                    f"http://{host}:{p.ws}/",
                    f"http://{host}:{p.admin}/",
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    for front in fronts:
        urls = front.urls
        lines += [
            "",
            f"network {front.network}: connect here (the least-loaded ready server answers)",
            f"  web chat   {urls['http']}",
            f"  WebSocket  {urls['ws']}",
            f"  IRC        {urls['irc']}",
        ]
        if "ircs" in urls:
            lines.append(f"  IRC (TLS)  {urls['ircs']}")
    return "\n".join(lines) + "\n"
