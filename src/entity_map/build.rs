//! Map building ("magnification", ALGORITHM.md section 5): spread seed labels over a
//! vocabulary through cosine neighbourhoods of the model's input word embeddings.
//!
//! Three rules:
//! * [`Rule::Knn`] (default, ours): every token gets a similarity-weighted vote of its `k`
//!   nearest *labelled* tokens (itself excluded); a seed token also keeps its own labels with
//!   a weight that dominates the vote. Counts are the vote in percent (own labels +100).
//! * [`Rule::V2`] (the reference's current rule): each token's neighbourhood (similarity
//!   > 0.2, rounded to 2 decimals, up to its 20th labelled member) adds its label histogram to
//!   every member, labelled or not.
//! * [`Rule::V1`] (the reference's rule when the benchmark ran): neighbourhoods of up to 21
//!   labelled non-sub-word tokens (similarity > 0.1) re-weight only the members' own seed
//!   labels.
//!
//! Output, per token in vocabulary order: the built counts sorted by count (ties in insertion
//! order); else the token's seed labels with zero counts; else `OTHER 0` — the reference's
//! labels.txt conventions.

use super::neighbours::{Embeddings, Index, SearchMode, recall_at_k};
use super::seeds::SeedSet;
use super::signature::Signature;
use super::taxonomy::{Label, OTHER};
use serde::Serialize;

/// The magnification rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    Knn,
    V2,
    V1,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::Knn => "knn",
            Rule::V2 => "v2",
            Rule::V1 => "v1",
        }
    }
}

/// Build parameters.
#[derive(Debug, Clone, Serialize)]
pub struct BuildOptions {
    pub rule: Rule,
    pub search: SearchMode,
    /// Neighbours voting per token (knn).
    pub k: usize,
    /// Minimum cosine similarity of a voting neighbour (knn).
    pub min_similarity: f64,
    /// Vote weight = similarity ^ power (knn).
    pub power: f64,
    /// Queries in the recall@k check of approximate search.
    pub recall_sample: usize,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self { rule: Rule::Knn, search: SearchMode::Auto, k: 20, min_similarity: 0.2, power: 3.0, recall_sample: 300 }
    }
}

/// What happened during a build (stored in the map's metadata and printed).
#[derive(Debug, Clone, Serialize, Default)]
pub struct BuildStats {
    pub rule: String,
    pub search: String,
    pub vocab: usize,
    pub labelled_tokens: usize,
    pub tokens_with_counts: usize,
    /// Recall@k of HNSW against exact search on a sample; `None` when search was exact.
    pub recall_at_k: Option<f64>,
    pub seconds: f64,
}

/// Reports progress: (done, total).
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Builds signatures for every vocabulary token (see the module documentation).
pub fn build(
    vocab: &[String],
    emb: &Embeddings,
    seeds: &SeedSet,
    opts: &BuildOptions,
    progress: Progress<'_>,
) -> anyhow::Result<(Vec<(String, Signature)>, BuildStats)> {
    anyhow::ensure!(
        vocab.len() == emb.len(),
        "vocab mismatch: {} tokens but {} embedding rows",
        vocab.len(),
        emb.len()
    );
    let start = std::time::Instant::now();
    let mut stats = BuildStats { rule: opts.rule.name().into(), vocab: vocab.len(), ..Default::default() };
    let labelled: Vec<usize> = (0..vocab.len()).filter(|&i| seeds.is_labelled(&vocab[i])).collect();
    stats.labelled_tokens = labelled.len();
    let counts = match opts.rule {
        Rule::Knn => knn(vocab, emb, seeds, opts, &labelled, &mut stats, progress)?,
        Rule::V2 => v2(vocab, emb, seeds, opts, &labelled, &mut stats, progress)?,
        Rule::V1 => v1(vocab, emb, seeds, opts, &mut stats, progress)?,
    };
    stats.tokens_with_counts = counts.iter().filter(|c| !c.is_empty()).count();
    let entries = finish(vocab, seeds, counts)?;
    stats.seconds = start.elapsed().as_secs_f64();
    Ok((entries, stats))
}

/// Per-token label counts in insertion order.
type Counts = Vec<(Label, u64)>;

