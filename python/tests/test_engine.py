"""maskner.Engine against the CLI on the same inputs, offsets on non-ASCII text, errors, threads
and fork."""

import json
import multiprocessing
import threading

import pytest

import maskner
from conftest import BIO, MODELS, jsonl, model_args

TEXTS = [
    "Imatinib:__entity__ mesylate:__entity__ is used to treat CML:__entity__ .",
    "Mutations in β-catenin and α-synuclein were found in naïve T cells of patients with Parkinson disease.",
    "The BRCA1 gene is linked to breast cancer in women from Paris.",
    "患者 had 🧬 EGFR mutations treated with gefitinib.",
    "",
]


def test_json_records_equal_the_cli(engine, cli):
    out = cli("tag", *model_args(), "--explain", "--format", "jsonl", *TEXTS).stdout
    expected = jsonl(out)
    got = engine.tag(TEXTS, explain=True)
    assert len(got) == len(TEXTS) == len(expected)
    assert got == expected
    # the default (no explanation) too
    assert engine.tag(TEXTS) == jsonl(cli("tag", *model_args(), *TEXTS).stdout)


@pytest.mark.parametrize("fmt", ["hf", "displacy"])
def test_hf_and_displacy_equal_the_cli(engine, cli, fmt):
    expected = jsonl(cli("tag", *model_args(), "--format", fmt, *TEXTS).stdout)
    assert engine.tag(TEXTS, format=fmt) == expected


def test_conll_equals_the_cli(engine, cli):
    expected = cli("tag", *model_args(), "--format", "conll", *TEXTS).stdout
    got = engine.tag(TEXTS, format="conll")
    assert all(isinstance(block, str) and block.endswith("\n") for block in got)
    assert "".join(got) == expected


