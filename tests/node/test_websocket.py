"""IRC over WebSocket (IRCv3 WebSocket spec) and the HTTP side of the same port."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.irc.client import Clients, IrcClient
from tests.nodeproc import NodeProcess, make_node
from tests.waiting import eventually


async def raw_frame_after_ping(client: IrcClient, token: str) -> str | bytes:
    """Send PING and return the raw WebSocket message carrying the PONG."""
    await client.send(f"PING {token}")
    async with asyncio.timeout(5):
        while True:
            data = await client.ws.recv()
            text = data.decode() if isinstance(data, bytes) else data
            if f"PONG test {token}" in text:
                return data


@pytest.mark.parametrize(
    ("offered", "chosen", "frame_type"),
    [
        ("text.ircv3.net", "text.ircv3.net", str),
        ("binary.ircv3.net", "binary.ircv3.net", bytes),
        (None, None, str),
    ],
)
async def test_subprotocols(
    irc: Clients, offered: str | None, chosen: str | None, frame_type: type
) -> None:
    client = await irc.websocket(subprotocol=offered)
    assert client.ws.subprotocol == chosen
    await client.register("wsuser")
    frame = await raw_frame_after_ping(client, "tok")
    assert isinstance(frame, frame_type)
    text = frame.decode() if isinstance(frame, bytes) else frame
    # One IRC line per message; a line ending is allowed but nothing after it.
    assert text.rstrip("\r\n") == ":test PONG test tok"
    await client.join("#ws")
    await client.send("PRIVMSG #ws :ünïcödé works")
    await client.send("QUIT :bye")
    lines = await client.wait_closed()
    assert lines[-1].command == "ERROR"


@pytest.mark.parametrize(
    "offered",
    [
        ["text.ircv3.net", "binary.ircv3.net"],
        ["binary.ircv3.net", "text.ircv3.net"],
        ["v1.example", "text.ircv3.net", "binary.ircv3.net"],
    ],
)
async def test_the_clients_first_supported_subprotocol_wins(
    irc: Clients, offered: list[str]
) -> None:
    async with ws_connect(
        irc.ws_url or "", subprotocols=[Subprotocol(s) for s in offered], open_timeout=5
    ) as ws:
        assert ws.subprotocol == next(s for s in offered if s.endswith(".ircv3.net"))


async def test_tcp_and_websocket_chat_both_ways(irc: Clients) -> None:
    tcp = await irc.tcp("tcpuser", caps=["message-tags"])
    text = await irc.websocket("textuser", caps=["message-tags", "echo-message"])
    binary = await irc.websocket("binuser", subprotocol="binary.ircv3.net")
    for client in (tcp, text, binary):
        await client.join("#mixed")
    await tcp.send("PRIVMSG #mixed :from tcp")
    for client in (text, binary):
        got = await client.expect("PRIVMSG")
        assert got.nick == "tcpuser" and got.params == ["#mixed", "from tcp"]
    await text.send("@+draft/react=👍 PRIVMSG #mixed :from websocket ✓")
    echo = await text.expect("PRIVMSG")
    got = await tcp.expect("PRIVMSG")
    assert got.nick == "textuser" and got.last == "from websocket ✓"
    assert got.tags["+draft/react"] == "👍"
    assert got.tags["msgid"] == echo.tags["msgid"]
    assert (await binary.expect("PRIVMSG")).last == "from websocket ✓"
    await binary.send("PRIVMSG tcpuser :binary to tcp")
    got = await tcp.expect("PRIVMSG")
    assert got.nick == "binuser" and got.params == ["tcpuser", "binary to tcp"]
    await tcp.send("PRIVMSG binuser :tcp to binary")
    assert (await binary.expect("PRIVMSG")).last == "tcp to binary"


async def test_binary_frame_on_text_connection_is_closed_1003(irc: Clients) -> None:
    tcp = await irc.tcp("stayer")
    good = await irc.websocket("gooduser")
    bad = await irc.websocket("baduser")
    for client in (tcp, good, bad):
        await client.join("#room")
    await bad.ws.send(b"PRIVMSG #room :binary on a text connection")
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(5):
            while True:
                await bad.ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1003
    quit_ = await tcp.expect("QUIT")
    assert quit_.nick == "baduser"
    # Everyone else keeps chatting.
    await good.send("PRIVMSG #room :still here")
    assert (await tcp.expect("PRIVMSG")).last == "still here"
    await tcp.send("PRIVMSG #room :me too")
    got = await good.expect("PRIVMSG")
    assert got.nick == "stayer" and got.last == "me too"
    assert "binary on a text connection" not in [m.last for m in tcp.seen]


async def test_a_text_frame_that_is_not_utf8_closes_with_1007(irc: Clients) -> None:
    tcp = await irc.tcp("stayer")
    bad = await irc.websocket("baduser")
    for client in (tcp, bad):
        await client.join("#room")
    # A text frame whose payload is not UTF-8: the websockets client never sends
    # one, so the bytes go out as a raw frame on its socket.
    payload = b"PRIVMSG #room :\xff\xfe"
    mask = b"\x01\x02\x03\x04"
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    bad.ws.transport.write(bytes((0x81, 0x80 | len(payload))) + mask + masked)
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(5):
            while True:
                await bad.ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
    assert (await tcp.expect("QUIT")).nick == "baduser"


async def test_invalid_utf8_on_binary_connection(irc: Clients) -> None:
    client = await irc.websocket("bytes", subprotocol="binary.ircv3.net")
    await client.ws.send(b"PRIVMSG #x :\xff\xfe")
    fail = await client.expect("FAIL")
    assert fail.params[:2] == ["*", "INVALID_UTF8"]
    await client.send("PING still-alive")
    await client.expect("PONG")


# HTTP on the WebSocket port.


def http_get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read().decode()


def test_healthz_and_readyz(node: NodeProcess) -> None:
    assert http_get(node.admin_url + "/healthz")[0] == 200
    status, _, body = http_get(node.admin_url + "/readyz")
    assert status == 200 and body.strip() == "ready"


async def test_status_json(node: NodeProcess, irc: Clients) -> None:
    client = await irc.tcp("alice")
    await client.join("#one", "#two")
    status, content_type, body = await asyncio.to_thread(http_get, node.admin_url + "/status")
    assert status == 200 and content_type.startswith("application/json")
    doc = json.loads(body)
    assert doc["name"] == "test"
    assert doc["serverId"] == 10
    assert doc["clients"] == 1
    assert doc["channels"] == 2
    assert doc["links"] == []
    assert doc["disruptions"] == {
        "informed": True,
        "known": 0,
        "lostServers": [],
        "lookBackSeconds": 0.0,
    }


async def test_metrics(node: NodeProcess, irc: Clients) -> None:
    alice = await irc.tcp("alice")
    await alice.send("PRIVMSG NickServ :REGISTER correct-horse-battery")
    await alice.expect("900")
    status, content_type, body = await asyncio.to_thread(http_get, node.admin_url + "/metrics")
    assert 'chatnet_accounts{server="test"} 1.0' in body
    assert 'chatnet_logged_in{server="test"} 1.0' in body
    assert status == 200 and content_type.startswith("text/plain")
    assert "chatnet_clients" in body
    samples = [
        line for line in body.splitlines() if line.startswith("chatnet_clients") and " " in line
    ]
    assert samples and any(float(line.rsplit(" ", 1)[1]) >= 1 for line in samples)


def test_index_page_and_404(node: NodeProcess) -> None:
    status, content_type, body = http_get(node.http_url + "/")
    assert status == 200 and content_type.startswith("text/html")
    assert "<html" in body.lower() or "<!doctype html" in body.lower()
    status, _, _ = http_get(node.http_url + "/no/such/page")
    assert status == 404


async def test_full_server_turns_readyz_503(tmp_path: Path) -> None:
    """Readiness follows maxClients: 503 while full, 200 again once a client leaves."""
    node = make_node(tmp_path, limits={"maxClients": 1})
    node.start()
    try:
        client = await IrcClient.tcp(node.irc_port)
        try:
            await client.register("only")
            status, _, body = await asyncio.to_thread(http_get, node.admin_url + "/readyz")
            assert status == 503 and body.strip() == "full"
            assert (await asyncio.to_thread(http_get, node.admin_url + "/healthz"))[0] == 200
            await client.quit()
        finally:
            await client.close()

        async def ready() -> bool:
            status, _, _ = await asyncio.to_thread(http_get, node.admin_url + "/readyz")
            return status == 200

        await eventually(ready, 10, "/readyz is 200 again", poll=0.05)
    finally:
        node.stop()


async def test_fragmented_message_and_websocket_ping(irc: Clients) -> None:
    tcp = await irc.tcp("listener")
    client = await irc.websocket("fragments")
    await tcp.join("#frag")
    await client.join("#frag")
    await client.ws.send(["PRIVMSG #frag ", ":in three ", "fragments"])
    got = await tcp.expect("PRIVMSG")
    assert got.nick == "fragments" and got.last == "in three fragments"
    pong_waiter = await client.ws.ping(b"hello")
    async with asyncio.timeout(5):
        await pong_waiter
    await client.send("PRIVMSG #frag :after ping")
    assert (await tcp.expect("PRIVMSG")).last == "after ping"


@pytest.mark.parametrize("subprotocol", ["text.ircv3.net", "binary.ircv3.net"])
async def test_ircv3_batches_over_websocket(irc: Clients, subprotocol: str) -> None:
    caps = ["labeled-response", "batch", "message-tags", "echo-message", "draft/chathistory"]
    client = await irc.websocket("batcher", caps=caps, subprotocol=subprotocol)
    await client.send("@label=j1 JOIN #hist")
    start = await client.expect("BATCH")
    assert start.tags["label"] == "j1" and start.params[1] == "labeled-response"
    body = await client.collect_until("BATCH", "-" + start.params[0][1:])
    assert [m.command for m in body] == ["JOIN", "353", "366", "BATCH"]
    await client.send("PRIVMSG #hist :kept over websocket")
    await client.expect("PRIVMSG")
    await client.send("@label=h1 CHATHISTORY LATEST #hist * 10")
    lines = await client.batch("chathistory")
    labelled = lines[0]
    assert labelled.command == "BATCH" and labelled.tags["label"] == "h1"
    assert "kept over websocket" in [m.last for m in lines if m.command == "PRIVMSG"]
