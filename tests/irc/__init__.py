"""One IRC client family for every test suite.

* ``lines``: the parser and the matchers (a command, numeric and leading
  parameters, or any predicate) every client uses;
* ``client``: the asyncio client (TCP, TLS, WebSocket) with bounded waits;
* ``blocking``: the same on a blocking socket, for synchronous tests (a
  browser or a terminal driven alongside, sockets made inside a network
  namespace, connection limits).

``tests/corekit.py`` is the in-process counterpart, with no socket at all.
"""
