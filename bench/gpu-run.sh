#!/usr/bin/env bash
# The prepared real-GPU run (issue: speed, item 6): correctness first, then speed, each
# result written under OUT as it is made, so a run stopped at its time limit keeps what it
# finished. Runs from the repository root with binaries built beforehand on a machine with
# the same processor by bench/gpu-prepare.sh, which also gathers into .gpu/ what a bare
# machine without network lacks (the quick study's images, the Vulkan loader), since a
# lent GPU machine's time is short:
#   1. every kernel test binary (each variant against the f64 references, on this adapter);
#   2. `sturdy bench` (every table, the variants chosen) into OUT/BENCHMARKS.md;
#   3. bench/peers/compare.sh --device cuda (PyTorch eager on the same GPU) into OUT/peers.md;
#   4. the quick study's wall time and summary into OUT/study.txt.
set -uo pipefail

usage() {
    cat <<'EOF'
Usage: bench/gpu-run.sh OUT [--skip-study] [--any-adapter]

OUT: a folder for the results (created): kernels.txt, BENCHMARKS.md, peers.md, study.txt.
Needs target/release/sturdy and the kernel test binary (target/release/deps/kernels-*),
built beforehand, and uses what bench/gpu-prepare.sh put in .gpu/ where this machine lacks
it. STURDY_ADAPTER picks the adapter as for every sturdy command.

  --skip-study    leave out the quick study
  --any-adapter   run on a CPU adapter too (a rehearsal); otherwise the run stops after
                  devices.txt when no GPU adapter is found

Example: bench/gpu-run.sh /tmp/gpu-results
EOF
}

[[ $# -ge 1 && "$1" != -h && "$1" != --help ]] || { usage; exit 0; }
mkdir -p "$1" || exit 1
out="$(cd "$1" && pwd)"
shift
skip_study="" any_adapter=""
for option in "$@"; do
    case "$option" in
        --skip-study) skip_study=1 ;;
        --any-adapter) any_adapter=1 ;;
        *) usage >&2; echo "gpu-run.sh: unknown option '$option'" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$0")/.." || exit 1
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
sturdy=target/release/sturdy
[[ -x "$sturdy" ]] || { echo "gpu-run.sh: $sturdy missing; build it first (cargo build --release)" >&2; exit 1; }

# What bench/gpu-prepare.sh gathered: the Vulkan loader where none is installed, and the
# quick study's images (the first ones of Fashion-MNIST: the study reads no others).
if [[ -d .gpu/debs ]] && ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
    for deb in .gpu/debs/*.deb; do dpkg -x "$deb" /; done
    ldconfig
fi
if [[ -z "${STURDY_DATA_DIR:-}" && -d .gpu/data/fashion-mnist ]]; then
    export STURDY_DATA_DIR="$PWD/.gpu/data"
fi
# NVIDIA's driver mounted into a container registers its Vulkan driver there, not in the
# loader's folders.
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [[ -z "${VK_DRIVER_FILES:-}" && -f "$nvidia_icd" ]] \
    && ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
    export VK_DRIVER_FILES="$nvidia_icd"
fi

"$sturdy" devices >"$out/devices.txt" 2>&1
if [[ -z "$any_adapter" ]] && ! grep -q 'type \(DiscreteGpu\|IntegratedGpu\|VirtualGpu\)' "$out/devices.txt"; then
    echo "gpu-run.sh: no GPU adapter (devices.txt: $(head -n 1 "$out/devices.txt")); check the Vulkan driver, or pass --any-adapter" >&2
    exit 1
fi
status=0
for binary in target/release/deps/kernels-*; do
    [[ -x "$binary" && ! "$binary" == *.d ]] || continue
    echo "== $binary" >>"$out/kernels.txt"
    "$binary" --test-threads 1 >>"$out/kernels.txt" 2>&1 || status=1
done
[[ -s "$out/kernels.txt" ]] || { echo "gpu-run.sh: no kernel test binary; run cargo test --release --no-run" >&2; exit 1; }

"$sturdy" bench --out "$out/BENCHMARKS.md" >"$out/bench.txt" 2>&1 || status=1
bash bench/peers/compare.sh --device cuda >"$out/peers.md" 2>"$out/peers.log" || status=1
if [[ -z "$skip_study" ]]; then
    start=$(date +%s)
    # The study's own folder stays out of OUT: a lent machine returns only a few files.
    study="$(mktemp -d)/study"
    "$sturdy" study quick --out "$study" >"$out/study.log" 2>&1 || status=1
    echo "quick study: $(($(date +%s) - start)) s wall time on $(grep -m1 '^\[' "$out/devices.txt")" >"$out/study.txt"
    cat "$study/summary.txt" >>"$out/study.txt" 2>/dev/null
fi
exit "$status"
