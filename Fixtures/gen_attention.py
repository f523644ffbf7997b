"""Attention probabilities from transformers for every model family's tiny fixture model (`mmattn attention`).

Writes, under OUT (the Fixtures folder), `reference/attention/`:

- `<name>.safetensors` per reference (float32 tensors): `attentions`, what `output_attentions=True` returns with
  `attn_implementation="eager"`, stacked over layers with the batch axis dropped, [L, H, T, T]; TimeSformer with
  divided space-time attention returns each layer's SPATIAL attention [frames, H, S, S], stacked to
  [L, F, H, S, S] (plus `temporal_attentions` [L, N, H, F, F], which transformers computes but does not return,
  recomputed by a pre-hook on each layer's temporal attention). Where the full tensor is large (the Whisper
  encoder's 1500 positions) only some query rows are kept: `rows` (float32 indices, ascending, 0 and T-1
  included) and `attentions` [L, H, len(rows), T]. Text models add `input_ids`, ESM-2 `input_ids` and
  `contacts`, whisper-gen `tokens`, `cross_attentions` (rows `cross_rows` only) and `decoder_attentions`.
- `protein.fasta`: the ESM-2 input, the first record of `protein/LuxC.faa` cut to its first 48 residues.
- `inputs.json`: per reference the model folder, the input, the preprocessing call, every tensor's shape, the
  tokens of text models, the kept rows, notes on transformers' layout, the checks that ran, and the versions.

Inputs go through the same path the other generators use: the fixture folder's tokenizer (`tokenizer(text)`),
image processor (`transformers.image_utils.load_image` then the processor), feature extractor (soundfile
float32 samples at 16 kHz) or the video processor (the `video/frames/pan` PNG frames sampled as gen_video.py
does). Models are loaded with the class in their config's `architectures`, float32, eager attention.

Deterministic: one thread, no random numbers; a second run rewrites the same bytes. Run through
`Fixtures/generate.py gen_attention`, or alone: `python Fixtures/gen_attention.py`.
"""

from __future__ import annotations

import json
import math
import platform
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import PIL
import safetensors
import safetensors.numpy
import soundfile
import tokenizers
import torch

import transformers
from transformers import AutoFeatureExtractor, AutoImageProcessor, AutoTokenizer, WhisperProcessor
from transformers.image_utils import load_image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from gen_video import FOLDERS as VIDEO_FOLDERS, read_folder, sample_indices, temporal_probs  # noqa: E402

TEXT = "The animal didn't cross the street because it was tired."
TEXT_MODELS = ["bert", "roberta", "distilbert", "gpt2", "modernbert", "qwen3-embedding", "st-bert-mean"]
CAUSAL = {"gpt2", "qwen3-embedding"}
IMAGE = "images/cat.png"
IMAGE_MODELS = ["vit", "deit", "deit-distilled"]
AUDIO = "audio/cards-005.wav"
VIDEO = "pan"
VIDEO_MODELS = ["timesformer", "timesformer-joint", "videomae"]
PROTEIN_FASTA = "protein/LuxC.faa"
PROTEIN_RESIDUES = 48
WHISPER_GEN = "whisper-gen"
CROSS_ROWS = 16  # query rows kept of whisper-gen's cross-attention (N x 1500 per head is 2.7 MB in full)
SUM_TOLERANCE = 1e-5


# --------------------------------------------------------------------------- small helpers


def rel(fixtures: Path, path: Path) -> str:
    """A path as the repository names it: Fixtures/…"""
    return "Fixtures/" + str(path.relative_to(fixtures))


def load(fixtures: Path, name: str):
    """The fixture model with the class of its config's `architectures`, float32, eager attention."""
    folder = fixtures / "models" / name
    architecture = json.loads((folder / "config.json").read_text())["architectures"][0]
    cls = getattr(transformers, architecture)
    model, info = cls.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32, output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), (name, info)
    assert model.config._attn_implementation == "eager", name
    model.eval()
    return model, architecture


def stack(attentions) -> torch.Tensor:
    """transformers' per-layer tuple [batch 1, H, Q, K] -> [L, H, Q, K]."""
    assert all(a.shape[0] == 1 for a in attentions), [tuple(a.shape) for a in attentions]
    return torch.stack([a[0] for a in attentions])


