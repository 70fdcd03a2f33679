#!/usr/bin/env bash
# Boots a throwaway VM (qemu, TCG) whose PID 1 is `husk init` and whose only cgroup
# hierarchy is cgroup v2, runs tests/vm/guest.sh in it and reports its checks.
#
# Env: HUSK_VM_ARCH (x86_64, the default, or aarch64: an arm64 machine on qemu's virt
#      board with Debian's arm64 cloud kernel and busybox, fetched by
#      tests/vm/arm64-packages.sh into HUSK_VM_CACHE, default /var/cache/husk-vm),
#      HUSK_BIN (husk for that architecture; default target/TRIPLE/debug/husk, built if
#      missing), HUSK_ROOTFS_BUILDER (default: rootfs-builder beside HUSK_BIN),
#      HUSK_ALPINE_TARBALL (the container root on x86_64), HUSK_VM_ROOTFS (another root
#      filesystem tarball, with an etc/os-release; on aarch64 the default is a busybox
#      tree made from the arm64 busybox), HUSK_VM_XFAIL (comma-separated check names that
#      are expected to fail), HUSK_VM_OPTIONAL=1 (missing qemu/kernel is a skip, not a
#      failure), HUSK_VM_TIMEOUT (seconds, default 300), HUSK_VM_KERNEL (a vmlinuz; its
#      modules are taken from ../lib/modules beside it if there, else /lib/modules),
#      HUSK_VM_CONSOLE (a file to keep the VM's console output in).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ARCH=${HUSK_VM_ARCH:-x86_64}
case $ARCH in
x86_64)
    TRIPLE=x86_64-unknown-linux-musl
    QEMU=(qemu-system-x86_64 -accel tcg -cpu max)
    CONSOLE=ttyS0
    PKGS=(qemu-system-x86 linux-image-cloud-amd64 busybox-static cpio)
    ;;
aarch64)
    TRIPLE=aarch64-unknown-linux-musl
    # pauth-impdef: the same pointer authentication with qemu's cheap hash instead of
    # the architected QARMA, which is most of the emulation's cost under -cpu max.
    QEMU=(qemu-system-aarch64 -M virt -accel tcg -cpu max,pauth-impdef=on)
    CONSOLE=ttyAMA0
    # The host's busybox-static only lists the applets (the arm64 one is the same build).
    PKGS=(qemu-system-arm busybox-static cpio)
    ;;
*)
    echo "FAILED: HUSK_VM_ARCH=$ARCH: x86_64 or aarch64"
    exit 1
    ;;
esac
TIMEOUT=${HUSK_VM_TIMEOUT:-300}
MODULES=(overlay loop veth bridge)

say() { printf 'vm: %s\n' "$*" >&2; }

# Missing prerequisites fail the suite unless the caller said the VM test is optional.
unavailable() {
    if [[ ${HUSK_VM_OPTIONAL:-} == 1 ]]; then
        echo "SKIPPED: $*"
        exit 0
    fi
    echo "FAILED: $* (set HUSK_VM_OPTIONAL=1 to skip instead)"
    exit 1
}

find_kernel() {
    if [[ -n ${HUSK_VM_KERNEL:-} ]]; then
        echo "$HUSK_VM_KERNEL"
        return
    fi
    local k
    if [[ $ARCH == aarch64 ]]; then
        k=$(ls -1 "${HUSK_VM_CACHE:-/var/cache/husk-vm}"/arm64/boot/vmlinuz-*-cloud-arm64 2>/dev/null | sort -V | tail -n1 || true)
    else
        k=$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n1 || true)
    fi
    echo "$k"
}

have_all() {
    command -v "${QEMU[0]}" >/dev/null && command -v cpio >/dev/null &&
        dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' &&
        [[ -n $(find_kernel) ]]
}

