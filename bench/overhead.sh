# Run-time overhead: sysbench inside husk (ext4 image through a loop device; overlay
# over a directory), inside crun, docker and LXC, and on the host, as host-relative
# ratios. docker and LXC are set up privately by tests/clients/setup.sh (a dockerd of
# the bench's own, an lxc.conf without network) and left out, said in the report, where
# they cannot run.

SB_ENVS=(host husk-image husk-dir crun docker lxc)
SB_DOCKER_IMAGE=husk-bench/sysbench

# sb_script ENV TEST: the shell script that runs TEST in ENV. fileio works in a
# directory of the container's root (the host's: one beside the bench's files).
sb_script() {
  case $2 in
    cpu) echo "sysbench cpu $SB_CPU run" ;;
    memory) echo "sysbench memory $SB_MEM run" ;;
    threads) echo "sysbench threads $SB_THREADS run" ;;
    fileio)
      local d=/bench-fileio o="fileio $SB_FILEIO"
      [[ $1 == host ]] && d=$BENCH_WORK/host-fileio
      # seqwr leaves the files short of their size: prepare again before seqrd.
      echo "set -e; mkdir -p $d; cd $d; sysbench $o prepare >/dev/null; echo ==seqwr; sysbench $o $SB_FILEIO_RUN --file-test-mode=seqwr run; sysbench $o prepare >/dev/null; echo ==seqrd; sysbench $o $SB_FILEIO_RUN --file-test-mode=seqrd run; sysbench $o cleanup >/dev/null" ;;
  esac
}

# sb_argv ENV TEST: the full command line (one word per line).
# For fileio the image is mounted read-write (--rw-image) so the files go through the
# loop device into the ext4 image, and the directory case keeps its overlay upper layer
# on the host's disk (--persist) rather than in a tmpfs, like crun's and the host's.
sb_argv() {
  local s; s=$(sb_script "$1" "$2")
  case $1 in
    host) printf '%s\n' sh -c "$s" ;;
    husk-image)
      printf '%s\n' "$HUSK" run --image "$SB_IMG"
      [[ $2 == fileio ]] && echo --rw-image
      printf '%s\n' -- sh -c "$s" ;;
    husk-dir) printf '%s\n' "$HUSK" run --rootfs "$SB_DIR" --persist "$BENCH_WORK/persist" -- sh -c "$s" ;;
    crun) printf '%s\n' crun --root "$BENCH_STATE/crun-state" run -b "$BENCH_WORK/bundle-sb-$2" "sb-$2-{id}" ;;
    docker) printf '%s\n' "${DOCKER:-docker}" run --rm --network none "$SB_DOCKER_IMAGE" sh -c "$s" ;;
    lxc) printf '%s\n' lxc-execute -P "$BENCH_WORK/sb-clients/lxc/path" -n "sb-$2-{id}" -f "$BENCH_WORK/sb-clients/lxc/lxc.conf" -- sh -c "$s" ;;
  esac
}

# Values from one run's output: "name value" lines.
sb_parse() {
  case $1 in
    cpu) awk '/events per second:/ { print "cpu", $4 }' ;;
    memory) sed -n 's/.*(\([0-9.]*\) MiB\/sec).*/memory \1/p' ;;
    threads) awk '/total number of events:/ { e = $5 } /total time:/ { t = $3 + 0 } END { if (t > 0) print "threads", e / t }' ;;
    fileio) awk '/^==/ { m = substr($0, 3) } m == "seqwr" && /written, MiB\/s:/ { print "seqwr", $3 } m == "seqrd" && /read, MiB\/s:/ { print "seqrd", $3 }' ;;
  esac
}

# Runs inside the private mount namespace: every environment once per round. docker's
# daemon lives for one test, in this namespace; the sysbench tree is its image.
overhead_measure() {
  local test=$1 r env cl=$BENCH_WORK/sb-clients
  # The environments section_overhead kept (this runs in a fresh bench/run process).
  [[ -n ${SB_ENVS_LIST:-} ]] && read -ra SB_ENVS <<<"$SB_ENVS_LIST"
  if [[ " ${SB_ENVS[*]} " == *" docker "* ]]; then
    clients_dockerd_start "$cl" "$HUSK" >/dev/null 2>&1 || { echo "overhead: dockerd did not start" >&2; return 1; }
    # shellcheck source=/dev/null
    . "$cl/docker/env"
    $DOCKER image inspect "$SB_DOCKER_IMAGE" >/dev/null 2>&1 ||
      tar -C "$SB_DIR" -c . | $DOCKER import - "$SB_DOCKER_IMAGE" >/dev/null
  fi
  overhead_rounds "$test"
  local status=$?
  [[ " ${SB_ENVS[*]} " == *" docker "* ]] && clients_dockerd_stop "$cl"
  return $status
}

