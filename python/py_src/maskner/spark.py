"""Apache Spark front ends: tag a DataFrame (or an RDD) of texts with the maskner engine.

Two ways, both giving one output row per input row, with the records ``maskner tag`` prints:

- :func:`tag_dataframe` (needs this package on every executor): ``DataFrame.mapInArrow`` with
  a :class:`maskner.Engine` built lazily in each Python worker and kept there (keyed by its
  settings), never pickled from the driver. With Spark's Python worker reuse (the default) a
  worker loads the models once and tags every later partition with them.
- :func:`pipe_rdd` (needs only the ``maskner`` binary on the executors): ``RDD.pipe`` of JSON
  Lines through ``maskner tag --input - --format jsonl``.

Model, map, label and config paths are either paths every executor can read (shared storage)
or names of files shipped with ``SparkContext.addFile(path, recursive=True)`` / ``--files``:
a path that does not exist on the executor is looked up with ``SparkFiles.get``; anything else
is passed on as given (a hub id). See docs/scale.md.

>>> from maskner.spark import tag_dataframe  # doctest: +SKIP
>>> out = tag_dataframe(df, models={"bio": "/shared/bio", "phi": "/shared/phi"})  # doctest: +SKIP
>>> out.select("id", "entities.word", "error").show()  # doctest: +SKIP
"""

import json
import os
import re
import shlex
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

__all__ = ["tag_dataframe", "pipe_rdd", "output_schema", "ENTITY_FIELDS", "BATCH_SIZE", "END_ID"]

#: The fields of each entity in the ``entities`` column, in order (a subset of a JSON record's
#: entity: ``tag``, ``second`` and ``explanation`` are left out of the fixed schema).
ENTITY_FIELDS = ("start", "end", "word", "group", "subtype", "score", "member")

#: Rows per ``Engine.tag`` call: the CLI's default ``--batch``, so memory per call is bounded
#: the same way whatever Arrow's batch size is.
BATCH_SIZE = 32

# the engines of this Python worker, keyed by their resolved settings (one per distinct setup)
_ENGINES: Dict[str, Any] = {}

# the binding's error prefix for an input's position within one call, meaningless to a Spark user
_POSITION = re.compile(r"^texts\[\d+\]: ")


def output_schema(id_type: Any = None, id_col: str = "id", text_col: str = "text") -> Any:
    """The Spark schema of :func:`tag_dataframe`'s output: the id column (its input type,
    default string), the text column (string), ``entities`` (array of structs
    :data:`ENTITY_FIELDS`; null on an error row) and ``error`` (null, or the row's one-line
    message). The id and text columns keep their input names, so the output joins back."""
    from pyspark.sql.types import ArrayType, DoubleType, IntegerType, StringType, StructField, StructType

    entity = StructType(
        [
            StructField("start", IntegerType(), False),
            StructField("end", IntegerType(), False),
            StructField("word", StringType(), False),
            StructField("group", StringType(), False),
            StructField("subtype", StringType(), False),
            StructField("score", DoubleType(), False),
            StructField("member", StringType(), False),
        ]
    )
    return StructType(
        [
            StructField(id_col, id_type if id_type is not None else StringType(), True),
            StructField(text_col, StringType(), True),
            StructField("entities", ArrayType(entity, False), True),
            StructField("error", StringType(), True),
        ]
    )


