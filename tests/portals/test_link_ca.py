"""Links verified against a network CA: per-server certificates, a stranger refused, rotation.

The certificates come from the operator's own CA code (``plan.linkpki``,
what it writes into each server's Secret without cert-manager); the nodes
are real processes reading them from files, as a pod reads its mounted
Secret. Hub ``a`` dials ``b`` (certificate from the network CA) and ``c``
(certificate from another CA); ``d`` (a certificate from that other CA, but
trusting the network CA) dials ``b``, which demands a certificate it trusts
of servers dialing in. Then ``b``'s certificate is renewed on disk
and the CA bundle ``a`` trusts grows to include ``c``'s CA (a CA rotation).
"""

from __future__ import annotations

import datetime
import json
import ssl
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatnet_node.config import ConfigError, parse_config
from chatnet_operator.plan import linkpki
from tests.irc.lines import contains
from tests.nodeproc import NodeProcess, free_port, make_node
from tests.portals.test_portals import SECRET, Client
from tests.portals.test_relink import servers_listed
from tests.waiting import wait_until

LIFE = linkpki.Lifetimes()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def write_pair(directory: Path, data: dict[str, bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for key, value in data.items():
        (directory / key).write_bytes(value)


def hub(
    tmp: Path,
    name: str,
    server_id: int,
    tls_dir: Path,
    dial: list[tuple[str, int, int]],
    sign_adverts: bool = False,
) -> tuple[NodeProcess, int]:
    """A hub with a wss:// link listener serving ``tls_dir``'s pair, verifying with its ca.crt."""
    port = free_port()
    links: dict[str, Any] = {
        "signAdverts": sign_adverts,
        "secret": SECRET,
        "tls": "required",
        "caFile": str(tls_dir / "ca.crt"),
        "certFile": str(tls_dir / "tls.crt"),
        "keyFile": str(tls_dir / "tls.key"),
        "requirePeerCertificate": True,
        "accept": ["a", "b", "c", "d"],
        "dial": [
            {"name": peer, "serverId": sid, "host": "localhost", "port": p, "tls": True}
            for peer, sid, p in dial
        ],
    }
    node = make_node(tmp, name, serverId=server_id, links=links)
    data: dict[str, Any] = yaml.safe_load(node.config_path.read_text())
    data["listeners"]["websocketTls"] = [
        {
            "host": "127.0.0.1",
            "port": port,
            "certFile": str(tls_dir / "tls.crt"),
            "keyFile": str(tls_dir / "tls.key"),
        }
    ]
    node.config_path.write_text(yaml.safe_dump(data))
    return node, port


def links_up(node: NodeProcess) -> dict[str, Any]:
    with urllib.request.urlopen(node.admin_url + "/status", timeout=5) as resp:
        return {link["peer"]: link for link in json.load(resp)["links"]}


def served_certificate(port: int) -> str:
    return ssl.get_server_certificate(("127.0.0.1", port), timeout=5)


def same_certificate(pem_a: str | bytes, pem_b: str | bytes) -> bool:
    def der(pem: str | bytes) -> bytes:
        return ssl.PEM_cert_to_DER_cert(pem if isinstance(pem, str) else pem.decode())

    return der(pem_a) == der(pem_b)


def test_peers_verify_certificates_from_the_network_ca_and_survive_rotation(
    tmp_path: Path,
) -> None:
    ca = linkpki.ca_data("net", None, _now(), LIFE)
    other_ca = linkpki.ca_data("stranger", None, _now(), LIFE)
    dirs = {name: tmp_path / f"{name}-tls" for name in "abc"}
    write_pair(dirs["a"], linkpki.server_data(ca, None, ["localhost"], _now(), LIFE))
    write_pair(dirs["b"], linkpki.server_data(ca, None, ["localhost"], _now(), LIFE))
    write_pair(dirs["c"], linkpki.server_data(other_ca, None, ["localhost"], _now(), LIFE))
    stranger = linkpki.server_data(other_ca, None, ["localhost"], _now(), LIFE)
    write_pair(tmp_path / "d-tls", {**stranger, "ca.crt": ca["ca.crt"]})
    b, b_port = hub(tmp_path, "b", 2, dirs["b"], [])
    c, c_port = hub(tmp_path, "c", 3, dirs["c"], [])
    a, _ = hub(tmp_path, "a", 1, dirs["a"], [("b", 2, b_port), ("c", 3, c_port)])
    d, _ = hub(tmp_path, "d", 4, tmp_path / "d-tls", [("b", 2, b_port)])
    nodes = [b, c, a, d]
    try:
        for node in nodes:
            node.start()
        wait_until(lambda: "b" in links_up(a), 15, "a links to b over TLS", poll=0.1)
        assert links_up(a)["b"]["tls"] is True
        # c's certificate comes from another CA: a refuses it, and says why.
        wait_until(
            lambda: "link to c at wss://localhost" in a.log() and "not trusted" in a.log(),
            15,
            "a refuses c's certificate",
            poll=0.1,
        )
        assert "unable to get local issuer certificate" in a.log()
        assert "c" not in links_up(a)
        # d trusts b, but b does not trust d's certificate: b refuses it, and says why.
        wait_until(
            lambda: "refused a server link" in b.log() and "not trusted" in b.log(),
            15,
            "b refuses d's certificate",
            poll=0.1,
        )
        assert "d" not in links_up(b) and "link refused: its certificate is not trusted" in d.log()
        assert set(links_up(b)) == {"a"}, "a showed a certificate b trusts"

        on_a, on_b = Client(a, "auser"), Client(b, "buser")
        for user in (on_a, on_b):
            user.send("JOIN #ca")
            user.expect("366")

        # b's certificate renewed on disk (new key too): the link stays up ...
        renewed = linkpki.server_data(ca, None, ["localhost"], _now(), LIFE)
        assert not same_certificate(renewed["tls.crt"], served_certificate(b_port))
        write_pair(dirs["b"], renewed)
        wait_until(lambda: "reloaded for new connections" in b.log(), 15, "b reloads", poll=0.1)
        # ... and new connections get the new certificate.
        assert same_certificate(renewed["tls.crt"], served_certificate(b_port))
        on_b.send("PRIVMSG #ca :after the renewal")
        assert on_a.expect(contains("PRIVMSG #ca")).raw.endswith(":after the renewal")
        assert a.log().count("link up: a -- b") == 1, "the link to b never dropped"

        # A CA rotation: the bundles of a and c now hold both CAs; a's next
        # dial of c succeeds while the link to b (old CA) stays.
        bundle = ca["ca.crt"] + other_ca["ca.crt"]
        (dirs["c"] / "ca.crt").write_bytes(bundle)
        (dirs["a"] / "ca.crt").write_bytes(bundle)
        wait_until(lambda: "c" in links_up(a), 30, "a links to c once it trusts c's CA", poll=0.2)
        assert set(links_up(a)) == {"b", "c"}
        assert a.log().count("link up: a -- b") == 1, "the link to b never dropped"
        for user in (on_a, on_b):
            user.close()
    finally:
        for node in nodes:
            node.stop()


@pytest.mark.parametrize(
    ("links", "message"),
    [
        ({"certFile": "/tls/tls.crt"}, "links.certFile and links.keyFile go together"),
        ({"requirePeerCertificate": True}, "links.requirePeerCertificate needs links.caFile"),
        (
            {"signAdverts": True, "caFile": "/tls/ca.crt"},
            "links.signAdverts needs links.caFile, links.certFile and links.keyFile",
        ),
    ],
)
def test_half_a_link_certificate_setting_is_refused(links: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"name": "x", "links": {"secret": SECRET, **links}})


def test_signed_adverts_between_real_servers_and_one_that_signs_in_another_name(
    tmp_path: Path,
) -> None:
    """a -- b -- c sign their adverts (certificates naming them); d's certificate
    is from the network CA too, but it names x, not d: b refuses d's link (the
    handshake is signed too), and d never joins the network."""
    ca = linkpki.ca_data("net", None, _now(), LIFE)
    for name, names in {"a": ["a"], "b": ["b"], "c": ["c"], "d": ["x"]}.items():
        write_pair(
            tmp_path / f"{name}-tls",
            linkpki.server_data(ca, None, ["localhost", *names], _now(), LIFE),
        )
    b, b_port = hub(tmp_path, "b", 2, tmp_path / "b-tls", [], sign_adverts=True)
    a, _ = hub(tmp_path, "a", 1, tmp_path / "a-tls", [("b", 2, b_port)], sign_adverts=True)
    c, _ = hub(tmp_path, "c", 3, tmp_path / "c-tls", [("b", 2, b_port)], sign_adverts=True)
    d, _ = hub(tmp_path, "d", 4, tmp_path / "d-tls", [("b", 2, b_port)], sign_adverts=True)
    nodes = [b, a, c, d]
    try:
        for node in nodes:
            node.start()
        on_a = Client(a, "auser")

        def servers_a_sees() -> set[str]:
            return {line.split()[3] for line in servers_listed(on_a, "LINKS", "364", "365")}

        wait_until(lambda: servers_a_sees() == {"a", "b", "c"}, 20, "a sees b and c", poll=0.2)
        refusal = "authentication failed: not d: its certificate does not name d"
        wait_until(lambda: refusal in b.log(), 20, "b refuses d's link", poll=0.1)
        assert "(it names localhost, x)" in b.log()
        assert "d" not in links_up(b)
        assert servers_a_sees() == {"a", "b", "c"}
        on_c = Client(c, "cuser")
        for user in (on_a, on_c):
            user.send("JOIN #signed")
            user.expect("366")
        on_c.send("PRIVMSG #signed :over signed links")
        assert on_a.expect(contains("PRIVMSG #signed")).raw.endswith(":over signed links")
        assert "refused the advert of a" not in b.log() + c.log()
        assert "refused the advert of c" not in a.log() + b.log()
        for user in (on_a, on_c):
            user.close()
    finally:
        for node in nodes:
            node.stop()
