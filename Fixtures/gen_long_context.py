"""Tiny random ModernBERT and Qwen3-Embedding checkpoints (the long-context families), with reference
outputs from transformers and sentence-transformers.

Each model is a complete Hugging Face + sentence-transformers folder in `Fixtures/models/<name>/`,
laid out like the published checkpoint it is modelled on:

- `modernbert`: answerdotai/ModernBERT-base. `ModernBertForMaskedLM` saved by `save_pretrained`
  (tensor names `model.…` plus the MLM head `head.…`, `decoder.bias`; the decoder weight is tied to
  the token embeddings and not stored), float32. Alternating attention: layers 0 and 3 global,
  1 and 2 local with `local_attention` 8 (a token sees keys at distance <= 4). A byte-level BPE
  tokenizer with ModernBERT's pipeline (NFC, ByteLevel, `[CLS] $A [SEP]`), and the
  sentence-transformers files of the ModernBERT-based embedding models (mean pooling, Normalize).
- `qwen3-embedding`: Qwen/Qwen3-Embedding-0.6B. A bare `Qwen3Model` (tensor names without a
  prefix, as in the published file) whose config.json says `Qwen3ForCausalLM`, float32. GQA (4 query
  heads, 2 key/value heads), head_dim 16 with 4·16 != hidden 32, q/k RMSNorm. A byte-level BPE
  tokenizer with Qwen2's pipeline whose post-processor appends `<|endoftext|>` to every text, left
  padding, and the sentence-transformers files of Qwen3-Embedding (last-token pooling, Normalize,
  the `query` prompt).

config.json is written with the fields of the published files (transformers 4.x names:
`global_rope_theta`, `local_rope_theta`, `global_attn_every_n_layers`, `rope_theta`), which
transformers 5 reads into the same configuration (checked); what transformers 5's `save_pretrained`
would write instead is kept as `config_transformers5.json` next to the references.

Both tokenizers are trained here on `Fixtures/text/GPL-3.txt` with the `tokenizers` BPE trainer.
The references are computed in float32 with eager attention, from the weights as stored, and
written under `Fixtures/reference/long-context/<name>/`, every file described in
`Fixtures/reference/long-context/manifest.json` (a tree of its own, so that this generator and
`gen_text_models`, which rewrites `reference/text-models/` wholesale, stay independent).

Run through `Fixtures/generate.py gen_long_context`, or alone: `python Fixtures/gen_long_context.py`.
"""

from __future__ import annotations

import os

# The tokenizers trainers are deterministic; one thread keeps them so on every machine.
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import safetensors
import torch
from torch import nn

import tokenizers
import transformers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    AutoModel,
    AutoTokenizer,
    ModernBertConfig,
    ModernBertForMaskedLM,
    ModernBertModel,
    PreTrainedTokenizerFast,
    Qwen3Config,
    Qwen3ForCausalLM,
    Qwen3Model,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_models import Writer, fresh_dir, randomize_, reload, save_model  # noqa: E402

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "text" / "GPL-3.txt"
HARD_CASES = HERE / "text" / "hard_cases.txt"
HARD_MULTILINE = HERE / "text" / "hard_cases_multiline.json"
CORPUS_LINES = HERE / "text" / "corpus.txt"

# Sequence lengths of the single-text references (ids fed to the model, special tokens included).
# ModernBERT's local layers see keys at distance <= local_attention // 2 = 4, so 12 and 40 cross the edge.
LENGTHS = (1, 5, 12, 40)
# The padded batch: these three texts, longest first.
BATCH_KEYS = ("len40", "len12", "len5")
# The text whose attention probabilities are written.
ATTENTION_KEY = "len12"

# The Qwen2 pre-tokenizer pattern (tokenizer.json of Qwen2 / Qwen2.5 / Qwen3, transformers' PRETOKENIZE_REGEX).
QWEN2_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
QWEN3_QUERY_PROMPT = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"

# Sentences for SentenceTransformer.encode: mixed lengths, the empty string, non-Latin text, and one
# longer than max_seq_length for both tokenizers (ModernBERT 48, Qwen3 96: the query prompt alone is 59 tokens).
ST_SENTENCES = [
    "This is free software.",
    "What is the capital of China?",
    "GPL",
    "",
    "Grüße aus Zürich — café, naïve, 東京 🚀",
    "You may copy and distribute verbatim copies of this license document, but changing it is not allowed.",
    "The licenses for most software and other practical works are designed to take away your freedom to share and "
    "change the works. By contrast, the GNU General Public License is intended to guarantee your freedom to share "
    "and change all versions of a program--to make sure it remains free software for all its users.",
    "Developers that use the GNU GPL protect your rights with two steps.",
]
MB_MAX_SEQ_LENGTH = 48
QWEN_MAX_SEQ_LENGTH = 96

# Tokenizer cases: lines of hard_cases.txt picked by their start, then lines of corpus.txt by number
# (1-based), then texts of hard_cases_multiline.json by index.
HARD_CASE_STARTS = [
    "I'm sure it's what they're saying",
    "I'M SURE IT'S WHAT",
    "curly: the dog",
    "two  spaces   three",
    "tab\there",
    "   three leading spaces",
    "1 12 123 1234",
    "1,000,000.00 and",
    "~!@#$%^&*()_+",
    "!!!??? ...",
    "precomposed é vs",
    "Tiếng Việt",
    "Mixed scripts:",
    "def f(x): return",
    "https://huggingface.co/",
    "[CLS] text [SEP] more [MASK]",
    "glued[MASK]tokens",
    "before<|endoftext|>after",
    "<|endoftext|><|endoftext|>",
    "emoji glued to words",
]
CORPUS_LINE_NUMBERS = [1, 701, 1101]
MULTILINE_INDICES = [1, 13, 14]


