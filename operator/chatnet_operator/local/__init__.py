"""The local runtime behind ``chatnet up``: a network as processes on this machine.

Decisions (where each server listens, which server takes the next client,
what changed between two plans, how long to wait before a restart, what to
print and when the network is ready) are pure functions in ``placement``,
``balance``, ``changes``, ``backoff`` and ``report``; the
I/O lives in thin adapters: ``manifests`` (the files, read and validated),
``supervisor`` (processes), ``frontdoor`` (the TCP proxy) and ``up`` (the
command itself); the HTTP polls use ``observe.probe``, as the cluster does.

May import: ``api``, ``plan``, ``observe`` and ``chatnet_node.config``.
Never ``cluster``.
"""
