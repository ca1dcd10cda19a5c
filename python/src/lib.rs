//! The Python binding: `maskner._maskner`, wrapped by the pure-Python package in `py_src/`.
//!
//! A thin front end on [`maskner::engine`]: it turns Python arguments into the engine's
//! requests, releases the GIL for all model work, and turns results into the same records
//! `maskner tag` prints ([`maskner::output::render`]) and errors into the exception classes of
//! `maskner.errors` (one per [`maskner::ErrorKind`]).
//!
//! Threads and `fork`: every call runs inside a rayon pool owned by the engine (its size is
//! the `threads` argument), never rayon's global pool. Rayon's worker threads do not survive
//! `fork()`, so a pool built before a fork would deadlock the child's first call; the pool
//! remembers the process id it was built in, and a forked child builds its own.

use maskner::engine::{Engine as CoreEngine, EngineConfig, EngineOptions, FillRequest, OptionSpelling, PhraseMode, TagRequest};
use maskner::entity_map::{self, BuildOptions, EntityMap, MapBuild};
use maskner::error::{Error, ErrorKind};
use maskner::output::{self, Format};
use maskner::progress::{Progress, Quiet};
use maskner::token_classify::Aggregation;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use pythonize::{depythonize, pythonize};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The exception of `maskner.errors` for an engine error; `index` is the input's position in
/// the caller's list, when the error belongs to one input.
fn py_error(py: Python<'_>, e: &Error, index: Option<usize>) -> PyErr {
    let class = match e.kind() {
        ErrorKind::Input => "InputError",
        ErrorKind::Limit => "LimitError",
        ErrorKind::Files if e.is_not_found() => "NotFoundError",
        ErrorKind::Files => "FilesError",
        ErrorKind::Internal => "InternalError",
    };
    let raised = || -> PyResult<PyErr> {
        let exc = py.import("maskner.errors")?.getattr(class)?.call1((e.to_string(),))?;
        exc.setattr("index", index)?;
        Ok(PyErr::from_value(exc))
    };
    raised().unwrap_or_else(|err| err)
}

/// An input error raised before any engine work (a bad argument).
fn input_error(py: Python<'_>, at: &str, message: impl Into<String>) -> PyErr {
    py_error(py, &Error::input_at(at, message), None)
}

/// The progress reporter: bars and notes on stderr (drawn only on a terminal), or nothing.
fn progress(show: bool) -> Box<dyn Progress> {
    if show { Box::new(maskner::cli::progress::Bars::default()) } else { Box::new(Quiet) }
}

/// A compute pool per process (see the module documentation).
struct Pool {
    threads: Option<usize>,
    current: Mutex<Option<(u32, Arc<rayon::ThreadPool>)>>,
}

impl Pool {
    fn new(threads: Option<usize>) -> Self {
        Self { threads, current: Mutex::new(None) }
    }

    fn get(&self) -> Result<Arc<rayon::ThreadPool>, Error> {
        let pid = std::process::id();
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((built_in, pool)) = current.as_ref()
            && *built_in == pid
        {
            return Ok(pool.clone());
        }
        if let Some((_, stale)) = current.take() {
            // its threads live only in the parent: dropping it would signal threads that do
            // not exist here
            std::mem::forget(stale);
        }
        let mut builder = rayon::ThreadPoolBuilder::new().thread_name(|i| format!("maskner-{i}"));
        if let Some(n) = self.threads {
            builder = builder.num_threads(n);
        }
        let pool = Arc::new(builder.build().map_err(|e| Error::internal(format!("cannot start the compute threads: {e}")))?);
        *current = Some((pid, pool.clone()));
        Ok(pool)
    }

    /// Runs `work` in the pool with the GIL released.
    fn run<T: Send>(&self, py: Python<'_>, work: impl FnOnce() -> T + Send) -> Result<T, Error> {
        py.detach(|| self.get().map(|pool| pool.install(work)))
    }
}

