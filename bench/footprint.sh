# Size and memory: binary sizes, the launcher's peak RSS, the PID-1 init's RSS, and the
# detached supervisor's RSS (once `husk run -d` exists).

# Bytes of a program plus every shared library it loads (ldd), symlinks followed.
size_with_libs() {
  local total; total=$(stat -L -c %s "$1")
  local lib
  for lib in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*' || true); do
    total=$((total + $(stat -L -c %s "$lib")))
  done
  echo "$total"
}

footprint_sizes() {
  md "### Binary size"; md
  md "| program | bytes | KiB | shared libraries counted |"
  md "|---|---|---|---|"
  : >"$BENCH_DATA/sizes.dat"
  local name path
  for name in husk crun runc tini-static catatonit; do
    case $name in
      husk) path=$HUSK ;;
      *) path=$(command -v "$name") ;;
    esac
    local bytes libs
    bytes=$(size_with_libs "$path")
    libs=$(ldd "$path" 2>/dev/null | grep -o '/[^ ]*' | xargs -r -n1 basename | paste -sd' ' || true)
    md "| $name ($path) | $bytes | $(calc "$bytes/1024" 0) | ${libs:-none (static)} |"
    echo "$name $(calc "$bytes/1024" 0)" >>"$BENCH_DATA/sizes.dat"
    cmdline "stat -L -c %s $path $(ldd "$path" 2>/dev/null | grep -o '/[^ ]*' | paste -sd' ' || true)"
  done
  md
  bar_chart "$BENCH_OUT/sizes.png" "Binary size (with shared libraries)" "KiB" "$BENCH_DATA/sizes.dat"
  md "![sizes](sizes.png)"; md
  local hs; hs=$(stat -c %s "$HUSK")
  # The roadmap's budget for the shipped binary.
  target "husk binary size" "$(calc "$hs/1024" 0) KiB" "≤ 480 KiB" "$(le "$hs" $((480 * 1024)))"
  md
}

