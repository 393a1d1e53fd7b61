#!/usr/bin/env bash
# Runs the test suite and refuses to pass when nothing ran: pytest's exit
# code 5 ("no tests collected") is turned into a failure on purpose. The
# slowest tests are listed at the end: CI has a 20-minute budget to keep.
#
# Two workers (pytest-xdist), each running a whole file at a time: most
# tests wait on real processes, sockets and timers, so two at once take
# about half as long (11 minutes against 21 on a 2-core machine). Every
# test already runs on its own ports, temporary directory and namespaces
# (named by the worker's pid). CHATNET_TEST_WORKERS=0 runs in one process.
set -uo pipefail
cd "$(dirname "$0")/.."
workers="${CHATNET_TEST_WORKERS:-2}"
parallel=()
if [[ "$workers" != 0 ]]; then
    parallel=(-n "$workers" --dist loadfile)
fi
.venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 ${parallel[@]+"${parallel[@]}"} "$@"
rc=$?
if [[ $rc -eq 5 ]]; then
    echo "run-tests: pytest collected no tests; failing on purpose" >&2
    exit 1
fi
exit $rc
