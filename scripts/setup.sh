#!/usr/bin/env bash
# Installs the system libraries mmattn links against (Debian/Ubuntu). Idempotent: safe to run again.
# With --tests, also what only the tests use: Chromium, which the attention page's browser test drives,
# and Slurm with munge, for scripts/slurm/smoke.sh (a one-node cluster running the job-array script).
set -euo pipefail
packages=(pkg-config libpng-dev zlib1g-dev libopenblas-dev libsndfile1-dev libfftw3-dev libsoxr-dev
          libavformat-dev libavcodec-dev libswscale-dev libavutil-dev)
if [ "${1:-}" = "--tests" ]; then
    packages+=(slurm-wlm munge)
    # Debian packages Chromium; Ubuntu ships it only as a snap, which the tests cannot drive in a
    # container: there the browser tests are skipped unless a chromium is on the PATH.
    if grep -q '^ID=debian' /etc/os-release 2>/dev/null; then
        packages+=(chromium)
    elif ! command -v chromium >/dev/null; then
        echo "note: Chromium is packaged by Debian only; without chromium on the PATH the browser tests are skipped" >&2
    fi
elif [ $# -gt 0 ]; then
    echo "usage: bash scripts/setup.sh [--tests]" >&2
    exit 2
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${missing[@]}"
fi
command -v swift >/dev/null || { echo "error: swift is not on PATH: install Swift 6 from swift.org" >&2; exit 1; }
