#!/usr/bin/env python3
"""Write tiny, seeded, randomly initialised fixtures for the extra ensemble members, and goldens.

Masked LMs (loaded by maskner's `MaskedLm`), goldens as in tools/make_mlm_fixtures.py:

* data/fixtures/tiny-pubmedbert-large-uncased: microsoft/BiomedNLP-PubMedBERT-large-uncased-abstract
  layout: BERT-large shape (24 layers, many heads; tiny widths), uncased vocab.txt only (no
  tokenizer.json, no tokenizer_config.json: casing comes from the vocabulary), pytorch_model.bin
  holding a full BertForPreTraining state dict (pooler and next-sentence head included, tied decoder
  weight stored), config.json with model_type "bert".
* data/fixtures/tiny-medbert-cased: Charangan/MedBERT layout (BERT-base shape initialised from
  Bio_ClinicalBERT): cased vocab.txt + tokenizer_config.json (do_lower_case false), pytorch_model.bin
  with a BertForMaskedLM state dict, a config.json without model_type (as converted from TF).

Token classifiers (loaded by maskner's `token_classify::TokenClassifier`):

* data/fixtures/tiny-scibert-ner-jnlpba: fran-martinez/scibert_scivocab_cased_ner_jnlpba layout:
  BertForTokenClassification, config.json with the JNLPBA id2label, cased vocab.txt,
  tokenizer_config.json (do_lower_case false, model_max_length), special_tokens_map.json,
  pytorch_model.bin.
* data/fixtures/tiny-deberta-v3-ner: venkatd/BIOMed_NER layout: DebertaV2ForTokenClassification
  (DeBERTa-v3: relative attention with log buckets, shared attention keys, p2c+c2p, no absolute
  positions, no token types), config.json with clinical (MACCROBAT-style) id2label, spm.model (a
  SentencePiece unigram model trained here on data/sample_texts.txt), tokenizer.json +
  tokenizer_config.json built from it by transformers, model.safetensors.
  Also data/fixtures/tiny-deberta-v2-style-ner: the same tokenizer with the DeBERTa-v2 options
  (separate position projections, absolute positions, token types, no buckets, `p2c|c2p` string),
  logits goldens only.

Every fixture has a small max_position_embeddings (64)
so the long golden texts need the sliding window.

Goldens (data/goldens/<fixture>.json) for the token classifiers hold, per text: the windows the
tokenizer makes (ids, character offsets, special-token mask), the logits of every token of every
window, and the entity lists of `pipeline("token-classification", aggregation_strategy=...)` for
simple / first / average / max (long texts with the pipeline's `stride`). data/goldens/
deberta-buckets.json holds transformers' log-bucket relative positions for DeBERTa-v3-base's
settings and the fixture's. Random weights are drawn wide (and a few label biases raised) so that
labels vary and entities span several tokens; the writer checks that no golden decision is a near
tie (logit gaps, and the entity lists are unchanged under 2e-4 logit noise).

Run from the repository root with torch, transformers, safetensors and sentencepiece installed:

    python3 tools/make_member_fixtures.py
"""
import json
import os
import shutil
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import make_mlm_fixtures as mm  # noqa: E402  (vocabularies, MLM goldens)

from transformers import (  # noqa: E402
    AutoTokenizer,
    BertConfig,
    BertForMaskedLM,
    BertForPreTraining,
    BertForTokenClassification,
    BertTokenizerFast,
    DebertaV2Config,
    DebertaV2ForTokenClassification,
    pipeline,
)

FIX = os.path.join(ROOT, "data", "fixtures")
GOLD = os.path.join(ROOT, "data", "goldens")
TC_MAX_LEN = 64
STRATEGIES = ["simple", "first", "average", "max"]

JNLPBA_TYPES = ["DNA", "RNA", "cell_line", "cell_type", "protein"]
# The entity types of the MACCROBAT clinical case-report corpus, which the clinical DeBERTa-v3
# NER member is trained on.
CLINICAL_TYPES = [
    "Activity", "Administration", "Age", "Area", "Biological_attribute", "Biological_structure",
    "Clinical_event", "Color", "Coreference", "Date", "Detailed_description", "Diagnostic_procedure",
    "Disease_disorder", "Distance", "Dosage", "Duration", "Family_history", "Frequency", "Height",
    "History", "Lab_value", "Mass", "Medication", "Nonbiological_location", "Occupation",
    "Other_entity", "Other_event", "Outcome", "Personal_background", "Qualitative_concept",
    "Quantitative_concept", "Severity", "Sex", "Shape", "Sign_symptom", "Subject", "Texture",
    "Therapeutic_procedure", "Time", "Volume", "Weight",
]

