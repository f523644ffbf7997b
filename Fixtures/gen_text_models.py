"""Tiny random text models (BERT, RoBERTa, DistilBERT, GPT-2) and sentence-transformers folders,
with reference outputs from transformers and sentence-transformers.

Each model is a complete Hugging Face folder in `Fixtures/models/<name>/`: `config.json`,
`model.safetensors` (saved by `save_pretrained`; RoBERTa in float16, GPT-2 in bfloat16, the others
in float32) and a small tokenizer trained here on `Fixtures/text/GPL-3.txt` (the GNU GPL version 3,
a verbatim copy as its licence permits) with the `tokenizers` trainers, wrapped in the family's transformers tokenizer
class and saved with `save_pretrained` (tokenizer.json + tokenizer_config.json). The references
are computed in float32 with eager attention, from the weights exactly as stored (the float16 and
bfloat16 values widened to float32), and written under `Fixtures/reference/text-models/<name>/`,
every file described in `Fixtures/reference/text-models/manifest.json`.

Run through `Fixtures/generate.py gen_text_models`, or alone: `python Fixtures/gen_text_models.py`.
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
import safetensors.torch
import torch
from torch import nn

import tokenizers
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertForMaskedLM,
    BertModel,
    BertTokenizer,
    DistilBertConfig,
    DistilBertForMaskedLM,
    DistilBertTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    GPT2Tokenizer,
    RobertaConfig,
    RobertaForMaskedLM,
    RobertaTokenizer,
)

from gen_models import Writer, fresh_dir, randomize_, reload, save_model

CORPUS = Path(__file__).resolve().parent / "text" / "GPL-3.txt"

# Tokens per sequence every model accepts (the position table; RoBERTa's has 2 more rows).
MAX_TOKENS = 64

# The texts each model sees, by key: a short one, one cut to the longest prefix (in words) that
# fits MAX_TOKENS with the model's special tokens, and one with non-ASCII characters (accents,
# CJK, an emoji, a fraction) that byte-level BPE splits into bytes and WordPiece partly maps to [UNK].
SHORT = "Hello, world!"
UNICODE = "Grüße aus Zürich: café, naïve façade — 東京 🚀 ½"
LONG_SOURCE_HEADING = "Preamble"

# Sentences for the sentence-transformers folders; the fifth is longer than either max_seq_length.
ST_SENTENCES = [
    "This is free software.",
    "You may copy and distribute verbatim copies of this license.",
    "Hello, world!",
    "Grüße aus Zürich — café",
    "The licenses for most software and other practical works are designed to take away your freedom to share and change the works.",
    "GPL",
]


def stored_dtypes(folder: Path) -> list[str]:
    with safetensors.safe_open(folder / "model.safetensors", "pt") as f:
        return sorted({str(f.get_slice(k).get_dtype()) for k in f.keys()})


def bert_config(vocab: dict[str, int], architecture: str) -> BertConfig:
    """The tiny BERT of the bert folder and of the sentence-transformers folders."""
    return BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        max_position_embeddings=MAX_TOKENS, type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0,
        architectures=[architecture],
    )


def assert_weights(reference: nn.Module, loaded: nn.Module, dtype: torch.dtype, what: str) -> None:
    """The reloaded float32 model holds the original weights rounded to `dtype`, widened back."""
    sa, sb = reference.state_dict(), loaded.state_dict()
    for key, value in sa.items():
        if value.dtype.is_floating_point:
            expected = value.to(dtype).to(torch.float32)
            if not torch.equal(expected, sb[key]):
                raise AssertionError(f"{what}: {key} is not the {dtype}-rounded weight after save/load")


# ---------------------------------------------------------------------- tokenizers


def corpus_lines() -> list[str]:
    if not CORPUS.is_file():
        sys.exit(f"error: {CORPUS} is missing: check out the whole Fixtures folder")
    return [line.strip() for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def long_source() -> list[str]:
    """The words of the GPL-3 preamble, the source of each model's near-maximum text."""
    text = CORPUS.read_text(encoding="utf-8")
    start = text.index(LONG_SOURCE_HEADING) + len(LONG_SOURCE_HEADING)
    return text[start:].split()[:200]


