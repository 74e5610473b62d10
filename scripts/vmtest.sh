#!/usr/bin/env bash
# shellcheck disable=SC2059,SC2086 # one printf format for all rows; $modes is a word list
# The kernel-version matrix (make vmtest): boot each kernel under qemu with an
# initramfs holding wssnoop, the wspeer peer and tests/vm/scenarios.sh, run the
# scenarios with the default capture, with --attribute-reads (the read
# tracepoints) and with --capture syscall, and print one
# table row per kernel; the host's own kernel is a row too (no VM).
#
#   scripts/vmtest.sh [-j JOBS] [--no-host] [KERNEL...]
#
# KERNEL is SUITE:PACKAGE (any Debian package whose dependencies ship a
# vmlinuz: bookworm:linux-image-cloud-amd64, sid:linux-image-amd64, ...) or the
# path of a bzImage. Without arguments: $VMTEST_KERNELS, else the cloud kernels
# of bullseye (5.10), bookworm (6.1), trixie (6.12) and sid (7.x).
#
# Environment: VMTEST_KERNELS (space-separated specs), VMTEST_JOBS (VMs run at
# once, default 2), VMTEST_TIMEOUT (s per VM, default 300), VMTEST_ACCEL
# (auto|kvm|tcg, default auto: KVM only when a short probe boots), VMTEST_MEM
# (MiB, default 768), VMTEST_MODES (default "default syscall reads"), VMTEST_HOST=0
# (skip the host row), VMTEST_REFRESH=1 (look packages up again),
# WSSNOOP_CACHE (downloads go to $WSSNOOP_CACHE/vmtest, default .cache/vmtest),
# VMTEST_WSSNOOP / VMTEST_WSPEER (binaries, default ./wssnoop, build/wspeer),
# VMTEST_APPEND (more of the guests' kernel command line, e.g. preempt=full).
# Exits 1 when any row failed, 2 on a usage or set-up error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
export VMTEST_CACHE=${VMTEST_CACHE:-${WSSNOOP_CACHE:-$repo/.cache}/vmtest}
out=$repo/build/vmtest
wssnoop=${VMTEST_WSSNOOP:-$repo/wssnoop}
wspeer=${VMTEST_WSPEER:-$repo/build/wspeer}
jobs=${VMTEST_JOBS:-2}
vm_timeout=${VMTEST_TIMEOUT:-300}
accel=${VMTEST_ACCEL:-auto}
memory=${VMTEST_MEM:-768}
modes=${VMTEST_MODES:-default syscall reads}
with_host=${VMTEST_HOST:-1}
default_kernels="bullseye:linux-image-cloud-amd64 bookworm:linux-image-cloud-amd64
trixie:linux-image-cloud-amd64 sid:linux-image-cloud-amd64"

say() {
	printf 'vmtest: %s\n' "$*" >&2
}

usage() {
	sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
	exit "${1:-2}"
}

kernels=()
while [ $# -gt 0 ]; do
	case $1 in
	-j) jobs=${2:?-j needs a number}; shift 2 ;;
	-j*) jobs=${1#-j}; shift ;;
	--no-host) with_host=0; shift ;;
	-h | --help) usage 0 ;;
	-*) say "unknown option $1"; usage 2 ;;
	*) kernels+=("$1"); shift ;;
	esac
