"""Signed adverts (``links.signAdverts``): a peer that passed link authentication
cannot speak for another server's links (nor, with ``links.podCertificates``, a
replica for its sibling).

Real certificates from the operator's own CA code (``plan.linkpki``), real
signatures; the servers are cores joined by in-memory links (``CoreNetwork``).
``h`` is a hostile server: it belongs to the network (its certificate comes
from the network CA, for its own name) and tries to rewrite ``c``'s links.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from chatnet_node.links import protocol as lp
from chatnet_node.links.handshake import Handshake
from chatnet_node.links.signatures import AdvertSignatures
from chatnet_operator.api.loader import parse_text
from chatnet_operator.api.validate import validate_documents
from chatnet_operator.plan import linkpki
from chatnet_operator.plan.placement import ClusterPlacement
from chatnet_operator.plan.planner import plan_network
from tests.corekit import START, CoreNetwork, CoreUser, MemSession

NOW = datetime.datetime.fromtimestamp(START, datetime.UTC)
LIFE = linkpki.Lifetimes()


def signer(directory: Path, ca: dict[str, bytes], *names: str) -> AdvertSignatures:
    """A server's signatures, from a certificate of ``ca`` naming ``names``."""
    directory.mkdir(parents=True)
    for key, value in linkpki.server_data(ca, None, list(names), NOW, LIFE).items():
        (directory / key).write_bytes(value)
    return AdvertSignatures(directory / "tls.crt", directory / "tls.key", directory / "ca.crt")


@pytest.fixture
def net(tmp_path: Path) -> CoreNetwork:
    """a -- b -- c, and h linked to b; every server signs and checks adverts."""
    ca = linkpki.ca_data("net", None, NOW, LIFE)
    network = CoreNetwork("a", "b", "c", "h")
    for name, manager in network.managers.items():
        manager.signatures = signer(tmp_path / name, ca, f"{name}-0.{name}", name)
    network.link("a", "b")
    network.link("b", "c")
    network.link("h", "b")
    return network


def links_seen(user: CoreUser) -> list[str]:
    return sorted(line.split()[3] for line in user.ask("LINKS") if " 364 " in line)


def advert_of(net: CoreNetwork, server: str) -> lp.Advert:
    """The latest advert of ``server`` as it went over the wire (signed)."""
    adverts = [
        lp.Advert.model_validate(json.loads(text))
        for session in net.managers[server].sessions.values()
        if isinstance(session, MemSession)
        for text in session.sent
        if '"t":"lsa"' in text and f'"server":"{server}"' in text
    ]
    return max(adverts, key=lambda advert: advert.seq)


def from_h(net: CoreNetwork, message: lp.Advert) -> None:
    """``h`` sends ``message`` to ``b`` over its real link."""
    _, at_b = net.links[frozenset(("h", "b"))]
    net.managers["b"].received(at_b, lp.encode(message))
    net.settle()


def test_signed_adverts_carry_the_network_and_relay_intact(net: CoreNetwork) -> None:
    alice = net.user("a", "alice")
    assert links_seen(alice) == ["a", "b", "c", "h"]  # c's advert reached a through b
    carol = net.user("c", "carol")
    net.say(carol, "JOIN #room")
    net.say(alice, "JOIN #room")
    net.say(carol, "PRIVMSG #room :signed network")
    assert any(line.endswith("PRIVMSG #room :signed network") for line in alice.lines())
    assert all(m.dropped == 0 for m in net.managers.values())
    # What b passes on is c's own advert, signature and all.
    relayed = advert_of(net, "c")
    assert relayed.cert and relayed.sig
    assert net.managers["a"].signatures is not None
    assert net.managers["a"].signatures.problem(relayed, NOW) is None


