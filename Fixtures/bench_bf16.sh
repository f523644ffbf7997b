#!/usr/bin/env bash
# mmattn's bf16 forward pass (issue 14: bf16 weights, GEMMs and attention on bf16 inputs with fp32
# accumulation) against its own f32 and against PyTorch with bf16 weights, in one sitting, release
# build, the same number of threads for both:
#
#   Fixtures/bench_bf16.sh [--rounds N] [--runs N] [--threads N] [--workloads vit1,vit8,whisper,esm,minilm] [--no-build]
#
# Workloads (the real-size checkpoints of Fixtures/make_large.py in Fixtures/large/):
#   vit1     ViT-B/16 224 (vit-base-patch16-224), 1 image
#   vit8     ViT-B/16 224, 8 images
#   whisper  Whisper-base encoder (whisper-base), one 30 s window of log-mel features
#   esm      ESM-2 650M (esm2_t33_650M_UR50D), 1 sequence of 1,022 residues (1,024 tokens with
#            <cls> and <eos>; the longest mmattn takes)
#   minilm   all-MiniLM-L6-v2 (real weights), 32 sequences of 128 tokens
# For each round and workload, one after another: `mmattn bench model --dtype f32`, the same with
# `--dtype bf16`, then Fixtures/bench_torch.py with --dtype fp32 and with --dtype bf16 (sdpa,
# `model.to(torch.bfloat16)`). Every process loads its model afresh; each reports the median of
# its timed passes after a warm-up (--runs; default 10 for vit1, 5 for vit8, whisper and minilm,
# 3 for esm). Only forward passes are timed: the base model's last hidden state, no head.
#
# The table gives each round's median per cell, then mmattn bf16 / PyTorch bf16 and mmattn bf16 /
# mmattn f32 from the medians over the rounds; "n/a" where mmattn refused --dtype bf16. The load
# average (1 minute) is read before every measurement: other processes on the cores skew them.
#
# Defaults: 2 rounds, 2 threads (MMATTN_NUM_THREADS for mmattn, torch.set_num_threads for PyTorch).
# SCRATCH selects the build folder (default .build; the binary is $SCRATCH/release/mmattn, built
# with `swift build -c release` unless --no-build). PYTHON is the interpreter with torch and
# transformers (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=2
threads=2
runs=""
workloads="vit1,vit8,whisper,esm,minilm"
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --workloads) workloads="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
scratch="${SCRATCH:-.build}"
python="${PYTHON:-python3}"
mmattn="$scratch/release/mmattn"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# name -> label | model folder | mmattn options | bench_torch.py case and options | default runs
declare -A label folder mm_args torch_args default_runs
label[vit1]="ViT-B/16 224, 1 image";           folder[vit1]=vit-base-patch16-224
mm_args[vit1]="--batch 1";                      torch_args[vit1]="--cases vit";     default_runs[vit1]=10
label[vit8]="ViT-B/16 224, 8 images";          folder[vit8]=vit-base-patch16-224
mm_args[vit8]="--batch 8";                      torch_args[vit8]="--cases vit8";    default_runs[vit8]=5
label[whisper]="Whisper-base encoder, 30 s";   folder[whisper]=whisper-base
mm_args[whisper]="--batch 1";                   torch_args[whisper]="--cases whisper"; default_runs[whisper]=5
label[esm]="ESM-2 650M, 1,022 residues";       folder[esm]=esm2_t33_650M_UR50D
mm_args[esm]="--batch 1 --seq 1022";            torch_args[esm]="--cases esm --esm-residues 1022"; default_runs[esm]=3
label[minilm]="all-MiniLM-L6-v2, 32 × 128";   folder[minilm]=all-MiniLM-L6-v2
mm_args[minilm]="--batch 32 --seq 128";         torch_args[minilm]="--cases minilm"; default_runs[minilm]=5

IFS=, read -r -a names <<<"$workloads"
for name in "${names[@]}"; do
    [ -n "${label[$name]:-}" ] || { echo "error: unknown workload $name (vit1, vit8, whisper, esm, minilm)" >&2; exit 2; }
    [ -f "Fixtures/large/${folder[$name]}/config.json" ] \
        || { echo "error: Fixtures/large/${folder[$name]} is missing; run python Fixtures/make_large.py ${folder[$name]}" >&2; exit 1; }
done