def tag_dataframe(
    df: Any,
    text_col: str = "text",
    id_col: str = "id",
    *,
    spans_col: Optional[str] = None,
    members: Optional[Union[str, Sequence[str]]] = None,
    models: Optional[Mapping[str, Union[str, "os.PathLike[str]"]]] = None,
    maps: Optional[Mapping[str, Union[str, "os.PathLike[str]"]]] = None,
    labels: Optional[Mapping[str, Union[str, "os.PathLike[str]"]]] = None,
    config: Optional[Union[str, "os.PathLike[str]", Mapping[str, Any]]] = None,
    compat: bool = False,
    threads: Optional[int] = None,
    aggregation: Optional[str] = None,
    stride: Optional[int] = None,
    mode: str = "detect",
    precision: Optional[str] = None,
) -> Any:
    """Tags the texts of a Spark DataFrame: a DataFrame with one row per input row, columns
    ``id_col``, ``text_col`` (their input names), ``entities`` and ``error`` (see
    :func:`output_schema`), the same entities as ``maskner tag`` on the same records.

    - ``text_col`` (string), ``id_col`` (any type; passed through unchanged, so ids are unique
      in the output exactly when they are in the input), ``spans_col`` (optional, array of
      ``[start, end]`` character offsets: the phrases to type, as JSON Lines ``spans``).
    - The engine keywords are :class:`maskner.Engine`'s (``maskner tag``'s flags); ``mode`` is
      ``Engine.tag``'s. Paths are resolved on each executor: an existing path as is, else
      ``SparkFiles.get(path)`` if that exists (files shipped with ``addFile``/``--files``),
      else as given (a hub id).
    - ``threads``: each worker engine's compute threads; default ``spark.task.cpus`` of the
      task (one task per Python worker, so a worker never uses more cores than it was given).

    A row that cannot be tagged (null text, bad spans, a phrase too long for a model) gets
    ``entities`` null and ``error`` its message (``id <id>: ...``); the others are tagged. A
    setup error (a missing model) fails the job with the engine's message.
    """
    from pyspark.sql.types import ArrayType, IntegerType, LongType, ShortType, StringType

    fields = {f.name: f for f in df.schema.fields}
    for role, col in (("text_col", text_col), ("id_col", id_col), ("spans_col", spans_col)):
        if col is not None and col not in fields:
            raise ValueError(f"{role}={col!r}: no such column (the DataFrame has {', '.join(fields) or 'none'})")
    if id_col == text_col or {id_col, text_col} & {"entities", "error"}:
        raise ValueError(
            f"id_col={id_col!r}, text_col={text_col!r}: need two different columns, neither named entities or error "
            "(the output's own columns); rename them first"
        )
    if not isinstance(fields[text_col].dataType, StringType):
        raise ValueError(f"text_col={text_col!r}: expected a string column, got {fields[text_col].dataType.simpleString()}")
    if spans_col is not None:
        st = fields[spans_col].dataType
        ints = (IntegerType, LongType, ShortType)
        pairs = isinstance(st, ArrayType) and isinstance(st.elementType, ArrayType)
        if not (pairs and isinstance(st.elementType.elementType, ints)):
            raise ValueError(
                f"spans_col={spans_col!r}: expected array<array<int>> of [start, end] offsets, got {st.simpleString()}"
            )
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads={threads!r}: expected a whole number, at least 1 (or None for spark.task.cpus)")
    settings = {
        "members": members,
        "models": _paths(models),
        "maps": _paths(maps),
        "labels": _paths(labels),
        "config": dict(config) if isinstance(config, Mapping) else (os.fspath(config) if config is not None else None),
        "compat": bool(compat),
        "threads": threads,
        "aggregation": aggregation,
        "stride": stride,
        "precision": precision,
    }
    # the settings travel to the executors and key each worker's engine cache as JSON
    try:
        json.dumps(settings)
    except (TypeError, ValueError) as e:
        raise ValueError(f"engine settings: {e}; give paths as str and config as a dict of JSON values") from None
    cols = (id_col, text_col, spans_col)

    def tag_batches(batches: Iterator[Any]) -> Iterator[Any]:
        return _tag_batches(batches, settings, cols, mode)

    selected = [id_col, text_col] + ([spans_col] if spans_col else [])
    return df.select(*selected).mapInArrow(tag_batches, output_schema(fields[id_col].dataType, id_col, text_col))


def _paths(paths: Optional[Mapping[str, Any]]) -> Optional[Dict[str, str]]:
    """``{member: path}`` with ``os.PathLike`` values as ``str``, so the settings are JSON."""
    return None if paths is None else {name: os.fspath(p) for name, p in paths.items()}


def _resolve(path: Optional[str]) -> Optional[str]:
    """An executor-local path: as is when it exists, else the file shipped under that name
    (SparkFiles), else unchanged (a hub id, or a missing path the engine reports)."""
    if path is None or os.path.exists(path):
        return path
    try:
        from pyspark import SparkFiles

        shipped = SparkFiles.get(path)
    except Exception:  # no SparkFiles root in this process: nothing was shipped to it
        return path
    return shipped if os.path.exists(shipped) else path


def _engine(settings: Mapping[str, Any]) -> Any:
    """This worker's engine for `settings`, built on first use and kept for later tasks."""
    import maskner

    resolved = dict(settings)
    for key in ("models", "maps", "labels"):
        if resolved[key] is not None:
            resolved[key] = {name: _resolve(p) for name, p in resolved[key].items()}
    if isinstance(resolved["config"], str):
        resolved["config"] = _resolve(resolved["config"])
    if resolved["threads"] is None:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        resolved["threads"] = ctx.cpus() if ctx is not None else None
    key = json.dumps(resolved, sort_keys=True)
    engine = _ENGINES.get(key)
    if engine is None:
        engine = maskner.Engine(**resolved, progress=False)
        _ENGINES[key] = engine
    return engine


