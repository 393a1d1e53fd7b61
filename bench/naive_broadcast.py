"""A naive asyncio IRC broadcast server: the baseline of bench/fanout.py.

It does the least an IRC server must do for the benchmark (NICK/USER
registration, JOIN, PRIVMSG to a channel, PING, QUIT) and fans out the obvious
way: one ``transport.write`` per member per line, no buffering across
members or loop turns. TCP only.

    python bench/naive_broadcast.py --port 6667
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

SERVER = "naive.bench"


class Client(asyncio.Protocol):
    """One connected client."""

    def __init__(self, server: NaiveServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.nick = ""
        self.user = ""
        self.registered = False
        self.channels: set[str] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.server.remove(self)

    def send(self, line: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(line.encode("utf-8", "replace") + b"\r\n")

    def data_received(self, data: bytes) -> None:
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        for raw in lines:
            line = raw.rstrip(b"\r").decode("utf-8", "replace")
            if line:
                self.handle(line)
        if len(self.buf) > 8192:
            self.buf = b""

    def handle(self, line: str) -> None:
        trailing = None
        if " :" in line:
            line, trailing = line.split(" :", 1)
        parts = line.split()
        if not parts:
            return
        cmd, params = parts[0].upper(), parts[1:]
        if trailing is not None:
            params.append(trailing)
        if cmd == "NICK" and params:
            self.nick = params[0]
            self.maybe_welcome()
        elif cmd == "USER" and params:
            self.user = params[0]
            self.maybe_welcome()
        elif cmd == "PING":
            self.send(f":{SERVER} PONG {SERVER} :{params[0] if params else ''}")
        elif cmd == "QUIT":
            if self.transport is not None:
                self.transport.close()
        elif not self.registered:
            self.send(f":{SERVER} 451 * :You have not registered")
        elif cmd == "JOIN" and params:
            for name in params[0].split(","):
                self.server.join(self, name)
        elif cmd in ("PRIVMSG", "NOTICE") and len(params) >= 2:
            self.server.privmsg(self, cmd, params[0], params[1])

    def maybe_welcome(self) -> None:
        if self.registered or not self.nick or not self.user:
            return
        if self.nick in self.server.nicks:
            self.send(f":{SERVER} 433 * {self.nick} :Nickname is already in use")
            self.nick = ""
            return
        self.registered = True
        self.server.nicks[self.nick] = self
        self.send(f":{SERVER} 001 {self.nick} :Welcome to the naive network {self.nick}")

    @property
    def mask(self) -> str:
        return f"{self.nick}!{self.user}@127.0.0.1"


class NaiveServer:
    """Nicks and channels; fan-out is one write per member per line."""

    def __init__(self) -> None:
        self.nicks: dict[str, Client] = {}
        self.channels: dict[str, dict[str, Client]] = {}

    def join(self, client: Client, name: str) -> None:
        members = self.channels.setdefault(name.lower(), {})
        if client.nick in members:
            return
        members[client.nick] = client
        client.channels.add(name.lower())
        line = f":{client.mask} JOIN {name}"
        for member in members.values():
            member.send(line)
        client.send(f":{SERVER} 353 {client.nick} = {name} :{client.nick}")
        client.send(f":{SERVER} 366 {client.nick} {name} :End of /NAMES list.")

    def privmsg(self, client: Client, cmd: str, target: str, text: str) -> None:
        line = f":{client.mask} {cmd} {target} :{text}"
        if target.startswith("#"):
            for member in self.channels.get(target.lower(), {}).values():
                if member is not client:
                    member.send(line)
        elif target in self.nicks:
            self.nicks[target].send(line)

    def remove(self, client: Client) -> None:
        if self.nicks.get(client.nick) is client:
            del self.nicks[client.nick]
        for name in client.channels:
            members = self.channels.get(name, {})
            if members.get(client.nick) is client:
                del members[client.nick]
                line = f":{client.mask} QUIT :Client quit"
                for member in members.values():
                    member.send(line)


async def serve(host: str, port: int) -> None:
    server = NaiveServer()
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(lambda: Client(server), host, port, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with srv:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6667)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