if [ "$build" = 1 ]; then
    swift build -c release --scratch-path "$scratch" --product mmattn >/dev/null
fi
[ -x "$mmattn" ] || { echo "error: $mmattn is missing; build it (swift build -c release) or set SCRATCH" >&2; exit 1; }

loadavg() { "$python" -c 'import os; print(f"{os.getloadavg()[0]:.2f}")' >>"$work/loadavg"; }

# mmattn's forward median in ms for workload $1, dtype $2, runs $3; "n/a" when another dtype ran
# (bf16 on a CPU without AVX-512 BF16 runs f32, and bench model says so in its JSON).
run_mmattn() {
    loadavg
    # shellcheck disable=SC2086
    if MMATTN_NUM_THREADS="$threads" "$mmattn" bench model --model "Fixtures/large/${folder[$1]}" ${mm_args[$1]} \
        --dtype "$2" --runs "$3" --json >"$work/out" 2>"$work/err"; then
        "$python" -c 'import json, sys; o = json.load(sys.stdin); print(o["forward_ms"] if o["dtype"] == sys.argv[1] else "n/a")' \
            "$2" <"$work/out"
    else
        cat "$work/err" >&2
        exit 1
    fi
}

# PyTorch's forward median in ms for workload $1, dtype $2, runs $3 (sdpa); its header goes to $work/torch.json.
run_torch() {
    loadavg
    # shellcheck disable=SC2086
    "$python" Fixtures/bench_torch.py --threads "$threads" --attn sdpa --dtype "$2" --runs "$3" ${torch_args[$1]} \
        >"$work/torch.json" 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
    "$python" -c 'import json, sys
forward = [v["median_ms"] for v in json.load(sys.stdin).values() if isinstance(v, dict) and "dtype" in v]
assert len(forward) == 1, forward
print(forward[0])' <"$work/torch.json"
}

loadavg
for round in $(seq 1 "$rounds"); do
    for name in "${names[@]}"; do
        n="${runs:-${default_runs[$name]}}"
        echo "round $round: $name ..." >&2
        run_mmattn "$name" f32 "$n" >>"$work/$name.mm_f32"
        run_mmattn "$name" bf16 "$n" >>"$work/$name.mm_bf16"
        run_torch "$name" fp32 "$n" >>"$work/$name.torch_fp32"
        run_torch "$name" bf16 "$n" >>"$work/$name.torch_bf16"
    done
done
loadavg

# The rounds of one cell, "a, b"; the median of a cell ("n/a" if any round is); a / b to 2 places.
cell() { awk '{ printf("%s%s", NR > 1 ? ", " : "", $1 == "n/a" ? $1 : sprintf("%.1f", $1)) }' "$1"; }
median() { grep -q n/a "$1" && { echo n/a; return; }; sort -g "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { [ "$1" = n/a ] || [ "$2" = n/a ] && { echo n/a; return; }; awk -v a="$1" -v b="$2" 'BEGIN { printf("%.2f", a / b) }'; }

"$python" - "$work/torch.json" <<'EOF'
import json, sys
h = json.load(open(sys.argv[1]))
flags = " ".join(h["cpu_bf16_flags"]) or "none"
print(f"PyTorch {h['torch']}, transformers {h['transformers']}, cpu_capability {h['cpu_capability']}, "
      f"oneDNN bf16 {h['mkldnn_bf16']}, CPU bf16 flags {flags}")
EOF
echo "mmattn $(git rev-parse --short HEAD) ($mmattn), $threads threads, $rounds round(s), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo
echo "| workload | mmattn f32 ms | mmattn bf16 ms | torch fp32 ms | torch bf16 ms | bf16/torch-bf16 | bf16/own-f32 |"
echo "|---|---|---|---|---|---|---|"
for name in "${names[@]}"; do
    bf16=$(median "$work/$name.mm_bf16")
    echo "| ${label[$name]} | $(cell "$work/$name.mm_f32") | $(cell "$work/$name.mm_bf16") | $(cell "$work/$name.torch_fp32") |" \
         "$(cell "$work/$name.torch_bf16") | $(ratio "$bf16" "$(median "$work/$name.torch_bf16")") | $(ratio "$bf16" "$(median "$work/$name.mm_f32")") |"
done
echo
sort -g "$work/loadavg" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf("load average (1 min) before each measurement: %s–%s\n", lo, hi) }'
