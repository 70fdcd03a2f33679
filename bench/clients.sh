# Through OCI clients: the same Alpine container started by the real clients with husk,
# runc and crun as the OCI runtime (podman run, ctr run), through the OCI verbs alone
# (create, start, state, delete), and by docker, LXC and the bare floor beside them.
# The clients are installed and run privately by tests/clients/setup.sh.

# shellcheck source=../tests/clients/setup.sh
. "$BENCH_REPO/tests/clients/setup.sh"

CLIENTS_RTS=(husk runc crun)

clients_rt() {
  case $1 in
    husk) echo "$HUSK" ;;
    runc) command -v runc ;;
    crun) command -v crun ;;
  esac
}

# clients_fail LABEL... -- MESSAGE: rows that could not be measured at all.
clients_fail() {
  local labels=() l
  while [[ $1 != -- ]]; do labels+=("$1"); shift; done
  shift
  for l in "${labels[@]}"; do printf '%s\t%s\n' "$l" "$*" >>"$BENCH_DATA/clients-fails.tsv"; done
}

clients_rounds() {
  timeit rounds --soft "$BENCH_DATA/clients-fails.tsv" "$CLIENT_ROUNDS" "$BENCH_DATA/clients.tsv" "$@"
}

# The measurements below run in the private mount namespace (in_ns) where crun works; a
# daemon is started inside it (its shims and runtimes must see the same mounts) and
# stopped before the namespace ends.
clients_measure_podman() {
  local cl=$1 rt cmds=()
  # shellcheck source=/dev/null
  . "$cl/podman/env"
  for rt in "${CLIENTS_RTS[@]}"; do
    cmds+=("podman-$rt=podman $PODMAN_ARGS --runtime $(clients_rt "$rt") run --rm --network none $CLIENTS_IMAGE true")
  done
  clients_rounds "${cmds[@]}"
}

clients_measure_ctr() {
  local cl=$1 rt cmds=() out
  if ! out=$(clients_containerd_start "$cl" 2>&1); then
    clients_fail ctr-husk ctr-runc ctr-crun -- "containerd did not start: $(tail -1 <<<"$out")"
    clients_containerd_stop "$cl"
    return 0
  fi
  for rt in "${CLIENTS_RTS[@]}"; do
    cmds+=("ctr-$rt=ctr --address $cl/containerd/containerd.sock run --rm --runc-binary $(clients_rt "$rt") --runc-root $cl/runc-root-$rt --fifo-dir $cl/fifo $CLIENTS_IMAGE {id} true")
  done
  clients_rounds "${cmds[@]}" || true
  clients_containerd_stop "$cl"
}

clients_measure_verbs() {
  local cl=$1 rt cmds=()
  for rt in "${CLIENTS_RTS[@]}"; do
    mkdir -p "$cl/verbs-$rt"
    cmds+=("verbs-$rt=sh $BENCH_HERE/oci-cycle.sh $(clients_rt "$rt") $cl/verbs-$rt $cl/bundle {id}")
  done
  if [[ -f $cl/lxc/lxc.conf ]]; then
    cmds+=("lxc=lxc-execute -P $cl/lxc/path -n {id} -f $cl/lxc/lxc.conf -- true")
  fi
  cmds+=("floor=unshare --pid --fork --mount --uts --ipc --net chroot $ALPINE_DIR /bin/true")
  clients_rounds "${cmds[@]}"
}

clients_measure_docker() {
  local cl=$1 out
  if ! out=$(clients_dockerd_start "$cl" "$HUSK" 2>&1); then
    clients_fail docker-runc docker-husk -- "dockerd did not start: $(tail -1 <<<"$out")"
    clients_dockerd_stop "$cl"
    return 0
  fi
  # shellcheck source=/dev/null
  . "$cl/docker/env"
  clients_rounds "docker-runc=$DOCKER run --rm --network none $CLIENTS_IMAGE true" \
    "docker-husk=$DOCKER run --rm --network none --runtime husk $CLIENTS_IMAGE true" || true
  clients_dockerd_stop "$cl"
}

