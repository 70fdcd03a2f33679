# Image building: rootfs-builder against tar -x + mkfs.ext4 -d making the same image
# (same size and features), via rootfs-builder/bench.sh.

section_image() {
  local tsv=$BENCH_DATA/image.tsv
  rm -f "$tsv"
  cmdline "ROOTFS_BUILDER=$ROOTFS_BUILDER RUNS=$IMG_RUNS GEN_BIG=$GEN_BIG GEN_SMALL=$GEN_SMALL BENCH_TSV=$tsv $BENCH_REPO/rootfs-builder/bench.sh"
  cmdline "# per run: rootfs-builder -q TARBALL -o ours.ext4"
  cmdline "# against: tar -xf TARBALL -C tree && mkfs.ext4 -q -F -b 4096 -I 256 -m 0 -O ^metadata_csum,^metadata_csum_seed,^64bit,^resize_inode,^dir_index,^orphan_file,^uninit_bg -E root_owner=0:0 -d tree theirs.ext4 SIZE"
  local log
  log=$(ROOTFS_BUILDER=$ROOTFS_BUILDER RUNS=$IMG_RUNS GEN_BIG=$GEN_BIG GEN_SMALL=$GEN_SMALL BENCH_TSV=$tsv \
    HUSK_ALPINE_TARBALL=$ALPINE_TARBALL BENCH_DIR=$BENCH_WORK/image-bench "$BENCH_REPO/rootfs-builder/bench.sh")
  md "## Image building"; md
  md "rootfs-builder against \`tar -x\` + \`mkfs.ext4 -d\` building an image of the same size and features ($IMG_RUNS runs each, medians; \`sync\` before each run). Tarballs: the Alpine minirootfs and a generated one ($GEN_BIG × 4 MiB random files and $GEN_SMALL small files)."
  md
  md "| tarball | rootfs-builder (median, min–max) | tar + mkfs.ext4 (median, min–max) | ratio | image bytes ours / mkfs | allocated KiB ours / mkfs | used blocks ours / mkfs |"
  md "|---|---|---|---|---|---|---|"
  echo "tarball rootfs-builder tar+mkfs" >"$BENCH_DATA/image.dat"
  # bench.sh's TSV: name ours_med ours_min ours_max theirs_med theirs_min theirs_max
  #                 size_ours size_theirs alloc_ours alloc_theirs used_ours used_theirs
  local name om on ox tm tn tx so st ao at uo ut
  while IFS=$'\t' read -r name om on ox tm tn tx so st ao at uo ut; do
    local r; r=$(calc "$om/$tm" 2)
    md "| $name | $(calc "$om" 3) s ($(calc "$on" 3)–$(calc "$ox" 3)) | $(calc "$tm" 3) s ($(calc "$tn" 3)–$(calc "$tx" 3)) | **$r×** | $so / $st | $ao / $at | $uo / $ut |"
    echo "$name $om $tm" >>"$BENCH_DATA/image.dat"
    target "image build $name: rootfs-builder / tar+mkfs" "$r×" "≤ 0.5×" "$(le "$r" 0.5)"
    target "image size $name: ours / mkfs (allocated KiB)" "$ao / $at KiB" "no larger" "$(le "$ao" "$at")"
  done <"$tsv"
  md
  cluster_chart "$BENCH_OUT/image.png" "Image building time (median)" "s" "$BENCH_DATA/image.dat"
  md "![image building](image.png)"; md
  md "<details><summary>bench.sh output</summary>"; md
  printf '%s\n' "$log" | code
  md; md "</details>"; md
  md_cmds
}
