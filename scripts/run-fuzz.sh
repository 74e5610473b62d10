#!/usr/bin/env bash
# Run each libFuzzer target for SECONDS on its seed corpus (tests/fuzz/corpus/NAME)
# plus what earlier runs found (build/fuzz/corpus/NAME); print one line of
# numbers per target and fail if any target crashed, leaked or timed out.
#   scripts/run-fuzz.sh SECONDS build/fuzz/fuzz_judge build/fuzz/fuzz_events
set -uo pipefail
seconds=$1; shift
dict=tests/fuzz/http.dict
status=0
for bin in "$@"; do
	name=$(basename "$bin")
	short=${name#fuzz_}
	work=build/fuzz/corpus/$short
	artifacts=build/fuzz/artifacts
	log=build/fuzz/$name.log
	mkdir -p "$work" "$artifacts"
	# -jobs/-workers stay at one: CI time is bounded by SECONDS per target.
	"$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
		-max_len=8192 -dict="$dict" -artifact_prefix="$artifacts/$name-" \
		"$work" "tests/fuzz/corpus/$short" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*' "$log" | tail -1)
	echo "fuzz: $name: ${execs:-0} executions (${rate:-0}/s) in ${seconds}s, ${cov:-no coverage line}, exit $rc"
	if [ "$rc" -ne 0 ]; then
		status=1
		echo "fuzz: $name FAILED; the input is in $artifacts/, the log in $log:" >&2
		grep -E -A12 'ERROR:|runtime error|invariant broken' "$log" | head -40 >&2
		echo "fuzz: reproduce with: $bin $artifacts/$name-<crash file>" >&2
	fi
done
exit $status
