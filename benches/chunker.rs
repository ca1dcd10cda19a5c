//! Automatic-mode chunker against gold entity spans, on the benchmark **devel** splits.
//!
//!     cargo bench --bench chunker [-- --dump DATASET [--uncovered] [--limit N]]
//!
//! For each dataset the gold file's own tokens are the words (offsets as if joined by single
//! spaces) and `auto_phrases_with` picks the phrases: BioBERT-style files detach hyphens,
//! apostrophes and dots (`IL - 2`), so they run with `detached_punctuation`; CoNLL keeps them
//! inside words. Prints a Markdown table:
//!
//! * exact span precision / recall / F1 (a phrase equals a gold span);
//! * covered: share of gold spans lying inside one predicted phrase (typable, maybe with extra
//!   words);
//! * mismatch (ref rule): share of sentences flagged by the reference's `-gen_stats` scan
//!   (ALGORITHM.md §9.1): walking the words, a predicted run that continues past the end of a
//!   gold span, or a gold span that continues after the predicted run ended, flags the
//!   sentence; gold words outside every phrase and phrases that start early are not flagged;
//! * mismatch (strict): share of sentences where some gold span is not exactly a phrase.
//!
//! CoNLL++ also gets a row for the reference's noun-run rule applied to the file's own gold
//! POS column: what the reference's rule achieves with a perfect tagger.
//! `--dump DATASET` prints (on stderr) sentences with a gold span that is not exactly a phrase
//! (with `--uncovered`: not inside any phrase), gold in `[ ]`, phrases in `{ }`; devel only.

use maskner::text::{ChunkOptions, Phrase, Word, auto_phrases_with};
use std::collections::HashSet;
use std::ops::Range;
use std::time::Instant;

/// The benchmark data: `$MASKNER_BENCHMARKS`, else `../shared/benchmarks` beside the clone.
fn shared() -> String {
    std::env::var("MASKNER_BENCHMARKS").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/benchmarks").to_string())
}

struct Sentence {
    tokens: Vec<String>,
    pos: Vec<String>,
    gold: Vec<Range<usize>>,
}

fn read(path: &str, conll: bool) -> anyhow::Result<Vec<Sentence>> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
    let mut out = Vec::new();
    let (mut tokens, mut pos, mut tags) = (Vec::new(), Vec::new(), Vec::<String>::new());
    let mut flush = |tokens: &mut Vec<String>, pos: &mut Vec<String>, tags: &mut Vec<String>| {
        if !tokens.is_empty() {
            out.push(Sentence { tokens: std::mem::take(tokens), pos: std::mem::take(pos), gold: spans(tags) });
            tags.clear();
        }
    };
    for line in text.lines() {
        if line.trim().is_empty() {
            flush(&mut tokens, &mut pos, &mut tags);
            continue;
        }
        let f: Vec<&str> = if conll { line.split(' ').collect() } else { line.split('\t').collect() };
        if f[0] == "-DOCSTART-" {
            continue;
        }
        let tag = if conll { f.get(3) } else { f.get(1) }.copied().unwrap_or("O");
        tokens.push(f[0].to_string());
        pos.push(if conll { f.get(1).copied().unwrap_or("") } else { "" }.to_string());
        tags.push(tag.to_string());
    }
    flush(&mut tokens, &mut pos, &mut tags);
    Ok(out)
}

/// One file, or `a+b`: the same sentences with the gold spans of both files (BC5CDR's
/// disease and chemical annotations of one corpus), so precision counts both entity types.
fn read_all(files: &str, conll: bool) -> anyhow::Result<Vec<Sentence>> {
    let mut parts = files.split('+');
    let first = parts.next().unwrap_or_default();
    let mut sents = read(&format!("{}/{first}", shared()), conll)?;
    for other in parts {
        let more = read(&format!("{}/{other}", shared()), conll)?;
        anyhow::ensure!(more.len() == sents.len(), "{other}: sentence count differs from {first}");
        for (s, m) in sents.iter_mut().zip(more) {
            anyhow::ensure!(s.tokens == m.tokens, "{other}: tokens differ from {first}");
            s.gold.extend(m.gold);
            s.gold.sort_by_key(|g| (g.start, g.end));
        }
    }
    Ok(sents)
}

