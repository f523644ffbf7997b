"""Tiny random checkpoints of every model family, with reference outputs.

Each model is built with the real `transformers` architecture class, its
weights are drawn from a fixed seed (every tensor non-trivial: layer norms
and biases too), and it is saved with `save_pretrained(safe_serialization=True)`
into `Fixtures/models/<name>/` next to the preprocessing config the family
uses. The reference implementations then run on the real inputs in
`Fixtures/images`, `Fixtures/audio`, `Fixtures/protein` (or the shared data
folder when those are absent), and the inputs and outputs are written as
`.npy` under `Fixtures/reference/models/<name>/`, described one by one in
`Fixtures/reference/models/manifest.json`.

Run through `Fixtures/generate.py`, or alone: `python Fixtures/gen_models.py`.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import os
import sys
from pathlib import Path

import numpy as np
import safetensors.torch
import soundfile
import torch
from torch import nn

import transformers
from transformers import (
    ASTConfig,
    ASTFeatureExtractor,
    ASTForAudioClassification,
    AutoFeatureExtractor,
    AutoImageProcessor,
    DeiTConfig,
    DeiTForImageClassificationWithTeacher,
    DeiTImageProcessorPil,
    EsmConfig,
    EsmForMaskedLM,
    EsmModel,
    EsmTokenizer,
    ViTConfig,
    ViTForImageClassification,
    ViTImageProcessorPil,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
    WhisperModel,
)
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, load_image
from transformers.pytorch_utils import Conv1D

# The project's shared data folder sits beside the clone (../shared); MMATTN_SHARED overrides it.
SHARED_DATA = Path(os.environ.get("MMATTN_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data"

# Input files: the copy under Fixtures/ wins, the shared data folder is the fallback.
INPUTS = {
    "cat": ("images/cat.png", "images/chelsea.png"),
    "camera": ("images/camera.png", "images/camera.png"),
    "horse": ("images/horse.png", "images/horse.png"),
    "arctic_a0007": ("audio/arctic_a0007.wav", "audio/arctic_a0007.wav"),
    "cards-001": ("audio/cards-001.wav", "audio/cards-001.wav"),
    "LuxC": ("protein/LuxC.faa", "protein/LuxC.faa"),
}

VIT_LABELS = [
    "tabby, tabby cat",
    "tiger cat",
    "Egyptian cat",
    "Persian cat",
    "golden retriever",
    "sorrel",
    "tench, Tinca tinca",
    "goldfish, Carassius auratus",
    "reflex camera",
    "zebra",
]

AUDIOSET_LABELS = [
    "Speech",
    "Male speech, man speaking",
    "Female speech, woman speaking",
    "Music",
    "Bell",
    "Church bell",
    "Dog",
    "Cat",
    "Vehicle",
    "Silence",
    "Clapping",
    "Water",
]

# The ESM-2 alphabet in id order (fair-esm `Alphabet.from_architecture("ESM-1b")`).
ESM_VOCAB = (
    "<cls> <pad> <eos> <unk> L A G V S E R T I D P K Q N F Y M H W C X B U Z O . - <null_1> <mask>".split()
)


class Writer:
    """Writes reference files (`.npy` arrays, `.json` values) and records each one in a manifest."""

    def __init__(self, root: Path):
        self.root = root
        self.entries: dict[str, dict] = {}
        self.notes: dict[str, dict] = {}

    def npy(self, model: str, name: str, array, what: str) -> np.ndarray:
        """Save `array` as `<root>/<model>/<name>.npy` (float32 or int, C order)."""
        if isinstance(array, torch.Tensor):
            array = array.detach().cpu()
            if array.is_floating_point():
                array = array.to(torch.float32)  # numpy has no bfloat16
            array = array.numpy()
        array = np.asarray(array)
        if array.dtype.kind == "f":
            array = array.astype(np.float32)
        elif array.dtype.kind in "iub":
            if array.dtype not in (np.int32, np.int64):
                array = array.astype(np.int64)
        array = np.ascontiguousarray(array)
        folder = self.root / model
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / f"{name}.npy", array)
        self.entries[f"{model}/{name}.npy"] = {
            "shape": list(array.shape),
            "dtype": array.dtype.str,
            "what": what,
        }
        return array

    def json(self, model: str, name: str, value, what: str) -> None:
        """Save `value` as `<root>/<model>/<name>.json`, each list of numbers on one line."""
        folder = self.root / model
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(value, indent=1, ensure_ascii=False)
        text = re.sub(r"\[[-0-9,\s]*\]", lambda m: "[" + ", ".join(m.group(0)[1:-1].split()).replace(",,", ",") + "]", text)
        (folder / f"{name}.json").write_text(text + "\n")
        self.entries[f"{model}/{name}.json"] = {"what": what}

    def note(self, model: str, **fields):
        self.notes.setdefault(model, {}).update(fields)

    def finish(self):
        manifest = {"notes": self.notes, "files": dict(sorted(self.entries.items()))}
        (self.root / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def input_path(fixtures: Path, key: str) -> Path:
    local, shared = INPUTS[key]
    candidate = fixtures / local
    if candidate.is_file():
        return candidate
    fallback = SHARED_DATA / shared
    if not fallback.is_file():
        sys.exit(f"error: input {key} missing: neither {candidate} nor {fallback} exists")
    return fallback


def describe_input(fixtures: Path, key: str) -> str:
    path = input_path(fixtures, key)
    if path.is_relative_to(fixtures):
        return "Fixtures/" + str(path.relative_to(fixtures))
    return "shared data: " + str(path.relative_to(SHARED_DATA))


def randomize_(model: nn.Module, seed: int) -> None:
    """Draw every parameter from a fixed seed so that no tensor is trivial.

    Linear and convolution weights: N(0, 1/fan_in), which keeps activations
    near unit scale so attention is far from uniform (GPT-2's Conv1D stores
    its weight [in, out], so there fan_in is the first axis); layer-norm
    weights 1 + N(0, 0.1^2); biases N(0, 0.1^2); embedding tables, class,
    distillation and position tokens N(0, 0.5^2). Tied parameters are drawn once.
    """
    generator = torch.Generator().manual_seed(seed)
    kinds: dict[int, str] = {}
    for module in model.modules():
        if isinstance(module, nn.LayerNorm):
            kinds[id(module.weight)] = "ln_weight"
        elif isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            kinds[id(module.weight)] = "matrix"
        elif isinstance(module, Conv1D):
            kinds[id(module.weight)] = "matrix_in_out"
    with torch.no_grad():
        for _, parameter in model.named_parameters():
            kind = kinds.get(id(parameter))
            noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float32)
            if kind == "ln_weight":
                parameter.copy_(1.0 + 0.1 * noise)
            elif kind == "matrix":
                fan_in = math.prod(parameter.shape[1:])
                parameter.copy_(noise / math.sqrt(fan_in))
            elif kind == "matrix_in_out":
                parameter.copy_(noise / math.sqrt(parameter.shape[0]))
            elif parameter.ndim == 1:
                parameter.copy_(0.1 * noise)
            else:
                parameter.copy_(0.5 * noise)


def fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def save_model(model: nn.Module, folder: Path, *, hub_layer_norm_names: bool = False) -> None:
    """`save_pretrained`; optionally with the LayerNorm tensor names of the published checkpoints.

    transformers 5 writes every module called `LayerNorm` as `LayerNorm.gamma` / `LayerNorm.beta`
    (the reverse of its "legacy" load-time renaming), while the checkpoints on the Hub, written by
    4.x, say `LayerNorm.weight` / `LayerNorm.bias`. `hub_layer_norm_names` rewrites the file with
    the Hub's names; both spellings load to the same model.
    """
    model.save_pretrained(folder, safe_serialization=True)
    if hub_layer_norm_names:
        rename_layer_norms_to_hub_names(folder)


def rename_layer_norms_to_hub_names(folder: Path) -> None:
    """Rename `LayerNorm.gamma`/`.beta` in `folder/model.safetensors` to `.weight`/`.bias`; keeps the stored dtypes."""
    path = folder / "model.safetensors"
    tensors = safetensors.torch.load_file(path)
    renamed = {}
    for key, value in tensors.items():
        if key.endswith("LayerNorm.gamma"):
            key = key[: -len("gamma")] + "weight"
        elif key.endswith("LayerNorm.beta"):
            key = key[: -len("beta")] + "bias"
        renamed[key] = value
    safetensors.torch.save_file(renamed, path, metadata={"format": "pt"})


def reload(cls, folder: Path):
    model = cls.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    return model


def assert_same_weights(a: nn.Module, b: nn.Module, what: str) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    for key, value in sa.items():
        if not torch.equal(value, sb[key]):
            raise AssertionError(f"{what}: {key} changed on save/load")


def read_fasta(path: Path) -> list[tuple[str, str]]:
    records: list[tuple[str, str]] = []
    header, chunks = None, []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith(">"):
            if header is not None:
                records.append((header, "".join(chunks)))
            header, chunks = line[1:].split()[0], []
        elif line:
            chunks.append(line)
    if header is not None:
        records.append((header, "".join(chunks)))
    return records


def read_wav(path: Path) -> np.ndarray:
    samples, rate = soundfile.read(path, dtype="float32", always_2d=False)
    if rate != 16000 or samples.ndim != 1:
        raise SystemExit(f"error: {path}: expected 16 kHz mono, got {rate} Hz, shape {samples.shape}")
    return samples


# --------------------------------------------------------------------------- ViT


def vit_fields(**overrides) -> dict:
    """The tiny ViT's architecture fields (DeiT with teacher shares them)."""
    fields = dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        hidden_act="gelu",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        initializer_range=0.02,
        layer_norm_eps=1e-12,
        image_size=64,
        patch_size=8,
        num_channels=3,
        qkv_bias=True,
        id2label={i: name for i, name in enumerate(VIT_LABELS)},
        label2id={name: i for i, name in enumerate(VIT_LABELS)},
        architectures=["ViTForImageClassification"],
    )
    fields.update(overrides)
    return fields


