"""Tiny random Whisper checkpoints with the real vocabulary, and reference decodes from transformers' `generate`.

For `mmattn transcribe`: the Swift port of Whisper decoding is compared against what transformers does, step by
step. Writes, under OUT (the Fixtures folder):

- `models/whisper-gen/`: `WhisperForConditionalGeneration`, English-only layout (vocabulary 51864 as
  openai/whisper-tiny.en), D 16, 2 + 2 layers, 4 heads, FFN 32, 80 mels, 1500 source / 448 target positions,
  proj_out tied to the token embeddings, weights stored float16; the real GPT-2/Whisper tokenizer
  (`tokenizer.json` copied from the shared data, plus `tokenizer_config.json`), `preprocessor_config.json`
  (WhisperFeatureExtractor, 80 mels) and a `generation_config.json` in the form of openai/whisper-tiny.en's.
- `models/whisper-gen-multi/`: the multilingual layout (vocabulary 51865 as openai/whisper-tiny, `lang_to_id`,
  `task_to_id`), same sizes and the same kind of weights; no tokenizer (its references decode no text).
- `reference/whisper/<model>/<input>/<case>/`: `windows.json` (every decoder run: seek, frames, prompt, generated
  ids and per-step details), `result.json` (what generate / the pipeline returned), `logits_<k>.npy` for a few
  windows, `encoder_last_hidden_state.npy` (one case); `reference/whisper/inputs/<input>.npy` (the 16 kHz
  waveforms of the inputs that needed decoding or resampling); `reference/whisper/manifest.json`.

The weights are random (fixed seed) but shaped so that greedy decoding is not degenerate: see `init_weights_`.
The reference numbers come from the float16-rounded weights loaded back as float32 (save, then
`from_pretrained(..., dtype=torch.float32, attn_implementation="eager")`).

Deterministic: fixed seeds, one thread; a second run rewrites the same bytes. Run through
`Fixtures/generate.py gen_whisper`, or alone: `python Fixtures/gen_whisper.py`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import warnings
from pathlib import Path

import numpy as np
import safetensors
import soundfile as sf
import soxr
import tokenizers
import torch

import transformers
from transformers import (
    LogitsProcessor,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
    WhisperProcessor,
    WhisperTokenizerFast,
    pipeline,
)

HERE = Path(__file__).resolve().parent
SHARED_DATA = Path(os.environ.get("MMATTN_SHARED", HERE.parents[1] / "shared")) / "data"
CACHE = Path(os.path.expanduser("~")) / ".cache" / "mmattn-fixtures"
WHISPER_SDIST_VERSION = "20250625"

MODEL = "whisper-gen"
HUB_BOS = 50257  # bos_token_id of openai/whisper-tiny.en and openai/whisper-tiny (config.json, generation_config.json)
MULTI = "whisper-gen-multi"
SEED = 9

# Special-token ids of the two layouts (openai-whisper's `get_encoding`: 50257 BPE tokens, then
# <|endoftext|> [multilingual only; the English vocabulary has it as BPE token 50256], <|startoftranscript|>,
# 99 languages, <|translate|>, <|transcribe|>, <|startoflm|>, <|startofprev|>, <|nospeech|>, <|notimestamps|>,
# 1501 timestamps).
LAYOUTS = {
    MODEL: dict(vocab=51864, eot=50256, sot=50257, translate=50357, transcribe=50358, sot_lm=50359, sot_prev=50360,
                no_speech=50361, no_timestamps=50362),
    MULTI: dict(vocab=51865, eot=50257, sot=50258, translate=50358, transcribe=50359, sot_lm=50360, sot_prev=50361,
                no_speech=50362, no_timestamps=50363),
}
for _ids in LAYOUTS.values():
    _ids["timestamp_begin"] = _ids["no_timestamps"] + 1

# The multilingual model's language tokens: a few of openai/whisper-tiny's lang_to_id (id = 50259 + index in
# openai-whisper's LANGUAGES order).
MULTI_LANGUAGES = ["en", "zh", "de", "es", "fr", "ja"]

# Logits files: (model, input, case, window, steps). Every other step is summarised in windows.json.
LOGITS = [
    (MODEL, "arctic_a0007_wav", "notimestamps", 0, 16),
    (MODEL, "arctic_a0007_wav", "timestamps", 0, 8),
    (MODEL, "cards-005-8k_wav", "notimestamps", 0, 4),
    (MODEL, "speech-mix_flac", "longform_timestamps", 1, 4),
]
TOP_K = 5

# Inputs: name -> path under Fixtures/audio.
INPUTS = {
    "arctic_a0007_wav": "arctic_a0007.wav",
    "cards-001-48k_wav": "derived/cards-001-48k.wav",
    "cards-005-8k_wav": "derived/cards-005-8k.wav",
    "arctic_a0007_ogg": "derived/arctic_a0007.ogg",
    "bell_oga": "bell.oga",
    "speech-mix_flac": "derived/speech-mix.flac",
}
LONG_INPUT = "speech-mix_flac"


# --------------------------------------------------------------------------- small helpers


def fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def dump_json(path: Path, value) -> None:
    """JSON with every list of numbers on one line (as gen_models' Writer does)."""
    text = json.dumps(value, indent=1, ensure_ascii=False)
    text = re.sub(r"\[(?:[-0-9.e,\s]|null)*\]", lambda m: "[" + ", ".join(m.group(0)[1:-1].split()).replace(",,", ",") + "]", text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def f32(x) -> float | None:
    """A float32 value as the shortest decimal that reads back to the same float32; None for an infinity."""
    x = np.float32(x)
    return None if not np.isfinite(x) else float(str(x))


def md5_of(array: np.ndarray) -> str:
    return hashlib.md5(np.ascontiguousarray(array).tobytes()).hexdigest()


# --------------------------------------------------------------------------- openai-whisper's suppress list


def openai_suppress_tokens(multilingual: bool) -> list[int]:
    """openai-whisper's default suppress list (`suppress_tokens="-1"`): `Tokenizer.non_speech_tokens` plus
    <|transcribe|>, <|translate|>, <|startoftranscript|>, <|startofprev|>, <|startoflm|>, <|nospeech|>, sorted
    (`DecodingTask._get_suppress_tokens`), computed by running `whisper/tokenizer.py` from the openai-whisper
    source archive (with its `gpt2.tiktoken` / `multilingual.tiktoken`) on tiktoken."""
    folder = CACHE / "openai-whisper"
    archive = folder / f"openai_whisper-{WHISPER_SDIST_VERSION}.tar.gz"
    if not archive.exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder), "--no-binary", ":all:",
                        f"openai-whisper=={WHISPER_SDIST_VERSION}"], check=True)
    unpacked = folder / f"whisper-{WHISPER_SDIST_VERSION}-tokenizer"
    (unpacked / "assets").mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        for name in ("tokenizer.py", "assets/gpt2.tiktoken", "assets/multilingual.tiktoken"):
            target = unpacked / name
            if not target.exists():
                target.write_bytes(tar.extractfile(f"openai_whisper-{WHISPER_SDIST_VERSION}/whisper/{name}").read())
    spec = importlib.util.spec_from_file_location("openai_whisper_tokenizer", unpacked / "tokenizer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tok = module.get_tokenizer(multilingual=multilingual)
    ids = set(tok.non_speech_tokens) | {tok.transcribe, tok.translate, tok.sot, tok.sot_prev, tok.sot_lm, tok.no_speech}
    return sorted(int(i) for i in ids)


# --------------------------------------------------------------------------- the checkpoints


def whisper_config(layout: dict) -> WhisperConfig:
    return WhisperConfig(
        vocab_size=layout["vocab"],
        num_mel_bins=80,
        d_model=16,
        encoder_layers=2,
        encoder_attention_heads=4,
        encoder_ffn_dim=32,
        decoder_layers=2,
        decoder_attention_heads=4,
        decoder_ffn_dim=32,
        max_source_positions=1500,
        max_target_positions=448,
        activation_function="gelu",
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        encoder_layerdrop=0.0,
        decoder_layerdrop=0.0,
        init_std=0.02,
        scale_embedding=False,
        use_cache=True,
        is_encoder_decoder=True,
        # as in openai/whisper-tiny.en / openai/whisper-tiny config.json (both say bos_token_id 50257: <|startoftranscript|>
        # in the English vocabulary, <|endoftext|> in the multilingual one)
        bos_token_id=HUB_BOS,
        eos_token_id=layout["eot"],
        pad_token_id=layout["eot"],
        decoder_start_token_id=layout["sot"],
        begin_suppress_tokens=[220, layout["eot"]],
        median_filter_width=7,
        tie_word_embeddings=True,
        architectures=["WhisperForConditionalGeneration"],
    )


# Weight scales (see init_weights_).
INIT = dict(
    encoder_matrix=2.0, decoder_matrix=1.0, cross_qk=3.0, cross_vo=1.5, embedding=1.0, encoder_positions=0.5,
    decoder_positions=3.0, timestamp_u=4.0, timestamp_u_slope=2.0, timestamp_noise=0.25, eot_w=6.0, eot_u=1.5,
    pulse=21.0, pulse_period=8, ramp=21.0, ramp_length=72,
)


def init_weights_(model: WhisperForConditionalGeneration, seed: int, layout: dict) -> dict:
    """Random weights, drawn in a fixed order from one generator, shaped so that greedy decoding varies.

    Plain random weights make greedy decoding repeat one token until max_length. Here:
    - every parameter, in `named_parameters()` order (the tied proj_out once): layer-norm weights 1 + N(0, 0.1^2),
      biases N(0, 0.1^2), the token embedding N(0, 1), encoder positions N(0, 0.5^2), decoder positions N(0, 3^2)
      (large, so the position rather than the previous token steers the next one), matrices N(0, s^2 / fan_in) with
      s = 2 in the encoder, 1 in the decoder, the decoder's cross-attention q/k x3 (sharp attention on the audio)
      and v/out x1.5;
    - then two unit vectors u, w (w orthogonal to u) from the same generator. Timestamp rows of the embedding:
      (4 - 2 i / 1500) u + N(0, 0.25^2) for timestamp i, so each one alone is rarely the argmax but together they
      often outweigh the best text token (the WhisperTimeStampLogitsProcessor's forced timestamp), and earlier ones
      are preferred; the <|endoftext|> row: 6 w + 1.5 u;
    - decoder position p gets + 21 max(0, sin(2 pi p / 8)) u (a pulse toward timestamps every 8 tokens) and
      + 21 (p / 72) w (a ramp toward <|endoftext|>, so decoding ends after some tens of tokens).
    """
    s = INIT
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float32)
            if "layer_norm" in name and name.endswith("weight"):
                parameter.copy_(1.0 + 0.1 * noise)
            elif parameter.ndim == 1:
                parameter.copy_(0.1 * noise)
            elif name.endswith("embed_tokens.weight"):
                parameter.copy_(s["embedding"] * noise)
            elif name == "model.encoder.embed_positions.weight":
                parameter.copy_(s["encoder_positions"] * noise)
            elif name == "model.decoder.embed_positions.weight":
                parameter.copy_(s["decoder_positions"] * noise)
            else:
                scale = s["decoder_matrix"] if name.startswith("model.decoder") else s["encoder_matrix"]
                if ".encoder_attn." in name and ("q_proj" in name or "k_proj" in name):
                    scale *= s["cross_qk"]
                if ".encoder_attn." in name and ("v_proj" in name or "out_proj" in name):
                    scale *= s["cross_vo"]
                parameter.copy_(scale * noise / math.sqrt(math.prod(parameter.shape[1:])))
        embedding = model.model.decoder.embed_tokens.weight
        positions = model.model.decoder.embed_positions.weight
        u = torch.randn(16, generator=generator)
        u /= u.norm()
        w = torch.randn(16, generator=generator)
        w -= (w @ u) * u
        w /= w.norm()
        tb = layout["timestamp_begin"]
        count = layout["vocab"] - tb
        slope = s["timestamp_u"] - s["timestamp_u_slope"] * torch.arange(count) / 1500.0
        embedding[tb:] = slope[:, None] * u + s["timestamp_noise"] * torch.randn(count, 16, generator=generator)
        embedding[layout["eot"]] = s["eot_w"] * w + s["eot_u"] * u
        p = torch.arange(positions.shape[0], dtype=torch.float32)
        positions += s["pulse"] * torch.clamp(torch.sin(2 * math.pi * p / s["pulse_period"]), min=0)[:, None] * u
        positions += s["ramp"] * (p / s["ramp_length"])[:, None] * w
    return {"seed": seed, **s}


