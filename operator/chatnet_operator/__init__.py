"""chatnet's control plane: the API models, planner, renderer, local runtime and operator.

``kopf run -m chatnet_operator`` imports this package with kopf already
loaded; only then are the kopf handlers registered, so ``chatnet validate``
and ``chatnet render`` never need kopf installed.
"""

import sys

if "kopf" in sys.modules:
    from chatnet_operator.cluster import handlers as handlers
