#!/usr/bin/env bash
# Install the Debian packages wssnoop needs, by purpose, only when missing.
#   scripts/install-deps.sh build   compiler, libbpf, bpftool, cmocka, the sanitizer and libFuzzer
#                                   runtimes (make, make unit, make unit-asan, make fuzz)
#   scripts/install-deps.sh test    + the real servers and clients the end-to-end tests drive
#   scripts/install-deps.sh vm      + qemu, busybox, cpio for the kernel matrix (make vmtest)
#   scripts/install-deps.sh bench   + nginx, wrk, tcpdump, bpftrace, perf, valgrind for make bench
#                                   (not the other test peers: a fresh machine's bench starts sooner)
# Several purposes may be given at once. Nothing outside Debian's archive is fetched.
set -euo pipefail

build=(make gcc clang llvm pkg-config libbpf-dev bpftool libelf-dev zlib1g-dev
       libzstd-dev libcmocka-dev nettle-dev libcap-dev libmicrohttpd-dev libclang-rt-14-dev)
test=(nginx curl openssl python3 python3-pytest python3-websockets nodejs node-ws
      tomcat10 tomcat10-examples iproute2 procps libcap2-bin prometheus)
vm=(qemu-system-x86 busybox-static cpio)
bench=(nginx procps wrk tcpdump bpftrace linux-perf valgrind)

want=()
[ $# -eq 0 ] && set -- build
for purpose in "$@"; do
	case "$purpose" in
	build) want+=("${build[@]}") ;;
	test) want+=("${build[@]}" "${test[@]}") ;;
	vm) want+=("${build[@]}" "${vm[@]}") ;;
	bench) want+=("${build[@]}" "${bench[@]}") ;;
	*) echo "install-deps: unknown purpose '$purpose' (build, test, vm, bench)" >&2; exit 2 ;;
	esac
done

missing=()
for pkg in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf "%s\n" "${missing[@]}" | sort -u)

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages (${missing[*]}); run as root or install them" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Packaged services (nginx, tomcat10) must not start on install: the tests start their own.
policy_added=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
	policy_added=1
fi
trap '[ $policy_added -eq 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq || apt-get update
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