def generation_config_dict(layout: dict, multilingual: bool, suppress: list[int]) -> dict:
    """generation_config.json in the form of openai/whisper-tiny.en's (English) or openai/whisper-tiny's."""
    fields = {
        "alignment_heads": [[1, 0], [0, 1], [0, 3]],
        "begin_suppress_tokens": [220, layout["eot"]],
        "bos_token_id": HUB_BOS,
        "decoder_start_token_id": layout["sot"],
        "eos_token_id": layout["eot"],
        "forced_decoder_ids": [[1, layout["no_timestamps"]]] if not multilingual else [[1, None], [2, layout["transcribe"]]],
        "is_multilingual": multilingual,
        "max_initial_timestamp_index": 50,
        "max_length": 448,
        "no_timestamps_token_id": layout["no_timestamps"],
        "pad_token_id": layout["eot"],
        "prev_sot_token_id": layout["sot_prev"],
        "return_timestamps": False,
        "suppress_tokens": suppress,
        "transformers_version": transformers.__version__,
    }
    if multilingual:
        from transformers.models.whisper.tokenization_whisper import LANGUAGES

        codes = list(LANGUAGES)
        fields["lang_to_id"] = {f"<|{c}|>": layout["sot"] + 1 + codes.index(c) for c in MULTI_LANGUAGES}
        fields["task_to_id"] = {"transcribe": layout["transcribe"], "translate": layout["translate"]}
    return dict(sorted(fields.items()))


