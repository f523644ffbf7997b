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
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"subset of {', '.join(MODELS)}")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in MODELS]
    if unknown:
        parser.error(f"unknown model(s): {', '.join(unknown)}")
    for name in args.names or list(MODELS):
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
