"""What the running servers say, for the cluster and for ``chatnet up`` alike.

* ``probe``: one HTTP GET of a node's ``/status`` and ``/readyz``;
* ``status``: conditions (Ready, TopologyValid, Degraded) and counts from
  the plan and those probes.

May import: ``api`` and ``plan``. Never ``cluster`` or ``local``.
"""
