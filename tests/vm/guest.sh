#!/bin/sh
# Runs inside the VM as the command of `husk init`, which is PID 1. Every check prints
# "ok - NAME" or "not ok - NAME: DETAIL"; the last line is the summary that
# tests/vm/run.sh looks for. The exit status (the number of failures) goes back through
# husk's init to the kernel.
export PATH=/bin
H=/husk
ROOT=/tmp/rootfs
# ARCH and ROOT_ID (the container root's os-release ID: alpine on x86_64, busybox on
# aarch64), written by run.sh.
. /vm.env
PASS=0
FAIL=0

ok() { echo "ok - $1"; PASS=$((PASS + 1)); }
not_ok() { echo "not ok - $1: $(printf '%s' "$2" | tr '\n' '|' | cut -c1-300)"; FAIL=$((FAIL + 1)); }
note() { echo "# $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }

# husk run with a watchdog, so that a hang fails one check instead of the whole VM.
hrun() { timeout 60 $H run --rootfs $ROOT "$@"; }

# The state letter and parent pid of every zombie: "pid:ppid" per line.
zombies() {
    for f in /proc/[0-9]*/stat; do
        s=$(cat "$f" 2>/dev/null) || continue
        rest=${s##*) }
        set -- $rest
        [ "$1" = Z ] && echo "${f#/proc/}:$2"
    done | sed 's,/stat,,'
}

setup() {
    mount -t proc proc /proc &&
        mount -t sysfs sysfs /sys &&
        mount -t cgroup2 cgroup2 /sys/fs/cgroup &&
        mount -t devtmpfs devtmpfs /dev &&
        mount -t tmpfs -o mode=1777 tmpfs /tmp &&
        mount -t tmpfs -o mode=755 tmpfs /run
}

if setup 2>/setup.err; then ok guest-setup; else not_ok guest-setup "$(cat /setup.err)"; fi
# Kernel messages (OOM reports above all) would interleave with the result lines.
echo 1 >/proc/sys/kernel/printk
T0=$(uptime_s)
note "kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpus, $(awk '/MemTotal/ {print $2 / 1024 " MiB"}' /proc/meminfo), guest.sh started at ${T0}s"

# --- the machine itself ---------------------------------------------------------------
cmdline=$(tr '\0' ' ' </proc/1/cmdline)
if [ "$PPID" = 1 ] && [ "$cmdline" = "/husk init /bin/sh /guest.sh " ]; then
    ok husk-is-pid1
else
    not_ok husk-is-pid1 "PPID=$PPID, /proc/1/cmdline: $cmdline"
fi

hierarchies=$(awk '$3 ~ /^cgroup/ {print $3 " " $2}' /proc/mounts)
if [ "$hierarchies" = "cgroup2 /sys/fs/cgroup" ] && [ "$(cat /proc/self/cgroup)" = "0::/" ]; then
    ok pure-cgroup2
else
    not_ok pure-cgroup2 "cgroup mounts: $hierarchies; /proc/self/cgroup: $(cat /proc/self/cgroup)"
fi

err=""
for m in $(cat /modules/order); do
    insmod "/modules/$m" 2>/tmp/insmod.err || err="$err $m: $(cat /tmp/insmod.err)"
done
for m in overlay loop veth bridge; do
    grep -q "^$m " /proc/modules || err="$err $m not loaded"
done
if [ -z "$err" ]; then ok modules; else not_ok modules "$err"; fi

echo "+cpu +memory +pids +cpuset" >/sys/fs/cgroup/cgroup.subtree_control 2>/tmp/ctl.err
ctl=$(cat /sys/fs/cgroup/cgroup.subtree_control)
missing=""
for c in cpu memory pids cpuset; do
    case " $ctl " in *" $c "*) ;; *) missing="$missing $c" ;; esac
done
if [ -z "$missing" ]; then ok controllers; else not_ok controllers "missing$missing in subtree_control ($ctl): $(cat /tmp/ctl.err)"; fi

