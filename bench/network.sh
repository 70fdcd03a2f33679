# Networking: bridge start-up against no network (sequential and in parallel), and TCP
# throughput into a container through a published port (husk's nf_tables DNAT) against
# the container's address directly and against an iptables DNAT rule as docker sets one
# up. Everything runs inside a network namespace of its own ("the host") with a second
# one as "the outside world" (a veth, 192.0.2.1 <-> 192.0.2.2): the machine's interfaces
# and rules are never touched.

NET_OUT=192.0.2.2 NET_HOST=192.0.2.1

# Runs inside `unshare --net` within the private mount namespace (in_ns).
network_measure() {
  local r=$ALPINE_DIR ns=$BENCH_WORK/net-outside
  ip link set lo up
  "$HUSK" run --rootfs "$r" --network bridge -- /bin/true # husk0 and its chains, once
  timeit rounds "$START_ROUNDS" "$BENCH_DATA/net-seq.tsv" \
    "none=$HUSK run --rootfs $r --network none -- /bin/true" \
    "bridge=$HUSK run --rootfs $r --network bridge -- /bin/true" \
    "bridge-publish=$HUSK run --rootfs $r -p 18080:80 -- /bin/true"
  # podman's bridge networking (CNI on Debian 12) beside, when its store could be set
  # up: its rows are soft, so a podman failure is reported and the rest still measured.
  if [[ -f $BENCH_WORK/net-clients/podman/env ]]; then
    # shellcheck source=/dev/null
    . "$BENCH_WORK/net-clients/podman/env"
    local podman="podman $PODMAN_ARGS --runtime $(command -v crun) run --rm"
    timeit rounds --soft "$BENCH_DATA/net-fails.tsv" "$START_ROUNDS" "$BENCH_DATA/net-podman.tsv" \
      "podman-none=$podman --network none $CLIENTS_IMAGE true" \
      "podman-bridge=$podman --network bridge $CLIENTS_IMAGE true"
  fi
  timeit parallel "$NET_PAR" "$PAR_RUNS" "$BENCH_DATA/net-par.tsv" \
    "none=$HUSK run --rootfs $r --network none -- /bin/true" \
    "bridge=$HUSK run --rootfs $r --network bridge -- /bin/true"

  # Throughput: iperf3's server runs in the container's network namespace (started
  # from the host's file system with nsenter: the Alpine image has no iperf3); the
  # client runs outside.
  touch "$ns"
  unshare --net="$ns" true
  ip link add hkout type veth peer name hkin netns "$ns"
  ip addr add "$NET_HOST/24" dev hkout && ip link set hkout up
  nsenter --net="$ns" sh -c "ip link set lo up && ip addr add $NET_OUT/24 dev hkin && ip link set hkin up && ip route add default via $NET_HOST"
  "$HUSK" run -d --name iperf --rootfs "$r" -p 15201:5201 -- sleep 600 >/dev/null
  local pid ip
  pid=$("$HUSK" inspect --raw iperf | sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
  ip=$("$HUSK" inspect --raw iperf | sed -n 's/.*"ip":"\([0-9.]*\)".*/\1/p')
  # A daemon: its pid file lets it be stopped at the end (it would keep the namespace,
  # and the bench lock's descriptor it inherited, alive).
  nsenter -t "$pid" -n iperf3 -s -D -p 5201 -I "$BENCH_WORK/iperf3.pid"
  trap 'kill "$(cat "$BENCH_WORK/iperf3.pid" 2>/dev/null)" 2>/dev/null || true; "$HUSK" rm -f iperf >/dev/null 2>&1 || true' EXIT
  # docker's rule for the same container: nat PREROUTING DNAT (iptables-nft).
  iptables -t nat -A PREROUTING -p tcp --dport 25201 -j DNAT --to-destination "$ip:5201"
  # Outside -> the container directly: routed through the host, no NAT (husk's forward
  # rule admits DNAT only, so the direct path is allowed for the measurement).
  nsenter --net="$ns" ip route add "$ip/32" via "$NET_HOST"
  nft insert rule ip husk fwd-husk0 ip saddr "$NET_OUT" accept
  sleep 0.3
  local round label target
  : >"$BENCH_DATA/net-tput.tsv"
  for round in $(seq "$NET_TPUT_RUNS"); do
    for label in direct husk-publish iptables-dnat; do
      case $label in
        direct) target="-c $ip -p 5201" ;;
        husk-publish) target="-c $NET_HOST -p 15201" ;;
        iptables-dnat) target="-c $NET_HOST -p 25201" ;;
      esac
      # shellcheck disable=SC2086
      nsenter --net="$ns" iperf3 $target -t "$NET_TPUT_SECS" -J |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9)' |
        sed "s/^/$label\t/" >>"$BENCH_DATA/net-tput.tsv"
    done
  done
  kill "$(cat "$BENCH_WORK/iperf3.pid" 2>/dev/null)" 2>/dev/null || true
  "$HUSK" rm -f iperf >/dev/null
  iptables -t nat -F PREROUTING
  umount "$ns" 2>/dev/null || true
}

