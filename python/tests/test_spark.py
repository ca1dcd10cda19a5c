"""maskner.spark in Spark local mode (local[2]) over 2,000 records: tag_dataframe and pipe_rdd
against `maskner tag` on the same records, error rows, SparkFiles shipping. Skipped when java or
pyspark is missing, except under CI (CI=true), where that fails."""

import json
import os
import random
import shutil
import sys
from pathlib import Path

import pytest

import maskner
from conftest import BIO, MODELS, PHI, ROOT, _find_cli, jsonl, model_args

N = 2000
NULL_ID, BAD_SPANS_ID, SPANS_ID = "r0007", "r0123", "r0456"

WORDS = (
    "Aspirin treats headache in patients from Paris . Mutations of BRCA1 cause breast cancer ; "
    "imatinib inhibits the BCR-ABL kinase in CML cells and α-synuclein aggregates in naïve "
    "neurons of mice with Parkinson disease while 患者 took 🧬 gefitinib for EGFR lung tumours"
).split()


def make_records():
    """N varied texts (some with markers, some non-ASCII); one null text, one with spans out of
    range and one with valid spans."""
    rng = random.Random(15)
    records = []
    for i in range(N):
        words = rng.choices(WORDS, k=rng.randint(3, 18))
        if i % 5 == 0:
            words[0] += ":__entity__"
        records.append({"id": f"r{i:04d}", "text": " ".join(words), "spans": None})
    by_id = {r["id"]: r for r in records}
    by_id[NULL_ID]["text"] = None
    by_id[BAD_SPANS_ID]["spans"] = [[0, 4000]]
    by_id[SPANS_ID]["text"] = "Aspirin treats headache"
    by_id[SPANS_ID]["spans"] = [[0, 7], [15, 23]]
    return records


RECORDS = make_records()


