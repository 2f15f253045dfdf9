#!/usr/bin/env bash
# Prepares bench/gpu-run.sh for a machine with a GPU but no network and little time (a
# borrowed one): builds here what it runs, gathers into .gpu/ (ignored by git) what a bare
# machine lacks, and prints the paths to copy there beside the working tree.
#   - target/release/sturdy and the kernel test binary (cargo build / test --release);
#   - .gpu/data/fashion-mnist: the quick study's images, the first 10,000 training and
#     2,000 test images of Fashion-MNIST (gzipped IDX, 5 MB instead of 30);
#   - .gpu/debs: Debian's Vulkan loader (libvulkan1), for a machine whose GPU driver is
#     there but no loader is; gpu-run.sh unpacks it only where none is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    cat <<'EOF'
Usage: bench/gpu-prepare.sh

Builds the release binary and the test binaries, writes .gpu/ (the quick study's subset of
Fashion-MNIST, the Vulkan loader package), and prints the paths to take to the GPU machine.
There, from the repository root: bash bench/gpu-run.sh OUT

Example: bench/gpu-prepare.sh && ls -R .gpu
EOF
}

die() {
    echo "gpu-prepare.sh: $*" >&2
    exit 1
}

if [[ $# -gt 0 ]]; then
    [[ "$1" == -h || "$1" == --help ]] && { usage; exit 0; }
    usage >&2
    die "unknown argument '$1'"
fi

cargo build --release
cargo test --release --no-run
kernels="$(ls -t target/release/deps/kernels-* | grep -v '\.d$' | head -n 1)"
[[ -x "$kernels" ]] || die "no kernel test binary in target/release/deps after cargo test --release --no-run"

# The quick study's sizes, as the study itself gives them.
quick_setting() {
    target/release/sturdy study quick --print-config | awk -F' = ' -v key="$1" '$1 == key { print $2; exit }'
}
train_images="$(quick_setting train_limit)"
test_images="$(quick_setting test_limit)"
[[ "$train_images" =~ ^[0-9]+$ && "$test_images" =~ ^[0-9]+$ ]] \
    || die "sturdy study quick --print-config gave no train_limit and test_limit"

# The bytes of the given values (0 to 255).
bytes() {
    local value
    for value; do printf "\\$(printf %03o "$value")"; done
}

# The first COUNT items of gzipped IDX file SOURCE into TARGET: its magic number, the new
# count, the rest of its header (DIMS - 1 more dimensions), then COUNT items of ITEM bytes.
idx_head() {
    local source=$1 target=$2 count=$3 dims=$4 item=$5
    local header=$((4 + 4 * dims)) start have
    start=($(set +o pipefail; gzip -dc "$source" | od -An -tu1 -N8))
    have=$((start[4] * 16777216 + start[5] * 65536 + start[6] * 256 + start[7]))
    ((have >= count)) || die "$source holds $have items, fewer than the $count wanted"
    {
        bytes "${start[@]:0:4}" $((count >> 24 & 255)) $((count >> 16 & 255)) $((count >> 8 & 255)) $((count & 255))
        (set +o pipefail; gzip -dc "$source" | tail -c +9 | head -c $((header - 8 + count * item)))
    } | gzip -n >"$target.part"
    mv "$target.part" "$target"
}

source_dir=/usr/share/datasets/fashion-mnist
[[ -d "$source_dir" ]] || datasets/fetch >/dev/null || die "no Fashion-MNIST in $source_dir; datasets/fetch failed"
data=.gpu/data/fashion-mnist
mkdir -p "$data" .gpu/debs
idx_head "$source_dir/train-images-idx3-ubyte.gz" "$data/train-images-idx3-ubyte.gz" "$train_images" 3 784
idx_head "$source_dir/train-labels-idx1-ubyte.gz" "$data/train-labels-idx1-ubyte.gz" "$train_images" 1 1
idx_head "$source_dir/t10k-images-idx3-ubyte.gz" "$data/t10k-images-idx3-ubyte.gz" "$test_images" 3 784
idx_head "$source_dir/t10k-labels-idx1-ubyte.gz" "$data/t10k-labels-idx1-ubyte.gz" "$test_images" 1 1

if ! (cd .gpu/debs && apt-get download libvulkan1 >/dev/null 2>&1); then
    echo "gpu-prepare.sh: apt-get download libvulkan1 failed; the GPU machine must have a Vulkan loader" >&2
fi

echo "Take these paths to the GPU machine (beside the working tree), $(du -shc .gpu target/release/sturdy "$kernels" | tail -n 1 | cut -f1) in all:"
echo "  .gpu target/release/sturdy $kernels"
echo "There, from the repository root: bash bench/gpu-run.sh OUT"
