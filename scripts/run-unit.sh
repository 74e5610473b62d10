#!/usr/bin/env bash
# Run each cmocka test binary given; print one closing line and fail if any failed.
set -u
pass=0; fail=0
for bin in "$@"; do
	if "$bin"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "unit: $bin failed" >&2; fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
