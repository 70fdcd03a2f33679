# Images: getting an image and running it the first time, husk against podman, from
# the same local registry (Debian's docker-registry on 127.0.0.1, plain HTTP) and the
# same OCI archive; and building a multi-layer image into ext4, rootfs-builder against
# umoci unpack + mkfs.ext4 -d.

# images_layout DIR: a three-layer OCI layout (the Alpine tarball; a generated layer of
# GEN_BIG 1 MiB random files and GEN_SMALL small ones; a layer that deletes /etc/motd
# and adds a file), tagged 1.
images_layout() {
  python3 - "$1" "$ALPINE_TARBALL" "$GEN_BIG" "$GEN_SMALL" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
out, alpine, big, small = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
os.makedirs(f"{out}/blobs/sha256", exist_ok=True)
def blob(b):
    d = hashlib.sha256(b).hexdigest()
    open(f"{out}/blobs/sha256/{d}", "wb").write(b)
    return {"digest": f"sha256:{d}", "size": len(b)}
def layer(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, data in files:
            i = tarfile.TarInfo(name); i.size = len(data); i.mode = 0o644; i.mtime = 1700000000
            t.addfile(i, io.BytesIO(data))
    return raw.getvalue()
one = open(alpine, "rb").read()
two = layer([(f"data/big{i}", os.urandom(1 << 20)) for i in range(big)] +
            [(f"data/small/{i}", os.urandom(200)) for i in range(small)])
three = layer([("etc/.wh.motd", b""), ("etc/bench", b"bench\n")])
layers, diff_ids = [], []
for raw, gz in ((gzip.decompress(one), one), (two, gzip.compress(two, 6, mtime=0)), (three, gzip.compress(three, 6, mtime=0))):
    layers.append(dict(mediaType="application/vnd.oci.image.layer.v1.tar+gzip", **blob(gz)))
    diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
config = json.dumps({"architecture": "amd64" if os.uname().machine == "x86_64" else "arm64", "os": "linux",
                     "config": {"Cmd": ["/bin/sh"]}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": dict(mediaType="application/vnd.oci.image.config.v1+json", **blob(config)),
                       "layers": layers}).encode()
m = dict(mediaType="application/vnd.oci.image.manifest.v1+json", **blob(manifest))
m["annotations"] = {"org.opencontainers.image.ref.name": "1", "io.containerd.image.name": "localhost/bench/img:1"}
json.dump({"schemaVersion": 2, "manifests": [m]}, open(f"{out}/index.json", "w"))
open(f"{out}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
}

# The registry, its image and the podman store's settings; then the rounds.
images_measure() {
  local dir=$BENCH_WORK/images port pid
  . "$BENCH_WORK/imgcl/podman/env"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$dir/registry" "$port" >"$dir/registry.yml"
  docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
  pid=$!
  local i
  for i in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  local ref=127.0.0.1:$port/bench/img:1
  skopeo copy -q --dest-tls-verify=false "oci:$dir/layout:1" "docker://$ref"
  # The clients section's podman settings (containers.conf: cgroupfs, ulimits), but a
  # store of the round's own.
  local p="podman --tmpdir $BENCH_WORK/imgcl/podman/tmp --storage-driver overlay --events-backend file --cgroup-manager cgroupfs"
  # Each round starts from an empty store: husk's in $dir/store-husk, podman's a fresh
  # root and run root (its settings otherwise those of the clients section).
  local fresh_podman="rm -rf $dir/p-root $dir/p-run; $p --root $dir/p-root --runroot $dir/p-run"
  timeit rounds "$IMAGES_ROUNDS" "$BENCH_DATA/images.tsv" \
    "husk-pull=sh -c 'rm -rf $dir/store-husk; HUSK_STORE=$dir/store-husk $HUSK pull -q --insecure $ref >/dev/null && HUSK_STORE=$dir/store-husk $HUSK run --rm $ref true'" \
    "podman-pull=sh -c '$fresh_podman pull -q --tls-verify=false $ref >/dev/null && $p --root $dir/p-root --runroot $dir/p-run run --rm --network none $ref true'" \
    "husk-load=sh -c 'rm -rf $dir/store-husk; HUSK_STORE=$dir/store-husk $HUSK load -q -i $dir/oci.tar >/dev/null && HUSK_STORE=$dir/store-husk $HUSK run --rm localhost/bench/img:1 true'" \
    "podman-load=sh -c '$fresh_podman load -q -i $dir/oci.tar >/dev/null && $p --root $dir/p-root --runroot $dir/p-run run --rm --network none localhost/bench/img:1 true'"
  rm -rf "$dir/store-husk"
  $p --root "$dir/p-root" --runroot "$dir/p-run" system reset -f >/dev/null 2>&1 || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# The multi-layer build: rootfs-builder straight from the layout against umoci's unpack
# into a bundle and mkfs.ext4 -d of its rootfs, the same size.
images_build() {
  local dir=$BENCH_WORK/images size
  "$ROOTFS_BUILDER" -q "$dir/layout" -o "$dir/sized.ext4"
  size=$(stat -c %s "$dir/sized.ext4")
  timeit rounds "$IMG_RUNS" "$BENCH_DATA/images-build.tsv" \
    "rootfs-builder=sh -c 'sync; $ROOTFS_BUILDER -q $dir/layout -o $dir/ours.ext4; rm -f $dir/ours.ext4'" \
    "umoci+mkfs=sh -c 'sync; rm -rf $dir/bundle; umoci unpack --image $dir/layout:1 $dir/bundle >/dev/null && mkfs.ext4 -q -F -b 4096 -d $dir/bundle/rootfs $dir/theirs.ext4 $((size / 1024))k; rm -rf $dir/bundle $dir/theirs.ext4'"
}

section_images() {
  local dir=$BENCH_WORK/images
  for tool in docker-registry:docker-registry skopeo:skopeo umoci:umoci; do
    command -v "${tool%%:*}" >/dev/null 2>&1 ||
      { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${tool#*:}" >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${tool#*:}" >/dev/null; }; }
  done
  rm -rf "$dir"
  mkdir -p "$dir"
  images_layout "$dir/layout"
  tar -cf "$dir/oci.tar" -C "$dir/layout" .
  clients_install podman >/dev/null
  in_priv clients_podman "$BENCH_WORK/imgcl" "$HUSK" >/dev/null
  in_ns images_measure
  in_priv images_build
  local mb; mb=$(du -sm "$dir/oci.tar" | cut -f1)
  md "## Images"; md
  md "Getting a three-layer image ($mb MB: the Alpine minirootfs, $GEN_BIG × 1 MiB random files and $GEN_SMALL small ones, a layer with a whiteout) and running \`true\` in it the first time, into an empty store each round: \`husk pull\` + \`husk run\` against \`podman pull\` + \`podman run\` (overlay storage, its default runtime) from the same local registry (docker-registry on 127.0.0.1, plain HTTP), and \`load\` + \`run\` of the same OCI archive. $IMAGES_ROUNDS rounds, contenders alternating; medians."
  md
  md "| | husk (median, min–max) | podman (median, min–max) | husk / podman |"
  md "|---|---|---|---|"
  local what h p r targets=()
  for what in pull load; do
    h=$(sample "$BENCH_DATA/images.tsv" "husk-$what" median)
    p=$(sample "$BENCH_DATA/images.tsv" "podman-$what" median)
    r=$(calc "$h/$p" 2)
    md "| $what + first run | $(calc "$h" 3) s ($(calc "$(sample "$BENCH_DATA/images.tsv" "husk-$what" min)" 3)–$(calc "$(sample "$BENCH_DATA/images.tsv" "husk-$what" max)" 3)) | $(calc "$p" 3) s ($(calc "$(sample "$BENCH_DATA/images.tsv" "podman-$what" min)" 3)–$(calc "$(sample "$BENCH_DATA/images.tsv" "podman-$what" max)" 3)) | **$r×** |"
    targets+=("image $what + first run: husk / podman|$r×|≤ 1×|$(le "$r" 1)")
  done
  md
  local t
  for t in "${targets[@]}"; do
    IFS='|' read -r what h p r <<<"$t"
    target "$what" "$h" "$p" "$r"
  done
  md
  h=$(sample "$BENCH_DATA/images-build.tsv" rootfs-builder median)
  p=$(sample "$BENCH_DATA/images-build.tsv" umoci+mkfs median)
  r=$(calc "$h/$p" 2)
  md "Building that image into ext4 ($IMG_RUNS runs each, alternating, \`sync\` first): \`rootfs-builder LAYOUT -o IMAGE\` $(calc "$h" 3) s against \`umoci unpack\` + \`mkfs.ext4 -d\` (same size) $(calc "$p" 3) s: **$r×**."
  md
  target "multi-layer image build: rootfs-builder / umoci+mkfs" "$r×" "≤ 0.5×" "$(le "$r" 0.5)"
  md
  cmdline "# layout: bench/images.sh images_layout; registry: docker-registry serve (127.0.0.1, HTTP); skopeo copy oci:LAYOUT:1 docker://127.0.0.1:PORT/bench/img:1"
  cmdline "HUSK_STORE=S husk pull -q --insecure 127.0.0.1:PORT/bench/img:1 && HUSK_STORE=S husk run --rm 127.0.0.1:PORT/bench/img:1 true"
  cmdline "podman --root R --runroot RR --storage-driver overlay --cgroup-manager cgroupfs pull -q --tls-verify=false 127.0.0.1:PORT/bench/img:1 && podman ... run --rm --network none 127.0.0.1:PORT/bench/img:1 true"
  cmdline "HUSK_STORE=S husk load -q -i oci.tar && HUSK_STORE=S husk run --rm localhost/bench/img:1 true   # podman: load -q -i oci.tar && run"
  cmdline "rootfs-builder -q LAYOUT -o ours.ext4    # against: umoci unpack --image LAYOUT:1 BUNDLE && mkfs.ext4 -q -F -b 4096 -d BUNDLE/rootfs theirs.ext4 SIZE"
  md_cmds
  clients_cleanup "$BENCH_WORK/imgcl" >/dev/null 2>&1 || true
}
