#!/usr/bin/env bash
# `mmattn serve` under HTTP load, against the same model run offline, in one sitting (release build):
#
#   Fixtures/bench_serve.sh [--duration 20s] [--connections 1,8,32,128] [--routes openai,tei]
#                           [--lines N] [--runs N] [--no-offline] [--batch-wait-ms MS] [--server-arg ARG]...
#   Fixtures/bench_serve.sh --soak MINUTES [--connections 32] [--batch-wait-ms MS] [--server-arg ARG]...
#
# 1. Offline baseline: `mmattn embed-text --input FILE --output X.npy` on the first --lines (default
#    2,000) lines of Fixtures/bench_serve/sentences.txt (one sentence of 8-15 words per line, made by
#    make_sentences.py), wall clock, median of --runs (default 3) processes: sentences/s as a user
#    sees it (model load included; embed-text packs 32 texts per forward). The same for the first 32
#    lines gives the fixed cost (start-up and load), so "steady" sentences/s leaves it out. The baseline
#    runs again after the server runs, and the ratios use the median of both sittings (the machine's
#    speed drifts; a VM's more so).
# 2. Server: `mmattn serve --model M --port 0` (a free port), waited for until it says "ready", then a
#    3 s warm-up, then for each route (openai: POST /v1/embeddings {"input", "model"}; tei: POST /embed
#    {"inputs"}) and each number of connections (after the server has finished the previous run's
#    leftover requests), `wrk -t1 -cC -d DURATION --latency --timeout 30s` with
#    Fixtures/bench_serve/embed.lua: one sentence per request, rotating through the sentence list, the
#    responses tallied by HTTP status. /metrics is read before and after each run: the mean batch size
#    (mmattn_batch_size sum / count) and the model's mean time per batch of that run.
# 3. A table: requests/s, p50 and p99 latency (wrk's latency histogram), responses by status, wrk's
#    socket errors, requests/s ÷ offline sentences/s (wall clock and steady), mean batch, the 1-minute
#    load average before the run; then the goals: at 32 connections ≥ 0.9 of offline; at 8, p99 < 2 × p50;
#    at 128, no status but 2xx and 429; `uptime` before and after.
# --soak MINUTES: only the server: wrk at 32 connections (--connections) on /v1/embeddings for that
#    long, the server's RSS (`ps -o rss=`) every 10 s; prints first, last and largest RSS, and the
#    least-squares slope over all samples and over the second half.
#
# wrk and the server share the machine's cores; so do other jobs: read the load averages.
# MMATTN is the binary (default .build/release/mmattn; build it with `swift build -c release`),
# MODEL the model folder (default Fixtures/large/all-MiniLM-L6-v2, the real weights; see
# Fixtures/README.md); --model overrides MODEL. MMATTN_NUM_THREADS reaches both mmattn processes.
# --batch-wait-ms MS is passed to the server (its default is 2); --server-arg passes any other option.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=20s
connections=""
routes=openai,tei
lines=2000
runs=3
offline=1
soak=""
server_args=()
model="${MODEL:-Fixtures/large/all-MiniLM-L6-v2}"
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration="$2"; shift 2 ;;
        --connections) connections="$2"; shift 2 ;;
        --routes) routes="$2"; shift 2 ;;
        --lines) lines="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --no-offline) offline=0; shift ;;
        --soak) soak="$2"; shift 2 ;;
        --model) model="$2"; shift 2 ;;
        --batch-wait-ms) server_args+=(--batch-wait-ms "$2"); shift 2 ;;
        --server-arg) server_args+=("$2"); shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
mmattn="${MMATTN:-.build/release/mmattn}"
sentences=Fixtures/bench_serve/sentences.txt
lua=Fixtures/bench_serve/embed.lua
[ -n "$connections" ] || { [ -n "$soak" ] && connections=32 || connections=1,8,32,128; }

[ -x "$mmattn" ] || { echo "error: $mmattn is missing; build it (swift build -c release) or set MMATTN" >&2; exit 1; }
[ -f "$model/config.json" ] || { echo "error: $model is not a model folder; see Fixtures/README.md or set MODEL" >&2; exit 1; }
command -v wrk >/dev/null || { echo "error: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
command -v curl >/dev/null || { echo "error: curl is not installed" >&2; exit 1; }
[[ "$lines" =~ ^[1-9][0-9]*$ ]] || { echo "error: --lines must be a positive integer" >&2; exit 2; }
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "error: --runs must be a positive integer" >&2; exit 2; }
[ -z "$soak" ] || awk -v m="$soak" 'BEGIN { exit !(m + 0 > 0) }' || { echo "error: --soak takes minutes (> 0)" >&2; exit 2; }
IFS=, read -r -a conn_list <<<"$connections"
IFS=, read -r -a route_list <<<"$routes"
for r in "${route_list[@]}"; do
    case "$r" in openai|tei) ;; *) echo "error: unknown route $r (openai, tei)" >&2; exit 2 ;; esac