fn add(c: &mut Counts, l: &Label, n: u64) {
    match c.iter_mut().find(|(x, _)| x == l) {
        Some((_, m)) => *m += n,
        None => c.push((l.clone(), n)),
    }
}

/// Keys the reference skips: special tokens and single characters.
fn is_key(tok: &str) -> bool {
    !tok.starts_with('[') && tok.chars().count() >= 2
}

/// Seed labels of a vocabulary token: its exact casing if listed, else the lower-case union.
fn labels_of<'s>(seeds: &'s SeedSet, tok: &str) -> &'s [Label] {
    seeds.exact(tok).or_else(|| seeds.lower(tok)).unwrap_or(&[])
}

fn search_with_recall(
    emb: &Embeddings,
    targets: Vec<usize>,
    queries: &[usize],
    k: usize,
    opts: &BuildOptions,
    stats: &mut BuildStats,
    progress: Progress<'_>,
) -> anyhow::Result<Vec<Vec<(usize, f32)>>> {
    let index = Index::build(emb, targets, opts.search, queries.len())?;
    stats.search = if index.is_exact() { "exact".into() } else { "hnsw".into() };
    if !index.is_exact() {
        let step = (queries.len() / opts.recall_sample.max(1)).max(1);
        let sample: Vec<usize> = queries.iter().step_by(step).copied().collect();
        stats.recall_at_k = Some(recall_at_k(&index, emb, &sample, k)?);
    }
    let mut out = Vec::with_capacity(queries.len());
    for chunk in queries.chunks(2048) {
        out.extend(index.search(chunk, k)?);
        progress(out.len(), queries.len());
    }
    Ok(out)
}

fn knn(
    vocab: &[String],
    emb: &Embeddings,
    seeds: &SeedSet,
    opts: &BuildOptions,
    labelled: &[usize],
    stats: &mut BuildStats,
    progress: Progress<'_>,
) -> anyhow::Result<Vec<Counts>> {
    let targets: Vec<usize> = labelled.iter().copied().filter(|&i| is_key(&vocab[i]) && !vocab[i].starts_with("##")).collect();
    let queries: Vec<usize> = (0..vocab.len()).filter(|&i| is_key(&vocab[i])).collect();
    let mut counts = vec![Counts::new(); vocab.len()];
    if targets.is_empty() {
        return Ok(counts);
    }
    let found = search_with_recall(emb, targets, &queries, opts.k + 1, opts, stats, progress)?;
    for (&q, neigh) in queries.iter().zip(found) {
        let mut votes: Vec<(Label, f64)> = Vec::new();
        for (t, sim) in neigh.into_iter().filter(|&(t, _)| t != q).take(opts.k) {
            if (sim as f64) <= opts.min_similarity {
                continue;
            }
            let ls = labels_of(seeds, &vocab[t]);
            let w = (sim as f64).powf(opts.power) / ls.len().max(1) as f64;
            for l in ls {
                match votes.iter_mut().find(|(x, _)| x == l) {
                    Some((_, v)) => *v += w,
                    None => votes.push((l.clone(), w)),
                }
            }
        }
        let total: f64 = votes.iter().map(|(_, v)| v).sum();
        let c = &mut counts[q];
        for l in labels_of(seeds, &vocab[q]) {
            add(c, l, 100);
        }
        if total > 0.0 {
            for (l, v) in votes {
                let pct = (100.0 * v / total).round() as u64;
                if pct > 0 {
                    add(c, &l, pct);
                }
            }
        }
    }
    Ok(counts)
}

/// Similarity rounded to 2 decimals the way numpy rounds (`rint(x * 100) / 100`), compared
/// as hundredths.
fn hundredths(sim: f32) -> i32 {
    ((sim as f64) * 100.0).round_ties_even() as i32
}

