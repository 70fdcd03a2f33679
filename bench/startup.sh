# Start-up: sequential `run /bin/true` and 50 parallel `run sleep 1`, husk against crun,
# runc and a bare unshare+chroot floor, all on the same Alpine tree and namespaces.

# startup_cmds true | sleep SECONDS: one LABEL=COMMAND line per contender.
startup_cmds() {
  local what=$1
  local args=/bin/true bundle=$BENCH_WORK/bundle-true
  if [[ $what == sleep ]]; then
    args="sleep $2" bundle=$BENCH_WORK/bundle-sleep-$2
    [[ -f $bundle/config.json ]] || make_bundle "$bundle" "$ALPINE_DIR" sleep "$2" >&2
  fi
  printf '%s\n' \
    "husk-dir=$HUSK run --rootfs $ALPINE_DIR -- $args" \
    "husk-image=$HUSK run --image $ALPINE_IMG -- $args"
  [[ $what == true ]] && printf '%s\n' "husk-dir-rw=$HUSK run --rootfs $ALPINE_DIR --rootfs-rw -- $args"
  printf '%s\n' \
    "crun=crun --root $BENCH_STATE/crun-state run -b $bundle {id}" \
    "runc=runc --root $BENCH_STATE/runc-state run -b $bundle {id}" \
    "floor=unshare --pid --fork --mount --uts --ipc --net chroot $ALPINE_DIR $args"
}

# Runs inside the private mount namespace (in_ns).
startup_measure() {
  local -a seq par
  mapfile -t seq < <(startup_cmds true)
  mapfile -t par < <(startup_cmds sleep "$PAR_SLEEP")
  timeit rounds "$START_ROUNDS" "$BENCH_DATA/startup.tsv" "${seq[@]}"
  timeit parallel "$PAR_N" "$PAR_RUNS" "$BENCH_DATA/parallel.tsv" "${par[@]}"
}

# husk runs as the machine is; crun does not. Recorded once, outside the namespace.
startup_compat() {
  local out
  if out=$(priv "$HUSK" run --rootfs "$ALPINE_DIR" -- /bin/true 2>&1); then
    echo "husk: ok"
  else
    echo "husk: FAILED: $out"
  fi
  if out=$(priv crun --root "$BENCH_STATE/crun-state" run -b "$BENCH_WORK/bundle-true" "compat-$$" 2>&1); then
    echo "crun: ok"
  else
    echo "crun: FAILED (exit $?): $out"
  fi
  crun --root "$BENCH_STATE/crun-state" delete -f "compat-$$" >/dev/null 2>&1 || true
}