/// Gold spans from B/I tags (`B`, `I`, `B-PER`, ...); an `I` after `O` starts a span.
fn spans(tags: &[String]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut open: Option<(usize, &str)> = None;
    for (i, t) in tags.iter().enumerate() {
        let (bio, ty) = t.split_once('-').unwrap_or((t.as_str(), ""));
        let cont = bio == "I" && open.is_some_and(|(_, oty)| oty == ty);
        if !cont {
            if let Some((s, _)) = open.take() {
                out.push(s..i);
            }
            if bio == "B" || bio == "I" {
                open = Some((i, ty));
            }
        }
    }
    if let Some((s, _)) = open {
        out.push(s..tags.len());
    }
    out
}

fn words_of(tokens: &[String]) -> Vec<Word> {
    let mut at = 0;
    tokens
        .iter()
        .map(|t| {
            let w = Word { text: t.clone(), start: at, end: at + t.len() };
            at += t.len() + 1;
            w
        })
        .collect()
}

/// The reference's rule on PTB tags: maximal runs of noun-like tags (ALGORITHM.md §3.2).
fn noun_runs(pos: &[String]) -> Vec<Phrase> {
    const NOUNISH: &[&str] = &["NFP", "JJ", "NN", "FW", "NNS", "NNPS", "JJS", "JJR", "NNP", "POS", "CD"];
    let mut out = Vec::new();
    let mut start = None;
    for i in 0..=pos.len() {
        let on = i < pos.len() && NOUNISH.contains(&pos[i].as_str());
        match (on, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(Phrase { words: s..i });
                start = None;
            }
            _ => {}
        }
    }
    out
}

#[derive(Default)]
struct Score {
    sentences: usize,
    gold: usize,
    pred: usize,
    exact: usize,
    covered: usize,
    ref_mismatch: usize,
    strict_mismatch: usize,
    words: usize,
}

impl Score {
    fn add(&mut self, s: &Sentence, pred: &[Phrase]) {
        let n = s.tokens.len();
        self.sentences += 1;
        self.words += n;
        self.gold += s.gold.len();
        self.pred += pred.len();
        let pset: HashSet<Range<usize>> = pred.iter().map(|p| p.words.clone()).collect();
        let mut all_exact = true;
        for g in &s.gold {
            if pset.contains(g) {
                self.exact += 1;
            } else {
                all_exact = false;
            }
            if pred.iter().any(|p| p.words.start <= g.start && g.end <= p.words.end) {
                self.covered += 1;
            }
        }
        if !all_exact {
            self.strict_mismatch += 1;
        }
        let mut in_pred = vec![false; n];
        for p in pred {
            for k in p.words.clone() {
                if k < n {
                    in_pred[k] = true;
                }
            }
        }
        let mut in_gold = vec![false; n];
        for g in &s.gold {
            for k in g.clone() {
                in_gold[k] = true;
            }
        }
        let mut open = false;
        for k in 0..n {
            if in_pred[k] {
                if in_gold[k] {
                    open = true;
                } else if open {
                    self.ref_mismatch += 1;
                    break;
                }
            } else {
                if in_gold[k] && open {
                    self.ref_mismatch += 1;
                    break;
                }
                open = false;
            }
        }
    }

    fn row(&self, name: &str, reference: &str) -> String {
        let pct = |a: usize, b: usize| if b == 0 { 0.0 } else { 100.0 * a as f64 / b as f64 };
        let (p, r) = (pct(self.exact, self.pred), pct(self.exact, self.gold));
        let f = if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) };
        format!(
            "| {name} | {} | {} | {} | {p:.1} | {r:.1} | {f:.1} | {:.1} | {:.1} | {:.1} | {reference} |",
            self.sentences,
            self.gold,
            self.pred,
            pct(self.covered, self.gold),
            pct(self.ref_mismatch, self.sentences),
            pct(self.strict_mismatch, self.sentences),
        )
    }
}

