"""The tiny fixture models' weights in the other forms people have on disk.

Reads `Fixtures/models/<name>/` (written by gen_models.py and gen_text_models.py) and writes,
under `Fixtures/checkpoint-forms/`:

- `<name>/pytorch_model.bin` for every model but bert: `torch.save` of the state_dict under the published
  names, every tensor with the bits and dtype of `model.safetensors`. Families whose names did not
  change in transformers 5 save `model.state_dict()` of the model loaded in its stored dtype (tied
  weights share a storage, as in a real save); the others save the tensors of `model.safetensors`.
  In `vit`, the classifier weight is a transposed view and the class token and position table are
  views into one shared storage, so that strides, offsets and shared storages are exercised.
- `<name>/transformers5.safetensors` for the families whose module names changed in transformers 5
  (ViT, DeiT, AST; ESM moved its rotary buffer): the model loaded with transformers 5, its
  `state_dict()` written by safetensors' `save_file`, as a custom training loop would.
- `bert/pytorch_model-0000{1,2}-of-00002.bin` + `pytorch_model.bin.index.json`: a sharded `.bin`
  (`model.state_dict()` split in two; bert has no single `.bin`).
- `vit/legacy_pytorch_model.bin`: the format of torch before 1.6 (`_use_new_zipfile_serialization=False`).
- `esm2-bf16/`: the esm2 weights with the rotary `inv_freq` of every layer stored (published
  per-layer names) rounded through bfloat16, as a fine-tuned checkpoint has it, and what
  transformers computes with it (`hidden_states.npy`, `manifest.json` with the measured effect).
- `bad/`: files that must be refused: `malicious.bin` (a torch zip whose pickle would run
  `os.system("touch mmattn-pickle-ran")`), `malicious_legacy.bin` (the same as a bare pickle),
  `unknown_global.bin` (a training checkpoint holding an `argparse.Namespace`),
  `compressed.bin` (a torch zip re-written with deflated entries), `small_storage.bin` (a tensor
  of 4 elements over a storage of 2).
- `views/pytorch_model.bin` + `views/expected.safetensors`: F32, F16, BF16 and F64 tensors as
  transposed, offset and shared-storage views, and their contiguous values.

Run in the project's venv from anywhere: `python Fixtures/gen_checkpoint_forms.py`. It reads only
this repository. Every `.bin` holds a random serialization id that torch writes, so those files
change bytes (not tensors) on every run.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import pickle
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import safetensors.torch
import torch

import transformers

HERE = Path(__file__).resolve().parent
MODELS = HERE / "models"

# Folder → checkpoint class; st-bert-mean and st-bert-cls hold the same weights (one .bin serves both).
CLASSES = {
    "vit": "ViTForImageClassification",
    "deit": "ViTForImageClassification",
    "deit-distilled": "DeiTForImageClassificationWithTeacher",
    "ast": "ASTForAudioClassification",
    "whisper": "WhisperForConditionalGeneration",
    "whisper-model": "WhisperModel",
    "esm2": "EsmForMaskedLM",
    "esm2-model": "EsmModel",
    "bert": "BertForMaskedLM",
    "roberta": "RobertaForMaskedLM",
    "distilbert": "DistilBertForMaskedLM",
    "gpt2": "GPT2LMHeadModel",
    "st-bert": "BertModel",
}
SOURCE = {"st-bert": "st-bert-mean"}
# Families whose transformers 5 state_dict() names differ from the published ones.
RENAMED = {"vit", "deit", "deit-distilled", "ast", "esm2", "esm2-model"}
MARKER = "mmattn-pickle-ran"


def published(name: str) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(MODELS / SOURCE.get(name, name) / "model.safetensors")


def load(name: str, dtype: torch.dtype = torch.float32):
    cls = getattr(transformers, CLASSES[name])
    model = cls.from_pretrained(MODELS / SOURCE.get(name, name), dtype=dtype, attn_implementation="eager")
    return model.eval()


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.contiguous().view(torch.uint8), b.contiguous().view(torch.uint8))


def check_bin(path: Path, reference: dict[str, torch.Tensor]) -> None:
    """Every tensor of `reference` is in the .bin with the same bits (extra tied tensors allowed)."""
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    for key, value in reference.items():
        assert key in loaded and same_bits(loaded[key], value), f"{path}: {key} differs"


def write_bin(name: str, out: Path) -> None:
    reference = published(name)
    dtypes = {v.dtype for v in reference.values()}
    if name in RENAMED:
        state = collections.OrderedDict(reference)
        if name == "vit":
            # Views: a transposed classifier weight, the class token and positions in one storage.
            w = reference["classifier.weight"]
            state["classifier.weight"] = w.t().contiguous().t()
            cls, pos = reference["vit.embeddings.cls_token"], reference["vit.embeddings.position_embeddings"]
            shared = torch.cat([cls.flatten(), pos.flatten()])
            state["vit.embeddings.cls_token"] = shared[: cls.numel()].view(cls.shape)
            state["vit.embeddings.position_embeddings"] = shared[cls.numel():].view(pos.shape)
    else:
        assert len(dtypes) == 1, (name, dtypes)
        state = load(name, dtypes.pop()).state_dict()
    torch.save(state, out / "pytorch_model.bin")
    check_bin(out / "pytorch_model.bin", reference)


def write_transformers5(name: str, out: Path) -> list[str]:
    model = load(name)
    state = model.state_dict()
    # save_file refuses tensors that share memory (tied weights): each is written as its own copy.
    safetensors.torch.save_file({k: v.contiguous().clone() for k, v in state.items()}, out / "transformers5.safetensors",
                                metadata={"format": "pt"})
    reference = published(name)
    renamed = sorted(set(state) - set(reference))
    assert renamed, f"{name}: transformers 5 names equal the published ones"
    return renamed


def write_sharded(name: str, out: Path) -> None:
    reference = published(name)
    state = load(name).state_dict()
    keys = list(state)
    half = len(keys) // 2
    shards = {"pytorch_model-00001-of-00002.bin": keys[:half], "pytorch_model-00002-of-00002.bin": keys[half:]}
    weight_map = {}
    for file, names in shards.items():
        torch.save(collections.OrderedDict((k, state[k]) for k in names), out / file)
        weight_map.update({k: file for k in names})
    total = sum(v.numel() * v.element_size() for v in state.values())
    (out / "pytorch_model.bin.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n")
    merged = {}
    for file in shards:
        merged.update(torch.load(out / file, map_location="cpu", weights_only=True))
    for key, value in reference.items():
        assert same_bits(merged[key], value), f"sharded {name}: {key} differs"


def write_esm_bf16(out: Path, manifest: dict) -> None:
    """esm2 with per-layer inv_freq rounded through bfloat16, and transformers' outputs with it."""
    reference = published("esm2")
    state = {k: v for k, v in reference.items() if "rotary_embeddings" not in k}
    exact = next(v for k, v in reference.items() if k.endswith("rotary_embeddings.inv_freq"))
    rounded = exact.to(torch.bfloat16).to(torch.float32)
    layers = json.loads((MODELS / "esm2" / "config.json").read_text())["num_hidden_layers"]
    for i in range(layers):
        state[f"esm.encoder.layer.{i}.attention.self.rotary_embeddings.inv_freq"] = rounded.clone()
    safetensors.torch.save_file(state, out / "model.safetensors", metadata={"format": "pt"})

    ids = torch.from_numpy(np.load(HERE / "reference" / "models" / "esm2" / "trunc120_input_ids.npy")).to(torch.int64)[:1]
    with tempfile.TemporaryDirectory() as folder:  # esm2's config beside the new weights (not committed twice)
        shutil.copy(MODELS / "esm2" / "config.json", folder)
        shutil.copy(out / "model.safetensors", folder)
        model = transformers.EsmForMaskedLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
    assert torch.equal(model.esm.rotary_embeddings.inv_freq, rounded), "transformers did not keep the stored inv_freq"
    with torch.no_grad():
        stored = torch.stack(model.esm(ids, output_hidden_states=True).hidden_states)[:, 0]
        model.esm.rotary_embeddings.inv_freq.copy_(exact)
        recomputed = torch.stack(model.esm(ids, output_hidden_states=True).hidden_states)[:, 0]
    np.save(out / "hidden_states.npy", stored.numpy().astype(np.float32))
    np.save(out / "input_ids.npy", ids.numpy().astype(np.int32))
    manifest["esm2-bf16"] = {
        "model.safetensors": "esm2's weights, every layer's rotary inv_freq stored rounded through bfloat16 (published per-layer names)",
        "input_ids.npy": "[1, 122] int32: the first record of reference/models/esm2/trunc120_input_ids.npy",
        "hidden_states.npy": "[layers + 1, 122, D] float32: EsmModel output_hidden_states with the stored inv_freq (transformers keeps it)",
        "inv_freq_exact": exact.tolist(),
        "inv_freq_bf16": rounded.tolist(),
        "stored_vs_recomputed_max_abs_diff_by_layer": [float((a - b).abs().max()) for a, b in zip(stored, recomputed)],
    }