done

work="$(mktemp -d)"
server_pid=""
stop_server() {
    [ -n "$server_pid" ] || return 0
    if kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$server_pid" 2>/dev/null && { say "the server did not stop in 10 s after SIGTERM; killing it"; kill -KILL "$server_pid" 2>/dev/null || true; }
    fi
    local rc=0
    wait "$server_pid" 2>/dev/null || rc=$?
    [ "$rc" = 0 ] || say "the server exited with status $rc"
    server_pid=""
}
trap 'stop_server; rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

load1() { uptime | sed 's/.*load average: *//; s/,.*//'; }
median() { sort -g "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
say() { echo "$*" >&2; }

echo "mmattn $(git rev-parse --short HEAD 2>/dev/null || echo '?') ($mmattn), model $model, $(nproc) cores," \
     "MMATTN_NUM_THREADS=${MMATTN_NUM_THREADS:-unset}, $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "uptime at start: $(uptime)"

# --- offline baseline ---------------------------------------------------------------------------
offline_rate=""; steady_rate=""
# The first $lines sentences (the list repeated if it is shorter), and the first 32 of them.
awk -v n="$lines" '{ s[NR] = $0 } END { for (i = 0; i < n; i++) print s[i % NR + 1] }' "$sentences" >"$work/lines.txt"
head -n 32 "$work/lines.txt" >"$work/lines32.txt"
time_embed() {  # seconds for one embed-text process on file $1
    local out="$work/out.npy" t0 t1
    rm -f "$work"/out.*
    t0=$EPOCHREALTIME
    "$mmattn" embed-text --input "$1" --model "$model" --output "$out" --quiet >/dev/null 2>"$work/embed.err" \
        || { cat "$work/embed.err" >&2; exit 1; }
    t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf("%.4f\n", b - a) }'
}
# --runs timings of $lines and of 32 lines, labelled $1 ("before" or "after" the server runs); the
# rates are computed over every timing so far.
offline_runs() {
    say "offline ($1): embed-text on $lines lines, $runs runs (and on 32 lines for the fixed cost) ..."
    time_embed "$work/lines32.txt" >/dev/null  # page in the binary and the weights
    : >"$work/t_full.$1"; : >"$work/t_small.$1"
    for _ in $(seq 1 "$runs"); do
        time_embed "$work/lines.txt" | tee -a "$work/t_full" >>"$work/t_full.$1"
        time_embed "$work/lines32.txt" | tee -a "$work/t_small" >>"$work/t_small.$1"
    done
    local full small
    full=$(median "$work/t_full.$1"); small=$(median "$work/t_small.$1")
    echo "offline embed-text ($1), $lines lines: $(paste -sd' ' "$work/t_full.$1" | sed 's/ /, /g') s" \
         "(median $full s = $(awk -v n="$lines" -v t="$full" 'BEGIN { printf("%.1f", n / t) }') sentences/s);" \
         "32 lines: median $small s (start-up and load); load $(load1)"
    t_full=$(median "$work/t_full"); t_small=$(median "$work/t_small")
    offline_rate=$(awk -v n="$lines" -v t="$t_full" 'BEGIN { printf("%.1f", n / t) }')
    steady_rate=$(awk -v n="$lines" -v t="$t_full" -v s="$t_small" 'BEGIN { printf("%.1f", (n - 32) / (t - s)) }')
}
if [ -z "$soak" ] && [ "$offline" = 1 ]; then
    echo
    offline_runs before
fi

# --- server ---------------------------------------------------------------------------------------
port=""
start_server() {
    say "starting: $mmattn serve --model $model --port 0 ${server_args[*]}"
    "$mmattn" serve --model "$model" --port 0 ${server_args[@]+"${server_args[@]}"} 2>"$work/server.log" &
    server_pid=$!
    for _ in $(seq 1 1200); do
        grep -q "mmattn serve: ready" "$work/server.log" && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "error: the server exited" >&2; exit 1; }
        sleep 0.1
    done
    grep -q "mmattn serve: ready" "$work/server.log" || { cat "$work/server.log" >&2; echo "error: the server was not ready in 120 s" >&2; exit 1; }
    port=$(sed -n 's|.*listening on http://[^ ]*:\([0-9][0-9]*\);.*|\1|p' "$work/server.log" | head -1)
    [ -n "$port" ] || { cat "$work/server.log" >&2; echo "error: no port in the server's output" >&2; exit 1; }
    say "$(cat "$work/server.log")"
}

