#!/usr/bin/env python3
"""Reference outputs for mmattn's protein front-end (FASTA, ESM-2 tokenizer, esm-extract batch plans).

    venv/bin/python Fixtures/gen_protein.py [FIXTURES_DIR]

or `gen_protein.main("Fixtures")` from the fixture driver. Reads FIXTURES_DIR/protein/LuxC.faa and writes
  FIXTURES_DIR/protein/vocab.txt                           ESM-2's vocabulary, one token per line
  FIXTURES_DIR/reference/protein/luxc_reference.json       token ids (transformers' EsmTokenizer),
                                                           batch plans and padded batches (fair-esm)
Needs transformers, torch and fair-esm (`pip install fair-esm`).
"""
import json
import os
import sys
import tempfile

# ESM-2's vocabulary, in id order (the vocab.txt of the facebook/esm2_* checkpoints).
ESM2_TOKENS = ["<cls>", "<pad>", "<eos>", "<unk>", "L", "A", "G", "V", "S", "E", "R", "T", "I", "D", "P", "K",
               "Q", "N", "F", "Y", "M", "H", "W", "C", "X", "B", "U", "Z", "O", ".", "-", "<null_1>", "<mask>"]

# esm-extract's --toks_per_batch values to plan for: every record alone (budget below every length), pairs,
# groups of four, and the default.
TOKS_PER_BATCH = [400, 1000, 2048, 4096]
# A padded-batch check with truncation (LuxC records are 427-502 residues, so 300 truncates all of them).
PADDED = {"toks_per_batch": 1000, "truncation_seq_length": 300}

# Strings that exercise EsmTokenizer beyond plain residues: unknown runs, lower case, whitespace,
# multi-character tokens inside a sequence, a partial token, non-ASCII.
ENCODE_CASES = ["LAGVS", "MKJJT", "mkt", "MK TL", "A<mask>G", "A<maskG", "M\tK\nL", "AJ.-", "<cls>A<eos>",
                "M*K", "A<null_1>B", "", "  ", "AéB", "ABC<pad<pad>", "<MASK>", "A\u00a0B", "XBUZO.-"]


def read_fasta_ids(path):
    """The first word of each header, in file order (our FastaRecord.id)."""
    with open(path) as f:
        return [line[1:].split()[0] for line in f if line.startswith(">")]


def main(out_dir):
    import esm
    import torch
    import transformers
    from transformers import EsmTokenizer

    fasta = os.path.join(out_dir, "protein", "LuxC.faa")
    vocab_path = os.path.join(out_dir, "protein", "vocab.txt")
    ref_dir = os.path.join(out_dir, "reference", "protein")
    os.makedirs(ref_dir, exist_ok=True)

    # The list must be fair-esm's ESM-2 alphabet (its ESM-2 loader builds the "ESM-1b" alphabet).
    alphabet = esm.Alphabet.from_architecture("ESM-1b")
    assert alphabet.all_toks == ESM2_TOKENS, alphabet.all_toks
    with open(vocab_path, "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in ESM2_TOKENS))

    tokenizer = EsmTokenizer(vocab_path)
    assert (tokenizer.cls_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id,
            tokenizer.mask_token_id) == (0, 1, 2, 3, 32)

    dataset = esm.FastaBatchedDataset.from_file(fasta)
    ids = read_fasta_ids(fasta)
    assert len(ids) == len(dataset)
    records = []
    for rid, seq in zip(ids, dataset.sequence_strs):
        input_ids = tokenizer(seq)["input_ids"]
        # fair-esm's own encoding agrees with transformers' on every residue sequence.
        assert input_ids == [alphabet.cls_idx] + alphabet.encode(seq) + [alphabet.eos_idx]
        records.append({"id": rid, "length": len(seq), "input_ids": input_ids})

    plans = [{"toks_per_batch": t, "batches": dataset.get_batch_indices(t, extra_toks_per_seq=1)}
             for t in TOKS_PER_BATCH]

    converter = alphabet.get_batch_converter(PADDED["truncation_seq_length"])
    padded = []
    for batch in dataset.get_batch_indices(PADDED["toks_per_batch"], extra_toks_per_seq=1):
        _, _, toks = converter([dataset[i] for i in batch])
        padded.append({"members": batch, "tokens": toks.tolist()})

    cases = [{"text": s, "input_ids": tokenizer(s)["input_ids"]} for s in ENCODE_CASES]

    out = {
        "generator": "Fixtures/gen_protein.py",
        "versions": {"transformers": transformers.__version__, "fair-esm": esm.__version__,
                     "torch": torch.__version__, "python": sys.version.split()[0]},
        "vocab": ESM2_TOKENS,
        "special_ids": {"cls": tokenizer.cls_token_id, "pad": tokenizer.pad_token_id, "eos": tokenizer.eos_token_id,
                        "unk": tokenizer.unk_token_id, "mask": tokenizer.mask_token_id},
        "records": records,
        "batch_plans": plans,
        "padded_batches": dict(PADDED, batches=padded),
        "encode_cases": cases,
    }
    path = os.path.join(ref_dir, "luxc_reference.json")
    with tempfile.NamedTemporaryFile("w", dir=ref_dir, delete=False, suffix=".tmp") as f:
        json.dump(out, f, separators=(",", ":"), ensure_ascii=True)
        f.write("\n")
    os.chmod(f.name, 0o644)
    os.replace(f.name, path)
    print(f"wrote {vocab_path} and {path}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