# Our own sentences (not benchmark data). Short ones fit one window; the LONG ones need several.
TC_TEXTS = [
    "Imatinib mesylate inhibits the BCR-ABL tyrosine kinase in chronic myeloid leukemia cells.",
    "The patient received 40 mg of pembrolizumab intravenously for metastatic melanoma.",
    "Zoë Müller (age 54) was admitted in Zürich with severe chest pain ☃ and fever.",
    "IL-2 receptor alpha expression was detected in Jurkat T cells and HeLa cells.",
    "  Leading spaces,\ttabs and  double  spaces keep offsets honest. ",
]
LONG_TEXTS = [
    (
        "Lou Gehrig worked in New York and suffered from amyotrophic lateral sclerosis. "
        "Expression of TP53 was reduced in the tumor cells, and the BRCA1 protein repairs damaged DNA "
        "in breast tissue. Metformin lowers blood glucose by reducing hepatic glucose production, "
        "while glioblastoma patients received temozolomide after the biopsy. Apoptosis of T cells was "
        "induced by the viral protein, and the HeLa cell line was used to test the new vaccine against "
        "hepatitis B virus, which infects liver cells and causes cirrhosis.",
        10,
    ),
    (
        "Dr. Kumar prescribed ibuprofen for the fever and headache; the MRI scan revealed a small lesion "
        "in the left lung of the 67-year-old woman, and serum creatinine was normal. Three days later "
        "she developed dyspnoea, her blood pressure was measured every 15 minutes, and intravenous "
        "amoxicillin was started for bacterial pneumonia before discharge.",
        16,
    ),
]


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