mkdir -p $ROOT
if tar xzf /rootfs.tar.gz -C $ROOT 2>/tmp/tar.err && [ "$(. $ROOT/etc/os-release && echo "$ID")" = "$ROOT_ID" ]; then
    ok "rootfs-extract ($ROOT_ID, $ARCH)"
else
    not_ok rootfs-extract "$(cat /tmp/tar.err) $(cat $ROOT/etc/os-release 2>&1)"
fi

# The premise of the pivot fallback check: here pivot_root itself fails with EINVAL.
out=$(unshare -m sh -c 'mkdir -p /tmp/pr && mount -t tmpfs t /tmp/pr && mkdir /tmp/pr/old &&
    cd /tmp/pr && pivot_root . old' 2>&1)
rc=$?
case "$rc:$out" in
0:*) not_ok pivot-root-einval "pivot_root succeeded: / is not the initramfs, the fallback is not exercised" ;;
*"Invalid argument"*) ok pivot-root-einval ;;
*) not_ok pivot-root-einval "exit $rc: $out" ;;
esac

# --- basic containers -----------------------------------------------------------------
out=$(hrun -- /bin/true 2>&1)
rc=$?
if [ $rc = 0 ]; then ok run-true; else not_ok run-true "exit $rc: $out"; fi

out=$(hrun -- sh -c 'exit 3' 2>&1)
rc=$?
if [ $rc = 3 ]; then ok exit-status; else not_ok exit-status "expected 3, got $rc: $out"; fi

# (The trailing command keeps sh from exec'ing ps in its place.)
out=$(hrun -- sh -c 'ps -o pid,comm; exit 0' 2>&1)
rc=$?
pids=$(echo "$out" | awk 'NR > 1 {printf "%s ", $1}')
if [ $rc = 0 ] && [ "$pids" = "1 2 3 " ] && echo "$out" | grep -q '^ *2 sh$'; then
    ok ps-inside
else
    not_ok ps-inside "exit $rc: $out"
fi

out=$(hrun --hostname vmbox -- hostname 2>&1)
rc=$?
if [ $rc = 0 ] && [ "$out" = vmbox ]; then ok hostname; else not_ok hostname "exit $rc: $out"; fi

# The root is the extracted tree, and nothing of the initramfs shows through.
out=$(hrun -- sh -c '. /etc/os-release; echo "id=$ID"; ls / | tr "\n" " "; for f in /husk /guest.sh /rootfs.tar.gz /rootfs-builder /vm.env /modules; do [ -e $f ] && echo "LEAK $f"; done; exit 0' 2>&1)
rc=$?
if [ $rc = 0 ] && echo "$out" | grep -qx "id=$ROOT_ID" && ! echo "$out" | grep -q LEAK; then
    ok pivot-fallback
else
    not_ok pivot-fallback "exit $rc: $out"
fi

out=$(hrun -- cat /proc/self/cgroup 2>&1)
rc=$?
if [ $rc = 0 ] && [ "$out" = "0::/" ]; then ok cgroup-namespace; else not_ok cgroup-namespace "exit $rc: $out"; fi

# The device policy (a cgroup2 device program): the standard nodes work, a block device
# can neither be made nor opened; --privileged has no policy.
out=$(hrun -- sh -c 'echo x >/dev/null && head -c 1 /dev/zero | wc -c; mknod /tmp/b b 1 0 2>&1; exit 0' 2>&1)
rc=$?
case "$rc:$out" in
"0:1"*"Operation not permitted"*) ok device-policy ;;
*) not_ok device-policy "exit $rc: $out" ;;
esac
out=$(hrun --privileged -- sh -c 'mknod /tmp/b b 1 0 && echo made' 2>&1)
if [ "$out" = made ]; then ok device-policy-privileged; else not_ok device-policy-privileged "$out"; fi