def tokenizer_config(tokenizer_json: dict) -> dict:
    specials = [t["content"] for t in tokenizer_json["added_tokens"]]
    return {
        "add_prefix_space": False,
        "additional_special_tokens": specials,
        "bos_token": "<|endoftext|>",
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|endoftext|>",
        "errors": "replace",
        "model_max_length": 1024,
        "pad_token": "<|endoftext|>",
        "processor_class": "WhisperProcessor",
        "return_attention_mask": False,
        "tokenizer_class": "WhisperTokenizer",
        "unk_token": "<|endoftext|>",
    }


def build_model(fixtures: Path, name: str, notes: dict) -> WhisperForConditionalGeneration:
    layout = LAYOUTS[name]
    multilingual = name == MULTI
    folder = fresh_dir(fixtures / "models" / name)
    torch.manual_seed(SEED)
    model = WhisperForConditionalGeneration(whisper_config(layout))
    init = init_weights_(model, SEED, layout)
    model.to(torch.float16).save_pretrained(folder, safe_serialization=True)
    suppress = openai_suppress_tokens(multilingual)
    dump_json(folder / "generation_config.json", generation_config_dict(layout, multilingual, suppress))
    WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)
    if not multilingual:
        source = SHARED_DATA / "tokenizers" / "gpt2-bpe-whisper" / "tokenizer.json"
        if not source.is_file():
            source = fixtures / "tokenizers" / "gpt2-whisper" / "tokenizer.json"
        shutil.copyfile(source, folder / "tokenizer.json")
        config = tokenizer_config(json.loads(source.read_text()))
        (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    with safetensors.safe_open(folder / "model.safetensors", "pt") as f:
        keys = sorted(f.keys())
        dtypes = sorted({str(f.get_slice(k).get_dtype()) for k in keys})
    if any(k.startswith("proj_out") for k in keys):
        raise SystemExit("error: proj_out.weight was saved; expected it tied to the token embeddings")
    notes[name] = {
        "class": "WhisperForConditionalGeneration",
        "sizes": "D 16, 2 encoder + 2 decoder layers, 4 heads, FFN 32, 80 mels, 1500 source / 448 target positions, "
        f"vocab {layout['vocab']}",
        "layout": layout,
        "stored_dtype": dtypes,
        "tensors": len(keys),
        "tied": "proj_out.weight is not in the file: it is model.decoder.embed_tokens.weight (tie_word_embeddings)",
        "init": init,
        "suppress_tokens_source": f"openai-whisper {WHISPER_SDIST_VERSION} sdist: whisper/tokenizer.py "
        f"get_tokenizer(multilingual={multilingual}).non_speech_tokens + transcribe, translate, sot, sot_prev, sot_lm, "
        "no_speech, sorted (decoding.py DecodingTask._get_suppress_tokens, suppress_tokens='-1'), "
        f"{len(suppress)} ids"
        + (" (the same 90 ids as the suppress_tokens of the openai/whisper-*.en generation_config.json files on the Hub)"
           if not multilingual else ""),
    }
    return load_model(folder)


def load_model(folder: Path) -> WhisperForConditionalGeneration:
    model = WhisperForConditionalGeneration.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    return model


# --------------------------------------------------------------------------- audio


def load_audio(path: Path) -> tuple[np.ndarray, dict]:
    """transformers' load_audio with soundfile: float32, channels averaged, soxr_hq to 16 kHz, then padded with
    zeros or cut to ceil(n * 16000 / rate) samples."""
    with sf.SoundFile(path) as f:
        rate, channels, frames, fmt, subtype = f.samplerate, f.channels, f.frames, f.format, f.subtype
        data = f.read(dtype="float32", always_2d=True)
    mono = data.mean(axis=1) if channels > 1 else data[:, 0]
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    steps = [f"soundfile.read(dtype='float32', always_2d=True) -> {frames} x {channels} at {rate} Hz ({fmt}/{subtype})"]
    if channels > 1:
        steps.append("mean over channels (float32)")
    if rate != 16000:
        count = math.ceil(mono.shape[0] * 16000 / rate)
        out = soxr.resample(mono, rate, 16000, quality="soxr_hq")
        steps.append(f"soxr.resample(x, {rate}, 16000, quality='soxr_hq') -> {out.shape[0]} samples, "
                     f"then zero-padded/cut to ceil({mono.shape[0]} * 16000 / {rate}) = {count}")
        mono = np.pad(out, (0, max(0, count - out.shape[0])))[:count].astype(np.float32)
    info = {
        "file": str(path),
        "sample_rate": rate,
        "channels": channels,
        "frames": frames,
        "samples_16k": int(mono.shape[0]),
        "seconds_16k": mono.shape[0] / 16000,
        "sum": float(mono.astype(np.float64).sum()),
        "sum_of_squares": float((mono.astype(np.float64) ** 2).sum()),
        "md5_float32": md5_of(mono),
        "preprocessing": steps,
    }
    return mono, info


# --------------------------------------------------------------------------- capturing the decoder runs


class StepRecorder(LogitsProcessor):
    """Appended after Whisper's own processors: sees the ids so far and the final scores of every step."""

    def __init__(self, events: list):
        self.events = events

    def __call__(self, input_ids, scores):
        self.events.append(("process", input_ids[0].tolist(), scores[0].detach().clone()))
        return scores


class Capture:
    """Hooks that log, in call order: encoder runs, decoder forwards (raw last-position logits), processor calls,
    and generate's progress callback (seek, max_frames)."""

    def __init__(self, model):
        self.model = model
        self.events: list = []
        self.handles = []

    def __enter__(self):
        self.events.clear()
        self.handles.append(self.model.model.encoder.register_forward_hook(lambda m, a, o: self.events.append(("encoder",))))

        def forward_hook(module, args, kwargs, output):
            ids = kwargs.get("decoder_input_ids")
            self.events.append(("forward", None if ids is None else ids[0].tolist(), output.logits[0, -1].detach().float().clone()))

        self.handles.append(self.model.register_forward_hook(forward_hook, with_kwargs=True))
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def progress(self, p):
        self.events.append(("seek", int(p[0, 0]), int(p[0, 1])))

    def recorder(self):
        return StepRecorder(self.events)


def split_windows(events: list, layout: dict, timestamps: bool, valid_frames: int) -> tuple[list, list]:
    """Group the logged events into decoder runs. Returns (windows, raw logits per window [steps, vocab])."""
    tb, eot = layout["timestamp_begin"], layout["eot"]
    windows, raws = [], []
    seek = max_frames = None
    pending_forward = None
    detections = []
    new_window = False
    for event in events:
        kind = event[0]
        if kind == "seek":
            seek, max_frames = event[1], event[2]
        elif kind == "encoder":  # every decoder run (one call of GenerationMixin.generate) starts with the encoder
            new_window = True
        elif kind == "forward":
            if pending_forward is not None:  # a forward with no processor call: language detection
                detections.append(pending_forward)
            pending_forward = event
        elif kind == "process":
            ids, scores = event[1], event[2]
            raw = pending_forward[2]
            pending_forward = None
            if new_window:
                new_window = False
                frames = min(max_frames - seek, 3000)
                windows.append({
                    "seek": seek,
                    "time_offset": round(seek * 0.01, 2),
                    "frames": frames,
                    "audio_frames": max(0, min(valid_frames - seek, frames)),
                    "prompt": ids,
                    "generated": [],
                    "steps": [],
                })
                raws.append([])
            window = windows[-1]
            if ids != window["prompt"] + window["generated"]:
                raise AssertionError(f"decoder ids do not follow the recorded tokens: {ids} vs {window['prompt']} + {window['generated']}")
            chosen = int(torch.argmax(scores))
            top2 = torch.topk(scores, 2).values
            raw_top = torch.topk(raw, TOP_K)
            generated = window["generated"]
            step = {
                "token": chosen,
                "raw_top_ids": raw_top.indices.tolist(),
                "raw_top_logits": [f32(v) for v in raw_top.values.tolist()],
                "raw_logit_of_token": f32(raw[chosen]),
                "margin": f32(top2[0] - top2[1]),
                "allowed": int(torch.isfinite(scores).sum()),
            }
            if timestamps:
                first = len(generated) == 0
                last_ts = len(generated) >= 1 and generated[-1] >= tb
                penult_ts = len(generated) < 2 or generated[-2] >= tb
                if first:
                    rule = "initial"
                elif len(generated) == 1 and last_ts:
                    rule = "after_initial_timestamp"  # transformers counts a missing penultimate as a timestamp
                elif last_ts and penult_ts:
                    rule = "after_pair"
                elif last_ts:
                    rule = "after_single"
                else:
                    rule = "text"
                step["rule"] = rule
                step["forced_timestamp"] = bool(not first and torch.isinf(scores[:tb]).all() and torch.isfinite(scores[tb:]).any())
            generated.append(chosen)
            window["steps"].append(step)
            raws[-1].append(raw)
    for window in windows:
        g = window["generated"]
        window["ended_with"] = "endoftext" if g and g[-1] == eot else "max_length"
        window["timestamp_tokens"] = sum(t >= tb for t in g)
        window["timestamp_pairs"] = sum(1 for a, b in zip(g, g[1:]) if a >= tb and b >= tb)
        if timestamps:
            window["forced_timestamps"] = sum(s["forced_timestamp"] for s in window["steps"])
        window["min_margin"] = min(s["margin"] for s in window["steps"])
    if detections:
        for window in windows:
            window["language_detection"] = True
    return windows, [torch.stack(r).numpy() for r in raws], detections


def canonical(message: str) -> str:
    """First line, at most 300 characters, with the items of printed Python sets sorted (their order follows
    the per-process string hash seed)."""
    message = message.strip().split("\n")[0]
    message = re.sub(r"\{('[^{}]*')\}", lambda m: "{" + ", ".join(sorted(x.strip() for x in m.group(1).split(","))) + "}", message)
    return message[:300]


class LogCapture(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.INFO)
        self.messages: list[str] = []

    def emit(self, record):
        message = canonical(record.getMessage())
        if record.levelno >= logging.WARNING and message not in self.messages:
            self.messages.append(message)


def run_case(model, capture: Capture, fn):
    """Run `fn` with the hooks and a log/warning catcher; returns (output, warnings)."""
    handler = LogCapture()
    logger = logging.getLogger("transformers")
    logger.addHandler(handler)
    transformers.utils.logging.warning_once.cache_clear()  # so each case lists its own once-only warnings
    try:
        with warnings.catch_warnings(record=True) as caught, torch.no_grad(), capture:
            warnings.simplefilter("always")
            out = fn()
    finally:
        logger.removeHandler(handler)
    messages = handler.messages + [canonical(str(w.message)) for w in caught]
    return out, list(dict.fromkeys(messages))


# --------------------------------------------------------------------------- references


def segment_entries(segments, tokenizer) -> list[dict]:
    out = []
    for seg in segments:
        tokens = seg["tokens"].tolist()
        entry = {"start": round(float(seg["start"]), 6), "end": round(float(seg["end"]), 6), "tokens": tokens}
        if tokenizer is not None:
            entry["text"] = tokenizer.decode(tokens, skip_special_tokens=True)
            entry["text_with_timestamps"] = tokenizer.decode(tokens, decode_with_timestamps=True)
        if "token_timestamps" in seg:
            entry["token_timestamps"] = [f32(v) for v in seg["token_timestamps"].tolist()]
        out.append(entry)
    return out


class Reference:
    def __init__(self, root: Path):
        self.root = root
        self.files: dict[str, dict] = {}
        self.cases: dict[str, dict] = {}

    def json(self, rel: str, value, what: str):
        dump_json(self.root / rel, value)
        self.files[rel] = {"what": what}

    def npy(self, rel: str, array: np.ndarray, what: str):
        array = np.ascontiguousarray(array, dtype=np.float32)
        (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
        np.save(self.root / rel, array)
        self.files[rel] = {"shape": list(array.shape), "dtype": array.dtype.str, "what": what}


def write_case(ref: Reference, model_name: str, input_name: str, case: str, *, windows, raws, result: dict,
               description: dict, warnings_seen: list, layout: dict):
    rel = f"{model_name}/{input_name}/{case}"
    stored = {}
    for (m, i, c, k, steps) in LOGITS:
        if (m, i, c) == (model_name, input_name, case) and k < len(raws):
            n = min(steps, raws[k].shape[0])
            ref.npy(f"{rel}/logits_{k}.npy", raws[k][:n],
                    f"raw decoder logits (before any logits processor) of window {k}, steps 0..{n - 1} [steps, {layout['vocab']}]")
            stored[k] = n
    for k, window in enumerate(windows):
        window["logits_file"] = f"logits_{k}.npy" if k in stored else None
        window["logits_steps"] = stored.get(k, 0)
    ref.json(f"{rel}/windows.json", windows, "one entry per decoder run (window): seek/frames/prompt/generated and per-step details")
    ref.json(f"{rel}/result.json", result, "what generate (and for words: the pipeline) returned, decoded with the tokenizer")
    ref.cases[rel] = {
        **description,
        "windows": len(windows),
        "generated_per_window": [len(w["generated"]) for w in windows],
        "seeks": [w["seek"] for w in windows],
        "endings": [w["ended_with"] for w in windows],
        "timestamp_tokens": sum(w["timestamp_tokens"] for w in windows),
        "timestamp_pairs": sum(w["timestamp_pairs"] for w in windows),
        "forced_timestamps": sum(w.get("forced_timestamps", 0) for w in windows),
        "min_margin": min(w["min_margin"] for w in windows),
        "warnings": warnings_seen,
    }


def pipeline_default(asr, samples) -> dict:
    """The pipeline without num_beams: its own default generation parameters apply (num_beams=5 unless the model's
    generation_config.json sets it), so this is beam search, not greedy; recorded for the record (no windows)."""
    handler = LogCapture()
    logging.getLogger("transformers").addHandler(handler)
    transformers.utils.logging.warning_once.cache_clear()
    try:
        with torch.no_grad():
            p = asr({"raw": samples, "sampling_rate": 16000}, return_timestamps="word")
        out = {"num_beams": asr._generation_defaults.get("num_beams"), "text": p["text"],
               "words": [{"word": c["text"], "start": c["timestamp"][0], "end": c["timestamp"][1]} for c in p["chunks"]]}
    except Exception as error:  # noqa: BLE001 - recorded, not fatal
        out = {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"}
    finally:
        logging.getLogger("transformers").removeHandler(handler)
    out["warnings"] = handler.messages
    return out


def english_references(fixtures: Path, ref: Reference, model, audio: dict, infos: dict):
    folder = fixtures / "models" / MODEL
    layout = LAYOUTS[MODEL]
    tokenizer = WhisperTokenizerFast.from_pretrained(folder)
    processor = WhisperProcessor.from_pretrained(folder)
    asr = pipeline("automatic-speech-recognition", model=model, tokenizer=tokenizer, feature_extractor=processor.feature_extractor, device="cpu")
    capture = Capture(model)

    def decode_all(sequences):
        return {
            "text": tokenizer.batch_decode(sequences, skip_special_tokens=True)[0],
            "text_with_special_tokens": tokenizer.batch_decode(sequences, skip_special_tokens=False)[0],
        }

    for input_name, samples in audio.items():
        long = input_name == LONG_INPUT
        if long:
            feats = processor(samples, sampling_rate=16000, return_tensors="pt", truncation=False, padding="longest", return_attention_mask=True)
            feature_call = ("processor(audio, sampling_rate=16000, return_tensors='pt', truncation=False, padding='longest', "
                            "return_attention_mask=True)")
        else:
            feats = processor(samples, sampling_rate=16000, return_tensors="pt", return_attention_mask=True)
            feature_call = "processor(audio, sampling_rate=16000, return_tensors='pt', return_attention_mask=True) (pads to 30 s)"
        features, mask = feats.input_features, feats.attention_mask
        valid = int(mask.sum())
        base = {
            "input": input_name,
            "audio": infos[input_name],
            "features": {"call": feature_call, "shape": list(features.shape), "valid_frames": valid,
                         "sum": float(features.double().sum()), "md5_float32": md5_of(features.numpy())},
        }

        def record(case, fn, call, timestamps, result_fn):
            out, seen = run_case(model, capture, fn)
            windows, raws, _ = split_windows(capture.events, layout, timestamps, valid)
            result = {"call": call, **result_fn(out)}
            write_case(ref, MODEL, input_name, case, windows=windows, raws=raws, result=result,
                       description={**base, "call": call}, warnings_seen=seen, layout=layout)
            return out, windows

        def words_case(case, generate_kwargs, generate_timestamps, call, runs, extra_fn):
            """The ASR pipeline with return_timestamps='word', then generate(return_token_timestamps=True, **generate_kwargs)."""
            def words_fn():
                p = asr({"raw": samples, "sampling_rate": 16000}, return_timestamps="word",
                        generate_kwargs={"num_beams": 1, "logits_processor": [capture.recorder()], "monitor_progress": capture.progress})
                n_pipe = len(capture.events)
                g = model.generate(features, attention_mask=mask, return_token_timestamps=True, logits_processor=[capture.recorder()],
                                   monitor_progress=capture.progress, **generate_kwargs)
                return p, g, n_pipe

            (p, g, n_pipe), seen = run_case(model, capture, words_fn)
            beams = pipeline_default(asr, samples)
            events = list(capture.events)
            w_pipe, r_pipe, _ = split_windows(events[:n_pipe], layout, True, valid)
            w_gen, r_gen, _ = split_windows(events[n_pipe:], layout, generate_timestamps, valid)
            for w in w_pipe:
                w["run"] = "pipeline"
            for w in w_gen:
                w["run"] = "generate"
            result = {
                "call": call,
                "pipeline_text": p["text"],
                "pipeline_default_beams": beams,
                "words": [{"word": c["text"], "start": c["timestamp"][0], "end": c["timestamp"][1]} for c in p["chunks"]],
                "sequences": g["sequences"][0].tolist(),
                **decode_all(g["sequences"]),
                "token_timestamps": [f32(v) for v in g["token_timestamps"][0].tolist()],
                **extra_fn(g),
            }
            write_case(ref, MODEL, input_name, case, windows=w_pipe + w_gen, raws=r_pipe + r_gen, result=result,
                       description={**base, "call": call, "runs": runs}, warnings_seen=seen, layout=layout)

        if not long:
            call = "model.generate(input_features, logits_processor=[recorder], monitor_progress=...)"
            out, windows = record("notimestamps", lambda: model.generate(features, logits_processor=[capture.recorder()], monitor_progress=capture.progress),
                                  call, False, lambda o: {"sequences": o[0].tolist(), **decode_all(o)})
            if input_name == "arctic_a0007_wav":
                with torch.no_grad():
                    hidden = model.model.encoder(features).last_hidden_state[0]
                ref.npy(f"{MODEL}/{input_name}/notimestamps/encoder_last_hidden_state.npy", hidden.numpy(),
                        "model.model.encoder(input_features).last_hidden_state [1500, 16]")

            call = "model.generate(input_features, return_timestamps=True, return_segments=True, ...)"
            record("timestamps", lambda: model.generate(features, return_timestamps=True, return_segments=True,
                                                        logits_processor=[capture.recorder()], monitor_progress=capture.progress),
                   call, True, lambda o: {"sequences": o["sequences"][0].tolist(), **decode_all(o["sequences"]),
                                          "segments": segment_entries(o["segments"][0], tokenizer)})

            # words: the pipeline (return_timestamps="word": timestamps on + token timestamps, attention mask passed),
            # then generate(return_token_timestamps=True) without timestamps.
            words_case("words", {}, False,
                       "pipeline('automatic-speech-recognition', model, tokenizer, feature_extractor)({'raw': audio, 'sampling_rate': 16000}, "
                       "return_timestamps='word', generate_kwargs={'num_beams': 1, ...}); then model.generate(input_features, attention_mask=attention_mask, return_token_timestamps=True)",
                       "windows with run 'pipeline' (timestamps on, token timestamps) then 'generate' (no timestamps)", lambda g: {})
        else:
            call = ("model.generate(input_features, attention_mask=attention_mask, return_timestamps=True, return_segments=True, ...) "
                    "(long-form: more than 3000 frames)")
            record("longform_timestamps",
                   lambda: model.generate(features, attention_mask=mask, return_timestamps=True, return_segments=True,
                                          logits_processor=[capture.recorder()], monitor_progress=capture.progress),
                   call, True, lambda o: {"sequences": o["sequences"][0].tolist(), **decode_all(o["sequences"]),
                                          "segments": segment_entries(o["segments"][0], tokenizer)})

            words_case("longform_words", {"return_timestamps": True, "return_segments": True}, True,
                       "pipeline(...)({'raw': audio, 'sampling_rate': 16000}, return_timestamps='word', generate_kwargs={'num_beams': 1, ...}) (no chunk_length_s: "
                       "long-form generate); then model.generate(input_features, attention_mask=attention_mask, return_timestamps=True, "
                       "return_token_timestamps=True, return_segments=True)",
                       "windows with run 'pipeline' then 'generate' (both timestamps on, token timestamps)",
                       lambda g: {"segments": segment_entries(g["segments"][0], tokenizer)})

def multilingual_references(fixtures: Path, ref: Reference, model, audio: dict, infos: dict):
    layout = LAYOUTS[MULTI]
    feature_extractor = WhisperFeatureExtractor.from_pretrained(fixtures / "models" / MULTI)
    capture = Capture(model)
    cases = [
        ("arctic_a0007_wav", "detect_language", {}),
        ("arctic_a0007_wav", "language_de", {"language": "de"}),
        ("arctic_a0007_wav", "translate_fr", {"language": "fr", "task": "translate"}),
        ("arctic_a0007_wav", "translate_fr_timestamps", {"language": "fr", "task": "translate", "return_timestamps": True}),
        ("cards-005-8k_wav", "language_en", {"language": "en"}),
    ]
    for input_name, case, kwargs in cases:
        samples = audio[input_name]
        feats = feature_extractor(samples, sampling_rate=16000, return_tensors="pt", return_attention_mask=True)
        features, valid = feats.input_features, int(feats.attention_mask.sum())
        timestamps = bool(kwargs.get("return_timestamps"))
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        call = f"model.generate(input_features{', ' + args if args else ''}, return_segments=True, ...)"

        def fn():
            return model.generate(features, return_segments=True, logits_processor=[capture.recorder()],
                                  monitor_progress=capture.progress, **kwargs)

        out, seen = run_case(model, capture, fn)
        windows, raws, detections = split_windows(capture.events, layout, timestamps, valid)
        result = {"call": call, "sequences": out["sequences"][0].tolist(),
                  "segments": segment_entries(out["segments"][0], None)}
        if detections:
            logits = detections[0][2]
            lang_ids = sorted(model.generation_config.lang_to_id.values())
            result["language_detection"] = {
                "decoder_input_ids": detections[0][1],
                "lang_logits": {str(i): f32(logits[i]) for i in lang_ids},
                "detected": int(lang_ids[int(torch.argmax(logits[lang_ids]))]),
            }
        write_case(ref, MULTI, input_name, case, windows=windows, raws=raws, result=result,
                   description={"input": input_name, "audio": infos[input_name], "call": call,
                                "features": {"call": "feature_extractor(audio, sampling_rate=16000, return_tensors='pt')",
                                             "valid_frames": valid}},
                   warnings_seen=seen, layout=layout)


FORMAT_NOTES = {
    "case_path": "<model>/<input>/<case>/; <input> is the file name with '.' replaced by '_'",
    "windows.json": "list, one entry per decoder run (one call of GenerationMixin.generate inside WhisperGenerationMixin.generate, "
    "i.e. one 30 s window; cases 'words' and 'longform_words' hold two runs, told apart by 'run'): seek (input frame offset "
    "of the window, from generate's monitor_progress), time_offset (seek * 0.01 s), frames (frames of input_features the "
    "window takes: min(total_frames - seek, 3000); the rest up to 3000 is zero-filled), audio_frames (of those, frames "
    "covering real audio: attention_mask sum - seek, clamped), prompt (decoder ids fed before the first generated token), "
    "generated (greedy ids including a final <|endoftext|>), steps (per generated token: token; raw_top_ids / "
    "raw_top_logits: the 5 largest raw logits; raw_logit_of_token; margin: first minus second largest score after all "
    "logits processors, null when only one token was allowed; allowed: how many scores were finite; with timestamps: rule "
    "(initial / after_initial_timestamp / after_pair / after_single / text: the WhisperTimeStampLogitsProcessor state from "
    "the previous tokens) and forced_timestamp (every non-timestamp score was -inf because the timestamps' summed "
    "probability beat the best text token)), ended_with, timestamp_tokens, timestamp_pairs, forced_timestamps, "
    "min_margin, logits_file / logits_steps (which raw logits were stored)",
    "logits_<k>.npy": "float32 [steps, vocab]: the raw logits (model output at the last position, before any logits "
    "processor) of the first `logits_steps` steps of window k; row i produced generated[i]",
    "result.json": "call; sequences (what generate returned, batch 0); text = tokenizer.batch_decode(sequences, "
    "skip_special_tokens=True)[0]; text_with_special_tokens (skip_special_tokens=False); segments (start, end in "
    "seconds, tokens, text = decode(tokens, skip_special_tokens=True), text_with_timestamps = decode(tokens, "
    "decode_with_timestamps=True), and with token timestamps their per-token values); words cases: pipeline_text, "
    "words [{word, start, end}] from the pipeline chunks, token_timestamps from generate, pipeline_default_beams (the "
    "pipeline with its own defaults: beam search)",
    "numbers": "float32 values in JSON are the shortest decimals that read back to the same float32",
    "inputs/<input>.npy": "float32 16 kHz waveform after decoding, downmix and resampling (only for inputs that are not "
    "16 kHz mono PCM WAV/FLAC)",
}

SEMANTICS_NOTES = {
    "sequences": "generate returns the generated ids WITHOUT the decoder prompt and without the final <|endoftext|> "
    "(it rebuilds them from the segments); with return_timestamps they keep the timestamp tokens. The prompt is "
    "[<|startoftranscript|>, <|notimestamps|>] without timestamps and [<|startoftranscript|>] with them (the "
    "generation_config's forced_decoder_ids [[1, 50362]] gives <|notimestamps|>; it is dropped when return_timestamps)",
    "processor_order": "SuppressTokensAtBeginLogitsProcessor (220 and <|endoftext|> at the first generated step), "
    "SuppressTokensLogitsProcessor (suppress_tokens), WhisperTimeStampLogitsProcessor (when timestamps), then any user "
    "processor; greedy argmax of the result",
    "timestamp_rules": "WhisperTimeStampLogitsProcessor: <|notimestamps|> always -inf; first step: only timestamps "
    "<= <|1.00|> (max_initial_timestamp_index 50); a missing penultimate token counts as a timestamp, so after the "
    "initial timestamp timestamps are suppressed; after a pair of timestamps: no timestamp; after a single timestamp: "
    "every id below <|endoftext|> is -inf (so <|endoftext|>, the language tokens 50258..50356 that tiny.en's "
    "suppress_tokens do not cover, and timestamps remain); timestamps below the last one (below last + 1 unless the last "
    "token was a single timestamp) are -inf; then if logsumexp of the timestamp log-probabilities exceeds the best "
    "non-timestamp log-probability, all non-timestamps are -inf (forced_timestamp in windows.json)",
    "seek": "the window loop runs until seek >= total frames, for short-form too: with return_timestamps a 30 s padded "
    "input (3000 frames) is decoded again from the last timestamp whenever a window does not end with a single "
    "timestamp (cards-001-48k_wav/timestamps: windows at seek 0, 882, 1416 over the zero-padded features). If the "
    "window's tokens end with a single timestamp (or hold no timestamp pair) seek += frames; otherwise seek += "
    "2 * (last timestamp of the last pair - <|0.00|>) and the tokens after that pair are dropped. Without timestamps "
    "and no timestamp tokens, one window",
    "segment_padding": "a window that starts less than 3000 frames before the end is padded with 0.0 (torch F.pad), "
    "not with the feature extractor's padding value",
    "long_form": "input_features longer than 3000 frames: return_timestamps is forced on (False raises); batch of one: "
    "total frames = input_features.shape[-1] (the attention mask is not used for it); condition_on_prev_tokens is off "
    "by default so every window's prompt is just [<|startoftranscript|>]",
    "token_timestamps": "return_token_timestamps switches the model to eager attention for good (the references use "
    "eager throughout) and needs alignment_heads; cross-attentions of the heads over the generated tokens (prompt rows "
    "dropped), cut to num_frames // 2 encoder frames (num_frames = attention_mask.sum() - seek), normalized per encoder "
    "frame over the tokens (mean/std over dim -2, biased), median filter width 7 (reflect padding), mean over heads, DTW "
    "on the negative; prompt tokens get 0.0, the last token repeats the previous time. In long-form, generate's "
    "token_timestamps are per window (no time offset), while segments[*].token_timestamps and the pipeline's words "
    "include the window's time offset",
    "pipeline": "AutomaticSpeechRecognitionPipeline defaults to num_beams=5 when generation_config.json does not set "
    "num_beams (as openai/whisper-tiny.en's does not): the references pass num_beams=1 (greedy, same as generate) and "
    "record the default beam-search result separately. return_timestamps='word' decodes WITH timestamp tokens (it passes "
    "return_timestamps=True and return_token_timestamps=True) and the attention mask. Input given as 16 kHz float32; "
    "at other rates the pipeline would resample with torchaudio, not soxr",
    "max_length": "generation_config max_length 448 counts the prompt: max_length = min(448 + prompt length (at most "
    "223), max_target_positions 448); every reference window ends with <|endoftext|> well before it",
    "language_detection": "multilingual model, no language given and lang_to_id present: one extra forward of the first "
    "3000 frames with decoder ids [<|startoftranscript|>], argmax over the lang_to_id ids (result.json "
    "language_detection)",
}

TOKENIZER_NOTES = {
    "files": "tokenizer.json copied unchanged from the shared data (tokenizers/gpt2-bpe-whisper, Whisper tiny.en's, MIT; "
    "same bytes as Fixtures/tokenizers/gpt2-whisper/tokenizer.json) plus tokenizer_config.json written here "
    "(WhisperTokenizer, <|endoftext|> as bos/eos/unk/pad, the 107 added tokens as additional_special_tokens, "
    "model_max_length 1024, clean_up_tokenization_spaces false)",
    "timestamps_not_in_vocab": "the added tokens end at 50362 <|notimestamps|>; ids 50363..51863 are not in the "
    "tokenizer. transformers: decode() drops them silently; convert_tokens_to_ids('<|0.00|>') gives 50256 (the unknown "
    "token <|endoftext|>); decode(decode_with_timestamps=True) and output_offsets compute timestamp_begin as "
    "all_special_ids[-1] + 1 = 50363, which is right only because tokenizer_config.json lists the specials (with "
    "tokenizer.json alone all_special_ids is [50256] and <|startoftranscript|> would print as <|0.00|>); the pipeline's "
    "_decode_asr uses <|notimestamps|> + 1",
    "clean_up_tokenization_spaces": "transformers 5.24 ignores clean_up_tokenization_spaces=True for this BPE tokenizer "
    "(with a warning), so the file says false; decoding is the same either way",
    "loading": "WhisperTokenizerFast is WhisperTokenizer in transformers 5.24; AutoTokenizer gives WhisperTokenizer with "
    "tokenizer_config.json (TokenizersBackend without it)",
    "multilingual": "whisper-gen-multi has no tokenizer: its references are ids only (prompts with language/task tokens)",
}


def cross_checks(fixtures: Path, model, audio: dict) -> dict:
    """Cached step-by-step logits vs one full-sequence forward (no cache), arctic_a0007 notimestamps window 0."""
    windows = json.loads((fixtures / "reference" / "whisper" / MODEL / "arctic_a0007_wav" / "notimestamps" / "windows.json").read_text())
    stored = np.load(fixtures / "reference" / "whisper" / MODEL / "arctic_a0007_wav" / "notimestamps" / "logits_0.npy")
    w = windows[0]
    ids = torch.tensor([w["prompt"] + w["generated"][:-1]])
    features = WhisperFeatureExtractor(feature_size=80)(audio["arctic_a0007_wav"], sampling_rate=16000, return_tensors="pt").input_features
    with torch.no_grad():
        logits = model(input_features=features, decoder_input_ids=ids, use_cache=False).logits[0, len(w["prompt"]) - 1:]
    full = logits[: stored.shape[0]].numpy()
    greedy = logits.argmax(-1).tolist()
    return {
        "kv_cache_vs_full_forward": {
            "case": f"{MODEL}/arctic_a0007_wav/notimestamps window 0",
            "max_abs_diff_logits_stored_steps": float(np.abs(full - stored).max()),
            "argmax_of_full_forward_equals_generated_ignoring_suppression": greedy == w["generated"],
        }
    }


def main(out_dir=HERE) -> None:
    fixtures = Path(out_dir)
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_warning()
    if not all((fixtures / "audio" / p).is_file() for p in INPUTS.values()):
        spec = importlib.util.spec_from_file_location("gen_derived", fixtures / "audio" / "gen_derived.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.main(fixtures / "audio")
    notes: dict = {}
    model = build_model(fixtures, MODEL, notes)
    multi = build_model(fixtures, MULTI, notes)

    ref_root = fresh_dir(fixtures / "reference" / "whisper")
    ref = Reference(ref_root)
    audio, infos = {}, {}
    for name, rel in INPUTS.items():
        samples, info = load_audio(fixtures / "audio" / rel)
        info["file"] = f"Fixtures/audio/{rel}"
        audio[name], infos[name] = samples, info
        if info["sample_rate"] != 16000 or info["channels"] != 1 or not rel.endswith((".wav", ".flac")):
            ref.npy(f"inputs/{name}.npy", samples, f"the 16 kHz float32 waveform of {rel} after the preprocessing in cases[*].audio")
    english_references(fixtures, ref, model, audio, infos)
    multilingual_references(fixtures, ref, multi, audio, infos)

    manifest = {
        "notes": {
            "format": FORMAT_NOTES,
            "semantics": SEMANTICS_NOTES,
            "tokenizer": TOKENIZER_NOTES,
            "cross_checks": cross_checks(fixtures, model, audio),
            "versions": {
                "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
                "tokenizers": tokenizers.__version__, "safetensors": safetensors.__version__, "numpy": np.__version__,
                "soundfile": sf.__version__, "libsndfile": sf.__libsndfile_version__, "soxr": soxr.__version__,
                "libsoxr": soxr.__libsoxr_version__, "torch_threads": torch.get_num_threads(),
            },
            "models": notes,
            "inputs": infos,
        },
        "cases": ref.cases,
        "files": dict(sorted(ref.files.items())),
    }
    dump_json(ref_root / "manifest.json", manifest)
    total = sum((ref_root / f).stat().st_size for f in ref.files) + (ref_root / "manifest.json").stat().st_size
    print(f"whisper references: {len(ref.files)} files, {total / 1e6:.2f} MB in {ref_root}")


if __name__ == "__main__":
    main(HERE)