/// One input of `Engine.tag`: its id, text and spans as the JSON record of `maskner tag`.
struct Record {
    id: Value,
    text: String,
    spans: Option<Value>,
}

const RECORD_KEYS: &str = "id, text, spans";

/// Reads `texts[i]`: a `str`, or a dict `{"id", "text", "spans"}`. A missing id is the input's
/// number counted from 1, as `maskner tag` numbers its inputs.
fn record(i: usize, item: &Bound<'_, PyAny>) -> Result<Record, Error> {
    let at = format!("texts[{i}]");
    let id = Value::from(i + 1);
    if let Ok(text) = item.extract::<String>() {
        return Ok(Record { id, text, spans: None });
    }
    let Ok(dict) = item.cast::<PyDict>() else {
        return Err(Error::input_at(at, format!("expected a str or a dict {{{RECORD_KEYS}}}, got {}", type_name(item))));
    };
    let mut rec = Record { id, text: String::new(), spans: None };
    let mut has_text = false;
    for (key, value) in dict.iter() {
        let key: String = key.extract().map_err(|_| Error::input_at(&at, format!("keys must be str ({RECORD_KEYS})")))?;
        let json = || -> Result<Value, Error> {
            depythonize(&value).map_err(|e| Error::input_at(format!("{at}[{key:?}]"), format!("not JSON-like: {e}")))
        };
        match key.as_str() {
            "id" => rec.id = json()?,
            "text" => {
                rec.text =
                    value.extract().map_err(|_| Error::input_at(&at, format!("\"text\" must be a str, got {}", type_name(&value))))?;
                has_text = true;
            }
            "spans" if value.is_none() => {}
            "spans" => rec.spans = Some(json()?),
            other => return Err(Error::input_at(at, format!("unknown key {other:?} (keys: {RECORD_KEYS})"))),
        }
    }
    if !has_text {
        return Err(Error::input_at(at, "a dict needs a str \"text\""));
    }
    Ok(rec)
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "an object".into())
}

/// The inputs of a batch call: one `str`/dict (then `single`), or an iterable of them.
fn items<'py>(texts: &Bound<'py, PyAny>) -> PyResult<(Vec<Bound<'py, PyAny>>, bool)> {
    if texts.is_instance_of::<PyString>() || texts.is_instance_of::<PyDict>() {
        return Ok((vec![texts.clone()], true));
    }
    let list: Vec<Bound<'py, PyAny>> = texts.try_iter()?.collect::<PyResult<_>>()?;
    Ok((list, false))
}

/// How a failed input is reported: `raise` its exception, or put an error `record` in its place.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnError {
    Raise,
    Record,
}

impl OnError {
    fn from_name(py: Python<'_>, name: &str) -> PyResult<Self> {
        match name {
            "raise" => Ok(OnError::Raise),
            "record" => Ok(OnError::Record),
            _ => Err(input_error(py, "errors", format!("{name:?}: expected \"raise\" or \"record\""))),
        }
    }
}

/// Results in input order: each a value, or (with `errors="record"`) an error record
/// `{"id", "error"}` as `maskner tag` writes one; with `errors="raise"` the first failure raises.
fn collect<'py>(
    py: Python<'py>,
    results: Vec<(Value, Result<Value, Error>)>,
    on_error: OnError,
    single: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let mut out = Vec::with_capacity(results.len());
    for (i, (id, res)) in results.into_iter().enumerate() {
        let value = match res {
            Ok(v) => v,
            Err(e) if on_error == OnError::Raise => return Err(py_error(py, &e, Some(i))),
            Err(e) => output::error_json(&id, &e.to_string()),
        };
        out.push(pythonize(py, &value)?);
    }
    if single {
        return Ok(out.pop().unwrap_or_else(|| py.None().into_bound(py)));
    }
    Ok(PyList::new(py, out)?.into_any())
}

