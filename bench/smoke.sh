#!/usr/bin/env bash
# Smoke test for the benchmark suite: `bench/run --quick` must run every section and
# write a report with each section's heading, so the suite cannot rot unnoticed.
# Needs root; uses target/bin as built (builds it first when missing).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
if [[ $(id -u) != 0 ]]; then
  echo "SKIPPED: bench/smoke.sh needs root (containers, mounts, loop devices)"
  exit 0
fi
[[ -x $repo/target/bin/husk && -x $repo/target/bin/rootfs-builder ]] || "$repo/.ci/build"
out=$(mktemp -d /tmp/husk-bench-smoke.XXXXXX)
trap 'rm -rf "$out"' EXIT
"$repo/bench/run" --quick --no-build --out "$out"
report=$out/BENCHMARKS.md
[[ -s $report ]] || { echo "FAIL: no report at $report"; exit 1; }
for heading in "## Targets" "## Machine" "## Start-up" "## Size and memory" "### Binary size" \
  "### Launcher peak RSS" "### PID-1 init RSS" "### Detached supervisor RSS" \
  "## Run-time overhead (sysbench)" "## Side by side: inside husk, crun and the host" \
  "## Image building" "## Images" "## Networking" "## Through OCI clients"; do
  grep -qxF -- "$heading" "$report" || { echo "FAIL: report lacks '$heading'"; exit 1; }
done
if grep -q 'FAILED TO RUN' "$report"; then echo "FAIL: a section failed to run"; exit 1; fi
for png in startup parallel sizes rss overhead image clients; do
  [[ -s $out/$png.png ]] || { echo "FAIL: no chart $png.png"; exit 1; }
done
echo "ok: bench/run --quick wrote every section"
