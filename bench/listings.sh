# The seeds' side-by-side listings: what a process sees from inside husk, crun and the host.

LISTING_SCRIPT='for c in "ps aux" "ip a" "head /proc/cpuinfo" "cat /proc/self/cgroup" "mount | head"; do echo "\$ $c"; sh -c "$c" 2>&1 | head -40; echo; done'

listings_measure() {
  "$HUSK" run --rootfs "$ALPINE_DIR" -- sh -c "$LISTING_SCRIPT" >"$BENCH_DATA/listing-husk.txt" 2>&1 </dev/null
  crun --root "$BENCH_STATE/crun-state" run -b "$BENCH_WORK/bundle-listing" "listing-$$" >"$BENCH_DATA/listing-crun.txt" 2>&1 </dev/null
}

section_listings() {
  make_bundle "$BENCH_WORK/bundle-listing" "$ALPINE_DIR" sh -c "$LISTING_SCRIPT"
  cmdline "$HUSK run --rootfs $ALPINE_DIR -- sh -c '$LISTING_SCRIPT'"
  cmdline "crun --root $BENCH_STATE/crun-state run -b $BENCH_WORK/bundle-listing ID   # same script; in the private mount namespace"
  cmdline "sh -c '$LISTING_SCRIPT'   # the host, as bench/run sees it"
  in_ns listings_measure
  sh -c "$LISTING_SCRIPT" >"$BENCH_DATA/listing-host.txt" 2>&1 </dev/null
  md "## Side by side: inside husk, crun and the host"; md
  md "Each runs \`ps aux\`, \`ip a\`, \`head /proc/cpuinfo\`, \`cat /proc/self/cgroup\`, \`mount | head\` (each output cut at 40 lines). crun runs in the private mount namespace without /sys/fs/cgroup/unified (see Start-up)."
  md
  local who
  for who in husk crun host; do
    md "<details><summary>$who</summary>"; md
    code <"$BENCH_DATA/listing-$who.txt"
    md; md "</details>"; md
  done
  md_cmds
}