def _tag_batches(batches: Iterator[Any], settings: Mapping[str, Any], cols: Sequence[Optional[str]], mode: str) -> Iterator[Any]:
    """mapInArrow's function: each input batch -> an output batch of the same rows, in order."""
    import pyarrow as pa

    id_col, text_col, spans_col = cols
    engine = None
    for batch in batches:
        if engine is None:
            engine = _engine(settings)
        ids = batch.column(id_col)
        texts = batch.column(text_col)
        id_values = ids.to_pylist()
        text_values = texts.to_pylist()
        span_values = batch.column(spans_col).to_pylist() if spans_col else [None] * batch.num_rows
        entities: List[Optional[List[Dict[str, Any]]]] = []
        errors: List[Optional[str]] = []
        for lo in range(0, batch.num_rows, BATCH_SIZE):
            chunk = range(lo, min(lo + BATCH_SIZE, batch.num_rows))
            inputs = []
            for i in chunk:
                if text_values[i] is not None:
                    rec: Dict[str, Any] = {"text": text_values[i]}
                    if span_values[i] is not None:
                        rec["spans"] = span_values[i]
                    inputs.append(rec)
            records = iter(engine.tag(inputs, mode=mode, errors="record") if inputs else [])
            for i in chunk:
                where = f"{id_col} {_show(id_values[i])}: "
                if text_values[i] is None:
                    entities.append(None)
                    errors.append(f"{where}{text_col} is null: give every row a text, or filter null texts out first")
                    continue
                rec = next(records)
                if "error" in rec:
                    entities.append(None)
                    errors.append(where + _POSITION.sub("", rec["error"]))
                else:
                    entities.append([{k: e[k] for k in ENTITY_FIELDS} for e in rec["entities"]])
                    errors.append(None)
        yield pa.RecordBatch.from_arrays(
            [ids, texts, pa.array(entities, type=_entities_type(texts.type)), pa.array(errors, type=texts.type)],
            names=[id_col, text_col, "entities", "error"],
        )


def _entities_type(string: Any) -> Any:
    """The Arrow type of the ``entities`` column, with the string type Spark used for the text
    column (``large_string`` when ``spark.sql.execution.arrow.useLargeVarTypes`` is on)."""
    import pyarrow as pa

    entity = pa.struct(
        [
            pa.field("start", pa.int32(), False),
            pa.field("end", pa.int32(), False),
            pa.field("word", string, False),
            pa.field("group", string, False),
            pa.field("subtype", string, False),
            pa.field("score", pa.float64(), False),
            pa.field("member", string, False),
        ]
    )
    element = pa.field("element", entity, False)
    return pa.large_list(element) if pa.types.is_large_string(string) else pa.list_(element)


def _show(value: Any) -> str:
    """An id as it reads in a message: JSON (strings quoted), as the CLI writes ids."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


#: The id prefix of the record :func:`pipe_rdd` appends to each partition (``"<END_ID>: <n>
#: lines"``) to prove the binary answered every line (its text is empty: nothing to tag).
END_ID = "maskner.spark: end of partition"


def pipe_rdd(
    rdd: Any,
    *,
    maskner: str = "maskner",
    args: Sequence[str] = (),
    threads: Optional[int] = None,
    env: Optional[Mapping[str, str]] = None,
) -> Any:
    """``maskner tag --input - --format jsonl ARGS`` over an RDD of records through
    ``RDD.pipe``: an RDD of the CLI's JSON records (dicts), one per input, in order.

    - ``rdd``: dicts ``{"id", "text", "spans"}`` (``spans`` optional), as JSON Lines input;
      give ids (the binary numbers id-less lines within each partition).
    - ``maskner``: the binary on the executors (an absolute path, or a name on ``PATH``);
      ``args``: more ``maskner tag`` flags (``--model``, ``--map``, ``--mode``, ...), paths as
      the executors see them.
    - ``threads``: compute threads per binary, through ``RAYON_NUM_THREADS`` (default
      ``spark.task.cpus``).
    - ``env``: the binary's environment. ``RDD.pipe`` starts it with exactly this environment;
      by default ``PATH``, ``HOME``, ``MASKNER_CACHE`` and ``HF_*`` are copied from the driver.

    A record that cannot be tagged is an error record ``{"id", "error"}`` (the binary then
    exits 2, which is not a failure here). Every partition ends with one extra record
    (:data:`END_ID`) that is checked and dropped: a partition whose binary died before
    answering every line fails its task ("answered k of n lines") instead of losing rows.

    Uses only ``json`` and pyspark in the executors, so it works without this package there.
    """
    if threads is None:
        threads = int(rdd.context.getConf().get("spark.task.cpus", "1"))
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads={threads!r}: expected a whole number, at least 1")
    if env is None:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "MASKNER_CACHE") or k.startswith("HF_")}
    env = dict(env, RAYON_NUM_THREADS=str(threads))
    command = shlex.join([maskner, "tag", "--input", "-", "--format", "jsonl", *args])
    end_id = END_ID

    # nested (pickled by value) and stdlib-only, so executors need no maskner package
    def with_end(records: Iterator[Any]) -> Iterator[str]:
        n = 0
        for rec in records:
            n += 1
            yield json.dumps(rec)
        yield json.dumps({"id": f"{end_id}: {n} lines", "text": ""})

    def checked(lines: Iterator[str]) -> Iterator[Any]:
        held = None
        n = 0
        for line in lines:
            if held is not None:
                n += 1
                yield held
            held = json.loads(line)
        if held is None or held.get("id") != f"{end_id}: {n} lines" or "error" in held:
            seen = n + (held is not None)
            raise RuntimeError(
                f"{command}: answered {seen} lines of a partition but not its end record; "
                "the binary failed (its message is in the executor's stderr)"
            )

    return rdd.mapPartitions(with_end).pipe(command, env=env, checkCode=False).mapPartitions(checked)
