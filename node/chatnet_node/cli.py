"""``chatnet-node``: run one chat server from a config file or from flags."""

from __future__ import annotations

import argparse
import errno
import gc
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from . import __version__
from .config import ConfigError, NodeConfig, load_config, parse_config
from .eventloop import CHOICES, EventLoopError, choose, run_on
from .node import Node

#: The exit code when a listener's port is in use (other listen errors: 1), so
#: that a supervisor that picked the port (``chatnet up``) can pick another.
EXIT_PORT_TAKEN = 3


class JsonFormatter(logging.Formatter):
    """One JSON object per log line: time, level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def host_port(value: str) -> tuple[str, int]:
    """Parse HOST:PORT (IPv6 as [::1]:PORT)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatnet-node",
        description="Run one chatnet chat server (IRC over TCP, TLS and WebSocket).",
    )
    parser.add_argument("--version", action="version", version=f"chatnet-node {__version__}")
    parser.add_argument("--config", type=Path, help="YAML configuration file")
    parser.add_argument("--name", default="local", help="server name (default: local)")
    parser.add_argument("--server-id", type=int, default=1, help="numeric server ID")
    parser.add_argument("--network", default="chatnet", help="network name")
    parser.add_argument("--irc", type=host_port, action="append", help="plain IRC HOST:PORT")
    parser.add_argument("--tls-irc", type=host_port, action="append", help="IRC over TLS")
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate for --tls-irc")
    parser.add_argument("--tls-key", type=Path, help="PEM key for --tls-irc")
    parser.add_argument("--ws", type=host_port, action="append", help="WebSocket+HTTP HOST:PORT")
    parser.add_argument("--max-clients", type=int, help="maximum connected clients")
    parser.add_argument("--history", type=Path, help="SQLite history file (default: memory)")
    parser.add_argument("--motd", help="message of the day")
    parser.add_argument(
        "--event-loop",
        choices=CHOICES,
        help="asyncio event loop (default: the config's eventLoop, else auto: uvloop if installed)",
    )
    parser.add_argument("--log-format", choices=["text", "json"], default="text")
    parser.add_argument("--log-level", default="info")
    return parser


def config_from_flags(args: argparse.Namespace) -> NodeConfig:
    """A NodeConfig for a quick standalone server."""
    irc = args.irc or ([] if args.ws else [("127.0.0.1", 6667)])
    ws = args.ws or []
    listeners: dict[str, Any] = {
        "irc": [{"host": h, "port": p} for h, p in irc],
        "websocket": [{"host": h, "port": p} for h, p in ws],
    }
    if args.tls_irc:
        if not args.tls_cert or not args.tls_key:
            raise ConfigError("--tls-irc needs --tls-cert and --tls-key")
        listeners["ircTls"] = [
            {"host": h, "port": p, "certFile": str(args.tls_cert), "keyFile": str(args.tls_key)}
            for h, p in args.tls_irc
        ]
    data: dict[str, Any] = {
        "name": args.name,
        "serverId": args.server_id,
        "network": args.network,
        "listeners": listeners,
        "history": {"path": str(args.history) if args.history else None},
    }
    if args.max_clients is not None:
        data["limits"] = {"maxClients": args.max_clients}
    if args.motd is not None:
        data["motd"] = args.motd
    return parse_config(data, source="command line")


def setup_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.getLogger("websockets").setLevel(logging.WARNING)


async def run(config: NodeConfig, config_path: Path | None) -> int:
    try:
        node = Node(config, config_path)
    except ConfigError as exc:  # e.g. history.store postgres without a DSN
        print(f"chatnet-node: {exc}", file=sys.stderr)
        return 2
    try:
        await node.start()
    except OSError as exc:
        logging.getLogger("chatnet.node").error("cannot listen: %s", exc)
        await node.close()
        return EXIT_PORT_TAKEN if exc.errno == errno.EADDRINUSE else 1
    node.install_signal_handlers()
    announce(node)
    # What start-up loaded (modules, configuration, stored records) lives as
    # long as the process: frozen out of the collector's way, a full
    # collection, which stops every client while it runs, scans only what
    # came after (with 10,000 clients it otherwise takes hundreds of ms).
    gc.collect()
    gc.freeze()
    await node.stopped.wait()
    return 0


def announce(node: Node) -> None:
    """Print where to connect (stdout, for people and scripts)."""
    config = node.core.config
    print(f"chatnet-node {config.name} (server ID {config.server_id}, network {config.network})")
    for bound in node.bound:
        if bound.kind == "websocket-tls":
            print(f"  web chat  https://{bound.host}:{bound.port}/   (IRC over WebSocket: wss://)")
        elif bound.kind == "websocket":
            print(f"  web chat  http://{bound.host}:{bound.port}/   (IRC over WebSocket: same URL)")
        else:
            print(f"  {bound.kind:<9} {bound.host}:{bound.port}")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_format, args.log_level)
    try:
        config = load_config(args.config) if args.config else config_from_flags(args)
    except ConfigError as exc:
        print(f"chatnet-node: {exc}", file=sys.stderr)
        return 2
    try:
        listeners = config.listeners
        tls = bool(listeners.irc_tls or listeners.websocket_tls)
        loop = choose(args.event_loop or config.event_loop, tls=tls)
    except EventLoopError as exc:
        print(f"chatnet-node: {exc}", file=sys.stderr)
        return 2
    logging.getLogger("chatnet.node").info("event loop: %s", loop.name)
    return run_on(loop, run(config, args.config))