# Sums of the batch histograms on /metrics: "size_sum size_count seconds_sum seconds_count cost_sum".
metrics() {
    curl -sf "http://127.0.0.1:$port/metrics" | awk '
        /^mmattn_batch_size_sum/ { a += $NF } /^mmattn_batch_size_count/ { b += $NF }
        /^mmattn_batch_duration_seconds_sum/ { c += $NF } /^mmattn_batch_duration_seconds_count/ { d += $NF }
        /^mmattn_batch_cost_sum/ { e += $NF }
        END { printf("%s %s %s %s %s\n", a + 0, b + 0, c + 0, d + 0, e + 0) }'
}

# Wait until the server has finished what a previous wrk left queued (the batch count on /metrics
# stays the same for a second; at most 30 s), so that no run starts behind another's requests.
settle() {
    local before after
    before=$(metrics | cut -d' ' -f2)
    for _ in $(seq 1 30); do
        sleep 1
        after=$(metrics | cut -d' ' -f2)
        [ "$after" = "$before" ] && return 0
        before=$after
    done
}

route_path() { [ "$1" = tei ] && echo /embed || echo /v1/embeddings; }

# wrk for route $1, connections $2, duration $3; its output to $4.
run_wrk() {
    wrk -t1 -c"$2" -d"$3" --timeout 30s --latency -s "$lua" "http://127.0.0.1:$port$(route_path "$1")" -- "$1" "$sentences" >"$4" 2>&1 \
        || { cat "$4" >&2; echo "error: wrk failed" >&2; exit 1; }
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$2"; }  # a key=value of the BENCH line in file $2

start_server
say "warm-up: 3 s at 8 connections on /v1/embeddings"
run_wrk openai 8 3s "$work/warmup.txt"

# --- soak ---------------------------------------------------------------------------------------
if [ -n "$soak" ]; then
    seconds=$(awk -v m="$soak" 'BEGIN { printf("%d", m * 60) }')
    c="${conn_list[0]}"
    settle
    idle=$(ps -o rss= -p "$server_pid" | tr -d ' ')
    echo "soak: $soak min, $c connections on /v1/embeddings; RSS after warm-up ${idle} KB; load $(load1)"
    run_wrk openai "$c" "${seconds}s" "$work/soak.txt" &
    wrk_pid=$!
    t0=$EPOCHREALTIME
    while kill -0 "$wrk_pid" 2>/dev/null; do
        sleep 10
        kill -0 "$wrk_pid" 2>/dev/null || break
        rss=$(ps -o rss= -p "$server_pid" | tr -d ' ') || { echo "error: the server is gone" >&2; exit 1; }
        t=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf("%.1f", b - a) }')
        echo "$t $rss $(load1)" >>"$work/rss.txt"
        say "  t=${t}s rss=${rss} KB load $(load1)"
    done
    wait "$wrk_pid"
    grep '^BENCH' "$work/soak.txt" >&2 || true
    echo
    awk '{ t[NR] = $1; r[NR] = $2 / 1024 } END {
        if (NR < 2) { print "too few RSS samples"; exit }
        max = r[1]; for (i = 1; i <= NR; i++) if (r[i] > max) max = r[i]
        printf("RSS (MB, every 10 s, %d samples): first %.1f at %ss, last %.1f at %ss, max %.1f\n", NR, r[1], t[1], r[NR], t[NR], max)
        n = 0; sx = sy = sxx = sxy = 0
        for (i = 1; i <= NR; i++) { x = t[i] / 60; sx += x; sy += r[i]; sxx += x * x; sxy += x * r[i]; n++ }
        printf("slope over all samples: %.3f MB/min", (n * sxy - sx * sy) / (n * sxx - sx * sx))
        h = int(NR / 2) + 1; n = 0; sx = sy = sxx = sxy = 0
        for (i = h; i <= NR; i++) { x = t[i] / 60; sx += x; sy += r[i]; sxx += x * x; sxy += x * r[i]; n++ }
        if (n >= 2) printf("; over the second half: %.3f MB/min", (n * sxy - sx * sy) / (n * sxx - sx * sx))
        printf("\n") }' "$work/rss.txt"
    f=$work/soak.txt
    echo "requests/s $(field rps "$f"), p50 $(awk -v u="$(field p50_us "$f")" 'BEGIN { printf("%.1f", u / 1000) }') ms," \
         "p99 $(awk -v u="$(field p99_us "$f")" 'BEGIN { printf("%.1f", u / 1000) }') ms, statuses $(field statuses "$f")," \
         "socket errors connect/read/write/timeout $(field connect "$f")/$(field read "$f")/$(field write "$f")/$(field timeout "$f")"
    awk '{ print $3 }' "$work/rss.txt" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf("load average (1 min) at the samples: %s–%s\n", lo, hi) }'
    echo "uptime at end: $(uptime)"
    exit 0
