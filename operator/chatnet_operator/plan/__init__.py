"""Pure planning: declared objects in, the desired state out, no I/O.

* ``desired``: the plan's types; ``NetworkPlan`` is the whole desired state,
  and everything downstream of the planner reads only it;
* ``placement``: where servers run (the ``Placement`` the planner asks),
  and the cluster's answer (pod DNS names, fixed ports);
* ``planner``: every server's node configuration and link plan, from the
  validated objects and a ``Placement``;
* ``render``: the plan, and only the plan, as the Kubernetes objects the
  operator applies and ``chatnet render`` prints; ``podspec`` finishes its
  pod templates (sizing, ``spec.pod``, probes, hub anti-affinity) and
  ``disruption`` its PodDisruptionBudgets.

May import: ``api`` and ``chatnet_node.config``. Never ``observe``,
``cluster`` or ``local``.
"""
