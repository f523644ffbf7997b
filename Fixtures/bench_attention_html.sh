#!/usr/bin/env bash
# Measures the HTML attention view (`mmattn attention --html`) at 1,000 tokens × 12 layers × 12 heads:
#   1. the Swift side (release build): time of AttentionHTML.document and the size of the page, for
#      diffuse rows (softmax of N(0, 1) logits, as a randomly initialised model gives), peaky rows
#      (softmax of N(0, 9) logits) and a 1,025-token image page (class token + 32 × 32 patches);
#   2. the page in headless Chromium (Fixtures/attention_viewer_harness.html in bench mode): time
#      from navigation start to the first drawn head view, and, while the pointer hovers a new token
#      every frame (120 frames, fitted zoom and one token per row), the script time per frame (frame
#      start to the end of the viewer's redraw) and the interval between frames, median and p95.
# Goals (issue 12): page under 20 MB, first paint under 1 s, hover under 16 ms per frame.
#
#   Fixtures/bench_attention_html.sh [RUNS]      (RUNS: Chromium runs per page, default 3)
#
# Needs Debian's `chromium` for step 2 (apt-get install chromium); SCRATCH selects the build folder
# (default .build). Pages and logs go to a temporary folder, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
scratch="${SCRATCH:-.build}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

swift build -c release --scratch-path "$scratch" --product attention-html-bench >/dev/null
bench="$scratch/release/attention-html-bench"

echo "== Swift: AttentionHTML.document (release)"
"$bench" "$work/diffuse.html" --tokens 1000 --sigma 1
"$bench" "$work/peaky.html" --tokens 1000 --sigma 3
"$bench" "$work/image.html" --tokens 1025 --sigma 1 --image

if ! command -v chromium >/dev/null; then
    echo "chromium is not installed: skipping the browser measurements (apt-get install chromium)"
    exit 0
fi
harness="$(pwd)/Fixtures/attention_viewer_harness.html"
echo "== Chromium $(chromium --version 2>/dev/null | head -1)"
for page in diffuse peaky image; do
    for run in $(seq 1 "$runs"); do
        log="$work/$page-$run.log"
        chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$work/profile-$page-$run" \
            --allow-file-access-from-files --enable-logging=stderr --log-level=0 --window-size=1280,1100 \
            "file://$harness?doc=file://$work/$page.html&mode=bench" 2>"$log" &
        pid=$!
        for _ in $(seq 1 240); do
            grep -q "MMATTN-HARNESS" "$log" && break
            sleep 0.5
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        report="$(grep -a -o 'MMATTN-HARNESS {.*}' "$log" | sed 's/^MMATTN-HARNESS //' || true)"
        if [ -z "$report" ]; then
            echo "$page run $run: no report from the harness (see Chromium's log below)"
            tail -20 "$log"
            exit 1
        fi
        python3 - "$page" "$run" "$report" <<'PY'
import json, sys
page, run, report = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
b = report.get("bench", {})
def hover(name):
    h = b.get(name, {})
    return (f"script {h.get('scriptMedianMs', 0):.1f} / {h.get('scriptP95Ms', 0):.1f} ms, "
            f"interval {h.get('intervalMedianMs', 0):.1f} / {h.get('intervalP95Ms', 0):.1f} ms")
print(f"{page} run {run}: first draw {b.get('firstDrawMs', 0):.0f} ms; hover (median / p95) "
      f"at {b.get('tokensPerRowFitted')} tokens per row: {hover('hoverFitted')}; "
      f"at 1 per row: {hover('hoverOneTokenPerRow')}; layer switch {b.get('layerSwitchMs', 0):.0f} ms"
      + (f"; errors: {report['errors']}" if report.get("errors") else ""))
PY
    done
done