def fresh_dir(name):
    d = os.path.join(FIX, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    return d


def perturb_params(model, scale=0.1):
    """Non-trivial LayerNorm parameters and biases, so loaders are tested on them."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * scale)


def write_vocab(d, vocab):
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")


def save_bin(model, path, drop=()):
    state = {}
    for k, v in model.state_dict().items():
        if k.endswith("position_ids") or k.endswith("token_type_ids") or k in drop:
            continue
        state[k] = v.clone().contiguous()
    torch.save(state, path)  # zip format (torch >= 1.6)


# ---------------------------------------------------------------------------------------------
# Masked LMs
# ---------------------------------------------------------------------------------------------


def make_pubmedbert_large():
    name = "tiny-pubmedbert-large-uncased"
    d = fresh_dir(name)
    vocab = mm.build_vocab(lower=True)
    write_vocab(d, vocab)
    torch.manual_seed(2024)
    cfg = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=24, num_attention_heads=8,
        intermediate_size=64, max_position_embeddings=64, type_vocab_size=2,
        initializer_range=0.2, layer_norm_eps=1e-12, pad_token_id=0,
    )
    model = BertForPreTraining(cfg)
    model.eval()
    perturb_params(model)
    save_bin(model, os.path.join(d, "pytorch_model.bin"))
    config = {
        "architectures": ["BertForMaskedLM"],
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": cfg.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": cfg.intermediate_size,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": cfg.max_position_embeddings,
        "model_type": "bert",
        "num_attention_heads": cfg.num_attention_heads,
        "num_hidden_layers": cfg.num_hidden_layers,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "type_vocab_size": 2,
        "vocab_size": len(vocab),
    }
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    # Load back the way transformers would (BertForMaskedLM from a pre-training checkpoint).
    lm = BertForMaskedLM.from_pretrained(d)
    lm.eval()
    tok = AutoTokenizer.from_pretrained(d)  # vocab.txt only: transformers lower-cases by default
    assert tok.do_lower_case
    write_json(os.path.join(GOLD, name + ".json"), mm.goldens(lm, tok, name))


def make_medbert():
    name = "tiny-medbert-cased"
    d = fresh_dir(name)
    vocab = mm.build_vocab(lower=False)
    write_vocab(d, vocab)
    torch.manual_seed(78)
    cfg = BertConfig(
        vocab_size=len(vocab), hidden_size=48, num_hidden_layers=3, num_attention_heads=6,
        intermediate_size=96, max_position_embeddings=64, type_vocab_size=2,
        initializer_range=0.2, layer_norm_eps=1e-12, pad_token_id=0,
    )
    model = BertForMaskedLM(cfg)
    model.eval()
    perturb_params(model)
    save_bin(model, os.path.join(d, "pytorch_model.bin"))
    config = {  # Bio_ClinicalBERT-style config (TF conversion): no model_type, no architectures
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": cfg.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": cfg.intermediate_size,
        "max_position_embeddings": cfg.max_position_embeddings,
        "num_attention_heads": cfg.num_attention_heads,
        "num_hidden_layers": cfg.num_hidden_layers,
        "type_vocab_size": 2,
        "vocab_size": len(vocab),
    }
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": False, "model_max_length": 64}, f, indent=2)
    lm = BertForMaskedLM.from_pretrained(d)
    lm.eval()
    tok = BertTokenizerFast.from_pretrained(d)  # the config has no model_type for AutoTokenizer
    assert not tok.do_lower_case
    write_json(os.path.join(GOLD, name + ".json"), mm.goldens(lm, tok, name))


# ---------------------------------------------------------------------------------------------
# Token classifiers
# ---------------------------------------------------------------------------------------------


def bio_labels(types):
    labels = ["O"]
    for t in types:
        labels += ["B-" + t, "I-" + t]
    return labels


def widen_classifier(model, std, favoured, boost):
    """Wide classifier weights so labels vary, and raised biases for a few labels so that
    entities of several tokens occur."""
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, std)
        model.classifier.bias.normal_(0.0, 0.3)
        for i in favoured:
            model.classifier.bias[i] += boost


def window_encodings(tok, text, stride):
    kwargs = dict(
        truncation=True,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
    )
    if stride is not None:
        kwargs.update(return_overflowing_tokens=True, stride=stride)
    enc = tok(text, **kwargs)
    if stride is None:
        return [dict(ids=enc["input_ids"], offsets=enc["offset_mapping"], special=enc["special_tokens_mask"])]
    return [
        dict(ids=enc["input_ids"][i], offsets=enc["offset_mapping"][i], special=enc["special_tokens_mask"][i])
        for i in range(len(enc["input_ids"]))
    ]


def min_top2_gap(logits):
    top = torch.topk(logits, 2, dim=-1).values
    return (top[:, 0] - top[:, 1]).min().item()


def entity_key(ents):
    return [(e["entity_group"], e["word"], e["start"], e["end"]) for e in ents]


def run_pipeline(pipe, text, strategy, stride, noise=0.0, gen=None):
    """The pipeline's own preprocess / forward / postprocess, with optional logit noise."""
    pre, _, post = pipe._sanitize_parameters(aggregation_strategy=strategy, stride=stride)
    outs = []
    for model_inputs in pipe.preprocess(text, **pre):
        with torch.no_grad():
            out = pipe._forward(model_inputs)
        if noise:
            out["logits"] = out["logits"] + (torch.rand(out["logits"].shape, generator=gen) * 2 - 1) * noise
        outs.append(out)
    return pipe.postprocess(outs, **post)


def tc_goldens(name, model, tok, d):
    model.eval()
    pipe = pipeline("token-classification", model=d, tokenizer=d, device="cpu")
    pipe.model.eval()
    out = {"model": name, "max_length": tok.model_max_length, "texts": []}
    gen = torch.Generator().manual_seed(5)
    for text, stride in [(t, None) for t in TC_TEXTS] + LONG_TEXTS:
        windows = window_encodings(tok, text, stride)
        if stride is not None:
            assert len(windows) >= 2, f"{name}: long text makes only {len(windows)} windows"
            print(f"{name}: long text of {len(windows)} windows (stride {stride})")
        else:
            n = len(tok(text)["input_ids"])
            assert n <= TC_MAX_LEN, f"{name}: short text {text!r} has {n} tokens, more than one window"
        wins = []
        for w in windows:
            ids = torch.tensor([w["ids"]])
            with torch.no_grad():
                logits = model(input_ids=ids).logits[0]
            gap = min_top2_gap(logits)
            assert gap > 2e-4, f"{name}: near tie ({gap}) in the labels of {text!r}"
            wins.append({
                "input_ids": w["ids"],
                "offsets": [list(o) for o in w["offsets"]],
                "special_tokens_mask": w["special"],
                "logits": [[round(float(x), 6) for x in row] for row in logits.tolist()],
            })
        ents = {}
        for strategy in STRATEGIES:
            got = pipe(text, aggregation_strategy=strategy, **({"stride": stride} if stride else {}))
            ref = run_pipeline(pipe, text, strategy, stride)
            assert entity_key(got) == entity_key(ref)
            for _ in range(12):  # no near-tie decisions: small logit noise changes nothing
                noisy = run_pipeline(pipe, text, strategy, stride, noise=2e-4, gen=gen)
                assert entity_key(noisy) == entity_key(ref), f"{name}: near-tie decision for {text!r} ({strategy})"
            ents[strategy] = [
                {"entity_group": e["entity_group"], "score": round(float(e["score"]), 6), "word": e["word"],
                 "start": int(e["start"]), "end": int(e["end"])}
                for e in got
            ]
            assert ents[strategy], f"{name}: no entities for {text!r} ({strategy})"
        out["texts"].append({"text": text, "stride": stride, "windows": wins, "entities": ents})
    write_json(os.path.join(GOLD, name + ".json"), out)
    return out


def make_scibert_ner():
    name = "tiny-scibert-ner-jnlpba"
    d = fresh_dir(name)
    vocab = mm.build_vocab(lower=False)
    write_vocab(d, vocab)
    labels = bio_labels(JNLPBA_TYPES)
    torch.manual_seed(31)
    cfg = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=TC_MAX_LEN, type_vocab_size=2,
        initializer_range=0.2, layer_norm_eps=1e-12, pad_token_id=0,
        id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
    )
    model = BertForTokenClassification(cfg)
    model.eval()
    perturb_params(model)
    favoured = [labels.index(x) for x in ["O", "B-protein", "I-protein", "B-cell_type", "I-cell_type"]]
    widen_classifier(model, 0.5, favoured, 1.5)
    save_bin(model, os.path.join(d, "pytorch_model.bin"))
    config = model.config.to_dict()
    keep = ["architectures", "attention_probs_dropout_prob", "hidden_act", "hidden_dropout_prob",
            "hidden_size", "id2label", "initializer_range", "intermediate_size", "label2id",
            "layer_norm_eps", "max_position_embeddings", "model_type", "num_attention_heads",
            "num_hidden_layers", "pad_token_id", "type_vocab_size", "vocab_size"]
    config = {k: config[k] for k in keep if k in config}
    config["architectures"] = ["BertForTokenClassification"]
    config["model_type"] = "bert"
    config["id2label"] = {str(i): l for i, l in enumerate(labels)}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": False, "model_max_length": TC_MAX_LEN}, f, indent=2)
    with open(os.path.join(d, "special_tokens_map.json"), "w") as f:
        json.dump({"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                   "mask_token": "[MASK]"}, f, indent=2)
    model = BertForTokenClassification.from_pretrained(d)
    tok = AutoTokenizer.from_pretrained(d)
    assert tok.is_fast and not tok.do_lower_case and tok.model_max_length == TC_MAX_LEN
    tc_goldens(name, model, tok, d)


def train_spm(d):
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(
        input=os.path.join(ROOT, "data", "sample_texts.txt"), model_prefix=os.path.join(d, "spm"),
        vocab_size=400, hard_vocab_limit=False, model_type="unigram", character_coverage=1.0,
        pad_id=0, pad_piece="[PAD]", bos_id=1, bos_piece="[CLS]", eos_id=2, eos_piece="[SEP]",
        unk_id=3, unk_piece="[UNK]", normalization_rule_name="nmt_nfkc", num_threads=1,
        seed_sentencepiece_size=10000, minloglevel=2,
    )
    os.remove(os.path.join(d, "spm.vocab"))


def deberta_tokenizer(d):
    """spm.model -> the tokenizer transformers builds from it, saved as tokenizer.json."""
    train_spm(d)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "DebertaV2Tokenizer", "do_lower_case": False, "split_by_punct": False,
                   "model_max_length": TC_MAX_LEN, "vocab_type": "spm"}, f, indent=2)
    tok = AutoTokenizer.from_pretrained(d)
    assert tok.is_fast
    tok.save_pretrained(d)  # writes tokenizer.json (and rewrites tokenizer_config.json)
    return AutoTokenizer.from_pretrained(d)


