#!/usr/bin/env bash
# Fetches what the arm64 VM needs from Debian's arm64 archive, without touching the
# system's apt configuration or its dpkg architecture list: a private copy of this
# machine's apt sources, private lists, cache and state directories, APT::Architecture
# arm64; `apt-get download` and `dpkg-deb -x` only (nothing is installed).
#
# Extracts into $HUSK_VM_CACHE/arm64 (default /var/cache/husk-vm/arm64):
#   boot/vmlinuz-KVER and lib/modules/KVER (Debian's cloud kernel, depmod run on it)
#   bin/busybox                             (busybox-static)
# and prints the vmlinuz's path. An already extracted tree is reused.
set -euo pipefail

CACHE=${HUSK_VM_CACHE:-/var/cache/husk-vm}
ROOT=$CACHE/arm64
say() { printf 'arm64-packages: %s\n' "$*" >&2; }

kernel() { ls -1 "$ROOT"/boot/vmlinuz-*-cloud-arm64 2>/dev/null | sort -V | tail -n1 || true; }

k=$(kernel)
if [[ -n $k && -f $ROOT/lib/modules/${k##*/vmlinuz-}/modules.dep && -x $ROOT/bin/busybox ]]; then
    echo "$k"
    exit 0
fi

apt_dir=$CACHE/apt-arm64
rm -rf "$apt_dir"
mkdir -p "$apt_dir"/{sources.list.d,lists/partial,cache/archives/partial,state} "$ROOT"
# The same mirrors and suites as the host's own apt (security updates included, so the
# kernel is as current as the host's), read from a copy.
cp /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources "$apt_dir/sources.list.d/" 2>/dev/null || true
[[ -f /etc/apt/sources.list ]] && cp /etc/apt/sources.list "$apt_dir/sources.list.d/main.list"
if ! ls "$apt_dir"/sources.list.d/* >/dev/null 2>&1; then
    echo "deb http://deb.debian.org/debian bookworm main" >"$apt_dir/sources.list.d/main.list"
fi
: >"$apt_dir/status"
opts=(-o "Dir::Etc::sourcelist=-" -o "Dir::Etc::sourceparts=$apt_dir/sources.list.d"
    -o "Dir::State=$apt_dir/state" -o "Dir::State::lists=$apt_dir/lists"
    -o "Dir::State::status=$apt_dir/status" -o "Dir::Cache=$apt_dir/cache"
    -o "APT::Architecture=arm64" -o "APT::Architectures::=arm64" -o "Debug::NoLocking=1")
say "apt-get update (arm64 indexes of the host's sources)"
apt-get "${opts[@]}" update >"$apt_dir/update.log" 2>&1 || { tail -n 5 "$apt_dir/update.log" >&2; exit 1; }
# The meta package depends on the current versioned image, linux-image-KVER-cloud-arm64.
pkg=$(apt-cache "${opts[@]}" depends linux-image-cloud-arm64 |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-arm64\)$/\1/p' | head -n1)
[[ -n $pkg ]] || { say "linux-image-cloud-arm64 names no versioned image"; exit 1; }
say "downloading $pkg busybox-static (arm64)"
(cd "$apt_dir" && apt-get "${opts[@]}" download "$pkg" busybox-static >"$apt_dir/download.log" 2>&1) ||
    { tail -n 5 "$apt_dir/download.log" >&2; exit 1; }
for deb in "$apt_dir"/*.deb; do
    dpkg-deb -x "$deb" "$ROOT"
done
# The package's postinst would run depmod; run.sh reads modules.dep for dependencies.
depmod -b "$ROOT" "${pkg#linux-image-}"
rm -rf "$apt_dir"
k=$(kernel)
[[ -n $k ]] || { say "no vmlinuz in $pkg"; exit 1; }
echo "$k"
