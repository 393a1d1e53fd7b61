"""A burst of logins does not stop chat: a real node checks passwords in a worker thread.

Sixty connections log in with SASL PLAIN at once (about 30 ms of Argon2id
each, about 2 s in all, one after another in the node's worker thread). A user
already in a channel pings the server and talks meanwhile: the answers come
while most of the checks still wait (the node's own gauge says how many),
and then every login succeeds.
"""

from __future__ import annotations

import asyncio
import base64

from tests.irc.client import IrcClient, connected
from tests.metricscrape import scrape
from tests.nodeproc import NodeProcess

PASSWORD = "correct-horse-battery"
LOGINS = 60


async def _login_started(port: int, n: int) -> IrcClient:
    client = await IrcClient.tcp(port)
    await client.send("CAP LS 302")
    await client.send("CAP REQ :sasl")
    await client.send(f"NICK login{n}")
    await client.send(f"USER login{n} 0 * :L")
    await client.expect(lambda m: m.command == "CAP" and m.params[1:2] == ["ACK"])
    await client.send("AUTHENTICATE PLAIN")
    await client.expect(lambda m: m.command == "AUTHENTICATE")
    return client


async def test_chat_goes_on_while_sixty_passwords_are_checked(node: NodeProcess) -> None:
    owner = await connected(node.irc_port, "alice")
    await owner.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    await owner.expect(lambda m: m.command == "900")
    bob = await connected(node.irc_port, "bob", caps=["echo-message"])
    await bob.join("#room")
    logins = [await _login_started(node.irc_port, n) for n in range(LOGINS)]
    response = base64.b64encode(f"\0alice\0{PASSWORD}".encode()).decode()
    try:
        for client in logins:
            client.send_nowait(f"AUTHENTICATE {response}")
        await asyncio.sleep(0.05)  # the first checks are under way
        await bob.send("PING :still-here")
        await bob.expect(lambda m: m.command == "PONG" and m.params[-1] == "still-here")
        echo = await bob.privmsg("#room", "talking while they log in")
        assert echo.params[-1] == "talking while they log in"
        waiting = scrape(node).value("chatnet_password_work_waiting")
        # About 2 s of checks queued; the answers above took milliseconds.
        assert waiting >= LOGINS // 4, f"only {waiting} of {LOGINS} checks still waited"
        for client in logins:
            await client.expect(lambda m: m.command == "903", timeout=30)
            await client.send("CAP END")
            await client.expect(lambda m: m.command == "001")
        metrics = scrape(node)
        assert metrics.value("chatnet_password_work_total") >= LOGINS + 1  # and the REGISTER
        assert metrics.value("chatnet_password_work_waiting") == 0
        assert metrics.value("chatnet_logged_in") == LOGINS + 1
    finally:
        for client in [owner, bob, *logins]:
            client.abort()


async def test_a_bot_that_identifies_talks_and_hangs_up_in_one_write_is_heard(
    node: NodeProcess,
) -> None:
    # A notification bot: everything in one write, the socket closed without QUIT,
    # while its password is still being checked in the worker thread.
    owner = await connected(node.irc_port, "alice")
    await owner.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    await owner.expect(lambda m: m.command == "900")
    watcher = await connected(node.irc_port, "carol")
    await watcher.join("#deploys")
    _, writer = await asyncio.open_connection("127.0.0.1", node.irc_port)
    script = [
        "NICK ci-bot",
        "USER ci 0 * :CI",
        f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}",
        "JOIN #deploys",
        "PRIVMSG #deploys :build 1234 passed",
    ]
    writer.write("".join(line + "\r\n" for line in script).encode())
    await writer.drain()
    writer.close()
    try:
        said = await watcher.expect(lambda m: m.command == "PRIVMSG")
        assert said.params == ["#deploys", "build 1234 passed"]
        assert said.source.startswith("ci-bot!")
        gone = await watcher.expect(lambda m: m.command == "QUIT")
        assert gone.source.startswith("ci-bot!")
    finally:
        for client in [owner, watcher]:
            client.abort()
