#!/usr/bin/env bash
# Fetches Debian bullseye's cloud kernel (Linux 5.10) for the VM suite without touching
# the system's apt configuration: a private sources.list and private lists, cache and
# state directories; `apt-get download` and `dpkg-deb -x` only (nothing is installed).
# Prints the path of the vmlinuz; its modules are beside it under lib/modules/.
#
# Env: HUSK_VM_KERNEL_CACHE (default /var/cache/husk-vm-kernels),
#      HUSK_VM_OLD_MIRROR (default: the mirror this machine's apt uses, else deb.debian.org).
set -euo pipefail

CACHE=${HUSK_VM_KERNEL_CACHE:-/var/cache/husk-vm-kernels}
SUITE=bullseye
say() { printf 'old-kernel: %s\n' "$*" >&2; }

# An already extracted kernel is reused: the package is fetched once per machine.
existing=$(ls -1 "$CACHE"/$SUITE/boot/vmlinuz-5.10.*-cloud-amd64 2>/dev/null | sort -V | tail -n1 || true)
if [[ -n $existing && -f $CACHE/$SUITE/lib/modules/${existing##*/vmlinuz-}/modules.dep ]]; then
    echo "$existing"
    exit 0
fi

mirror=${HUSK_VM_OLD_MIRROR:-}
if [[ -z $mirror ]]; then
    # Active entries only (deb822 "URIs:" or one-line "deb URI ..."), not comments.
    mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        sed -nE 's#^(URIs:|deb)[[:space:]]+(https?://[^[:space:]]+/debian)/?([[:space:]].*)?$#\2#p' | head -n1 || true)
    mirror=${mirror:-http://deb.debian.org/debian}
fi

apt_dir=$CACHE/apt
mkdir -p "$apt_dir"/{lists/partial,cache/archives/partial,state} "$CACHE/$SUITE"
echo "deb $mirror $SUITE main" >"$apt_dir/sources.list"
: >"$apt_dir/status"
opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=-"
    -o "Dir::State=$apt_dir/state" -o "Dir::State::lists=$apt_dir/lists"
    -o "Dir::State::status=$apt_dir/status" -o "Dir::Cache=$apt_dir/cache"
    -o "APT::Architecture=amd64" -o "Debug::NoLocking=1")
say "apt-get update ($mirror $SUITE)"
apt-get "${opts[@]}" --error-on=any update >"$apt_dir/update.log" 2>&1 || { tail -n 5 "$apt_dir/update.log" >&2; exit 1; }
# The meta package depends on the current versioned image: linux-image-5.10.0-N-cloud-amd64.
pkg=$(apt-cache "${opts[@]}" depends linux-image-cloud-amd64 |
    sed -n 's/^ *Depends: \(linux-image-5\.10[^ ]*-cloud-amd64\)$/\1/p' | head -n1)
[[ -n $pkg ]] || { say "no linux-image-5.10 in $SUITE's linux-image-cloud-amd64"; exit 1; }
say "downloading $pkg"
(cd "$apt_dir" && rm -f ./*.deb && apt-get "${opts[@]}" download "$pkg" >"$apt_dir/download.log" 2>&1) ||
    { tail -n 5 "$apt_dir/download.log" >&2; exit 1; }
dpkg-deb -x "$apt_dir"/"$pkg"_*.deb "$CACHE/$SUITE"
rm -f "$apt_dir"/*.deb
# The package's postinst would run depmod; run.sh reads modules.dep for dependencies.
kver=${pkg#linux-image-}
depmod -b "$CACHE/$SUITE" "$kver"
ls -1 "$CACHE"/$SUITE/boot/vmlinuz-5.10.*-cloud-amd64 | sort -V | tail -n1
