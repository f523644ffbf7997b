#!/usr/bin/env bash
# Measures what streaming, sharding and resuming (issue 13) promise, in one sitting, release build:
#   1. memory flat in the number of records: peak RSS of `embed-protein` over 20,000 and 200,000
#      records (the test model, `.npy` output), and of `embed-text` over 20,000 and 200,000 lines;
#      ratio large / small (goal: within 1.10);
#   2. N shards on N cores against one process on N threads: records per second of `embed-protein`
#      over the same FASTA file, one process with MMATTN_NUM_THREADS=N against N processes of
#      `--shard k/N` with one thread each, pinned to core k (taskset), then `mmattn merge`;
#   3. the cost of resuming: a run killed (SIGKILL) half-way and resumed, against an uninterrupted
#      run, wall time of both parts together, and whether the files are the same bytes.
#
#   Fixtures/bench_scale_out.sh [MODEL] [RECORDS]
#
# MODEL (for 2 and 3): default Fixtures/large/esm2_t12_35M_UR50D when present (random weights of
# the real size, from Fixtures/make_large.py), else the test model; RECORDS for 2 and 3: default
# 2,000 (residues 50 to 300). N is the number of cores. SCRATCH selects the build folder (default
# .build). Inputs and outputs go to a temporary folder, removed at the end. Run it on an otherwise
# idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="${SCRATCH:-.build}"
model="${1:-}"
if [ -z "$model" ]; then
    model=Fixtures/models/esm2
    [ -d Fixtures/large/esm2_t12_35M_UR50D ] && model=Fixtures/large/esm2_t12_35M_UR50D
fi
records="${2:-2000}"
cores="$(nproc)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

swift build -c release --scratch-path "$scratch" --product mmattn >/dev/null
mmattn="$scratch/release/mmattn"

# A FASTA file of $1 records with 50 to 300 random residues each (awk's generator, fixed seed).
fasta() {
    awk -v n="$1" 'BEGIN { srand(13); a = "ACDEFGHIKLMNPQRSTVWY";
        for (i = 0; i < n; i++) { printf(">rec%d\n", i); len = 50 + int(rand() * 251); s = "";
            for (j = 0; j < len; j++) s = s substr(a, 1 + int(rand() * 20), 1); print s } }'
}
# A text file of $1 lines of 3 to 30 words.
lines() {
    awk -v n="$1" 'BEGIN { srand(17); split("the a protein model cat sees folds quickly over under data run", w, " ");
        for (i = 0; i < n; i++) { k = 3 + int(rand() * 28); s = w[1 + int(rand() * 12)];
            for (j = 1; j < k; j++) s = s " " w[1 + int(rand() * 12)]; print s } }'
}
# Peak RSS in MB and wall seconds of a command.
measure() {
    /usr/bin/time -f "%M %e" -o "$work/time" "$@" >/dev/null 2>"$work/stderr" || { cat "$work/stderr"; exit 1; }
    awk '{ printf("%.1f MB, %.2f s", $1 / 1024, $2) }' "$work/time"
}
peak_mb() { awk '{ print $1 / 1024 }' "$work/time"; }
# Seconds since $1 (a `date +%s.%N` reading).
elapsed() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { print e - s }'; }

echo "== 1. peak memory against the number of records (test models, .npy output)"
for n in 20000 200000; do fasta "$n" >"$work/p$n.faa"; lines "$n" >"$work/t$n.txt"; done
for kind in protein text; do
    for n in 20000 200000; do
        if [ "$kind" = protein ]; then
            result=$(measure "$mmattn" embed-protein "$work/p$n.faa" --model Fixtures/models/esm2 --output "$work/p.npy" --quiet)
        else
            result=$(measure "$mmattn" embed-text --input "$work/t$n.txt" --model Fixtures/models/bert --output "$work/t.npy" --quiet)
        fi
        eval "peak_${kind}_$n=$(peak_mb)"
        echo "embed-$kind, $n records: $result"
    done
    eval "small=\$peak_${kind}_20000; large=\$peak_${kind}_200000"
    awk -v s="$small" -v l="$large" -v k="$kind" 'BEGIN { printf("embed-%s: peak RSS 200,000 / 20,000 = %.3f (goal <= 1.10)\n", k, l / s) }'
done

echo "== 2. $cores shards on $cores cores against one process on $cores threads ($model, $records records)"
fasta "$records" >"$work/s.faa"
start=$(date +%s.%N)
MMATTN_NUM_THREADS=$cores "$mmattn" embed-protein "$work/s.faa" --model "$model" --output "$work/one.npy" --quiet 2>/dev/null
one=$(elapsed "$start")
start=$(date +%s.%N)
pids=()
for k in $(seq 0 $((cores - 1))); do
    MMATTN_NUM_THREADS=1 taskset -c "$k" "$mmattn" embed-protein "$work/s.faa" --model "$model" --shard "$k/$cores" \
        --output "$work/part-$k.npy" --quiet 2>/dev/null &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
"$mmattn" merge "$work"/part-*.npy --output "$work/merged.npy" 2>/dev/null
shards=$(elapsed "$start")
awk -v o="$one" -v s="$shards" -v n="$records" -v c="$cores" 'BEGIN {
    printf("one process, %d threads: %.2f s, %.1f records/s\n", c, o, n / o);
    printf("%d shards of 1 thread + merge: %.2f s, %.1f records/s\n", c, s, n / s);
    printf("shards / threads throughput = %.2f\n", o / s) }'

echo "== 3. killed half-way and resumed ($model, $records records, $cores threads)"
start=$(date +%s.%N)
"$mmattn" embed-protein "$work/s.faa" --model "$model" --output "$work/resumed.npy" --quiet 2>/dev/null &
pid=$!
sleep "$(awk -v o="$one" 'BEGIN { print o / 2 }')"
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
done_before=$(sed -n 's/.*"records": \([0-9]*\).*/\1/p' "$work/.resumed.npy.resume" 2>/dev/null || echo 0)
"$mmattn" embed-protein "$work/s.faa" --model "$model" --output "$work/resumed.npy" --resume --quiet 2>/dev/null
resumed=$(elapsed "$start")
same=$(cmp -s "$work/resumed.npy" "$work/one.npy" && echo "the same bytes" || echo "DIFFERENT bytes")
awk -v o="$one" -v r="$resumed" -v d="${done_before:-0}" -v s="$same" 'BEGIN {
    printf("killed after %d records were committed; killed + resumed: %.2f s against %.2f s uninterrupted (%.2f); %s\n", d, r, o, r / o, s) }'
