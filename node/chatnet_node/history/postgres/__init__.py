"""History in PostgreSQL: one database shared by every server of a network.

``store.PostgresHistory`` is the store (what ``history.factory`` builds); it
composes ``writer.PostgresWriter`` (the asynchronous writer task: queue,
batches, reconnection, retention, ``on_durable``) and
``reader.PostgresReader`` (synchronous reads on their own connection, merged
with rows not yet written). ``database`` holds what both share: the table,
its statements and the connection settings. Only ``history.factory`` (and
tests) import this package; the chat core never does.
"""
