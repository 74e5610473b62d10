#!/bin/sh
# The vmtest scenarios: start a wspeer server, trace its port with wssnoop,
# drive each client scenario and check the verdicts wssnoop printed as JSON.
# Runs inside the test VMs (busybox sh, busybox tools, no python) and on the
# host (dash or bash, coreutils): plain POSIX sh only.
#
#   scenarios.sh WSSNOOP WSPEER WORKDIR PORT [MODE...]    MODE: default | syscall | reads
# (reads: the default capture with --attribute-reads, the read tracepoints)
#
# Results go to stdout as lines the runner parses (everything else is log):
#   VMTEST mode=M status=ok|fail|n/a load=ok|fail attach=ok|fail capture=C attribution=A [staging=S]
#   VMTEST mode=M prog=NAME insns=N
#   VMTEST mode=M scenario=NAME result=pass|fail detail=TEXT
# Exit status: 0 when every mode passed (or was n/a), 1 otherwise.
# Environment: ATTACH_WAIT (s, default 60), VERDICT_WAIT (s per scenario, 8),
# EXIT_WAIT (s for wssnoop to drain and exit, 20).

wssnoop=$1
wspeer=$2
workdir=$3
port=$4
shift 4 || exit 2
[ $# -gt 0 ] || set -- default syscall reads

attach_wait=${ATTACH_WAIT:-60}
verdict_wait=${VERDICT_WAIT:-8}
exit_wait=${EXIT_WAIT:-20}
host=127.0.0.1
# close stays last: its events run on to the end (what wssnoop prints while draining).
scenarios="valid no-upgrade http10 keepalive empty-line split valid6 close"

log() {
	echo "  [$mode] $*"
}

# Succeeds within SECONDS once the command succeeds; polls every 0.1 s.
wait_for() {
	seconds=$1
	shift
	tenths=$((seconds * 10))
	while [ "$tenths" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		tenths=$((tenths - 1))
	done
	"$@"
}

is_running() {
	kill -0 "$1" 2>/dev/null
}

lines_of() {
	if [ -f "$1" ]; then
		wc -l <"$1" | tr -d ' '
	else
		echo 0
	fi
}

# JSON patterns each scenario's verdict line must hold, one per argument:
# fixed strings, or "E:regex". The server's pid is checked separately.
expected_patterns() {
	pid=$server_pid
	[ "$1" = valid6 ] && pid=$server6_pid
	case $1 in
	valid | split) set -- '"verdict":"upgraded"' '"status":101' '"path":"/ws"' '"version":"HTTP/1.1"' ;;
	valid6) set -- '"verdict":"upgraded"' '"status":101' '"path":"/ws"' '"family":"ipv6"' ;;
	no-upgrade) set -- '"verdict":"rejected"' '"upgrade-missing"' '"status":426' '"path":"/ws"' \
		'"version":"HTTP/1.1"' ;;
	http10) set -- '"verdict":"rejected"' '"version":"HTTP/1.0"' '"http-version"' \
		'"upgrade-missing"' '"status":426' '"path":"/ws"' ;;
	keepalive) set -- '"verdict":"upgraded"' '"request_index":2' '"status":101' '"path":"/ws"' \
		'"version":"HTTP/1.1"' ;;
	empty-line) set -- '"verdict":"upgraded"' '"request_index":2' '"status":101' '"path":"/ws"' \
		'"syntax":["leading-empty-line"]' ;;
	close) set -- '"verdict":"closed"' '"path":"/close"' ;;
	esac
	for pattern in '"type":"handshake"' "$@" "E:\"pid\":${pid}[,}]"; do
		echo "$pattern"
	done
}

# Prints the lines of the events file after line FROM up to line TO ('$': the end)
# that hold every pattern of SCENARIO.
matching_lines() {
	from=$1
	to=$2
	scenario=$3
	sed -n "$((from + 1)),${to}p" "$events" >"$scratch.0"
	expected_patterns "$scenario" >"$scratch.patterns"
	: >"$scratch.why"
	while IFS= read -r pattern; do
		case $pattern in
		E:*) grep -E -e "${pattern#E:}" <"$scratch.0" >"$scratch.1" ;;
		*) grep -F -e "$pattern" <"$scratch.0" >"$scratch.1" ;;
		esac
		if [ ! -s "$scratch.1" ] && [ ! -s "$scratch.why" ]; then
			# Say which expectation no line met, and what the closest line had instead.
			key=$(echo "${pattern#E:}" | sed -n 's/^\("[^"]*"\):.*/\1/p')
			got=""
			[ -n "$key" ] && got=$(head -n1 "$scratch.0" | grep -o "$key:[^,}]*" | head -n1)
			echo "no line with ${pattern#E:}${got:+ (got $got)}" >"$scratch.why"
		fi
		mv "$scratch.1" "$scratch.0"
	done <"$scratch.patterns"
	cat "$scratch.0"
}