def make_deberta_ner():
    name = "tiny-deberta-v3-ner"
    d = fresh_dir(name)
    tok = deberta_tokenizer(d)
    labels = bio_labels(CLINICAL_TYPES)
    torch.manual_seed(8)
    cfg = DebertaV2Config(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, hidden_act="gelu", max_position_embeddings=TC_MAX_LEN,
        type_vocab_size=0, initializer_range=0.2, layer_norm_eps=1e-7,
        relative_attention=True, max_relative_positions=-1, position_buckets=16,
        norm_rel_ebd="layer_norm", share_att_key=True, pos_att_type=["p2c", "c2p"],
        position_biased_input=False, pad_token_id=0,
        id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
    )
    model = DebertaV2ForTokenClassification(cfg)
    model.eval()
    perturb_params(model)
    favoured = [labels.index(x) for x in ["O", "B-Disease_disorder", "I-Disease_disorder", "B-Medication",
                                          "I-Medication", "B-Sign_symptom", "I-Sign_symptom"]]
    widen_classifier(model, 0.6, favoured, 2.5)
    model.save_pretrained(d)  # model.safetensors + config.json
    model = DebertaV2ForTokenClassification.from_pretrained(d)
    tc_goldens(name, model, tok, d)
    return d


def make_deberta_v2_style(v3_dir):
    """DeBERTa-v2 options on the same tokenizer; logits goldens only."""
    name = "tiny-deberta-v2-style-ner"
    d = fresh_dir(name)
    for f in ["spm.model", "tokenizer.json", "tokenizer_config.json"]:
        shutil.copy(os.path.join(v3_dir, f), os.path.join(d, f))
    tok = AutoTokenizer.from_pretrained(d)
    labels = bio_labels(CLINICAL_TYPES[:6])
    torch.manual_seed(9)
    cfg = DebertaV2Config(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=48, hidden_act="gelu", max_position_embeddings=TC_MAX_LEN,
        type_vocab_size=2, initializer_range=0.2, layer_norm_eps=1e-7,
        relative_attention=True, max_relative_positions=-1, pos_att_type="p2c|c2p",
        share_att_key=False, position_biased_input=True, pad_token_id=0,
        id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
    )
    model = DebertaV2ForTokenClassification(cfg)
    model.eval()
    perturb_params(model)
    widen_classifier(model, 0.6, [0], 1.0)
    model.save_pretrained(d)
    model = DebertaV2ForTokenClassification.from_pretrained(d)
    model.eval()
    out = {"model": name, "texts": []}
    for text in TC_TEXTS:
        ids = tok(text, truncation=True)["input_ids"]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0]
        assert min_top2_gap(logits) > 2e-4
        out["texts"].append({"text": text, "input_ids": ids,
                             "logits": [[round(float(x), 6) for x in r] for r in logits.tolist()]})
    write_json(os.path.join(GOLD, name + ".json"), out)