section_network() {
  [[ -n ${NET_PAR:-} ]] || NET_PAR=$([[ $MODE == quick ]] && echo 5 || echo 100)
  NET_TPUT_RUNS=$([[ $MODE == quick ]] && echo 1 || echo 5)
  NET_TPUT_SECS=$([[ $MODE == quick ]] && echo 1 || echo 5)
  export NET_PAR NET_TPUT_RUNS NET_TPUT_SECS
  rm -f "$BENCH_DATA"/net-*.tsv
  cmdline "# inside unshare --net (a throwaway network namespace), after one bridge run made husk0:"
  cmdline "$HUSK run --rootfs ALPINE --network none -- /bin/true"
  cmdline "$HUSK run --rootfs ALPINE --network bridge -- /bin/true"
  cmdline "$HUSK run --rootfs ALPINE -p 18080:80 -- /bin/true"
  cmdline "# $NET_PAR of each at once, $PAR_RUNS times"
  cmdline "$HUSK run -d --name iperf -p 15201:5201 -- sleep 600; nsenter -t PID -n iperf3 -s -D"
  cmdline "iptables -t nat -A PREROUTING -p tcp --dport 25201 -j DNAT --to-destination CONTAINER_IP:5201"
  cmdline "# from the outside namespace: iperf3 -c CONTAINER_IP -p 5201 | -c 192.0.2.1 -p 15201 | -c 192.0.2.1 -p 25201, -t $NET_TPUT_SECS, $NET_TPUT_RUNS rounds"
  local out
  if ! { clients_install podman crun >/dev/null 2>&1 && out=$(in_priv clients_podman "$BENCH_WORK/net-clients" "$HUSK" 2>&1); }; then
    log "network: no podman store, its rows are left out: $(tail -1 <<<"${out:-podman not installed}")"
  fi
  cmdline "# podman (crun, CNI bridge): podman \$PODMAN_ARGS --runtime crun run --rm --network none|bridge $CLIENTS_IMAGE true"
  in_ns unshare --net -- "$BENCH_SELF" --fn network_measure
  md "## Networking"; md
  md "Inside a network namespace of its own. Start-up of \`run -- /bin/true\` with no network, on the default bridge, and on the bridge with a published port ($START_ROUNDS rounds, alternated), and beside them podman $(podman --version 2>/dev/null | awk '{ print $3 }') with crun and its CNI bridge (its own rounds, \`--network none\` against \`bridge\`: the difference is what podman's bridge networking costs); then $NET_PAR of each at once ($PAR_RUNS times). Throughput: iperf3 (TCP, ${NET_TPUT_SECS} s, $NET_TPUT_RUNS rounds) from a second namespace to the container's address directly, through husk's \`-p\`, and through an iptables DNAT rule as docker writes it."
  md
  md "| start-up | runs | median | min | max |"; md "|---|---|---|---|---|"
  local l n med min max
  while read -r l n med min max; do
    md "| $l (sequential) | $n | $(calc "$med*1000" 1) ms | $(calc "$min*1000" 1) ms | $(calc "$max*1000" 1) ms |"
  done < <(timeit stats "$BENCH_DATA/net-seq.tsv")
  if [[ -s $BENCH_DATA/net-podman.tsv ]]; then
    while read -r l n med min max; do
      md "| $l (sequential, podman + crun) | $n | $(calc "$med*1000" 1) ms | $(calc "$min*1000" 1) ms | $(calc "$max*1000" 1) ms |"
    done < <(timeit stats "$BENCH_DATA/net-podman.tsv")
  fi
  if [[ -s $BENCH_DATA/net-fails.tsv ]]; then
    while IFS=$'\t' read -r l why; do md "| $l | failed: $why | | | |"; done <"$BENCH_DATA/net-fails.tsv"
  fi
  while read -r l n med min max; do
    md "| $NET_PAR × $l (parallel) | $n | $(calc "$med" 2) s | $(calc "$min" 2) s | $(calc "$max" 2) s |"
  done < <(timeit stats "$BENCH_DATA/net-par.tsv")
  md
  md "| path | runs | median Gbit/s | min | max |"; md "|---|---|---|---|---|"
  while read -r l n med min max; do
    md "| $l | $n | $(calc "$med" 2) | $(calc "$min" 2) | $(calc "$max" 2) |"
  done < <(timeit stats "$BENCH_DATA/net-tput.tsv")
  md
  local none bridge par direct pub
  none=$(timeit stats "$BENCH_DATA/net-seq.tsv" | awk '$1 == "none" { print $3 }')
  bridge=$(timeit stats "$BENCH_DATA/net-seq.tsv" | awk '$1 == "bridge" { print $3 }')
  par=$(timeit stats "$BENCH_DATA/net-par.tsv" | awk '$1 == "bridge" { print $3 }')
  direct=$(timeit stats "$BENCH_DATA/net-tput.tsv" | awk '$1 == "direct" { print $3 }')
  pub=$(timeit stats "$BENCH_DATA/net-tput.tsv" | awk '$1 == "husk-publish" { print $3 }')
  local r; r=$(calc "$bridge/$none" 2)
  target "bridge start-up / no network (sequential)" "$r×" "≤ 2×" "$(le "$r" 2)"
  target "$NET_PAR bridge containers at once" "$(calc "$par" 2) s" "≤ 1.5 s (100)" "$(le "$par" 1.5)"
  r=$(calc "$pub/$direct" 2)
  target "throughput through -p / direct" "$r×" "≥ 0.9×" "$(le 0.9 "$r")"
  md_cmds
}