/// The output formats of `Engine.tag`: `maskner tag`'s, one record at a time.
fn format_named(py: Python<'_>, name: &str) -> PyResult<Format> {
    match name {
        "json" => Ok(Format::Json),
        "hf" => Ok(Format::Hf),
        "conll" => Ok(Format::Conll),
        "displacy" => Ok(Format::Displacy),
        _ => Err(input_error(py, "format", format!("{name:?}: expected \"json\", \"hf\", \"conll\" or \"displacy\""))),
    }
}

/// `NAME -> value` pairs of a keyword dict (`models={"bio": "dir"}`).
fn pairs(py: Python<'_>, arg: &str, dict: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<(String, String)>> {
    let Some(dict) = dict else { return Ok(Vec::new()) };
    dict.iter()
        .map(|(k, v)| {
            let name: String = k.extract().map_err(|_| input_error(py, arg, "member names must be str"))?;
            let value = path_like(&v).ok_or_else(|| input_error(py, &format!("{arg}[{name:?}]"), "expected a str or a path"))?;
            Ok((name, value))
        })
        .collect()
}

/// A `str` or an `os.PathLike`.
fn path_like(obj: &Bound<'_, PyAny>) -> Option<String> {
    obj.extract::<PathBuf>().ok().map(|p| p.to_string_lossy().into_owned())
}

/// The ensemble, loaded once; safe to share between threads (the GIL is released while it works).
///
/// Arguments mirror `maskner tag`'s flags: `members` (a list or "bio,phi"), `models`, `maps`,
/// `labels` ({member name: hub id or path}), `config` (a dict or a JSON file), `compat`,
/// `aggregation`, `stride`, `precision` ("fp32" or "bf16"); `threads` sizes this engine's own compute pool (default: one per
/// core; a fork-ed child builds its own pool); `progress` shows bars on stderr.
///
/// >>> engine = maskner.Engine(models={"bio": "data/fixtures/tiny-bert-cased",
/// ...                                 "phi": "data/fixtures/tiny-bert-uncased"})
/// >>> record = engine.tag("Imatinib is used to treat CML.")
/// >>> [(e["word"], e["group"]) for e in record["entities"]]
#[pyclass(module = "maskner._maskner", name = "Engine", frozen)]
struct Engine {
    engine: CoreEngine,
    pool: Pool,
}

