"""Transports: the asyncio adapters between sockets and the IRC core.

* ``connection``: IRC over TCP and TLS, and the sink side every client
  connection shares (coalesced writes, SendQ limit);
* ``drops``: clients over the SendQ limit dropped, a slice per turn;
* ``websocket``: IRC over WebSocket (the IRCv3 WebSocket spec) and, on the
  same port, HTTP and inbound server links;
* ``http``: the HTTP routes (health, readiness, status, metrics, the page);
* ``tls``: server TLS contexts, from files or made at start.

May import: the IRC core, the link layer (inbound links arrive on the
WebSocket port), ``metrics`` and ``config``. Never the runtime (``node``).
"""
