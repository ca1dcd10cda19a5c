//! Running the engine end to end on a benchmark dataset and scoring its output every way
//! (`maskner eval --dataset`, docs/eval.md).
//!
//! A dataset is a directory as in `../shared/benchmarks`: a gold file per split
//! (`devel.tsv`/`test.tsv`, or CoNLL `*_dev.txt`/`*_test.txt`) and the reference scorer's
//! `reference_eval_config.json`. The engine's input is built from the **gold tokens** joined
//! by single spaces, so its terms line up with the gold tokens:
//!
//! * [`PhraseSelection::Markers`], the reference's benchmark protocol (ALGORITHM.md §9.1):
//!   every gold entity token (label `B`/`I`, `B-X`/`I-X` or `B_X`/`I_X`) gets `:__entity__`,
//!   so the gold spans are typed (adjacent entities merge into one phrase, as in the
//!   reference). A sentence without gold entities goes through the automatic chunker, as the
//!   reference sends it through its POS path. Words are whitespace words: one term per gold
//!   token.
//! * [`PhraseSelection::Auto`]: no gold spans at all; the in-process chunker picks the
//!   phrases of every sentence. The gold sentence is kept as one sentence (no sentence
//!   splitting).
//!
//! The chunker reads each gold file the way `docs/chunker.md` measured it ([`GoldTokens`]):
//! BioBERT-style `token<TAB>tag` tokens with `detached_punctuation` (`Wiskott - Aldrich
//! syndrome` is one phrase), CoNLL tokens as they are, and the custom `token TAG` file (raw
//! text split at whitespace) through [`text::split_words`] like `maskner tag`. The engine's
//! terms are [`text::split_words`] of the joined tokens, so a gold token may become several
//! terms (`(Ph+` -> `(` `Ph+`), which the reference's resync joins back.
//!
//! The output is scored from the engine's two-column text exactly as `maskner tag --format
//! conll` prints it (with `--compat`, the appended period too, which the resync drops).

use super::reference::{self, Config, Options};
use super::standard::{self, StandardReport, TypeMapper};
use super::{EvalError, LabelledReference, Role, SCORING_REFERENCE, Sentences, Token, read};
use crate::aggregate::strip_bio;
use crate::compat::{self, Numerics};
use crate::engine::{Engine, PhraseMode, TagRequest};
use crate::output;
use crate::text;
use anyhow::{Context, bail};
use serde::Serialize;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Which gold file of a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// `devel.tsv` (or `dev.tsv`, `*_dev.txt`): for tuning.
    Devel,
    /// `test.tsv` (or `*_test.txt`): for reporting.
    Test,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Devel => "devel",
            Split::Test => "test",
        }
    }

    /// File names tried first, then file-name endings (CoNLL `conllpp_dev.txt`).
    fn candidates(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Split::Devel => (&["devel.tsv", "dev.tsv"], &["_dev.txt", "_devel.txt"]),
            Split::Test => (&["test.tsv"], &["_test.txt"]),
        }
    }
}

/// How the engine's phrases are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PhraseSelection {
    /// Gold entity tokens marked with `:__entity__` (the reference's protocol); sentences
    /// without gold entities through the automatic chunker.
    Markers,
    /// The automatic chunker everywhere; no gold spans.
    Auto,
}

impl PhraseSelection {
    pub fn name(self) -> &'static str {
        match self {
            PhraseSelection::Markers => "markers",
            PhraseSelection::Auto => "auto",
        }
    }

    fn description(self) -> &'static str {
        match self {
            PhraseSelection::Markers => {
                "gold entity tokens marked with :__entity__ (gold spans typed); sentences without gold entities: automatic chunker"
            }
            PhraseSelection::Auto => "automatic chunker on every sentence (no gold spans)",
        }
    }
}

/// How a gold file's tokens were made, which decides how the automatic chunker reads them
/// (the settings `docs/chunker.md` measured).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoldTokens {
    /// BioBERT/PubTator `token<TAB>tag`: punctuation is detached even inside words (`IL - 2`,
    /// `Wiskott - Aldrich`, `E . coli`), so the chunker reads the tokens with
    /// [`text::ChunkOptions::detached_punctuation`].
    Detached,
    /// CoNLL-2003 columns: PTB tokens, hyphens and dots stay inside words (`all-rounder`,
    /// `U.S.`), a standalone `-` is a dash. The chunker reads the tokens as they are.
    Words,
    /// `token TAG` from raw text split at whitespace (custom: `advanced,`, `(Ph+`): the chunker
    /// reads [`text::split_words`] of the joined tokens, as `maskner tag` reads raw text.
    Raw,
}

