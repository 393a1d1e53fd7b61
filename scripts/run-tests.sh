#!/usr/bin/env bash
# Runs the test suite and refuses to pass when nothing ran: pytest's exit
# code 5 ("no tests collected") is turned into a failure on purpose. The
# slowest tests are listed at the end: CI has a 20-minute budget to keep.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 "$@"
rc=$?
if [[ $rc -eq 5 ]]; then
    echo "run-tests: pytest collected no tests; failing on purpose" >&2
    exit 1
fi
exit $rc
