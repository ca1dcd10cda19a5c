#!/usr/bin/env python3
"""Writes the seed inputs of the `model_config` and `model_safetensors` fuzz targets
(fuzz/corpus/<target>/seed-*): the fixtures' config.json files and hostile variants, and tiny
safetensors checkpoints of the BERT in `maskner::fuzzing::model::SEED_CONFIG` (vocab 16,
width 4, one layer), valid ones in f32/f16/bf16 and old-style names, and hostile ones
(header length past the file, truncated data, an integer tensor, a NaN weight, a shape that
disagrees with the config). Standard library only (no torch): safetensors is an 8-byte
little-endian header length, a JSON header, then the raw tensor bytes.

    python3 tools/make_fuzz_model_seeds.py   # from the repository root
"""
import json
import math
import random
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
V, H, I, P, T = 16, 4, 8, 8, 2  # vocab, hidden, intermediate, positions, token types


def tensors(prefix="bert.", head=True, ln=("weight", "bias")):
    """name -> shape of the seed BERT, in checkpoint order."""
    out = {}
    e = f"{prefix}embeddings."
    out[e + "word_embeddings.weight"] = [V, H]
    out[e + "position_embeddings.weight"] = [P, H]
    out[e + "token_type_embeddings.weight"] = [T, H]
    out[e + f"LayerNorm.{ln[0]}"] = [H]
    out[e + f"LayerNorm.{ln[1]}"] = [H]
    layer = f"{prefix}encoder.layer.0."
    for part in ("query", "key", "value"):
        out[layer + f"attention.self.{part}.weight"] = [H, H]
        out[layer + f"attention.self.{part}.bias"] = [H]
    out[layer + "attention.output.dense.weight"] = [H, H]
    out[layer + "attention.output.dense.bias"] = [H]
    out[layer + f"attention.output.LayerNorm.{ln[0]}"] = [H]
    out[layer + f"attention.output.LayerNorm.{ln[1]}"] = [H]
    out[layer + "intermediate.dense.weight"] = [I, H]
    out[layer + "intermediate.dense.bias"] = [I]
    out[layer + "output.dense.weight"] = [H, I]
    out[layer + "output.dense.bias"] = [H]
    out[layer + f"output.LayerNorm.{ln[0]}"] = [H]
    out[layer + f"output.LayerNorm.{ln[1]}"] = [H]
    if head:
        out["cls.predictions.transform.dense.weight"] = [H, H]
        out["cls.predictions.transform.dense.bias"] = [H]
        out["cls.predictions.transform.LayerNorm.weight"] = [H]
        out["cls.predictions.transform.LayerNorm.bias"] = [H]
        out["cls.predictions.bias"] = [V]
    return out


def encode(values, dtype):
    if dtype == "F32":
        return struct.pack(f"<{len(values)}f", *values)
    if dtype == "F16":
        return struct.pack(f"<{len(values)}e", *values)
    if dtype == "BF16":
        return b"".join(struct.pack("<I", struct.unpack("<I", struct.pack("<f", v))[0])[2:] for v in values)
    if dtype == "I64":
        return struct.pack(f"<{len(values)}q", *(int(v * 100) for v in values))
    raise ValueError(dtype)


def safetensors(shapes, dtype="F32", poison=None, dtypes=None):
    """The file bytes; `poison` names a tensor whose first value becomes NaN."""
    rng = random.Random(7)
    header, blobs, offset = {}, [], 0
    for name, shape in shapes.items():
        n = math.prod(shape)
        values = [rng.uniform(-0.5, 0.5) for _ in range(n)]
        if name.endswith(("LayerNorm.weight", "LayerNorm.gamma")):
            values = [1.0] * n
        if name == poison:
            values[0] = float("nan")
        dt = (dtypes or {}).get(name, dtype)
        blob = encode(values, dt)
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + b"".join(blobs)


def main():
    st = CORPUS / "model_safetensors"
    cfg = CORPUS / "model_config"
    for d in (st, cfg):
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("seed-*"):
            old.unlink()
    good = tensors()
    valid = safetensors(good)
    seeds = {
        "seed-f32": valid,
        "seed-f16": safetensors(good, "F16"),
        "seed-bf16": safetensors(good, "BF16"),
        "seed-no-head": safetensors(tensors(head=False)),
        "seed-bertmodel-gamma-beta": safetensors(tensors(prefix="", head=False, ln=("gamma", "beta"))),
        "seed-hostile-header-length": struct.pack("<Q", 1 << 60) + valid[8:],
        "seed-hostile-truncated": valid[: len(valid) - 40],
        "seed-hostile-i64-tensor": safetensors(good, dtypes={"bert.embeddings.word_embeddings.weight": "I64"}),
        "seed-hostile-nan": safetensors(good, poison="bert.encoder.layer.0.intermediate.dense.weight"),
        "seed-hostile-shape": safetensors({**good, "bert.embeddings.word_embeddings.weight": [V - 1, H]}),
        "seed-empty-header": struct.pack("<Q", 8) + b"{}      ",
    }
    for name, data in seeds.items():
        (st / name).write_bytes(data)

    for fixture in sorted((ROOT / "data" / "fixtures").iterdir()):
        path = fixture / "config.json"
        if path.is_file():
            (cfg / f"seed-{fixture.name}").write_bytes(path.read_bytes())
    base = {"model_type": "bert", "vocab_size": V, "hidden_size": H, "num_hidden_layers": 1,
            "num_attention_heads": 2, "intermediate_size": I, "max_position_embeddings": P}
    hostile = {
        "huge-vocab": {"vocab_size": 1 << 62},
        "heads-not-dividing": {"num_attention_heads": 3},
        "zero-heads": {"num_attention_heads": 0},
        "eps-zero": {"layer_norm_eps": 0},
        "eps-tiny": {"layer_norm_eps": 1e-300},
        "pad-outside": {"pad_token_id": V},
        "other-model-type": {"model_type": "gpt2"},
        "relative-positions": {"position_embedding_type": "relative_key"},
        "deberta-overflow": {"model_type": "deberta-v2", "attention_head_size": (1 << 63) - 1},
        "deberta-relative": {"model_type": "deberta-v2", "relative_attention": True, "max_relative_positions": -1,
                              "max_position_embeddings": 0, "position_buckets": 0},
    }
    for name, change in hostile.items():
        (cfg / f"seed-hostile-{name}").write_text(json.dumps({**base, **change}))
    print(f"wrote {len(seeds)} safetensors seeds to {st} and {len(hostile)} hostile configs (+ fixtures) to {cfg}")


if __name__ == "__main__":
    main()