impl GoldTokens {
    /// From the first non-blank line of a gold file: four or more columns are CoNLL, a tab
    /// separator is BioBERT-style, anything else `token TAG` raw text.
    pub fn detect(path: &Path) -> anyhow::Result<Self> {
        let file = std::fs::File::open(path).with_context(|| format!("gold file {}: cannot open", path.display()))?;
        for line in std::io::BufReader::new(file).split(b'\n') {
            let line = line.with_context(|| format!("gold file {}: read error", path.display()))?;
            let line = String::from_utf8_lossy(&line);
            let fields = line.split_whitespace().count();
            if fields == 0 {
                continue;
            }
            return Ok(if fields >= 4 {
                GoldTokens::Words
            } else if line.contains('\t') {
                GoldTokens::Detached
            } else {
                GoldTokens::Raw
            });
        }
        Ok(GoldTokens::Raw)
    }

    /// For the report: what the chunker reads.
    pub fn description(self) -> &'static str {
        match self {
            GoldTokens::Detached => "gold tokens, detached punctuation joins (BioBERT-style token<TAB>tag)",
            GoldTokens::Words => "gold tokens (CoNLL columns)",
            GoldTokens::Raw => "split_words of the joined tokens (token TAG raw text)",
        }
    }

    /// The chunker's words of `joined` (the gold tokens joined by single spaces) and options.
    fn chunker_input(self, joined: &str) -> (Vec<text::Word>, text::ChunkOptions) {
        match self {
            GoldTokens::Detached => (text::whitespace_words(joined), text::ChunkOptions { detached_punctuation: true }),
            GoldTokens::Words => (text::whitespace_words(joined), text::ChunkOptions::default()),
            GoldTokens::Raw => (text::split_words(joined), text::ChunkOptions::default()),
        }
    }
}

/// A dataset split, read and checked: gold sentences (at most `limit`) and the eval config.
pub struct Dataset {
    /// The directory's name (`NCBI-disease`).
    pub name: String,
    pub split: Split,
    pub gold_path: PathBuf,
    pub config_path: PathBuf,
    pub config: Config,
    /// The first `limit` gold sentences (all without a limit).
    pub gold: Sentences,
    pub sentences_in_file: usize,
    /// How the chunker reads the gold tokens.
    pub tokens: GoldTokens,
}

impl Dataset {
    /// Finds and reads the split's gold file and the eval config (`eval_config` overrides the
    /// directory's `reference_eval_config.json`), keeps the first `limit` sentences, and checks
    /// every gold label against the config, so a bad file fails before any model is loaded.
    pub fn open(dir: &Path, split: Split, eval_config: Option<&Path>, limit: Option<usize>) -> anyhow::Result<Self> {
        if !dir.is_dir() {
            bail!("--dataset {}: not a directory", dir.display());
        }
        let gold_path = find_gold_file(dir, split)?;
        let config_path =
            match eval_config {
                Some(p) => p.to_path_buf(),
                None => ["reference_eval_config.json", "eval_config.json"].iter().map(|n| dir.join(n)).find(|p| p.is_file()).with_context(
                    || format!("{}: no reference_eval_config.json or eval_config.json (give --eval-config FILE)", dir.display()),
                )?,
            };
        let config = Config::from_path(&config_path)?;
        let mut gold = read::read_gold(&gold_path, &config)?;
        let tokens = GoldTokens::detect(&gold_path)?;
        let sentences_in_file = gold.sentences.len();
        if let Some(n) = limit {
            gold.truncate(n);
        }
        check_labels(&config, &gold)?;
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| dir.display().to_string());
        Ok(Dataset { name, split, gold_path, config_path, config, gold, sentences_in_file, tokens })
    }

    /// Sentence and token counts of the (limited) gold data.
    pub fn counts(&self) -> Counts {
        let s = &self.gold.sentences;
        let entity = |t: &Token| is_entity_label(&t.1);
        let with = s.iter().filter(|x| x.iter().any(entity)).count();
        let runs = s.iter().map(|x| x.iter().enumerate().filter(|(i, t)| entity(t) && (*i == 0 || !entity(&x[i - 1]))).count()).sum();
        Counts {
            sentences_in_file: self.sentences_in_file,
            sentences: s.len(),
            tokens: s.iter().map(Vec::len).sum(),
            entity_tokens: s.iter().flatten().filter(|t| entity(t)).count(),
            marked_phrases: runs,
            sentences_with_entities: with,
            sentences_without_entities: s.len() - with,
            docstart_sentences: s.iter().filter(|x| x.first().is_some_and(|t| t.0 == "-DOCSTART-")).count(),
        }
    }
}

