"""Pure planning: declared objects in, the desired state out, no I/O.

* ``planner``: every server's node configuration and link plan, from the
  validated objects and a ``Placement`` (where servers run);
* ``render``: the desired state as the Kubernetes objects the operator
  applies and ``chatnet render`` prints.

May import: ``api`` and ``chatnet_node.config``. Never ``observe``,
``cluster`` or ``local``.
"""