def max_row_sum_error(attn: torch.Tensor) -> float:
    """Largest |sum over keys - 1| of any query row (every row here has at least one unmasked key)."""
    return (attn.double().sum(-1) - 1).abs().max().item()


def check_rows(name: str, attn: torch.Tensor, checks: dict, key: str = "max_abs_row_sum_minus_1") -> None:
    err = max_row_sum_error(attn)
    assert err < SUM_TOLERANCE, (name, key, err)
    assert attn.min().item() >= 0, name
    checks[key] = float(f"{err:.3g}")


def check_causal(name: str, attn: torch.Tensor, checks: dict, key: str = "future_entries") -> None:
    """Entries above the diagonal (key after query) are exact zeros, the rest positive."""
    t = attn.shape[-1]
    assert attn.shape[-2] == t
    future = torch.arange(t)[None, :] > torch.arange(t)[:, None]
    assert attn[..., future].eq(0).all() and attn[..., ~future].gt(0).all(), name
    checks[key] = "exact zeros above the diagonal (key j > query i), every other entry > 0"


def input_sum(x: torch.Tensor) -> float:
    return float(x.double().sum())


def dump_json(path: Path, value: dict) -> None:
    """JSON with every list of numbers, and the token and frame lists, on one line."""
    lines: list[str] = []

    def hold(key, node):
        if isinstance(node, dict):
            return {k: hold(k, v) for k, v in node.items()}
        if key in ("tokens", "token_strings", "frames"):
            lines.append(json.dumps(node, ensure_ascii=False))
            return f"\0{len(lines) - 1}\0"
        return node

    text = json.dumps(hold(None, value), indent=1, ensure_ascii=False)
    text = re.sub(r"\[[-0-9.e,\s]*\]", lambda m: "[" + ", ".join(m.group(0)[1:-1].split()).replace(",,", ",") + "]", text)
    text = re.sub(r'"\\u0000(\d+)\\u0000"', lambda m: lines[int(m.group(1))], text)
    path.write_text(text + "\n")


class Output:
    """Writes one safetensors file per reference and collects inputs.json."""

    def __init__(self, fixtures: Path):
        self.fixtures = fixtures
        self.root = fixtures / "reference" / "attention"
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        self.entries: dict[str, dict] = {}

    def write(self, name: str, tensors: dict[str, torch.Tensor], entry: dict) -> None:
        arrays = {k: np.ascontiguousarray(v.detach().to(torch.float32).numpy()) for k, v in tensors.items()}
        path = self.root / f"{name}.safetensors"
        # One metadata key: safetensors writes the metadata map in hash order, so two keys would swap between runs.
        safetensors.numpy.save_file(arrays, path, metadata={"source": f"Fixtures/gen_attention.py on {entry['model']}; "
                                                                      "see inputs.json"})
        self.entries[name] = {"file": path.name, "bytes": path.stat().st_size,
                              "shapes": {k: list(a.shape) for k, a in arrays.items()}, **entry}


# --------------------------------------------------------------------------- text