section_startup() {
  local s=$BENCH_DATA/startup.tsv p=$BENCH_DATA/parallel.tsv
  rm -f "$s" "$p"
  local c; while IFS= read -r c; do cmdline "${c#*=}"; done < <(startup_cmds true; startup_cmds sleep "$PAR_SLEEP")
  cmdline "# sequential: $START_ROUNDS rounds, each round runs every command above once, in order"
  cmdline "# parallel: $PAR_N copies of each 'sleep $PAR_SLEEP' command at once, wall time until all exit, $PAR_RUNS runs"
  cmdline "# crun/runc/husk/floor all run inside: unshare --mount sh -c 'mount --move /sys/fs/cgroup/unified \$BENCH_WORK/cgroup2; ...'"
  cmdline "# state roots: HUSK_ROOT=\$BENCH_STATE/husk-state, crun and runc --root \$BENCH_STATE/{crun,runc}-state, BENCH_STATE a directory in /dev/shm"
  in_ns startup_measure
  local compat; compat=$(startup_compat)

  md "## Start-up"; md
  md "$START_ROUNDS rounds; in each round every contender runs \`/bin/true\` once, in turn (husk, crun, runc, floor, husk, ...), so all share the machine's conditions. Same Alpine 3.20 tree, same namespaces (pid, mount, uts, ipc, network, cgroup; no user namespace). crun and runc use an OCI bundle made by \`crun spec\` with \`process.args\`, \`terminal\` and \`root\` edited. The floor is \`unshare --pid --fork --mount --uts --ipc --net chroot\`. Every runtime keeps its state in a directory in /dev/shm (memory), as it would under a /run in memory: this machine's /run is on its disk. Times include the timer's own fork+exec (Python \`subprocess\`, \`perf_counter_ns\`), which is the same for every contender."
  md
  md "| contender | runs | median per container | min | max | ratio husk-dir / this |"
  md "|---|---|---|---|---|---|"
  local hd; hd=$(sample "$s" husk-dir median)
  : >"$BENCH_DATA/startup.dat"
  local l
  for l in husk-dir husk-image husk-dir-rw crun runc floor; do
    local med mn mx
    med=$(sample "$s" $l median); mn=$(sample "$s" $l min); mx=$(sample "$s" $l max)
    md "| $l | $(sample "$s" $l n) | $(calc "$med*1000" 2) ms | $(calc "$mn*1000" 2) ms | $(calc "$mx*1000" 2) ms | $(calc "$hd/$med" 2) |"
    echo "$l $(calc "$med*1000" 3)" >>"$BENCH_DATA/startup.dat"
  done
  md
  bar_chart "$BENCH_OUT/startup.png" "Start-up: median time per 'run /bin/true'" "ms" "$BENCH_DATA/startup.dat"
  md "![start-up](startup.png)"; md
  local cr rr fl hi
  cr=$(sample "$s" crun median); rr=$(sample "$s" runc median); fl=$(sample "$s" floor median); hi=$(sample "$s" husk-image median)
  md "Ratios (same run): husk-dir/crun **$(calc "$hd/$cr" 2)**, husk-dir/runc **$(calc "$hd/$rr" 2)**, husk-dir/floor **$(calc "$hd/$fl" 2)**; husk-image/crun $(calc "$hi/$cr" 2), husk-image/floor $(calc "$hi/$fl" 2)."
  md
  target "start-up husk (--rootfs) / crun" "$(calc "$hd/$cr" 2)×" "≤ 0.4×" "$(le "$hd/$cr" 0.4)"
  target "start-up husk (--rootfs) / floor" "$(calc "$hd/$fl" 2)×" "≤ 1.3×" "$(le "$hd/$fl" 1.3)"
  target "start-up husk (--image) / crun" "$(calc "$hi/$cr" 2)×" "≤ 0.4×" "$(le "$hi/$cr" 0.4)"
  target "start-up husk (--image) / floor" "$(calc "$hi/$fl" 2)×" "≤ 1.3×" "$(le "$hi/$fl" 1.3)"
  md
  md "### $PAR_N parallel \`run sleep $PAR_SLEEP\`"; md
  md "Wall time from starting $PAR_N copies at once until the last exits ($PAR_RUNS runs, contenders alternated)."
  md
  md "| contender | median | min | max | ratio husk-dir / this |"
  md "|---|---|---|---|---|"
  local phd; phd=$(sample "$p" husk-dir median)
  : >"$BENCH_DATA/parallel.dat"
  for l in husk-dir husk-image crun runc floor; do
    local med; med=$(sample "$p" $l median)
    md "| $l | $(calc "$med" 3) s | $(calc "$(sample "$p" $l min)" 3) s | $(calc "$(sample "$p" $l max)" 3) s | $(calc "$phd/$med" 2) |"
    echo "$l $(calc "$med" 3)" >>"$BENCH_DATA/parallel.dat"
  done
  md
  bar_chart "$BENCH_OUT/parallel.png" "$PAR_N parallel 'run sleep $PAR_SLEEP': wall time" "s" "$BENCH_DATA/parallel.dat"
  md "![parallel](parallel.png)"; md
  md "### The hybrid-cgroup workaround"; md
  md "Run once each on the machine as it is (hybrid cgroups, cgroup2 at /sys/fs/cgroup/unified), outside the private namespace:"
  printf '%s\n' "$compat" | code
  md "crun 1.8 refuses this layout, so crun and runc (and, for equal conditions, husk and the floor) are measured inside \`unshare --mount\` with the cgroup2 mount moved from /sys/fs/cgroup/unified to a directory of the benchmark's (crun then sees v1 only; husk finds cgroup2 where it went and uses it as on the host: joined at birth, device program attached). husk needs no such workaround."
  md
  md_cmds
}