#[pymethods]
impl Engine {
    #[new]
    #[pyo3(signature = (members=None, models=None, maps=None, labels=None, config=None, compat=false, threads=None, aggregation=None, stride=None, progress=true, precision=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        members: Option<&Bound<'_, PyAny>>,
        models: Option<&Bound<'_, PyDict>>,
        maps: Option<&Bound<'_, PyDict>>,
        labels: Option<&Bound<'_, PyDict>>,
        config: Option<&Bound<'_, PyAny>>,
        compat: bool,
        threads: Option<usize>,
        aggregation: Option<&str>,
        stride: Option<usize>,
        progress: bool,
        precision: Option<&str>,
    ) -> PyResult<Self> {
        if threads == Some(0) {
            return Err(input_error(py, "threads", "must be at least 1 (or None: one per core)"));
        }
        let members: Vec<String> = match members {
            None => Vec::new(),
            Some(m) if m.is_instance_of::<PyString>() => m.extract::<String>()?.split(',').map(str::to_string).collect(),
            Some(m) => m.extract().map_err(|_| input_error(py, "members", "expected a list of member names, hub ids or paths"))?,
        };
        let base = match config {
            None => EngineConfig::reference_default(),
            Some(c) if c.is_instance_of::<PyDict>() => {
                let json: Value = depythonize(c).map_err(|e| input_error(py, "config", format!("not JSON-like: {e}")))?;
                EngineConfig::from_json(&json.to_string(), None).map_err(|e| py_error(py, &e.context("config"), None))?
            }
            Some(c) => {
                let path = path_like(c).ok_or_else(|| input_error(py, "config", "expected a dict or the path of a JSON file"))?;
                EngineConfig::from_file(path.as_ref()).map_err(|e| py_error(py, &e, None))?
            }
        };
        let options = EngineOptions {
            members,
            models: pairs(py, "models", models)?,
            maps: pairs(py, "maps", maps)?.into_iter().map(|(n, v)| (n, PathBuf::from(v))).collect(),
            labels: pairs(py, "labels", labels)?.into_iter().map(|(n, v)| (n, PathBuf::from(v))).collect(),
            aggregation: aggregation.map(Aggregation::from_name).transpose().map_err(|e| py_error(py, &e.context("aggregation"), None))?,
            stride,
            compat,
            precision: precision.map(str::parse).transpose().map_err(|e: String| input_error(py, "precision", e))?,
        };
        let config = options.apply(base, OptionSpelling::Python).map_err(|e| py_error(py, &e, None))?;
        let pool = Pool::new(threads);
        let reporter = self::progress(progress);
        let engine = pool.run(py, || CoreEngine::load(&config, reporter.as_ref())).and_then(|r| r).map_err(|e| py_error(py, &e, None))?;
        Ok(Self { engine, pool })
    }

    /// Tags `texts` (a list of `str` or `{"id", "text", "spans"}` dicts; one of them alone gives
    /// one result rather than a list). Each result is what `maskner tag` prints for that input,
    /// as Python objects: `format="json"` a record dict, `"hf"` a list of entity dicts,
    /// `"conll"` a string, `"displacy"` a displaCy dict. Offsets are `str` indices; an input
    /// without an id is numbered from 1. `errors="raise"` raises the first failure (an
    /// `InputError`/`ValueError` with `.index`), `errors="record"` puts `{"id", "error"}` in
    /// its place.
    ///
    /// >>> engine.tag(["Aspirin:__entity__ helps", {"id": "n1", "text": "EGFR in lung cancer", "spans": [[0, 4]]}], format="hf")
    #[pyo3(signature = (texts, *, format="json", explain=false, mode="detect", errors="raise"))]
    fn tag<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
        format: &str,
        explain: bool,
        mode: &str,
        errors: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let format = format_named(py, format)?;
        let on_error = OnError::from_name(py, errors)?;
        let mode = PhraseMode::from_name(mode).map_err(|e| py_error(py, &e.context("mode"), None))?;
        let (items, single) = items(texts)?;
        let mut ids = Vec::with_capacity(items.len());
        let mut requests: Vec<Result<TagRequest, Error>> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match record(i, item) {
                Ok(rec) => {
                    ids.push(rec.id);
                    let req = TagRequest::from_record(&rec.text, rec.spans.as_ref(), &mode).map_err(|e| e.context(format!("texts[{i}]")));
                    requests.push(req);
                }
                Err(e) => {
                    ids.push(Value::from(i + 1));
                    requests.push(Err(e));
                }
            }
        }
        if on_error == OnError::Raise
            && let Some((i, Err(e))) = requests.iter().enumerate().find(|(_, r)| r.is_err())
        {
            return Err(py_error(py, e, Some(i)));
        }
        let ok: Vec<TagRequest> = requests.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
        let mut tagged = self.pool.run(py, || self.engine.tag(&ok)).map_err(|e| py_error(py, &e, None))?.into_iter();
        let names = self.engine.member_names();
        let numerics = self.engine.numerics();
        let results = requests
            .into_iter()
            .zip(ids)
            .enumerate()
            .map(|(i, (req, id))| {
                let res = match req {
                    Ok(_) => tagged
                        .next()
                        .unwrap_or_else(|| Err(Error::internal("internal error: no result")))
                        .map_err(|e| e.context(format!("texts[{i}]"))),
                    Err(e) => Err(e),
                };
                let res = res.map(|r| output::render(format, &id, &r, &names, numerics, explain));
                (id, res)
            })
            .collect();
        collect(py, results, on_error, single)
    }

    /// The masked LM's top `top_k` predictions at `[CLS]` and at every `[MASK]` of each text:
    /// `{"text", "masks": [{"position", "predictions": [{"token", "id", "score"}]}], "cls"}`.
    /// `member`: a masked-LM member's name (default: the first).
    ///
    /// >>> engine.fill_mask("Aspirin treats [MASK] .", top_k=3)["masks"][0]["predictions"]
    #[pyo3(signature = (texts, top_k=10, member=None, *, errors="raise"))]
    fn fill_mask<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
        top_k: usize,
        member: Option<&str>,
        errors: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let on_error = OnError::from_name(py, errors)?;
        let (items, single) = items(texts)?;
        let requests = items
            .iter()
            .enumerate()
            .map(|(i, t)| {
                t.extract::<String>()
                    .map(|text| FillRequest { text, top_k })
                    .map_err(|_| input_error(py, &format!("texts[{i}]"), format!("expected a str, got {}", type_name(t))))
            })
            .collect::<PyResult<Vec<_>>>()?;
        let filled =
            self.pool.run(py, || self.engine.fill_mask_on(member, &requests)).and_then(|r| r).map_err(|e| py_error(py, &e, None))?;
        let results = filled
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let id = Value::from(i + 1);
                let res = r
                    .map_err(|e| e.context(format!("texts[{i}]")))
                    .and_then(|f| serde_json::to_value(f).map_err(|e| Error::internal(format!("internal error: fill-mask record: {e}"))));
                (id, res)
            })
            .collect();
        collect(py, results, on_error, single)
    }

    /// The members, their models and maps, the taxonomy: what `GET /v1/info` returns.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize(py, &self.engine.info())?)
    }

    /// The member names, in ensemble order.
    #[getter]
    fn members(&self) -> Vec<String> {
        self.engine.member_names().into_iter().map(str::to_string).collect()
    }

    fn __repr__(&self) -> String {
        format!("maskner.Engine(members={:?})", self.engine.member_names())
    }
}

