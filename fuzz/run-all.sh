#!/usr/bin/env bash
# Run the cargo-fuzz targets one after the other, each on a scratch copy of its seed corpus,
# and write one summary line per target (executions, seconds, exec/s, slowest input, peak RSS,
# result).
#
#   fuzz/run-all.sh [target ...]        (default: every target, quickest first)
#
# Each run: -runs=$FUZZ_RUNS -max_total_time=$FUZZ_SECONDS -timeout=$FUZZ_TIMEOUT -rss_limit_mb=512
# -report_slow_units=1, one libFuzzer process (no -jobs/-workers forks), under `nice -n 10`.
# libFuzzer's timeout is wall time: on a loaded machine give it room (FUZZ_TIMEOUT=5) and re-time
# the inputs it saves as slow (over 1 s, fuzz/artifacts/<target>/slow-unit-*) on a quiet one.
# With FUZZ_DEADLINE (a Unix time), each target gets at most an even share of the time left
# before it, so the whole line-up ends by then and a target that reaches FUZZ_RUNS early leaves
# its time to the ones after it.
# Needs nightly and cargo-fuzz (`cargo install cargo-fuzz --locked`); build first with
# `cargo +nightly fuzz build -O -a` (from fuzz/), or this builds on the first run.
#
# Environment: FUZZ_RUNS (10000000), FUZZ_SECONDS (1800), FUZZ_TIMEOUT (1), FUZZ_DEADLINE (none),
# FUZZ_OUT (/tmp/fuzzrun: corpora, logs, summary.tsv), FUZZ_FLAGS (-O -a: optimised, with debug
# assertions and overflow checks; add `-s none` to fuzz without AddressSanitizer).
set -euo pipefail
cd "$(dirname "$0")"

runs=${FUZZ_RUNS:-10000000}
max_secs=${FUZZ_SECONDS:-1800}
timeout=${FUZZ_TIMEOUT:-1}
out=${FUZZ_OUT:-/tmp/fuzzrun}
read -r -a flags <<<"${FUZZ_FLAGS:--O -a}"
if [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=(hub_signature comment_command sshsig events_batch canonical patch repo_config
        server_config webhook_payload astdiff)
fi
mkdir -p "$out/corpus" "$out/logs"
summary="$out/summary.tsv"
[ -f "$summary" ] || printf 'target\texecutions\tseconds\texec/s\tslowest s\tpeak MB\tresult\n' >"$summary"

left=${#targets[@]}
for t in "${targets[@]}"; do
    secs=$max_secs
    if [ -n "${FUZZ_DEADLINE:-}" ]; then
        share=$(( (FUZZ_DEADLINE - $(date +%s)) / left ))
        if [ "$share" -lt "$secs" ]; then secs=$share; fi
    fi
    left=$((left - 1))
    if [ "$secs" -lt 10 ]; then
        printf '%s\t0\t0\t0\t-\t-\tnot run (no time left)\n' "$t" >>"$summary"
        continue
    fi
    corpus="$out/corpus/$t"
    mkdir -p "$corpus"
    cp -n corpus/"$t"/* "$corpus"/ 2>/dev/null || true
    log="$out/logs/$t.log"
    start=$(date +%s)
    set +e
    nice -n 10 cargo +nightly fuzz run "${flags[@]}" "$t" "$corpus" -- \
        -runs="$runs" -max_total_time="$secs" -timeout="$timeout" -rss_limit_mb=512 \
        -report_slow_units=1 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    elapsed=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ -z "$execs" ]; then
        # A crash ends the run before the final stats: the last status line's count.
        execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
    fi
    execs=${execs:-0}
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    rate=${rate:-$(( execs / (elapsed > 0 ? elapsed : 1) ))}
    slowest=$(sed -n 's/^stat::slowest_unit_time_sec: *//p' "$log" | tail -1)
    peak=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    if [ "$rc" -eq 0 ]; then
        result="no crash"
    else
        result="FAILED rc=$rc: $(grep -m1 -o 'Test unit written to .*' "$log" || echo "see $log")"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$execs" "$elapsed" "$rate" "${slowest:--}" \
        "${peak:--}" "$result" >>"$summary"
    echo "$t: $execs executions in ${elapsed}s ($rate exec/s): $result"
done