def test_dict_records_with_ids_and_spans_equal_the_cli(engine, cli, tmp_path):
    records = [
        {"id": "a", "text": "α-synuclein aggregates in naïve neurons", "spans": [[0, 11], [26, 39]]},
        {"id": 7, "text": "Aspirin helps 🧬 patients", "spans": [[0, 7]]},
        {"text": "no id here about EGFR"},
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    expected = jsonl(cli("tag", *model_args(), "--explain", "--input", str(path)).stdout)
    got = engine.tag(records, explain=True)
    assert got == expected
    assert [r["id"] for r in got] == ["a", 7, 3]


def test_offsets_are_python_str_indices(engine):
    text = "β-catenin and α-synuclein bind naïve 細胞 🧬 cells of CJK 漢字 patients"
    spans = [[0, 9], [14, 25], [31, 36], [37, 39]]
    rec = engine.tag({"id": "x", "text": text, "spans": spans})
    assert rec["terms"], rec
    for term in rec["terms"]:
        assert text[term["start"] : term["end"]] == term["term"]
    for ent in rec["entities"]:
        assert [ent["start"], ent["end"]] in spans
        assert text[ent["start"] : ent["end"]] == ent["word"]
    for ent in engine.tag(text, format="displacy")["ents"]:
        assert 0 <= ent["start"] < ent["end"] <= len(text)


def test_a_single_input_gives_a_single_result(engine):
    assert engine.tag(TEXTS[2]) == engine.tag([TEXTS[2]])[0]
    assert engine.tag(TEXTS[2], format="conll") == engine.tag([TEXTS[2]], format="conll")[0]
    assert engine.tag([]) == []


def test_a_bad_record_raises_a_value_error_with_its_index(engine):
    texts = ["fine text", {"id": "bad", "text": "short", "spans": [[2, 40]]}, "also fine"]
    with pytest.raises(ValueError) as err:
        engine.tag(texts)
    assert isinstance(err.value, maskner.InputError)
    assert isinstance(err.value, maskner.MasknerError)
    assert err.value.index == 1
    assert str(err.value).startswith("texts[1]: ")
    assert "\n" not in str(err.value)


def test_errors_record_keeps_the_other_records(engine):
    texts = ["fine text", {"id": "bad", "text": "short", "spans": [[2, 40]]}, {"txt": "typo"}, "also fine"]
    got = engine.tag(texts, errors="record")
    assert got[0] == engine.tag("fine text")
    assert set(got[1]) == {"id", "error"} and got[1]["id"] == "bad"
    assert got[1]["error"].startswith("texts[1]: ")
    assert got[2] == {"id": 3, "error": 'texts[2]: unknown key "txt" (keys: id, text, spans)'}
    assert got[3] == engine.tag("also fine") | {"id": 4}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"format": "xml"}, 'format: "xml": expected "json", "hf", "conll" or "displacy"'),
        ({"mode": "guess"}, "mode"),
        ({"errors": "ignore"}, 'errors: "ignore": expected "raise" or "record"'),
    ],
)
def test_bad_arguments_are_value_errors(engine, kwargs, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        engine.tag(["a text"], **kwargs)


def test_wrong_types_are_value_errors(engine):
    with pytest.raises(maskner.InputError, match=r"^texts\[1\]: expected a str or a dict"):
        engine.tag(["ok", 42])


def test_a_missing_model_is_file_not_found():
    with pytest.raises(FileNotFoundError) as err:
        maskner.Engine(models={"bio": "/nonexistent/model-dir", "phi": MODELS["phi"]}, progress=False)
    assert isinstance(err.value, maskner.NotFoundError)
    assert isinstance(err.value, maskner.MasknerError)
    assert "/nonexistent/model-dir" in str(err.value)


def test_a_missing_map_is_an_os_error():
    with pytest.raises(OSError) as err:
        maskner.Engine(models=MODELS, maps={"bio": "/nonexistent/map"}, progress=False)
    assert isinstance(err.value, maskner.MasknerError)
    assert "/nonexistent/map" in str(err.value)


def test_an_unknown_member_names_the_keyword():
    with pytest.raises(ValueError, match=r"^models\['nope'\]: "):
        maskner.Engine(models={"nope": BIO}, progress=False)


def test_a_bad_config_dict_is_a_value_error():
    with pytest.raises(ValueError, match="^config"):
        maskner.Engine(config={"members": "not a list"}, progress=False)


def test_threads_zero_is_refused():
    with pytest.raises(ValueError, match="^threads: "):
        maskner.Engine(models=MODELS, threads=0, progress=False)


def test_bf16_precision_equals_the_cli_and_is_checked(cli):
    bf16 = maskner.Engine(models=MODELS, precision="bf16", progress=False)
    assert [m["precision"] for m in bf16.info()["members"]] == ["bf16", "bf16"]
    got = bf16.tag(TEXTS)
    assert got == jsonl(cli("tag", *model_args(), "--precision", "bf16", "--format", "jsonl", *TEXTS).stdout)
    assert got != jsonl(cli("tag", *model_args(), "--format", "jsonl", *TEXTS).stdout), "bf16 scores equal fp32's"
    with pytest.raises(ValueError, match=r'^precision: unknown precision "fp16": expected one of fp32, bf16$'):
        maskner.Engine(models=MODELS, precision="fp16", progress=False)


def test_two_threads_at_once_give_the_records_of_one(engine):
    texts = TEXTS * 8
    alone = engine.tag(texts, explain=True)
    results = [None, None]
    start = threading.Barrier(2)

    def work(k):
        start.wait()
        results[k] = engine.tag(texts, explain=True)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert results[0] == alone
    assert results[1] == alone


def _tag_in_child(texts):
    import conftest

    return conftest._FORK_ENGINE.tag(texts)


def test_a_forked_child_can_tag_after_the_parent_did():
    import conftest

    conftest._FORK_ENGINE = maskner.Engine(models=MODELS, threads=2, progress=False)
    expected = conftest._FORK_ENGINE.tag(TEXTS)  # starts the parent's compute threads
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        got = pool.apply_async(_tag_in_child, (TEXTS,)).get(timeout=120)
    assert got == expected


def test_fill_mask_equals_the_cli(engine, cli):
    texts = ["The [MASK] was treated with aspirin.", "naïve [MASK] cells and [MASK] 🧬"]
    expected = jsonl(cli("fill-mask", "--model", BIO, "--json", "--top-k", "5", *texts).stdout)
    assert engine.fill_mask(texts, top_k=5) == expected
    assert engine.fill_mask(texts, top_k=5, member="bio") == expected
    phi = engine.fill_mask(texts[0], top_k=3, member="phi")
    assert len(phi["masks"]) == 1 and len(phi["masks"][0]["predictions"]) == 3


def test_fill_mask_errors(engine):
    with pytest.raises(ValueError, match=r"^member: no member named \"x\""):
        engine.fill_mask(["a [MASK]"], member="x")
    long = "word " * 5000 + "[MASK]"
    with pytest.raises(maskner.LimitError) as err:
        engine.fill_mask(["a [MASK]", long])
    assert err.value.index == 1 and isinstance(err.value, ValueError)
    got = engine.fill_mask(["a [MASK]", long], errors="record")
    assert "masks" in got[0] and got[1]["error"].startswith("texts[1]: ")


def test_info_names_the_members(engine):
    info = engine.info()
    assert [m["name"] for m in info["members"]] == ["bio", "phi"] == engine.members
    assert info["members"][0]["model"] == BIO


def test_build_load_and_lookup_a_map(cli, tmp_path):
    out = tmp_path / "map"
    built = maskner.build_map(BIO, out=str(out), progress=False)
    assert len(built) > 100 and built.path == out
    assert built.stats["vocab"] == len(built)
    loaded = maskner.load_map(out)
    tokens = ["the", "Paris", "1984", "zzzunknownzzz"]
    expected = jsonl(cli("lookup", "--map", str(out), "--json", *tokens).stdout)
    assert loaded.lookup(tokens) == expected
    assert maskner.lookup(str(out), tokens) == expected
    assert maskner.lookup(built, "1984") == expected[2]
    assert loaded.meta == built.meta
    # a model instead of a map: its default map, as `maskner lookup --model`
    assert maskner.lookup(BIO, tokens, progress=False) == jsonl(cli("lookup", "--model", BIO, "--json", *tokens).stdout)


def test_load_map_of_a_missing_directory():
    with pytest.raises(FileNotFoundError, match="/nonexistent/map"):
        maskner.load_map("/nonexistent/map")


def test_build_map_bad_rule():
    with pytest.raises(ValueError, match="^rule: "):
        maskner.build_map(BIO, rule="v9", progress=False)