/// A descriptor -> entity map.
#[pyclass(module = "maskner._maskner", name = "Map", frozen)]
struct Map {
    map: EntityMap,
    path: Option<PathBuf>,
    stats: Option<Value>,
}

#[pymethods]
impl Map {
    /// The entity signature of each token, as the tagger sees it:
    /// `{"token", "labels", "counts", "source"}` (one token alone gives one dict).
    fn lookup<'py>(&self, py: Python<'py>, tokens: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        lookup_in(py, &self.map, tokens)
    }

    /// The map's metadata (model, vocabulary hash, rule, taxonomy, ...).
    #[getter]
    fn meta<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize(py, self.map.meta())?)
    }

    /// Where the map was read from or written to.
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        self.path.clone()
    }

    /// Build statistics of a map built in this call (`None` otherwise).
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.stats.as_ref().map(|s| pythonize(py, s).map_err(PyErr::from)).transpose()
    }

    fn __len__(&self) -> usize {
        self.map.len()
    }

    fn __repr__(&self) -> String {
        match &self.path {
            Some(p) => format!("maskner.Map({} tokens, {})", self.map.len(), p.display()),
            None => format!("maskner.Map({} tokens)", self.map.len()),
        }
    }
}

fn lookup_in<'py>(py: Python<'py>, map: &EntityMap, tokens: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(token) = tokens.extract::<String>() {
        return Ok(pythonize(py, &entity_map::lookup_record(map, &token))?);
    }
    let tokens: Vec<String> = tokens.extract().map_err(|_| input_error(py, "tokens", "expected a str or a list of str"))?;
    let records: Vec<Value> = tokens.iter().map(|t| entity_map::lookup_record(map, t)).collect();
    Ok(pythonize(py, &records)?)
}

