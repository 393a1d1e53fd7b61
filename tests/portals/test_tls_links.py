"""Links over TLS: wss:// between servers, and plaintext refused where TLS is required."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.irc.lines import contains, from_user
from tests.nodeproc import NodeProcess, free_port, make_node
from tests.portals.test_portals import SECRET, Client
from tests.waiting import wait_until


def tls_hub(tmp_path: Path, certificate: tuple[Path, Path]) -> tuple[NodeProcess, int]:
    cert, key = certificate
    tls_port = free_port()
    hub = make_node(
        tmp_path,
        "secure-hub",
        serverId=1,
        links={"secret": SECRET, "tls": "required", "accept": ["tls-leaf", "plain-leaf"]},
    )
    data: dict[str, Any] = yaml.safe_load(hub.config_path.read_text())
    data["listeners"]["websocketTls"] = [
        {"host": "127.0.0.1", "port": tls_port, "certFile": str(cert), "keyFile": str(key)}
    ]
    hub.config_path.write_text(yaml.safe_dump(data))
    return hub, tls_port


def wait_for(node: NodeProcess, text: str, timeout: float = 15.0) -> None:
    wait_until(lambda: text in node.log(), timeout, f"{node.name} logs {text!r}", poll=0.1)


def test_leaf_links_over_wss_and_a_plaintext_link_is_refused(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    hub, tls_port = tls_hub(tmp_path, certificate)
    secure = make_node(
        tmp_path,
        "tls-leaf",
        serverId=2,
        links={
            "secret": SECRET,
            "role": "leaf",
            "tls": "required",
            "caFile": str(certificate[0]),
            "dial": [
                {
                    "name": "secure-hub",
                    "serverId": 1,
                    "host": "127.0.0.1",
                    "port": tls_port,
                    "tls": True,
                }
            ],
        },
    )
    plain = make_node(
        tmp_path,
        "plain-leaf",
        serverId=3,
        links={
            "secret": SECRET,
            "role": "leaf",
            "dial": [{"name": "secure-hub", "serverId": 1, "host": "127.0.0.1", "port": 0}],
        },
    )
    nodes = [hub, secure, plain]
    try:
        hub.start()
        # plain-leaf dials the hub's plaintext WebSocket port.
        text = plain.config_path.read_text().replace("port: 0\n", f"port: {hub.ws_port}\n", 1)
        plain.config_path.write_text(text)
        secure.start()
        plain.start()
        on_hub, on_leaf = Client(hub, "hubuser"), Client(secure, "leafuser")
        on_leaf.wait_linked(2)
        for user in (on_hub, on_leaf):
            user.send("JOIN #tls")
            user.expect("366")
        on_hub.expect(from_user("leafuser", "JOIN", "#tls"))
        on_leaf.send("PRIVMSG #tls :over an encrypted portal")
        assert on_hub.expect(contains("PRIVMSG #tls")).raw.endswith(":over an encrypted portal")
        wait_for(hub, "plaintext link refused: this network requires TLS")
        wait_for(plain, "plaintext link refused")
        on_hub.send("LUSERS")
        assert "on 2 servers" in on_hub.expect("251").raw, "the plaintext leaf stays out"
        for user in (on_hub, on_leaf):
            user.close()
    finally:
        for node in nodes:
            node.stop()


def test_a_link_listener_with_a_certificate_made_at_start(tmp_path: Path) -> None:
    """What the operator configures when a network gives no link certificate."""
    tls_port = free_port()
    hub = make_node(
        tmp_path,
        "self-signed-hub",
        serverId=1,
        links={"secret": SECRET, "tls": "required", "accept": ["leaf"]},
    )
    data: dict[str, Any] = yaml.safe_load(hub.config_path.read_text())
    data["listeners"]["websocketTls"] = [
        {"host": "127.0.0.1", "port": tls_port, "selfSigned": True}
    ]
    hub.config_path.write_text(yaml.safe_dump(data))
    leaf = make_node(
        tmp_path,
        "leaf",
        serverId=2,
        links={
            "secret": SECRET,
            "role": "leaf",
            "tls": "required",
            "dial": [
                {
                    "name": "self-signed-hub",
                    "serverId": 1,
                    "host": "127.0.0.1",
                    "port": tls_port,
                    "tls": True,
                }
            ],
        },
    )
    try:
        hub.start()
        leaf.start()
        on_hub, on_leaf = Client(hub, "hubuser"), Client(leaf, "leafuser")
        on_leaf.wait_linked(2)
        for user in (on_hub, on_leaf):
            user.send("JOIN #tls")
            user.expect("366")
        on_leaf.send("PRIVMSG #tls :private without a CA")
        assert on_hub.expect(contains("PRIVMSG #tls")).raw.endswith(":private without a CA")
        with urllib.request.urlopen(hub.admin_url + "/status", timeout=5) as resp:
            links = json.load(resp)["links"]
        assert [(link["peer"], link["tls"]) for link in links] == [("leaf", True)]
        for user in (on_hub, on_leaf):
            user.close()
    finally:
        hub.stop()
        leaf.stop()