install_prereqs() {
    have_all && return 0
    command -v apt-get >/dev/null || unavailable "qemu/cloud kernel/busybox-static missing and no apt-get to install them"
    [[ $(id -u) == 0 ]] || unavailable "qemu/cloud kernel/busybox-static missing and not root to install them"
    local pkgs=("${PKGS[@]}")
    local apt=(apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${pkgs[@]}")
    say "installing ${pkgs[*]}"
    if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" >/tmp/husk-vm-apt.$$.log 2>&1; then
        apt-get -o DPkg::Lock::Timeout=300 update >>/tmp/husk-vm-apt.$$.log 2>&1 || true
        DEBIAN_FRONTEND=noninteractive "${apt[@]}" >>/tmp/husk-vm-apt.$$.log 2>&1 || {
            tail -n 5 /tmp/husk-vm-apt.$$.log >&2
            rm -f /tmp/husk-vm-apt.$$.log
            unavailable "apt-get install ${pkgs[*]} failed"
        }
    fi
    rm -f /tmp/husk-vm-apt.$$.log
    if [[ $ARCH == aarch64 && -z $(find_kernel) ]]; then
        "$REPO/tests/vm/arm64-packages.sh" >/dev/null || unavailable "fetching Debian's arm64 kernel and busybox failed"
    fi
    have_all || unavailable "${QEMU[0]}, cpio, busybox-static or the $ARCH cloud kernel still missing after install"
}

# Copies a module and everything it depends on (modules.dep lists the transitive
# dependencies, innermost last) into $1, and appends their names in load order to $1/order.
add_module() {
    local dest=$1 name=$2 moddir=$3 line path deps dep i
    line=$(grep -E "(^|/)${name}\.ko(\.xz|\.zst|\.gz)?:" "$moddir/modules.dep" | head -n1) ||
        { say "module $name not in $moddir/modules.dep"; return 1; }
    path=${line%%:*}
    read -r -a deps <<<"${line#*:}"
    for ((i = ${#deps[@]} - 1; i >= 0; i--)); do
        add_one_module "$dest" "$moddir/${deps[i]}"
    done
    add_one_module "$dest" "$moddir/$path"
}

add_one_module() {
    local dest=$1 src=$2 base
    base=$(basename "$src")
    base=${base%.xz}; base=${base%.zst}; base=${base%.gz}
    grep -qxF "$base" "$dest/order" 2>/dev/null && return 0
    # busybox's insmod does not decompress: ship plain .ko files.
    case $src in
    *.xz) xz -dc "$src" >"$dest/$base" ;;
    *.zst) zstd -qdc "$src" >"$dest/$base" ;;
    *.gz) gzip -dc "$src" >"$dest/$base" ;;
    *) cp "$src" "$dest/$base" ;;
    esac
    echo "$base" >>"$dest/order"
}

# A busybox tree as a container root (the reference Alpine tarball is x86_64 only): the
# applets, root and nobody, and an os-release the guest checks for.
busybox_rootfs() {
    local busybox=$1 out=$2 tree=$WORK/busybox-root applet
    mkdir -p "$tree"/{bin,dev,etc,proc,root,sys,tmp,run}
    chmod 1777 "$tree/tmp"
    cp "$busybox" "$tree/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [[ -e $tree/bin/$applet ]] || ln -s busybox "$tree/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$tree/etc/passwd"
    printf 'root:x:0:\nnobody:x:65534:\n' >"$tree/etc/group"
    printf 'NAME=BusyBox\nID=busybox\n' >"$tree/etc/os-release"
    tar czf "$out" -C "$tree" --owner=0 --group=0 .
}