# --- root filesystem writes -----------------------------------------------------------
out=$(hrun -- sh -c 'echo layered >/etc/husk-vm-overlay && cat /etc/husk-vm-overlay && awk "\$2 == \"/\" {print \$3}" /proc/mounts' 2>&1)
rc=$?
if [ $rc = 0 ] && [ "$out" = "layered
overlay" ] && [ ! -e $ROOT/etc/husk-vm-overlay ]; then
    ok overlay-default
else
    not_ok overlay-default "exit $rc: $out; on the rootfs dir: $(ls $ROOT/etc/husk-vm-overlay 2>&1)"
fi

out=$(hrun --rootfs-rw -- sh -c 'echo direct >/husk-vm-rw' 2>&1)
rc=$?
if [ $rc = 0 ] && [ "$(cat $ROOT/husk-vm-rw 2>&1)" = direct ]; then
    ok rootfs-rw
else
    not_ok rootfs-rw "exit $rc: $out; on the rootfs dir: $(cat $ROOT/husk-vm-rw 2>&1)"
fi
rm -f $ROOT/husk-vm-rw

# --- an ext4 image, a user namespace with a range, the clone(2) fallback ----------------
# This architecture's rootfs-builder makes the image here; husk attaches it read-only to
# a loop device (autoclear) and puts an overlay on top.
IMAGE=/tmp/root.ext4
if out=$(/rootfs-builder /rootfs.tar.gz -o $IMAGE 2>&1); then ok image-build; else not_ok image-build "$out"; fi
# While it runs the image is the backing file of a loop device (sysfs shows it inside
# too); after the run no loop device is left bound.
out=$(timeout 60 $H run --image $IMAGE -- sh -c '. /etc/os-release; echo "id=$ID"
    awk "\$2 == \"/\" {print \$3}" /proc/mounts; echo x >/written && cat /written
    cat /sys/block/loop*/loop/backing_file' 2>&1)
rc=$?
loops=$(cat /sys/block/loop*/loop/backing_file 2>/dev/null)
if [ $rc = 0 ] && [ "$out" = "id=$ROOT_ID
overlay
x
$IMAGE" ] && [ -z "$loops" ]; then
    ok image-root
else
    not_ok image-root "exit $rc: $out; loop devices still bound: $loops"
fi

# --userns as root with a range from /etc/subuid: the container's 0..65535 are host ids
# 100000..165535, and the image is mounted idmapped so its files are still root's inside.
mkdir -p /etc && echo 0:100000:65536 >/etc/subuid && cp /etc/subuid /etc/subgid
out=$(timeout 60 $H run --userns --image $IMAGE -- sh -c 'tr -s " " </proc/self/uid_map | sed "s/^ //"
    stat -c "%u:%g" /bin/busybox; touch /new && stat -c "%u:%g" /new' 2>&1)
rc=$?
rm -f /etc/subuid /etc/subgid
# Idmapped mounts are 5.12's (an overlay over them 5.19): before, one line refuses.
kv=$(uname -r | awk -F. '{print $1 * 100 + $2}')
if [ "$kv" -lt 512 ]; then
    if [ $rc = 125 ] && [ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -q "no idmapped mounts"; then
        ok "userns-range-idmapped-image (refused on $(uname -r): $out)"
    else
        not_ok userns-range-idmapped-image "want exit 125 and one line on $(uname -r); exit $rc: $out"
    fi
elif [ $rc = 0 ] && [ "$out" = "0 100000 65536
0:0
0:0" ]; then
    ok userns-range-idmapped-image
else
    not_ok userns-range-idmapped-image "exit $rc: $out"
fi

# clone(2) instead of clone3 (what old kernels and Docker's seccomp profile leave): the
# child is then moved into its cgroup by the parent, so the memory limit still kills.
out=$(HUSK_FORCE_CLONE=1 hrun -- sh -c 'echo "pid=$$"; cat /proc/self/cgroup' 2>&1)
rc=$?
oom=$(HUSK_FORCE_CLONE=1 hrun --memory 64m -- dd if=/dev/zero of=/dev/null bs=200M count=1 2>&1)
oomrc=$?
if [ $rc = 0 ] && [ "$out" = "pid=2
0::/" ] && [ $oomrc = 137 ]; then
    ok clone-fallback
else
    not_ok clone-fallback "exit $rc: $out; under --memory 64m exit $oomrc: $oom"
fi

# --- a detached container: exec and stop -------------------------------------------------
out=$(timeout 60 $H run -d --name vmweb --rootfs $ROOT -- sh -c 'trap "exit 7" TERM; while :; do sleep 1; done' 2>&1)
rc=$?
seen=$(timeout 60 $H exec vmweb sh -c 'hostname; ps -o pid,comm | awk "NR==2 {print \$1, \$2}"' 2>&1)
timeout 60 $H exec vmweb sh -c 'exit 9' >/dev/null 2>&1
code=$?
if [ $rc = 0 ] && [ "$out" = vmweb ] && [ "$seen" = "vmweb
1 husk" ] && [ $code = 9 ]; then
    ok exec
else
    not_ok exec "run -d exit $rc: $out; exec saw: $seen; exec status $code (want 9)"
fi
# SIGTERM reaches the command through the init; it exits with its own code.
t0=$(uptime_s)
out=$(timeout 60 $H stop vmweb 2>&1)
rc=$?
t1=$(uptime_s)
status=$($H ps -a 2>&1 | awk '$1 == "vmweb" {print $2, $3}')
waited=$(timeout 10 $H wait vmweb 2>&1)
removed=$($H rm vmweb 2>&1)
left=$(ls /run/husk 2>/dev/null; find /sys/fs/cgroup -mindepth 2 -type d -path '*husk/*' 2>/dev/null)
took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
if [ $rc = 0 ] && [ "$out" = vmweb ] && [ "$status" = "exited (7)" ] && [ "$waited" = 7 ] &&
    [ "$removed" = vmweb ] && [ -z "$left" ] && awk -v t="$took" 'BEGIN { exit !(t < 5) }'; then
    ok "stop (${took}s)"
else
    not_ok stop "exit $rc: $out; ps: $status; wait: $waited; rm: $removed; left: $(echo $left); took ${took}s"
fi

# --- old kernels (tests/vm/old-kernel.sh boots Debian bullseye's 5.10) ------------------

# Root in a user namespace without a subordinate range (none in this VM): the overlay is
# then mounted inside that namespace, which 5.11 brought; before it husk refuses in one
# line naming the alternatives, and the first alternative works.
# (stderr's first line is --userns's note that no range maps the other ids.)
out=$(hrun --userns -- sh -c 'echo u >/etc/husk-vm-userns && cat /etc/husk-vm-userns' 2>/tmp/userns.err)
rc=$?
err=$(tail -n1 /tmp/userns.err)
if [ "$kv" -ge 511 ]; then
    if [ $rc = 0 ] && [ "$out" = u ]; then ok userns-overlay; else not_ok userns-overlay "exit $rc: $out $err"; fi
else
    if [ $rc = 125 ] && echo "$err" | grep -q "overlay in a user namespace.*--rootfs-rw"; then
        ok "userns-overlay (refused on $(uname -r): $err)"
    else
        not_ok userns-overlay "want exit 125 and one line naming --rootfs-rw on $(uname -r); exit $rc: $out $err"
    fi
fi
out=$(hrun --userns --rootfs-rw -- sh -c 'id -u; cat /proc/self/uid_map' 2>/tmp/userns.err)
rc=$?
if [ $rc = 0 ] && [ "$(echo "$out" | head -n1)" = 0 ]; then
    ok userns-rootfs-rw
else
    not_ok userns-rootfs-rw "exit $rc: $out $(cat /tmp/userns.err)"
fi

# A detached container through run -d, exec, stop and rm: pidfds, setns on a pidfd and
# close_range's CLOEXEC flag (5.11) where the kernel has them, their fallbacks where not.
out=$( {
    $H run -d --name vmd --rootfs $ROOT -- sh -c "trap 'exit 7' TERM; while :; do sleep 0.1; done" &&
        timeout 30 $H exec vmd sh -c 'hostname; ls /proc/self/fd | tr "\n" " "; echo' &&
        timeout 30 $H stop vmd && timeout 30 $H wait vmd && $H rm vmd && $H ps -aq | wc -l
} 2>&1)
rc=$?
if [ $rc = 0 ] && [ "$out" = "vmd
vmd
0 1 2 3 
vmd
7
vmd
0" ]; then ok detached-exec-stop-rm; else not_ok detached-exec-stop-rm "exit $rc: $out"; fi

# memory.peak is 5.19's: before it --stats says n/a rather than guess.
out=$(hrun --memory 64m --stats -- /bin/true 2>&1)
peak=$(echo "$out" | sed -n 's/.*memory peak: \([^,]*\).*/\1/p' | head -n1)
if [ -n "$peak" ] && { [ "$kv" -lt 519 ] || [ "$peak" != n/a ]; }; then
    ok "stats-memory-peak ($peak)"
else
    not_ok stats-memory-peak "no or wrong 'memory peak:' in: $out"
fi

# --- reaping --------------------------------------------------------------------------
# A double fork orphans `sleep`, which must be adopted by the container's init (ppid 1)
# and reaped when it exits.
out=$(hrun -- sh -c '(sleep 2 & echo $! >/tmp/orphan); p=$(cat /tmp/orphan); sleep 1
    set -- $(sed "s/.*) //" /proc/$p/stat); echo "ppid=$2"; sleep 2
    for f in /proc/[0-9]*/stat; do s=$(cat $f); set -- ${s##*) }; [ $1 = Z ] && echo "zombie $f"; done; exit 0' 2>&1)
rc=$?
if [ $rc = 0 ] && [ "$out" = "ppid=1" ]; then ok reap-in-container; else not_ok reap-in-container "exit $rc: $out"; fi

# The same for the whole machine: orphans go to husk's init as PID 1 of the VM.
(sleep 2 & echo $! >/tmp/orphan)
p=$(cat /tmp/orphan)
sleep 1
set -- $(sed 's/.*) //' /proc/$p/stat)
ppid=$2
sleep 2
z=$(zombies)
if [ "$ppid" = 1 ] && [ -z "$z" ]; then ok reap-as-vm-pid1; else not_ok reap-as-vm-pid1 "orphan's ppid $ppid, zombies: $z"; fi

# --- cgroup v2 limits (the --memory/--pids-limit/--cpus/--cpuset-cpus flags) ------------
# A bounded fork bomb: the inner shell dies at the first failed fork; the outer one then
# counts the container's processes with builtins only.
out=$(hrun --pids-limit 20 -- sh -c 'sh -c "i=0; while [ \$i -lt 100 ]; do sleep 30 & i=\$((i+1)); done" 2>/dev/null
    set -- /proc/[0-9]*; echo "procs=$#"' 2>&1)
rc=$?
procs=$(echo "$out" | sed -n 's/^procs=//p')
alive=$(hrun -- /bin/true 2>&1 && echo yes)
if [ $rc = 0 ] && [ -n "$procs" ] && [ "$procs" -le 20 ] && [ "$procs" -ge 10 ] && [ "$alive" = yes ]; then
    ok pids-limit
else
    not_ok pids-limit "exit $rc, procs ${procs:-?} (want 10..20), next container ran: ${alive:-no}: $out"
fi

# The container's own cgroup2 at /sys/fs/cgroup: its limit, read-only.
out=$(hrun --memory 64m -- sh -c 'cat /sys/fs/cgroup/memory.max; mkdir /sys/fs/cgroup/x 2>&1' 2>&1)
if echo "$out" | head -n1 | grep -qx 67108864 && echo "$out" | grep -q "Read-only"; then
    ok cgroupfs-inside
else
    not_ok cgroupfs-inside "expected 67108864 and a read-only mount, got: $out"
fi

out=$(hrun --memory 64m -- dd if=/dev/zero of=/dev/null bs=200M count=1 2>&1)
rc=$?
if [ $rc = 137 ] && echo "$out" | grep -qi "out of memory"; then
    ok memory-limit
else
    not_ok memory-limit "expected exit 137 and 'out of memory', got exit $rc: $out"
fi

out=$(hrun --cpuset-cpus 0 -- grep Cpus_allowed_list /proc/self/status 2>&1)
rc=$?
if [ $rc = 0 ] && [ "$(echo "$out" | awk '{print $2}')" = 0 ]; then ok cpuset-cpus; else not_ok cpuset-cpus "exit $rc: $out"; fi

# --cpus 0.5: a busy loop's CPU time over its wall time, from the cgroup's own
# accounting (--stats reads cpu.stat), must be half a core within 10%.
t0=$(uptime_s)
out=$(hrun --cpus 0.5 --stats -- timeout 4 sh -c 'while :; do :; done' 2>&1)
t1=$(uptime_s)
cpu=$(echo "$out" | sed -n 's/.*cpu time: \([0-9.]*\) s.*/\1/p')
wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
share=$(awk -v c="${cpu:-0}" -v w="$wall" 'BEGIN { if (w > 0) printf "%.3f", c / w; else print 0 }')
if awk -v s="$share" 'BEGIN { exit !(s >= 0.45 && s <= 0.55) }'; then
    ok "cpus-half-core (cpu ${cpu}s over ${wall}s wall = ${share} of a core)"
else
    not_ok cpus-half-core "cpu ${cpu:-?}s over ${wall}s wall = ${share} of a core (want 0.45..0.55): $out"
fi

# Every run with limits makes a cgroup; none may outlive its container.
before=$(find /sys/fs/cgroup -type d | sort)
bad=""
i=0
while [ $i -lt 100 ]; do
    out=$(hrun --memory 64m --pids-limit 50 -- /bin/true 2>&1) || bad="$bad run $i: $out"
    i=$((i + 1))
done
after=$(find /sys/fs/cgroup -type d | sort)
left=$(echo "$after" | grep -vxF "$before")
if [ -z "$bad" ] && [ -z "$left" ]; then
    ok "cgroup-cleanup (100 runs)"
else
    not_ok cgroup-cleanup "left behind: $(echo $left);$(echo "$bad" | head -c 200)"
fi

# A launcher killed with SIGKILL cannot tear its cgroup down; the next run does.
$H run --rootfs $ROOT --memory 64m -- sleep 30 >/dev/null 2>&1 &
victim=$!
i=0
while [ $i -lt 100 ] && [ -z "$(find /sys/fs/cgroup -mindepth 2 -type d -path '*husk/*' 2>/dev/null)" ]; do
    sleep 0.1; i=$((i + 1))
done
made=$(find /sys/fs/cgroup -mindepth 2 -type d -path '*husk/*' 2>/dev/null)
kill -9 $victim 2>/dev/null
sleep 0.5
out=$(hrun -- /bin/true 2>&1)
rc=$?
left=$(find /sys/fs/cgroup -mindepth 2 -type d -path '*husk/*' 2>/dev/null)
if [ -n "$made" ] && [ $rc = 0 ] && [ -z "$left" ]; then
    ok cgroup-after-sigkill
else
    not_ok cgroup-after-sigkill "made: ${made:-none}; next run exit $rc; left: $(echo $left) $out"
fi

T1=$(uptime_s)
echo "HUSK-VM-TIMING: guest.sh ran from ${T0}s to ${T1}s of uptime"
echo "HUSK-VM-RESULT: $PASS passed, $FAIL failed"
[ $FAIL -gt 125 ] && FAIL=125
# PID 1's exit panics the kernel at once; let the serial console drain first.
sleep 1
exit $FAIL
