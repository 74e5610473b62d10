#!/usr/bin/env bash
# End-to-end tests (make e2e): ./wssnoop against real servers, proxies and
# clients on loopback. Needs root (BPF) and the packages of
# `scripts/install-deps.sh test`. Extra arguments go to pytest, e.g.
#   scripts/run-e2e.sh -k nginx        scripts/run-e2e.sh -x -v
# Set WSSNOOP_E2E_KEEP=1 to keep the servers' and wssnoop's logs.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "run-e2e: the end-to-end tests load BPF programs into the kernel: run as root (sudo make e2e)" >&2
	exit 1
fi
# Debian's interpreter, which has python3-pytest and python3-websockets
# (another python3 may come first on PATH).
PY=/usr/bin/python3
if ! "$PY" -c 'import pytest, websockets' 2>/dev/null; then
	echo "run-e2e: $PY lacks pytest or websockets: run scripts/install-deps.sh test" >&2
	exit 1
fi

"$PY" -m pytest -q -p no:cacheprovider tests/e2e "$@"
exit $?
