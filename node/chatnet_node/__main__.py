"""``python -m chatnet_node``: the same as ``chatnet-node``."""

import sys

from .cli import main

sys.exit(main())
