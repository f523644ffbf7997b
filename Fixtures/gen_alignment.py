"""Reference outputs for Whisper word timestamps and subtitles (Sources/MMAttn/Speech).

Run with the project's virtualenv:  python Fixtures/gen_alignment.py [OUT_DIR]   (OUT_DIR defaults to Fixtures)
or import it and call main(out_dir). It writes OUT_DIR/reference/alignment/*.json.

References come from the real implementations, called directly:
- token timestamps: transformers' WhisperGenerationMixin._extract_token_timestamps on cross-attention
  laid out as generate() returns it (one tuple of per-layer tensors per step, the prompt in the first),
  and its module functions _median_filter and _dynamic_time_warping. torch runs on one thread: its
  float32 sums are added in a thread-dependent order, and the Swift side follows the one-thread order.
  The attention values are not stored: both sides compute them from a seed (`attention` below: SplitMix64,
  the top 24 bits of each output as a float32 in [0, 1), with a diagonal band or small integers for ties).
- words and chunks: WhisperTokenizer._decode_asr (the ASR pipeline's post-processing) and
  _combine_tokens_into_words, on token streams made with the real Whisper tokenizer
  (tokenizers/gpt2-whisper/tokenizer.json, loaded with every special added token listed as special, as
  the tokenizer_config.json of the openai/whisper-* checkpoints does).
- subtitles: WriteSRT and WriteVTT from openai-whisper's utils.py (sdist openai-whisper==20250625,
  downloaded with pip into ~/.cache/mmattn-fixtures and imported on its own: it needs only the
  standard library).
"""

import importlib.util
import io
import json
import os
import platform
import subprocess
import sys
import tarfile
import types

import numpy as np
import torch

WHISPER_SDIST_VERSION = "20250625"
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "mmattn-fixtures")
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
TIME_PRECISION = 0.02


# ---------------------------------------------------------------------------------------------
# Seeded attention, reproduced bit for bit by the Swift tests.

def splitmix(seed: int, count: int) -> np.ndarray:
    """Outputs 1..count of SplitMix64 started at `seed` (state_i = seed + i·golden)."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + np.arange(1, count + 1, dtype=np.uint64) * GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def attention(kind: str, seed: int, heads: int, tokens: int, frames: int) -> np.ndarray:
    """[heads, tokens, frames] float32. noise: u; diagonal: u + 1 where |f − c(t)| < 8 with
    c(t) = (t + 1)·frames // (tokens + 1); levels: the top 3 bits as an integer 0…7."""
    z = splitmix(seed, heads * tokens * frames).reshape(heads, tokens, frames)
    if kind == "levels":
        return (z >> np.uint64(61)).astype(np.float32)
    u = (z >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)
    if kind == "diagonal":
        centre = (np.arange(tokens) + 1) * frames // (tokens + 1)
        band = np.abs(np.arange(frames)[None, :] - centre[:, None]) < 8
        u = np.where(band[None], u + np.float32(1.0), u).astype(np.float32)
    return u


class _Outputs(dict):
    __getattr__ = dict.__getitem__


