#!/usr/bin/env bash
# tests/clients/setup.sh: the real OCI clients (podman with conmon, containerd with ctr,
# dockerd, LXC) from Debian's packages, each run privately under one scratch directory:
# its own storage, state, sockets and configuration, no network, nothing of the host's
# services or configuration touched. Used by tests/oci_clients.rs and bench/clients.sh,
# so that the runtime under test is one path (husk, runc or crun) and nothing else.
#
# Run:    tests/clients/setup.sh install [podman|containerd|docker|lxc|crun|runc ...]
#         tests/clients/setup.sh podman DIR [RUNTIME]      private store + localhost/alpine:3.20.3
#         tests/clients/setup.sh containerd-start DIR     private containerd + the image (needs podman DIR)
#         tests/clients/setup.sh dockerd-start DIR [RUNTIME]
#         tests/clients/setup.sh lxc DIR [ROOTFS]         an lxc.conf (and an Alpine tree)
#         tests/clients/setup.sh watch DIR PID            clean DIR up once PID has exited
#         tests/clients/setup.sh cleanup DIR              stop the daemons, unmount, remove DIR
# Source: the same as functions clients_install, clients_podman, ... (see each one).
#
# DIR must be a fresh directory of the caller's (e.g. /tmp/husk-clients-$$). Needs root.
# The machine's hard NOFILE limit is 20000 and there is no CAP_SYS_RESOURCE, so podman's
# default ulimits (1048576) would make every create fail: containers.conf lowers them.

CLIENTS_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CLIENTS_REPO=$(cd "$CLIENTS_HERE/../.." && pwd)
CLIENTS_TARBALL=${HUSK_ALPINE_TARBALL:-$CLIENTS_REPO/../shared/images/alpine-minirootfs-3.20.3-x86_64.tar.gz}
CLIENTS_IMAGE=localhost/alpine:3.20.3

clients_log() { printf 'clients: %s\n' "$*" >&2; }

# The daemons' names, to see whether a package's postinst started one.
CLIENTS_DAEMONS=(containerd dockerd dnsmasq lxc-monitord)

# The daemons' pids, sorted. One pgrep per name: pgrep refuses (matches nothing, exit 1)
# a -x pattern longer than 15 characters, which the names joined into one would be.
clients_daemon_pids() {
  local d
  for d in "${CLIENTS_DAEMONS[@]}"; do pgrep -x "$d" || true; done | sort
}