# ---------------------------------------------------------------------- helpers


def read_corpus_words() -> list[str]:
    """The words of GPL-3.txt from its preamble on (the prose the single-text references are cut from)."""
    if not CORPUS.is_file():
        sys.exit(f"error: {CORPUS} is missing: check out the whole Fixtures folder")
    text = CORPUS.read_text(encoding="utf-8")
    return text[text.index("Preamble") + len("Preamble"):].split()


def corpus_lines() -> list[str]:
    return [line.strip() for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def randomize_norms_(model: nn.Module, seed: int) -> None:
    """`randomize_` draws every 1-D parameter as a bias (N(0, 0.1²)); RMSNorm weights (not nn.LayerNorm)
    are redrawn here as layer-norm weights, 1 + N(0, 0.1²), from their own seed."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if type(module).__name__.endswith("RMSNorm"):
                noise = torch.randn(module.weight.shape, generator=generator, dtype=torch.float32)
                module.weight.copy_(1.0 + 0.1 * noise)


def tensor_names(folder: Path) -> dict[str, str]:
    """Every tensor of model.safetensors as "DTYPE [shape]"."""
    with safetensors.safe_open(folder / "model.safetensors", "pt") as f:
        return {k: f"{f.get_slice(k).get_dtype()} {list(f.get_slice(k).get_shape())}" for k in sorted(f.keys())}


def patch_tokenizer_config(folder: Path, **fields) -> None:
    """Rewrite tokenizer_config.json with the published file's fields; transformers 5's own `backend` key goes
    (the published files predate it), keys set to `...` are dropped."""
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config.pop("backend", None)
    for key, value in fields.items():
        if value is ...:
            config.pop(key, None)
        else:
            config[key] = value
    write_json(path, config)


def write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def train_bpe(pre_tokenizer, vocab_size: int) -> Tokenizer:
    """A byte-level BPE (all 256 byte symbols, then merges) trained on GPL-3.txt behind NFC and `pre_tokenizer`."""
    tok = Tokenizer(tokenizers.models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizer
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False, special_tokens=[],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus_lines(), trainer)
    assert tok.get_vocab_size() == vocab_size, tok.get_vocab_size()
    return tok


def text_of_length(tokenizer, words: list[str], length: int) -> str:
    """The first run of corpus words (in file order) whose encoding, special tokens included, has exactly `length` ids."""
    for start in range(len(words)):
        for n in range(1, length + 1):
            text = " ".join(words[start:start + n])
            count = len(tokenizer(text)["input_ids"])
            if count == length:
                return text
            if count > length:
                break
    raise AssertionError(f"no run of words encodes to {length} ids")


def one_token_word(tokenizer, words: list[str]) -> str:
    """The first corpus word of 4+ letters that is one token on its own (no special tokens)."""
    for word in words:
        if word.isalpha() and len(word) >= 4 and len(tokenizer(word, add_special_tokens=False)["input_ids"]) == 1:
            return word
    raise AssertionError("no one-token word")


def tokenizer_cases() -> list[dict]:
    hard = HARD_CASES.read_text(encoding="utf-8").split("\n")
    corpus = CORPUS_LINES.read_text(encoding="utf-8").split("\n")
    multiline = json.loads(HARD_MULTILINE.read_text(encoding="utf-8"))
    cases = []
    for start in HARD_CASE_STARTS:
        found = [i for i, line in enumerate(hard) if line.startswith(start)]
        assert found, start
        cases.append({"source": f"text/hard_cases.txt:{found[0] + 1}", "text": hard[found[0]]})
    for number in CORPUS_LINE_NUMBERS:
        cases.append({"source": f"text/corpus.txt:{number}", "text": corpus[number - 1]})
    for index in MULTILINE_INDICES:
        cases.append({"source": f"text/hard_cases_multiline.json[{index}]", "text": multiline[index]})
    return cases


def capture_last_layer_output(base, layers: nn.ModuleList):
    """Forward hook: the output of the last layer, before the final norm."""
    captured = {}

    def hook(_module, _inputs, output):
        captured["out"] = (output[0] if isinstance(output, tuple) else output).detach().clone()

    handle = layers[-1].register_forward_hook(hook)
    return captured, handle


# ---------------------------------------------------------------------- references shared by both models


def single_refs(writer: Writer, name: str, base, tokenizer, words: list[str], *, attention_layers: dict[str, int],
                norm_name: str) -> dict:
    """Input ids and every hidden state of single texts of each length in LENGTHS, attentions of ATTENTION_KEY."""
    layers = base.config.num_hidden_layers
    texts, ids_by_key, special = {}, {}, {}
    one = one_token_word(tokenizer, words)
    for length in LENGTHS:
        key = f"len{length}"
        if length == 1:
            texts[key] = one
            ids = tokenizer(one, add_special_tokens=False)["input_ids"]
            special[key] = False
        else:
            texts[key] = text_of_length(tokenizer, words, length)
            ids = tokenizer(texts[key])["input_ids"]
            special[key] = True
        assert len(ids) == length, (key, ids)
        ids_by_key[key] = ids
        captured, handle = capture_last_layer_output(base, base.layers)
        with torch.no_grad():
            out = base(torch.tensor([ids]), output_hidden_states=True, output_attentions=True)
        handle.remove()
        hidden = torch.stack(out.hidden_states)[:, 0]
        assert hidden.shape == (layers + 1, length, base.config.hidden_size), hidden.shape
        torch.testing.assert_close(hidden[-1], out.last_hidden_state[0], rtol=0, atol=0)
        writer.npy(name, f"hidden_states_{key}", hidden,
                   f"output_hidden_states for texts[{key!r}] ({length} ids): the embeddings"
                   + (" after embeddings.norm" if name == "modernbert" else "")
                   + f", then each layer's output; the last entry is last_hidden_state, after {norm_name} "
                   f"[layers+1, {length}, D]")
        if key == "len40":
            writer.npy(name, f"last_layer_before_norm_{key}", captured["out"][0],
                       f"output of the last layer for texts[{key!r}] before {norm_name} (hidden_states[-1] is after it) [{length}, D]")
        if key == ATTENTION_KEY:
            for label, layer in attention_layers.items():
                writer.npy(name, f"attentions_layer{layer}_{key}", out.attentions[layer][0],
                           f"attention probabilities (eager softmax) of layer {layer} ({label}) for texts[{key!r}] "
                           f"[heads, {length}, {length}]")
    return {"texts": texts, "input_ids": ids_by_key, "add_special_tokens": special,
            "one_token_text": "texts['len1'] is one word encoded without special tokens (add_special_tokens=False); "
                              "every other text is tokenizer(text) with the special tokens of the post-processor"}


def batch_refs(writer: Writer, name: str, base, tokenizer, inputs: dict, *, pad_id: int, side: str) -> dict:
    """The BATCH_KEYS texts as one padded batch, as the tokenizer pads them."""
    texts = [inputs["texts"][k] for k in BATCH_KEYS]
    assert tokenizer.padding_side == side, tokenizer.padding_side
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    ids, mask = batch["input_ids"], batch["attention_mask"]
    lengths = mask.sum(1).tolist()
    width = ids.shape[1]
    for row, key in enumerate(BATCH_KEYS):
        n = lengths[row]
        real = slice(0, n) if side == "right" else slice(width - n, width)
        pad = slice(n, width) if side == "right" else slice(0, width - n)
        assert ids[row, real].tolist() == inputs["input_ids"][key], key
        assert all(t == pad_id for t in ids[row, pad].tolist())
        assert mask[row, real].eq(1).all() and mask[row, pad].eq(0).all()
    with torch.no_grad():
        out = base(ids, attention_mask=mask, output_hidden_states=True)
    hidden = torch.stack(out.hidden_states)  # [layers+1, 3, T, D]
    diff = 0.0
    for row, key in enumerate(BATCH_KEYS):
        n = lengths[row]
        real = slice(0, n) if side == "right" else slice(width - n, width)
        single = torch.from_numpy(np.load(writer.root / name / f"hidden_states_{key}.npy"))
        diff = max(diff, (hidden[:, row, real] - single).abs().max().item())
    assert diff < 1e-5, diff
    writer.npy(name, "batch_input_ids", ids, f"input ids of texts {list(BATCH_KEYS)} padded by the tokenizer "
               f"({side} padding with id {pad_id}) [3, {width}]")
    writer.npy(name, "batch_attention_mask", mask, f"the tokenizer's attention_mask for batch_input_ids (1 = real token) [3, {width}]")
    writer.npy(name, "batch_last_hidden_state", out.last_hidden_state,
               f"last_hidden_state of the padded batch, base(batch_input_ids, attention_mask=batch_attention_mask); "
               f"only rows where the mask is 1 are defined [3, {width}, D]")
    writer.note(name, batch_vs_single_max_abs_diff=diff)
    return {"order": list(BATCH_KEYS), "lengths": lengths, "padding_side": side, "pad_token_id": pad_id,
            "width": width, "batch_vs_single_max_abs_diff_all_layers": diff}


def tokenizer_refs(writer: Writer, name: str, tokenizer, folder: Path) -> None:
    backend = Tokenizer.from_file(str(folder / "tokenizer.json"))
    cases, differences = [], []
    for i, case in enumerate(tokenizer_cases()):
        ids = tokenizer(case["text"])["input_ids"]
        if backend.encode(case["text"]).ids != ids:
            differences.append({"index": i, "tokenizers_ids": backend.encode(case["text"]).ids})
        cases.append({**case, "ids": ids, "tokens": tokenizer.convert_ids_to_tokens(ids),
                      "decoded_skip_special": tokenizer.decode(ids, skip_special_tokens=True)})
    writer.json(name, "tokenizer_cases",
                {"tokenizer": f"models/{name}", "made_with": f"transformers {transformers.__version__} "
                 f"AutoTokenizer ({type(tokenizer).__name__}), tokenizers {tokenizers.__version__}",
                 "cases": cases, "differences": differences},
                "tokenizer(text)['input_ids'] (special tokens included) for lines of text/hard_cases.txt, text/corpus.txt "
                "and text/hard_cases_multiline.json (each case names its source), with convert_ids_to_tokens and "
                "decode(ids, skip_special_tokens=True); differences lists cases where tokenizers' Tokenizer.encode "
                "of tokenizer.json gives other ids (expected empty)")
    assert not differences, differences
    writer.note(name, tokenizer_cases=len(cases), tokenizer_vs_tokenizers_differences=len(differences))


def sentence_refs(writer: Writer, name: str, folder: Path, base, *, pooling: str, max_len: int,
                  prompt_names: list[str | None]) -> None:
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(folder), device="cpu")
    st.eval()
    assert st.max_seq_length == max_len, st.max_seq_length
    record = {"sentences": ST_SENTENCES, "max_seq_length": max_len, "pooling": pooling, "normalize": True,
              "prompts": st.prompts, "runs": {}}
    attn = getattr(st[0].auto_model.config, "_attn_implementation", None)
    for prompt_name in prompt_names:
        label = prompt_name or "plain"
        prompt = st.prompts.get(prompt_name, "") if prompt_name else None
        embeddings = st.encode(ST_SENTENCES, convert_to_numpy=True, batch_size=32, prompt_name=prompt_name)
        assert embeddings.dtype == np.float32
        features = st.preprocess(ST_SENTENCES, prompt=prompt)
        mask = features["attention_mask"]
        lengths = mask.sum(1).tolist()
        side = st.tokenizer.padding_side
        width = mask.shape[1]
        ids = [(features["input_ids"][i, :n] if side == "right" else features["input_ids"][i, width - n:]).tolist()
               for i, n in enumerate(lengths)]
        assert max(lengths) == max_len and min(lengths) < max_len, lengths
        # The same numbers from the base model (eager) pooled by hand.
        with torch.no_grad():
            hidden = base(features["input_ids"], attention_mask=mask).last_hidden_state
        if pooling == "mean":
            m = mask.unsqueeze(-1).float()
            pooled = (hidden * m).sum(1) / m.sum(1)
        else:  # lasttoken: the last position whose mask is 1
            last = torch.tensor([width - 1 if side == "left" else n - 1 for n in lengths])
            pooled = hidden[torch.arange(len(lengths)), last]
        pooled = torch.nn.functional.normalize(pooled, dim=1)
        by_hand = float(np.abs(pooled.numpy() - embeddings).max())
        assert by_hand < 1e-5, by_hand
        stem = "embeddings" if prompt_name is None else f"{prompt_name}_embeddings"
        writer.npy(name, stem, embeddings,
                   f"SentenceTransformer(folder, device='cpu').encode(sentences, convert_to_numpy=True"
                   + (f", prompt_name={prompt_name!r}" if prompt_name else "")
                   + f"): {pooling} pooling, then L2 normalisation [sentences, D]")
        record["runs"][label] = {"prompt_name": prompt_name, "prompt": prompt, "input_ids": ids,
                                 "padding_side": side, "pooled_by_hand_max_abs_diff": by_hand,
                                 "last_id_of_each": [x[-1] if x else None for x in ids]}
        writer.note(name, **{f"st_{label}_by_hand_max_abs_diff": by_hand})
    writer.json(name, "sentences", record,
                "the sentences, max_seq_length, pooling, the folder's prompts, and per run (plain"
                + (", query" if "query" in prompt_names else "") + ") the prompt prepended and the input_ids "
                "SentenceTransformer.preprocess gives each sentence (prompt included, truncated to max_seq_length, "
                "padding removed)")
    writer.note(name, st_attn_implementation=attn,
                st_files=sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()))


# ---------------------------------------------------------------------- ModernBERT


MB_SPECIALS = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]  # ids 50280 … 50284 in ModernBERT, after the BPE vocabulary


def modernbert_tokenizer(folder: Path, max_length: int):
    tok = train_bpe(pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True), 500)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False, lstrip=(t == "[MASK]")) for t in MB_SPECIALS])
    ids = {t: tok.token_to_id(t) for t in MB_SPECIALS}
    assert list(ids.values()) == list(range(500, 505)), ids
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])])
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]",
        mask_token=AddedToken("[MASK]", lstrip=True, special=True, normalized=False), model_max_length=max_length,
        model_input_names=["input_ids", "attention_mask"], clean_up_tokenization_spaces=True)
    wrapped.save_pretrained(folder)
    # As ModernBERT's tokenizer_config.json: the generic fast class (transformers 5 maps it to TokenizersBackend).
    patch_tokenizer_config(folder, tokenizer_class="PreTrainedTokenizerFast")
    return ids


def modernbert_hub_config(config: ModernBertConfig, vocab_size: int, ids: dict[str, int]) -> dict:
    """config.json with the fields of answerdotai/ModernBERT-base's (written by transformers 4.48)."""
    return {
        "architectures": ["ModernBertForMaskedLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": ids["[CLS]"],
        "classifier_activation": "gelu",
        "classifier_bias": False,
        "classifier_dropout": 0.0,
        "classifier_pooling": "mean",
        "cls_token_id": ids["[CLS]"],
        "decoder_bias": True,
        "deterministic_flash_attn": False,
        "embedding_dropout": 0.0,
        "eos_token_id": ids["[SEP]"],
        "global_attn_every_n_layers": 3,
        "global_rope_theta": 160000.0,
        "hidden_activation": "gelu",
        "hidden_size": config.hidden_size,
        "initializer_cutoff_factor": 2.0,
        "initializer_range": 0.02,
        "intermediate_size": config.intermediate_size,
        "local_attention": config.local_attention,
        "local_rope_theta": 10000.0,
        "max_position_embeddings": config.max_position_embeddings,
        "mlp_bias": False,
        "mlp_dropout": 0.0,
        "model_type": "modernbert",
        "norm_bias": False,
        "norm_eps": 1e-05,
        "num_attention_heads": config.num_attention_heads,
        "num_hidden_layers": config.num_hidden_layers,
        "pad_token_id": ids["[PAD]"],
        "reference_compile": False,
        "sep_token_id": ids["[SEP]"],
        "sparse_pred_ignore_index": -100,
        "sparse_prediction": False,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "transformers_version": "4.48.0",
        "vocab_size": vocab_size,
    }


def same_config(a, b, fields: list[str], what: str) -> None:
    for field in fields:
        if getattr(a, field) != getattr(b, field):
            raise AssertionError(f"{what}: {field} {getattr(a, field)!r} != {getattr(b, field)!r}")


def write_modernbert_st_files(folder: Path, width: int, max_len: int) -> None:
    """The sentence-transformers files of the ModernBERT-based embedding models on the Hub (for example
    nomic-ai/modernbert-embed-base): Transformer, mean Pooling, Normalize; max_seq_length in sentence_bert_config.json."""
    write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    write_json(folder / "sentence_bert_config.json", {"max_seq_length": max_len, "do_lower_case": False})
    write_json(folder / "config_sentence_transformers.json", {
        "__version__": {"sentence_transformers": "3.3.1", "transformers": "4.48.0", "pytorch": "2.5.1"},
        "prompts": {}, "default_prompt_name": None, "similarity_fn_name": "cosine"})
    (folder / "1_Pooling").mkdir()
    write_json(folder / "1_Pooling" / "config.json", {
        "word_embedding_dimension": width,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    })


def gen_modernbert(fixtures: Path, writer: Writer, words: list[str]) -> None:
    name = "modernbert"
    folder = fresh_dir(fixtures / "models" / name)
    max_positions = 64
    ids = modernbert_tokenizer(folder, max_positions)
    vocab_size = 512  # the tokenizer's 505 rounded up to a multiple of 64, as ModernBERT's 50368 for 50285 ids
    config = ModernBertConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=48, num_hidden_layers=4, num_attention_heads=4,
        global_attn_every_n_layers=3, local_attention=8, global_rope_theta=160000.0, local_rope_theta=10000.0,
        max_position_embeddings=max_positions, hidden_activation="gelu", norm_eps=1e-5, norm_bias=False,
        attention_bias=False, mlp_bias=False, classifier_pooling="mean", reference_compile=False,
        pad_token_id=ids["[PAD]"], bos_token_id=ids["[CLS]"], eos_token_id=ids["[SEP]"],
        cls_token_id=ids["[CLS]"], sep_token_id=ids["[SEP]"], architectures=["ModernBertForMaskedLM"])
    assert config.layer_types == ["full_attention", "sliding_attention", "sliding_attention", "full_attention"]
    assert config.sliding_window == 4
    torch.manual_seed(21)
    model = ModernBertForMaskedLM(config)
    randomize_(model, seed=2121)
    save_model(model, folder)
    saved_config = json.loads((folder / "config.json").read_text())
    write_json(folder / "config.json", modernbert_hub_config(config, vocab_size, ids))
    write_modernbert_st_files(folder, config.hidden_size, MB_MAX_SEQ_LENGTH)

    loaded = reload(ModernBertForMaskedLM, folder)
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    fields = ["layer_types", "rope_parameters", "sliding_window", "local_attention", "hidden_activation", "norm_eps",
              "norm_bias", "vocab_size", "max_position_embeddings", "tie_word_embeddings", "pad_token_id"]
    same_config(config, loaded.config, fields, name)
    base = loaded.model
    assert isinstance(base, ModernBertModel) and base.config._attn_implementation == "eager"
    writer.json(name, "config_transformers5", saved_config,
                "the config.json transformers 5 save_pretrained writes for this model (layer_types, rope_parameters per "
                "layer type); models/modernbert/config.json has the published 4.x fields instead, which load to the same config")

    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert type(tokenizer).__name__ == "TokenizersBackend", type(tokenizer).__name__
    assert "token_type_ids" not in tokenizer("a")
    assert tokenizer.padding_side == "right"
    names = tensor_names(folder)
    writer.note(name, modelled_on="answerdotai/ModernBERT-base", architecture="ModernBertForMaskedLM",
                tensors=names, stored_dtypes=sorted({v.split()[0] for v in names.values()}),
                tied="decoder.weight is model.embeddings.tok_embeddings.weight (tie_word_embeddings), not stored",
                layer_types=config.layer_types, rope_theta={"full_attention": 160000.0, "sliding_attention": 10000.0},
                sliding_window=("local_attention 8: in sliding layers query i sees key j iff |i - j| <= local_attention // 2 = 4 "
                                "(transformers sliding_window_bidirectional_overlay, eager additive mask of finfo.min), "
                                "combined with the padding mask; global layers see every unmasked key"),
                layer0="layers.0.attn_norm is Identity (no tensor); every other layer has attn_norm.weight",
                norms="LayerNorm without bias (norm_bias false), eps 1e-5: embeddings.norm after the token embedding, "
                      "attn_norm and mlp_norm (pre-norm), final_norm",
                attention="Wqkv [3*D, D] rows: q, k, v; head_dim = D / heads = 8; scale head_dim^-0.5; rotary (rotate_half, "
                          "cos/sin of position * inv_freq, theta by layer type) on q and k; positions 0…T-1",
                mlp="Wi [2*48, D] split into input (first 48 rows) and gate (last 48): Wo(gelu(input) * gate), exact erf GELU",
                positions="position_ids = arange(T) for every row (right padding leaves real tokens at 0…n-1)",
                config_json="written with answerdotai/ModernBERT-base's 4.x fields (global_attn_every_n_layers, "
                            "global_rope_theta, local_rope_theta, reference_compile); see config_transformers5.json",
                tokenizer=("byte-level BPE (500 = 256 bytes + merges, trained on GPL-3.txt) then [UNK] [CLS] [SEP] [PAD] "
                           "[MASK] = 500…504 ([MASK] lstrip); NFC, ByteLevel(add_prefix_space false), TemplateProcessing "
                           "[CLS] $A [SEP] / [CLS] $A [SEP] $B:1 [SEP]:1, ByteLevel decoder; PreTrainedTokenizerFast, "
                           "model_input_names input_ids + attention_mask (no token_type_ids), right padding with [PAD]"),
                vocab=f"config vocab_size {vocab_size}; ids 505…511 are embedding rows no token uses")

    inputs = single_refs(writer, name, base, tokenizer, words, norm_name="final_norm",
                         attention_layers={"sliding, the last local layer": 2, "global, the last layer": 3})
    attn = torch.from_numpy(np.load(writer.root / name / f"attentions_layer2_{ATTENTION_KEY}.npy"))
    t = attn.shape[-1]
    far = (torch.arange(t)[:, None] - torch.arange(t)[None, :]).abs() > config.sliding_window
    assert far.any() and attn[:, far].eq(0).all() and attn[:, ~far].gt(0).all()
    inputs["batch"] = batch_refs(writer, name, base, tokenizer, inputs, pad_id=ids["[PAD]"], side="right")
    writer.json(name, "inputs", inputs, "texts (by key len1, len5, len12, len40), their input_ids, whether special tokens "
                "were added, and the padded batch's order, lengths and padding side")
    tokenizer_refs(writer, name, tokenizer, folder)
    sentence_refs(writer, name, folder, base, pooling="mean", max_len=MB_MAX_SEQ_LENGTH, prompt_names=[None])


# ---------------------------------------------------------------------- Qwen3-Embedding


QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # 151643 … 151645 in Qwen, after the BPE vocabulary


def qwen_tokenizer(folder: Path, max_length: int) -> dict[str, int]:
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok = train_bpe(pre, 400)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in QWEN_SPECIALS])
    ids = {t: tok.token_to_id(t) for t in QWEN_SPECIALS}
    assert list(ids.values()) == [400, 401, 402], ids
    eot = "<|endoftext|>"
    # Qwen3-Embedding's updated tokenizer.json: every text gets <|endoftext|> appended.
    tok.post_processor = processors.TemplateProcessing(
        single=f"$A:0 {eot}:0", pair=f"$A:0 {eot}:0 $B:1 {eot}:1", special_tokens=[(eot, ids[eot])])
    # decoders.ByteLevel() takes no options from Python; Qwen2's tokenizer.json spells them out (all false, no effect
    # on decoding), as it gives the BPE model empty (not null) subword prefix and suffix.
    spec = json.loads(tok.to_str())
    spec["decoder"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    spec["model"].update(continuing_subword_prefix="", end_of_word_suffix="")
    tok = Tokenizer.from_str(json.dumps(spec))
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token=eot, unk_token=None, bos_token=None,
        additional_special_tokens=["<|im_start|>", "<|im_end|>"], model_max_length=max_length, padding_side="left",
        clean_up_tokenization_spaces=False, model_input_names=["input_ids", "attention_mask"])
    wrapped.save_pretrained(folder)
    # As Qwen3-Embedding's tokenizer_config.json: the Qwen2Tokenizer class, errors "replace", no BOS/UNK, the
    # extra specials under their 4.x name.
    extra = json.loads((folder / "tokenizer_config.json").read_text())["extra_special_tokens"]
    patch_tokenizer_config(folder, tokenizer_class="Qwen2Tokenizer", errors="replace", add_prefix_space=False,
                           split_special_tokens=False, bos_token=None, unk_token=None,
                           additional_special_tokens=extra, extra_special_tokens=...)
    spec = json.loads((folder / "tokenizer.json").read_text())
    assert spec["decoder"]["add_prefix_space"] is False and spec["model"]["continuing_subword_prefix"] == ""
    return ids


