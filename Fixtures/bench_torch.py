"""PyTorch baseline timings on the real-size random models of `make_large.py`.

    python Fixtures/make_large.py      # once
    python Fixtures/bench_torch.py [--threads 2] [--runs 10] [--attn sdpa,eager]

fp32, eager PyTorch (no compile), inference mode, `torch.set_num_threads(2)`
by default. The machine's load average before and after is recorded with
the numbers: other processes on the cores skew them. Each case runs warm-up passes, then `--runs` timed passes
(fewer for ESM-2 at 1024 residues, see `runs` in the output); the median and
minimum wall times are printed as one JSON object on stdout. Attention runs
with each implementation given by `--attn` ("sdpa" is what transformers picks
by default, "eager" is the plain matmul-softmax-matmul path).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--attn", default="sdpa,eager", help="comma-separated attention implementations")
    parser.add_argument("--only", default="vit,whisper,esm", help="comma-separated subset of vit, whisper, esm")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
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
    for name in args.only.split(","):
        for attn in args.attn.split(","):
            print(f"bench {name} ({attn}) ...", file=sys.stderr)
            benches[name](results, attn, args.runs)
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