def extract_case(name, kind, seed, heads, tokens, frames, num_frames, prompt, width, frames_as="tensor"):
    """Run _extract_token_timestamps with the alignment heads' rows after the prompt set to
    attention(kind, seed, heads, tokens, frames) and the rest (prompt rows, other heads) noise."""
    from transformers.models.whisper import generation_whisper as gw

    layers, per_layer = 4, 6
    pairs = [(l, h) for l in range(layers) for h in range(per_layer)]
    rng = np.random.default_rng(seed)
    alignment_heads = [pairs[i] for i in rng.permutation(len(pairs))[:heads]]
    total = prompt + tokens
    cross = rng.random((layers, 1, per_layer, total, frames), dtype=np.float32)
    wanted = attention(kind, seed, heads, tokens, frames)
    for k, (l, h) in enumerate(alignment_heads):
        cross[l, 0, h, prompt:] = wanted[k]
    steps = [tuple(torch.from_numpy(cross[l][:, :, :prompt].copy()) for l in range(layers))]
    for s in range(prompt, total):
        steps.append(tuple(torch.from_numpy(cross[l][:, :, s:s + 1].copy()) for l in range(layers)))
    outputs = _Outputs(cross_attentions=tuple(steps), sequences=torch.zeros(1, total + 1, dtype=torch.long))
    model = types.SimpleNamespace(config=types.SimpleNamespace(decoder_layers=layers, median_filter_width=width))

    seen = {}
    original = gw._dynamic_time_warping

    def spy(matrix):
        seen["matrix"] = matrix.copy()
        seen["path"] = original(matrix)
        return seen["path"]

    gw._dynamic_time_warping = spy
    try:
        nf = None if num_frames is None else (num_frames if frames_as == "int" else torch.tensor([num_frames]))
        times = gw.WhisperGenerationMixin._extract_token_timestamps(
            model, outputs, alignment_heads, time_precision=TIME_PRECISION, num_frames=nf, num_input_ids=prompt)
    finally:
        gw._dynamic_time_warping = original
    case = {
        "name": name, "kind": kind, "seed": seed, "heads": heads, "tokens": tokens, "frames": frames,
        "num_frames": num_frames, "prompt": prompt, "median_filter_width": width, "num_frames_as": frames_as,
        "timestamps": [float(t) for t in times[0].tolist()],
    }
    if "path" in seen:
        text, time = seen["path"]
        matrix = -seen["matrix"]
        case["text_indices"] = [int(i) for i in text]
        case["time_indices"] = [int(i) for i in time]
        # A fingerprint of the matrix the DTW saw (float32 values, negated back): its shape, its
        # float64 sum and a few cells, to tell a preprocessing difference from a DTW difference.
        case["matrix_shape"] = list(matrix.shape)
        case["matrix_sum"] = float(np.nansum(matrix))
        case["matrix_nan"] = int(np.isnan(matrix).sum())
        flat = matrix.reshape(-1)
        picks = np.linspace(0, flat.size - 1, num=min(flat.size, 16)).astype(int) if flat.size else []
        case["matrix_cells"] = [[int(i), _num(flat[i])] for i in picks]
    return case


def _num(x):
    x = float(x)
    return None if np.isnan(x) else x


def dtw_cases():
    from transformers.models.whisper.generation_whisper import _dynamic_time_warping

    rng = np.random.default_rng(7)
    matrices = {
        "random 5x9": rng.standard_normal((5, 9)).astype(np.float32),
        "zeros 6x6 (all ties)": np.zeros((6, 6), np.float32),
        "small integers 4x7": rng.integers(-2, 3, (4, 7)).astype(np.float32),
        "one row 1x5": rng.standard_normal((1, 5)).astype(np.float32),
        "one column 5x1": rng.standard_normal((5, 1)).astype(np.float32),
        "nan cell 3x5": np.array([[0, 1, 2, 3, 4], [1, np.nan, 1, 0, 2], [3, 2, 1, 0, 1]], np.float32),
        "wide 3x40 levels": rng.integers(0, 2, (3, 40)).astype(np.float32),
        "tall 30x8 levels": rng.integers(0, 3, (30, 8)).astype(np.float32),
        # cost sums that round in float32: large and small magnitudes together.
        "rounding 6x10": (rng.standard_normal((6, 10)) * np.array([1e6, 1e-3] * 5)).astype(np.float32),
    }
    out = []
    for name, m in matrices.items():
        text, time = _dynamic_time_warping(m.astype(np.float64))
        out.append({"name": name, "rows": m.shape[0], "columns": m.shape[1],
                    "matrix": [_num(v) for v in m.reshape(-1)],
                    "text_indices": [int(i) for i in text], "time_indices": [int(i) for i in time]})
    return out


def median_cases():
    from transformers.models.whisper.generation_whisper import _median_filter

    rng = np.random.default_rng(11)
    out = []
    specs = [("random 2x3x10 w7", (1, 2, 3, 10), 7, None), ("random 2x4x9 w5", (2, 4, 9), 5, None),
             ("random 3x12 w3", (1, 3, 12), 3, None), ("short rows 2x3 w7 (unchanged)", (1, 2, 3), 7, None),
             ("rows of 4 w7 (pad 3 < 4)", (1, 2, 4), 7, None), ("width 1", (1, 2, 6), 1, None),
             ("nan 2x10 w5", (1, 2, 10), 5, "nan"), ("ties 3x11 w7 (zeros of both signs)", (1, 3, 11), 7, "ties")]
    for name, shape, width, special in specs:
        x = rng.standard_normal(shape).astype(np.float32)
        if special == "nan":
            x.reshape(-1)[[3, 4, 12]] = np.nan
        if special == "ties":
            x = np.round(x).astype(np.float32)
        y = _median_filter(torch.from_numpy(x), width).numpy()
        out.append({"name": name, "row_length": shape[-1], "width": width,
                    "input": [_num(v) for v in x.reshape(-1)], "output": [_num(v) for v in y.reshape(-1)]})
    return out