def qwen_hub_config(config: Qwen3Config, ids: dict[str, int]) -> dict:
    """config.json with the fields of Qwen/Qwen3-Embedding-0.6B's (written by transformers 4.51)."""
    return {
        "architectures": ["Qwen3ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|endoftext|>"],
        "head_dim": config.head_dim,
        "hidden_act": "silu",
        "hidden_size": config.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": config.intermediate_size,
        "max_position_embeddings": config.max_position_embeddings,
        "max_window_layers": config.num_hidden_layers,
        "model_type": "qwen3",
        "num_attention_heads": config.num_attention_heads,
        "num_hidden_layers": config.num_hidden_layers,
        "num_key_value_heads": config.num_key_value_heads,
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 1000000,
        "sliding_window": None,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "transformers_version": "4.51.3",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": config.vocab_size,
    }


def write_qwen_st_files(folder: Path, width: int, max_len: int) -> None:
    """The sentence-transformers files of Qwen/Qwen3-Embedding-0.6B."""
    write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    write_json(folder / "sentence_bert_config.json", {"max_seq_length": max_len, "do_lower_case": False})
    write_json(folder / "config_sentence_transformers.json", {
        "prompts": {"query": QWEN3_QUERY_PROMPT, "document": ""},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })
    (folder / "1_Pooling").mkdir()
    write_json(folder / "1_Pooling" / "config.json", {
        "word_embedding_dimension": width,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": False,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": True,
        "include_prompt": True,
    })