segment_matches() {
	[ -n "$(matching_lines "$@")" ]
}

# Waits up to SECONDS for SCENARIO's verdict line after line START. Once a
# handshake line for the scenario's path is out, a wrong one is not waited on
# for more than a second: the full check is only run when such a line exists.
wait_verdict() {
	tenths=$(($1 * 10))
	path=/ws
	[ "$3" = close ] && path=/close
	grace=10
	while [ "$tenths" -gt 0 ]; do
		if sed -n "$(($2 + 1)),\$p" "$events" | grep -F "\"path\":\"$path\"" |
			grep -qF '"type":"handshake"'; then
			segment_matches "$2" '$' "$3" && return 0
			grace=$((grace - 1))
			[ "$grace" -gt 0 ] || return 1
		fi
		sleep 0.1
		tenths=$((tenths - 1))
	done
	return 1
}

traced() {
	grep -q '^wssnoop: tracing' "$errors"
}

report_scenario() {
	echo "VMTEST mode=$mode scenario=$1 result=$2 detail=$3"
	[ "$2" = pass ] || failed=1
}

run_mode() {
	mode=$1
	dir=$workdir/$mode
	mkdir -p "$dir"
	events=$dir/events.json
	errors=$dir/wssnoop.err
	scratch=$dir/scratch
	failed=0
	: >"$events"
	: >"$errors"

	# One server on 127.0.0.1:PORT, one on [::1]:PORT+1 (the valid6 scenario).
	"$wspeer" server "$port" >"$dir/server.log" 2>&1 &
	server_shell_pid=$!
	"$wspeer" server "$((port + 1))" --v6 >"$dir/server6.log" 2>&1 &
	server6_shell_pid=$!
	if ! wait_for 5 grep -q 'listening' "$dir/server.log" ||
		! wait_for 5 grep -q 'listening' "$dir/server6.log"; then
		log "wspeer server did not start: $(cat "$dir/server.log" "$dir/server6.log")"
		echo "VMTEST mode=$mode status=fail load=- attach=- capture=- attribution=-"
		kill "$server_shell_pid" "$server6_shell_pid" 2>/dev/null
		return 1
	fi
	server_pid=$(sed -n 's/.* pid \([0-9][0-9]*\).*/\1/p' "$dir/server.log" | head -n1)
	server6_pid=$(sed -n 's/.* pid \([0-9][0-9]*\).*/\1/p' "$dir/server6.log" | head -n1)

	set -- -p "$port,$((port + 1))" -j -v -v
	[ "$mode" = syscall ] && set -- "$@" --capture syscall
	[ "$mode" = reads ] && set -- "$@" --attribute-reads
	log "starting: wssnoop $*"
	"$wssnoop" "$@" >"$events" 2>"$errors" &
	wssnoop_pid=$!
	started=$(date +%s)
	wait_for "$attach_wait" sh -c "grep -q '^wssnoop: tracing' '$errors' || ! kill -0 $wssnoop_pid 2>/dev/null"
	capture=$(sed -n 's/^wssnoop: capture=\([^ ]*\).*/\1/p' "$errors" | head -n1)
	attribution=$(sed -n 's/.* attribution=\([^ ]*\).*/\1/p' "$errors" | head -n1)
	staging=$(sed -n 's/.* staging=\([^ ]*\).*/\1/p' "$errors" | head -n1)
	sed -n 's/^wssnoop: prog \([^ ]*\) insns=\([0-9]*\).*/\1 \2/p' "$errors" |
		while read -r name insns; do
			echo "VMTEST mode=$mode prog=$name insns=$insns"
		done
	if grep -q '^wssnoop: prog ' "$errors" || traced; then load=ok; else load=fail; fi

	if ! traced; then
		code=""
		if is_running "$wssnoop_pid"; then
			kill -KILL "$wssnoop_pid" 2>/dev/null
			wait "$wssnoop_pid" 2>/dev/null
			why="no 'wssnoop: tracing' line after ${attach_wait}s"
		else
			wait "$wssnoop_pid"
			code=$?
			why="wssnoop exited $code before tracing"
		fi
		kill "$server_pid" "$server6_pid" 2>/dev/null
		wait "$server_shell_pid" "$server6_shell_pid" 2>/dev/null
		# A wssnoop without the syscall backend yet: not a failure of this kernel.
		# (It refuses before loading anything; a load that fails is a failure.)
		if [ "$mode" = syscall ] && { [ "$code" = 2 ] || [ "$code" = 1 ]; } && [ "$load" = fail ] &&
			grep -qiE "unrecognized option|unknown option|invalid option|capture[^:]*not (available|supported)|(unknown|invalid) capture" "$errors"; then
			log "--capture syscall not available here: $(head -n1 "$errors")"
			echo "VMTEST mode=$mode status=n/a load=- attach=- capture=- attribution=-"
			return 0
		fi
		log "$why; its stderr:"
		tail -n 15 "$errors" | sed 's/^/    /'
		echo "VMTEST mode=$mode status=fail load=$load attach=fail capture=${capture:--} attribution=${attribution:--}"
		return 1
	fi
	log "tracing after $(($(date +%s) - started))s: capture=${capture:-?} attribution=${attribution:-?}"
	echo "VMTEST mode=$mode status=run load=$load attach=ok capture=${capture:--} attribution=${attribution:--}" \
		"staging=${staging:--}"

	starts=""
	for scenario in $scenarios; do
		start=$(lines_of "$events")
		starts="$starts $start"
		if [ "$scenario" = valid6 ]; then
			"$wspeer" client ::1 "$((port + 1))" valid >"$dir/client-$scenario.log" 2>&1
		else
			"$wspeer" client "$host" "$port" "$scenario" >"$dir/client-$scenario.log" 2>&1
		fi
		code=$?
		echo "$code" >"$dir/client-$scenario.code"
		# The next scenario starts once this one's verdict is out (or it is late).
		if [ "$scenario" != close ]; then
			wait_verdict "$verdict_wait" "$start" "$scenario"
		else
			wait_verdict 3 "$start" "$scenario"
		fi
	done

	kill -TERM "$wssnoop_pid" 2>/dev/null
	if wait_for "$exit_wait" sh -c "! kill -0 $wssnoop_pid 2>/dev/null"; then
		wait "$wssnoop_pid"
		wssnoop_code=$?
	else
		kill -KILL "$wssnoop_pid" 2>/dev/null
		wait "$wssnoop_pid" 2>/dev/null
		wssnoop_code=timeout
	fi
	kill "$server_pid" "$server6_pid" 2>/dev/null
	wait "$server_shell_pid" "$server6_shell_pid" 2>/dev/null

	# Scenario i owns the events from its start up to the next scenario's start;
	# the last one (close) also owns what wssnoop printed while draining.
	# shellcheck disable=SC2086 # a list of line numbers
	set -- $starts
	for scenario in $scenarios; do
		from=$1
		shift
		to=${1:-\$}
		code=$(cat "$dir/client-$scenario.code")
		if [ "$code" != 0 ]; then
			report_scenario "$scenario" fail "wspeer client exited $code: $(tail -n1 "$dir/client-$scenario.log")"
			continue
		fi
		if [ "$to" != '$' ] && [ "$to" -le "$from" ]; then
			report_scenario "$scenario" fail "no event"
			log "$scenario: no event; wssnoop so far:"; tail -n 5 "$events" | cut -c1-300 | sed "s/^/    /"
			continue
		fi
		if segment_matches "$from" "$to" "$scenario"; then
			report_scenario "$scenario" pass ok
		else
			report_scenario "$scenario" fail "$(cat "$scratch.why")"
			log "$scenario: expected a line with: $(expected_patterns "$scenario" | tr '\n' ' ')"
			sed -n "$((from + 1)),${to}p" "$events" | head -n 8 | cut -c1-1500 | sed 's/^/    got: /'
		fi
	done
	# What the capture counted (sent, lost, cut, ...) tells a lost record from
	# a late one when a scenario failed.
	if [ "$failed" != 0 ]; then
		log "wssnoop's summary: $(grep '"type":"summary"' "$events" | tail -n1 | cut -c1-1200)"
		log "wssnoop's stderr:"; tail -n 12 "$errors" | cut -c1-300 | sed 's/^/    /'
	fi
	# Runs of wssnoop's programs the kernel skipped (a run it guards against
	# was in flight on the CPU): a failure that comes with some may be the kernel's
	# loss, which wssnoop reported; the runner tells the two apart.
	skipped=$(grep '"type":"summary"' "$events" | tail -n1 | sed -n 's/.*"bpf_runs_skipped":\([0-9]*\).*/\1/p')
	echo "VMTEST mode=$mode skipped=${skipped:-0}"
	if [ "$wssnoop_code" = 0 ] && grep -q '"type":"summary"' "$events"; then
		report_scenario exit pass ok
	else
		report_scenario exit fail "wssnoop exit $wssnoop_code after SIGTERM, or no summary line"
		tail -n 5 "$errors" | sed 's/^/    /'
	fi
	rm -f "$scratch".*
	return $failed
}

status=0
for mode_name in "$@"; do
	if run_mode "$mode_name"; then
		:
	else
		status=1
	fi
done
exit $status
