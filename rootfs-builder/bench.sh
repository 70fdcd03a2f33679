#!/usr/bin/env bash
# Time rootfs-builder against `tar -x` + `mkfs.ext4 -d` building the same
# image (same size, same features) from the Alpine minirootfs and from a
# generated ~200 MiB tarball. Prints medians, the ratio and image sizes.
#
#   ./bench.sh            # RUNS=5 by default; BENCH_DIR to keep the files
#
# ROOTFS_BUILDER=path uses that binary instead of building one; GEN_BIG (4 MiB
# files, 40) and GEN_SMALL (small files, 4000) size the generated tarball;
# BENCH_TSV=file appends one tab-separated line per tarball for bench/run.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
alpine=${HUSK_ALPINE_TARBALL:-$here/../../shared/images/alpine-minirootfs-3.20.3-x86_64.tar.gz}
runs=${RUNS:-5}
work=${BENCH_DIR:-$(mktemp -d /tmp/rootfs-bench.XXXXXX)}
mkdir -p "$work"
[[ -z ${BENCH_DIR:-} ]] && trap 'rm -rf "$work"' EXIT

bin=${ROOTFS_BUILDER:-}
if [[ -z $bin ]]; then
    # A workspace member: the binary lands in the workspace's target directory.
    cargo build --release --quiet --manifest-path "$here/Cargo.toml"
    bin=$(cargo metadata --format-version 1 --no-deps --manifest-path "$here/Cargo.toml" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    bin=$(ls -t "$bin"/*/release/rootfs-builder "$bin"/release/rootfs-builder 2>/dev/null | head -1)
fi
big=${GEN_BIG:-40} small=${GEN_SMALL:-4000}

# Features rootfs-builder writes; everything else mkfs.ext4 enables by default is switched off.
features='^metadata_csum,^metadata_csum_seed,^64bit,^resize_inode,^dir_index,^orphan_file,^uninit_bg'

generated=$work/generated-$big-$small.tar
if [[ ! -f $generated ]]; then
    gen=$work/gen
    mkdir -p "$gen/big" "$gen/small"
    for i in $(seq 1 "$big"); do head -c $((4 << 20)) /dev/urandom > "$gen/big/blob$i"; done
    for i in $(seq 1 "$small"); do head -c $((RANDOM % 8192 + 1)) /dev/urandom > "$gen/small/f$i"; done
    tar -cf "$generated" -C "$gen" .
    rm -rf "$gen"
fi

now() { echo "${EPOCHREALTIME/,/.}"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
minmax() { sort -n | awk 'NR==1 {lo=$1} {hi=$1} END {print lo "\t" hi}'; }
used_blocks() { e2fsck -fn "$1" 2>/dev/null | awk -F'[ /]+' '/blocks$/ {print $(NF-2)}'; }

bench() {
    local name=$1 tarball=$2
    local ours=$work/ours.ext4 theirs=$work/theirs.ext4 tree=$work/tree
    local t_ours=() t_theirs=()
    for _ in $(seq "$runs"); do
        rm -f "$ours"; sync
        local s; s=$(now)
        "$bin" -q "$tarball" -o "$ours"
        t_ours+=("$(echo "$(now) - $s" | awk '{print $1 - $3}')")
    done
    local size; size=$(stat -c %s "$ours")
    for _ in $(seq "$runs"); do
        rm -rf "$tree" "$theirs"; mkdir -p "$tree"; sync
        local s; s=$(now)
        tar -xf "$tarball" -C "$tree"
        mkfs.ext4 -q -F -b 4096 -I 256 -m 0 -O "$features" -E root_owner=0:0 -d "$tree" "$theirs" "$((size / 1024))k" >/dev/null
        t_theirs+=("$(echo "$(now) - $s" | awk '{print $1 - $3}')")
    done
    rm -rf "$tree"
    e2fsck -fn "$ours" >/dev/null 2>&1 || echo "WARNING: e2fsck not clean on our $name image"
    local mo mt
    mo=$(printf '%s\n' "${t_ours[@]}" | median)
    mt=$(printf '%s\n' "${t_theirs[@]}" | median)
    printf '%-10s rootfs-builder %.3fs  tar+mkfs %.3fs  ratio %.2f\n' "$name" "$mo" "$mt" "$(awk "BEGIN{print $mo/$mt}")"
    printf '%-10s image size: ours %s bytes (%s KiB allocated), mkfs %s bytes (%s KiB allocated)\n' "$name" \
        "$size" "$(du -k "$ours" | cut -f1)" "$(stat -c %s "$theirs")" "$(du -k "$theirs" | cut -f1)"
    printf '%-10s used blocks: ours %s, mkfs %s\n' "$name" "$(used_blocks "$ours")" "$(used_blocks "$theirs")"
    if [[ -n ${BENCH_TSV:-} ]]; then
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" \
            "$mo" "$(printf '%s\n' "${t_ours[@]}" | minmax)" "$mt" "$(printf '%s\n' "${t_theirs[@]}" | minmax)" \
            "$size" "$(stat -c %s "$theirs")" "$(du -k "$ours" | cut -f1)" "$(du -k "$theirs" | cut -f1)" \
            "$(used_blocks "$ours")" "$(used_blocks "$theirs")" >>"$BENCH_TSV"
    fi
}

echo "medians of $runs runs"
if [[ -f $alpine ]]; then bench alpine "$alpine"; else echo "alpine: SKIPPED, $alpine not found"; fi
bench generated "$generated"