def unavailable(reason):
    """A missing Spark prerequisite: a skip locally, a failure under CI (CI must run these)."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: the Spark tests must run; python/test.sh installs pyspark)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def spark():
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        unavailable("no java on PATH and no JAVA_HOME: Spark needs Java 17+")
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        unavailable("pyspark is not installed: pip install 'maskner[spark]'")
    os.environ["PYSPARK_PYTHON"] = sys.executable  # executors use this venv (maskner installed)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("maskner-pytest")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def maps(tmp_path_factory):
    """Prebuilt maps, so the executors load them instead of racing to build them."""
    base = tmp_path_factory.mktemp("spark-maps")
    out = {}
    for name, model in MODELS.items():
        out[name] = str(base / f"spark-map-{name}")
        maskner.build_map(model, out=out[name], progress=False)
    return out


@pytest.fixture(scope="module")
def cli_records(cli, maps, tmp_path_factory):
    """`maskner tag` on the same records (JSON Lines, null text and spans as given), by id."""
    path = tmp_path_factory.mktemp("spark-cli") / "records.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for r in RECORDS:
            rec = {"id": r["id"], "text": r["text"]}
            if r["spans"] is not None:
                rec["spans"] = r["spans"]
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    map_args = ["--map", f"bio={maps['bio']}", "--map", f"phi={maps['phi']}"]
    proc = cli("tag", *model_args(), *map_args, "--input", str(path), "--format", "jsonl", check=False)
    assert proc.returncode == 2, proc.stderr  # 2: some records are error records
    recs = jsonl(proc.stdout)
    assert len(recs) == N
    return {r["id"]: r for r in recs}


def dataframe(spark, partitions=8):
    schema = "id string, text string, spans array<array<int>>"
    rows = [(r["id"], r["text"], r["spans"]) for r in RECORDS]
    return spark.createDataFrame(rows, schema).repartition(partitions)


def entity_fields(entities):
    from maskner.spark import ENTITY_FIELDS

    return [{k: e[k] for k in ENTITY_FIELDS} for e in entities]


def assert_rows_match_cli(rows, cli_records):
    ids = [r["id"] for r in rows]
    assert len(rows) == N
    assert len(set(ids)) == N and set(ids) == {r["id"] for r in RECORDS}
    texts = {r["id"]: r["text"] for r in RECORDS}
    errors = {}
    for row in rows:
        expected = cli_records[row["id"]]
        assert row["text"] == texts[row["id"]]
        if "error" in expected:
            assert row["entities"] is None and row["error"], row
            errors[row["id"]] = row["error"]
        else:
            assert row["error"] is None, row
            got = [e.asDict() for e in row["entities"]]
            assert got == entity_fields(expected["entities"]), row["id"]
    assert set(errors) == {NULL_ID, BAD_SPANS_ID}
    return errors


def test_tag_dataframe_equals_the_cli(spark, maps, cli_records):
    from maskner.spark import tag_dataframe

    out = tag_dataframe(dataframe(spark), spans_col="spans", models=MODELS, maps=maps)
    assert out.columns == ["id", "text", "entities", "error"]
    rows = out.collect()
    errors = assert_rows_match_cli(rows, cli_records)
    assert errors[NULL_ID] == f'id "{NULL_ID}": text is null: give every row a text, or filter null texts out first'
    assert errors[BAD_SPANS_ID].startswith(f'id "{BAD_SPANS_ID}": span 0..4000 is out of range'), errors[BAD_SPANS_ID]
    by_id = {r["id"]: r for r in rows}
    assert [(e["start"], e["end"]) for e in by_id[SPANS_ID]["entities"]] == [(0, 7), (15, 23)]
    assert sum(len(r["entities"] or []) for r in rows) > N  # the comparison is not over empty lists


def test_tag_dataframe_passes_the_precision(spark, maps, cli):
    from maskner.spark import tag_dataframe

    texts = [r for r in RECORDS if r["text"] and not r["spans"]][:4]
    df = spark.createDataFrame([(r["id"], r["text"]) for r in texts], "id string, text string")
    rows = {r["id"]: r for r in tag_dataframe(df, models=MODELS, maps=maps, precision="bf16").collect()}
    args = [a for name, path in MODELS.items() for a in ("--model", f"{name}={path}")]
    args += [a for name, path in maps.items() for a in ("--map", f"{name}={path}")]
    stdin = "".join(json.dumps({"id": r["id"], "text": r["text"]}) + "\n" for r in texts)
    expected = jsonl(cli("tag", *args, "--precision", "bf16", "--format", "jsonl", "--input", "-", stdin=stdin).stdout)
    assert len(rows) == len(expected) == 4
    for rec in expected:
        assert [e.asDict() for e in rows[rec["id"]]["entities"]] == entity_fields(rec["entities"]), rec["id"]
    assert sum(len(r["entities"]) for r in rows.values()) > 0


def test_pipe_rdd_equals_the_cli(spark, maps, cli, cli_records):
    from maskner.spark import pipe_rdd

    exe = _find_cli()  # the binary the cli fixture runs (it skips when there is none)
    args = [*model_args(), "--map", f"bio={maps['bio']}", "--map", f"phi={maps['phi']}"]
    inputs = [{k: v for k, v in r.items() if v is not None or k == "text"} for r in RECORDS]
    got = pipe_rdd(spark.sparkContext.parallelize(inputs, 6), maskner=exe, args=args).collect()
    assert len(got) == N
    assert len({r["id"] for r in got}) == N
    for rec in got:
        expected = cli_records[rec["id"]]
        if "error" in expected:
            # the same failure; the CLI names its line in the file, the pipe its line in stdin
            assert set(rec) == {"id", "error"} and rec["error"].startswith("stdin line "), rec
            assert rec["error"].split(": ", 1)[1] == expected["error"].split(": ", 1)[1]
        else:
            assert rec == expected


def test_pipe_rdd_fails_instead_of_losing_rows(spark):
    from maskner.spark import pipe_rdd

    rdd = spark.sparkContext.parallelize([{"id": i, "text": "Aspirin"} for i in range(10)], 2)
    exe = shutil.which("false") or "/bin/false"  # exits at once, answering no line
    with pytest.raises(Exception, match="answered 0 lines of a partition but not its end record"):
        pipe_rdd(rdd, maskner=exe).collect()


def test_models_shipped_with_spark_files(spark, maps):
    from maskner.spark import tag_dataframe

    sc = spark.sparkContext
    for path in (BIO, PHI, maps["bio"], maps["phi"]):
        sc.addFile(path, recursive=True)
    names = {"bio": Path(BIO).name, "phi": Path(PHI).name}
    shipped_maps = {n: Path(p).name for n, p in maps.items()}
    assert not any(os.path.exists(p) for p in [*names.values(), *shipped_maps.values()])  # only SparkFiles has them
    df = dataframe(spark, 2).where("id < 'r0200'")
    by_name = {r["id"]: r for r in tag_dataframe(df, spans_col="spans", models=names, maps=shipped_maps).collect()}
    as_paths = {n: Path(p) for n, p in MODELS.items()}  # os.PathLike values are accepted too
    by_path = {r["id"]: r for r in tag_dataframe(df, spans_col="spans", models=as_paths, maps=maps).collect()}
    assert len(by_name) == 200
    assert by_name == by_path


def test_bad_arguments_fail_on_the_driver(spark):
    from maskner.spark import tag_dataframe

    df = spark.createDataFrame([(1, "a", 2)], "id long, text string, n int")
    with pytest.raises(ValueError, match=r"text_col='body': no such column \(the DataFrame has id, text, n\)"):
        tag_dataframe(df, text_col="body")
    with pytest.raises(ValueError, match="text_col='n': expected a string column, got int"):
        tag_dataframe(df, text_col="n")
    with pytest.raises(ValueError, match="spans_col='text': expected array<array<int>>"):
        tag_dataframe(df, spans_col="text")
    with pytest.raises(ValueError, match="need two different columns, neither named entities or error"):
        tag_dataframe(df, id_col="text")
    with pytest.raises(ValueError, match="threads=0: expected a whole number"):
        tag_dataframe(df, threads=0)
    with pytest.raises(ValueError, match="engine settings: .*give paths as str and config as a dict of JSON values"):
        tag_dataframe(df, config={"members": object()})


def test_a_missing_model_fails_the_job_with_its_message(spark):
    from maskner.spark import tag_dataframe

    df = spark.createDataFrame([(1, "Aspirin")], "id long, text string")
    missing = str(ROOT / "no-such-model-dir")
    with pytest.raises(Exception, match="no-such-model-dir"):
        tag_dataframe(df, models={"bio": missing, "phi": PHI}).collect()


def test_a_worker_keeps_one_engine_per_settings(maps):
    from maskner import spark as ms

    settings = {"members": None, "models": MODELS, "maps": maps, "labels": None, "config": None,
                "compat": False, "threads": 1, "aggregation": None, "stride": None}
    first = ms._engine(settings)
    assert ms._engine(dict(settings)) is first
    assert ms._engine(dict(settings, threads=2)) is not first


def test_pipe_rdd_functions_need_no_maskner_package_on_executors(tmp_path):
    """pipe_rdd's partition functions unpickle and run in a Python where `import maskner` fails."""
    import subprocess

    try:
        from pyspark import cloudpickle
    except ImportError:
        unavailable("pyspark is not installed: pip install 'maskner[spark]'")

    from maskner.spark import END_ID, pipe_rdd

    class Recorder:  # stands in for an RDD: keeps the functions pipe_rdd hands to Spark
        context = type("Ctx", (), {"getConf": staticmethod(lambda: {"spark.task.cpus": "1"})})
        functions = []

        def mapPartitions(self, f):
            self.functions.append(f)
            return self

        def pipe(self, command, env, checkCode):
            return self

    pipe_rdd(Recorder(), maskner="/opt/maskner")
    path = tmp_path / "functions.pkl"
    path.write_bytes(cloudpickle.dumps(Recorder.functions))
    script = (
        "import sys, pickle, json; sys.modules['maskner'] = None\n"
        f"with_end, checked = pickle.load(open({str(path)!r}, 'rb'))\n"
        "lines = list(with_end(iter([{'id': 1, 'text': 'a'}])))\n"
        "print(json.dumps([lines, list(checked(iter(lines)))]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines, records = json.loads(proc.stdout)
    assert [json.loads(line) for line in lines] == [{"id": 1, "text": "a"}, {"id": f"{END_ID}: 1 lines", "text": ""}]
    assert records == [{"id": 1, "text": "a"}]


def test_the_id_and_text_columns_keep_their_names(spark, maps):
    from maskner.spark import tag_dataframe

    df = spark.createDataFrame([(10, "Aspirin treats headache"), (11, None)], "doc long, body string")
    rows = tag_dataframe(df, text_col="body", id_col="doc", models=MODELS, maps=maps).collect()
    assert [tuple(r.asDict())[:2] for r in rows] == [("doc", "body")] * 2
    assert [(r["doc"], r["body"]) for r in rows] == [(10, "Aspirin treats headache"), (11, None)]
    assert rows[0]["error"] is None and rows[0]["entities"]
    assert rows[1]["error"] == "doc 11: body is null: give every row a text, or filter null texts out first"