overhead_rounds() {
  local test=$1 r env
  for ((r = 0; r < SB_RUNS; r++)); do
    for env in "${SB_ENVS[@]}"; do
      local -a argv
      mapfile -t argv < <(sb_argv "$env" "$test")
      argv=("${argv[@]//\{id\}/$$-$r}")
      local out; out=$("${argv[@]}" </dev/null 2>&1) || { echo "$out" >&2; echo "overhead: $test in $env failed" >&2; return 1; }
      local got; got=$(sb_parse "$test" <<<"$out")
      [[ -n $got ]] || { echo "$out" >&2; echo "overhead: no $test result from $env" >&2; return 1; }
      local name value
      while read -r name value; do printf '%s\t%s\n' "$env" "$value" >>"$BENCH_DATA/sb-$name.tsv"; done <<<"$got"
    done
  done
}

section_overhead() {
  rm -f "$BENCH_DATA"/sb-*.tsv
  local test env missing=()
  # docker and LXC from Debian's packages, private: left out where they cannot run.
  clients_install docker lxc >/dev/null 2>&1 || true
  command -v dockerd >/dev/null || missing+=(docker)
  if ! command -v lxc-execute >/dev/null || ! in_priv clients_lxc "$BENCH_WORK/sb-clients" "$SB_DIR" >/dev/null 2>&1; then
    missing+=(lxc)
  fi
  for env in "${missing[@]}"; do
    SB_ENVS=("${SB_ENVS[@]/$env/}")
    log "overhead: $env left out (not installable or not runnable here)"
  done
  read -ra SB_ENVS <<<"${SB_ENVS[*]}"
  export SB_ENVS_LIST="${SB_ENVS[*]}"
  for test in cpu memory threads fileio; do
    make_bundle "$BENCH_WORK/bundle-sb-$test" "$SB_DIR" sh -c "$(sb_script crun "$test")"
    for env in "${SB_ENVS[@]}"; do cmdline "$(sb_argv "$env" "$test" | sed 's/{id}/N/' | python3 -c 'import shlex,sys; print(shlex.join(sys.stdin.read().splitlines()))')"; done
    cmdline "# crun's bundle-sb-$test runs: sh -c '$(sb_script crun "$test")'"
    # One lock hold per test: its environments alternate under shared conditions.
    in_ns overhead_measure "$test"
  done

  md "## Run-time overhead (sysbench)"; md
  md "sysbench $(sysbench --version | awk '{ print $2 }'): $SB_RUNS runs per environment, environments alternated per round (${SB_ENVS[*]}), one lock hold per test. husk-image runs on the Alpine ext4 image (built with \`rootfs-builder --add-binary /usr/bin/sysbench\`) through a loop device, overlay on top (fileio: \`--rw-image\`, so the files go through the loop device into ext4); husk-dir runs on an overlay over an Alpine directory holding the same sysbench and libraries (\`--persist\` keeps the upper layer on disk); crun on that directory directly; docker (a private dockerd, \`docker run --rm --network none\`, default runtime runc, overlay2 on the same disk) on an image imported from that directory; LXC (\`lxc-execute\`, no network) on that directory directly; the host in a directory on the same disk.${missing[*]:+ Left out here: ${missing[*]}.} fileio's seqrd reads files just written, mostly from the page cache (caches are not dropped on a shared machine). Higher is better; ratio = environment / host."
  md
  local header="| test | unit |" rule="|---|---|"
  for env in "${SB_ENVS[@]}"; do header+=" $env |" rule+="---|"; done
  md "$header"
  md "$rule"
  local name unit
  echo "test ${SB_ENVS[*]/host/}" >"$BENCH_DATA/overhead.dat"
  for name in cpu memory threads seqwr seqrd; do
    local f=$BENCH_DATA/sb-$name.tsv
    case $name in cpu | threads) unit=events/s ;; *) unit=MiB/s ;; esac
    local host; host=$(sample "$f" host median)
    local row="| $name | $unit |" dat=$name
    for env in "${SB_ENVS[@]}"; do
      local m; m=$(sample "$f" "$env" median)
      row+=" $(calc "$m" 1) ($(calc "$(sample "$f" "$env" min)" 1)–$(calc "$(sample "$f" "$env" max)" 1))"
      [[ $env == host ]] || { row+=" **$(calc "$m/$host" 3)×**"; dat+=" $(calc "$m/$host" 4)"; }
      row+=" |"
    done
    md "$row"
    echo "$dat" >>"$BENCH_DATA/overhead.dat"
  done
  md
  md "Cells: median (min–max), and the ratio to the host's median."
  md
  cluster_chart "$BENCH_OUT/overhead.png" "sysbench relative to the host (1.0 = host)" "ratio to host" "$BENCH_DATA/overhead.dat"
  md "![overhead](overhead.png)"; md
  for name in cpu memory threads; do
    local f=$BENCH_DATA/sb-$name.tsv host; host=$(sample "$f" host median)
    for env in husk-image husk-dir; do
      local r; r=$(calc "$(sample "$f" "$env" median)/$host" 3)
      target "sysbench $name, $env / host" "$r×" "≥ 0.98× (at most 2% slower)" "$(awk "BEGIN { print ($r >= 0.98) }")"
    done
  done
  md
  md_cmds
}
