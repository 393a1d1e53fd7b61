#!/usr/bin/env bash
# The long fuzzing run: every target (or those named) for MINUTES each (10 by
# default), one after the other, from the seed corpus; what it finds is kept in
# .fuzz/corpus/TARGET and crashes in .fuzz/crashes/ (each a regression test to
# write, see tests/fuzz/targets.py). The bounded run is in the test suite
# (tests/fuzz/test_fuzz.py).
#   scripts/fuzz.sh [--minutes N] [TARGET...]
set -uo pipefail
cd "$(dirname "$0")/.."
minutes=10
if [[ "${1:-}" == "--minutes" ]]; then
    minutes=$2
    shift 2
fi
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(irc_parser irc_core websocket link_protocol node_config manifests)
fi
mkdir -p .fuzz/crashes
failed=0
for target in "${targets[@]}"; do
    mkdir -p ".fuzz/corpus/$target"
    log=".fuzz/$target.log"
    echo "fuzz: $target for $minutes min (log: $log)"
    .venv/bin/python -m tests.fuzz.run "$target" -max_total_time=$((minutes * 60)) \
        -max_len=4096 -print_final_stats=1 -artifact_prefix=".fuzz/crashes/$target-" \
        ".fuzz/corpus/$target" "tests/fuzz/corpus/$target" >"$log" 2>&1
    rc=$?
    grep -E '^#[0-9]+\s+(DONE|INITED)' "$log" | tail -1
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log"
    if [[ $rc -ne 0 ]]; then
        echo "fuzz: $target CRASHED (exit $rc); see $log and .fuzz/crashes/" >&2
        failed=1
    fi
done
exit $failed
