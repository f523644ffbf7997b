"""Regenerates every committed fixture from the reference implementations.

    python Fixtures/generate.py                 # every generator
    python Fixtures/generate.py gen_models      # only the named ones

Each generator module in this folder exposes `main(out_dir)`, where `out_dir`
is this `Fixtures/` folder; a module that is not there is skipped with a
message. The versions of everything the references ran on are written to
`Fixtures/VERSIONS.json`. The outputs are deterministic: each generator is
started from the same seeds on one CPU thread, so a second run rewrites the
same bytes.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import json
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
GENERATORS = ["gen_vision", "gen_audio", "gen_protein", "gen_models", "gen_text", "gen_text_models", "gen_long_context", "gen_video",
              "gen_whisper", "gen_alignment", "gen_long_audio", "gen_attention"]
DISTRIBUTIONS = [
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "Pillow",
    "numpy",
    "scipy",
    "soundfile",
    "torchaudio",
    "fair-esm",
    "sentence-transformers",
    "tiktoken",
    "av",
]


def versions() -> dict:
    found = {"python": platform.python_version()}
    for name in DISTRIBUTIONS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    try:
        import soundfile

        found["libsndfile"] = soundfile.__libsndfile_version__
    except ImportError:
        found["libsndfile"] = None
    found["machine"] = platform.machine()
    return found


def seed_everything() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    torch.set_num_threads(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("generators", nargs="*", help=f"subset of {', '.join(GENERATORS)}")
    args = parser.parse_args()
    unknown = [g for g in args.generators if g not in GENERATORS]
    if unknown:
        parser.error(f"unknown generator(s): {', '.join(unknown)}")
    chosen = args.generators or GENERATORS

    sys.path.insert(0, str(HERE))
    for name in chosen:
        if importlib.util.find_spec(name) is None:
            print(f"skip {name}: Fixtures/{name}.py is not there", file=sys.stderr)
            continue
        module = importlib.import_module(name)
        seed_everything()
        start = time.monotonic()
        print(f"run {name} ...", file=sys.stderr)
        module.main(HERE)
        print(f"done {name} in {time.monotonic() - start:.1f} s", file=sys.stderr)

    (HERE / "VERSIONS.json").write_text(json.dumps(versions(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
