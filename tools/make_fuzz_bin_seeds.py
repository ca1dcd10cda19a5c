#!/usr/bin/env python3
"""Writes the seed corpus of the `model_bin_zip` fuzz target (fuzz/corpus/model_bin_zip/seed-*).

Tiny PyTorch zip checkpoints built with the standard library only (no torch): the pickle is
written opcode by opcode, the way `torch.save` lays out a state dict (protocol 2), plus a
protocol-4 variant (STACK_GLOBAL, MEMOIZE, FRAME) and hostile files the loader must refuse with
one-line errors. The fixture `data/fixtures/tiny-bert-cased/pytorch_model.bin` is copied in as a
real-world seed.

    python3 tools/make_fuzz_bin_seeds.py
"""

import io
import os
import shutil
import struct
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus", "model_bin_zip")


class P:
    """A pickle written opcode by opcode."""

    def __init__(self, proto=2):
        self.b = bytearray(b"\x80" + bytes([proto]))

    def op(self, raw):
        self.b += raw
        return self

    def s(self, text):
        data = text.encode()
        return self.op(b"X" + struct.pack("<I", len(data)) + data)

    def short_s(self, text):
        data = text.encode()
        return self.op(b"\x8c" + bytes([len(data)]) + data)

    def int(self, v):
        if 0 <= v < 256:
            return self.op(b"K" + bytes([v]))
        if 0 <= v < 65536:
            return self.op(b"M" + struct.pack("<H", v))
        return self.op(b"J" + struct.pack("<i", v))

    def glob(self, module, name):
        return self.op(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def tup(self, *ints):
        self.op(b"(")
        for v in ints:
            self.int(v)
        return self.op(b"t")

    def storage(self, cls, key, numel):
        self.op(b"(").s("storage").glob("torch", cls).s(key).s("cpu").int(numel).op(b"t")
        return self.op(b"Q")

    def tensor(self, cls, key, numel, offset, size, stride):
        self.glob("torch._utils", "_rebuild_tensor_v2").op(b"(")
        self.storage(cls, key, numel).int(offset).tup(*size).tup(*stride)
        self.op(b"\x89").glob("collections", "OrderedDict").op(b")R")
        return self.op(b"tR")

    def bytes(self):
        return bytes(self.b + b".")


def state_dict(tensors):
    """`tensors`: (name, cls, key, numel, offset, size, stride)."""
    p = P().glob("collections", "OrderedDict").op(b")R").op(b"q\x00(")
    for name, cls, key, numel, offset, size, stride in tensors:
        p.s(name).tensor(cls, key, numel, offset, size, stride)
    return p.op(b"u")


def archive(pickle_bytes, storages, prefix="archive", compress=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as z:
        z.writestr(f"{prefix}/data.pkl", pickle_bytes)
        z.writestr(f"{prefix}/byteorder", b"little")
        for key, data in storages.items():
            z.writestr(f"{prefix}/data/{key}", data)
        z.writestr(f"{prefix}/version", b"3\n")
    return buf.getvalue()


def f32(*vals):
    return struct.pack(f"<{len(vals)}f", *vals)


def write(name, data):
    with open(os.path.join(OUT, "seed-" + name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    six = f32(1, 2, 3, 4, 5, 6)

    # Two tensors over one storage: a 2x3 row-major view and its transpose (strided).
    sd = state_dict([
        ("bert.embeddings.word_embeddings.weight", "FloatStorage", "0", 6, 0, (2, 3), (3, 1)),
        ("cls.predictions.decoder.weight", "FloatStorage", "0", 6, 0, (3, 2), (1, 3)),
        ("cls.predictions.bias", "FloatStorage", "1", 2, 0, (2,), (1,)),
    ]).bytes()
    write("f32-shared-storage.bin", archive(sd, {"0": six, "1": f32(0.5, -0.5)}))
    write("f32-deflated.bin", archive(sd, {"0": six, "1": f32(0.5, -0.5)}, "pytorch_model", zipfile.ZIP_DEFLATED))

    # Half and bfloat16 storages, an offset view, a scalar and an empty tensor.
    sd = state_dict([
        ("a.weight", "HalfStorage", "0", 4, 1, (3,), (1,)),
        ("b.weight", "BFloat16Storage", "1", 2, 0, (), ()),
        ("c.weight", "FloatStorage", "2", 0, 0, (0, 4), (4, 1)),
    ]).bytes()
    write("f16-bf16-scalar-empty.bin", archive(sd, {"0": struct.pack("<4H", 0x3C00, 0xC000, 0x0001, 0x7BFF), "1": struct.pack("<2H", 0x3F80, 0x4000), "2": b""}))

    # {"state_dict": {...}, "epoch": 3}, the wrapper training scripts save.
    p = P().op(b"}q\x00(").s("epoch").int(3).s("state_dict")
    p.op(b"}(").s("layer.weight").tensor("FloatStorage", "0", 2, 0, (2,), (1,)).op(b"u")
    write("state-dict-wrapper.bin", archive(p.op(b"u").bytes(), {"0": f32(7, 8)}))

    # Protocol 4: FRAME, STACK_GLOBAL from memoised strings, MEMOIZE, _rebuild_parameter, BUILD.
    p = P(4).op(b"\x95" + struct.pack("<Q", 0))
    p.short_s("collections").op(b"\x94").short_s("OrderedDict").op(b"\x94\x93\x94)R\x94(")
    p.short_s("w").short_s("torch._utils").op(b"\x94").short_s("_rebuild_parameter").op(b"\x94\x93\x94")
    p.short_s("torch._utils").short_s("_rebuild_tensor_v2").op(b"\x93(")
    p.storage("FloatStorage", "0", 3).int(0).tup(3).tup(1).op(b"\x89")
    p.op(b"h\x02)R").op(b"t\x94R").op(b"\x88)\x87R").op(b"u}b")
    write("proto4-parameter.bin", archive(p.bytes(), {"0": f32(1, 2, 3)}))

    # An int64 position_ids buffer (skipped) next to a float weight.
    sd = state_dict([
        ("bert.embeddings.position_ids", "LongStorage", "0", 4, 0, (1, 4), (4, 1)),
        ("w", "FloatStorage", "1", 1, 0, (1,), (1,)),
    ]).bytes()
    write("int-buffer.bin", archive(sd, {"0": struct.pack("<4q", 0, 1, 2, 3), "1": f32(1)}))

    # Hostile: a global that is not a tensor (torch would run it on load).
    p = P().glob("os", "system").s("touch /tmp/maskner-pwned").op(b"\x85R")
    write("hostile-os-system.bin", archive(p.bytes(), {}))
    # Hostile: STACK_GLOBAL of builtins.eval.
    p = P(4).short_s("builtins").short_s("eval").op(b"\x93").short_s("1+1").op(b"\x85R")
    write("hostile-builtins-eval.bin", archive(p.bytes(), {}))
    # Hostile: a BINUNICODE claiming 4 GB.
    write("hostile-huge-binunicode.bin", archive(P().op(b"X\xff\xff\xff\xffab").bytes(), {}))
    # Hostile: a view reaching past the end of its storage.
    sd = state_dict([("w", "FloatStorage", "0", 6, 4, (2, 3), (3, 1))]).bytes()
    write("hostile-view-past-storage.bin", archive(sd, {"0": six}))
    # Hostile: an integer weight.
    sd = state_dict([("w", "IntStorage", "0", 2, 0, (2,), (1,))]).bytes()
    write("hostile-int-weight.bin", archive(sd, {"0": struct.pack("<2i", 1, 2)}))

    fixture = os.path.join(ROOT, "data", "fixtures", "tiny-bert-cased", "pytorch_model.bin")
    shutil.copyfile(fixture, os.path.join(OUT, "seed-fixture-tiny-bert-cased.bin"))


if __name__ == "__main__":
    main()