/// The split's gold file in `dir`: a file named as [`Split`] says, else the one file whose name
/// ends like a CoNLL split (`conllpp_dev.txt`).
pub fn find_gold_file(dir: &Path, split: Split) -> anyhow::Result<PathBuf> {
    let (names, endings) = split.candidates();
    if let Some(p) = names.iter().map(|n| dir.join(n)).find(|p| p.is_file()) {
        return Ok(p);
    }
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("--dataset {}: cannot list", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let matching: Vec<&String> = files.iter().filter(|f| endings.iter().any(|e| f.ends_with(e))).collect();
    match matching.as_slice() {
        [one] => Ok(dir.join(one)),
        [] => {
            let looked: Vec<String> = names.iter().map(|n| n.to_string()).chain(endings.iter().map(|e| format!("*{e}"))).collect();
            let available: Vec<&str> = [Split::Devel, Split::Test]
                .into_iter()
                .filter(|s| *s != split)
                .filter(|s| {
                    let (n, e) = s.candidates();
                    files.iter().any(|f| n.contains(&f.as_str()) || e.iter().any(|x| f.ends_with(x)))
                })
                .map(Split::name)
                .collect();
            bail!(
                "--dataset {}: no {} split (looked for {}){}",
                dir.display(),
                split.name(),
                looked.join(", "),
                if available.is_empty() { String::new() } else { format!("; available: {}", available.join(", ")) }
            )
        }
        many => bail!(
            "--dataset {}: several {} gold files ({})",
            dir.display(),
            split.name(),
            many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Every gold label must be the config's `other_tag` or map through its `mapping`.
fn check_labels(config: &Config, gold: &Sentences) -> Result<(), EvalError> {
    let mapper = TypeMapper::new(config);
    for (s, sentence) in gold.sentences.iter().enumerate() {
        for (t, (_, label)) in sentence.iter().enumerate() {
            if label != &config.other_tag && !config.mapping.iter().any(|m| m.g_name == strip_bio(label, "_-")) {
                let msg = mapper.gold(label).err().unwrap_or_else(|| format!("label {label:?} is not in the config"));
                return Err(EvalError::at(gold.locate(s, Some(t)), msg));
            }
        }
    }
    Ok(())
}

/// Whether `extract_sentences.py` marks a token with this gold label: a `B`/`I` prefix
/// (`B`, `I-PER`, `B_DRUG`).
pub fn is_entity_label(label: &str) -> bool {
    matches!(label, "B" | "I") || ["B-", "I-", "B_", "I_"].iter().any(|p| label.starts_with(p))
}

/// The engine's input for one gold sentence (see the module docs); `style` says how the
/// chunker reads the tokens of a sentence it chunks.
pub fn request(tokens: &[Token], selection: PhraseSelection, style: GoldTokens) -> TagRequest {
    if selection == PhraseSelection::Markers && tokens.iter().any(|t| is_entity_label(&t.1)) {
        let words: Vec<String> =
            tokens.iter().map(|(w, l)| if is_entity_label(l) { format!("{w}{}", text::MARKER) } else { w.clone() }).collect();
        return TagRequest::new(words.join(" "), PhraseMode::Markers);
    }
    let joined = tokens.iter().map(|t| t.0.as_str()).collect::<Vec<_>>().join(" ");
    let (words, options) = style.chunker_input(&joined);
    let spans = text::auto_phrases_with(&words, &options).iter().filter_map(|p| p.byte_range(&words)).collect();
    TagRequest::new(joined, PhraseMode::Spans(spans))
}

/// What one engine pass over the gold sentences produced.
pub struct EngineRun {
    pub selection: PhraseSelection,
    /// The two-column output (`term TAG` lines, a blank line after each sentence; a sentence
    /// that failed has each gold token tagged `O`), one block per gold sentence.
    pub conll: String,
    /// Gold sentence index and error of each sentence the engine could not tag.
    pub failures: Vec<(usize, String)>,
    pub phrases: usize,
    pub seconds: f64,
}

/// Runs the engine on every gold sentence, `batch` sentences per call; `progress` is called
/// with the number of sentences done after each batch. `style` is the gold file's
/// ([`Dataset::tokens`]).
pub fn run_engine(
    engine: &Engine,
    gold: &Sentences,
    style: GoldTokens,
    selection: PhraseSelection,
    batch: usize,
    mut progress: impl FnMut(usize),
) -> anyhow::Result<EngineRun> {
    let start = Instant::now();
    let mut conll = String::new();
    let mut failures = Vec::new();
    let mut phrases = 0;
    let numerics = engine.numerics();
    for (b, chunk) in gold.sentences.chunks(batch.max(1)).enumerate() {
        let requests: Vec<TagRequest> = chunk.iter().filter(|s| !s.is_empty()).map(|s| request(s, selection, style)).collect();
        let mut results = engine.tag(&requests).into_iter();
        for (k, sentence) in chunk.iter().enumerate() {
            if sentence.is_empty() {
                conll.push('\n');
                continue;
            }
            match results.next() {
                Some(Ok(r)) => {
                    phrases += r.sentences.iter().map(|s| s.phrases.len()).sum::<usize>();
                    conll.push_str(&output::conll(&r, numerics));
                }
                Some(Err(e)) => {
                    // scored as all `O`, counted in the report
                    failures.push((b * batch.max(1) + k, e.to_string()));
                    for (token, _) in sentence.iter() {
                        conll.push_str(&format!("{token} O\n"));
                    }
                    conll.push('\n');
                }
                None => bail!("the engine returned fewer results than inputs"),
            }
        }
        progress(chunk.len());
    }
    Ok(EngineRun { selection, conll, failures, phrases, seconds: start.elapsed().as_secs_f64() })
}

/// Gold sentence counts.
#[derive(Serialize, Debug, Clone)]
pub struct Counts {
    pub sentences_in_file: usize,
    /// Sentences run and scored (the first `--limit`).
    pub sentences: usize,
    pub tokens: usize,
    /// Tokens with a `B`/`I` gold label.
    pub entity_tokens: usize,
    /// Maximal runs of entity tokens: the phrases marker mode types (adjacent entities merge).
    pub marked_phrases: usize,
    pub sentences_with_entities: usize,
    pub sentences_without_entities: usize,
    /// CoNLL `-DOCSTART-` lines (one-token sentences; the reference scorer counts them, the
    /// standard scoring skips them).
    pub docstart_sentences: usize,
}

/// What the engine did in one mode.
#[derive(Serialize, Debug)]
pub struct EngineStats {
    pub sentences: usize,
    /// Sentences the engine could not tag, each scored as all `O` (its error is a warning).
    pub failed_sentences: usize,
    /// Phrases typed (marker phrases plus chunker phrases).
    pub phrases: usize,
    pub seconds: f64,
    pub sentences_per_second: f64,
}

/// A scoring's result, or why it could not be computed. Scorings fail independently: the
/// reference scorer stops on a predicted group its config cannot place (e.g. custom's strict
/// rule counts unknown groups under `misc_tag` `MISC`, which is not one of its classes; the
/// reference's `eval_results.py` stops there too), while the other scorings still report.
#[derive(Serialize, Debug)]
#[serde(untagged)]
pub enum Scored<T> {
    Ok(T),
    Failed(ScoringFailure),
}

#[derive(Serialize, Debug)]
pub struct ScoringFailure {
    pub scoring: &'static str,
    pub predictions: &'static str,
    pub error: String,
}

impl<T> Scored<T> {
    fn new(r: Result<T, EvalError>, scoring: &'static str, predictions: &'static str) -> Self {
        match r {
            Ok(v) => Scored::Ok(v),
            Err(e) => Scored::failed(e.to_string(), scoring, predictions),
        }
    }

    fn failed(error: String, scoring: &'static str, predictions: &'static str) -> Self {
        Scored::Failed(ScoringFailure { scoring, predictions, error })
    }

    pub fn ok(&self) -> Option<&T> {
        match self {
            Scored::Ok(v) => Some(v),
            Scored::Failed(_) => None,
        }
    }

    fn failure(&self, key: &str) -> Option<String> {
        match self {
            Scored::Ok(_) => None,
            Scored::Failed(f) => Some(format!("{key} not computed: {}", f.error)),
        }
    }
}

/// One phrase-selection mode, scored every way.
#[derive(Serialize, Debug)]
pub struct ModeReport {
    pub phrase_selection: &'static str,
    pub engine: EngineStats,
    /// The reference scorer, first prediction only (its `1p_results.json` under `results`).
    pub reference_1p: Scored<LabelledReference>,
    /// The reference scorer, either of two predictions (its `2p_results.json` under `results`).
    pub reference_2p: Scored<LabelledReference>,
    pub span: Scored<StandardReport>,
    pub token: Scored<StandardReport>,
    /// Where the two-column predictions were written (`--pred-out`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predictions_file: Option<String>,
}

impl ModeReport {
    /// One line each: failed sentences (the first few with their errors), scorings that could
    /// not be computed, and the scorers' notes.
    pub fn warnings(&self, run: &EngineRun, gold: &Sentences) -> Vec<String> {
        let mut w = Vec::new();
        for (i, e) in run.failures.iter().take(5) {
            w.push(format!("{}: the engine failed: {e}", gold.locate(*i, None)));
        }
        if run.failures.len() > 5 {
            w.push(format!("... and {} more sentence(s) the engine failed on", run.failures.len() - 5));
        }
        w.extend(self.reference_1p.failure("reference_1p"));
        w.extend(self.reference_2p.failure("reference_2p"));
        w.extend(self.span.failure("span"));
        w.extend(self.token.failure("token"));
        match (self.reference_1p.ok(), self.reference_2p.ok()) {
            (Some(r), _) | (None, Some(r)) => w.extend(r.results.warnings()),
            (None, None) => {}
        }
        if let Some(s) = self.span.ok() {
            w.extend(s.warnings());
        }
        w
    }
}

/// Scores an engine run against the gold sentences: the reference scorer in 1p and 2p, span
/// and token scoring. `pred_name` names the prediction file in error messages (`None`:
/// errors name the sentence and token).
pub fn score(
    config: &Config,
    gold: &Sentences,
    run: &EngineRun,
    ignore_others: bool,
    pred_name: Option<&str>,
) -> Result<ModeReport, EvalError> {
    let parsed = read::parse_pred(&run.conll, pred_name.unwrap_or("engine output"))?;
    let pred = match pred_name {
        Some(_) => parsed,
        None => Sentences::in_memory(Role::Pred, parsed.sentences),
    };
    let labelled = |strict: bool| {
        let predictions = if strict { "first" } else { "either of two" };
        let r = reference::score(config, gold, &pred, Options { strict, ignore_others }).map(|results| LabelledReference {
            scoring: SCORING_REFERENCE,
            predictions,
            ignore_others,
            results,
        });
        Scored::new(r, SCORING_REFERENCE, predictions)
    };
    let (span, token) = match standard::score(config, gold, &pred) {
        Ok(s) => (Scored::Ok(s.span), Scored::Ok(s.token)),
        Err(e) => {
            (Scored::failed(e.to_string(), super::SCORING_SPAN, "first"), Scored::failed(e.to_string(), super::SCORING_TOKEN, "first"))
        }
    };
    let n = gold.sentences.len();
    Ok(ModeReport {
        phrase_selection: run.selection.description(),
        engine: EngineStats {
            sentences: n,
            failed_sentences: run.failures.len(),
            phrases: run.phrases,
            seconds: compat::round_half_away(run.seconds, 2),
            sentences_per_second: if run.seconds > 0.0 { compat::round_half_away(n as f64 / run.seconds, 2) } else { 0.0 },
        },
        reference_1p: labelled(true),
        reference_2p: labelled(false),
        span,
        token,
        predictions_file: pred_name.map(str::to_string),
    })
}

/// The engine as configured for the run.
#[derive(Serialize, Debug)]
pub struct Settings {
    /// `markers`, `auto` or `both`.
    pub phrases: &'static str,
    pub limit: Option<usize>,
    pub batch: usize,
    pub ignore_others: bool,
    /// What the automatic chunker reads ([`GoldTokens::description`]).
    pub chunker_words: &'static str,
    pub numerics: Numerics,
    pub taxonomy: String,
    /// Per member: name, kind, model.
    pub members: Vec<serde_json::Value>,
}

impl Settings {
    pub fn new(
        engine: &Engine,
        phrases: &'static str,
        limit: Option<usize>,
        batch: usize,
        ignore_others: bool,
        tokens: GoldTokens,
    ) -> Self {
        let members =
            engine.info().members.into_iter().map(|m| serde_json::json!({"name": m.name, "kind": m.kind, "model": m.model})).collect();
        Settings {
            phrases,
            limit,
            batch,
            ignore_others,
            chunker_words: tokens.description(),
            numerics: engine.numerics(),
            taxonomy: engine.taxonomy().name().to_string(),
            members,
        }
    }
}

/// Per mode, in the order run.
#[derive(Serialize, Debug, Default)]
pub struct Modes {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub markers: Option<ModeReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto: Option<ModeReport>,
}

/// Wall-clock seconds.
#[derive(Serialize, Debug)]
pub struct Timing {
    pub engine_load_seconds: f64,
    pub total_seconds: f64,
}

impl Timing {
    pub fn new(load: f64, total: f64) -> Self {
        Timing { engine_load_seconds: compat::round_half_away(load, 2), total_seconds: compat::round_half_away(total, 2) }
    }
}

/// The whole output of `maskner eval --dataset`.
#[derive(Serialize, Debug)]
pub struct DatasetReport {
    pub dataset: String,
    pub split: Split,
    pub gold_file: String,
    pub eval_config: String,
    pub counts: Counts,
    pub settings: Settings,
    pub modes: Modes,
    pub timing: Timing,
}

impl DatasetReport {
    /// JSON as the reference writes its results (`json.dumps(indent=4)` formatting).
    pub fn to_json(&self) -> String {
        super::json::to_python_json(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &[(&str, &str)]) -> Vec<Token> {
        s.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn entity_labels_follow_extract_sentences() {
        for l in ["B", "I", "B-PER", "I-LOC", "B_DRUG", "I_TIME"] {
            assert!(is_entity_label(l), "{l}");
        }
        for l in ["O", "BIO", "-X-", "IN"] {
            assert!(!is_entity_label(l), "{l}");
        }
    }

    #[test]
    fn marker_requests_mark_gold_entity_tokens() {
        let r = request(
            &toks(&[("the", "O"), ("ataxia", "B"), ("-", "I"), ("T", "I"), ("gene", "O")]),
            PhraseSelection::Markers,
            GoldTokens::Detached,
        );
        assert_eq!(r.text, "the ataxia:__entity__ -:__entity__ T:__entity__ gene");
        assert_eq!(r.mode, PhraseMode::Markers);
    }

    /// The chunker phrases of a request, as text.
    fn phrases(r: &TagRequest) -> Vec<&str> {
        let PhraseMode::Spans(spans) = &r.mode else { panic!("{:?}", r.mode) };
        spans.iter().map(|s| &r.text[s.clone()]).collect()
    }

    #[test]
    fn raw_text_tokens_use_the_chunker_on_split_words() {
        let t = toks(&[("Lung", "B"), ("cancer", "I"), ("(Ph+", "O"), ("CML)", "O"), ("kills", "O")]);
        let r = request(&t, PhraseSelection::Auto, GoldTokens::Raw);
        assert_eq!(r.text, "Lung cancer (Ph+ CML) kills");
        // `(Ph+` and `CML)` lose their brackets: the chunker saw split_words
        assert_eq!(phrases(&r)[..2], ["Lung cancer", "Ph+ CML"]);
        let o = request(&toks(&[("no", "O"), ("entity", "O")]), PhraseSelection::Markers, GoldTokens::Raw);
        assert!(matches!(o.mode, PhraseMode::Spans(_)));
        assert_eq!(o.text, "no entity");
    }

    #[test]
    fn detached_gold_tokens_keep_a_hyphen_inside_the_phrase() {
        let t = toks(&[("the", "O"), ("Wiskott", "O"), ("-", "O"), ("Aldrich", "O"), ("syndrome", "O"), (".", "O")]);
        for sel in [PhraseSelection::Auto, PhraseSelection::Markers] {
            let r = request(&t, sel, GoldTokens::Detached);
            assert_eq!(phrases(&r), ["Wiskott - Aldrich syndrome"], "{sel:?}");
        }
        // CoNLL tokens and raw text: a standalone `-` is a dash
        for style in [GoldTokens::Words, GoldTokens::Raw] {
            assert_eq!(phrases(&request(&t, PhraseSelection::Auto, style)), ["Wiskott", "Aldrich syndrome"], "{style:?}");
        }
    }

    #[test]
    fn gold_token_style_from_the_first_line() {
        let dir = std::env::temp_dir().join(format!("maskner-gold-tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text, want) in [
            ("bio.tsv", "\nIL\tB\n-\tI\n", GoldTokens::Detached),
            ("conll.txt", "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\n", GoldTokens::Words),
            ("custom.tsv", "A O\neGFR B_MEASURE\n", GoldTokens::Raw),
        ] {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            assert_eq!(GoldTokens::detect(&p).unwrap(), want, "{name}");
        }
        assert!(GoldTokens::detect(&dir.join("missing")).unwrap_err().to_string().contains("cannot open"));
    }
}