def train_wordpiece(lines: list[str]) -> dict[str, int]:
    """An uncased WordPiece vocabulary of 600 entries, special tokens first as in bert-base-uncased's order."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=600, min_frequency=2, show_progress=False,
                                        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator(lines, trainer)
    # The trainer finds the same tokens on every run but numbers them differently (hash-map order):
    # number them canonically. WordPiece's greedy longest match does not depend on the ids.
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens = [t for t in tok.get_vocab() if t not in special]
    def letter(t: str) -> bool:
        return len(t) == 1 or (t.startswith("##") and len(t) == 3)
    ordered = special + sorted(t for t in tokens if letter(t)) + sorted(t for t in tokens if not letter(t))
    return {t: i for i, t in enumerate(ordered)}


def train_byte_bpe(lines: list[str], vocab_size: int, special: list[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A byte-level BPE vocabulary (all 256 byte symbols, then merges) and its merges."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(lines, trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return model["vocab"], merges


def longest_fitting(tokenizer, words: list[str], limit: int) -> str:
    """The longest prefix of `words` whose encoding (special tokens included) has at most `limit` ids."""
    best = ""
    for n in range(1, len(words) + 1):
        candidate = " ".join(words[:n])
        if len(tokenizer(candidate)["input_ids"]) > limit:
            break
        best = candidate
    return best


# ---------------------------------------------------------------------- references


def text_refs(writer: Writer, name: str, model, tokenizer, base, *, pad_id: int, attention_text: str,
              with_types: bool, pair: tuple[str, str] | None = None) -> None:
    """Per-text hidden states, one right-padded batch, and the last layer's attentions of one text.

    `base` is the base model (BertModel, GPT2Model ...) inside `model`."""
    long_text = longest_fitting(tokenizer, long_source(), MAX_TOKENS)
    texts = {"short": SHORT, "long": long_text, "unicode": UNICODE}
    inputs = {"texts": texts, "input_ids": {}, "max_tokens": MAX_TOKENS}
    if with_types:
        inputs["token_type_ids"] = {}
    layers = model.config.num_hidden_layers
    for key, text in texts.items():
        enc = tokenizer(text, return_tensors="pt")
        ids = enc["input_ids"]
        inputs["input_ids"][key] = ids[0].tolist()
        if with_types:
            inputs["token_type_ids"][key] = enc["token_type_ids"][0].tolist()
        kwargs = {"token_type_ids": enc["token_type_ids"]} if with_types else {}
        with torch.no_grad():
            out = base(ids, output_hidden_states=True, output_attentions=True, **kwargs)
        hidden = torch.stack(out.hidden_states)[:, 0]  # [layers+1, T, D]
        assert hidden.shape[0] == layers + 1
        torch.testing.assert_close(hidden[-1], out.last_hidden_state[0], rtol=0, atol=0)
        writer.npy(name, f"hidden_states_{key}", hidden,
                   f"output_hidden_states for texts[{key!r}]: embeddings, then each layer's output (the last equals last_hidden_state"
                   + (", after ln_f" if name == "gpt2" else "") + f") [layers+1, {ids.shape[1]}, D]")
        if key == attention_text:
            writer.npy(name, f"attentions_last_layer_{key}", out.attentions[-1][0],
                       f"attention probabilities of the last layer for texts[{key!r}] [heads, T, T]")
    long_len = len(inputs["input_ids"]["long"])
    assert MAX_TOKENS - 3 <= long_len <= MAX_TOKENS, long_len

    # The three texts as one right-padded batch.
    order = list(texts)
    batch = tokenizer([texts[k] for k in order], padding=True, return_tensors="pt")
    assert tokenizer.padding_side == "right"
    kwargs = {"token_type_ids": batch["token_type_ids"]} if with_types else {}
    with torch.no_grad():
        batched = base(batch["input_ids"], attention_mask=batch["attention_mask"], **kwargs).last_hidden_state
    lengths = batch["attention_mask"].sum(1).tolist()
    diff = 0.0
    for i, key in enumerate(order):
        n = lengths[i]
        assert batch["input_ids"][i, :n].tolist() == inputs["input_ids"][key]
        assert all(t == pad_id for t in batch["input_ids"][i, n:].tolist())
        single = torch.from_numpy(np.load(writer.root / name / f"hidden_states_{key}.npy"))[-1]
        diff = max(diff, (batched[i, :n] - single).abs().max().item())
    assert diff < 1e-5, diff
    inputs["batch"] = {"order": order, "lengths": lengths, "pad_token_id": pad_id}
    writer.npy(name, "batch_last_hidden_state", batched,
               f"last_hidden_state of texts {order} as one right-padded batch (padding={pad_id}, attention_mask); "
               "compare only rows t < batch.lengths[b] (padded rows are not defined) [3, T, D]")
    writer.note(name, batch_vs_single_max_abs_diff=diff)

    if pair is not None:
        enc = tokenizer(*pair, return_tensors="pt")
        assert set(enc["token_type_ids"][0].tolist()) == {0, 1}
        with torch.no_grad():
            out = base(enc["input_ids"], token_type_ids=enc["token_type_ids"])
        inputs["pair"] = {"texts": list(pair), "input_ids": enc["input_ids"][0].tolist(),
                          "token_type_ids": enc["token_type_ids"][0].tolist()}
        writer.npy(name, "pair_last_hidden_state", out.last_hidden_state[0],
                   "last_hidden_state of the sentence pair in inputs.json (token_type_ids 0 then 1) [T, D]")
    writer.json(name, "inputs", inputs,
                "texts (by key), their input_ids (and token_type_ids) from the folder's tokenizer (`tokenizer(text)`), "
                "the padded batch's order and lengths" + (", a sentence pair" if pair else ""))


# ---------------------------------------------------------------------- families


def random_checkpoint(cls, config, folder: Path, *, seeds: tuple[int, int], dtype: torch.dtype = torch.float32,
                      hub_layer_norm_names: bool = False):
    """`cls(config)` built after `torch.manual_seed(seeds[0])`, drawn by `randomize_(seed=seeds[1])` and saved
    to `folder` in `dtype`; returns the float32 model reloaded from `folder`, checked against what was saved."""
    torch.manual_seed(seeds[0])
    model = cls(config)
    randomize_(model, seed=seeds[1])
    save_model(model.to(dtype), folder, hub_layer_norm_names=hub_layer_norm_names)
    loaded = reload(cls, folder)
    assert_weights(model, loaded, dtype, folder.name)
    return loaded


def gen_bert(fixtures: Path, writer: Writer, vocab: dict[str, int]) -> None:
    name = "bert"
    folder = fresh_dir(fixtures / "models" / name)
    model2 = random_checkpoint(BertForMaskedLM, bert_config(vocab, "BertForMaskedLM"), folder, seeds=(11, 1111),
                               hub_layer_norm_names=True)
    BertTokenizer(vocab=vocab, model_max_length=MAX_TOKENS).save_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert type(tokenizer).__name__ == "BertTokenizer"
    writer.note(name, architecture="BertForMaskedLM (tensor prefix bert.)", stored_dtypes=stored_dtypes(folder),
                tokenizer="WordPiece, BertNormalizer lowercase, [CLS] $A [SEP] / [CLS] $A [SEP] $B:1 [SEP]:1")
    text_refs(writer, name, model2, tokenizer, model2.bert, pad_id=0, attention_text="unicode", with_types=True,
              pair=("Can I copy this program?", "Yes, under the terms of the license."))


def gen_roberta(fixtures: Path, writer: Writer, lines: list[str]) -> None:
    name = "roberta"
    folder = fresh_dir(fixtures / "models" / name)
    vocab, merges = train_byte_bpe(lines, 500, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    config = RobertaConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        max_position_embeddings=MAX_TOKENS + 2, type_vocab_size=1, layer_norm_eps=1e-5,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, architectures=["RobertaForMaskedLM"],
    )
    model2 = random_checkpoint(RobertaForMaskedLM, config, folder, seeds=(12, 1212), dtype=torch.float16,
                               hub_layer_norm_names=True)
    RobertaTokenizer(vocab=vocab, merges=merges, model_max_length=MAX_TOKENS).save_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert type(tokenizer).__name__ == "RobertaTokenizer"
    dtypes = stored_dtypes(folder)
    assert dtypes == ["F16"], dtypes
    writer.note(name, architecture="RobertaForMaskedLM (tensor prefix roberta.)", stored_dtypes=dtypes,
                references="float32 forward of the float16 weights widened to float32",
                positions="padding_idx + 1 + t (pad_token_id 1); max_position_embeddings 66, so 64 tokens",
                tokenizer="byte-level BPE (500 entries), RobertaProcessing <s> $A </s>")
    text_refs(writer, name, model2, tokenizer, model2.roberta, pad_id=1, attention_text="short", with_types=False)


def gen_distilbert(fixtures: Path, writer: Writer, vocab: dict[str, int]) -> None:
    name = "distilbert"
    folder = fresh_dir(fixtures / "models" / name)
    config = DistilBertConfig(
        vocab_size=len(vocab), dim=32, n_layers=2, n_heads=4, hidden_dim=64, activation="gelu",
        max_position_embeddings=MAX_TOKENS, sinusoidal_pos_embds=False, dropout=0.0, attention_dropout=0.0,
        pad_token_id=0, architectures=["DistilBertForMaskedLM"],
    )
    # As transformers 5 writes it: the embeddings' LayerNorm as LayerNorm.gamma / LayerNorm.beta.
    model2 = random_checkpoint(DistilBertForMaskedLM, config, folder, seeds=(13, 1313))
    DistilBertTokenizer(vocab=vocab, model_max_length=MAX_TOKENS).save_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert "token_type_ids" not in tokenizer("a")
    with safetensors.safe_open(folder / "model.safetensors", "pt") as f:
        names = sorted(f.keys())
    writer.note(name, architecture="DistilBertForMaskedLM (tensor prefix distilbert.)", stored_dtypes=stored_dtypes(folder),
                layer_norm_names=[n for n in names if "embeddings.LayerNorm" in n],
                tokenizer="the bert folder's WordPiece vocabulary, no token_type_ids")
    text_refs(writer, name, model2, tokenizer, model2.distilbert, pad_id=0, attention_text="long", with_types=False)


def gen_gpt2(fixtures: Path, writer: Writer, lines: list[str]) -> None:
    name = "gpt2"
    folder = fresh_dir(fixtures / "models" / name)
    vocab, merges = train_byte_bpe(lines, 499, [])
    eos = "<|endoftext|>"
    vocab[eos] = len(vocab)  # last, as in gpt2's vocabulary
    config = GPT2Config(
        vocab_size=len(vocab), n_embd=48, n_layer=2, n_head=4, n_positions=MAX_TOKENS, n_inner=None,
        activation_function="gelu_new", layer_norm_epsilon=1e-5, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=vocab[eos], eos_token_id=vocab[eos], architectures=["GPT2LMHeadModel"],
    )
    model2 = random_checkpoint(GPT2LMHeadModel, config, folder, seeds=(14, 1414), dtype=torch.bfloat16)
    GPT2Tokenizer(vocab=vocab, merges=merges, model_max_length=MAX_TOKENS).save_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert type(tokenizer).__name__ == "GPT2Tokenizer"
    tokenizer.pad_token = eos  # for the padded batch only (GPT-2 has no pad token)
    dtypes = stored_dtypes(folder)
    assert dtypes == ["BF16"], dtypes
    writer.note(name, architecture="GPT2LMHeadModel (tensor prefix transformer.; lm_head tied to wte, not stored)",
                stored_dtypes=dtypes, references="float32 forward of the bfloat16 weights widened to float32",
                tokenizer="byte-level BPE (499 entries + <|endoftext|> last), no special tokens added",
                padding="the batch pads with <|endoftext|>; rows past each length are not defined")
    text_refs(writer, name, model2, tokenizer, model2.transformer, pad_id=vocab[eos], attention_text="unicode", with_types=False)


# ---------------------------------------------------------------------- sentence-transformers


def write_legacy_st_folder(folder: Path, base_dir: Path, *, pooling: str, normalize: bool, max_len: int, width: int) -> None:
    """The layout sentence-transformers 2.x-5.x saves and most folders on the Hub have (for example
    sentence-transformers/all-MiniLM-L6-v2): the transformer's files at the top, modules.json naming
    `sentence_transformers.models.*`, max_seq_length in sentence_bert_config.json (the tokenizer's
    own model_max_length is larger), the legacy pooling flags, and no folder for Normalize."""
    for file in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(base_dir / file, folder / file)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    (folder / "modules.json").write_text(json.dumps(modules, indent=2) + "\n")
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_len, "do_lower_case": False}, indent=2) + "\n")
    (folder / "config_sentence_transformers.json").write_text(json.dumps(
        {"__version__": {"sentence_transformers": "2.0.0", "transformers": "4.6.1", "pytorch": "1.8.1"}}, indent=2) + "\n")
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": width,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }, indent=2) + "\n")


def write_current_st_folder(folder: Path, base_dir: Path, *, pooling: str, normalize: bool, max_len: int) -> None:
    """What `SentenceTransformer.save` writes with the installed sentence-transformers (6.x:
    max_seq_length as the tokenizer's model_max_length, sentence_bert_config.json describing the
    transformer task), less the README.md model card."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    transformer = Transformer(str(base_dir), max_seq_length=max_len)
    modules = [transformer, Pooling(transformer.get_embedding_dimension(), pooling_mode=pooling)]
    if normalize:
        modules.append(Normalize())
    SentenceTransformer(modules=modules, device="cpu").save(str(folder))
    (folder / "README.md").unlink(missing_ok=True)