def vit_config(**overrides) -> ViTConfig:
    return ViTConfig(**vit_fields(**overrides))


def image_refs(writer: Writer, name: str, model, processor, images: dict[str, Path], *, hidden: tuple[str, ...], attentions: tuple[str, ...]):
    for key, path in images.items():
        image = load_image(str(path))
        pixel_values = processor(image, return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            out = model(pixel_values, output_hidden_states=True, output_attentions=True)
            last = model.vit(pixel_values).last_hidden_state
        # ViT does not tie the last hidden state to the normed output: hidden_states[-1] is pre-layernorm.
        assert not torch.equal(out.hidden_states[-1], last)
        torch.testing.assert_close(model.vit.layernorm(out.hidden_states[-1]), last, rtol=0, atol=0)
        writer.npy(name, f"{key}_pixel_values", pixel_values[0], f"{processor.__class__.__name__} output for {path.name} (load_image, i.e. PIL convert('RGB')) [C, H, W]")
        writer.npy(name, f"{key}_last_hidden_state", last[0], "vit last hidden state after the final layernorm [T, D]")
        writer.npy(name, f"{key}_logits", out.logits[0], "classifier logits on token 0 [num_labels]")
        if key in hidden:
            writer.npy(name, f"{key}_hidden_states", torch.stack(out.hidden_states)[:, 0], "output_hidden_states: embeddings, then each layer's output; the last is BEFORE the final layernorm [layers+1, T, D]")
        if key in attentions:
            writer.npy(name, f"{key}_attentions_last_layer", out.attentions[-1][0], "attention probabilities of the last layer [heads, T, T]")


def gen_vit(fixtures: Path, writer: Writer, images: dict[str, Path]) -> None:
    name = "vit"
    folder = fresh_dir(fixtures / "models" / name)
    torch.manual_seed(1)
    model = ViTForImageClassification(vit_config())
    randomize_(model, seed=101)
    save_model(model, folder)
    ViTImageProcessorPil(
        size={"height": 64, "width": 64},
        resample=2,
        do_resize=True,
        do_rescale=True,
        do_normalize=True,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    ).save_pretrained(folder)

    model2 = reload(ViTForImageClassification, folder)
    assert_same_weights(model, model2, name)
    processor = AutoImageProcessor.from_pretrained(folder)
    writer.note(name, image_processor=processor.__class__.__name__)
    image_refs(writer, name, model2, processor, images, hidden=("cat",), attentions=("cat",))

    # Position-embedding interpolation: the cat resized to 80x96 (H x W), a 10x12 patch grid.
    image = load_image(str(images["cat"]))
    pixel_values = processor(image, size={"height": 80, "width": 96}, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = model2.vit(pixel_values, interpolate_pos_encoding=True)
        logits = model2.classifier(out.last_hidden_state[:, 0, :])
        direct = model2(pixel_values, interpolate_pos_encoding=True).logits
    torch.testing.assert_close(logits, direct, rtol=0, atol=0)
    writer.npy(name, "cat_80x96_pixel_values", pixel_values[0], "cat resized to height 80, width 96 by the same processor [3, 80, 96]")
    writer.npy(name, "cat_80x96_last_hidden_state", out.last_hidden_state[0], "interpolate_pos_encoding=True (bicubic, align_corners=False, 8x8 -> 10x12 grid) [121, D]")
    writer.npy(name, "cat_80x96_logits", logits[0], "logits with interpolated positions [num_labels]")


def gen_deit(fixtures: Path, writer: Writer, images: dict[str, Path]) -> None:
    """facebook/deit-*-patch16-224 (non-distilled): a ViT checkpoint with a DeiT image processor."""
    name = "deit"
    folder = fresh_dir(fixtures / "models" / name)
    torch.manual_seed(2)
    model = ViTForImageClassification(vit_config())
    randomize_(model, seed=202)
    save_model(model, folder)
    DeiTImageProcessorPil(
        size={"height": 72, "width": 72},
        crop_size={"height": 64, "width": 64},
        resample=3,
        do_resize=True,
        do_center_crop=True,
        do_rescale=True,
        do_normalize=True,
        image_mean=list(IMAGENET_DEFAULT_MEAN),
        image_std=list(IMAGENET_DEFAULT_STD),
    ).save_pretrained(folder)

    model2 = reload(ViTForImageClassification, folder)
    assert_same_weights(model, model2, name)
    processor = AutoImageProcessor.from_pretrained(folder)
    writer.note(name, image_processor=processor.__class__.__name__)
    image_refs(writer, name, model2, processor, {"cat": images["cat"]}, hidden=(), attentions=())


def gen_deit_distilled(fixtures: Path, writer: Writer, images: dict[str, Path]) -> None:
    name = "deit-distilled"
    folder = fresh_dir(fixtures / "models" / name)
    config = DeiTConfig(**vit_fields(encoder_stride=16, architectures=["DeiTForImageClassificationWithTeacher"]))
    torch.manual_seed(3)
    model = DeiTForImageClassificationWithTeacher(config)
    randomize_(model, seed=303)
    save_model(model, folder)
    DeiTImageProcessorPil(
        size={"height": 72, "width": 72},
        crop_size={"height": 64, "width": 64},
        resample=3,
        image_mean=list(IMAGENET_DEFAULT_MEAN),
        image_std=list(IMAGENET_DEFAULT_STD),
    ).save_pretrained(folder)

    model2 = reload(DeiTForImageClassificationWithTeacher, folder)
    assert_same_weights(model, model2, name)
    processor = AutoImageProcessor.from_pretrained(folder)
    writer.note(name, image_processor=processor.__class__.__name__)
    image = load_image(str(images["cat"]))
    pixel_values = processor(image, return_tensors="pt")["pixel_values"]
    # The processor config equals deit/'s, so the input is deit/cat_pixel_values.npy.
    shared = np.load(writer.root / "deit" / "cat_pixel_values.npy")
    assert np.array_equal(shared, pixel_values[0].numpy())
    writer.note(name, input="deit/cat_pixel_values.npy (same processor config)")
    with torch.no_grad():
        base = model2.deit(pixel_values)
        out = model2(pixel_values)
    writer.npy(name, "cat_last_hidden_state", base.last_hidden_state[0], "after the final layernorm; token 0 = CLS, token 1 = distillation [66, D]")
    writer.npy(name, "cat_logits", out.logits[0], "(cls_logits + distillation_logits) / 2 [num_labels]")
    writer.npy(name, "cat_cls_logits", out.cls_logits[0], "cls_classifier(token 0) [num_labels]")
    writer.npy(name, "cat_distillation_logits", out.distillation_logits[0], "distillation_classifier(token 1) [num_labels]")


# ----------------------------------------------------------------------- Whisper


def whisper_config(**overrides) -> WhisperConfig:
    fields = dict(
        vocab_size=100,
        num_mel_bins=80,
        d_model=32,
        encoder_layers=2,
        encoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_layers=1,
        decoder_attention_heads=4,
        decoder_ffn_dim=64,
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
        # Special ids laid out as in openai/whisper-* (bos = eos = pad = <|endoftext|>,
        # decoder start = <|startoftranscript|>), scaled down to a 100-token vocabulary.
        bos_token_id=90,
        eos_token_id=90,
        pad_token_id=90,
        decoder_start_token_id=91,
        begin_suppress_tokens=[20, 90],
        suppress_tokens=[1, 2, 3],
        architectures=["WhisperForConditionalGeneration"],
    )
    fields.update(overrides)
    return WhisperConfig(**fields)


def gen_whisper(fixtures: Path, writer: Writer) -> None:
    name = "whisper"
    folder = fresh_dir(fixtures / "models" / name)
    torch.manual_seed(4)
    model = WhisperForConditionalGeneration(whisper_config())
    randomize_(model, seed=404)
    save_model(model, folder)
    WhisperFeatureExtractor(feature_size=80, sampling_rate=16000, hop_length=160, chunk_length=30, n_fft=400).save_pretrained(folder)

    model2 = reload(WhisperForConditionalGeneration, folder)
    assert_same_weights(model, model2, name)
    extractor = AutoFeatureExtractor.from_pretrained(folder)
    wav = input_path(fixtures, "arctic_a0007")
    samples = read_wav(wav)
    features = extractor(samples, sampling_rate=16000, return_tensors="np")["input_features"][0]  # [80, 3000]
    assert features.shape == (80, 3000) and features.dtype == np.float32

    # Past the end of the audio every column is the same constant (log-mel of the zero padding,
    # clamped at max - 8, then (x + 4) / 4): store the leading columns and that constant.
    pad_value = features[0, -1]
    constant = np.all(features == pad_value, axis=0)
    head = int(np.nonzero(~constant)[0].max()) + 1
    head = min(3000, -(-head // 8) * 8)
    assert np.all(features[:, head:] == pad_value)
    writer.npy(name, "input_features_head", features[:, :head], f"WhisperFeatureExtractor on {wav.name}: the first columns of input_features [80, {head}]; columns {head}..2999 all equal input_features_pad")
    writer.npy(name, "input_features_pad", np.array([pad_value], dtype=np.float32), "the value of every input_features entry from column input_features_head.shape[1] on [1]")
    writer.note(name, feature_extractor_backend="torch.stft (_torch_extract_fbank_features)" if transformers.is_torch_available() else "numpy",
                samples=int(samples.shape[0]), input_features_head_columns=head)

    with torch.no_grad():
        encoder = model2.get_encoder()
        out = encoder(torch.from_numpy(features)[None], output_hidden_states=True, output_attentions=True)
    writer.npy(name, "encoder_last_hidden_state", out.last_hidden_state[0], "model.encoder last_hidden_state (after encoder.layer_norm) [1500, D]")
    hidden = torch.stack(out.hidden_states)[:, 0, :64]
    writer.npy(name, "encoder_hidden_states_first64", hidden, "output_hidden_states, rows 0..63: [0] = gelu(conv2(gelu(conv1(x)))) + embed_positions, [1] = after layer 0, [2] = last_hidden_state (Whisper ties the last entry to the normed output) [3, 64, D]")
    torch.testing.assert_close(out.hidden_states[-1], out.last_hidden_state, rtol=0, atol=0)
    writer.npy(name, "encoder_attentions_layer0_head0_first4", out.attentions[0][0, 0, :4], "layer 0, head 0 attention probabilities, query rows 0..3 over all 1500 keys [4, 1500]")

    covered = min(1500, -(-samples.shape[0] // 320))
    writer.npy(name, "encoder_mean_covered", out.last_hidden_state[0, :covered].mean(0), f"mean of last_hidden_state over the first ceil(samples / 320) = {covered} frames, the ones that cover the audio [D]")

    # A bare WhisperModel checkpoint: tensor names "encoder.*" / "decoder.*" instead of
    # "model.encoder.*". A narrower model of its own (d_model 16, 2 heads) keeps the fixture small.
    name2 = "whisper-model"
    folder2 = fresh_dir(fixtures / "models" / name2)
    torch.manual_seed(7)
    bare = WhisperModel(whisper_config(
        d_model=16, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, architectures=["WhisperModel"],
    ))
    randomize_(bare, seed=707)
    save_model(bare, folder2)
    extractor.save_pretrained(folder2)
    bare2 = reload(WhisperModel, folder2)
    assert_same_weights(bare, bare2, name2)
    with torch.no_grad():
        out2 = bare2.encoder(torch.from_numpy(features)[None])
    writer.npy(name2, "encoder_last_hidden_state_first64", out2.last_hidden_state[0, :64], "WhisperModel.encoder on the input features of whisper/ (input_features_head + input_features_pad): rows 0..63 [64, 16]")
    writer.npy(name2, "encoder_mean_covered", out2.last_hidden_state[0, :covered].mean(0), f"mean of last_hidden_state over the first {covered} frames [16]")
    writer.note(name2, input="whisper/input_features_head.npy + whisper/input_features_pad.npy")


# --------------------------------------------------------------------------- AST


def gen_ast(fixtures: Path, writer: Writer) -> None:
    name = "ast"
    folder = fresh_dir(fixtures / "models" / name)
    config = ASTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        hidden_act="gelu",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        initializer_range=0.02,
        layer_norm_eps=1e-12,
        patch_size=16,
        qkv_bias=True,
        frequency_stride=10,
        time_stride=10,
        max_length=128,
        num_mel_bins=128,
        problem_type="multi_label_classification",
        id2label={i: n for i, n in enumerate(AUDIOSET_LABELS)},
        label2id={n: i for i, n in enumerate(AUDIOSET_LABELS)},
        architectures=["ASTForAudioClassification"],
    )
    torch.manual_seed(5)
    model = ASTForAudioClassification(config)
    randomize_(model, seed=505)
    save_model(model, folder)
    ASTFeatureExtractor(
        feature_size=1,
        sampling_rate=16000,
        num_mel_bins=128,
        max_length=128,
        padding_value=0.0,
        do_normalize=True,
        mean=-4.2677393,
        std=4.5689974,
        return_attention_mask=False,
    ).save_pretrained(folder)

    model2 = reload(ASTForAudioClassification, folder)
    assert_same_weights(model, model2, name)
    extractor = AutoFeatureExtractor.from_pretrained(folder)
    wav = input_path(fixtures, "cards-001")
    samples = read_wav(wav)
    values = extractor(samples, sampling_rate=16000, return_tensors="np")["input_values"][0]  # [128, 128]

    # The same extractor without torchaudio (its numpy fallback), to state how far the two are apart.
    from transformers.models.audio_spectrogram_transformer import feature_extraction_audio_spectrogram_transformer as fe

    uses_torchaudio = fe.is_speech_available()
    saved = fe.is_speech_available
    fe.is_speech_available = lambda: False
    try:
        numpy_values = ASTFeatureExtractor.from_pretrained(folder)(samples, sampling_rate=16000, return_tensors="np")["input_values"][0]
    finally:
        fe.is_speech_available = saved
    writer.note(
        name,
        input_values_backend="torchaudio.compliance.kaldi.fbank" if uses_torchaudio else "numpy fallback",
        numpy_fallback_max_abs_diff=float(np.abs(numpy_values - values).max()),
        frames_of_audio=int(1 + (samples.shape[0] - 400) // 160),
    )
    writer.npy(name, "input_values", values, f"ASTFeatureExtractor on {wav.name} (kaldi fbank, zero-padded to 128 frames, then (x - mean) / (2 std)) [128 frames, 128 mel]")
    with torch.no_grad():
        out = model2.audio_spectrogram_transformer(torch.from_numpy(values)[None], output_hidden_states=True)
        logits = model2(torch.from_numpy(values)[None]).logits
    writer.npy(name, "last_hidden_state", out.last_hidden_state[0], "after the final layernorm; tokens: CLS, distillation, then 12 x 12 patches (frequency-major) [146, D]")
    writer.npy(name, "pooler_output", out.pooler_output[0], "(last_hidden_state[0] + last_hidden_state[1]) / 2 [D]")
    writer.npy(name, "logits", logits[0], "classifier = LayerNorm then Linear on pooler_output [num_labels]")
    writer.npy(name, "embeddings", out.hidden_states[0][0], "output_hidden_states[0]: patch embeddings with CLS, distillation tokens and positions [146, D]")


# ------------------------------------------------------------------------- ESM-2


def esm_config(**overrides) -> EsmConfig:
    fields = dict(
        vocab_size=33,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=4,
        # 4 x hidden as in every ESM-2 checkpoint (fair-esm's ESM2 fixes the ratio).
        intermediate_size=128,
        hidden_act="gelu",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        max_position_embeddings=1026,
        initializer_range=0.02,
        layer_norm_eps=1e-5,
        position_embedding_type="rotary",
        emb_layer_norm_before=False,
        token_dropout=True,
        mask_token_id=32,
        pad_token_id=1,
        is_folding_model=False,
        architectures=["EsmForMaskedLM"],
    )
    fields.update(overrides)
    return EsmConfig(**fields)


def spread_contact_head_(esm: EsmModel) -> None:
    """Scale the contact regression up so the contacts spread over (0, 1).

    The features it reads (APC-corrected attention maps) are of order 1/L, so with
    N(0, 1/fan_in) weights every contact would sit near sigmoid(bias) and a wrong
    APC or symmetrization would hardly show.
    """
    with torch.no_grad():
        esm.contact_head.regression.weight.mul_(200.0)


def check_with_fair_esm(hf_model: EsmForMaskedLM, ids: torch.Tensor, writer: Writer) -> None:
    """Runs the original fair-esm ESM-2 on the same weights, when fair-esm is installed."""
    try:
        import esm  # fair-esm
    except ImportError:
        writer.note("esm2", fair_esm_check="skipped: fair-esm not installed")
        return
    config = hf_model.config
    alphabet = esm.Alphabet.from_architecture("ESM-1b")
    assert list(alphabet.all_toks) == ESM_VOCAB, alphabet.all_toks
    ref = esm.ESM2(
        num_layers=config.num_hidden_layers,
        embed_dim=config.hidden_size,
        attention_heads=config.num_attention_heads,
        alphabet=alphabet,
        token_dropout=config.token_dropout,
    ).eval()
    hf = hf_model.state_dict()
    mapped = {
        "embed_tokens.weight": hf["esm.embeddings.word_embeddings.weight"],
        "emb_layer_norm_after.weight": hf["esm.encoder.emb_layer_norm_after.weight"],
        "emb_layer_norm_after.bias": hf["esm.encoder.emb_layer_norm_after.bias"],
        "lm_head.dense.weight": hf["lm_head.dense.weight"],
        "lm_head.dense.bias": hf["lm_head.dense.bias"],
        "lm_head.layer_norm.weight": hf["lm_head.layer_norm.weight"],
        "lm_head.layer_norm.bias": hf["lm_head.layer_norm.bias"],
        "lm_head.weight": hf["esm.embeddings.word_embeddings.weight"],
        "lm_head.bias": hf["lm_head.bias"],
        "contact_head.regression.weight": hf["esm.contact_head.regression.weight"],
        "contact_head.regression.bias": hf["esm.contact_head.regression.bias"],
    }
    for i in range(config.num_hidden_layers):
        p = f"esm.encoder.layer.{i}."
        q = f"layers.{i}."
        for a, b in [("q_proj", "query"), ("k_proj", "key"), ("v_proj", "value")]:
            mapped[q + f"self_attn.{a}.weight"] = hf[p + f"attention.self.{b}.weight"]
            mapped[q + f"self_attn.{a}.bias"] = hf[p + f"attention.self.{b}.bias"]
        mapped[q + "self_attn.out_proj.weight"] = hf[p + "attention.output.dense.weight"]
        mapped[q + "self_attn.out_proj.bias"] = hf[p + "attention.output.dense.bias"]
        mapped[q + "self_attn_layer_norm.weight"] = hf[p + "attention.LayerNorm.weight"]
        mapped[q + "self_attn_layer_norm.bias"] = hf[p + "attention.LayerNorm.bias"]
        mapped[q + "fc1.weight"] = hf[p + "intermediate.dense.weight"]
        mapped[q + "fc1.bias"] = hf[p + "intermediate.dense.bias"]
        mapped[q + "fc2.weight"] = hf[p + "output.dense.weight"]
        mapped[q + "fc2.bias"] = hf[p + "output.dense.bias"]
        mapped[q + "final_layer_norm.weight"] = hf[p + "LayerNorm.weight"]
        mapped[q + "final_layer_norm.bias"] = hf[p + "LayerNorm.bias"]
    missing, unexpected = ref.load_state_dict(mapped, strict=False)
    missing = [k for k in missing if not k.endswith("rot_emb.inv_freq")]
    assert not missing and not unexpected, (missing, unexpected)
    with torch.no_grad():
        theirs = ref(ids, repr_layers=[config.num_hidden_layers], return_contacts=True)
        ours = hf_model(ids, output_hidden_states=True)
        contacts = hf_model.predict_contacts(ids, torch.ones_like(ids))
    rep_diff = (theirs["representations"][config.num_hidden_layers] - ours.hidden_states[-1]).abs().max().item()
    contact_diff = (theirs["contacts"] - contacts).abs().max().item()
    logit_diff = (theirs["logits"] - ours.logits).abs().max().item()
    assert rep_diff < 1e-4 and contact_diff < 1e-5 and logit_diff < 1e-4, (rep_diff, contact_diff, logit_diff)
    writer.note("esm2", fair_esm_check={
        "fair_esm_version": esm.__version__ if hasattr(esm, "__version__") else "installed",
        "last_layer_max_abs_diff": rep_diff,
        "contacts_max_abs_diff": contact_diff,
        "logits_max_abs_diff": logit_diff,
    })


def gen_esm2(fixtures: Path, writer: Writer) -> None:
    name = "esm2"
    folder = fresh_dir(fixtures / "models" / name)
    torch.manual_seed(6)
    model = EsmForMaskedLM(esm_config())
    randomize_(model, seed=606)
    spread_contact_head_(model.esm)
    save_model(model, folder, hub_layer_norm_names=True)
    (folder / "vocab.txt").write_text("\n".join(ESM_VOCAB) + "\n")
    tokenizer = EsmTokenizer(folder / "vocab.txt")
    tokenizer.save_pretrained(folder)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    assert tokenizer.get_vocab() == {t: i for i, t in enumerate(ESM_VOCAB)}
    assert (tokenizer.cls_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id, tokenizer.mask_token_id) == (0, 1, 2, 3, 32)

    model2 = reload(EsmForMaskedLM, folder)
    assert_same_weights(model, model2, name)
    fasta = input_path(fixtures, "LuxC")
    records = read_fasta(fasta)
    sequences = [seq for _, seq in records]
    for seq in sequences:
        expect = [0] + [ESM_VOCAB.index(c) for c in seq] + [2]
        assert tokenizer(seq)["input_ids"] == expect, seq[:20]

    batch = tokenizer(sequences, padding=True, return_tensors="pt")
    writer.npy(name, "input_ids", batch["input_ids"].to(torch.int32), f"EsmTokenizer on the {len(records)} records of {fasta.name}, in file order, padded with <pad> = 1 [N, max L + 2]")

    # Every record alone: mean over residues and BOS of the last layer (after emb_layer_norm_after).
    means, bos, singles = [], [], []
    with torch.no_grad():
        for seq in sequences:
            ids = torch.tensor([tokenizer(seq)["input_ids"]])
            last = model2.esm(ids).last_hidden_state[0]
            singles.append(last)
            means.append(last[1:-1].mean(0))
            bos.append(last[0])
    writer.npy(name, "mean", torch.stack(means), "each record alone: mean over residues (no <cls>/<eos>) of the last layer, after emb_layer_norm_after [N, D]")
    writer.npy(name, "bos", torch.stack(bos), "each record alone: the <cls> row of the last layer [N, D]")

    # All records in one padded batch must give the same numbers as the single runs.
    with torch.no_grad():
        batched = model2.esm(batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    batch_diff = 0.0
    for i, single in enumerate(singles):
        n = single.shape[0]
        batch_diff = max(batch_diff, (batched[i, :n] - single).abs().max().item())
    assert batch_diff < 1e-5, batch_diff
    writer.note(name, batch_vs_single_max_abs_diff=batch_diff)

    # Per-token references on the two shortest records, truncated to their first 120 residues.
    order = sorted(range(len(records)), key=lambda i: (len(sequences[i]), i))[:2]
    trunc = [sequences[i][:120] for i in order]
    ids = tokenizer(trunc, return_tensors="pt")["input_ids"]
    mask = torch.ones_like(ids)
    with torch.no_grad():
        out = model2(ids, output_hidden_states=True, output_attentions=True)
        contacts = model2.predict_contacts(ids, mask)
    torch.testing.assert_close(out.hidden_states[-1], model2.esm(ids).last_hidden_state, rtol=0, atol=0)
    # hidden_states[0]: the word embeddings scaled by (1 - 0.15 * 0.8) when no <mask> is present.
    embedded = model2.esm.embeddings.word_embeddings.weight[ids] * (1 - 0.15 * 0.8)
    torch.testing.assert_close(out.hidden_states[0], embedded, rtol=1e-6, atol=1e-6)
    writer.note(name, per_token_records=[{"index": i, "id": records[i][0], "length": len(sequences[i])} for i in order])
    writer.npy(name, "trunc120_input_ids", ids.to(torch.int32), "the two shortest records (see notes), first 120 residues, with <cls> and <eos> [2, 122]")
    writer.npy(name, "trunc120_hidden_states", torch.stack(out.hidden_states, dim=1), "output_hidden_states: [0] = embeddings (x 0.88 token-dropout scale), [l] = after layer l, last = after emb_layer_norm_after [2, layers+1, 122, D]")
    writer.npy(name, "trunc120_contacts", contacts, "predict_contacts: sigmoid(regression(APC(symmetrized attentions of all layers and heads, <cls>/<eos> removed))) [2, 120, 120]")
    writer.npy(name, "trunc120_logits_first", out.logits[0], "masked-LM logits of the first record (lm_head.decoder tied to word_embeddings) [122, 33]")
    writer.npy(name, "trunc120_attentions_layer0_first16", out.attentions[0][:, :, :16], "attention probabilities of layer 0, query rows 0..15 over all 122 keys [2, heads, 16, 122]")

    check_with_fair_esm(model2, ids, writer)

    # A bare EsmModel checkpoint (tensor names without "esm.", with the pooler that EsmModel
    # has by default). A narrower model of its own (hidden 16, 2 heads) keeps the fixture small.
    name2 = "esm2-model"
    folder2 = fresh_dir(fixtures / "models" / name2)
    torch.manual_seed(8)
    bare = EsmModel(esm_config(hidden_size=16, num_attention_heads=2, intermediate_size=64, architectures=["EsmModel"]))
    randomize_(bare, seed=808)
    spread_contact_head_(bare)
    save_model(bare, folder2)
    for file in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (folder / file).exists():
            shutil.copy(folder / file, folder2 / file)
    bare2 = reload(EsmModel, folder2)
    assert_same_weights(bare, bare2, name2)
    with torch.no_grad():
        means2, bos2 = [], []
        for seq in sequences:
            last = bare2(torch.tensor([tokenizer(seq)["input_ids"]])).last_hidden_state[0]
            means2.append(last[1:-1].mean(0))
            bos2.append(last[0])
        contacts2 = bare2.predict_contacts(ids, mask)
    writer.npy(name2, "mean", torch.stack(means2), "each record alone: mean over residues of the last layer (after emb_layer_norm_after) [N, 16]")
    writer.npy(name2, "bos", torch.stack(bos2), "each record alone: the <cls> row of the last layer [N, 16]")
    writer.npy(name2, "trunc120_contacts_first", contacts2[0], "predict_contacts on the first record of esm2/trunc120_input_ids [120, 120]")
    writer.note(name2, extra_tensors="pooler.dense.* (EsmModel default add_pooling_layer=True; unused by the references)")


def main(out_dir) -> None:
    fixtures = Path(out_dir)
    torch.set_num_threads(1)
    writer = Writer(fresh_dir(fixtures / "reference" / "models"))
    images = {key: input_path(fixtures, key) for key in ("cat", "camera", "horse")}
    writer.note("inputs", **{k: describe_input(fixtures, k) for k in INPUTS})
    gen_vit(fixtures, writer, images)
    gen_deit(fixtures, writer, images)
    gen_deit_distilled(fixtures, writer, images)
    gen_whisper(fixtures, writer)
    gen_ast(fixtures, writer)
    gen_esm2(fixtures, writer)
    writer.finish()


if __name__ == "__main__":
    main(Path(__file__).resolve().parent)