def text_refs(out: Output) -> None:
    for name in TEXT_MODELS:
        folder = out.fixtures / "models" / name
        model, architecture = load(out.fixtures, name)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        enc = tokenizer(TEXT)
        ids = enc["input_ids"]
        batch = {k: torch.tensor([v]) for k, v in enc.items()}
        with torch.no_grad():
            result = model(**batch, output_attentions=True)
        attn = stack(result.attentions)
        config = model.config
        t = len(ids)
        assert attn.shape == (config.num_hidden_layers, config.num_attention_heads, t, t), (name, attn.shape)
        checks: dict = {}
        check_rows(name, attn, checks)
        notes = [f"{architecture}(…, output_attentions=True).attentions, batch axis dropped: [L, H, T, T]; "
                 f"inputs {sorted(enc)} from tokenizer(text) (no padding, every attention_mask entry 1)"]
        if name in CAUSAL:
            check_causal(name, attn, checks)
        elif name != "modernbert":
            assert attn.gt(0).all(), name
        if name == "gpt2":
            notes.append("causal; weights stored bfloat16, widened to float32; the tokenizer adds no special tokens")
        elif name == "roberta":
            notes.append("weights stored float16, widened to float32")
        elif name == "qwen3-embedding":
            assert config.num_key_value_heads < config.num_attention_heads
            notes.append(f"causal; grouped-query attention: {config.num_attention_heads} query heads, "
                         f"{config.num_key_value_heads} key/value heads (query head h uses kv head "
                         f"h // {config.num_attention_heads // config.num_key_value_heads}); transformers reports one map "
                         "per QUERY head; the tokenizer appends <|endoftext|>")
        elif name == "modernbert":
            window = config.local_attention
            assert t > 2 * window, (t, window)  # the sentence alone exercises the local masks
            half = window // 2
            far = (torch.arange(t)[:, None] - torch.arange(t)[None, :]).abs() > half
            local = [i for i, kind in enumerate(config.layer_types) if kind == "sliding_attention"]
            full = [i for i, kind in enumerate(config.layer_types) if kind == "full_attention"]
            assert attn[local][..., far].eq(0).all() and attn[local][..., ~far].gt(0).all()
            assert attn[full].gt(0).all()
            checks["local_layers"] = (f"layers {local}: exact zeros where |i - j| > {half}, every other entry > 0")
            checks["global_layers"] = f"layers {full}: every entry > 0"
            notes.append(f"layer_types {config.layer_types}; local_attention {window}: in the sliding layers query i "
                         f"sees key j iff |i - j| <= {half} (local_attention // 2); T = {t} > 2 x {window}, so the "
                         "sentence exercises the window without a longer text")
        elif name == "st-bert-mean":
            notes.append("the sentence-transformers folder's Transformer module (module 0, path ''): its BertModel; "
                         "pooling does not change the attentions")
        out.write(name, {"attentions": attn, "input_ids": torch.tensor(ids, dtype=torch.float32)}, {
            "model": rel(out.fixtures, folder),
            "architecture": architecture,
            "input": TEXT,
            "preprocessing": f"AutoTokenizer.from_pretrained(folder) -> {type(tokenizer).__name__}; tokenizer(text) "
                             "with default arguments",
            "input_ids": ids,
            "tokens": tokenizer.convert_ids_to_tokens(ids),
            "layout": "attentions [layer, head, query, key]",
            "notes": notes,
            "checks": checks,
        })


# --------------------------------------------------------------------------- images


