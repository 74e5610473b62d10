#!/usr/bin/env bash
# Regenerate vmlinux/<arch>/vmlinux.h from this kernel's BTF, then rebuild
# to prove the BPF objects still compile and relocate against it.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
btf=${1:-/sys/kernel/btf/vmlinux}
[ -r "$btf" ] || { echo "gen-vmlinux: $btf not readable: a kernel with CONFIG_DEBUG_INFO_BTF is needed" >&2; exit 1; }
mkdir -p "vmlinux/$arch"
bpftool btf dump file "$btf" format c > "vmlinux/$arch/vmlinux.h.tmp"
mv "vmlinux/$arch/vmlinux.h.tmp" "vmlinux/$arch/vmlinux.h"
echo "gen-vmlinux: vmlinux/$arch/vmlinux.h from $btf ($(uname -r))"
make --no-print-directory clean all
