#!/usr/bin/env bash
# Coverage-guided fuzzing of every input format mmattn reads (libFuzzer with AddressSanitizer, and
# UndefinedBehaviorSanitizer on the C kernels). Builds the `mmattn-fuzz` binary once, then runs each
# target for --seconds (default 60): the committed corpus (Fuzz/corpus/TARGET, which grows with what
# the run finds and is minimized after it), the fixtures and, when it is beside the clone, the shared
# bad-input corpus as seeds, and the target's dictionary (Fuzz/dictionaries). A finding (crash,
# sanitizer report, timeout, out-of-memory) is kept in Fuzz/findings/TARGET/; replay it with
# `swift run mmattn-fuzz TARGET FILE`. A target passes when it ran its time without a finding.
#
#   bash scripts/fuzz.sh [--seconds N] [--no-merge] [--debug] [TARGET...]   (all targets when none is named)
#
# --debug builds without optimization (in .build-fuzz-debug): a faster build, slower runs, for CI's
# few seconds per target.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=60 merge=1 config=release targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
        --no-merge) merge=0; shift ;;
        --debug) config=debug; shift ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
all=(safetensors pickle npy config st-config tokenizer-json tokenize png audio fasta video server)
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
for t in "${targets[@]}"; do
    [[ " ${all[*]} " == *" $t "* ]] || { echo "error: no target \"$t\"; targets: ${all[*]}" >&2; exit 2; }
done

scratch=.build-fuzz
[ $config = debug ] && scratch=.build-fuzz-debug
mkdir -p "$scratch"
echo "building mmattn-fuzz ($config, libFuzzer + AddressSanitizer) in $scratch ..."
swift build -c $config --product mmattn-fuzz --scratch-path "$scratch" \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld \
    -Xcc -fsanitize=fuzzer-no-link,address,undefined -Xcc -fno-sanitize-recover=undefined >"$scratch/build.log" 2>&1 \
    || { tail -30 "$scratch/build.log"; echo "error: the fuzzing build failed (the whole log: $scratch/build.log)" >&2; exit 1; }
bin="$scratch/$config/mmattn-fuzz"
shared=../shared/badinputs

# Seeds: files, or folders of them, run before fuzzing starts (never written to).
seeds() {
    case "$1" in
        safetensors) echo Fixtures/safetensors/reference.safetensors Fixtures/models/esm2-model/model.safetensors "$shared/safetensors" ;;
        pickle) echo Fixtures/checkpoint-forms/views/pytorch_model.bin Fixtures/checkpoint-forms/esm2-model/pytorch_model.bin ;;
        npy) echo Fixtures/checkpoint-forms/esm2-bf16/input_ids.npy Fixtures/checkpoint-forms/esm2-bf16/hidden_states.npy ;;
        config) echo Fixtures/models/*/config.json "$shared/json" ;;
        tokenizer-json) echo Fixtures/tokenizers/wordpiece-*/tokenizer.json Fixtures/models/{bert,gpt2,roberta,modernbert,qwen3-embedding}/tokenizer.json "$shared/json" ;;
        png) echo Fixtures/images/horse.png Fixtures/images/kinds "$shared/png" ;;
        audio) echo Fixtures/audio/bell.oga Fixtures/audio/cards-001.wav "$shared/audio" ;;
        fasta) echo Fixtures/protein/LuxC.faa "$shared/fasta" ;;
        video) echo Fixtures/video/fade.mkv Fixtures/video/pan.mp4 Fixtures/video/pan.mov Fixtures/video/zoom.webm ;;
    esac
}
# Longest input, in bytes: large enough for the seeds, small enough to keep executions fast.
max_len() {
    case "$1" in
        safetensors|pickle|png|audio|video) echo 262144 ;;
        tokenizer-json) echo 65536 ;;
        *) echo 16384 ;;
    esac
}

# Sanitizer reports as they are (the Swift runtime's own backtracer would run inside ASan's
# handler), and the leaks of system libraries that are not ours (Fuzz/lsan.supp) left out.
export SWIFT_BACKTRACE=enable=no LSAN_OPTIONS="suppressions=$PWD/Fuzz/lsan.supp:print_suppressions=0"

passed=0 failed=0
for t in "${targets[@]}"; do
    corpus="Fuzz/corpus/$t" findings="Fuzz/findings/$t" log="$scratch/logs/$t.log"
    mkdir -p "$corpus" "$findings" "$scratch/logs"
    # libFuzzer reads corpora from folders: the seeds are copied into one.
    seeded="$scratch/seeds/$t"
    rm -rf "$seeded" && mkdir -p "$seeded"
    for s in $(seeds "$t"); do
        if [ -d "$s" ]; then find "$s" -maxdepth 1 -type f -exec cp {} "$seeded/" \;
        elif [ -f "$s" ]; then cp "$s" "$seeded/$(echo "$s" | tr / _)"; fi
    done
    dict=() ; [ -f "Fuzz/dictionaries/$t.dict" ] && dict=(-dict="Fuzz/dictionaries/$t.dict")
    before=$(ls "$findings" | wc -l)
    MMATTN_FUZZ_TARGET="$t" "$bin" -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$findings/" -print_final_stats=1 "${dict[@]}" \
        "$corpus" "$seeded" >"$log" 2>&1
    status=$?
    after=$(ls "$findings" | wc -l)
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    edges=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    rss=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    summary="${runs:-0} runs, ${rate:-0} exec/s, ${edges:-0} edges, peak RSS ${rss:-?} MB"
    if [ $status -eq 0 ] && [ "$after" -eq "$before" ]; then
        passed=$((passed + 1))
        echo "$t: passed in ${seconds} s ($summary)"
    else
        failed=$((failed + 1))
        echo "$t: FAILED ($summary); the finding is in $findings/, the log in $log:"
        grep -m3 -E 'ERROR|SUMMARY|Fatal error|deadly signal|timeout|out-of-memory' "$log" | sed 's/^/    /'
    fi
    if [ $merge -eq 1 ] && [ -n "$(ls "$corpus")" ]; then
        # Keep the smallest set of inputs that covers what the corpus covers.
        rm -rf "$corpus.min" && mkdir -p "$corpus.min"
        MMATTN_FUZZ_TARGET="$t" "$bin" -merge=1 -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix="$findings/" "$corpus.min" "$corpus" >>"$log" 2>&1 \
            && rm -rf "$corpus" && mv "$corpus.min" "$corpus" || rm -rf "$corpus.min"
    fi
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