def bucket_goldens():
    from transformers.models.deberta_v2.modeling_deberta_v2 import make_log_bucket_position

    out = []
    for bucket, max_pos in [(256, 512), (16, TC_MAX_LEN)]:
        rel = torch.arange(-(max_pos - 1), max_pos, dtype=torch.long)
        got = make_log_bucket_position(rel, bucket, max_pos).to(torch.long)
        out.append({"bucket_size": bucket, "max_position": max_pos, "from": -(max_pos - 1),
                    "buckets": got.tolist()})
    write_json(os.path.join(GOLD, "deberta-buckets.json"), out)


def check_sizes():
    for name in ["tiny-pubmedbert-large-uncased", "tiny-medbert-cased", "tiny-scibert-ner-jnlpba",
                 "tiny-deberta-v3-ner", "tiny-deberta-v2-style-ner"]:
        d = os.path.join(FIX, name)
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        assert size < 5_000_000, f"{name} is {size} bytes"
        print(f"{name}: {size / 1e6:.2f} MB, {sorted(os.listdir(d))}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    np.random.seed(0)
    make_pubmedbert_large()
    make_medbert()
    make_scibert_ner()
    v3 = make_deberta_ner()
    make_deberta_v2_style(v3)
    bucket_goldens()
    check_sizes()
    print("member fixtures written under data/fixtures and data/goldens")