# ---------------------------------------------------------------------------------------------
# Words and chunks.

def whisper_tokenizer(out_dir):
    from transformers import WhisperTokenizer

    path = os.path.join(out_dir, "tokenizers", "gpt2-whisper", "tokenizer.json")
    with open(path, encoding="utf-8") as f:
        added = json.load(f)["added_tokens"]
    return WhisperTokenizer(tokenizer_file=path, additional_special_tokens=[a["content"] for a in added if a["special"]])


def stream(tok, parts):
    """Token ids from parts: str → its ids (no special tokens added), float → the timestamp token
    of that many seconds, "<|...|>" → that special token."""
    begin = tok.convert_tokens_to_ids("<|notimestamps|>") + 1
    ids = []
    for p in parts:
        if isinstance(p, float):
            ids.append(begin + int(round(p / TIME_PRECISION)))
        elif p.startswith("<|") and p.endswith("|>"):
            ids.append(tok.convert_tokens_to_ids(p))
        else:
            ids.extend(tok(p, add_special_tokens=False)["input_ids"])
    return ids


WORD_CASES = [
    ("punctuation", [0.0, " Hello, world! It's 3.14 o'clock—isn't it?", 2.4, 2.4,
                     " \"Quoted\" (parens) [brackets] {braces} -dash - spaced... ok.", 5.0]),
    ("numbers and contractions", [0.0, " We'll pay $1,000.50 on 12/25, won't we? I'm sure they'd've said 100%.", 4.2]),
    ("spaces and newlines", [0.0, "  double  spaces   and a tab\there\nnew line ", 1.5, 1.5, " trailing space ", 3.0]),
    ("leading text without space", [0.0, "No leading space, then ' quoted' and «guillemets».", 2.0]),
    ("duplicate start timestamp", [1.0, 1.0, " The start repeats.", 2.0, 2.0, " Next one", 3.5]),
    ("no ending timestamp", [0.0, " First part.", 1.2, 1.2, " cut off in the mid"]),
    ("no timestamps", [" Just text, no timestamps at all."]),
    ("special tokens", ["<|en|>", "<|transcribe|>", 0.0, " With specials around.", 1.0, "<|endoftext|>"]),
    ("long form single ending", [0.0, " First window ends.", 29.0, " Second window", 2.0, 2.0, " goes on.", 4.0]),
    ("long form pair ending", [0.0, " One.", 10.0, 10.0, " Two.", 28.0, 28.0, " Three after restart.", 3.0, 3.0,
                               " Four.", 6.0]),
    ("prepend merge", [0.0, " \"Hello,\" she said (quietly). ¿Qué? ¡Sí! \"' nested '\" - ( [ x ] ) “curly”.", 4.0]),
    ("chinese with language token", ["<|zh|>", 0.0, "你好，世界！我们今天去北京。", 2.0, 2.0, "🎉 👍🏽好的", 3.0]),
    ("chinese without language token", [0.0, "你好，世界！我们今天去北京。", 2.0]),
    ("japanese", ["<|ja|>", 0.0, "こんにちは。東京へ行きます、はい！", 2.5]),
    ("thai", ["<|th|>", 0.0, "สวัสดีครับ ขอบคุณ", 1.5]),
    ("german umlauts", ["<|de|>", 0.0, " Grüße aus München – schön, oder?", 2.0]),
    ("prompt stripped", ["<|startofprev|>", " previous text", "<|startoftranscript|>", "<|en|>", 0.0, " After the prompt.",
                         1.0]),
    ("prompt without start", ["<|startofprev|>", " only a prompt", 0.0, " text", 1.0]),
]


def token_times(seed, n):
    """Monotone float32 times: steps of 0.02·k (k in 0…6) plus float32 noise below 0.01."""
    rng = np.random.default_rng(seed)
    steps = np.cumsum(rng.integers(0, 7, n) * TIME_PRECISION)
    return (steps + rng.random(n) * 0.01).astype(np.float32)