# clients_install [NAME...]: the packages for NAME (default: all) when their command is
# missing. No recommends (they would pull in slirp, fuse-overlayfs, apparmor, ...).
# Services: a policy-rc.d that refuses every start is put in place for the install when
# the machine has none, and any daemon that appeared anyway is stopped by its pid.
clients_install() {
  local names=("$@") need=() pair
  [[ ${#names[@]} -gt 0 ]] || names=(podman containerd docker lxc crun runc)
  local -A want=(
    [podman]="podman:podman conmon:conmon"
    [containerd]="containerd:containerd ctr:containerd"
    [docker]="dockerd:docker.io"
    [lxc]="lxc-execute:lxc"
    [crun]="crun:crun"
    [runc]="runc:runc"
  )
  local n
  for n in "${names[@]}"; do
    [[ -n ${want[$n]:-} ]] || { clients_log "unknown client $n"; return 2; }
    for pair in ${want[$n]}; do
      command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
    done
  done
  [[ ${#need[@]} -gt 0 ]] || return 0
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  clients_log "installing ${need[*]}"
  local before; before=$(clients_daemon_pids)
  local policy=/usr/sbin/policy-rc.d made_policy=
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# husk tests/clients/setup.sh: no service starts during its install\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    made_policy=1
  fi
  local rc=0 t0=$SECONDS
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; } ||
    rc=$?
  [[ -n $made_policy ]] && rm -f "$policy"
  # A daemon a postinst starts runs with the package's defaults; one with a private
  # configuration (someone's test, started meanwhile) is left alone.
  local pid args
  for pid in $(comm -13 <(echo "$before") <(clients_daemon_pids)); do
    args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
    [[ $args == *--config* || $args == *--data-root* || $args == */tmp/* ]] && continue
    clients_log "the install started $args; stopping pid $pid"
    kill "$pid" 2>/dev/null || true
  done
  clients_log "install of ${need[*]}: exit $rc, $((SECONDS - t0)) s"
  return $rc
}

# clients_podman DIR [RUNTIME]: DIR/podman/{containers.conf,storage.conf,env}, the store,
# localhost/alpine:3.20.3 imported, and DIR/alpine-oci.tar (an OCI archive of it for
# containerd). RUNTIME (default target/bin/husk) is registered as "husk". Afterwards
# `. DIR/podman/env; podman $PODMAN_ARGS --runtime R run ...` uses only this store.
clients_podman() {
  local dir=$1 husk=${2:-$CLIENTS_REPO/target/bin/husk} p
  p=$dir/podman
  mkdir -p "$p"/{root,runroot,tmp,volumes,net,static}
  cat >"$p/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
log_driver = "k8s-file"
netns = "none"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$p/events.log"
tmp_dir = "$p/tmp"
static_dir = "$p/static"
volume_path = "$p/volumes"
runtime_supports_json = ["crun", "runc", "husk"]

[engine.runtimes]
husk = ["$husk"]
runc = ["$(command -v runc || echo /usr/sbin/runc)"]
crun = ["$(command -v crun || echo /usr/bin/crun)"]

[network]
network_config_dir = "$p/net"
EOF
  cat >"$p/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$p/root"
runroot = "$p/runroot"
EOF
  cat >"$p/env" <<EOF
export CONTAINERS_CONF=$p/containers.conf
export CONTAINERS_STORAGE_CONF=$p/storage.conf
PODMAN_ARGS="--root $p/root --runroot $p/runroot --tmpdir $p/tmp --storage-driver overlay --events-backend file --cgroup-manager cgroupfs"
EOF
  # shellcheck source=/dev/null
  . "$p/env"
  [[ -f $CLIENTS_TARBALL ]] || { clients_log "no Alpine tarball at $CLIENTS_TARBALL (set HUSK_ALPINE_TARBALL)"; return 1; }
  # shellcheck disable=SC2086
  podman $PODMAN_ARGS import --quiet --change 'CMD ["/bin/sh"]' "$CLIENTS_TARBALL" "$CLIENTS_IMAGE" >/dev/null &&
    podman $PODMAN_ARGS save --quiet --format oci-archive -o "$dir/alpine-oci.tar" "$CLIENTS_IMAGE"
}

# clients_containerd_start DIR: a private containerd (its pid in DIR/containerd/pid, its
# socket DIR/containerd/containerd.sock), with DIR/alpine-oci.tar imported. The CRI
# plugin is off (it would set up CNI networking) and so are metrics.
clients_containerd_start() {
  local dir=$1 c
  c=$dir/containerd
  mkdir -p "$c"/{root,state,opt}
  cat >"$c/config.toml" <<EOF
version = 2
root = "$c/root"
state = "$c/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$c/containerd.sock"

[ttrpc]
  address = "$c/containerd.sock.ttrpc"

[debug]
  address = "$c/debug.sock"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$c/opt"
EOF
  clients_daemon "$c/log" containerd --config "$c/config.toml"
  echo "$CLIENTS_DAEMON_PID" >"$c/pid"
  local i
  for ((i = 0; i < 100; i++)); do
    ctr --address "$c/containerd.sock" version >/dev/null 2>&1 && break
    kill -0 "$(cat "$c/pid")" 2>/dev/null || { clients_log "containerd exited: $(tail -3 "$c/log")"; return 1; }
    sleep 0.1
  done
  ((i < 100)) || { clients_log "containerd's socket did not answer in 10 s"; return 1; }
  ctr --address "$c/containerd.sock" images import "$dir/alpine-oci.tar" >/dev/null
}

# clients_containerd_stop DIR: its tasks' shims and itself, by pid.
clients_containerd_stop() {
  local c=$1/containerd
  [[ -f $c/pid ]] || return 0
  clients_kill_pid "$(cat "$c/pid")"
  rm -f "$c/pid"
  # The shims outlive containerd by design; ours carry our socket's path.
  clients_kill_matching "$c/containerd.sock"
}

# clients_dockerd_start DIR [RUNTIME]: a private dockerd (no bridge, no iptables, its
# own roots, pid file, socket, config file and key) with RUNTIME registered as "husk"
# and localhost/alpine:3.20.3 imported; DOCKER_HOST is in DIR/docker/env.
clients_dockerd_start() {
  local dir=$1 husk=${2:-$CLIENTS_REPO/target/bin/husk} d
  d=$dir/docker
  mkdir -p "$d"/{data,exec,config}
  # The trust key would go to /etc/docker/key.json: this (config-file only) key moves it.
  printf '{ "deprecated-key-path": "%s" }\n' "$d/key.json" >"$d/daemon.json"
  clients_daemon "$d/log" dockerd --config-file "$d/daemon.json" --data-root "$d/data" --exec-root "$d/exec" \
    --pidfile "$d/dockerd.pid" -H "unix://$d/docker.sock" \
    --bridge=none --iptables=false --ip-forward=false --ip-masq=false --userland-proxy=false \
    --storage-driver overlay2 --add-runtime "husk=$husk"
  echo "$CLIENTS_DAEMON_PID" >"$d/pid"
  cat >"$d/env" <<EOF
export DOCKER_HOST=unix://$d/docker.sock
export DOCKER_CONFIG=$d/config
DOCKER=/usr/bin/docker
EOF
  # shellcheck source=/dev/null
  . "$d/env"
  local i
  for ((i = 0; i < 300; i++)); do
    $DOCKER version >/dev/null 2>&1 && break
    kill -0 "$(cat "$d/pid")" 2>/dev/null || { clients_log "dockerd exited: $(tail -3 "$d/log")"; return 1; }
    sleep 0.1
  done
  ((i < 300)) || { clients_log "dockerd's socket did not answer in 30 s"; return 1; }
  $DOCKER import --change 'CMD ["/bin/sh"]' "$CLIENTS_TARBALL" "$CLIENTS_IMAGE" >/dev/null
}

clients_dockerd_stop() {
  local d=$1/docker
  [[ -f $d/pid ]] || return 0
  clients_kill_pid "$(cat "$d/pid")" 20
  rm -f "$d/pid"
  # dockerd's own containerd stops with it; a shim of a container left running does not.
  clients_kill_matching "$d/exec"
}

# clients_lxc DIR [ROOTFS]: DIR/lxc/lxc.conf for ROOTFS (default: the Alpine tree
# extracted into DIR/lxc/rootfs): no network
# (lxc.net.0.type = empty, so the lxcbr0 of the package's default.conf is never used),
# no services; `lxc-execute -P DIR/lxc/path -n NAME -f DIR/lxc/lxc.conf -- CMD`.
clients_lxc() {
  local dir=$1 rootfs=${2:-} l
  l=$dir/lxc
  mkdir -p "$l/path"
  if [[ -z $rootfs ]]; then
    rootfs=$l/rootfs
    mkdir -p "$rootfs"
    tar -xzf "$CLIENTS_TARBALL" -C "$rootfs"
  fi
  cat >"$l/lxc.conf" <<EOF
lxc.rootfs.path = dir:$rootfs
lxc.uts.name = husk-lxc
lxc.net.0.type = empty
lxc.mount.auto = proc:mixed sys:ro cgroup:mixed
lxc.autodev = 1
lxc.pty.max = 0
lxc.tty.max = 0
lxc.apparmor.profile = unconfined
lxc.log.file = $l/lxc.log
lxc.log.level = WARN
EOF
  local out
  out=$(lxc-execute -P "$l/path" -n husk-lxc-check -f "$l/lxc.conf" -- true 2>&1) ||
    { clients_log "lxc-execute -- true failed: $out"; return 1; }
}

# clients_daemon LOG CMD...: CMD in the background (its pid in CLIENTS_DAEMON_PID) with
# no file descriptor above 2. Started under `flock /tmp/husk-priv.lock`, a daemon would
# otherwise inherit the lock's descriptor and hold the machine lock for its whole life.
clients_daemon() {
  local log=$1
  shift
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      ((fd > 2)) && eval "exec $fd>&-"
    done 2>/dev/null
    exec "$@" </dev/null >"$log" 2>&1
  ) &
  CLIENTS_DAEMON_PID=$!
}

clients_kill_pid() {
  local pid=$1 wait=${2:-10} i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < wait * 10; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

# clients_kill_matching PATH: the clients' helper processes (shims, conmons, daemons)
# whose command line names PATH, a path under our scratch directory, so only ours;
# killed by pid. A shell whose script merely mentions PATH is not one of them.
clients_kill_matching() {
  local pid comm
  for pid in $(pgrep -f -- "$1"); do
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
    [[ $comm =~ ^(containerd-shim.*|conmon|containerd|dockerd)$ ]] && kill -9 "$pid" 2>/dev/null
  done
  true
}

# clients_cleanup DIR: everything under DIR stopped, unmounted and removed.
clients_cleanup() {
  local dir=$1 m
  [[ -d $dir ]] || return 0
  dir=$(cd "$dir" && pwd)
  clients_dockerd_stop "$dir"
  clients_containerd_stop "$dir"
  # podman's conmons of containers still running; then the container processes
  # themselves are gone with their pid namespaces' init.
  clients_kill_matching "$dir/podman"
  # Deepest first: overlay mounts of containers, then the storage drivers' private
  # bind mounts of their own homes, then the netns and shm mounts.
  for m in $(awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$dir"
}

# clients_watch DIR PID: in the background, once PID has exited, clients_cleanup DIR
# (a test process cannot clean up after itself at its end: Rust's harness has no hook).
clients_watch() {
  local dir=$1 pid=$2
  # $0 must not be this script's path, or sourcing it would run its command dispatch.
  clients_daemon /dev/null setsid bash -c \
    '. "$1"; while kill -0 "$3" 2>/dev/null; do sleep 0.5; done; clients_cleanup "$2"' \
    clients-watch "${BASH_SOURCE[0]}" "$dir" "$pid"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -euo pipefail
  cmd=${1:-}
  shift || true
  case $cmd in
    install) clients_install "$@" ;;
    podman) clients_podman "$@" ;;
    containerd-start) clients_containerd_start "$@" ;;
    containerd-stop) clients_containerd_stop "$@" ;;
    dockerd-start) clients_dockerd_start "$@" ;;
    dockerd-stop) clients_dockerd_stop "$@" ;;
    lxc) clients_lxc "$@" ;;
    watch) clients_watch "$@" ;;
    cleanup) clients_cleanup "$@" ;;
    *) sed -n '2,/^$/p' "$0" >&2; exit 2 ;;
  esac
fi
