#!/usr/bin/env bash
# Boots a throwaway VM (qemu, TCG) whose PID 1 is `husk init` and whose only cgroup
# hierarchy is cgroup v2, runs tests/vm/guest.sh in it and reports its checks.
#
# Env: HUSK_BIN (husk binary; default target/x86_64-unknown-linux-musl/debug/husk, built
#      if missing), HUSK_ALPINE_TARBALL, HUSK_VM_XFAIL (comma-separated check names that
#      are expected to fail), HUSK_VM_OPTIONAL=1 (missing qemu/kernel is a skip, not a
#      failure), HUSK_VM_TIMEOUT (seconds, default 300), HUSK_VM_KERNEL (a vmlinuz),
#      HUSK_VM_CONSOLE (a file to keep the VM's console output in).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
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
    k=$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n1 || true)
    echo "$k"
}

have_all() {
    command -v qemu-system-x86_64 >/dev/null && command -v cpio >/dev/null &&
        dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' &&
        [[ -n $(find_kernel) ]]
}

install_prereqs() {
    have_all && return 0
    command -v apt-get >/dev/null || unavailable "qemu/cloud kernel/busybox-static missing and no apt-get to install them"
    [[ $(id -u) == 0 ]] || unavailable "qemu/cloud kernel/busybox-static missing and not root to install them"
    local pkgs=(qemu-system-x86 linux-image-cloud-amd64 busybox-static cpio)
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
    have_all || unavailable "qemu-system-x86_64, cpio, busybox-static or /boot/vmlinuz-*-cloud-amd64 still missing after install"
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

build_initramfs() {
    local root=$1 out=$2 kver=$3
    mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,modules}
    cp "$HUSK_BIN" "$root/husk"
    cp /bin/busybox "$root/bin/busybox"
    local applet
    for applet in $(/bin/busybox --list); do
        [[ -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
    done
    cp "$ALPINE" "$root/alpine.tar.gz"
    cp "$REPO/tests/vm/guest.sh" "$root/guest.sh"
    : >"$root/modules/order"
    local m
    for m in "${MODULES[@]}"; do
        add_module "$root/modules" "$m" "/lib/modules/$kver"
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
    [[ -f /lib/modules/$kver/modules.dep ]] || unavailable "/lib/modules/$kver/modules.dep missing"

    HUSK_BIN=${HUSK_BIN:-$REPO/target/x86_64-unknown-linux-musl/debug/husk}
    if [[ ! -x $HUSK_BIN ]]; then
        say "building husk (cargo build)"
        (cd "$REPO" && cargo build --quiet)
    fi
    [[ -x $HUSK_BIN ]] || { echo "FAILED: husk binary $HUSK_BIN missing after cargo build"; exit 1; }
    ALPINE=${HUSK_ALPINE_TARBALL:-$REPO/../shared/images/alpine-minirootfs-3.20.3-x86_64.tar.gz}
    [[ -r $ALPINE ]] || { echo "FAILED: Alpine tarball $ALPINE missing (set HUSK_ALPINE_TARBALL)"; exit 1; }

    WORK=$(mktemp -d /tmp/husk-vm.XXXXXX)
    trap 'rm -rf "$WORK"' EXIT
    local t0 t1 t2
    t0=$(date +%s.%N)
    build_initramfs "$WORK/root" "$WORK/initrd.cpio" "$kver"
    t1=$(date +%s.%N)
    say "initramfs $(du -h "$WORK/initrd.cpio" | cut -f1), kernel $kver, modules: $(tr '\n' ' ' <"$WORK/root/modules/order")"

    # PID 1 is husk itself: rdinit names the binary and the words after "--" become its
    # argv. (A second "--" would end the kernel's argument parsing, so none is used.)
    local append="console=ttyS0 panic=-1 quiet rdinit=/husk -- init /bin/sh /guest.sh"
    local console=$WORK/console.log qrc=0
    timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -m 512 -smp 2 \
        -nographic -no-reboot -monitor none -serial stdio \
        -kernel "$KERNEL" -initrd "$WORK/initrd.cpio" -append "$append" \
        </dev/null >"$console" 2>&1 || qrc=$?
    t2=$(date +%s.%N)
    # Serial output: CRLF line ends, and the terminal resets that SeaBIOS and qemu send.
    tr -d '\r' <"$console" | sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' >"$console.txt"

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
    echo "== husk VM test (pure cgroup v2, husk init as PID 1) =="
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
