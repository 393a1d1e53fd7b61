"""Signed adverts (``links.signAdverts``): a peer that passed link authentication
cannot speak for another server's links.

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

from chatnet_node.links import protocol as lp
from chatnet_node.links.signatures import AdvertSignatures
from chatnet_operator.plan import linkpki
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