def word_cases(tok):
    out = []
    for k, (name, parts) in enumerate(WORD_CASES):
        ids = stream(tok, parts)
        times = token_times(100 + k, len(ids))
        outputs = lambda: [{"tokens": torch.tensor([ids]), "token_timestamps": torch.from_numpy(times[None].copy())}]
        text, words = tok._decode_asr(outputs(), return_timestamps="word", return_language=False, time_precision=TIME_PRECISION)
        _, chunks = tok._decode_asr(outputs(), return_timestamps=True, return_language=True, time_precision=TIME_PRECISION)
        out.append({
            "name": name, "ids": ids, "times": [float(t) for t in times], "text": text,
            "words": [{"text": w["text"], "start": w["timestamp"][0], "end": w["timestamp"][1]} for w in words["chunks"]],
            "chunks": [{"text": c["text"], "start": c["timestamp"][0], "end": c["timestamp"][1], "language": c["language"]}
                       for c in chunks["chunks"]],
        })
    return out


def combine_cases(tok):
    """_combine_tokens_into_words on text tokens alone, both splittings."""
    from transformers.models.whisper.tokenization_whisper import _combine_tokens_into_words

    texts = [" Hello, world! It's 3.14 o'clock—isn't it?", " \"Quoted\" (parens) - dash ... ok.", "你好，世界！🎉👍🏽",
             "  spaced   out  ", " \n", " ( [", "'.", " ¿Qué? ¡Sí!", "no space start", "ŝĉ ĝ ĥ ĵ ŭ"]
    out = []
    for text in texts:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        for language in ["english", "chinese"]:
            words, word_tokens, indices = _combine_tokens_into_words(tok, ids, language)
            out.append({"text": text, "language": language, "ids": ids, "words": words, "word_tokens": word_tokens,
                        "indices": indices})
    return out


def round_cases():
    """Python's round(x, 2) on doubles near the halfway points (and float32 values)."""
    rng = np.random.default_rng(5)
    xs = [0.005, 0.015, 0.025, 0.125, 0.375, 2.675, 1.005, -0.005, -0.125, 29.995, 1234.565, 0.0, 1e-9, 1e15, 3.14159]
    xs += [float(np.float32(v)) for v in rng.random(40) * 40]
    xs += [k / 1000 + 0.005 for k in range(0, 3000, 37)]
    return [{"x": x, "rounded": round(x, 2)} for x in xs]


# ---------------------------------------------------------------------------------------------
# Subtitles.

def whisper_utils():
    folder = os.path.join(CACHE, "openai-whisper")
    name = f"openai_whisper-{WHISPER_SDIST_VERSION}.tar.gz"
    if not os.path.exists(os.path.join(folder, name)):
        os.makedirs(folder, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", folder, "--no-binary", ":all:",
                        f"openai-whisper=={WHISPER_SDIST_VERSION}"], check=True)
    with tarfile.open(os.path.join(folder, name)) as archive:
        source = archive.extractfile(f"openai_whisper-{WHISPER_SDIST_VERSION}/whisper/utils.py").read()
    spec = importlib.util.spec_from_loader("whisper_utils", loader=None)
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, "whisper/utils.py", "exec"), module.__dict__)
    return module


SUBTITLE_SEGMENTS = [
    [(0.0, 2.4, " Hello, world!"), (2.4, 5.0, "  Second line with spaces  "), (5.0, 7.25, "arrow --> inside ---> twice")],
    [(0.0005, 0.0015, "half milliseconds"), (1.0015, 2.675, "two point six seven five"),
     (59.9996, 60.0004, "rounds up to a minute"), (3599.9995, 3600.0, "an hour"), (3661.001, 3725.5, "past an hour"),
     (36000.0, 36001.5, "ten hours"), (360000.25, 360001.0, "a hundred hours")],
    [(1.0, 2.0, "\u3000ideographic space\u3000"), (2.0, 3.0, "multi\nline\n"), (3.0, 4.0, ""), (4.0, 5.0, "你好，世界！"),
     (5.0, 6.0, "\x1ftrailing unit separator\x1f"), (6.0, 7.0, "\u200bzero width space kept\u200b")],
    [],
]


