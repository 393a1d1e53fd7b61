"""The operator on a Kubernetes cluster: kopf handlers around one reconcile loop.

* ``handlers``: the kopf edge (events, timers, peering, liveness);
* ``controller``: one pass per network: read, validate, apply, probe, write
  status;
* ``reconcile``: pure decisions: the desired children and what to write;
* ``kube``: the Kubernetes API calls (kubernetes_asyncio's dynamic client,
  with the credentials kopf uses); ``discovery``: which optional kinds are
  served, in which version;
* ``probing``: which pods to probe, and probing them;
* ``metrics`` and ``config``: the operator's own Prometheus metrics and
  settings.

May import: ``api``, ``plan``, ``observe``. Never ``local``.
"""