/// The neighbourhood of `q`: candidates above `threshold` hundredths, sorted by rounded
/// similarity then row, up to and including the `picks`-th one that `counted` accepts. The
/// search widens until that walk ends strictly inside the fetched candidates (so nothing
/// unfetched could sort before its end) or nothing more can pass the threshold.
fn neighbourhood(
    exact: bool,
    total: usize,
    threshold: i32,
    first_k: usize,
    picks: usize,
    counted: &(dyn Fn(usize) -> bool + Sync),
    fetch: impl Fn(usize) -> Vec<(usize, f32)>,
) -> Vec<usize> {
    let mut k = first_k.min(total);
    loop {
        let found = fetch(k);
        let exhausted = k >= total;
        let mut cand: Vec<(usize, i32)> = found.iter().map(|&(t, s)| (t, hundredths(s))).collect();
        let last = cand.last().map(|c| c.1).unwrap_or(i32::MIN);
        cand.retain(|c| c.1 > threshold);
        cand.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut hood = Vec::new();
        let mut seen = 0;
        let mut end_sim = None;
        for &(t, s) in &cand {
            hood.push(t);
            if counted(t) {
                seen += 1;
                if seen >= picks {
                    end_sim = Some(s);
                    break;
                }
            }
        }
        // exact search: complete only if nothing unfetched can tie with the end; approximate
        // search is approximate anyway, so reaching the end inside the candidates suffices
        let complete = if exact { end_sim.is_some_and(|s| s > last) } else { end_sim.is_some() };
        if complete || exhausted || last <= threshold {
            return hood;
        }
        k = (k * 2).min(total);
    }
}

/// HNSW proposes at most this many candidates; wider walks use an exact row.
const HNSW_MAX_K: usize = 512;

/// Neighbourhoods of all `queries`. Exact indexes compute each block's similarity rows with one
/// matrix product and walk them; HNSW indexes search per query and fall back to an exact row
/// when a walk needs more than [`HNSW_MAX_K`] candidates.
fn neighbourhoods(
    index: &Index<'_>,
    queries: &[usize],
    threshold: i32,
    first_k: usize,
    picks: usize,
    counted: &(dyn Fn(usize) -> bool + Sync),
    progress: Progress<'_>,
) -> anyhow::Result<Vec<Vec<usize>>> {
    use rayon::prelude::*;
    let total = index.targets().len();
    let mut out = Vec::with_capacity(queries.len());
    for chunk in queries.chunks(256) {
        let hoods: Vec<Vec<usize>> = if index.is_exact() {
            let rows = index.rows(chunk)?;
            rows.par_iter().map(|row| neighbourhood(true, total, threshold, first_k, picks, counted, |k| index.top_of_row(row, k))).collect()
        } else {
            chunk
                .par_iter()
                .map(|&q| {
                    neighbourhood(false, total, threshold, first_k, picks, counted, |k| {
                        if k <= HNSW_MAX_K {
                            index.search(&[q], k).map(|mut v| v.remove(0)).unwrap_or_default()
                        } else {
                            index.top_of_row(&index.exact_row(q), k)
                        }
                    })
                })
                .collect()
        };
        out.extend(hoods);
        progress(out.len(), queries.len());
    }
    Ok(out)
}

fn v2(
    vocab: &[String],
    emb: &Embeddings,
    seeds: &SeedSet,
    opts: &BuildOptions,
    labelled: &[usize],
    stats: &mut BuildStats,
    progress: Progress<'_>,
) -> anyhow::Result<Vec<Counts>> {
    const PICKS: usize = 20;
    let is_labelled: Vec<bool> = {
        let mut v = vec![false; vocab.len()];
        labelled.iter().for_each(|&i| v[i] = true);
        v
    };
    let all: Vec<usize> = (0..vocab.len()).collect();
    let queries: Vec<usize> = (0..vocab.len()).filter(|&i| is_key(&vocab[i])).collect();
    let index = Index::build(emb, all, opts.search, queries.len())?;
    stats.search = if index.is_exact() { "exact".into() } else { "hnsw".into() };
    if !index.is_exact() {
        let step = (queries.len() / opts.recall_sample.max(1)).max(1);
        let sample: Vec<usize> = queries.iter().step_by(step).copied().collect();
        stats.recall_at_k = Some(recall_at_k(&index, emb, &sample, 64)?);
    }
    let hoods = neighbourhoods(&index, &queries, 20, 128, PICKS, &|t| is_labelled[t], progress)?;
    let mut counts = vec![Counts::new(); vocab.len()];
    for hood in hoods {
        let mut h = Counts::new();
        for &t in &hood {
            for l in seeds.lower(&vocab[t]).unwrap_or(&[]) {
                add(&mut h, l, 1);
            }
        }
        if h.is_empty() {
            continue;
        }
        for &t in &hood {
            for (l, n) in &h {
                add(&mut counts[t], l, *n);
            }
        }
    }
    Ok(counts)
}