def forged_cut_of_c(net: CoreNetwork, **fields: str | None) -> lp.Advert:
    """c's advert saying it lost its link to b (so c and its users are cut off)."""
    real = advert_of(net, "c")
    update: dict[str, object] = {"seq": real.seq + 1000, "neighbours": ["h"], **fields}
    return real.model_copy(update=update)


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("unsigned", "it is not signed"),
        ("tampered", "its signature does not match its fields"),
        ("h's own key", "its certificate does not name c"),
        ("another CA", "its certificate is not trusted"),
    ],
)
def test_a_forged_advert_for_another_server_is_refused_and_changes_nothing(
    net: CoreNetwork, tmp_path: Path, how: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    alice = net.user("a", "alice")
    carol = net.user("c", "carol")
    net.say(carol, "JOIN #room")
    net.say(alice, "JOIN #room")
    alice.lines()
    if how == "unsigned":
        forged = forged_cut_of_c(net, cert=None, sig=None)
    elif how == "tampered":  # c's real signature over other fields
        forged = forged_cut_of_c(net)
    elif how == "h's own key":  # validly signed, by h, in c's name
        hostile = net.managers["h"].signatures
        assert hostile is not None
        forged = hostile.sign(forged_cut_of_c(net))
    else:  # a certificate naming c, from a CA the network does not trust
        stranger = linkpki.ca_data("stranger", None, NOW, LIFE)
        forged = signer(tmp_path / "stranger", stranger, "c").sign(forged_cut_of_c(net))
    from_h(net, forged)
    assert f"refused the advert of c (seq {forged.seq}): {reason}" in caplog.text
    assert net.managers["b"].dropped == 1
    # Nothing changed: c is still linked, carol is still in the channel.
    assert links_seen(alice) == ["a", "b", "c", "h"]
    assert not any(" QUIT " in line for line in alice.lines())
    net.say(carol, "PRIVMSG #room :still here")
    assert any(line.endswith("PRIVMSG #room :still here") for line in alice.lines())
    assert "h" in net.managers["b"].sessions, "the link that brought it stays up"


REPLICAS = """
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {name: net, namespace: chat}
spec: {links: {tls: required, signAdverts: true, podCertificates: PER_POD}}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: hub, namespace: chat}
spec: {network: net, role: hub, serverId: 1}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: leaf, namespace: chat}
spec: {network: net, role: leaf, serverId: 10, replicas: 2, uplinks: [hub]}
"""


def certified_names(per_pod: bool) -> dict[str, list[str]]:
    """The names in each server's link certificate, as the operator plans them: the
    ChatServer's one certificate, or (``links.podCertificates``) the pod's own, with the
    templates filled in for the pod as cert-manager's csi-driver does."""
    text = REPLICAS.replace("PER_POD", str(per_pod).lower())
    report = validate_documents(parse_text(text, "replicas.yaml"))
    assert report.ok, report.problems
    (declared,) = report.networks
    plan = plan_network(declared, ClusterPlacement(declared.network))
    assert plan.cluster.link_ca is not None
    certified = {c.server: c.dns_names for c in plan.cluster.link_ca.certificates}
    out = {}
    for server in plan.servers.values():
        pod = f"{server.chat_server}-{server.ordinal}"  # the StatefulSet's pod
        out[server.name] = [
            name.replace("${POD_NAME}", pod).replace("${POD_NAMESPACE}", "chat")
            for name in certified[server.chat_server]
        ]
    return out


@pytest.mark.parametrize(
    "per_pod", [False, True], ids=["chatserver-certificate", "pod-certificates"]
)
def test_a_replica_signs_for_its_sibling_only_with_the_chatservers_certificate(
    tmp_path: Path, per_pod: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """leaf-0 and leaf-1 are replicas of one ChatServer. leaf-0 signs an advert in
    leaf-1's name saying leaf-1 has no links, so the network drops it from its map.
    The ChatServer's certificate names every replica: the hub takes the forgery.
    Each pod's own certificate (links.podCertificates) names that pod alone: refused."""
    names = certified_names(per_pod)
    assert ("leaf-1" in names["leaf-0"]) is not per_pod
    ca = linkpki.ca_data("net", None, NOW, LIFE)
    network = CoreNetwork("hub", "leaf-0", "leaf-1")
    for name, manager in network.managers.items():
        manager.signatures = signer(tmp_path / name, ca, *names[name])
    network.link("leaf-0", "hub")
    network.link("leaf-1", "hub")
    alice = network.user("hub", "alice")
    assert links_seen(alice) == ["hub", "leaf-0", "leaf-1"]
    real = advert_of(network, "leaf-1")
    sibling = network.managers["leaf-0"].signatures
    assert sibling is not None
    forged = sibling.sign(real.model_copy(update={"seq": real.seq + 1000, "neighbours": []}))
    _, at_hub = network.links[frozenset(("leaf-0", "hub"))]
    network.managers["hub"].received(at_hub, lp.encode(forged))
    network.settle()
    if per_pod:
        assert (
            f"refused the advert of leaf-1 (seq {forged.seq}): its certificate does not name "
            "leaf-1 (it names leaf-0, leaf-0.leaf, leaf-0.leaf.chat, leaf-0.leaf.chat.svc, "
            "leaf-0.leaf.chat.svc.cluster.local)"
        ) in caplog.text
        assert network.managers["hub"].dropped == 1
        assert links_seen(alice) == ["hub", "leaf-0", "leaf-1"]
    else:  # the hole podCertificates closes: leaf-1 is gone from the hub's map
        assert "refused the advert" not in caplog.text
        assert network.managers["hub"].dropped == 0
        assert links_seen(alice) == ["hub", "leaf-0"]


def test_an_old_advert_replayed_is_ignored_without_a_check(net: CoreNetwork) -> None:
    old = advert_of(net, "c").model_copy(update={"sig": "not even base64!"})
    from_h(net, old)
    assert net.managers["b"].dropped == 0  # not news: never looked at


def test_without_signatures_an_unsigned_advert_is_taken_as_before() -> None:
    network = CoreNetwork("a", "b")
    network.link("a", "b")
    alice = network.user("a", "alice")
    assert links_seen(alice) == ["a", "b"]
    sent = [t for s in network.managers["b"].sessions.values() for t in s.sent]  # type: ignore[attr-defined]
    assert all('"cert"' not in text and '"sig"' not in text for text in sent)


def test_turned_on_by_a_reload_every_server_advertises_again_signed(tmp_path: Path) -> None:
    ca = linkpki.ca_data("net", None, NOW, LIFE)
    network = CoreNetwork("a", "b", "c")
    network.link("a", "b")
    network.link("b", "c")
    for name, manager in network.managers.items():
        manager.use_signatures(signer(tmp_path / name, ca, name))
    network.settle()
    relayed = advert_of(network, "c")
    assert relayed.cert and relayed.sig, "c advertised again, signed"
    alice = network.user("a", "alice")
    assert links_seen(alice) == ["a", "b", "c"]
    assert all(m.dropped == 0 for m in network.managers.values())


def test_a_neighbour_list_rewritten_under_the_same_signature_is_refused(
    net: CoreNetwork, caplog: pytest.LogCaptureFixture
) -> None:
    """c's neighbours ["b", "h"] and ["b,h"] would sign the same bytes under a naive
    encoding; a name with a comma is no server name, and the message is refused."""
    alice = net.user("a", "alice")
    net.link("c", "h")
    real = advert_of(net, "c")
    joined = lp.encode(real).replace('"neighbours":["b","h"]', '"neighbours":["b,h"]')
    joined = joined.replace(f'"seq":{real.seq}', f'"seq":{real.seq + 1}')
    assert '"b,h"' in joined
    _, at_b = net.links[frozenset(("h", "b"))]
    net.managers["b"].received(at_b, joined)
    net.settle()
    assert "dropped a bad message" in caplog.text and "not server names" in caplog.text
    assert links_seen(alice) == ["a", "b", "c", "h"]
    assert net.managers["b"].topology.neighbours("c") == ["b", "h"]
    # And the same list in another order is the same advert (the signature holds).
    reordered = real.model_copy(update={"neighbours": list(reversed(real.neighbours))})
    signatures = net.managers["a"].signatures
    assert signatures is not None and signatures.problem(reordered, NOW) is None


def hello(server: str, sid: int) -> lp.Hello:
    return lp.Hello(
        network="t", server=server, sid=sid, role="hub", version=lp.VERSION,
        challenge=lp.new_challenge(),
    )  # fmt: skip


def shake_hands(first: Handshake, second: Handshake) -> None:
    """Run two handshakes against each other until both are done or one fails."""
    inbox: list[tuple[Handshake, lp.AnyMessage]] = [(second, m) for m in first.start()]
    inbox += [(first, m) for m in second.start()]
    while inbox and first.failed is None and second.failed is None:
        side, message = inbox.pop(0)
        other = second if side is first else first
        inbox += [(other, reply) for reply in side.receive(message)]


@pytest.mark.parametrize("claims", ["c", "h"])
def test_a_server_cannot_link_in_another_servers_name(tmp_path: Path, claims: str) -> None:
    """h knows the link secret and has a certificate for h: as h it links,
    as c it is refused (the handshake is signed too)."""
    ca = linkpki.ca_data("net", None, NOW, LIFE)
    a_sig = signer(tmp_path / "a", ca, "a")
    h_sig = signer(tmp_path / "h", ca, "h")
    at_a = Handshake(
        hello("a", 1), "s3cret", known={}, linked=set(), allowed=None, have_uplink=False,
        signatures=a_sig, now=lambda: NOW,
    )  # fmt: skip
    at_h = Handshake(
        hello(claims, 12), "s3cret", known={}, linked=set(), allowed=None, have_uplink=False,
        signatures=h_sig, now=lambda: NOW,
    )  # fmt: skip
    shake_hands(at_a, at_h)
    if claims == "h":
        assert at_a.done and at_h.done
    else:
        assert not at_a.done
        assert at_a.failed == (
            "authentication failed: not c: its certificate does not name c (it names h)"
        )


def test_a_certificate_seen_before_it_is_valid_is_taken_once_it_is(tmp_path: Path) -> None:
    """A node whose clock is a little behind sees a just-renewed certificate early:
    refused then, not for good."""
    ca = linkpki.ca_data("net", None, NOW, LIFE)
    later = NOW + datetime.timedelta(hours=1)
    c_dir = tmp_path / "c"
    c_dir.mkdir()
    for key, value in linkpki.server_data(ca, None, ["c"], later, LIFE).items():
        (c_dir / key).write_bytes(value)
    c_sig = AdvertSignatures(c_dir / "tls.crt", c_dir / "tls.key", c_dir / "ca.crt")
    advert = c_sig.sign(lp.Advert(server="c", sid=12, seq=1, neighbours=["b"]))
    a_sig = signer(tmp_path / "a", ca, "a")
    assert a_sig.problem(advert, NOW) == "its certificate is not valid yet"
    assert a_sig.problem(advert, later) is None


def test_a_key_that_cannot_sign_is_logged_and_the_link_comes_up_unsigned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A passphrase-protected key (the node cannot read it): no crash; peers that
    check refuse the unsigned advert, and say why."""
    ca = linkpki.ca_data("net", None, NOW, LIFE)
    network = CoreNetwork("a", "b")
    broken = signer(tmp_path / "a", ca, "a")
    key = serialization.load_pem_private_key(broken.key_file.read_bytes(), password=None)
    broken.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    network.managers["a"].signatures = broken
    network.managers["b"].signatures = signer(tmp_path / "b", ca, "b")
    network.link("a", "b")
    assert "could not sign this server's advert" in caplog.text
    assert "refused the advert of a (seq" in caplog.text and "it is not signed" in caplog.text


def test_throttle_counts_are_taken_only_signed_by_their_server(
    net: CoreNetwork, caplog: pytest.LogCaptureFixture
) -> None:
    """c's counts (one connection from 192.0.2.7) reach a signed; h's counts in
    c's name, claiming 500 connections from 198.51.100.0/24, are refused."""
    c_throttle = net.servers["c"].core.throttle
    c_throttle.opened(c_throttle.block("192.0.2.7"))  # a connection, as the transport counts it
    net.managers["c"].share_counts(1e9)  # due: one share interval has long passed
    net.settle()
    a_throttle = net.servers["a"].core.throttle
    assert "c" in a_throttle.remote, "c's signed counts reached a"
    seq = a_throttle.remote["c"].seq
    forged = lp.Counts(server="c", seq=seq + 1, blocks=[("198.51.100.0/24", 500, 500)])
    hostile = net.managers["h"].signatures
    assert hostile is not None
    _, h_sig = hostile.sign_bytes(b"anything")
    for sig in (None, h_sig):
        from_h_counts = forged.model_copy(update={"sig": sig})
        _, at_b = net.links[frozenset(("h", "b"))]
        net.managers["b"].received(at_b, lp.encode(from_h_counts))
        net.settle()
    assert "refused the throttle counts of c: it is not signed" in caplog.text
    assert "refused the throttle counts of c: its signature does not match" in caplog.text
    assert a_throttle.remote["c"].seq == seq
    assert net.servers["b"].core.throttle.remote["c"].seq == seq
