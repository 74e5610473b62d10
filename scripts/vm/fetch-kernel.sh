#!/usr/bin/env bash
# Turn one kernel spec of the vmtest matrix into a bootable bzImage, cached.
#   scripts/vm/fetch-kernel.sh SPEC      prints "VERSION<TAB>PATH-TO-BZIMAGE" on stdout
# SPEC is SUITE:PACKAGE (any Debian package whose dependency chain ships a
# vmlinuz, e.g. bookworm:linux-image-cloud-amd64 or
# trixie:linux-image-6.12.48+deb13-amd64) or the path of a bzImage file.
# Debian packages come through a private apt configuration under
# $VMTEST_CACHE/apt/SUITE (own sources list, lists, cache and an empty dpkg
# status): the machine's apt sources and state are never read or written,
# only its mirror URL is borrowed. A kernel once extracted is reused without
# any network access; VMTEST_REFRESH=1 looks the package up again.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${VMTEST_CACHE:-${WSSNOOP_CACHE:-$repo/.cache}/vmtest}
keyring=${VMTEST_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
net_timeout=${VMTEST_NET_TIMEOUT:-240}

spec=${1:?usage: fetch-kernel.sh SUITE:PACKAGE|PATH}

die() {
	echo "vmtest: $spec: $*" >&2
	exit 1
}

# The version string a bzImage carries (boot protocol: kernel_version at 0x20e
# points 0x200 bytes before the NUL-terminated text).
bzimage_version() {
	local file=$1 magic pointer
	magic=$(dd if="$file" bs=1 skip=514 count=4 2>/dev/null) || return 1
	[ "$magic" = "HdrS" ] || return 1
	pointer=$(od -An -tu2 -j 526 -N 2 "$file" | tr -d ' ')
	dd if="$file" bs=1 skip=$((pointer + 512)) count=200 2>/dev/null |
		tr '\0' '\n' | head -n1 | awk '{print $1}'
}

if [[ $spec != *:* || -e $spec ]]; then
	[ -f "$spec" ] || die "no such kernel image file"
	version=$(bzimage_version "$spec") || die "not a bzImage (no HdrS boot header)"
	printf '%s\t%s\n' "$version" "$(readlink -f "$spec")"
	exit 0
fi

suite=${spec%%:*}
package=${spec#*:}
[[ $suite =~ ^[a-z0-9.-]+$ && $package =~ ^[a-z0-9.+-]+$ ]] ||
	die "expected SUITE:PACKAGE such as bookworm:linux-image-cloud-amd64"

kernel_dir=$cache/kernels/${suite}_$package
if [ -z "${VMTEST_REFRESH:-}" ] && [ -s "$kernel_dir/version" ] && [ -s "$kernel_dir/vmlinuz" ]; then
	printf '%s\t%s\n' "$(cat "$kernel_dir/version")" "$kernel_dir/vmlinuz"
	exit 0
fi

# The mirror this machine already uses (its first plain Debian archive URI).
mirror_url() {
	local file
	if [ -n "${VMTEST_MIRROR:-}" ]; then
		echo "$VMTEST_MIRROR"
		return
	fi
	for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$file" ] || continue
		awk '
			/^[ \t]*#/ { next }
			$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/ && $i ~ /:\/\//) { print $i; break } }
			$1 == "URIs:" { for (i = 2; i <= NF; i++) print $i }
		' "$file"
	done | grep -E '/debian/?$' | head -n1
}

apt_dir=$cache/apt/$suite
apt_conf=$apt_dir/apt.conf
setup_apt() {
	local mirror
	mirror=$(mirror_url)
	[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list*; set VMTEST_MIRROR"
	mkdir -p "$apt_dir/parts" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$cache/debs"
	: >"$apt_dir/status"
	echo "deb [signed-by=$keyring] $mirror $suite main" >"$apt_dir/sources.list"
	# Every path apt would otherwise take from /etc/apt or /var is redirected here.
	cat >"$apt_conf" <<-EOF
		Dir::Etc::Parts "$apt_dir/parts";
		Dir::Etc::Main "/dev/null";
		Dir::Etc::SourceList "$apt_dir/sources.list";
		Dir::Etc::SourceParts "$apt_dir/parts";
		Dir::Etc::Preferences "/dev/null";
		Dir::Etc::PreferencesParts "$apt_dir/parts";
		Dir::State "$apt_dir";
		Dir::State::Lists "$apt_dir/lists";
		Dir::State::status "$apt_dir/status";
		Dir::Cache "$apt_dir/cache";
		Dir::Cache::pkgcache "";
		Dir::Cache::srcpkgcache "";
		Debug::NoLocking "true";
		APT::Architecture "amd64";
		APT::Architectures { "amd64"; };
		APT::Sandbox::User "root";
		Acquire::Languages "none";
		Acquire::GzipIndexes "true";
		Acquire::Retries "1";
		Acquire::http::Timeout "20";
		Acquire::Check-Valid-Until "false";
		Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";
	EOF
}

apt_private() {
	APT_CONFIG=$apt_conf "$@"
}

setup_apt
if [ -n "${VMTEST_REFRESH:-}" ] || ! compgen -G "$apt_dir/lists/*_Packages*" >/dev/null; then
	echo "vmtest: $spec: apt-get update ($suite)" >&2
	if ! apt_private timeout "$net_timeout" apt-get update -q --error-on=any >"$apt_dir/update.log" 2>&1; then
		sed 's/^/    /' "$apt_dir/update.log" | tail -n 5 >&2
		if [ -s "$kernel_dir/version" ] && [ -s "$kernel_dir/vmlinuz" ]; then
			echo "vmtest: $spec: cannot refresh the package lists; using the cached kernel" >&2
			printf '%s\t%s\n' "$(cat "$kernel_dir/version")" "$kernel_dir/vmlinuz"
			exit 0
		fi
		compgen -G "$apt_dir/lists/*_Packages*" >/dev/null || rm -rf "$apt_dir"
		die "cannot read the package lists of '$suite' from $(mirror_url) (network down, or no such suite?)"
	fi
fi

# Downloads PACKAGE's newest version into the deb cache; prints the .deb path.
download() {
	local name=$1 version file
	version=$(apt_private apt-cache show --no-all-versions "$name" 2>/dev/null |
		awk '/^Version:/ { print $2; exit }')
	[ -n "$version" ] || die "package '$name' not found in '$suite'"
	file=$cache/debs/${name}_${version//:/%3a}_amd64.deb
	if [ ! -s "$file" ]; then
		echo "vmtest: $spec: downloading $name $version" >&2
		(cd "$cache/debs" && apt_private timeout "$net_timeout" apt-get download -q "$name" \
			>"$apt_dir/download.log" 2>&1) || {
			sed 's/^/    /' "$apt_dir/download.log" | tail -n 5 >&2
			die "download of '$name' failed"
		}
		[ -s "$file" ] || file=$(find "$cache/debs" -name "${name}_*.deb" | head -n1)
	fi
	echo "$file"
}

# The packages in NAME's Depends that may carry the kernel image (first alternative of each).
image_dependencies() {
	apt_private apt-cache show --no-all-versions "$1" 2>/dev/null |
		awk -F': ' '/^Depends:/ { print $2; exit }' | tr ',' '\n' |
		sed -e 's/|.*//' -e 's/(.*//' -e 's/[[:space:]]//g' |
		grep -E '^linux-(image|binary)-' || true
}

# Follows metapackages (linux-image-cloud-amd64 -> linux-image-VER-cloud-amd64)
# and split packages (sid: linux-image-VER -> linux-binary-VER, vmlinuz under
# /usr/lib/modules/VER/) until a package ships a vmlinuz.
find_image() {
	local name=$1 depth=$2 deb member dependency
	[ "$depth" -le 4 ] || return 1
	deb=$(download "$name") || return 1
	member=$(dpkg-deb -c "$deb" | awk '{print $NF}' |
		grep -E '^\./(boot/vmlinuz-|usr/lib/modules/[^/]+/vmlinuz$|lib/modules/[^/]+/vmlinuz$)' |
		head -n1 || true)
	if [ -n "$member" ]; then
		printf '%s\t%s\n' "$deb" "$member"
		return 0
	fi
	for dependency in $(image_dependencies "$name"); do
		find_image "$dependency" $((depth + 1)) && return 0
	done
	return 1
}

found=$(find_image "$package" 0) || die "no vmlinuz in '$package' or its linux-image/linux-binary dependencies"
deb=${found%%$'\t'*}
member=${found#*$'\t'}
case $member in
./boot/vmlinuz-*) version=${member#./boot/vmlinuz-} ;;
*) version=$(basename "$(dirname "$member")") ;;
esac

echo "vmtest: $spec: extracting $version from $(basename "$deb")" >&2
scratch=$(mktemp -d "$cache/extract.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
dpkg-deb -x "$deb" "$scratch"
mkdir -p "$kernel_dir"
cp "$scratch/$member" "$kernel_dir/vmlinuz.tmp"
mv "$kernel_dir/vmlinuz.tmp" "$kernel_dir/vmlinuz"
echo "$version" >"$kernel_dir/version"
printf '%s\t%s\n' "$version" "$kernel_dir/vmlinuz"
