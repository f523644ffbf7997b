"""PyTorch baseline timings on the real-size random models of `make_large.py`.

    python Fixtures/make_large.py      # once
    python Fixtures/bench_torch.py [--threads 2] [--runs 10] [--attn sdpa,eager] [--dtype fp32,bf16]
        [--cases vit,vit8,whisper,esm,minilm,modernbert,qwen3,timesformer,videomae] [--esm-residues 256,1024]

Eager PyTorch (no compile), inference mode, `torch.set_num_threads(2)`
by default. The machine's load average before and after is recorded with
the numbers: other processes on the cores skew them. Each case runs warm-up passes, then `--runs` timed passes
(fewer for ESM-2 above 256 residues, see `runs` in the output); the median and
minimum wall times are printed as one JSON object on stdout. Attention runs
with each implementation given by `--attn` ("sdpa" is what transformers picks
by default, "eager" is the plain matmul-softmax-matmul path).

Number types (`--dtype`): fp32 loads the weights in fp32; bf16 is the same model after
`model.to(torch.bfloat16)` with its floating inputs (pixel values, log-mel features) cast to bf16
(token ids stay integers), so every GEMM and the attention run on bf16 tensors, as PyTorch's
CPU kernels do them. Without `--dtype`, the cases that mmattn's `--dtype bf16` is compared on (vit,
vit8, whisper, esm, minilm) run both, the others fp32 only. Every forward result carries its
"dtype"; bf16 keys end in `_bf16` (fp32 keys are unchanged). `Fixtures/bench_bf16.sh` runs these
against `mmattn bench model`.

These cases time what `mmattn bench model` times, the base model's last hidden state (no
classification or language-model head, no pooler):
- `vit`, `vit8`: ViT-B/16 on 1 and 8 copies of the preprocessed cat image, [n, 3, 224, 224];
  `vit` also times the image processor alone (fp32, sdpa).
- `whisper`: the Whisper-base encoder on one 30 s window of log-mel features, [1, 80, 3000];
  the fp32 sdpa run also times the feature extractor and its log-mel paths.
- `esm`: ESM-2 650M at each `--esm-residues` length (256 and 1024 unless given; mmattn takes at
  most 1022, which is 1024 tokens with <cls> and <eos>), batch 1, random standard residues;
  lengths above 256 get fewer timed runs (`runs` in the output; at most `--runs`).
- `minilm`: all-MiniLM-L6-v2 (`BertModel`, the real weights) on 32 sequences of 128 random token
  ids with an all-ones attention mask.

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
    BertModel,
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
from bench_timing import wall_times  # noqa: E402
from gen_models import ESM_VOCAB, input_path  # noqa: E402

LARGE = HERE / "large"

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
# The cases mmattn's --dtype bf16 is compared on: both number types unless --dtype says otherwise.
BF16_CASES = ("vit", "vit8", "whisper", "esm", "minilm")


def timed(fn, runs: int, warmup: int) -> dict:
    times = wall_times(fn, runs, warmup)
    return {"median_ms": round(1e3 * statistics.median(times), 2), "min_ms": round(1e3 * min(times), 2), "runs": runs}


def load(cls, name: str, attn: str, dtype: str, **kwargs):
    """The checkpoint in fp32, then the whole model cast to `dtype`."""
    folder = LARGE / name
    if not (folder / "config.json").is_file():
        sys.exit(f"error: {folder} is missing; run python Fixtures/make_large.py {name} first")
    model = cls.from_pretrained(folder, attn_implementation=attn, dtype=torch.float32, **kwargs)
    return model.to(DTYPES[dtype]).eval()


def key(base: str, attn: str, dtype: str) -> str:
    """A forward result's key: fp32 keys as they always were, bf16 ones with `_bf16`."""
    return f"{base}_{attn}" if dtype == "fp32" else f"{base}_{attn}_{dtype}"


def timed_forward(results: dict, base: str, attn: str, dtype: str, fn, runs: int, warmup: int) -> None:
    results[key(base, attn, dtype)] = dict(timed(fn, runs, warmup), dtype=dtype)


def bench_vit(results: dict, attn: str, dtype: str, runs: int, batch: int) -> None:
    folder = LARGE / "vit-base-patch16-224"
    vit = load(ViTForImageClassification, "vit-base-patch16-224", attn, dtype).vit  # no classifier
    processor = AutoImageProcessor.from_pretrained(folder)
    image = load_image(str(input_path(HERE, "cat")))
    pixel_values = processor(image, return_tensors="pt")["pixel_values"]  # [1, 3, 224, 224]
    batched = pixel_values.to(DTYPES[dtype]).expand(batch, -1, -1, -1).contiguous()  # [batch, 3, 224, 224]
    base = "vit_b16_224_forward" if batch == 1 else f"vit_b16_224_b{batch}_forward"
    with torch.inference_mode():
        timed_forward(results, base, attn, dtype, lambda: vit(batched).last_hidden_state, runs, 2)
        if attn == "sdpa" and dtype == "fp32" and batch == 1:
            results["vit_b16_224_preprocess"] = timed(lambda: processor(image, return_tensors="pt"), runs, 2)
    del vit


