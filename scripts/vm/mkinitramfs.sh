#!/usr/bin/env bash
# Build the vmtest initramfs: busybox, wssnoop with the shared libraries ldd
# names (kept at the same paths), the static wspeer peer, tests/vm/init as
# /init and tests/vm/scenarios.sh, plus the runner's config file.
#   scripts/vm/mkinitramfs.sh OUT.cpio WSSNOOP WSPEER CONFIG
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:?usage: mkinitramfs.sh OUT.cpio WSSNOOP WSPEER CONFIG}
wssnoop=${2:?}
wspeer=${3:?}
config=${4:?}
busybox=${VMTEST_BUSYBOX:-/bin/busybox}

die() {
	echo "vmtest: initramfs: $*" >&2
	exit 1
}

[ -x "$wssnoop" ] || die "no executable $wssnoop (run make)"
[ -x "$wspeer" ] || die "no executable $wspeer (run make $wspeer)"
! ldd "$busybox" >/dev/null 2>&1 ||
	die "$busybox is not static (install busybox-static: scripts/install-deps.sh vm)"

root=$(mktemp -d "${TMPDIR:-/tmp}/vmtest-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,etc,vmtest,usr/bin,usr/sbin}
cp "$busybox" "$root/bin/busybox"
cp "$wssnoop" "$root/bin/wssnoop"
cp "$wspeer" "$root/bin/wspeer"
cp "$repo/tests/vm/init" "$root/init"
cp "$repo/tests/vm/scenarios.sh" "$root/vmtest/scenarios.sh"
cp "$config" "$root/vmtest/config"
chmod 755 "$root/init" "$root/bin/"*

# Shared libraries and the dynamic loader, at the paths the binary expects.
{ ldd "$wssnoop" 2>/dev/null || true; } | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
	while read -r lib; do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"

# The console must exist before init runs, or init starts without stdio.
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
mknod -m 666 "$root/dev/null" c 1 3 2>/dev/null || true

(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