def subtitle_cases():
    utils = whisper_utils()

    class VTTHours(utils.WriteVTT):
        always_include_hours = True

    out = []
    for segments in SUBTITLE_SEGMENTS:
        result = {"segments": [{"start": s, "end": e, "text": t} for s, e, t in segments]}
        written = {}
        for key, writer in [("srt", utils.WriteSRT), ("vtt", utils.WriteVTT), ("vtt_hours", VTTHours)]:
            buffer = io.StringIO()
            writer(".").write_result(result, file=buffer)
            written[key] = buffer.getvalue()
        out.append({"segments": [[s, e, t] for s, e, t in segments], **written})
    stamps = [0.0, 0.0004, 0.0005, 0.0015, 0.0025, 1.0005, 59.9995, 3599.9994, 3599.9995, 86399.9999, 2.675, 1e-7]
    out_stamps = [{"seconds": s, "srt": utils.format_timestamp(s, True, ","), "vtt": utils.format_timestamp(s, False, ".")}
                  for s in stamps]
    return out, out_stamps


# ---------------------------------------------------------------------------------------------

EXTRACT_CASES = [
    # name, kind, seed, heads, tokens, frames, num_frames, prompt, width[, num_frames_as]
    ("full window, no num_frames", "diagonal", 1, 6, 24, 1500, None, 4, 7),
    ("cropped to 500 frames", "diagonal", 2, 6, 24, 1500, 1000, 4, 7),
    ("cropped to 1499, seven heads", "noise", 3, 7, 50, 1500, 2999, 4, 7),
    ("largest window: 448 tokens x 1500 frames (2 heads)", "diagonal", 4, 2, 448, 1500, 3000, 3, 7),
    ("ten heads", "diagonal", 16, 10, 60, 1500, 2000, 3, 7),
    ("one row (std 0, NaN)", "noise", 5, 4, 1, 1500, 3000, 3, 7),
    ("no rows", "noise", 6, 4, 0, 1500, 3000, 3, 7),
    ("300 tokens, 64 frames (level cascade)", "noise", 7, 3, 300, 64, None, 1, 7),
    ("cropped below the filter (2 frames)", "noise", 8, 6, 30, 1500, 5, 4, 7),
    ("cropped to nothing", "noise", 9, 3, 5, 1500, 1, 2, 7),
    ("levels with ties, cropped to 800", "levels", 10, 5, 40, 1500, 1600, 3, 7),
    ("levels with ties, 200 frames, width 5", "levels", 11, 4, 20, 200, None, 2, 5),
    ("width 3", "noise", 12, 5, 33, 1500, 2400, 4, 3),
    ("width 1", "noise", 13, 6, 21, 1500, 1234, 4, 1),
    ("num_frames beyond the window", "diagonal", 14, 6, 20, 1500, 5000, 4, 7),
    ("num_frames as an int", "diagonal", 15, 5, 26, 1500, 1777, 4, 7, "int"),
]


def main(out_dir="Fixtures"):
    torch.set_num_threads(1)
    import transformers

    dest = os.path.join(out_dir, "reference", "alignment")
    os.makedirs(dest, exist_ok=True)
    tok = whisper_tokenizer(out_dir)
    subtitles, stamps = subtitle_cases()
    files = {
        "token_timestamps.json": {"cases": [extract_case(*c) for c in EXTRACT_CASES], "dtw": dtw_cases(),
                                  "median": median_cases()},
        "words.json": {"timestamp_begin": tok.convert_tokens_to_ids("<|notimestamps|>") + 1,
                       "end_of_text": tok.eos_token_id, "cases": word_cases(tok), "combine": combine_cases(tok),
                       "round": round_cases()},
        "subtitles.json": {"cases": subtitles, "timestamps": stamps},
    }
    files["versions.json"] = {"python": platform.python_version(), "transformers": transformers.__version__,
                              "torch": torch.__version__, "numpy": np.__version__, "torch_threads": torch.get_num_threads(),
                              "openai-whisper": WHISPER_SDIST_VERSION}
    for name, content in files.items():
        with open(os.path.join(dest, name), "w", encoding="utf-8") as f:
            json.dump(content, f, ensure_ascii=False, separators=(",", ":") if name != "versions.json" else None,
                      indent=None if name != "versions.json" else 2)
            f.write("\n")
        print(f"wrote {os.path.join(dest, name)} ({os.path.getsize(os.path.join(dest, name))} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__))))
