"""Message history: what CHATHISTORY reads and failover builds on.

Two stores behind one contract (``contract.HistoryBackend``), chosen by the
node's ``history.store``:

* ``SqliteHistory`` (``sqlite``, the default): one SQLite file per server,
  WAL mode, nothing to run. A commit keeps a message on this server only.
* ``PostgresHistory`` (``postgres``): one PostgreSQL database shared by
  every server of the network. Writes go through an asynchronous writer
  task; a commit there puts the message where every server reads it.

Modules, and what each may import besides the standard library:

``contract``
    ``StoredMessage``, ``Ref``, ``HistoryBackend`` and the keys and order
    every store follows. No I/O, no database driver, nothing of this
    package. The chat core and CHATHISTORY import this module and nothing
    else of the package.
``sql``
    ``SqlHistory``, the CHATHISTORY queries both stores share, and
    ``TrimMarks`` (retention by count). Imports ``contract``.
``sqlite``
    ``SqliteHistory``. Imports ``contract``, ``sql``.
``postgres/``
    ``PostgresHistory``: ``database`` (the table and how to reach it),
    ``writer`` (the asynchronous writer task), ``reader`` (synchronous reads
    and the merge of rows not yet written) and ``store`` (the two composed).
    Imports ``contract``, ``sql``, psycopg, and ``chatnet_node.config`` for
    ``ConfigError`` (a malformed DSN).
``factory``
    ``open_history(config)``: the one module that imports every backend,
    and what the runtime (``server``) imports. Imports both backends
    (``chatnet_node.config`` for type checking only).

Nothing here imports the chat core (``core``, ``commands``, ``links``, the
runtime). This file imports nothing, so that importing
``chatnet_node.history.contract`` loads no backend.
"""