fn v1(
    vocab: &[String],
    emb: &Embeddings,
    seeds: &SeedSet,
    opts: &BuildOptions,
    stats: &mut BuildStats,
    progress: Progress<'_>,
) -> anyhow::Result<Vec<Counts>> {
    const PICKS: usize = 21;
    let targets: Vec<usize> =
        (0..vocab.len()).filter(|&i| !vocab[i].starts_with('#') && seeds.is_labelled(&vocab[i])).collect();
    let queries: Vec<usize> = (0..vocab.len()).filter(|&i| is_key(&vocab[i])).collect();
    let mut counts = vec![Counts::new(); vocab.len()];
    if targets.is_empty() {
        return Ok(counts);
    }
    let index = Index::build(emb, targets, opts.search, queries.len())?;
    stats.search = if index.is_exact() { "exact".into() } else { "hnsw".into() };
    let hoods = neighbourhoods(&index, &queries, 10, 64, PICKS, &|_| true, progress)?;
    for hood in hoods {
        if hood.len() <= 10 {
            continue;
        }
        let mut h = Counts::new();
        for &t in &hood {
            for l in seeds.lower(&vocab[t]).unwrap_or(&[]) {
                add(&mut h, l, 1);
            }
        }
        for &t in &hood {
            let own = seeds.lower(&vocab[t]).unwrap_or(&[]);
            for (l, c) in &h {
                if own.contains(l) {
                    add(&mut counts[t], l, *c);
                }
            }
        }
    }
    Ok(counts)
}

/// labels.txt conventions for every token (see the module documentation).
fn finish(vocab: &[String], seeds: &SeedSet, counts: Vec<Counts>) -> anyhow::Result<Vec<(String, Signature)>> {
    let mut out = Vec::with_capacity(vocab.len());
    for (tok, mut c) in vocab.iter().zip(counts) {
        let entries: Vec<(Label, u32)> = if !c.is_empty() {
            c.sort_by(|a, b| b.1.cmp(&a.1));
            c.into_iter().map(|(l, n)| (l, n.min(u32::MAX as u64) as u32)).collect()
        } else if let Some(ls) = seeds.lower(tok).filter(|ls| !ls.is_empty()) {
            ls.iter().map(|l| (l.clone(), 0)).collect()
        } else {
            vec![(Label::new(OTHER), 0)]
        };
        out.push((tok.clone(), Signature::new(entries).map_err(|e| anyhow::anyhow!("token {tok:?}: {e}"))?));
    }
    Ok(out)
}

/// Top group of a signature: counts summed per group (OTHER and UNTAGGED_ENTITY ignored).
pub fn top_group(sig: &Signature, taxonomy: &super::Taxonomy) -> Option<String> {
    let mut by_group: Vec<(String, u64)> = Vec::new();
    for (l, c) in sig.iter() {
        if c == 0 || l.as_str() == OTHER || l.as_str() == super::taxonomy::UNTAGGED_ENTITY {
            continue;
        }
        let Ok(g) = taxonomy.group_of(l.as_str()) else { continue };
        match by_group.iter_mut().find(|(x, _)| x == g.as_str()) {
            Some((_, n)) => *n += c as u64,
            None => by_group.push((g.as_str().to_string(), c as u64)),
        }
    }
    by_group.into_iter().fold(None::<(String, u64)>, |best, (g, n)| match best {
        Some((bg, bn)) if bn >= n => Some((bg, bn)),
        _ => Some((g, n)),
    })
    .map(|(g, _)| g)
}

/// Seed labels grouped by group, for held-out evaluation.
pub fn groups_of(labels: &[Label], taxonomy: &super::Taxonomy) -> Vec<String> {
    let mut v: Vec<String> = labels.iter().filter_map(|l| taxonomy.group_of(l.as_str()).ok()).map(|g| g.as_str().to_string()).collect();
    v.dedup();
    v
}