/// Builds the descriptor -> entity map of a model's vocabulary from seed lists (the built-in
/// lists unless `seeds` names a directory of `<LABEL>.txt` files) and saves it to `out`, or to
/// the cache `maskner tag` reads. `import_labels`: import a reference-format labels.txt instead.
///
/// >>> m = maskner.build_map("bert-base-cased", out="maps/bert-base-cased")
/// >>> m.lookup("aspirin")["labels"]
#[pyfunction]
#[pyo3(signature = (model=None, out=None, rule="knn", *, seeds=None, k=None, space="input", search="auto", taxonomy="jan2022", import_labels=None, progress=true))]
#[allow(clippy::too_many_arguments)]
fn build_map(
    py: Python<'_>,
    model: Option<PathBuf>,
    out: Option<PathBuf>,
    rule: &str,
    seeds: Option<PathBuf>,
    k: Option<usize>,
    space: &str,
    search: &str,
    taxonomy: &str,
    import_labels: Option<PathBuf>,
    progress: bool,
) -> PyResult<Map> {
    let model = model.map(|m| m.to_string_lossy().into_owned());
    let err = |e: Error| py_error(py, &e, None);
    if let Some(labels) = import_labels {
        let out = out.ok_or_else(|| input_error(py, "import_labels", "needs out= (the map directory to write)"))?;
        let map = py.detach(|| entity_map::import_map(&labels, &out, model.as_deref(), taxonomy)).map_err(err)?;
        return Ok(Map { map, path: Some(out), stats: None });
    }
    let model =
        model.ok_or_else(|| input_error(py, "model", "required (a hub id or a model directory), unless import_labels= is given"))?;
    let defaults = BuildOptions::default();
    let options = BuildOptions {
        rule: entity_map::Rule::from_name(rule).map_err(|e| err(e.context("rule")))?,
        search: entity_map::neighbours::SearchMode::from_name(search).map_err(|e| err(e.context("search")))?,
        space: entity_map::Space::from_name(space).map_err(|e| err(e.context("space")))?,
        k: k.unwrap_or(defaults.k),
        ..defaults
    };
    let request = MapBuild { model, seeds, out, options, taxonomy: taxonomy.to_string() };
    let reporter = self::progress(progress);
    let pool = Pool::new(None);
    let (map, stats, path) = pool.run(py, || entity_map::build_map(&request, reporter.as_ref())).and_then(|r| r).map_err(err)?;
    let stats = serde_json::to_value(&stats).ok();
    Ok(Map { map, path: Some(path), stats })
}

/// Opens a saved map directory.
#[pyfunction]
fn load_map(py: Python<'_>, path: PathBuf) -> PyResult<Map> {
    let map = py.detach(|| entity_map::open_map(&path)).map_err(|e| py_error(py, &e, None))?;
    Ok(Map { map, path: Some(path), stats: None })
}

/// The entity signatures of `tokens` in a map: a `Map`, a map directory, or a model (hub id or
/// directory) whose default map is used, built and cached on first use.
///
/// >>> maskner.lookup("maps/bert-base-cased", ["EGFR", "asbestos", "1984"])
#[pyfunction]
#[pyo3(signature = (map_or_model, tokens, *, progress=true))]
fn lookup<'py>(
    py: Python<'py>,
    map_or_model: &Bound<'py, PyAny>,
    tokens: &Bound<'py, PyAny>,
    progress: bool,
) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(map) = map_or_model.cast::<Map>() {
        return lookup_in(py, &map.get().map, tokens);
    }
    let spec = path_like(map_or_model).ok_or_else(|| input_error(py, "map_or_model", "expected a Map, a map directory or a model"))?;
    let reporter = self::progress(progress);
    let pool = Pool::new(None);
    let map = pool.run(py, || entity_map::map_or_model(&spec, reporter.as_ref())).and_then(|r| r).map_err(|e| py_error(py, &e, None))?;
    lookup_in(py, &map, tokens)
}

#[pymodule]
fn _maskner(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add_class::<Map>()?;
    m.add_function(wrap_pyfunction!(build_map, m)?)?;
    m.add_function(wrap_pyfunction!(load_map, m)?)?;
    m.add_function(wrap_pyfunction!(lookup, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
