"""The declared API: what a platform engineer writes, and what it must satisfy.

* ``models``: the pydantic models of ``ChatNetwork`` and ``ChatServer`` (spec
  and status), the single source of truth, built from ``fields`` (shared
  field types, durations, one-object rules as Python and CEL, metadata,
  conditions), with the larger spec blocks in their own modules: ``endpoint``
  (where users connect), ``staff`` (accounts, cloaks, IRC operators) and
  ``pod`` (where and how a server's pods run);
* ``crds``: the CustomResourceDefinitions generated from those models;
* ``loader``: YAML manifests read into documents that remember where each
  field came from;
* ``validate``: documents to validated objects, every object on its own, then
  the rules between objects (``rules``); what comes out is an ``outcome``:
  the ``Declared`` networks and every ``Problem``, named by object, field and
  fix.

May import: ``chatnet_node.config`` at most. Never ``plan``, ``observe``,
``cluster`` or ``local`` (checked by import-linter in ``make lint``).
"""
