#!/usr/bin/env bash
# sturdy against PyTorch on the same training steps: alternates `sturdy bench --only steps`
# and bench/peers/torch_step.py (A B A B A B ...), then prints a markdown table of median
# images/s per model and the PyTorch/sturdy ratio, with the ratio of each A B pair.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bench/peers/compare.sh [--batch N] [--rounds N] [--threads N] [--device cpu|cuda]

Alternates `sturdy bench --only steps` (ResNet-20 and small CNN training steps) with
bench/peers/torch_step.py, the same models and steps in PyTorch, --rounds times each
(default 3, at least 3), and prints a markdown table: median images/s of each, the
PyTorch/sturdy ratio of the medians, and the ratio of each alternated pair.

  --batch N      images per step for both (default 128)
  --rounds N     runs of each (default 3)
  --threads N    PyTorch's CPU threads (default with --device cpu: nproc, the threads
                 llvmpipe/lavapipe runs sturdy's kernels on; torch alone may pick fewer)
  --device D     PyTorch's device: cpu (default) or cuda
  --help         this text

PyTorch runs in the first of $PYTHON, /usr/bin/python3 (Debian's python3-torch) and the
python3 on PATH (a virtual environment's) that imports torch; when none does, Debian's
python3-torch is installed (apt-get, as root or through sudo). target/release/sturdy is
built when it is missing. sturdy runs on its default adapter; set STURDY_ADAPTER to choose
another.

Example: bash bench/peers/compare.sh --rounds 3 --threads 2
EOF
}

die() {
    echo "compare.sh: $*" >&2
    exit 1
}

batch=128
rounds=3
threads=""
device=cpu
while [[ $# -gt 0 ]]; do
    case "$1" in
        --batch) batch="${2:?--batch needs a value}"; shift 2 ;;
        --rounds) rounds="${2:?--rounds needs a value}"; shift 2 ;;
        --threads) threads="${2:?--threads needs a value}"; shift 2 ;;
        --device) device="${2:?--device needs a value}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument '$1'" ;;
    esac
