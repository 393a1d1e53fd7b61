"""The link handshake's pure rules: authentication and refusals."""

from __future__ import annotations

import pytest

from chatnet_node.config import ConfigError, parse_config
from chatnet_node.config.base import ids_clash
from chatnet_node.links import catchup
from chatnet_node.links import protocol as lp


def hello(server: str, sid: int, role: str = "hub", network: str = "acme") -> lp.Hello:
    return lp.Hello(
        network=network,
        server=server,
        sid=sid,
        role=role,  # type: ignore[arg-type]
        version=lp.VERSION,
        challenge=lp.new_challenge(),
    )


def test_challenge_response_proves_the_secret_without_sending_it() -> None:
    challenge = lp.new_challenge()
    response = lp.answer("s3cret", challenge, "east")
    assert "s3cret" not in response
    assert lp.verify("s3cret", challenge, "east", response)
    assert not lp.verify("wrong", challenge, "east", response)
    # A response is bound to its responder: it cannot be replayed by another name.
    assert not lp.verify("s3cret", challenge, "west", response)
    assert response != lp.answer("s3cret", lp.new_challenge(), "east")


@pytest.mark.parametrize(
    ("theirs", "kwargs", "reason"),
    [
        (hello("west", 11, network="other"), {}, "wrong network"),
        (hello("east", 11), {}, "duplicate server name"),
        (hello("west", 10), {}, "duplicate server ID"),
        (hello("west", 11), {"known": {"west": 12}}, "duplicate server name"),
        (hello("west", 11), {"known": {"north": 11}}, "duplicate server ID 11"),
        (hello("west", 11), {"linked": {"west"}}, "already linked"),
        (hello("west", 11), {"allowed": {"north"}}, "not allowed to link"),
        # 0xa0 begins with east's 0xa: each one's msgids fit the other's shape.
        (hello("west", 0xA0), {}, "server ID 160 of west (hex a0) begins like east's 10 (hex a)"),
        (hello("west", 0xB), {"known": {"north": 0xB3}}, "begins like north's 179 (hex b3)"),
    ],
)
def test_refusals_name_the_reason(theirs: lp.Hello, kwargs: dict[str, object], reason: str) -> None:
    args: dict[str, object] = {
        "known": {},
        "linked": set(),
        "allowed": None,
        "have_uplink": False,
    }
    args.update(kwargs)
    why = lp.check_hello(hello("east", 10), theirs, **args)  # type: ignore[arg-type]
    assert why is not None and reason in why


def test_server_ids_whose_hex_begins_alike_clash() -> None:
    assert ids_clash(1, 1) and ids_clash(1, 0x1F) and ids_clash(0x1F, 1) and ids_clash(2, 0x2A5)
    assert not ids_clash(1, 2) and not ids_clash(0x10, 0x11) and not ids_clash(0xA, 0x1A)
    assert lp.id_clash({"a": 1, "b": 0x20}, 0x21, "c") is None
    assert lp.id_clash({"c": 0x2}, 0x2, "c") is None  # its own entry
    assert lp.id_clash({"a": 1}, 0x10, "c") == (
        "server ID 16 of c (hex 10) begins like a's 1 (hex 1): their msgids could not be told apart"
    )


def test_a_node_dials_no_server_whose_id_clashes_with_its_own_or_anothers() -> None:
    def dial(*sids: int) -> list[dict[str, object]]:
        return [
            {"name": f"hub{i}", "serverId": sid, "host": "127.0.0.1", "port": 1}
            for i, sid in enumerate(sids)
        ]

    parse_config({"name": "leaf", "serverId": 0x30, "links": {"dial": dial(0x10, 0x20)}})
    with pytest.raises(ConfigError) as own:
        parse_config({"name": "leaf", "serverId": 3, "links": {"dial": dial(0x10, 0x31)}})
    assert "links.dial[1]: server ID 49 of hub1 (hex 31) begins like leaf's 3 (hex 3)" in str(
        own.value
    )
    with pytest.raises(ConfigError) as other:
        parse_config({"name": "leaf", "serverId": 0x30, "links": {"dial": dial(1, 0x10)}})
    assert "links.dial[1]: server ID 16 of hub1 (hex 10) begins like hub0's 1 (hex 1)" in str(
        other.value
    )


