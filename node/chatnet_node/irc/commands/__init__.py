"""The IRC commands, one module per area; ``table`` maps every name to its ``Command``.

A handler checks what only it can check (does the channel exist? is the
client an operator there?), answers the client through the core, and makes
its change through ``transitions``, which shows it to the local clients and
tells the network. Handlers never write a link event or a history row
themselves.

May import: the rest of ``chatnet_node.irc``, ``chatnet_node.config`` and
the history contract. Never a transport, a link or a history backend.
"""
