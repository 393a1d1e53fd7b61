"""chatnet-node: one chat server of a chatnet network.

The node knows nothing of Kubernetes: it reads its configuration file
(``config``), serves IRC clients over TCP, TLS and WebSocket, and links to
the other servers of its network. Its packages, from the top:

* ``cli`` and ``node``: the ``chatnet-node`` command and the runtime that
  builds everything, owns the event loop's resources, reloads and drains;
* ``transport``: sockets to core (TCP, TLS, WebSocket, HTTP);
* ``links``: server-to-server portals (protocol, handshake, topology,
  routing, failover catch-up, sessions, dialing);
* ``history``: where messages are kept (the store contract, SQLite,
  PostgreSQL);
* ``irc``: the IRC core, with no I/O;
* ``config`` and ``metrics``: the configuration file's models (shared with
  the operator) and the Prometheus adapter;
* ``timings``: the latency histograms the core, the links and the history
  stores fill (plain counters, no I/O; ``metrics`` exports them).

Lower layers never import higher ones; ``make lint`` checks it.
"""

__version__ = "0.1.0"  # the one place the version is written (pyproject reads it)