def test_a_server_reachable_through_others_may_link_again() -> None:
    """Hubs in a ring: the third link joins servers that already see each other."""
    why = lp.check_hello(
        hello("east", 10),
        hello("west", 11),
        known={"west": 11},
        linked=set(),
        allowed=None,
        have_uplink=False,
    )
    assert why is None


def test_leaf_rules() -> None:
    leaf = hello("edge", 200, role="leaf")
    base = {"known": {}, "linked": set(), "allowed": None}
    why = lp.check_hello(leaf, hello("edge2", 201, role="leaf"), have_uplink=False, **base)  # type: ignore[arg-type]
    assert why == "a leaf cannot link to a leaf"
    why = lp.check_hello(leaf, hello("hub2", 2), have_uplink=True, **base)  # type: ignore[arg-type]
    assert why == "this leaf already has an uplink"
    assert lp.check_hello(leaf, hello("hub", 1), have_uplink=False, **base) is None  # type: ignore[arg-type]


def test_version_mismatch_and_malformed_messages() -> None:
    old = hello("west", 11).model_copy(update={"version": 0})
    why = lp.check_hello(
        hello("east", 10),
        old,
        known={},
        linked=set(),
        allowed=None,
        have_uplink=False,
    )
    assert why is not None and "protocol version 0 not supported" in why
    with pytest.raises(lp.LinkProtocolError, match="not JSON"):
        lp.decode("{nope")
    with pytest.raises(lp.LinkProtocolError, match="invalid message"):
        lp.decode('{"t": "hello", "server": "x"}')
    with pytest.raises(lp.LinkProtocolError, match="exceeds"):
        lp.decode("x" * (lp.MAX_LINK_MESSAGE + 1))
    message = hello("east", 10)
    assert lp.decode(lp.encode(message)) == message


def test_disruptions_round_trip_and_a_flood_of_spans_is_refused() -> None:
    spans = [lp.DisruptionSpan(start=100.0, end=130.0, missing={"x": 101.0})]
    message = lp.Disruptions(spans=spans, unknown=(10.0, 90.0))
    assert lp.decode(lp.encode(message)) == message
    many = ",".join('{"start": 1, "end": 2}' for _ in range(129))
    with pytest.raises(lp.LinkProtocolError, match="spans"):
        lp.decode('{"t": "disruptions", "spans": [' + many + "]}")
    for odd in ('{"start": NaN, "end": 2}', '{"start": 1, "end": Infinity}'):
        with pytest.raises(lp.LinkProtocolError, match="finite"):
            lp.decode('{"t": "disruptions", "spans": [' + odd + "]}")
    with pytest.raises(lp.LinkProtocolError, match="finite"):
        lp.decode('{"t": "disruptions", "spans": [{"start": 1, "end": 2, "missing": {"x": NaN}}]}')
    with pytest.raises(lp.LinkProtocolError, match="finite"):
        lp.decode('{"t": "disruptions", "spans": [], "unknown": [-Infinity, 5]}')
    long_name = "x" * 300
    with pytest.raises(lp.LinkProtocolError, match="not server names"):
        lp.decode('{"t": "disruptions", "spans": [], "lost": {"' + long_name + '": 1}}')
    with pytest.raises(lp.LinkProtocolError, match="not server names"):
        span = '{"start": 1, "end": 2, "missing": {"a b": 1}}'
        lp.decode('{"t": "disruptions", "spans": [' + span + "]}")