# clients_cell LABEL: "12.34 ms" (median), "failed: ..." or "not measured".
clients_cell() {
  local s=$BENCH_DATA/clients.tsv f=$BENCH_DATA/clients-fails.tsv msg
  msg=$(awk -F'\t' -v l="$1" '$1 == l { print $2; exit }' "$f" 2>/dev/null)
  if [[ -n $msg ]]; then
    echo "failed: ${msg//|/\\|}"
  elif [[ -s $s ]] && [[ -n $(sample "$s" "$1" median) ]]; then
    echo "$(calc "$(sample "$s" "$1" median)*1000" 2) ms"
  else
    echo "not measured"
  fi
}

# clients_ratio A B: median(A)/median(B), or "–" when either failed or is missing.
clients_ratio() {
  local s=$BENCH_DATA/clients.tsv a b
  if cut -f1 "$BENCH_DATA/clients-fails.tsv" | grep -qxE "$1|$2"; then echo "–"; return; fi
  a=$(sample "$s" "$1" median) b=$(sample "$s" "$2" median)
  if [[ -n $a && -n $b ]]; then calc "$a/$b" 2; else echo "–"; fi
}

section_clients() {
  local cl=$BENCH_WORK/clients out
  mkdir -p "$cl"
  : >"$BENCH_DATA/clients.tsv"
  : >"$BENCH_DATA/clients-fails.tsv"
  local t0=$SECONDS
  if ! out=$(clients_install podman containerd docker lxc crun runc 2>&1); then
    log "clients: install failed: $out"
  fi
  local install_s=$((SECONDS - t0))

  # The bundle for the verbs: `runc spec` as it comes, but for the command, no
  # terminal and the shared Alpine tree as the (read-only) root.
  mkdir -p "$cl/bundle"
  (cd "$cl/bundle" && runc spec)
  python3 - "$cl/bundle/config.json" "$ALPINE_DIR" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["true"]
c["process"]["terminal"] = False
c["root"]["path"] = sys.argv[2]
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY

  if command -v podman >/dev/null && out=$(in_priv clients_podman "$cl" "$HUSK" 2>&1); then
    in_ns clients_measure_podman "$cl" || log "clients: podman measurement failed"
  else
    clients_fail podman-husk podman-runc podman-crun -- "podman's store could not be set up: $(tail -1 <<<"$out")"
  fi
  if command -v containerd >/dev/null && [[ -f $cl/alpine-oci.tar ]]; then
    in_ns clients_measure_ctr "$cl" || log "clients: ctr measurement failed"
  else
    clients_fail ctr-husk ctr-runc ctr-crun -- "no containerd, or no image archive from podman"
  fi
  if command -v lxc-execute >/dev/null && ! out=$(in_priv clients_lxc "$cl" "$ALPINE_DIR" 2>&1); then
    clients_fail lxc -- "$(tail -1 <<<"$out")"
  fi
  in_ns clients_measure_verbs "$cl" || log "clients: verbs measurement failed"
  if command -v dockerd >/dev/null; then
    in_ns clients_measure_docker "$cl" || log "clients: docker measurement failed"
  else
    clients_fail docker-runc docker-husk -- "no dockerd"
  fi

  local c rt
  for rt in "${CLIENTS_RTS[@]}"; do
    cmdline "podman \$PODMAN_ARGS --runtime $(clients_rt "$rt") run --rm --network none $CLIENTS_IMAGE true"
  done
  for rt in "${CLIENTS_RTS[@]}"; do
    cmdline "ctr --address \$CL/containerd/containerd.sock run --rm --runc-binary $(clients_rt "$rt") --runc-root \$CL/runc-root-$rt --fifo-dir \$CL/fifo $CLIENTS_IMAGE ID true"
  done
  for rt in "${CLIENTS_RTS[@]}"; do
    cmdline "sh bench/oci-cycle.sh $(clients_rt "$rt") \$CL/verbs-$rt \$CL/bundle ID   # create, start, state until stopped, delete"
  done
  cmdline "docker run --rm --network none $CLIENTS_IMAGE true   # and --runtime husk; private dockerd, default runtime runc"
  cmdline "lxc-execute -P \$CL/lxc/path -n ID -f \$CL/lxc/lxc.conf -- true"
  cmdline "unshare --pid --fork --mount --uts --ipc --net chroot $ALPINE_DIR /bin/true   # the floor"
  cmdline "# $CLIENT_ROUNDS rounds; each round runs every command of a group once, in turn; groups: podman, ctr, verbs+lxc+floor, docker"
  cmdline "# \$PODMAN_ARGS, \$CL: tests/clients/setup.sh's private store and daemons under the benchmark's scratch directory"

  md "## Through OCI clients"; md
  md "The same Alpine 3.20 container (\`true\`) started by the real clients with husk, runc and crun as the OCI runtime. $CLIENT_ROUNDS rounds; inside a group the contenders alternate. podman $(podman --version 2>/dev/null | awk '{ print $3 }') with conmon $(conmon --version 2>/dev/null | awk 'NR == 1 { print $3 }') (\`--runtime\`), containerd/ctr $(ctr --version 2>/dev/null | awk '{ print $3 }') with the runc v2 shim (\`--runc-binary\`), each with a private store and daemon (tests/clients/setup.sh); the OCI verbs alone (\`create --bundle\`, \`start\`, \`state\` until stopped, \`delete\`) on a \`runc spec\` bundle over the shared Alpine tree, from a POSIX \`sh\`. All run inside the private mount namespace of the start-up section (crun refuses the hybrid cgroups otherwise). A row that fails says so and the others are still measured."
  md
  md "| path | husk | runc | crun | husk / runc | husk / crun |"
  md "|---|---|---|---|---|---|"
  local g
  : >"$BENCH_DATA/clients.dat"
  echo "path husk runc crun" >"$BENCH_DATA/clients.dat"
  for g in podman ctr verbs; do
    local title
    case $g in
      podman) title="\`podman run --rm --network none\`" ;;
      ctr) title="\`ctr run --rm\`" ;;
      verbs) title="OCI verbs: create, start, state, delete" ;;
    esac
    md "| $title | $(clients_cell "$g-husk") | $(clients_cell "$g-runc") | $(clients_cell "$g-crun") | $(clients_ratio "$g-husk" "$g-runc") | $(clients_ratio "$g-husk" "$g-crun") |"
    local row="$g"
    for rt in "${CLIENTS_RTS[@]}"; do
      local med; med=$(sample "$BENCH_DATA/clients.tsv" "$g-$rt" median 2>/dev/null)
      if [[ -n $med ]] && ! cut -f1 "$BENCH_DATA/clients-fails.tsv" | grep -qx "$g-$rt"; then row+=" $(calc "$med*1000" 3)"; else row+=" 0"; fi
    done
    echo "$row" >>"$BENCH_DATA/clients.dat"
  done
  md
  cluster_chart "$BENCH_OUT/clients.png" "Through OCI clients: median per container ('true'); 0 = failed" "ms" "$BENCH_DATA/clients.dat"
  md "![clients](clients.png)"; md
  md "Beside them, the same container by other means:"; md
  md "| contender | median | min | max | runs |"
  md "|---|---|---|---|---|"
  for c in docker-runc docker-husk lxc floor; do
    local cell; cell=$(clients_cell "$c")
    if [[ $cell == *ms ]]; then
      local s=$BENCH_DATA/clients.tsv
      md "| $c | $cell | $(calc "$(sample "$s" "$c" min)*1000" 2) ms | $(calc "$(sample "$s" "$c" max)*1000" 2) ms | $(sample "$s" "$c" n) |"
    else
      md "| $c | $cell | | | |"
    fi
  done
  md
  md "docker: dockerd $(dockerd --version 2>/dev/null | awk '{ print $3 }' | tr -d ,) with its own containerd, no bridge, no iptables; docker-husk is \`--runtime husk\` (\`--add-runtime husk=target/bin/husk\`). lxc: \`lxc-execute\` ($(lxc-execute --version 2>/dev/null)) on the same tree, \`lxc.net.0.type = empty\`, no services (the package's lxc-net bridge is never started). floor: as in the start-up section. The clients' packages were installed or found in ${install_s} s."
  md
  md_cmds
}