fi

# --- load runs ----------------------------------------------------------------------------------
ms() { awk -v u="$1" 'BEGIN { printf("%.1f", u / 1000) }'; }
ratio() { [ -z "$2" ] && { echo "n/a"; return; }; awk -v a="$1" -v b="$2" 'BEGIN { printf("%.2f", a / b) }'; }
: >"$work/rows"
for route in "${route_list[@]}"; do
    for c in "${conn_list[@]}"; do
        settle
        l=$(load1)
        say "$route $(route_path "$route"), $c connections, $duration ... (load $l)"
        m0=$(metrics)
        run_wrk "$route" "$c" "$duration" "$work/wrk.txt"
        m1=$(metrics)
        sed -n '/Latency Distribution/,/requests in/p' "$work/wrk.txt" >&2
        grep '^BENCH' "$work/wrk.txt" >&2 || { cat "$work/wrk.txt" >&2; echo "error: no BENCH line from wrk" >&2; exit 1; }
        f=$work/wrk.txt
        read -r batch batch_ms tokens < <(echo "$m0 $m1" | awk '{
            n = $7 - $2; d = $9 - $4
            printf("%s %s %s\n", n > 0 ? sprintf("%.1f", ($6 - $1) / n) : "n/a", d > 0 ? sprintf("%.1f", ($8 - $3) / d * 1000) : "n/a",
                   n > 0 ? sprintf("%.1f", ($10 - $5) / n) : "n/a") }')
        echo "$route $c $(field rps "$f") $(field p50_us "$f") $(field p99_us "$f") $(field statuses "$f")" \
             "$(field connect "$f")/$(field read "$f")/$(field write "$f")/$(field timeout "$f") $batch $batch_ms $tokens $l" >>"$work/rows"
    done
done
stop_server
if [ "$offline" = 1 ]; then
    offline_runs after
fi
echo "uptime at end: $(uptime)"

echo
echo "| route | conns | req/s | p50 ms | p99 ms | p99/p50 | responses by status | socket errors c/r/w/t | ÷ offline | ÷ steady | mean batch | ms/batch | tokens/batch | load 1m |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
while read -r route c rps p50 p99 statuses sock batch batch_ms tokens l; do
    echo "| $(route_path "$route") | $c | $rps | $(ms "$p50") | $(ms "$p99") | $(ratio "$p99" "$p50") | $statuses | $sock |" \
         "$(ratio "$rps" "$offline_rate") | $(ratio "$rps" "$steady_rate") | $batch | $batch_ms | $tokens | $l |"
done <"$work/rows"
[ -z "$offline_rate" ] || echo "offline (median of the $(wc -l <"$work/t_full") timings before and after): $offline_rate sentences/s" \
                             "(wall clock, $lines lines), steady $steady_rate sentences/s (the 32-line fixed cost taken off)"

echo
echo "goals:"
while read -r route c rps p50 p99 statuses sock _; do
    p=$(route_path "$route")
    case "$c" in
        32) [ -z "$offline_rate" ] || awk -v r="$rps" -v o="$offline_rate" -v p="$p" 'BEGIN {
                printf("  %s at 32 connections: %.2f of offline (goal ≥ 0.90): %s\n", p, r / o, r / o >= 0.9 ? "met" : "MISSED") }' ;;
        8) awk -v a="$p99" -v b="$p50" -v p="$p" 'BEGIN {
                printf("  %s at 8 connections: p99/p50 %.2f (goal < 2): %s\n", p, a / b, a < 2 * b ? "met" : "MISSED") }' ;;
        128) other=$(echo "$statuses" | tr , '\n' | grep -v -E '^(2[0-9][0-9]|429):|^none$' | paste -sd, || true)
             [ "$sock" = 0/0/0/0 ] || other="${other:+$other, }socket errors $sock"
             echo "  $p at 128 connections: ${other:-no status but 2xx and 429} (goal: only 429s): $([ -z "$other" ] && echo met || echo MISSED)" ;;
    esac
done <"$work/rows"