def gen_sentence_transformers(fixtures: Path, writer: Writer, vocab: dict[str, int]) -> None:
    from sentence_transformers import SentenceTransformer
    import sentence_transformers

    # One tiny BertModel (tensor names without a prefix, with the pooler BertModel has by default,
    # unused by sentence-transformers) under both folders.
    base_dir = fixtures / "models" / ".st-bert-base"
    fresh_dir(base_dir)
    config = bert_config(vocab, "BertModel")
    torch.manual_seed(15)
    bert = BertModel(config)
    randomize_(bert, seed=1515)
    save_model(bert, base_dir, hub_layer_norm_names=True)
    BertTokenizer(vocab=vocab, model_max_length=MAX_TOKENS).save_pretrained(base_dir)

    try:
        for name, pooling, normalize, max_len, layout in (("st-bert-mean", "mean", True, 16, "legacy"),
                                                          ("st-bert-cls", "cls", False, 12, "current")):
            folder = fresh_dir(fixtures / "models" / name)
            if layout == "legacy":
                write_legacy_st_folder(folder, base_dir, pooling=pooling, normalize=normalize, max_len=max_len,
                                       width=config.hidden_size)
                described = ("the layout sentence-transformers 2.x-5.x saves (as sentence-transformers/all-MiniLM-L6-v2 on the Hub), "
                             "written by the generator: max_seq_length in sentence_bert_config.json, legacy 1_Pooling flags, "
                             "no 2_Normalize folder; tokenizer_config.json model_max_length is 64")
            else:
                write_current_st_folder(folder, base_dir, pooling=pooling, normalize=normalize, max_len=max_len)
                described = (f"SentenceTransformer.save with sentence-transformers {sentence_transformers.__version__} "
                             "(README.md dropped): max_seq_length is tokenizer_config.json model_max_length, "
                             "sentence_bert_config.json has no max_seq_length, 1_Pooling/config.json says pooling_mode")
            saved = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())

            st = SentenceTransformer(str(folder), device="cpu")
            st.eval()
            assert st.max_seq_length == max_len, (name, st.max_seq_length)
            embeddings = st.encode(ST_SENTENCES, convert_to_numpy=True, batch_size=32)
            features = st.preprocess(ST_SENTENCES)
            lengths = features["attention_mask"].sum(1).tolist()
            ids = [features["input_ids"][i, :n].tolist() for i, n in enumerate(lengths)]
            assert max(lengths) == max_len and min(lengths) < max_len
            # The same numbers from the base model, pooled by hand.
            with torch.no_grad():
                hidden = bert.eval()(features["input_ids"], attention_mask=features["attention_mask"],
                                     token_type_ids=features.get("token_type_ids")).last_hidden_state
            mask = features["attention_mask"].unsqueeze(-1).float()
            pooled = hidden[:, 0] if pooling == "cls" else (hidden * mask).sum(1) / mask.sum(1)
            if normalize:
                pooled = torch.nn.functional.normalize(pooled, dim=1)
            by_hand = float(np.abs(pooled.numpy() - embeddings).max())
            assert by_hand < 1e-5, by_hand
            writer.json(name, "sentences", {"sentences": ST_SENTENCES, "input_ids": ids, "max_seq_length": max_len,
                                            "pooling": pooling, "normalize": normalize},
                        f"the sentences, and the input_ids SentenceTransformer.preprocess gives them (truncated to max_seq_length {max_len})")
            writer.npy(name, "embeddings", embeddings,
                       f"SentenceTransformer(folder, device='cpu').encode(sentences): {pooling} pooling"
                       + (", then L2 normalisation" if normalize else ", no normalisation") + " [sentences, D]")
            writer.note(name, layout=described, files=saved, pooling=pooling, normalize=normalize, max_seq_length=max_len,
                        transformer="BertModel (tensor names without prefix; pooler.* stored, unused), the same weights in both st folders",
                        pooled_by_hand_max_abs_diff=by_hand)
    finally:
        shutil.rmtree(base_dir)


