"""The IRC core: one chat server's state and behaviour, with no I/O.

Nothing here awaits, opens a socket or reads a file: transports feed it
lines and read bytes back, the link layer feeds it events, the history
store and the command table are handed in. Inside, from the top:

* ``commands``: the IRC commands, one module per area, and their table;
* ``core``: ``ChatCore``, the connection lifecycle and command dispatch;
* ``remote``: changes made on other servers, applied through ``transitions``;
* ``transitions``: every change to what the network sees, one function each;
* ``state``: ``ChatState``, what this server knows, and its parts:
  ``output`` (delivery), ``replication`` (history writes, the recent window
  and held acknowledgements: ``recent``, ``acks``), ``flood``, ``ids``;
* plain data and pure helpers: ``model`` (clients and channels), ``events``
  (the changes servers tell each other), ``message`` (IRC lines), ``wire``
  (bytes per capability set), ``names``, ``numerics``, ``servertime``,
  ``serverinfo``, ``network`` (what the core asks of the link layer),
  ``stats``.

May import: ``chatnet_node.config`` and the history store's contract.
Never a transport, a link module, a history backend or the runtime
(checked by import-linter in ``make lint``).
"""
