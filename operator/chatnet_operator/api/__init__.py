"""The declared API: what a platform engineer writes, and what it must satisfy.

* ``models``: the pydantic models of ``ChatNetwork`` and ``ChatServer`` (spec
  and status), the single source of truth;
* ``crds``: the CustomResourceDefinitions generated from those models;
* ``loader``: YAML manifests read into documents that remember where each
  field came from;
* ``validate``: documents to validated objects, with every problem named by
  object, field and fix, cross-object rules included.

May import: ``chatnet_node.config`` at most. Never ``plan``, ``observe``,
``cluster`` or ``local`` (checked by import-linter in ``make lint``).
"""