def main(out_dir) -> None:
    fixtures = Path(out_dir)
    torch.set_num_threads(1)
    writer = Writer(fresh_dir(fixtures / "reference" / "text-models"))
    lines = corpus_lines()
    import sentence_transformers
    import transformers

    writer.note("generator", corpus="Fixtures/text/GPL-3.txt", corpus_lines=len(lines), versions={
        "torch": torch.__version__, "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
        "sentence_transformers": sentence_transformers.__version__, "safetensors": safetensors.__version__})
    writer.note("layout", **{
        "<model>/inputs.json": "texts {short, long, unicode}; input_ids {key: [ids]} from tokenizer(text) with the "
                               "model's special tokens; token_type_ids likewise (bert only); max_tokens; batch "
                               "{order, lengths, pad_token_id}; pair {texts, input_ids, token_type_ids} (bert only)",
        "<model>/hidden_states_<key>.npy": "[layers+1, T, D] per text",
        "<model>/batch_last_hidden_state.npy": "[3, T, D], batch.order, rows t >= batch.lengths[b] undefined",
        "<model>/attentions_last_layer_<key>.npy": "[heads, T, T], one text per model",
        "st-bert-*/sentences.json": "sentences, input_ids after truncation, max_seq_length, pooling, normalize",
        "st-bert-*/embeddings.npy": "[sentences, D] SentenceTransformer.encode",
    })
    wordpiece = train_wordpiece(lines)
    gen_bert(fixtures, writer, wordpiece)
    gen_roberta(fixtures, writer, lines)
    gen_distilbert(fixtures, writer, wordpiece)
    gen_gpt2(fixtures, writer, lines)
    gen_sentence_transformers(fixtures, writer, wordpiece)
    writer.finish()
    # safetensors writes 0600 files; every fixture is world-readable like the rest of the tree.
    for name in ("bert", "roberta", "distilbert", "gpt2", "st-bert-mean", "st-bert-cls"):
        for path in (fixtures / "models" / name).rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)


if __name__ == "__main__":
    torch.manual_seed(0)
    main(Path(__file__).resolve().parent)