class _Evil:
    """Pickles to a call of os.system: what a malicious weights file does."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


class _FakeStorage:
    def __init__(self, key: str, numel: int):
        self.key, self.numel = key, numel


class _FakeTensor:
    def __init__(self, storage: _FakeStorage, size: tuple, stride: tuple, offset: int = 0):
        self.storage, self.size, self.stride, self.offset = storage, size, stride, offset

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict()))


class _StoragePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _FakeStorage):
            return ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
        return None


def write_torch_zip(path: Path, pickled: bytes, storages: dict[str, bytes], compression=zipfile.ZIP_STORED) -> None:
    """A zip laid out as torch.save lays it out (archive/data.pkl, archive/data/<key>, byteorder)."""
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        z.writestr("archive/data.pkl", pickled)
        z.writestr("archive/byteorder", "little")
        for key, data in storages.items():
            z.writestr(f"archive/data/{key}", data)
        z.writestr("archive/version", "3\n")


def write_bad(out: Path) -> None:
    torch.save({"weight": torch.zeros(2), "payload": _Evil()}, out / "malicious.bin")
    (out / "malicious_legacy.bin").write_bytes(pickle.dumps({"payload": _Evil()}, protocol=2))
    torch.save({"weight": torch.ones(3), "args": argparse.Namespace(lr=0.1)}, out / "unknown_global.bin")
    # A correct torch zip (read back by torch below) with every entry deflated.
    buffer = io.BytesIO()
    torch.save({"weight": torch.arange(6, dtype=torch.float32)}, buffer)
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(out / "compressed.bin", "w", compression=zipfile.ZIP_DEFLATED) as z:
        for info in source.infolist():
            z.writestr(info.filename, source.read(info.filename))
    assert torch.equal(torch.load(out / "compressed.bin", weights_only=True)["weight"], torch.arange(6, dtype=torch.float32))
    # A tensor of 4 elements over a storage of 2.
    pickled = io.BytesIO()
    _StoragePickler(pickled, protocol=2).dump(collections.OrderedDict(weight=_FakeTensor(_FakeStorage("0", 2), (4,), (1,))))
    write_torch_zip(out / "small_storage.bin", pickled.getvalue(), {"0": np.ones(2, np.float32).tobytes()})
    write_far_offset(out)


def write_far_offset(out: Path) -> None:
    """An empty tensor whose storage offset (2^62) lies far past its 2-element storage."""
    pickled = io.BytesIO()
    _StoragePickler(pickled, protocol=2).dump(collections.OrderedDict(weight=_FakeTensor(_FakeStorage("0", 2), (0,), (1,), offset=2**62)))
    write_torch_zip(out / "far_offset.bin", pickled.getvalue(), {"0": np.ones(2, np.float32).tobytes()})


def write_views(out: Path) -> None:
    g = torch.Generator().manual_seed(7)
    base = torch.randn(6, 5, generator=g)
    half = torch.randn(4, 3, generator=g).to(torch.float16)
    bf = torch.randn(3, 4, generator=g).to(torch.bfloat16)
    dbl = torch.randn(2, 3, 4, generator=g, dtype=torch.float64)
    state = collections.OrderedDict(
        base=base,
        transposed=base.t(),                       # strides (1, 5), shares base's storage
        block=base[1:4, 2:5],                      # offset 7, strides (5, 1)
        column=base[:, 3],                         # offset 3, stride 5
        half_t=half.t(),
        bf16_rows=bf[1:],
        f64_permuted=dbl.permute(2, 0, 1),
        scalar=torch.tensor(2.5),
        param=torch.nn.Parameter(torch.linspace(-1, 1, 7)),
    )
    torch.save(state, out / "pytorch_model.bin")
    expected = {k: v.detach().to(torch.float32).contiguous() for k, v in state.items()}
    safetensors.torch.save_file(expected, out / "expected.safetensors")


def main(out_dir=HERE) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    root = Path(out_dir) / "checkpoint-forms"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    manifest: dict = {"renamed_in_transformers5": {}}
    for name in CLASSES:
        out = root / name
        out.mkdir()
        if name != "bert":  # bert's .bin form is the sharded one
            write_bin(name, out)
        if name in RENAMED:
            manifest["renamed_in_transformers5"][name] = write_transformers5(name, out)
    write_sharded("bert", root / "bert")
    torch.save(collections.OrderedDict(published("vit")), root / "vit" / "legacy_pytorch_model.bin", _use_new_zipfile_serialization=False)
    check_bin(root / "vit" / "legacy_pytorch_model.bin", published("vit"))
    (root / "esm2-bf16").mkdir()
    write_esm_bf16(root / "esm2-bf16", manifest)
    (root / "bad").mkdir()
    write_bad(root / "bad")
    (root / "views").mkdir()
    write_views(root / "views")
    manifest["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    if Path(MARKER).exists():
        sys.exit(f"error: {MARKER} exists: something ran a malicious pickle")


if __name__ == "__main__":
    main()