def image_refs(out: Output) -> None:
    path = out.fixtures / IMAGE
    image = load_image(str(path))
    for name in IMAGE_MODELS:
        folder = out.fixtures / "models" / name
        model, architecture = load(out.fixtures, name)
        processor = AutoImageProcessor.from_pretrained(folder)
        pixel_values = processor(image, return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            result = model(pixel_values, output_attentions=True)
        attn = stack(result.attentions)
        config = model.config
        patches = (pixel_values.shape[-2] // config.patch_size) * (pixel_values.shape[-1] // config.patch_size)
        prefix = 2 if name == "deit-distilled" else 1
        t = prefix + patches
        assert attn.shape == (config.num_hidden_layers, config.num_attention_heads, t, t), (name, attn.shape)
        checks: dict = {}
        check_rows(name, attn, checks)
        assert attn.gt(0).all()
        if name == "vit":
            # The same image through the same processor as reference/models/vit (its last layer).
            earlier = torch.from_numpy(np.load(out.fixtures / "reference" / "models" / "vit" / "cat_attentions_last_layer.npy"))
            diff = (earlier - attn[-1]).abs().max().item()
            assert diff < 1e-5, diff
            checks["vs_reference_models_vit_cat_attentions_last_layer_max_abs_diff"] = float(f"{diff:.3g}")
        token_order = ("token 0 CLS, token 1 distillation, then the 8 x 8 patches row-major" if prefix == 2
                       else "token 0 CLS, then the 8 x 8 patches row-major")
        out.write(name, {"attentions": attn}, {
            "model": rel(out.fixtures, folder),
            "architecture": architecture,
            "input": rel(out.fixtures, path),
            "preprocessing": "transformers.image_utils.load_image (exif_transpose, convert('RGB')), then "
                             f"AutoImageProcessor.from_pretrained(folder) -> {type(processor).__name__}(image, "
                             "return_tensors='pt')",
            "model_input": {"pixel_values": list(pixel_values.shape), "sum": input_sum(pixel_values)},
            "layout": f"attentions [layer, head, query, key]; {token_order}",
            "notes": [f"{architecture}(pixel_values, output_attentions=True).attentions, batch axis dropped"],
            "checks": checks,
        })


# --------------------------------------------------------------------------- audio


def read_samples(path: Path) -> np.ndarray:
    samples, rate = soundfile.read(path, dtype="float32", always_2d=False)
    assert rate == 16000 and samples.ndim == 1, (path, rate, samples.shape)
    return samples


def encoder_rows(covered: int, t: int) -> list[int]:
    """Query rows kept of the Whisper encoder: the start, across the audio, both sides of its end, the padding."""
    rows = {0, 1, 2, covered // 4, covered // 2, 3 * covered // 4, covered - 1, covered, covered + 1,
            t // 5, 2 * t // 5, 3 * t // 5, 4 * t // 5, t - 3, t - 2, t - 1}
    return sorted(r for r in rows if 0 <= r < t)


def audio_refs(out: Output) -> None:
    path = out.fixtures / AUDIO
    samples = read_samples(path)

    # AST: every row.
    name = "ast"
    folder = out.fixtures / "models" / name
    model, architecture = load(out.fixtures, name)
    extractor = AutoFeatureExtractor.from_pretrained(folder)
    values = extractor(samples, sampling_rate=16000, return_tensors="pt")["input_values"]
    config = model.config
    f_patches = (config.num_mel_bins - config.patch_size) // config.frequency_stride + 1
    t_patches = (config.max_length - config.patch_size) // config.time_stride + 1
    t = 2 + f_patches * t_patches
    with torch.no_grad():
        result = model(values, output_attentions=True)
    attn = stack(result.attentions)
    assert attn.shape == (config.num_hidden_layers, config.num_attention_heads, t, t), attn.shape
    checks: dict = {}
    check_rows(name, attn, checks)
    frames = 1 + (samples.shape[0] - 400) // 160
    out.write(name, {"attentions": attn}, {
        "model": rel(out.fixtures, folder),
        "architecture": architecture,
        "input": rel(out.fixtures, path),
        "preprocessing": f"soundfile.read(dtype='float32') ({samples.shape[0]} samples at 16 kHz), then "
                         f"AutoFeatureExtractor.from_pretrained(folder) -> {type(extractor).__name__}(samples, "
                         "sampling_rate=16000, return_tensors='pt') (torchaudio kaldi fbank)",
        "model_input": {"input_values": list(values.shape), "sum": input_sum(values)},
        "layout": f"attentions [layer, head, query, key]; T = 2 + {f_patches} x {t_patches} = {t}: token 0 CLS, token 1 "
                  f"distillation, then the patches frequency-major (token 2 + f * {t_patches} + t)",
        "notes": [f"the clip has {frames} fbank frames; the extractor keeps the first max_length = {config.max_length} "
                  f"({config.max_length * 0.01:.2f} s), so the rest of the clip is not seen"],
        "checks": checks,
    })

    # Whisper encoder: rows.
    name = "whisper"
    folder = out.fixtures / "models" / name
    model, architecture = load(out.fixtures, name)
    extractor = AutoFeatureExtractor.from_pretrained(folder)
    features = extractor(samples, sampling_rate=16000, return_tensors="pt")["input_features"]
    assert features.shape == (1, 80, 3000), features.shape
    with torch.no_grad():
        result = model.model.encoder(features, output_attentions=True)
    full = stack(result.attentions)
    t = model.config.max_source_positions
    assert full.shape == (model.config.encoder_layers, model.config.encoder_attention_heads, t, t), full.shape
    checks = {}
    check_rows(name, full, checks, "max_abs_row_sum_minus_1_all_rows")
    covered = math.ceil(samples.shape[0] / 320)
    rows = encoder_rows(covered, t)
    attn = full[:, :, rows]
    out.write(name, {"attentions": attn, "rows": torch.tensor(rows, dtype=torch.float32)}, {
        "model": rel(out.fixtures, folder),
        "architecture": architecture,
        "input": rel(out.fixtures, path),
        "preprocessing": f"soundfile.read(dtype='float32') ({samples.shape[0]} samples at 16 kHz), then "
                         f"AutoFeatureExtractor.from_pretrained(folder) -> {type(extractor).__name__}(samples, "
                         "sampling_rate=16000, return_tensors='pt') (padded to 30 s: [80, 3000])",
        "model_input": {"input_features": list(features.shape), "sum": input_sum(features)},
        "rows": rows,
        "layout": f"attentions [layer, head, len(rows), {t}]: attentions[l, h, k] is query row rows[k] over all {t} keys",
        "notes": ["model.model.encoder(input_features, output_attentions=True).attentions (encoder self-attention; "
                  f"the full tensor is [{full.shape[0]}, {full.shape[1]}, {t}, {t}]); no mask: the 30 s padding is "
                  f"attended; the audio covers the first ceil({samples.shape[0]} / 320) = {covered} positions"],
        "checks": checks,
    })


def cross_rows(n: int) -> list[int]:
    """Decoder rows kept of the cross-attention: both prompt rows, then evenly over the rest, the last included."""
    return sorted({0, 1, *np.round(np.linspace(2, n - 1, CROSS_ROWS - 2)).astype(int).tolist()})


def whisper_gen_refs(out: Output) -> None:
    name = WHISPER_GEN
    path = out.fixtures / AUDIO
    samples = read_samples(path)
    folder = out.fixtures / "models" / name
    model, architecture = load(out.fixtures, name)
    processor = WhisperProcessor.from_pretrained(folder)
    tokenizer = processor.tokenizer
    gen = model.generation_config
    # As gen_whisper.py's 'notimestamps' case (its recorder and progress callback only observe).
    feats = processor(samples, sampling_rate=16000, return_tensors="pt", return_attention_mask=True)
    features = feats.input_features
    with torch.no_grad():
        sequences = model.generate(features)
    generated = sequences[0].tolist()
    prompt = [gen.decoder_start_token_id] + [token for _, token in sorted(gen.forced_decoder_ids)]
    assert prompt == [50257, 50362], prompt
    assert generated[0] != gen.decoder_start_token_id and gen.eos_token_id not in generated
    tokens = prompt + generated + [gen.eos_token_id]
    n = len(tokens)
    ids = torch.tensor([tokens])
    with torch.no_grad():
        result = model(features, decoder_input_ids=ids, output_attentions=True)
    cross = stack(result.cross_attentions)
    decoder = stack(result.decoder_attentions)
    layers, heads = model.config.decoder_layers, model.config.decoder_attention_heads
    src = model.config.max_source_positions
    assert cross.shape == (layers, heads, n, src) and decoder.shape == (layers, heads, n, n)
    checks: dict = {}
    check_rows(name, cross, checks, "cross_max_abs_row_sum_minus_1_all_rows")
    check_rows(name, decoder, checks, "decoder_max_abs_row_sum_minus_1")
    check_causal(name, decoder, checks, "decoder_future_entries")

    # The forward reproduces the greedy decode: the argmax at each position, with generate's suppression applied
    # (suppress_tokens always, begin_suppress_tokens at the first generated token), is the next token.
    logits = result.logits[0].clone()
    logits[:, gen.suppress_tokens] = -math.inf
    logits[len(prompt) - 1, gen.begin_suppress_tokens] = -math.inf
    predicted = logits[len(prompt) - 1:-1].argmax(-1).tolist()
    assert predicted == generated + [gen.eos_token_id], "forward does not reproduce generate"
    checks["forward_reproduces_generate"] = ("argmax of the forward's logits at positions 1…N-2 (suppress_tokens "
                                             "masked, begin_suppress_tokens at position 1) = tokens 2…N-1")

    # The same decode asked for its attentions: return_dict_in_generate keeps the prompt and <|endoftext|> in
    # `sequences`, and the per-step cross-attentions (cached decoding) equal the forward's rows 0…N-2.
    with torch.no_grad():
        steps = model.generate(features, output_attentions=True, return_dict_in_generate=True)
    assert steps["sequences"][0].tolist() == tokens
    during = torch.stack([torch.cat([step[layer][0] for step in steps["cross_attentions"]], dim=1) for layer in range(layers)])
    assert during.shape == (layers, heads, n - 1, src), during.shape
    diff = (during - cross[:, :, :-1]).abs().max().item()
    assert diff < 1e-5, diff
    checks["generate_cross_attentions_vs_forward_max_abs_diff"] = float(f"{diff:.3g}")

    rows = cross_rows(n)
    covered = math.ceil(samples.shape[0] / 320)
    out.write(name, {
        "tokens": ids[0].to(torch.float32),
        "cross_attentions": cross[:, :, rows],
        "cross_rows": torch.tensor(rows, dtype=torch.float32),
        "decoder_attentions": decoder,
    }, {
        "model": rel(out.fixtures, folder),
        "architecture": architecture,
        "input": rel(out.fixtures, path),
        "preprocessing": f"soundfile.read(dtype='float32') ({samples.shape[0]} samples at 16 kHz); "
                         "WhisperProcessor.from_pretrained(folder)(samples, sampling_rate=16000, return_tensors='pt', "
                         "return_attention_mask=True) (padded to 30 s: [80, 3000]); model.generate(input_features) "
                         "(greedy, the folder's generation_config, no timestamps: gen_whisper.py's 'notimestamps' call); "
                         "then model(input_features, decoder_input_ids=tokens, output_attentions=True)",
        "model_input": {"input_features": list(features.shape), "sum": input_sum(features)},
        "generate_sequences": generated,
        "prompt": prompt,
        "tokens": tokens,
        "token_strings": tokenizer.convert_ids_to_tokens(tokens),
        "text": tokenizer.decode(generated),
        "cross_rows": rows,
        "layout": f"tokens [N = {n}]: <|startoftranscript|> <|notimestamps|>, the {len(generated)} generated ids, "
                  f"<|endoftext|>; cross_attentions [layer, head, len(cross_rows), {src}]: cross_attentions[l, h, k] is "
                  f"decoder row cross_rows[k] over the {src} encoder positions (the full tensor is "
                  f"[{layers}, {heads}, {n}, {src}], 2.7 MB); decoder_attentions [layer, head, N, N], causal",
        "notes": [
            "transformers 5.24's WhisperForConditionalGeneration.generate returns the generated ids WITHOUT the "
            f"decoder prompt and without the final <|endoftext|>: its sequence starts with {generated[0]} "
            f"({tokenizer.convert_ids_to_tokens(generated[0])!r}), the first generated text token, not with the decoder "
            f"start token {gen.decoder_start_token_id}; the forward therefore runs on prompt + sequence + "
            "<|endoftext|> (the sequence transformers 4.x returned). The decoder is causal, so rows 0…k depend only on "
            "tokens 0…k: drop the last row for the positions generate itself ran",
            "generate(input_features, output_attentions=True, return_dict_in_generate=True) returns `sequences` WITH the "
            "prompt and <|endoftext|> (= tokens) and per-step cross_attentions (step 0: the 2 prompt rows, then one row "
            "per step) that equal rows 0…N-2 here",
            "row i of either map is the query at input position i, which predicts token i + 1",
            f"the audio covers the first ceil({samples.shape[0]} / 320) = {covered} encoder positions; no mask: "
            "every cross-attention row spans all 1500",
        ],
        "checks": checks,
    })


# --------------------------------------------------------------------------- protein


def protein_refs(out: Output) -> None:
    source = out.fixtures / PROTEIN_FASTA
    lines = source.read_text().splitlines()
    header = lines[0]
    assert header.startswith(">")
    sequence = ""
    for line in lines[1:]:
        if line.startswith(">"):
            break
        sequence += line.strip()
    record_id, _, description = header[1:].partition(" ")
    cut = sequence[:PROTEIN_RESIDUES]
    fasta = out.root / "protein.fasta"
    fasta.write_text(f">{record_id} first {PROTEIN_RESIDUES} of {len(sequence)} residues (cut for the attention "
                     f"reference); {description}\n{cut}\n")

    name = "esm2"
    folder = out.fixtures / "models" / name
    model, architecture = load(out.fixtures, name)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = tokenizer(cut)["input_ids"]
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.eos_token_id and len(ids) == PROTEIN_RESIDUES + 2
    batch = torch.tensor([ids])
    with torch.no_grad():
        result = model(batch, output_attentions=True)
        contacts = model.predict_contacts(batch, torch.ones_like(batch))[0]
    attn = stack(result.attentions)
    config = model.config
    t = len(ids)
    assert attn.shape == (config.num_hidden_layers, config.num_attention_heads, t, t), attn.shape
    assert contacts.shape == (PROTEIN_RESIDUES, PROTEIN_RESIDUES)
    checks: dict = {}
    check_rows(name, attn, checks)
    assert attn.gt(0).all()
    torch.testing.assert_close(contacts, contacts.T, rtol=0, atol=1e-6)
    checks["contacts_symmetric"] = "within 1e-6"
    out.write(name, {"attentions": attn, "input_ids": batch[0].to(torch.float32), "contacts": contacts}, {
        "model": rel(out.fixtures, folder),
        "architecture": architecture,
        "input": rel(out.fixtures, fasta),
        "input_source": f"{rel(out.fixtures, source)}, first record ({record_id}, {len(sequence)} residues), its first "
                        f"{PROTEIN_RESIDUES} residues",
        "sequence": cut,
        "preprocessing": f"AutoTokenizer.from_pretrained(folder) -> {type(tokenizer).__name__}; tokenizer(sequence): "
                         "<cls> residues <eos>",
        "input_ids": ids,
        "tokens": tokenizer.convert_ids_to_tokens(ids),
        "layout": f"attentions [layer, head, query, key], T = {t} (<cls>, {PROTEIN_RESIDUES} residues, <eos>); contacts "
                  f"[{PROTEIN_RESIDUES}, {PROTEIN_RESIDUES}] over the residues",
        "notes": [f"{architecture}(input_ids, output_attentions=True).attentions; contacts = "
                  "model.predict_contacts(input_ids, attention_mask=ones)[0] (the checkpoint's contact head: "
                  "attentions of all layers, <eos> rows/columns zeroed, <cls>/<eos> dropped, x + x^T, APC, "
                  "sigmoid(regression))"],
        "checks": checks,
    })


# --------------------------------------------------------------------------- video


def video_refs(out: Output) -> None:
    folder_frames = out.fixtures / VIDEO_FOLDERS[VIDEO]
    frames = read_folder(folder_frames)
    for name in VIDEO_MODELS:
        folder = out.fixtures / "models" / name
        model, architecture = load(out.fixtures, name)
        config = model.config
        processor = AutoImageProcessor.from_pretrained(folder)
        indices = sample_indices(len(frames), config.num_frames).tolist()
        pixel_values = processor([frames[i] for i in indices], return_tensors="pt")["pixel_values"]
        divided = name.startswith("timesformer") and config.attention_type == "divided_space_time"
        hooks = [temporal_probs(layer) for layer in model.timesformer.encoder.layer] if divided else []
        with torch.no_grad():
            result = model(pixel_values, output_attentions=True)
        for _, handle in hooks:
            handle.remove()
        f = config.num_frames
        patches = (config.image_size // config.patch_size) ** 2
        checks: dict = {}
        if divided:
            attn = torch.stack(list(result.attentions))  # [L, F, H, S, S]: transformers' batch*frames axis, batch 1
            s = 1 + patches
            assert attn.shape == (config.num_hidden_layers, f, config.num_attention_heads, s, s), attn.shape
            temporal = torch.stack([captured["probs"] for captured, _ in hooks])  # [L, N, H, F, F]
            assert temporal.shape == (config.num_hidden_layers, patches, config.num_attention_heads, f, f)
            check_rows(name, temporal, checks, "temporal_max_abs_row_sum_minus_1")
            layout = (f"attentions [layer, frame, head, query, key], S = 1 + {patches}: per frame, the CLS copy then that "
                      f"frame's {patches} patches row-major (transformers returns [batch * frames, H, S, S] per layer; "
                      "batch 1); temporal_attentions [layer, patch, head, frame, frame]: per patch position (row-major), "
                      "its F frames, no CLS")
            notes = ["attention_type divided_space_time: output_attentions returns only the SPATIAL attention of each "
                     "layer; temporal_attentions are the probabilities of each layer's temporal attention module, "
                     "recomputed from its input by a forward pre-hook (transformers computes them, it does not return them)"]
        else:
            attn = stack(result.attentions)
            t = (1 + patches * f) if name.startswith("timesformer") else patches * f // config.tubelet_size
            assert attn.shape == (config.num_hidden_layers, config.num_attention_heads, t, t), attn.shape
            if name.startswith("timesformer"):
                layout = (f"attentions [layer, head, query, key], T = 1 + {patches} x {f} = {t}: token 0 CLS, then "
                          f"token 1 + p * {f} + frame (patch-major, frame-minor)")
                notes = ["attention_type joint_space_time: one attention over CLS and every patch of every frame"]
            else:
                layout = (f"attentions [layer, head, query, key], T = {patches} x {f} / tubelet {config.tubelet_size} = "
                          f"{t}: token t * {patches} + p (time-major), no CLS")
                notes = ["VideoMAE: tubelets of 2 frames, no CLS token"]
        check_rows(name, attn, checks)
        earlier = out.fixtures / "reference" / "video" / name / VIDEO / "attentions_0.npy"
        diff = (torch.from_numpy(np.load(earlier)) - attn[0]).abs().max().item()
        if divided:
            earlier_temporal = earlier.with_name("temporal_attentions_0.npy")
            diff = max(diff, (torch.from_numpy(np.load(earlier_temporal)) - temporal[0]).abs().max().item())
        assert diff < 1e-5, (name, diff)
        checks[f"vs_reference_video_{name}_{VIDEO}_layer0_max_abs_diff"] = float(f"{diff:.3g}")
        tensors = {"attentions": attn, "temporal_attentions": temporal} if divided else {"attentions": attn}
        out.write(name, tensors, {
            "model": rel(out.fixtures, folder),
            "architecture": architecture,
            "input": rel(out.fixtures, folder_frames),
            "frames": [f"frame_{i:02d}.png" for i in indices],
            "preprocessing": f"the {len(frames)} PNG frames (np.asarray(Image.open(p).convert('RGB'))), sampled at "
                             f"np.round(np.linspace(0, {len(frames) - 1}, {f})) = {indices} (as gen_video.py), then "
                             f"AutoImageProcessor.from_pretrained(folder) -> {type(processor).__name__}(frames, "
                             "return_tensors='pt')",
            "model_input": {"pixel_values": list(pixel_values.shape), "sum": input_sum(pixel_values)},
            "layout": layout,
            "notes": notes,
            "checks": checks,
        })


# --------------------------------------------------------------------------- main


def versions() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__, "torch_cpu_capability":
            torch.backends.cpu.get_cpu_capability(), "torch_threads": torch.get_num_threads(),
            "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
            "safetensors": safetensors.__version__, "numpy": np.__version__, "Pillow": PIL.__version__,
            "soundfile": soundfile.__version__, "libsndfile": soundfile.__libsndfile_version__}


def main(out_dir=HERE) -> None:
    fixtures = Path(out_dir)
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    out = Output(fixtures)
    text_refs(out)
    image_refs(out)
    audio_refs(out)
    whisper_gen_refs(out)
    protein_refs(out)
    video_refs(out)
    manifest = {
        "generator": "Fixtures/gen_attention.py",
        "about": "attention probabilities from transformers (attn_implementation='eager', float32, "
                 "output_attentions=True), batch axis dropped, stacked over layers; every tensor float32 (ids and row "
                 "indices too); checked against them within 1e-5",
        "versions": versions(),
        "references": out.entries,
    }
    dump_json(out.root / "inputs.json", manifest)
    for path in [out.root, *out.root.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)

    total = sum(p.stat().st_size for p in out.root.iterdir())
    print(f"{'reference':<17} {'tensor':<20} {'shape':<26} {'KB':>8}")
    for name, entry in out.entries.items():
        for i, (key, shape) in enumerate(entry["shapes"].items()):
            size = f"{entry['bytes'] / 1024:8.1f}" if i == 0 else ""
            print(f"{name if i == 0 else '':<17} {key:<20} {str(shape):<26} {size:>8}")
    print(f"{len(out.entries)} references, {total / 1024:.1f} KB in {out.root}")


if __name__ == "__main__":
    main(HERE)