fn show(s: &Sentence, pred: &[Phrase]) -> String {
    let mut out = String::new();
    for (i, t) in s.tokens.iter().enumerate() {
        for g in &s.gold {
            if g.start == i {
                out.push('[');
            }
        }
        for p in pred {
            if p.words.start == i {
                out.push('{');
            }
        }
        out.push_str(t);
        for p in pred {
            if p.words.end == i + 1 {
                out.push('}');
            }
        }
        for g in &s.gold {
            if g.end == i + 1 {
                out.push(']');
            }
        }
        out.push(' ');
    }
    out
}

fn main() -> anyhow::Result<()> {
    if !std::path::Path::new(&shared()).is_dir() {
        eprintln!("chunker bench: no benchmark data at {} (set MASKNER_BENCHMARKS); skipped", shared());
        return Ok(());
    }
    let mut dump = None;
    let mut limit = 60usize;
    let mut uncovered = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--dump" => dump = args.next(),
            "--uncovered" => uncovered = true,
            "--limit" => limit = args.next().and_then(|v| v.parse().ok()).unwrap_or(limit),
            _ => {} // --bench and the like
        }
    }
    // (name, file, CoNLL format, reference mismatch % from ALGORITHM.md §9.1)
    let sets = [
        ("NCBI-disease", "NCBI-disease/devel.tsv", false, "30.96"),
        ("BC5CDR-disease", "BC5CDR-disease/devel.tsv", false, "11.6"),
        ("BC5CDR-chem", "BC5CDR-chem/devel.tsv", false, "26.1"),
        ("BC5CDR disease+chem", "BC5CDR-disease/devel.tsv+BC5CDR-chem/devel.tsv", false, "–"),
        ("JNLPBA", "JNLPBA/devel.tsv", false, "27.4"),
        ("linnaeus", "linnaeus/devel.tsv", false, "4.9"),
        ("conll++", "conllpp/conllpp_dev.txt", true, "53.2"),
    ];
    println!(
        "| devel split | sentences | gold spans | phrases | exact P | exact R | exact F1 | covered R | mismatch (ref rule) | mismatch (strict) | reference mismatch |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let (mut words, mut secs) = (0usize, 0f64);
    for (name, file, conll, reference) in sets {
        let sents = match read_all(file, conll) {
            Ok(s) => s,
            Err(e) => {
                println!("| {name} | skipped: {e} |");
                continue;
            }
        };
        let opts = ChunkOptions { detached_punctuation: !conll };
        let mut score = Score::default();
        let mut pos_score = Score::default();
        let mut shown = 0;
        let t = Instant::now();
        let mut all = Vec::with_capacity(sents.len());
        for s in &sents {
            let w = words_of(&s.tokens);
            all.push(auto_phrases_with(&w, &opts));
        }
        secs += t.elapsed().as_secs_f64();
        for (s, pred) in sents.iter().zip(&all) {
            score.add(s, pred);
            if conll {
                pos_score.add(s, &noun_runs(&s.pos));
            }
            let missed = |g: &Range<usize>| {
                if uncovered {
                    !pred.iter().any(|p| p.words.start <= g.start && g.end <= p.words.end)
                } else {
                    !pred.iter().any(|p| &p.words == g)
                }
            };
            if dump.as_deref() == Some(name) && shown < limit && s.gold.iter().any(missed) {
                eprintln!("{}", show(s, pred));
                shown += 1;
            }
        }
        words += score.words;
        println!("{}", score.row(name, reference));
        if conll {
            println!("{}", pos_score.row("conll++, noun-run rule on gold POS", "–"));
        }
    }
    println!("\n{words} words chunked in {secs:.3} s ({:.0} words/s)", words as f64 / secs.max(1e-9));
    Ok(())
}
