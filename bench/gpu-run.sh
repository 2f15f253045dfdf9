#!/usr/bin/env bash
# The prepared real-GPU run (issue: speed, item 6): correctness first, then speed, each
# result written under OUT as it is made, so a run stopped at its time limit keeps what it
# finished. Runs from the repository root with binaries built beforehand on a machine with
# the same processor (`cargo build --release && cargo test --release --no-run`), since a
# lent GPU machine's time is short:
#   1. every kernel test binary (each variant against the f64 references, on this adapter);
#   2. `sturdy bench` (every table, the variants chosen) into OUT/BENCHMARKS.md;
#   3. bench/peers/compare.sh --device cuda (PyTorch eager on the same GPU) into OUT/peers.md;
#   4. the quick study's wall time into OUT/study.txt.
set -uo pipefail

usage() {
    cat <<'EOF'
Usage: bench/gpu-run.sh OUT [--skip-study]

OUT: a folder for the results (created): kernels.txt, BENCHMARKS.md, peers.md, study.txt.
Needs target/release/sturdy and the kernel test binary (target/release/deps/kernels-*),
built beforehand. STURDY_ADAPTER picks the adapter as for every sturdy command.

Example: bench/gpu-run.sh /tmp/gpu-results
EOF
}

[[ $# -ge 1 && "$1" != -h && "$1" != --help ]] || { usage; exit 0; }
out="$1"
skip_study="${2:-}"
mkdir -p "$out" || exit 1
cd "$(dirname "$0")/.." || exit 1
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
sturdy=target/release/sturdy
[[ -x "$sturdy" ]] || { echo "gpu-run.sh: $sturdy missing; build it first (cargo build --release)" >&2; exit 1; }

"$sturdy" devices >"$out/devices.txt" 2>&1
status=0
for binary in target/release/deps/kernels-*; do
    [[ -x "$binary" && ! "$binary" == *.d ]] || continue
    echo "== $binary" >>"$out/kernels.txt"
    "$binary" --test-threads 1 >>"$out/kernels.txt" 2>&1 || status=1
done
[[ -s "$out/kernels.txt" ]] || { echo "gpu-run.sh: no kernel test binary; run cargo test --release --no-run" >&2; exit 1; }

"$sturdy" bench --out "$out/BENCHMARKS.md" >"$out/bench.txt" 2>&1 || status=1
bash bench/peers/compare.sh --device cuda >"$out/peers.md" 2>"$out/peers.log" || status=1
if [[ "$skip_study" != --skip-study ]]; then
    start=$(date +%s)
    "$sturdy" study quick --out "$out/study" >"$out/study.log" 2>&1 || status=1
    echo "quick study: $(($(date +%s) - start)) s wall time on $(grep -m1 '^\[' "$out/devices.txt")" >"$out/study.txt"
fi
exit "$status"
