"""Check objects for other operators' CRDs against their published schemas.

The validators come from ``@kubernetes-models`` (npm), generated from the
upstream CRDs; ``make client-deps`` installs them into ``crdcheck/``. Where
Node.js or the package is missing, the tests that need them skip, saying so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

CRDCHECK = Path(__file__).parent / "crdcheck"


def published_problems(objects: list[dict[str, Any]]) -> list[str]:
    """One line per object the published schema refuses (empty: all valid)."""
    node = shutil.which("node")
    if node is None or not (CRDCHECK / "node_modules" / ".installed").exists():
        pytest.skip("the published CRD schemas need Node.js and `make client-deps`")
    done = subprocess.run(
        [node, str(CRDCHECK / "validate.mjs")],
        input=json.dumps(objects),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode not in (0, 1) or done.stderr:
        raise RuntimeError(f"validate.mjs failed ({done.returncode}): {done.stderr}")
    return [line for line in done.stdout.splitlines() if not line.startswith("ok ")]


def validate_rendered(objects: list[dict[str, Any]], version: str) -> None:
    """Every object valid: Kubernetes' own kinds under kubernetes-validate (strict) at
    ``version``, other operators' kinds (cert-manager, Gateway API, prometheus-operator,
    CloudNativePG) against their published schemas (skips without ``make client-deps``)."""
    import kubernetes_validate  # noqa: PLC0415

    from chatnet_operator.plan.optional import is_optional  # noqa: PLC0415

    optional = [o for o in objects if is_optional(o)]
    for obj in objects:
        if not is_optional(obj):
            kubernetes_validate.validate(obj, version, strict=True)
    if optional:
        assert published_problems(optional) == []