done
if [ ${#kernels[@]} -eq 0 ]; then
	read -r -a kernels <<<"$(tr '\n' ' ' <<<"${VMTEST_KERNELS:-$default_kernels}")"
fi
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { say "-j wants a positive number, got '$jobs'"; exit 2; }

# ---- set-up -----------------------------------------------------------------

if [ "$(id -u)" -ne 0 ]; then
	say "needs root (BPF on the host row, mknod for the initramfs)"
	exit 2
fi
if ! command -v qemu-system-x86_64 >/dev/null || ! command -v cpio >/dev/null ||
	[ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
	say "installing qemu, cpio and busybox-static (scripts/install-deps.sh vm)"
	"$repo/scripts/install-deps.sh" vm || { say "cannot install the VM tools"; exit 2; }
fi
for binary in "$wssnoop" "$wspeer"; do
	[ -x "$binary" ] || { say "missing $binary: run 'make vmtest' (builds wssnoop and build/wspeer)"; exit 2; }
done

mkdir -p "$out/logs" "$VMTEST_CACHE"
rm -rf "$out"/logs/*
matrix_started=$(date +%s)

# ---- kernels ------------------------------------------------------------------

# Row i: label (what the table calls it), spec, bzImage, status text when the row is dead already.
labels=() images=() dead=()
count=${#kernels[@]}
for i in "${!kernels[@]}"; do
	spec=${kernels[$i]}
	say "[$((i + 1))/$count] $spec: fetching"
	if fetched=$("$repo/scripts/vm/fetch-kernel.sh" "$spec"); then
		labels[i]=${fetched%%$'\t'*}
		images[i]=${fetched#*$'\t'}
		dead[i]=""
		say "[$((i + 1))/$count] $spec: kernel ${labels[$i]} ready"
	else
		labels[i]=$spec
		images[i]=""
		dead[i]="fetch failed"
	fi
done

# ---- initramfs ----------------------------------------------------------------

config=$out/config
cat >"$config" <<EOF
PORT=8080
MODES="$modes"
ATTACH_WAIT=${VMTEST_ATTACH_WAIT:-45}
VERDICT_WAIT=${VMTEST_VERDICT_WAIT:-8}
EXIT_WAIT=${VMTEST_EXIT_WAIT:-20}
EOF
initramfs=$out/initramfs.cpio
"$repo/scripts/vm/mkinitramfs.sh" "$initramfs" "$wssnoop" "$wspeer" "$config"
say "initramfs: $(du -h "$initramfs" | cut -f1) (busybox, wssnoop + libraries, wspeer, scenarios)"

# ---- accelerator ----------------------------------------------------------------

# boot_vm IMAGE LOG SECONDS ACCEL [CMDLINE...]: console to LOG, killed after SECONDS.
boot_vm() {
	local image=$1 log=$2 seconds=$3 how=$4 cpu=max
	shift 4
	[ "$how" = kvm ] && cpu=host
	# timeout runs qemu in a process group of its own, out of reach of a Ctrl-C:
	# its pid is noted so that the EXIT trap can stop it.
	timeout --kill-after=5 "$seconds" qemu-system-x86_64 -accel "$how" -cpu "$cpu" -smp 1 \
		-m "$memory" -nodefaults -no-user-config -no-reboot -display none \
		-serial "file:$log" -kernel "$image" -initrd "$initramfs" \
		-append "console=ttyS0 panic=-1 loglevel=1 rdinit=/init ${VMTEST_APPEND:-} $*" \
		</dev/null >"$log.qemu" 2>&1 &
	local timeout_pid=$!
	echo "$timeout_pid" >>"$out/logs/vm.pids"
	wait "$timeout_pid"
}

# shellcheck disable=SC2317 # called from the EXIT trap
stop_vms() {
	local pid
	[ -f "$out/logs/vm.pids" ] || return 0
	while read -r pid; do
		kill -TERM "$pid" 2>/dev/null || true
	done <"$out/logs/vm.pids"
}
trap 'stop_vms' EXIT
trap 'say "interrupted"; exit 130' INT TERM

first_image=""
for i in "${!kernels[@]}"; do
	[ -n "${images[$i]}" ] && { first_image=${images[$i]}; break; }
done
if [ "$accel" = auto ]; then
	accel=tcg
	if [ -n "$first_image" ] && [ -w /dev/kvm ]; then
		# KVM may abort at once or hang on nested set-ups: a short boot decides.
		if (boot_vm "$first_image" "$out/logs/kvm-probe.log" 20 kvm vmtest.probe=1) 2>/dev/null &&
			grep -q 'VMTEST probe-ok' "$out/logs/kvm-probe.log"; then
			accel=kvm
		fi
	fi
	say "accelerator: $accel$([ "$accel" = tcg ] && [ -e /dev/kvm ] && echo ' (the KVM probe did not boot)')"
fi

# ---- rows -----------------------------------------------------------------------

# What the table calls row i (or the host row). Defined before the rows
# run: a row run a second time names itself with it.
row_label() {
	if [ "$1" = host ]; then echo "host $(uname -r)"; else echo "${labels[$1]}"; fi
}

# Runs row i (or the host row for i=host) and leaves its VMTEST lines in logs/i.res.
run_row_once() {
	local i=$1 started code log res label
	started=$(date +%s)
	label=$(row_label "$i")
	if [ "$i" = host ]; then
		log=$out/logs/host.log
		res=$out/logs/host.res
		local workdir port
		workdir=$(mktemp -d "${TMPDIR:-/tmp}/vmtest-host.XXXXXX")
		port=$((20000 + RANDOM % 20000))
		say "[host] $(uname -r): running the scenarios on the host (port $port)"
		code=0
		{
			echo "VMTEST kernel=$(uname -r) btf=$([ -e /sys/kernel/btf/vmlinux ] && echo yes || echo no)"
			ATTACH_WAIT=30 VERDICT_WAIT=5 EXIT_WAIT=15 timeout --kill-after=5 "$vm_timeout" \
				sh "$repo/tests/vm/scenarios.sh" "$wssnoop" "$wspeer" "$workdir" "$port" ${modes} || code=$?
			echo "VMTEST done rc=$code"
		} >"$log" 2>&1
		rm -rf "$workdir"
	else
		log=$out/logs/$i.log
		res=$out/logs/$i.res
		say "[$((i + 1))/$count] $label: booting ($accel, timeout ${vm_timeout}s)"
		code=0
		boot_vm "${images[$i]}" "$log" "$vm_timeout" "$accel" || code=$?
		if [ $code -eq 124 ] || [ $code -eq 137 ]; then
			echo "VMTEST timeout after ${vm_timeout}s" >>"$res.extra"
		elif [ $code -ne 0 ]; then
			echo "VMTEST qemu-exit=$code $(tail -n1 "$log.qemu" | tr ' ' '_')" >>"$res.extra"
		fi
	fi
	{
		tr -d '\r' <"$log" | grep -a '^VMTEST ' || true
		cat "$res.extra" 2>/dev/null || true
		echo "VMTEST wall=$(($(date +%s) - started))"
	} >"$res"
	rm -f "$res.extra"
	summarize_row "$label" "$res" "$log"
}

# A row that fails is run once more: under software emulation a VM can miss a
# deadline that a real machine meets. A third run is given only to a row
# whose second run failed with runs of wssnoop's programs skipped by the
# kernel (a run it guards against was in flight on the CPU: see
# bpf_runs_skipped in the README), a loss the kernel makes and wssnoop reports. A row that
# passes only on a later run is marked in the table, and the earlier runs'
# failures are listed below it, so that a flaky kernel or capture is
# visible, never hidden.
run_row() {
	local i=$1 res log try
	if [ "$i" = host ]; then res=$out/logs/host.res log=$out/logs/host.log; else res=$out/logs/$i.res log=$out/logs/$i.log; fi
	rm -f "$res".try* "$log".try*
	run_row_once "$i"
	for try in 1 2; do
		grep -q '^VMTEST done rc=0' "$res" && break
		[ "$try" = 2 ] && ! grep -q '^VMTEST mode=[^ ]* skipped=[1-9]' "$res" && break
		mv "$res" "$res.try$try"
		mv "$log" "$log.try$try"
		say "$(row_label "$i"): running it once more"
		run_row_once "$i"
	done
	for try in 1 2; do
		[ -f "$res.try$try" ] || continue
		sed -n -e "s/^VMTEST mode=\([^ ]*\) scenario=\([^ ]*\) result=fail detail=\(.*\)/VMTEST first-try run $try [\1] \2: \3/p" \
			-e "s/^VMTEST mode=\([^ ]*\) skipped=\([1-9][0-9]*\)/VMTEST first-try run $try [\1] the kernel skipped \2 runs of wssnoop's programs/p" \
			"$res.try$try" >>"$res"
	done
}

# Prints the progress line of a finished row.
summarize_row() {
	local label=$1 res=$2 log=$3 passed total
	passed=$(grep -c 'result=pass' "$res" || true)
	total=$(grep -c ' scenario=' "$res" || true)
	if grep -q '^VMTEST done rc=0' "$res"; then
		say "$label: $passed/$total scenarios passed in $(sed -n 's/^VMTEST wall=//p' "$res")s"
	else
		say "$label: FAILED ($passed/$total passed; log: ${log#"$repo"/})"
	fi
}

rows=()
[ "$with_host" = 1 ] && rows+=(host)
for i in "${!kernels[@]}"; do
	if [ -n "${dead[$i]}" ]; then
		echo "VMTEST fetch-failed" >"$out/logs/$i.res"
	else
		rows+=("$i")
	fi
done

# The host row first and alone (it measures on the host), then the VMs, JOBS at a time.
running=0
for row in "${rows[@]}"; do
	if [ "$row" = host ]; then
		run_row host
		continue
	fi
	run_row "$row" &
	running=$((running + 1))
	if [ $running -ge "$jobs" ]; then
		wait -n || true
		running=$((running - 1))
	fi
done
wait || true

# ---- table ------------------------------------------------------------------------

field() { # field RES MODE KEY: KEY=value from the mode's status line
	sed -n "s/^VMTEST mode=$2 status=.* $3=\([^ ]*\).*/\1/p" "$1" | head -n1
}

table_rows=()
[ "$with_host" = 1 ] && table_rows+=(host)
table_rows+=("${!kernels[@]}")
failed=0
fmt='%-26s %-4s %-6s %-10s %-15s %-8s %-7s %-20s %-5s %6s %5s %s\n'
table=$out/table.txt
{
	printf "$fmt" kernel load attach capture attribution staging syscall reads pass insns time result
	printf -- '-%.0s' {1..126}
	echo
	for row in "${table_rows[@]}"; do
		res=$out/logs/$row.res
		label=$(row_label "$row")
		if [ ! -s "$res" ] || grep -q '^VMTEST fetch-failed' "$res"; then
			printf "$fmt" "${label:0:26}" - - - - - - - - - - FAIL
			failed=1
			continue
		fi
		load=$(field "$res" default load)
		attach=$(field "$res" default attach)
		capture=$(field "$res" default capture)
		attribution=$(field "$res" default attribution)
		attribution=${attribution:--}
		staging=$(field "$res" default staging)
		passed=$(grep -c 'result=pass' "$res" || true)
		total=$(grep -c ' scenario=' "$res" || true)
		insns=$(sed -n 's/^VMTEST mode=default prog=[^ ]* insns=\([0-9]*\).*/\1/p' "$res" |
			awk '{ s += $1 } END { print s ? s : "-" }')
		syscall_status=$(sed -n 's/^VMTEST mode=syscall status=\([^ ]*\).*/\1/p' "$res" | head -n1)
		case $syscall_status in
		n/a) syscall=n/a ;;
		run) syscall="$(grep -c 'mode=syscall scenario=.* result=pass' "$res" || true)/$(grep -c 'mode=syscall scenario=' "$res" || true)" ;;
		fail) syscall=FAIL ;;
		*) syscall=- ;;
		esac
		# The read tracepoints: which one, and its scenarios.
		case $(sed -n 's/^VMTEST mode=reads status=\([^ ]*\).*/\1/p' "$res" | head -n1) in
		run) reads="$(field "$res" reads attribution) $(grep -c 'mode=reads scenario=.* result=pass' "$res" || true)/$(grep -c 'mode=reads scenario=' "$res" || true)" ;;
		fail) reads=FAIL ;;
		*) reads=- ;;
		esac
		result=ok
		grep -q '^VMTEST first-try' "$res" && result="ok (2nd run)"
		[ -f "$res.try2" ] && result="ok (3rd run)"
		grep -q '^VMTEST done rc=0' "$res" || { result=FAIL; failed=1; }
		printf "$fmt" "${label:0:26}" "${load:--}" "${attach:--}" "${capture:--}" \
			"${attribution:0:15}" "${staging:--}" "$syscall" "$reads" "$passed/$total" "$insns" \
			"$(sed -n 's/^VMTEST wall=//p' "$res")s" "$result"
	done
	echo
	echo "verifier instructions processed, per program:"
	for row in "${table_rows[@]}"; do
		res=$out/logs/$row.res
		[ -s "$res" ] || continue
		label=$(row_label "$row")
		for mode in $modes; do
			progs=$(sed -n "s/^VMTEST mode=$mode prog=\([^ ]*\) insns=\([0-9]*\).*/\1=\2/p" "$res" | tr '\n' ' ')
			[ -n "$progs" ] || continue
			echo "  ${label:0:26} [$mode] $progs" | fold -s -w 96 | sed '2,$s/^/      /'
		done
	done
	retried=0
	for row in "${table_rows[@]}"; do
		grep -qs '^VMTEST first-try' "$out/logs/$row.res" && retried=1
	done
	if [ $retried -eq 1 ]; then
		echo
		echo "passed on a later run; the earlier runs' failures (logs/*.log.try1, .try2):"
		for row in "${table_rows[@]}"; do
			sed -n "s/^VMTEST first-try /  $(row_label "$row" | cut -c1-26): /p" "$out/logs/$row.res" 2>/dev/null
		done
	fi
	if [ $failed -ne 0 ]; then
		echo
		echo "failures:"
		for row in "${table_rows[@]}"; do
			res=$out/logs/$row.res
			label=$(row_label "$row")
			log=$out/logs/$row.log
			if [ ! -s "$res" ] || grep -q '^VMTEST fetch-failed' "$res"; then
				echo "  $label: ${dead[$row]:-no result}"
				continue
			fi
			grep -q '^VMTEST done rc=0' "$res" && continue
			echo "  $label (log: ${log#"$repo"/}):"
			grep -q '^VMTEST kernel=.* btf=no' "$res" && echo "    no /sys/kernel/btf/vmlinux"
			grep -q '^VMTEST done' "$res" || echo "    the VM did not finish the scenarios"
			sed -n -e 's/^VMTEST \(timeout.*\)/    \1/p' -e 's/^VMTEST qemu-exit=\(.*\)/    qemu exited \1/p' "$res"
			sed -n 's/^VMTEST mode=\([^ ]*\) status=fail load=\([^ ]*\) attach=\([^ ]*\).*/    [\1] load \2, attach \3/p' "$res"
			sed -n 's/^VMTEST mode=\([^ ]*\) scenario=\([^ ]*\) result=fail detail=\(.*\)/    [\1] \2: \3/p' "$res" |
				cut -c1-96
		done
	fi
	echo
	echo "matrix: $(($(date +%s) - matrix_started))s, accelerator $accel, logs in ${out#"$repo"/}/logs"
} >"$table"
cat "$table"

exit $failed
