"""PyTorch baseline timings on the real-size random models of `make_large.py`.

    python Fixtures/make_large.py      # once
    python Fixtures/bench_torch.py [--threads 2] [--runs 10] [--attn sdpa,eager] [--cases vit,whisper,esm,modernbert,qwen3,timesformer,videomae]

fp32, eager PyTorch (no compile), inference mode, `torch.set_num_threads(2)`
by default. The machine's load average before and after is recorded with
the numbers: other processes on the cores skew them. Each case runs warm-up passes, then `--runs` timed passes
(fewer for ESM-2 at 1024 residues, see `runs` in the output); the median and
minimum wall times are printed as one JSON object on stdout. Attention runs
with each implementation given by `--attn` ("sdpa" is what transformers picks
by default, "eager" is the plain matmul-softmax-matmul path).

Long-sequence cases (`--cases modernbert,qwen3`), batch 1, random token ids, no attention mask
(no padding), the base model's last hidden state (no MLM head):
- `modernbert`: ModernBERT-base (random weights, real size) at 512, 2048 and 8192 tokens, sdpa and
  eager. Global layers (every 3rd) attend to everything; transformers gives the sliding-window layers
  (128 tokens: |i - j| <= 64) a T x T boolean mask, so both implementations still do T^2 work there.
- `qwen3`: Qwen3-Embedding-0.6B with 2 of its 28 layers (random weights, stored BF16, run in fp32) at
  4096, 8192, 16384 and 32768 tokens, sdpa only (causal, `is_causal=True`, GQA 16/8 via
  `enable_gqa`; eager would need 64 GiB of scores at 32768), `use_cache=False`.
Video cases (`--cases timesformer,videomae`), batch 1, random pixel_values N(0, 1) from a fixed seed, the
classifier's logits: `timesformer` is TimeSformer-base (k400: 8 frames [1, 8, 3, 224, 224], 1569 tokens, divided
space-time attention), eager only (transformers 5.24 refuses sdpa for it: its attention is hand-written);
`videomae` is VideoMAE-base (Kinetics: 16 frames [1, 16, 3, 224, 224], tubelet 2, 1568 tokens), sdpa and eager.
Each (model, attention, length) runs in its own Python process, so `peak_rss_bytes` (that process's
`ru_maxrss`: weights, activations, everything) belongs to that case alone; `load_ms` is
`from_pretrained`. Lengths up to 4096 get one warm-up pass at full length; longer ones one warm-up
pass at 1024 tokens (a full one would take minutes) and fewer timed runs (`runs` in the output; at
most `--runs`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile
import torch
import transformers
from transformers import (
    AutoFeatureExtractor,
    AutoImageProcessor,
    EsmForMaskedLM,
    ModernBertForMaskedLM,
    Qwen3Model,
    TimesformerForVideoClassification,
    VideoMAEForVideoClassification,
    ViTForImageClassification,
    WhisperForConditionalGeneration,
)
from transformers.image_utils import load_image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from gen_models import ESM_VOCAB, input_path  # noqa: E402

LARGE = HERE / "large"


def timed(fn, runs: int, warmup: int) -> dict:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_ms": round(1e3 * statistics.median(times), 2), "min_ms": round(1e3 * min(times), 2), "runs": runs}


def load(cls, name: str, attn: str):
    folder = LARGE / name
    if not (folder / "config.json").is_file():
        sys.exit(f"error: {folder} is missing; run python Fixtures/make_large.py first")
    model = cls.from_pretrained(folder, attn_implementation=attn, dtype=torch.float32)
    return model.eval()


def bench_vit(results: dict, attn: str, runs: int) -> None:
    folder = LARGE / "vit-base-patch16-224"
    model = load(ViTForImageClassification, "vit-base-patch16-224", attn)
    processor = AutoImageProcessor.from_pretrained(folder)
    image = load_image(str(input_path(HERE, "cat")))
    pixel_values = processor(image, return_tensors="pt")["pixel_values"]  # [1, 3, 224, 224]
    with torch.inference_mode():
        results[f"vit_b16_224_forward_{attn}"] = timed(lambda: model(pixel_values).logits, runs, 2)
        if attn == "sdpa":
            results["vit_b16_224_preprocess"] = timed(lambda: processor(image, return_tensors="pt"), runs, 2)
    del model


def thirty_seconds() -> np.ndarray:
    """30 s at 16 kHz: the real arctic_a0007.wav repeated."""
    samples, _ = soundfile.read(input_path(HERE, "arctic_a0007"), dtype="float32")
    return np.resize(samples, 480000).astype(np.float32)


def bench_whisper(results: dict, attn: str, runs: int) -> None:
    folder = LARGE / "whisper-base"
    model = load(WhisperForConditionalGeneration, "whisper-base", attn)
    extractor = AutoFeatureExtractor.from_pretrained(folder)
    audio = thirty_seconds()
    features = torch.from_numpy(extractor(audio, sampling_rate=16000, return_tensors="np")["input_features"])
    encoder = model.get_encoder()
    with torch.inference_mode():
        results[f"whisper_base_encoder_30s_{attn}"] = timed(lambda: encoder(features).last_hidden_state, runs, 2)
        if attn == "sdpa":
            results["whisper_feature_extractor_30s"] = timed(
                lambda: extractor(audio, sampling_rate=16000, return_tensors="np"), runs, 2
            )
            # The log-mel alone (torch.stft, |.|^2, mel matmul, log10, clamp), as the extractor calls it.
            batch = audio[None]
            results["whisper_torch_stft_logmel_30s"] = timed(
                lambda: extractor._torch_extract_fbank_features(batch, "cpu"), runs, 2
            )
            results["whisper_numpy_logmel_30s"] = timed(
                lambda: extractor._np_extract_fbank_features(batch, "cpu"), max(3, runs // 3), 1
            )
    del model


def bench_esm(results: dict, attn: str, runs: int) -> None:
    model = load(EsmForMaskedLM, "esm2_t33_650M_UR50D", attn)
    generator = np.random.default_rng(0)
    residues = ESM_VOCAB[4:24]  # the 20 standard amino acids
    with torch.inference_mode():
        for length, n, warmup in ((256, runs, 1), (1024, max(3, runs // 3), 1)):
            seq = generator.choice(residues, size=length)
            ids = torch.tensor([[0] + [ESM_VOCAB.index(c) for c in seq] + [2]])
            results[f"esm2_650m_{length}_{attn}"] = timed(lambda: model.esm(ids).last_hidden_state, n, warmup)
    del model


# Video cases: (folder, class, frames, attention implementations the class supports).
VIDEO_CASES = {
    "timesformer": ("timesformer-base", TimesformerForVideoClassification, 8, ("eager",)),
    "videomae": ("videomae-base", VideoMAEForVideoClassification, 16, ("sdpa", "eager")),
}


def bench_video(case: str, results: dict, attn: str, runs: int) -> None:
    folder, cls, frames, attns = VIDEO_CASES[case]
    if attn not in attns:
        print(f"  {case}: no {attn} run (only {', '.join(attns)})", file=sys.stderr)
        return
    model = load(cls, folder, attn)
    generator = torch.Generator().manual_seed(0)
    pixel_values = torch.randn((1, frames, 3, 224, 224), generator=generator)
    with torch.inference_mode():
        results[f"{folder.replace('-', '_')}_{frames}f_224_forward_{attn}"] = timed(lambda: model(pixel_values).logits, runs, 2)
    del model


# Long-sequence cases: (folder, lengths, timed runs per length, attention implementations allowed).
LONG_CASES = {
    "modernbert": ("ModernBERT-base", (512, 2048, 8192), {512: 10, 2048: 3, 8192: 2}, ("sdpa", "eager")),
    "qwen3": ("Qwen3-Embedding-0.6B-2layers", (4096, 8192, 16384, 32768), {4096: 3, 8192: 3, 16384: 2, 32768: 1},
              ("sdpa",)),
}
LONG_KEYS = {"modernbert": "modernbert_base", "qwen3": "qwen3_embedding_0_6b_2layers"}


def long_case(case: str, attn: str, length: int, runs: int) -> dict:
    """One long-sequence case in this process (the child side of `bench_long`)."""
    start = time.perf_counter()
    if case == "modernbert":
        model = load(ModernBertForMaskedLM, LONG_CASES[case][0], attn)
        encoder, vocab = model.model, 50280  # ids below the special tokens
        forward = lambda ids: encoder(input_ids=ids).last_hidden_state  # noqa: E731
    else:
        model = load(Qwen3Model, LONG_CASES[case][0], attn)
        vocab = 151643  # ids below <|endoftext|>
        forward = lambda ids: model(input_ids=ids, use_cache=False).last_hidden_state  # noqa: E731
    load_ms = 1e3 * (time.perf_counter() - start)
    generator = torch.Generator().manual_seed(length)
    ids = torch.randint(0, vocab, (1, length), generator=generator)
    warmup_length = length if length <= 4096 else 1024
    warm_ids = ids[:, :warmup_length]
    with torch.inference_mode():
        forward(warm_ids)
        result = timed(lambda: forward(ids), runs, 0)
    result.update({"warmup_tokens": warmup_length, "load_ms": round(load_ms, 1),
                   "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024})
    return result


def bench_long(case: str, results: dict, attn: str, threads: int, max_runs: int) -> None:
    folder, lengths, runs, attns = LONG_CASES[case]
    if attn not in attns:
        print(f"  {case}: no {attn} run (only {', '.join(attns)})", file=sys.stderr)
        return
    if not (LARGE / folder / "config.json").is_file():
        sys.exit(f"error: {LARGE / folder} is missing; run python Fixtures/make_large.py {folder} first")
    for length in lengths:
        print(f"  {case} {attn} {length} tokens ...", file=sys.stderr)
        child = subprocess.run([sys.executable, __file__, "--threads", str(threads),
                                "--child", f"{case}:{attn}:{length}:{min(runs[length], max_runs)}"],
                               check=True, stdout=subprocess.PIPE, text=True)
        results[f"{LONG_KEYS[case]}_{length}_{attn}"] = json.loads(child.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--attn", default="sdpa,eager", help="comma-separated attention implementations")
    parser.add_argument("--cases", "--only", dest="cases", default="vit,whisper,esm,modernbert,qwen3,timesformer,videomae",
                        help="comma-separated subset of vit, whisper, esm, modernbert, qwen3, timesformer, videomae "
                             "(--only is the old name)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # case:attn:length:runs, one long case, JSON out
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        case, attn, length, runs = args.child.split(":")
        print(json.dumps(long_case(case, attn, int(length), int(runs))))
        return 0
    results: dict = {
        "threads": args.threads,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(),
        # Other processes on the machine skew every number: these say how busy it was.
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    benches = {"vit": bench_vit, "whisper": bench_whisper, "esm": bench_esm}
    benches.update({case: (lambda r, a, n, case=case: bench_video(case, r, a, n)) for case in VIDEO_CASES})
    for name in args.cases.split(","):
        if name not in benches and name not in LONG_CASES:
            parser.error(f"unknown case {name}")
        for attn in args.attn.split(","):
            print(f"bench {name} ({attn}) ...", file=sys.stderr)
            if name in LONG_CASES:
                bench_long(name, results, attn, args.threads, args.runs)
            else:
                benches[name](results, attn, args.runs)
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