def qwen_position_check(base, root: Path) -> dict:
    """Left padding: Qwen3Model's default position_ids are arange(T) for every row, so row b's real tokens sit at
    positions pad_b … T-1. Rotary attention depends only on position differences, so the real-token outputs equal
    the unpadded ones up to rounding; with position_ids counting real tokens from 0 they match too."""
    batch_ids = torch.from_numpy(np.load(root / "batch_input_ids.npy"))
    mask = torch.from_numpy(np.load(root / "batch_attention_mask.npy"))
    width = batch_ids.shape[1]
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    with torch.no_grad():
        default = base(batch_ids, attention_mask=mask).last_hidden_state
        counted = base(batch_ids, attention_mask=mask, position_ids=positions).last_hidden_state
    d_default = d_counted = 0.0
    for row, key in enumerate(BATCH_KEYS):
        n = int(mask[row].sum())
        single = torch.from_numpy(np.load(root / f"hidden_states_{key}.npy"))[-1]
        d_default = max(d_default, (default[row, width - n:] - single).abs().max().item())
        d_counted = max(d_counted, (counted[row, width - n:] - single).abs().max().item())
    return {"default_arange_positions_vs_single": d_default, "real_token_positions_vs_single": d_counted}


def gen_qwen3(fixtures: Path, writer: Writer, words: list[str]) -> None:
    name = "qwen3-embedding"
    folder = fresh_dir(fixtures / "models" / name)
    max_positions = 128
    ids = qwen_tokenizer(folder, max_positions)
    config = Qwen3Config(
        vocab_size=403, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, hidden_act="silu", max_position_embeddings=max_positions,
        rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True, attention_bias=False,
        use_sliding_window=False, sliding_window=None, max_window_layers=2,
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|endoftext|>"])
    assert config.layer_types == ["full_attention", "full_attention"]
    torch.manual_seed(22)
    model = Qwen3Model(config)
    randomize_(model, seed=2222)
    randomize_norms_(model, seed=2223)
    save_model(model, folder)
    saved_config = json.loads((folder / "config.json").read_text())
    write_json(folder / "config.json", qwen_hub_config(config, ids))
    write_qwen_st_files(folder, config.hidden_size, QWEN_MAX_SEQ_LENGTH)

    loaded = reload(Qwen3Model, folder)
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    same_config(config, loaded.config, ["layer_types", "rope_parameters", "head_dim", "num_key_value_heads",
                                        "rms_norm_eps", "vocab_size", "tie_word_embeddings", "sliding_window"], name)
    assert type(AutoModel.from_pretrained(folder)).__name__ == "Qwen3Model"
    causal, info = Qwen3ForCausalLM.from_pretrained(folder, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    assert torch.equal(causal.lm_head.weight, loaded.embed_tokens.weight)
    base = loaded
    assert base.config._attn_implementation == "eager"
    writer.json(name, "config_transformers5", saved_config,
                "the config.json transformers 5 save_pretrained writes for this Qwen3Model (rope_parameters, layer_types, "
                "architectures Qwen3Model); models/qwen3-embedding/config.json has the published 4.x fields instead "
                "(rope_theta, architectures Qwen3ForCausalLM), which load to the same config")

    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert type(tokenizer).__name__ == "Qwen2Tokenizer", type(tokenizer).__name__
    assert tokenizer("a")["input_ids"][-1] == ids["<|endoftext|>"]
    assert tokenizer.padding_side == "left" and tokenizer.pad_token_id == ids["<|endoftext|>"]
    names = tensor_names(folder)
    writer.note(name, modelled_on="Qwen/Qwen3-Embedding-0.6B",
                architecture="Qwen3Model weights without a prefix (embed_tokens.*, layers.N.*, norm.weight), as in the "
                             "published model.safetensors; config.json architectures [Qwen3ForCausalLM] as published "
                             "(AutoModel loads Qwen3Model; Qwen3ForCausalLM loads it too, lm_head tied to embed_tokens)",
                tensors=names, stored_dtypes=sorted({v.split()[0] for v in names.values()}),
                published_dtype="the published weights are bfloat16; these are float32",
                attention=("q_proj [heads*head_dim = 64, D 32], k_proj/v_proj [kv_heads*head_dim = 32, 32], o_proj [32, 64]; "
                           "q_norm/k_norm: RMSNorm over each head's 16 values (weight [16], eps 1e-6) before rotary; rotary "
                           "theta 1e6 on all 16 dims (rotate_half); GQA: query head h uses kv head h // 2; scale head_dim^-0.5; "
                           "causal mask (key j <= query i) and the padding mask, eager additive finfo.min"),
                norms="RMSNorm x * rsqrt(mean(x^2) + 1e-6) * weight (weight, not 1 + weight), in float32; "
                      "input_layernorm, post_attention_layernorm, final norm",
                mlp="down_proj(silu(gate_proj(x)) * up_proj(x))",
                positions=("position_ids default to arange(T) for every row, padding included: in a LEFT-padded row "
                           "with p pads, real token k has rotary position p + k (not k). Because rotary scores depend "
                           "only on position differences and padded keys are masked, the real-token outputs equal the "
                           "unpadded run up to rounding (see left_padding_position_check)"),
                pad_is_eos="the pad token is <|endoftext|>, the same id the post-processor appends: padding is known "
                           "from attention_mask only",
                config_json="written with Qwen3-Embedding-0.6B's 4.x fields (rope_theta, rope_scaling null, "
                            "architectures Qwen3ForCausalLM); see config_transformers5.json",
                tokenizer=("byte-level BPE (400 = 256 bytes + merges, trained on GPL-3.txt behind the Qwen2 split) then "
                           "<|endoftext|> <|im_start|> <|im_end|> = 400…402; NFC, Sequence[Split(Qwen2 regex, Isolated), "
                           "ByteLevel(add_prefix_space false, use_regex false)], ByteLevel decoder, TemplateProcessing "
                           "$A <|endoftext|> / $A <|endoftext|> $B:1 <|endoftext|>:1; tokenizer_config: Qwen2Tokenizer, "
                           "eos <|im_end|>, pad <|endoftext|>, padding_side left, model_max_length 128; "
                           "transformers loads it as Qwen2Tokenizer, which keeps the file's post-processor"))

    inputs = single_refs(writer, name, base, tokenizer, words, norm_name="norm",
                         attention_layers={"the last layer": 1})
    attn = torch.from_numpy(np.load(writer.root / name / f"attentions_layer1_{ATTENTION_KEY}.npy"))
    t = attn.shape[-1]
    future = torch.arange(t)[None, :] > torch.arange(t)[:, None]
    assert attn[:, future].eq(0).all() and attn[:, ~future].gt(0).all()
    inputs["batch"] = batch_refs(writer, name, base, tokenizer, inputs, pad_id=ids["<|endoftext|>"], side="left")
    check = qwen_position_check(base, writer.root / name)
    assert max(check.values()) < 1e-5, check
    inputs["batch"]["left_padding_position_check"] = check
    writer.note(name, left_padding_position_check=check)
    writer.json(name, "inputs", inputs, "texts (by key len1, len5, len12, len40), their input_ids, whether special tokens "
                "were added, and the padded batch's order, lengths, padding side and the position check")
    tokenizer_refs(writer, name, tokenizer, folder)
    sentence_refs(writer, name, folder, base, pooling="lasttoken", max_len=QWEN_MAX_SEQ_LENGTH,
                  prompt_names=[None, "query"])


# ---------------------------------------------------------------------- main


def main(out_dir) -> None:
    fixtures = Path(out_dir)
    torch.set_num_threads(1)
    writer = Writer(fresh_dir(fixtures / "reference" / "long-context"))
    words = read_corpus_words()
    import sentence_transformers

    writer.note("generator", corpus="Fixtures/text/GPL-3.txt", versions={
        "torch": torch.__version__, "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
        "sentence_transformers": sentence_transformers.__version__, "safetensors": safetensors.__version__},
        attention="eager, float32, weights as stored (float32)")
    writer.note("layout", **{
        "<model>/inputs.json": "texts {len1, len5, len12, len40}; input_ids per key; add_special_tokens per key; batch "
                               "{order, lengths, padding_side, pad_token_id, width, …}",
        "<model>/hidden_states_len<T>.npy": "[layers+1, T, D]: embeddings (ModernBERT: after embeddings.norm), each "
                                            "layer's output, the last after the final norm",
        "<model>/last_layer_before_norm_len40.npy": "[40, D] the last layer's output before the final norm",
        "<model>/attentions_layer<N>_len12.npy": "[heads, 12, 12] eager attention probabilities",
        "<model>/batch_input_ids.npy, batch_attention_mask.npy": "[3, W] int64, the tokenizer's padding",
        "<model>/batch_last_hidden_state.npy": "[3, W, D]; rows where the mask is 0 are not defined",
        "<model>/tokenizer_cases.json": "tokenizer(text) ids, tokens and decode for 26 texts",
        "<model>/sentences.json, embeddings.npy (, query_embeddings.npy)": "SentenceTransformer.encode",
        "<model>/config_transformers5.json": "what transformers 5 save_pretrained writes as config.json",
    })
    gen_modernbert(fixtures, writer, words)
    gen_qwen3(fixtures, writer, words)
    writer.finish()
    # safetensors writes 0600 files; every fixture is world-readable like the rest of the tree.
    for name in ("modernbert", "qwen3-embedding"):
        for path in (fixtures / "models" / name).rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
    for path in (fixtures / "reference" / "long-context").rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


if __name__ == "__main__":
    torch.manual_seed(0)
    main(HERE)
