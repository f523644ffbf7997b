"""Whisper transcription speed on the real clips: faster-whisper (CTranslate2) and transformers, CPU, 2 threads.

    python Fixtures/bench_whisper.py                       # tiny.en (+ base if converted), all clips, 5 runs
    python Fixtures/bench_whisper.py --models tiny.en --runs 3 --impls transformers
    python Fixtures/bench_whisper.py --check               # transcripts/tokens: transformers vs CTranslate2

Prints one JSON line per (impl, model, compute_type, clip):
{"impl", "model", "compute_type", "clip", "audio_s", "median_s", "rtf", "runs", ...}
rtf = median seconds / audio seconds. Each timed run goes from the decoded 16 kHz float32 samples
(gen_whisper_real.load_clip, outside the timing) to the text, so feature extraction is included:
- faster-whisper 1.2 `WhisperModel(ct2_dir, device="cpu", compute_type=..., cpu_threads=2, num_workers=1)
  .transcribe(samples, beam_size=1, temperature=0.0, condition_on_previous_text=False, vad_filter=False,
  word_timestamps=False, no_speech_threshold=None)`, segments joined; without_timestamps=True on the
  clips of at most 30 s and False on speech-mix (42 s), like transformers below. compute_type float32
  and int8 on the ORIGINAL CT2 folder (large/ct2-whisper-<name>, float16 on disk; CTranslate2 converts
  at load time, so no separate float32 CT2 conversion is needed).
- transformers `WhisperProcessor` features + `WhisperForConditionalGeneration.generate` (float32, greedy,
  attn_implementation sdpa and/or eager) + batch_decode; short clips: generate(input_features); speech-mix:
  processor(truncation=False, padding="longest", return_attention_mask=True) and
  generate(..., attention_mask, return_timestamps=True) (sequential long-form).
torch.set_num_threads(2) / cpu_threads=2; one warm-up run, then the median of --runs runs. Each impl and
model runs in its own subprocess so the two libraries' OpenMP pools do not compete. A multilingual model
detects the language in both (faster-whisper: language=None; transformers: generation_config).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MODELS = {"tiny.en": ("whisper-tiny.en", "ct2-whisper-tiny.en"), "base": ("whisper-base-real", "ct2-whisper-base")}
THREADS = 2


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def clips_to_run(selected):
    from gen_whisper_real import CLIPS, load_clip

    names = selected or list(CLIPS)
    return [(name, load_clip(name)) for name in names]


def is_long(samples) -> bool:
    return samples.size > 30 * 16000


def time_it(fn, runs: int) -> tuple[float, list[float], str]:
    text = fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        text = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, text


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def worker_faster_whisper(model: str, compute_type: str, clips, runs: int) -> None:
    from faster_whisper import WhisperModel
    import faster_whisper

    ct2_dir = HERE / "large" / MODELS[model][1]
    fw = WhisperModel(str(ct2_dir), device="cpu", compute_type=compute_type, cpu_threads=THREADS, num_workers=1)
    for clip, samples in clips:
        def run():
            segments, _ = fw.transcribe(samples, beam_size=1, temperature=0.0, condition_on_previous_text=False,
                                        vad_filter=False, word_timestamps=False, no_speech_threshold=None,
                                        without_timestamps=not is_long(samples))
            return "".join(s.text for s in segments)

        median, times, text = time_it(run, runs)
        audio_s = samples.size / 16000
        emit({"impl": "faster-whisper", "model": model, "compute_type": compute_type, "clip": clip,
              "audio_s": round(audio_s, 4), "median_s": round(median, 4), "rtf": round(median / audio_s, 4),
              "min_s": round(min(times), 4),
              "runs": len(times), "times": [round(t, 4) for t in times], "threads": THREADS,
              "version": faster_whisper.__version__, "loadavg": loadavg(), "text": text})


def worker_transformers(model: str, attn: str, clips, runs: int) -> None:
    import torch
    import transformers
    from transformers import WhisperForConditionalGeneration, WhisperProcessor
    from transformers.utils import logging

    logging.set_verbosity_error()
    torch.set_num_threads(THREADS)
    folder = HERE / "large" / MODELS[model][0]
    processor = WhisperProcessor.from_pretrained(folder)
    hf = WhisperForConditionalGeneration.from_pretrained(folder, attn_implementation=attn).eval()
    for clip, samples in clips:
        def run():
            with torch.inference_mode():
                if is_long(samples):
                    inputs = processor(samples, sampling_rate=16000, return_tensors="pt", truncation=False,
                                       padding="longest", return_attention_mask=True)
                    ids = hf.generate(inputs.input_features, attention_mask=inputs.attention_mask, return_timestamps=True)
                else:
                    ids = hf.generate(processor(samples, sampling_rate=16000, return_tensors="pt").input_features)
            return processor.batch_decode(ids, skip_special_tokens=True)[0]

        median, times, text = time_it(run, runs)
        audio_s = samples.size / 16000
        emit({"impl": "transformers", "model": model, "compute_type": "float32", "attn": attn, "clip": clip,
              "audio_s": round(audio_s, 4), "median_s": round(median, 4), "rtf": round(median / audio_s, 4),
              "min_s": round(min(times), 4),
              "runs": len(times), "times": [round(t, 4) for t in times], "threads": THREADS,
              "version": transformers.__version__, "torch": torch.__version__, "loadavg": loadavg(), "text": text})


def check(model: str, clips) -> None:
    """transformers (our converted folder) against CTranslate2 (the original CT2 folder), float32:
    encoder output, greedy tokens from the same features and prompt, and faster-whisper's own transcript."""
    import numpy as np
    import torch
    import ctranslate2
    from faster_whisper import WhisperModel
    from transformers import WhisperForConditionalGeneration, WhisperProcessor
    from transformers.utils import logging

    logging.set_verbosity_error()
    torch.set_num_threads(THREADS)
    folder, ct2_dir = (HERE / "large" / m for m in MODELS[model])
    processor = WhisperProcessor.from_pretrained(folder)
    hf = WhisperForConditionalGeneration.from_pretrained(folder, attn_implementation="eager").eval()
    ct2 = ctranslate2.models.Whisper(str(ct2_dir), device="cpu", compute_type="float32", intra_threads=THREADS)
    fw = WhisperModel(str(ct2_dir), device="cpu", compute_type="float32", cpu_threads=THREADS)
    gc = hf.generation_config
    for clip, samples in clips:
        long = is_long(samples)
        record = {"check": model, "clip": clip}
        if not long:
            features = processor(samples, sampling_rate=16000, return_tensors="pt").input_features
            with torch.inference_mode():
                enc_hf = hf.model.encoder(features).last_hidden_state[0].numpy()
                hf_ids = hf.generate(features)[0].tolist()
                prompt = [gc.decoder_start_token_id]
                if gc.is_multilingual:
                    prompt += [int(hf.detect_language(features)[0]), gc.task_to_id["transcribe"]]
                prompt += [gc.no_timestamps_token_id]
            view = ctranslate2.StorageView.from_array(np.ascontiguousarray(features.numpy()))
            enc_ct2 = np.array(ct2.encode(view, to_cpu=True))[0]
            result = ct2.generate(view, [prompt], beam_size=1, suppress_blank=True, suppress_tokens=[-1],
                                  max_initial_timestamp_index=gc.max_initial_timestamp_index, max_length=448)[0]
            ct2_ids = [t for t in result.sequences_ids[0] if t != gc.eos_token_id]
            record.update({"encoder_max_abs_diff": float(np.abs(enc_hf - enc_ct2).max()),
                           "encoder_max_abs": float(np.abs(enc_hf).max()), "prompt": prompt,
                           "same_tokens": hf_ids == ct2_ids, "hf_tokens": hf_ids, "ct2_tokens": ct2_ids,
                           "hf_text": processor.batch_decode([hf_ids], skip_special_tokens=True)[0]})
            if gc.is_multilingual:
                record["ct2_language"] = ct2.detect_language(view)[0][0]
        else:
            inputs = processor(samples, sampling_rate=16000, return_tensors="pt", truncation=False, padding="longest",
                               return_attention_mask=True)
            with torch.inference_mode():
                ids = hf.generate(inputs.input_features, attention_mask=inputs.attention_mask, return_timestamps=True)
            record["hf_text"] = processor.batch_decode(ids, skip_special_tokens=True)[0]
        segments, info = fw.transcribe(samples, beam_size=1, temperature=0.0, condition_on_previous_text=False,
                                       vad_filter=False, word_timestamps=False, no_speech_threshold=None,
                                       without_timestamps=not long)
        record["faster_whisper_text"] = "".join(s.text for s in segments)
        record["same_text"] = record["faster_whisper_text"].strip() == record["hf_text"].strip()
        if gc.is_multilingual:
            record["faster_whisper_language"] = info.language
        emit(record)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), help="default: every converted one")
    parser.add_argument("--impls", nargs="+", default=["faster-whisper", "transformers"],
                        choices=["faster-whisper", "transformers"])
    parser.add_argument("--compute-types", nargs="+", default=["float32", "int8"], help="faster-whisper compute types")
    parser.add_argument("--attn", nargs="+", default=["sdpa"], choices=["sdpa", "eager"], help="transformers attention")
    parser.add_argument("--clips", nargs="+", help="clip ids of gen_whisper_real.CLIPS (default: all)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--check", action="store_true", help="cross-check transcripts instead of timing")
    parser.add_argument("--worker", nargs=3, metavar=("IMPL", "MODEL", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    models = args.models or [m for m, (hf, ct2) in MODELS.items()
                             if (HERE / "large" / hf / "model.safetensors").exists() and (HERE / "large" / ct2).exists()]

    if args.worker:
        impl, model, variant = args.worker
        clips = clips_to_run(args.clips)
        if impl == "faster-whisper":
            worker_faster_whisper(model, variant, clips, args.runs)
        else:
            worker_transformers(model, variant, clips, args.runs)
        return 0
    if args.check:
        clips = clips_to_run(args.clips)
        for model in models:
            check(model, clips)
        return 0

    emit({"machine": {"nproc": os.cpu_count(), "loadavg": loadavg(), "threads": THREADS, "runs": args.runs}})
    for model in models:
        for impl in args.impls:
            variants = args.compute_types if impl == "faster-whisper" else args.attn
            for variant in variants:
                command = [sys.executable, __file__, "--worker", impl, model, variant, "--runs", str(args.runs)]
                if args.clips:
                    command += ["--clips", *args.clips]
                subprocess.run(command, check=True, env=dict(os.environ, OMP_NUM_THREADS=str(THREADS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
