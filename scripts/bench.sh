#!/usr/bin/env bash
# make bench: what wssnoop costs, against no tracer, tcpdump and bpftrace.
# Installs what is missing (install-deps.sh bench), builds wssnoop, wspeer and
# the micro-benchmarks, then runs tests/bench/bench.py, which alternates the
# arms over several rounds and writes the tables to stdout and to
# build/bench/results.md (every run: build/bench/runs.jsonl).
#
# Settings, as environment variables (make bench BENCH_ROUNDS=8 works too):
#   BENCH_ROUNDS=5 BENCH_SECONDS=4 BENCH_STATS_SECONDS=2 BENCH_STOP_TIMEOUT=10
#   BENCH_WS_SECONDS=4 BENCH_WS_RATE=5000 BENCH_CONNS=16
#   BENCH_ECHO_SECONDS=3 BENCH_ECHO_CONNS=16
#   BENCH_ARMS=none,wssnoop-other,wssnoop-port,syscall-other,syscall-port,tcpdump,bpftrace,bare-port,wssnoop-nolife
#     (wssnoop-nolife, wssnoop --no-lifetime, runs in the echo workload only; bare-port,
#     the bare reference capture, in keepalive only)
#   BENCH_WORKLOADS=keepalive,close,websocket,echo,micro
#   BENCH_SERVER_CPU=1 BENCH_CLIENT_CPU=0 BENCH_PORT=18480
# The default finishes in about 13 minutes on a 2-core machine (the echo
# workload alone, BENCH_WORKLOADS=echo: under 2). Run it on a quiet machine:
# other tracers and load move every figure.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "bench: needs root (BPF, tcpdump, bpftrace, sysctl kernel.bpf_stats_enabled)" >&2
	exit 1
fi
if [ "$(nproc)" -lt 2 ]; then
	echo "bench: needs 2 CPUs at least (server and load generator are pinned apart)" >&2
	exit 1
fi
scripts/install-deps.sh bench
make --no-print-directory all build/wspeer build/bench/capture_cost
mkdir -p build/bench
CC=${CC:-cc}
for prog in parse_judge syscall_cost event_path; do
	src=tests/bench/$prog.c
	if [ ! build/bench/$prog -nt $src ] || [ ! build/bench/$prog -nt build/libwssnoop.a ]; then
		printf '  %-8s %s\n' CC build/bench/$prog
		"$CC" -std=gnu11 -O2 -g -Wall -Wextra -Iuser $src build/libwssnoop.a \
			-lnettle -o build/bench/$prog
	fi
done
# The bare reference capture: a BPF object of its own and its loader.
arch=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
if [ ! build/bench/bare.bpf.o -nt tests/bench/bare.bpf.c ]; then
	printf '  %-8s %s\n' BPF build/bench/bare.bpf.o
	"${CLANG:-clang}" -g -O2 -target bpf -D__TARGET_ARCH_$arch -Wall -Ivmlinux/$arch -I. \
		-c tests/bench/bare.bpf.c -o build/bench/bare.bpf.o
fi
if [ ! build/bench/bare -nt tests/bench/bare.c ]; then
	printf '  %-8s %s\n' CC build/bench/bare
	"$CC" -std=gnu11 -O2 -g -Wall -Wextra tests/bench/bare.c -lbpf -o build/bench/bare
fi
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: load average now $load; results are steadier on a quiet machine" >&2
exec python3 tests/bench/bench.py