def thirty_seconds() -> np.ndarray:
    """30 s at 16 kHz: the real arctic_a0007.wav repeated."""
    samples, _ = soundfile.read(input_path(HERE, "arctic_a0007"), dtype="float32")
    return np.resize(samples, 480000).astype(np.float32)


def bench_whisper(results: dict, attn: str, dtype: str, runs: int) -> None:
    folder = LARGE / "whisper-base"
    model = load(WhisperForConditionalGeneration, "whisper-base", attn, dtype)
    extractor = AutoFeatureExtractor.from_pretrained(folder)
    audio = thirty_seconds()
    features = torch.from_numpy(extractor(audio, sampling_rate=16000, return_tensors="np")["input_features"])  # [1, 80, 3000]
    cast = features.to(DTYPES[dtype])  # [1, 80, 3000]
    encoder = model.get_encoder()
    with torch.inference_mode():
        timed_forward(results, "whisper_base_encoder_30s", attn, dtype, lambda: encoder(cast).last_hidden_state, runs, 2)
        if attn == "sdpa" and dtype == "fp32":
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


def bench_esm(results: dict, attn: str, dtype: str, runs: int, lengths: list[int]) -> None:
    esm = load(EsmForMaskedLM, "esm2_t33_650M_UR50D", attn, dtype).esm  # no LM head
    generator = np.random.default_rng(0)
    residues = ESM_VOCAB[4:24]  # the 20 standard amino acids
    with torch.inference_mode():
        for length in lengths:
            n = runs if length <= 256 else min(runs, max(3, runs // 3))
            seq = generator.choice(residues, size=length)
            ids = torch.tensor([[0] + [ESM_VOCAB.index(c) for c in seq] + [2]])  # [1, length + 2]
            timed_forward(results, f"esm2_650m_{length}", attn, dtype, lambda: esm(ids).last_hidden_state, n, 1)
    del esm


def bench_minilm(results: dict, attn: str, dtype: str, runs: int, batch: int = 32, tokens: int = 128) -> None:
    model = load(BertModel, "all-MiniLM-L6-v2", attn, dtype, add_pooling_layer=False)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size, (batch, tokens), generator=generator)  # [batch, tokens]
    mask = torch.ones_like(ids)  # [batch, tokens], no padding
    with torch.inference_mode():
        timed_forward(results, f"minilm_l6_{batch}x{tokens}_forward", attn, dtype,
                      lambda: model(input_ids=ids, attention_mask=mask).last_hidden_state, runs, 2)
    del model


# Video cases: (folder, class, frames, attention implementations the class supports).
VIDEO_CASES = {
    "timesformer": ("timesformer-base", TimesformerForVideoClassification, 8, ("eager",)),
    "videomae": ("videomae-base", VideoMAEForVideoClassification, 16, ("sdpa", "eager")),
}


def bench_video(case: str, results: dict, attn: str, dtype: str, runs: int) -> None:
    folder, cls, frames, attns = VIDEO_CASES[case]
    if attn not in attns:
        print(f"  {case}: no {attn} run (only {', '.join(attns)})", file=sys.stderr)
        return
    model = load(cls, folder, attn, dtype)
    generator = torch.Generator().manual_seed(0)
    pixel_values = torch.randn((1, frames, 3, 224, 224), generator=generator).to(DTYPES[dtype])  # [1, frames, 3, 224, 224]
    with torch.inference_mode():
        timed_forward(results, f"{folder.replace('-', '_')}_{frames}f_224_forward", attn, dtype,
                      lambda: model(pixel_values).logits, runs, 2)
    del model


# Long-sequence cases: (folder, lengths, timed runs per length, attention implementations allowed).
LONG_CASES = {
    "modernbert": ("ModernBERT-base", (512, 2048, 8192), {512: 10, 2048: 3, 8192: 2}, ("sdpa", "eager")),
    "qwen3": ("Qwen3-Embedding-0.6B-2layers", (4096, 8192, 16384, 32768), {4096: 3, 8192: 3, 16384: 2, 32768: 1},
              ("sdpa",)),
}
LONG_KEYS = {"modernbert": "modernbert_base", "qwen3": "qwen3_embedding_0_6b_2layers"}


def long_case(case: str, attn: str, dtype: str, length: int, runs: int) -> dict:
    """One long-sequence case in this process (the child side of `bench_long`)."""
    start = time.perf_counter()
    if case == "modernbert":
        model = load(ModernBertForMaskedLM, LONG_CASES[case][0], attn, dtype)
        encoder, vocab = model.model, 50280  # ids below the special tokens
        forward = lambda ids: encoder(input_ids=ids).last_hidden_state  # noqa: E731
    else:
        model = load(Qwen3Model, LONG_CASES[case][0], attn, dtype)
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
    result.update({"dtype": dtype, "warmup_tokens": warmup_length, "load_ms": round(load_ms, 1),
                   "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024})
    return result


def bench_long(case: str, results: dict, attn: str, dtype: str, threads: int, max_runs: int) -> None:
    folder, lengths, runs, attns = LONG_CASES[case]
    if attn not in attns:
        print(f"  {case}: no {attn} run (only {', '.join(attns)})", file=sys.stderr)
        return
    if not (LARGE / folder / "config.json").is_file():
        sys.exit(f"error: {LARGE / folder} is missing; run python Fixtures/make_large.py {folder} first")
    for length in lengths:
        print(f"  {case} {attn} {dtype} {length} tokens ...", file=sys.stderr)
        child = subprocess.run([sys.executable, __file__, "--threads", str(threads),
                                "--child", f"{case}:{attn}:{dtype}:{length}:{min(runs[length], max_runs)}"],
                               check=True, stdout=subprocess.PIPE, text=True)
        results[key(f"{LONG_KEYS[case]}_{length}", attn, dtype)] = json.loads(child.stdout)


def cpu_bf16_flags() -> list[str]:
    """The CPU's bf16 instruction sets (avx512_bf16, amx_bf16) from lscpu's flags; empty where it is missing."""
    try:
        out = subprocess.run(["lscpu"], check=True, stdout=subprocess.PIPE, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    flags = next((line.split(":", 1)[1].split() for line in out.splitlines() if line.startswith("Flags")), [])
    return [f for f in ("avx512_bf16", "amx_bf16", "amx_tile") if f in flags]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--attn", default="sdpa,eager", help="comma-separated attention implementations")
    parser.add_argument("--dtype", help="comma-separated number types, fp32 and/or bf16 (default: both for "
                                        f"{', '.join(BF16_CASES)}; fp32 for the others)")
    parser.add_argument("--cases", "--only", dest="cases",
                        default="vit,vit8,whisper,esm,minilm,modernbert,qwen3,timesformer,videomae",
                        help="comma-separated subset of vit, vit8, whisper, esm, minilm, modernbert, qwen3, timesformer, "
                             "videomae (--only is the old name)")
    parser.add_argument("--esm-residues", default="256,1024", help="comma-separated residue counts for esm")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # case:attn:dtype:length:runs, one long case, JSON out
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        case, attn, dtype, length, runs = args.child.split(":")
        print(json.dumps(long_case(case, attn, dtype, int(length), int(runs))))
        return 0
    dtypes = args.dtype.split(",") if args.dtype else None
    if dtypes and any(d not in DTYPES for d in dtypes):
        parser.error(f"--dtype takes {' and '.join(DTYPES)}, not {args.dtype}")
    esm_lengths = [int(n) for n in args.esm_residues.split(",")]
    results: dict = {
        "threads": args.threads,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        # Whether oneDNN runs bf16 GEMMs natively here (AVX512-BF16 or AMX), and which of those the CPU has.
        "mkldnn_bf16": torch.ops.mkldnn._is_mkldnn_bf16_supported(),
        "cpu_bf16_flags": cpu_bf16_flags(),
        "machine": platform.machine(),
        # Other processes on the machine skew every number: these say how busy it was.
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    benches = {
        "vit": lambda r, a, d, n: bench_vit(r, a, d, n, batch=1),
        "vit8": lambda r, a, d, n: bench_vit(r, a, d, n, batch=8),
        "whisper": bench_whisper,
        "esm": lambda r, a, d, n: bench_esm(r, a, d, n, esm_lengths),
        "minilm": bench_minilm,
    }
    benches.update({case: (lambda r, a, d, n, case=case: bench_video(case, r, a, d, n)) for case in VIDEO_CASES})
    for name in args.cases.split(","):
        if name not in benches and name not in LONG_CASES:
            parser.error(f"unknown case {name}")
        for attn in args.attn.split(","):
            for dtype in dtypes or (["fp32", "bf16"] if name in BF16_CASES else ["fp32"]):
                print(f"bench {name} ({attn}, {dtype}) ...", file=sys.stderr)
                if name in LONG_CASES:
                    bench_long(name, results, attn, dtype, args.threads, args.runs)
                else:
                    benches[name](results, attn, dtype, args.runs)
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
