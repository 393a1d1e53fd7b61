"""One IRC client family for every test suite.

* ``lines``: the parser, the framing checks (CR LF, UTF-8, one line per
  WebSocket message) and the matchers (a command, numeric and leading
  parameters, or any predicate) every client uses;
* ``conversation``: what both clients share with no I/O: the ``Inbox`` of
  lines received and read, and the conversations (register, join, sync,
  LUSERS...) written once as scripts of steps;
* ``client``: the asyncio client (TCP, TLS, WebSocket) with bounded waits;
* ``blocking``: its blocking face (TCP, WebSocket), for synchronous tests (a
  browser or a terminal driven alongside, sockets made inside a network
  namespace, connection limits).

``tests/corekit.py`` is the in-process counterpart, with no socket at all.
"""