def test_a_big_splits_disruptions_are_told_in_parts_that_each_fit_a_link_message() -> None:
    names = {f"{'s' * 55}-{n:04d}": 1_000.0 + n for n in range(64)}
    spans = [lp.DisruptionSpan(start=n, end=n + 30, missing=names) for n in range(128)]
    parts = lp.disruption_parts(spans, unknown=None, lost={"x": 5.0})
    assert len(parts) > 1
    assert [part.more for part in parts] == [True] * (len(parts) - 1) + [False]
    assert sum(len(part.spans) for part in parts) == 128
    assert [part.lost for part in parts][-1] == {"x": 5.0}
    for part in parts:
        assert lp.decode(lp.encode(part)) == part  # under MAX_LINK_MESSAGE, or decode refuses
    (one,) = lp.disruption_parts(spans[:3], unknown=(1.0, 2.0), lost={})
    assert one.unknown == (1.0, 2.0) and not one.more


def test_msgid_lists_fit_a_link_message_however_long_the_msgids() -> None:
    # The longest msgid a server makes: a 3-digit server ID, its start, a counter
    # past 2**32 (billions of messages in one start) and the horizon suffix. A
    # ``sync`` carries a part of them and a part of ``waiting``: both full must
    # still fit, or the peer's WebSocket closes the link (message too big).
    longest = [f"fff1a2b3c{n:09x}-{1_800_000_000_000:011x}" for n in range(6000)]
    parts = catchup._parts(longest)
    assert [m for part in parts for m in part] == longest  # all, in order
    sync = lp.SyncIds(since=1.0, ids=parts[0], done=True, waiting=parts[1])
    assert len(lp.encode(sync)) < lp.MAX_LINK_MESSAGE // 2
    assert all(len(lp.encode(lp.Stored(ids=part))) < lp.MAX_LINK_MESSAGE // 4 for part in parts)
    short = [f"a{n:x}" for n in range(4500)]  # short ones: still at most 2000 a part
    assert [len(p) for p in catchup._parts(short)] == [2000, 2000, 500]


@pytest.mark.parametrize(
    "text",
    [
        "\x02bold\x02 " * 50,  # IRC formatting: each control character is \u00XX in JSON
        "\U0001f600" * 100,  # 400 bytes of emoji, 100 characters
        "\u4e2d\u6587" * 65,  # CJK: 3 bytes a character
        "line\n" * 800,  # a multiline message (4000 bytes): each break is 2 bytes in JSON
    ],
    ids=["formatting", "emoji", "cjk", "multiline"],
)
def test_replay_parts_fit_a_link_message_whatever_the_text(text: str) -> None:
    # A split heals with a few hundred ordinary messages each side lacks: every
    # ``replay`` must fit, in bytes on the WebSocket, or the peer closes the
    # link, and the next sync sends the same replay again.
    items = [
        lp.ReplayItem(
            o="east.chat.example",
            msgid=f"a1b2c3{n:x}-{1_800_000_000_000:011x}",
            ts=1_800_000_000.0 + n,
            source="someone!~someone@host.example",
            command="PRIVMSG",
            target="#room",
            text=text,
        )
        for n in range(300)
    ]
    sent: list[lp.Replay] = []
    cu = catchup.CatchUp.__new__(catchup.CatchUp)
    cu._send = lambda peer, message: sent.append(message)  # type: ignore[assignment,misc]
    cu.send_replay("west", items)
    assert [i for m in sent for i in m.items] == items
    assert max(len(lp.encode(m).encode()) for m in sent) <= lp.MAX_LINK_MESSAGE


def test_a_link_message_is_measured_in_utf8_bytes_not_characters() -> None:
    # 30,000 characters of three bytes each: under the bound in characters, over it in bytes.
    text = '{"t": "ping", "token": "' + "€" * 30_000 + '"}'
    assert len(text) < lp.MAX_LINK_MESSAGE < len(text.encode())
    with pytest.raises(lp.LinkProtocolError, match="message of 90026 bytes exceeds 65536"):
        lp.decode(text)
    ping = '{"t": "ping", "token": "' + "€" * 20_000 + '"}'  # 60,026 bytes: taken
    assert lp.decode(ping) == lp.Ping(token="€" * 20_000)


def test_a_link_message_size_counts_utf8_bytes() -> None:
    assert lp.utf8_size('{"t": "ping"}') == 13
    assert lp.utf8_size('{"text": "€ é"}') == len('{"text": "€ é"}'.encode())
