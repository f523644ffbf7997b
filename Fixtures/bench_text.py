"""Baseline timings for the text path: tokenization throughput and all-MiniLM-L6-v2 in PyTorch.

    python Fixtures/make_large.py all-MiniLM-L6-v2 gpt2.tiktoken english.txt hard-2mb.txt   # once
    python Fixtures/bench_text.py [--runs 3] [--model-runs 10] [--skip-model]

Prints one JSON object on stdout:

- tokenization: MB/s (10^6 bytes of input UTF-8 per second, newlines not counted) over every line of
  large/english.txt and large/hard-2mb.txt, for
  - `tokenizers` with Fixtures/tokenizers/gpt2-whisper/tokenizer.json and bert-uncased/tokenizer.json:
    Tokenizer.encode_batch(lines, add_special_tokens=False), in a child process started with
    RAYON_NUM_THREADS=1 and one with RAYON_NUM_THREADS=2 (the thread pool is fixed at the first parallel
    call). bert-uncased's tokenizer.json configures truncation to 128 and padding to 128, which transformers'
    tokenizer(text) ignores: both are switched off here, so every line is tokenized whole;
  - `tiktoken` with GPT-2's ranks (large/gpt2.tiktoken, GPT-2's pattern, <|endoftext|> = 50256):
    Encoding.encode_ordinary_batch(lines, num_threads=1 and 2).
  Two more rows show how much of that is per-line overhead in Python: `tokenizers-fast` is
  encode_batch_fast (ids without offsets), `tiktoken-loop` calls encode_ordinary once per line without
  encode_ordinary_batch's thread pool (which costs more than the tokenization on short lines).
  Each: one warm-up pass over the first 2,000 lines, then --runs passes over the file; median and best.
  Also whether tiktoken's ids equal tokenizers' gpt2-whisper ids line by line on the English file.
- minilm: SentenceTransformer(large/all-MiniLM-L6-v2) forward (BERT, mean pooling, normalize) on a batch of
  32 texts x 128 tokens (real English text from english.txt, every text truncated to exactly 128
  tokens, no padding), torch.set_num_threads(2), inference mode, fp32, with transformers' default attention
  (sdpa) and eager; median and best of --model-runs after 2 warm-ups; plus model.encode on the same 32 texts.

The machine's load average before and after is recorded: other processes on the cores skew the numbers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LARGE = HERE / "large"
FILES = {"english": LARGE / "english.txt", "hard-2mb": LARGE / "hard-2mb.txt"}
TOKENIZERS = {"gpt2-whisper": HERE / "tokenizers" / "gpt2-whisper" / "tokenizer.json",
              "bert-uncased": HERE / "tokenizers" / "bert-uncased" / "tokenizer.json"}
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def read_lines(path: Path) -> list[str]:
    if not path.is_file():
        sys.exit(f"error: {path} is missing; run python Fixtures/make_large.py {path.name}")
    text = path.read_text(encoding="utf-8")
    return text[:-1].split("\n") if text.endswith("\n") else text.split("\n")


def tiktoken_gpt2():
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    path = LARGE / "gpt2.tiktoken"
    if not path.is_file():
        sys.exit(f"error: {path} is missing; run python Fixtures/make_large.py gpt2.tiktoken")
    ranks = load_tiktoken_bpe(str(path))
    return tiktoken.Encoding(name="gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                             special_tokens={"<|endoftext|>": 50256}, explicit_n_vocab=50257)


def make_encoder(tool: str, name: str, threads: int):
    if tool.startswith("tokenizers"):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(TOKENIZERS[name]))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        if tool == "tokenizers-fast":  # ids without offsets
            return lambda lines: tokenizer.encode_batch_fast(lines, add_special_tokens=False)
        return lambda lines: tokenizer.encode_batch(lines, add_special_tokens=False)
    encoding = tiktoken_gpt2()
    if tool == "tiktoken-loop":  # one encode_ordinary call per line, no thread pool
        return lambda lines: [encoding.encode_ordinary(line) for line in lines]
    return lambda lines: encoding.encode_ordinary_batch(lines, num_threads=threads)


def worker(args) -> None:
    """One measurement, in its own process (RAYON_NUM_THREADS is read once per process)."""
    lines = read_lines(FILES[args.file])
    size = sum(len(line.encode()) for line in lines)
    encode = make_encoder(args.tool, args.tokenizer, args.threads)
    encode(lines[:2000])
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        encode(lines)
        times.append(time.perf_counter() - start)
    print(json.dumps({"mb_per_s_median": round(size / 1e6 / statistics.median(times), 2),
                      "mb_per_s_best": round(size / 1e6 / min(times), 2),
                      "seconds_median": round(statistics.median(times), 3), "runs": args.runs}))


def measure(tool: str, tokenizer: str, file: str, threads: int, runs: int) -> dict:
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="true")
    command = [sys.executable, __file__, "--worker", "--tool", tool, "--tokenizer", tokenizer, "--file", file,
               "--threads", str(threads), "--runs", str(runs)]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def compare_ids() -> dict:
    """tiktoken's GPT-2 ids against tokenizers' (gpt2-whisper, no special tokens) on every English line."""
    from tokenizers import Tokenizer

    lines = read_lines(FILES["english"])
    tokenizer = Tokenizer.from_file(str(TOKENIZERS["gpt2-whisper"]))
    encoding = tiktoken_gpt2()
    ours = [e.ids for e in tokenizer.encode_batch(lines, add_special_tokens=False)]
    theirs = encoding.encode_ordinary_batch(lines, num_threads=2)
    differ = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    first = None
    if differ:
        i = differ[0]
        first = {"line": i, "text": lines[i][:200], "tokenizers": ours[i][:40], "tiktoken": theirs[i][:40]}
    return {"lines": len(lines), "tokens": sum(map(len, ours)), "lines_that_differ": len(differ),
            "first_difference": first}


def bench_minilm(model_runs: int) -> dict:
    import torch
    import sentence_transformers
    from sentence_transformers import SentenceTransformer

    folder = LARGE / "all-MiniLM-L6-v2"
    if not (folder / "model.safetensors").is_file():
        sys.exit(f"error: {folder} is missing; run python Fixtures/make_large.py all-MiniLM-L6-v2")
    torch.set_num_threads(2)
    lines = read_lines(FILES["english"])
    texts, current = [], []
    for line in lines:
        current.append(line.strip())
        if sum(len(c.split()) for c in current) >= 200:
            texts.append(" ".join(current))
            current = []
        if len(texts) == 32:
            break
    results = {"sentence_transformers": sentence_transformers.__version__, "threads": torch.get_num_threads(),
               "batch": 32, "seq": 128}
    for attn in ["sdpa", "eager"]:
        start = time.perf_counter()
        model = SentenceTransformer(str(folder), device="cpu", model_kwargs={"attn_implementation": attn})
        load_ms = 1e3 * (time.perf_counter() - start)
        model.max_seq_length = 128
        model.eval()
        features = model.preprocess(texts) if hasattr(model, "preprocess") else model.tokenize(texts)
        assert tuple(features["input_ids"].shape) == (32, 128) and bool(features["attention_mask"].all())

        def forward():
            with torch.inference_mode():
                return model(dict(features))["sentence_embedding"]

        times = []
        for i in range(2 + model_runs):
            start = time.perf_counter()
            forward()
            if i >= 2:
                times.append(time.perf_counter() - start)
        encode_times = []
        for i in range(1 + max(3, model_runs // 2)):
            start = time.perf_counter()
            model.encode(texts, batch_size=32, convert_to_numpy=True)
            if i >= 1:
                encode_times.append(time.perf_counter() - start)
        results[attn] = {"load_ms": round(load_ms, 1),
                         "forward_ms_median": round(1e3 * statistics.median(times), 2),
                         "forward_ms_best": round(1e3 * min(times), 2), "runs": model_runs,
                         "encode_ms_median": round(1e3 * statistics.median(encode_times), 2),
                         "encode_runs": len(encode_times)}
    return results


def describe(path: Path) -> dict:
    data = path.read_bytes()
    return {"bytes": len(data), "lines": data.count(b"\n"), "sha256": hashlib.sha256(data).hexdigest()[:16]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="timed passes over each file (default 3)")
    parser.add_argument("--model-runs", type=int, default=10, help="timed MiniLM forwards (default 10)")
    parser.add_argument("--skip-model", action="store_true", help="tokenization only")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tool", help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0

    import tiktoken
    import tokenizers
    import torch
    import transformers

    results = {
        "machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "tokenizers": tokenizers.__version__, "tiktoken": tiktoken.__version__, "torch": torch.__version__,
        "transformers": transformers.__version__,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "files": {name: describe(path) for name, path in FILES.items() if path.is_file()},
        "tokenization_mb_per_s": {},
    }
    for file in FILES:
        rows = {}
        for tool, tokenizer, thread_counts in [
            ("tokenizers", "gpt2-whisper", [1, 2]), ("tokenizers", "bert-uncased", [1, 2]),
            ("tiktoken", "gpt2", [1, 2]),
            ("tokenizers-fast", "gpt2-whisper", [1, 2]), ("tiktoken-loop", "gpt2", [1]),
        ]:
            for threads in thread_counts:
                key = f"{tool} {tokenizer} {threads} thread{'s' if threads > 1 else ''}"
                rows[key] = measure(tool, tokenizer, file, threads, args.runs)
                print(f"{file}: {key}: {rows[key]['mb_per_s_median']} MB/s", file=sys.stderr)
        results["tokenization_mb_per_s"][file] = rows
    results["tiktoken_vs_tokenizers_ids_english"] = compare_ids()
    if not args.skip_model:
        results["minilm"] = bench_minilm(args.model_runs)
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