# Runs inside the private mount namespace: the launchers' peak RSS two ways.
# /usr/bin/time reports the largest of the launcher and the descendants it waited for
# (the container's init and command included); VmHWM of the launcher process itself,
# read while its container sleeps, isolates the launcher.
footprint_rss_measure() {
  local out=$BENCH_DATA/launcher-rss.tsv i
  for ((i = 0; i < RSS_RUNS; i++)); do
    local l cmd
    while IFS= read -r cmd; do
      l=${cmd%%=*}; cmd=${cmd#*=}
      [[ $l == floor || $l == husk-dir-rw ]] && continue
      cmd=${cmd//\{id\}/rss-$$-$i}
      local kb; kb=$(/usr/bin/time -f %M $cmd 2>&1 >/dev/null </dev/null | tail -1)
      printf 'time-%s\t%s\n' "$l" "$kb" >>"$out"
    done < <(startup_cmds true)
    while IFS= read -r cmd; do
      l=${cmd%%=*}; cmd=${cmd#*=}
      [[ $l == floor ]] && continue
      cmd=${cmd//\{id\}/hwm-$$-$i}
      $cmd </dev/null >/dev/null 2>&1 &
      local pid=$!
      sleep 0.6
      local hwm; hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
      wait "$pid"
      printf 'hwm-%s\t%s\n' "$l" "$hwm" >>"$out"
    done < <(startup_cmds sleep 1)
  done
}

footprint_pid1_measure() {
  local out=$BENCH_DATA/pid1-rss.tsv i
  for ((i = 0; i < RSS_RUNS; i++)); do
    local kb
    kb=$("$HUSK" run --rootfs "$ALPINE_DIR" -- sh -c 'sleep 0.2; grep VmRSS /proc/1/status' | awk '{ print $2 }')
    printf 'husk-init\t%s\n' "$kb" >>"$out"
    kb=$("$HUSK" run --rootfs "$ALPINE_DIR" -v /usr/bin/tini-static:/tini:ro -- /tini -s -- sh -c 'sleep 0.2; grep VmRSS /proc/$PPID/status' | awk '{ print $2 }')
    printf 'tini-static\t%s\n' "$kb" >>"$out"
    kb=$("$HUSK" run --rootfs "$ALPINE_DIR" -v /usr/bin/catatonit:/catatonit:ro -- /catatonit -- sh -c 'sleep 0.2; grep VmRSS /proc/$PPID/status' | awk '{ print $2 }')
    printf 'catatonit\t%s\n' "$kb" >>"$out"
  done
}

footprint_memory() {
  rm -f "$BENCH_DATA/launcher-rss.tsv" "$BENCH_DATA/pid1-rss.tsv"
  local c
  while IFS= read -r c; do
    [[ $c == floor=* || $c == husk-dir-rw=* ]] || cmdline "/usr/bin/time -f %M ${c#*=}"
  done < <(startup_cmds true)
  while IFS= read -r c; do
    [[ $c == floor=* ]] || cmdline "${c#*=} &  # then VmHWM of that pid from /proc/PID/status after 0.6 s"
  done < <(startup_cmds sleep 1)
  in_ns footprint_rss_measure
  md "### Launcher peak RSS"; md
  md "$RSS_RUNS runs each (inside the same private mount namespace as the start-up section). \`/usr/bin/time\` reports the largest RSS of the launcher and every descendant it waited for (for husk that includes its init and the container's \`/bin/true\`); VmHWM is the launcher process's own peak, read from /proc while its container runs \`sleep 1\` (read after 0.6 s)."
  md
  md "| launcher | /usr/bin/time max RSS (median, min–max) | own VmHWM (median, min–max) |"
  md "|---|---|---|"
  local f=$BENCH_DATA/launcher-rss.tsv l
  : >"$BENCH_DATA/rss.dat"
  for l in husk-dir husk-image crun runc; do
    md "| $l | $(sample "$f" "time-$l" median) KiB ($(sample "$f" "time-$l" min)–$(sample "$f" "time-$l" max)) | $(sample "$f" "hwm-$l" median) KiB ($(sample "$f" "hwm-$l" min)–$(sample "$f" "hwm-$l" max)) |"
    echo "$l $(sample "$f" "hwm-$l" median)" >>"$BENCH_DATA/rss.dat"
  done
  md
  local t h
  t=$(sample "$f" time-husk-dir median); h=$(sample "$f" hwm-husk-dir median)
  target "launcher peak RSS, husk --rootfs (/usr/bin/time -v)" "$t KiB" "< 1024 KiB" "$(awk "BEGIN { print ($t < 1024) }")"
  target "launcher peak RSS, husk --rootfs (own VmHWM)" "$h KiB" "< 1024 KiB" "$(awk "BEGIN { print ($h < 1024) }")"
  t=$(sample "$f" time-husk-image median)
  target "launcher peak RSS, husk --image (/usr/bin/time -v)" "$t KiB" "< 1024 KiB" "$(awk "BEGIN { print ($t < 1024) }")"
  md
  cmdline "$HUSK run --rootfs $ALPINE_DIR -- sh -c 'sleep 0.2; grep VmRSS /proc/1/status'"
  cmdline "$HUSK run --rootfs $ALPINE_DIR -v /usr/bin/tini-static:/tini:ro -- /tini -s -- sh -c 'sleep 0.2; grep VmRSS /proc/\$PPID/status'"
  cmdline "$HUSK run --rootfs $ALPINE_DIR -v /usr/bin/catatonit:/catatonit:ro -- /catatonit -- sh -c 'sleep 0.2; grep VmRSS /proc/\$PPID/status'"
  in_priv footprint_pid1_measure
  md "### PID-1 init RSS"; md
  md "VmRSS of the init process read from inside the container: husk's own init is PID 1; tini-static and catatonit run as the container's command under husk's init, so the shell's parent is them (tini with \`-s\` since it is not PID 1). Read 0.2 s into the container's life, once each init has settled (husk's drops the pages of its code it does not use once idle for 50 ms)."
  md
  md "| init | VmRSS (median, min–max) |"
  md "|---|---|"
  f=$BENCH_DATA/pid1-rss.tsv
  for l in husk-init tini-static catatonit; do
    md "| $l | $(sample "$f" $l median) KiB ($(sample "$f" $l min)–$(sample "$f" $l max)) |"
    echo "$l $(sample "$f" $l median)" >>"$BENCH_DATA/rss.dat"
  done
  md
  bar_chart "$BENCH_OUT/rss.png" "Resident memory: launchers (own VmHWM) and PID-1 inits (VmRSS)" "KiB" "$BENCH_DATA/rss.dat"
  md "![rss](rss.png)"; md
  local hi ti
  hi=$(sample "$f" husk-init median); ti=$(sample "$f" tini-static median)
  target "PID-1 RSS husk init / tini-static" "$hi KiB / $ti KiB = $(calc "$hi/$ti" 2)×" "≤ 0.5×" "$(le "$hi/$ti" 0.5)"
  md
}

footprint_supervisor() {
  md "### Detached supervisor RSS"; md
  if ! "$HUSK" run --help 2>&1 | grep -q -- --detach; then
    md "SKIPPED: \`husk run --help\` lists no \`--detach\`; detached containers are not built yet. TODO: once \`husk run -d\` exists, this section measures the VmRSS of the supervisor process that stays behind a detached container (target < 1 MiB)."
    md
    return 0
  fi
  # Start a detached sleeper, read the VmRSS of each husk process that appeared (the
  # supervisor and the container's init), then let it end and remove it.
  local before after pid rows=
  before=$(pgrep -x husk | sort || true)
  cmdline "$HUSK run -d --name bench-sup-$$ --rootfs $ALPINE_DIR -- sleep 3"
  priv "$HUSK" run -d --name "bench-sup-$$" --rootfs "$ALPINE_DIR" -- sleep 3 >/dev/null
  sleep 1
  after=$(pgrep -x husk | sort || true)
  local role
  for pid in $(comm -13 <(echo "$before") <(echo "$after")); do
    # The container's init has a second pid (1) in its own namespace.
    role=supervisor
    [[ $(awk '/^NSpid/ { print NF }' "/proc/$pid/status" 2>/dev/null) == 3 ]] && role="container init (PID 1)"
    rows+="| $role | $pid | $(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null) KiB |"$'\n'
  done
  md "| process | pid | VmRSS |"; md "|---|---|---|"; printf '%s' "$rows" | md_cat
  md
  priv "$HUSK" wait "bench-sup-$$" >/dev/null
  priv "$HUSK" rm "bench-sup-$$" >/dev/null
}

section_footprint() {
  md "## Size and memory"; md
  footprint_sizes
  footprint_memory
  footprint_supervisor
  md_cmds
}
