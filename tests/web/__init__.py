"""Tests of the web chat page (headless Chromium) and of irssi against a real node.

``irc_peer`` is the plain-TCP IRC peer both test modules chat with: the
blocking client (``tests.irc.blocking``), which fits in synchronous tests
that drive a browser or a terminal and never need an event loop.
"""

from __future__ import annotations

from tests.irc.blocking import LineClient

#: The capabilities the page's IRC peers negotiate (echo-message makes privmsg return the echo).
PEER_CAPS = ("message-tags", "server-time", "echo-message")


def irc_peer(port: int, nick: str, caps: tuple[str, ...] = PEER_CAPS) -> LineClient:
    """A registered TCP peer to chat with the page (or irssi) from the test."""
    return LineClient.tcp(port).register(nick, caps)