done
[[ "$batch" =~ ^[0-9]+$ && "$batch" -ge 2 ]] || die "--batch must be an integer >= 2, got '$batch'"
[[ "$rounds" =~ ^[0-9]+$ && "$rounds" -ge 3 ]] || die "--rounds must be an integer >= 3, got '$rounds'"
[[ -z "$threads" || "$threads" =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive integer, got '$threads'"
[[ "$device" == cpu || "$device" == cuda ]] || die "--device must be cpu or cuda, got '$device'"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
sturdy="$root/target/release/sturdy"

# The first Python that imports torch: $PYTHON, then the system one, where Debian's
# python3-torch lives (pyenv may shadow python3 on PATH), then python3 on PATH.
python=""
for candidate in ${PYTHON:+"$PYTHON"} /usr/bin/python3 "$(command -v python3 || true)"; do
    if [[ -x "$candidate" ]] && "$candidate" -c 'import torch' 2>/dev/null; then
        python="$candidate"
        break
    fi
done
if [[ -z "$python" ]]; then
    python=/usr/bin/python3
    [[ -x "$python" ]] || die "no Python imports torch, and $python is missing: install Debian's python3-torch (apt-get install python3-torch) or set PYTHON"
    echo "compare.sh: no Python imports torch; installing Debian's python3-torch" >&2
    if [[ "$(id -u)" -eq 0 ]]; then
        apt_get=(apt-get)
    elif command -v sudo >/dev/null; then
        apt_get=(sudo apt-get)
    else
        die "torch is missing and installing it needs root or sudo: apt-get install python3-torch"
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${apt_get[@]}" update -q >&2 || die "apt-get update failed"
    "${apt_get[@]}" install -y -q python3-torch >&2 || die "apt-get install python3-torch failed"
    "$python" -c 'import torch' || die "python3-torch installed, but $python still cannot import torch"
fi

if [[ ! -x "$sturdy" ]]; then
    echo "compare.sh: $sturdy missing; building it (cargo build --release)" >&2
    (cd "$root" && cargo build --release >&2) || die "cargo build --release failed"
fi

if [[ -z "${XDG_RUNTIME_DIR:-}" ]]; then
    XDG_RUNTIME_DIR="$(mktemp -d)"
    export XDG_RUNTIME_DIR
    trap 'rm -rf "$XDG_RUNTIME_DIR"' EXIT
fi
logs="$(mktemp -d)"

torch_args=(--device "$device" --batch "$batch")
if [[ -z "$threads" && "$device" == cpu ]]; then
    threads="$(nproc)"
fi
if [[ -n "$threads" ]]; then
    torch_args+=(--threads "$threads")
fi

# images/s of both models' vanilla steps (exact ReLUs, no Mixup: what torch_step.py runs)
# from `sturdy bench --only steps` (the images/s column of the one table that has one;
# other tables' headers reset it).
sturdy_rates() {
    awk -F'|' '
        /^\| model \|/ {
            col = 0; recipe = 0
            for (i = 2; i < NF; i++) { h = $i; gsub(/^ +| +$/, "", h); if (h == "images/s") col = i; if (h == "recipe") recipe = i }
        }
        function vanilla() { v = $recipe; gsub(/ /, "", v); return v == "vanilla" }
        col && recipe && /^\| ResNet-20 \|/ && vanilla() { r = $col; gsub(/ /, "", r) }
        col && recipe && /^\| small CNN \|/ && vanilla() { s = $col; gsub(/ /, "", s) }
        END { if (r == "" || s == "") exit 1; print r, s }
    ' "$1"
}

# images/s of both models from torch_step.py ("MODEL images/s N" lines).
torch_rates() {
    awk '
        $1 == "resnet20" && $2 == "images/s" { r = $3 }
        $1 == "smallcnn" && $2 == "images/s" { s = $3 }
        END { if (r == "" || s == "") exit 1; print r, s }
    ' "$1"
}

sturdy_resnet=() sturdy_small=() torch_resnet=() torch_small=()
for round in $(seq 1 "$rounds"); do
    log="$logs/sturdy-$round.txt"
    echo "compare.sh: round $round/$rounds: sturdy bench --only steps --batch $batch" >&2
    "$sturdy" bench --only steps --batch "$batch" >"$log" 2>"$log.err" \
        || { cat "$log.err" >&2; die "sturdy bench failed (round $round; logs in $logs)"; }
    read -r a b < <(sturdy_rates "$log") || die "no images/s for both models in $log"
    sturdy_resnet+=("$a") sturdy_small+=("$b")
    if [[ "$round" -eq 1 ]]; then
        adapter="$(grep -m1 '^benchmarking' "$log.err" || true)"
    fi

    log="$logs/torch-$round.txt"
    echo "compare.sh: round $round/$rounds: torch_step.py ${torch_args[*]}" >&2
    "$python" "$here/torch_step.py" "${torch_args[@]}" >"$log" 2>"$log.err" \
        || { cat "$log.err" >&2; die "torch_step.py failed (round $round; logs in $logs)"; }
    read -r a b < <(torch_rates "$log") || die "no images/s for both models in $log"
    torch_resnet+=("$a") torch_small+=("$b")
    if [[ "$round" -eq 1 ]]; then
        torch_info="$(grep -m1 '^# torch' "$log" || true)"
    fi
done

# One table row: model name, then sturdy's and PyTorch's rates as space-separated lists.
row() {
    awk -v name="$1" -v s="$2" -v t="$3" '
        function median(a, n,   i, j, x) {
            for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        BEGIN {
            n = split(s, sa, " "); split(t, ta, " ")
            pairs = ""
            for (i = 1; i <= n; i++) pairs = pairs (i > 1 ? ", " : "") sprintf("%.2f", ta[i] / sa[i])
            ms = median(sa, n); mt = median(ta, n)
            printf "| %s | %.1f | %.1f | %.2f | %s |\n", name, ms, mt, mt / ms, pairs
        }'
}

echo "sturdy: ${adapter:-adapter unknown}"
echo "PyTorch: ${torch_info#\# }"
echo "Runs: $rounds of each, alternated; batch $batch. Logs: $logs"
echo
echo "| model | sturdy images/s (median) | PyTorch images/s (median) | PyTorch / sturdy | per-pair ratios |"
echo "| --- | --- | --- | --- | --- |"
row "ResNet-20 (3x32x32)" "${sturdy_resnet[*]}" "${torch_resnet[*]}"
row "small CNN (1x28x28)" "${sturdy_small[*]}" "${torch_small[*]}"
