#!/usr/bin/env bash
# GEMM throughput of Debian's oneDNN (libdnnl-dev) and OpenBLAS on the project's Linear shapes.
#
#     bash Fixtures/bench_gemm_onednn.sh [--runs 20] [--shapes square1024,vit_b8_fc1]
#
# Compiles bench_gemm_onednn.c (gcc -O2, oneDNN and OpenBLAS found with pkg-config where they ship
# a .pc file, else plain -ldnnl / -lopenblas) into a temporary directory, then runs it one process
# at a time: OpenBLAS at 1 and 2 threads, oneDNN with OMP_NUM_THREADS=1 and 2, then oneDNN once
# more with ONEDNN_VERBOSE=1 on square1024 to show the kernels it dispatches to. The arguments go to
# every run (see the .c file for what is measured). Prints the load average before and after, the
# libraries' version and ISA lines ('#'), one table sorted by shape, the verbose lines, and one JSON
# object per table row. Other processes on the cores skew the numbers, the 2-thread ones most: a
# thread that waits for a descheduled partner loses whole scheduler time slices.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cflags="$(pkg-config --cflags dnnl 2>/dev/null || true) $(pkg-config --cflags openblas 2>/dev/null || true)"
libs="$(pkg-config --libs dnnl 2>/dev/null || echo -ldnnl) $(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)"
# shellcheck disable=SC2086
gcc -O2 -std=c11 -Wall -Wextra -o "$work/bench" "$here/bench_gemm_onednn.c" $cflags $libs -lm

echo "# before: $(uptime)"
echo "# OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
for threads in 1 2; do
    "$work/bench" --lib openblas --threads "$threads" --no-header "$@" >>"$work/out"
done
for threads in 1 2; do
    OMP_NUM_THREADS=$threads "$work/bench" --lib onednn --threads "$threads" --no-header "$@" >>"$work/out"
done
echo "# after: $(uptime)"

grep '^#' "$work/out" | sort -u
printf '%-12s %5s %5s %5s  %-8s %-16s %2s %9s %9s %8s %9s  %s\n' shape M N K lib variant th median_ms min_ms \
    GFLOP/s err implementation
# Rows keep the .c file's shape order (first appearance), then library, variant and threads.
grep -v -e '^#' -e '^{' "$work/out" |
    awk '!($1 in order) { order[$1] = n++ } { printf "%03d %s\n", order[$1], $0 }' |
    sort -s -k1,1n -k6,6 -k7,7 -k8,8n | cut -d' ' -f2-

echo "# ONEDNN_VERBOSE=1 on square1024, 1 timed run:"
OMP_NUM_THREADS=2 ONEDNN_VERBOSE=1 "$work/bench" --lib onednn --threads 2 --runs 1 --shapes square1024 \
    --no-header | grep -E '^(onednn|dnnl)_verbose,(info,cpu,isa|exec)' | awk -F, '!seen[$4 FS $5 FS $6 FS $7]++'

grep '^{' "$work/out"