build_initramfs() {
    local root=$1 out=$2 kver=$3
    mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,modules}
    cp "$HUSK_BIN" "$root/husk"
    cp "$ROOTFS_BUILDER" "$root/rootfs-builder"
    cp "$BUSYBOX" "$root/bin/busybox"
    local applet
    # The host's busybox-static names the applets: the guest's is the same Debian build
    # for its architecture.
    for applet in $(/bin/busybox --list); do
        [[ -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
    done
    cp "$ROOTFS_TAR" "$root/rootfs.tar.gz"
    # What guest.sh checks the container root against.
    printf 'ARCH=%s\nROOT_ID=%s\n' "$ARCH" "$ROOT_ID" >"$root/vm.env"
    cp "$REPO/tests/vm/guest.sh" "$root/guest.sh"
    : >"$root/modules/order"
    local m
    for m in "${MODULES[@]}"; do
        add_module "$root/modules" "$m" "$MODDIR"
    done
    # The kernel opens /dev/console for init's stdio before anything mounts /dev.
    mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
    (cd "$root" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) >"$out"
}

main() {
    install_prereqs
    KERNEL=$(find_kernel)
    [[ -r $KERNEL ]] || unavailable "kernel $KERNEL not readable"
    local kver
    kver=$(basename "$KERNEL")
    kver=${kver#vmlinuz-}
    # A kernel extracted from a package has its modules beside it, under lib/modules.
    MODDIR=$(dirname "$KERNEL")/../lib/modules/$kver
    [[ -f $MODDIR/modules.dep ]] || MODDIR=/lib/modules/$kver
    [[ -f $MODDIR/modules.dep ]] || unavailable "$MODDIR/modules.dep missing"

    HUSK_BIN=${HUSK_BIN:-$REPO/target/$TRIPLE/debug/husk}
    ROOTFS_BUILDER=${HUSK_ROOTFS_BUILDER:-$(dirname "$HUSK_BIN")/rootfs-builder}
    if [[ ! -x $HUSK_BIN || ! -x $ROOTFS_BUILDER ]]; then
        say "building husk and rootfs-builder (cargo build --target $TRIPLE)"
        (cd "$REPO" && cargo build --quiet --target "$TRIPLE" -p husk -p rootfs-builder)
    fi
    [[ -x $HUSK_BIN ]] || { echo "FAILED: husk binary $HUSK_BIN missing after cargo build"; exit 1; }
    [[ -x $ROOTFS_BUILDER ]] || { echo "FAILED: $ROOTFS_BUILDER missing (set HUSK_ROOTFS_BUILDER)"; exit 1; }

    WORK=$(mktemp -d /tmp/husk-vm.XXXXXX)
    trap 'rm -rf "$WORK"' EXIT
    local t0 t1 t2
    t0=$(date +%s.%N)
    if [[ $ARCH == aarch64 ]]; then
        BUSYBOX=$(dirname "$KERNEL")/../bin/busybox
        [[ -x $BUSYBOX ]] || BUSYBOX=${HUSK_VM_CACHE:-/var/cache/husk-vm}/arm64/bin/busybox
        [[ -x $BUSYBOX ]] || unavailable "no arm64 busybox beside $KERNEL (tests/vm/arm64-packages.sh fetches it)"
        ROOTFS_TAR=${HUSK_VM_ROOTFS:-}
        if [[ -z $ROOTFS_TAR ]]; then
            ROOTFS_TAR=$WORK/busybox-root.tar.gz
            busybox_rootfs "$BUSYBOX" "$ROOTFS_TAR"
        fi
    else
        BUSYBOX=/bin/busybox
        ROOTFS_TAR=${HUSK_VM_ROOTFS:-${HUSK_ALPINE_TARBALL:-$REPO/../shared/images/alpine-minirootfs-3.20.3-x86_64.tar.gz}}
    fi
    [[ -r $ROOTFS_TAR ]] || { echo "FAILED: root filesystem tarball $ROOTFS_TAR missing (set HUSK_ALPINE_TARBALL or HUSK_VM_ROOTFS)"; exit 1; }
    ROOT_ID=$({ tar xzOf "$ROOTFS_TAR" ./etc/os-release || tar xzOf "$ROOTFS_TAR" etc/os-release; } 2>/dev/null |
        sed -n 's/^ID=//p' | tr -d '"' || true)
    [[ -n $ROOT_ID ]] || { echo "FAILED: $ROOTFS_TAR has no ./etc/os-release with an ID"; exit 1; }
    build_initramfs "$WORK/root" "$WORK/initrd.cpio" "$kver"
    t1=$(date +%s.%N)
    say "initramfs $(du -h "$WORK/initrd.cpio" | cut -f1), kernel $kver, modules: $(tr '\n' ' ' <"$WORK/root/modules/order")"

    # PID 1 is husk itself: rdinit names the binary and the words after "--" become its
    # argv. (A second "--" would end the kernel's argument parsing, so none is used.)
    local append="console=$CONSOLE panic=-1 quiet rdinit=/husk -- init /bin/sh /guest.sh"
    local console=$WORK/console.log qrc=0
    timeout --kill-after=10 "$TIMEOUT" "${QEMU[@]}" -m 512 -smp 2 \
        -nographic -no-reboot -monitor none -serial stdio \
        -kernel "$KERNEL" -initrd "$WORK/initrd.cpio" -append "$append" \
        </dev/null >"$console" 2>&1 || qrc=$?
    t2=$(date +%s.%N)
    # Serial output: CRLF line ends, the terminal resets that SeaBIOS and qemu send, and
    # SeaBIOS's last words, which end without a newline before the guest's first line.
    tr -d '\r' <"$console" | sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' -e 's/^Booting from ROM\.\.//' >"$console.txt"

    [[ -n ${HUSK_VM_CONSOLE:-} ]] && cp "$console.txt" "$HUSK_VM_CONSOLE"
    local rc=0
    report "$console.txt" "$qrc" || rc=$?
    awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "vm: timings: initramfs %.1fs, qemu start to power-off %.1fs", b - a, c - b }'
    local up
    up=$(sed -n 's/^HUSK-VM-TIMING: //p' "$console.txt" | tail -n1)
    [[ -n $up ]] && printf ' (%s)' "$up"
    printf '\n'
    exit "$rc"
}

# Prints the per-check lines and the verdict; returns 0 only if every check not listed in
# HUSK_VM_XFAIL passed and the guest's summary line was seen.
report() {
    local log=$1 qrc=$2 line name failed=0 xfailed=0 passed=0
    local xfail=",${HUSK_VM_XFAIL:-},"
    xfail=${xfail// /}
    echo "== husk VM test ($ARCH, pure cgroup v2, husk init as PID 1) =="
    while IFS= read -r line; do
        case $line in
        "ok - "*)
            name=${line#ok - }
            passed=$((passed + 1))
            if [[ $xfail == *",$name,"* ]]; then
                echo "$line   (XPASS: listed in HUSK_VM_XFAIL, remove it)"
            else
                echo "$line"
            fi
            ;;
        "not ok - "*)
            name=${line#not ok - }
            name=${name%%:*}
            if [[ $xfail == *",$name,"* ]]; then
                xfailed=$((xfailed + 1))
                echo "$line   (XFAIL: expected)"
            else
                failed=$((failed + 1))
                echo "$line"
            fi
            ;;
        "# "*) echo "   $line" ;;
        esac
    done <"$log"

    local summary
    summary=$(grep -E '^HUSK-VM-RESULT: ' "$log" | tail -n1 || true)
    if [[ -z $summary ]]; then
        if [[ $qrc == 124 || $qrc == 137 ]]; then
            echo "FAILED: no result line: the VM timed out after ${TIMEOUT}s. Console tail:"
        else
            echo "FAILED: no result line (qemu exit $qrc). Console tail:"
        fi
        tail -n 40 "$log" | sed 's/^/  | /'
        return 1
    fi
    echo "$summary"
    # PID 1 exiting panics the kernel, which prints the status husk's init exited with:
    # it must be the guest script's, i.e. its failure count.
    local code want
    code=$(sed -n 's/.*Attempted to kill init! exitcode=\(0x[0-9a-f]*\).*/\1/p' "$log" | head -n1)
    want=$(sed -n 's/^HUSK-VM-RESULT: [0-9]* passed, \([0-9]*\) failed.*/\1/p' <<<"$summary")
    ((want > 125)) && want=125
    if [[ -n $code ]] && (((code >> 8) == want)); then
        echo "ok - init-exit-status (husk init, PID 1, exited with guest.sh's status $want)"
    else
        echo "not ok - init-exit-status: kernel reports init exitcode ${code:-none}, guest.sh exited with $want"
        failed=$((failed + 1))
    fi
    if ((passed + failed + xfailed == 0)); then
        echo "FAILED: the guest ran no checks"
        return 1
    fi
    if ((failed > 0)); then
        echo "FAILED: $failed unexpected failure(s), $xfailed expected, $passed passed"
        return 1
    fi
    echo "PASSED: $passed passed, $xfailed expected failure(s)"
}

main "$@"
