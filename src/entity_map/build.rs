//! Map building ("magnification", ALGORITHM.md section 5): spread seed labels over a
//! vocabulary through cosine neighbourhoods of the model's input word embeddings.
//!
//! Three rules:
//! * [`Rule::Knn`] (default, ours): every token gets a similarity-weighted vote of its `k`
//!   nearest *labelled* tokens (itself excluded); a seed token also keeps its own labels with
//!   a weight that dominates the vote. Counts are the vote in percent (own labels +100).
//! * [`Rule::V2`] (the reference's current rule): each token's neighbourhood (similarity
//!   above 0.2, rounded to 2 decimals, up to its 20th labelled member) adds its label histogram to
//!   every member, labelled or not.
//! * [`Rule::V1`] (the reference's rule when the benchmark ran): neighbourhoods of up to 21
//!   labelled non-sub-word tokens (similarity > 0.1) re-weight only the members' own seed
//!   labels.
//!
//! Output, per token in vocabulary order: the built counts sorted by count (ties in insertion
//! order); else the token's seed labels with zero counts; else `OTHER 0` — the reference's
//! labels.txt conventions.

use super::neighbours::{self, Embeddings, Index, SearchMode, recall_at_k};
use super::seeds::SeedSet;
use super::signature::Signature;
use super::space::Space;
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
    /// The rule called `name` (`knn`, `v2`, `v1`), as `--rule` takes it.
    pub fn from_name(name: &str) -> crate::Result<Self> {
        crate::error::from_value_name("rule", name)
    }

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
    /// The vectors neighbourhoods come from (left out of the settings JSON when default, so
    /// maps cached before spaces existed keep their keys).
    #[serde(skip_serializing_if = "Space::is_input")]
    pub space: Space,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self { rule: Rule::Knn, search: SearchMode::Auto, k: 20, min_similarity: 0.2, power: 3.0, recall_sample: 300, space: Space::Input }
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
    anyhow::ensure!(vocab.len() == emb.len(), "vocab mismatch: {} tokens but {} embedding rows", vocab.len(), emb.len());
    anyhow::ensure!(opts.k >= 1, "-k must be at least 1 (neighbours that vote for a token)");
    let start = std::time::Instant::now();
    let mut stats = BuildStats { rule: opts.rule.name().into(), vocab: vocab.len(), ..Default::default() };
    let labels = TokenLabels::new(vocab, seeds);
    let labelled: Vec<usize> = (0..vocab.len()).filter(|&i| labels.labelled[i]).collect();
    stats.labelled_tokens = labelled.len();
    let counts = match opts.rule {
        Rule::Knn => knn(vocab, emb, &labels, opts, &labelled, &mut stats, progress)?,
        Rule::V2 => v2(vocab, emb, &labels, opts, &labelled, &mut stats, progress)?,
        Rule::V1 => v1(vocab, emb, &labels, opts, &mut stats, progress)?,
    };
    stats.tokens_with_counts = counts.iter().filter(|c| !c.is_empty()).count();
    let entries = finish(vocab, seeds, &labels, counts)?;
    stats.seconds = start.elapsed().as_secs_f64();
    Ok((entries, stats))
}

/// A label as an index into [`TokenLabels::names`]: the build loops compare and count labels
/// millions of times, which as strings dominated the build.
type LabelId = u16;

/// Per-token label counts in insertion order.
type Counts = Vec<(LabelId, u64)>;

fn add(c: &mut Counts, l: LabelId, n: u64) {
    match c.iter_mut().find(|(x, _)| *x == l) {
        Some((_, m)) => *m += n,
        None => c.push((l, n)),
    }
}

/// Every vocabulary token's seed labels, resolved once, as label ids.
struct TokenLabels {
    names: Vec<Label>,
    /// The lower-cased token's labels (union over case variants), as the reference reads them.
    lower: Vec<Vec<LabelId>>,
    /// The token's own labels: its exact casing if listed, else the lower-case union.
    own: Vec<Vec<LabelId>>,
    /// Has a label other than `UNTAGGED_ENTITY`.
    labelled: Vec<bool>,
}

impl TokenLabels {
    fn new(vocab: &[String], seeds: &SeedSet) -> Self {
        let mut names: Vec<Label> = Vec::new();
        let mut ids = |ls: &[Label]| -> Vec<LabelId> {
            ls.iter()
                .map(|l| match names.iter().position(|x| x == l) {
                    Some(i) => i as LabelId,
                    None => {
                        names.push(l.clone());
                        (names.len() - 1) as LabelId
                    }
                })
                .collect()
        };
        let mut lower = Vec::with_capacity(vocab.len());
        let mut own = Vec::with_capacity(vocab.len());
        let mut labelled = Vec::with_capacity(vocab.len());
        for tok in vocab {
            let lo = seeds.lower(tok).unwrap_or(&[]);
            lower.push(ids(lo));
            own.push(ids(seeds.exact(tok).unwrap_or(lo)));
            labelled.push(seeds.is_labelled(tok));
        }
        Self { names, lower, own, labelled }
    }
}

/// Keys the reference skips: special tokens and single characters.
fn is_key(tok: &str) -> bool {
    !tok.starts_with('[') && tok.chars().count() >= 2
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
        stats.recall_at_k = Some(sampled_recall(&index, emb, queries, k, opts)?);
    }
    let mut out = Vec::with_capacity(queries.len());
    for chunk in queries.chunks(2048) {
        out.extend(index.search(chunk, k)?);
        progress(out.len(), queries.len());
    }
    Ok(out)
}

/// Recall@k of an approximate index against exact search on an even sample of the queries.
fn sampled_recall(index: &Index<'_>, emb: &Embeddings, queries: &[usize], k: usize, opts: &BuildOptions) -> anyhow::Result<f64> {
    let step = (queries.len() / opts.recall_sample.max(1)).max(1);
    let sample: Vec<usize> = queries.iter().step_by(step).copied().collect();
    recall_at_k(index, emb, &sample, k)
}

fn knn(
    vocab: &[String],
    emb: &Embeddings,
    labels: &TokenLabels,
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
        let mut votes: Vec<(LabelId, f64)> = Vec::new();
        for (t, sim) in neigh.into_iter().filter(|&(t, _)| t != q).take(opts.k) {
            if (sim as f64) <= opts.min_similarity {
                continue;
            }
            let ls = &labels.own[t];
            let w = (sim as f64).powf(opts.power) / ls.len().max(1) as f64;
            for &l in ls {
                match votes.iter_mut().find(|(x, _)| *x == l) {
                    Some((_, v)) => *v += w,
                    None => votes.push((l, w)),
                }
            }
        }
        let total: f64 = votes.iter().map(|(_, v)| v).sum();
        let c = &mut counts[q];
        for &l in &labels.own[q] {
            add(c, l, 100);
        }
        if total > 0.0 {
            for (l, v) in votes {
                let pct = (100.0 * v / total).round() as u64;
                if pct > 0 {
                    add(c, l, pct);
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
            rows.par_iter()
                .map(|row| neighbourhood(true, total, threshold, first_k, picks, counted, |k| index.top_of_row(row, k)))
                .collect()
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

/// The reference's v2 walk: candidates above 0.20, stop at the 20th labelled one.
const V2_THRESHOLD: i32 = 20;
const V2_PICKS: usize = 20;

fn v2(
    vocab: &[String],
    emb: &Embeddings,
    labels: &TokenLabels,
    opts: &BuildOptions,
    labelled: &[usize],
    stats: &mut BuildStats,
    progress: Progress<'_>,
) -> anyhow::Result<Vec<Counts>> {
    let is_key: Vec<bool> = vocab.iter().map(|t| is_key(t)).collect();
    let queries: Vec<usize> = (0..vocab.len()).filter(|&i| is_key[i]).collect();
    let exact = match opts.search {
        SearchMode::Exact => true,
        SearchMode::Hnsw => false,
        SearchMode::Auto => Index::prefers_exact(vocab.len(), queries.len()),
    };
    let hoods = if exact {
        stats.search = "exact".into();
        v2_exact_hoods(emb, labels, labelled, &is_key, progress)?
    } else {
        let index = Index::build(emb, (0..vocab.len()).collect(), SearchMode::Hnsw, queries.len())?;
        stats.search = "hnsw".into();
        stats.recall_at_k = Some(sampled_recall(&index, emb, &queries, 64, opts)?);
        let walked = neighbourhoods(&index, &queries, V2_THRESHOLD, 128, V2_PICKS, &|t| labels.labelled[t], progress)?;
        walked.into_iter().map(|hood| hood.into_iter().map(|t| t as u32).collect()).collect()
    };
    let mut counts = vec![Counts::new(); vocab.len()];
    for hood in hoods {
        let mut h = Counts::new();
        for &t in &hood {
            for &l in &labels.lower[t as usize] {
                add(&mut h, l, 1);
            }
        }
        if h.is_empty() {
            continue;
        }
        for &t in &hood {
            for &(l, n) in &h {
                add(&mut counts[t as usize], l, n);
            }
        }
    }
    Ok(counts)
}

/// Where a key's v2 walk ends: its `V2_PICKS`-th labelled candidate as (rounded similarity,
/// row); a candidate belongs to the neighbourhood if it sorts at or before it. A key with fewer
/// labelled candidates takes every candidate above the threshold.
#[derive(Clone, Copy)]
struct WalkEnd {
    hundredths: i32,
    row: usize,
}

impl WalkEnd {
    const OPEN: WalkEnd = WalkEnd { hundredths: V2_THRESHOLD + 1, row: usize::MAX };

    /// Candidates with fewer labelled than the walk needs end open; else at the last pick.
    fn of(picks: &[Candidate]) -> Self {
        match picks.get(V2_PICKS - 1) {
            Some(&(row, hundredths)) => WalkEnd { hundredths, row: row as usize },
            None => Self::OPEN,
        }
    }

    fn admits(self, row: usize, h: i32) -> bool {
        h > V2_THRESHOLD && (h > self.hundredths || (h == self.hundredths && row <= self.row))
    }

    /// A similarity below this cannot round to an admitted value (a cheap pre-test).
    fn floor(self) -> f32 {
        ((self.hundredths as f64 - 0.5) / 100.0 - 1e-6) as f32
    }
}

/// A neighbourhood candidate: (row, rounded similarity in hundredths). `u32` rows: the lists of a
/// whole vocabulary are held at once.
type Candidate = (u32, i32);

/// Sorts candidates the way the walk visits them: rounded similarity descending, then row.
fn walk_order(c: &mut [Candidate]) {
    c.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
}

/// Exact v2 neighbourhoods of every key (members in walk order), without the full similarity
/// matrix. A neighbourhood is every candidate sorting at or before the key's walk end, and the
/// end depends only on labelled candidates, so:
/// 1. labelled keys x labelled tokens fixes the labelled keys' ends;
/// 2. unlabelled tokens x labelled tokens fixes the unlabelled keys' ends and, read by column,
///    gives the labelled keys their unlabelled members;
/// 3. the upper triangle of unlabelled x unlabelled gives the unlabelled keys theirs.
///
/// About half the arithmetic of the full `vocab x vocab` product, and the walks never sort
/// more than each key's candidates.
fn v2_exact_hoods(
    emb: &Embeddings,
    labels: &TokenLabels,
    labelled: &[usize],
    is_key: &[bool],
    progress: Progress<'_>,
) -> anyhow::Result<Vec<Vec<u32>>> {
    use rayon::prelude::*;
    let n = emb.len();
    let unlabelled: Vec<usize> = (0..n).filter(|&i| !labels.labelled[i]).collect();
    let labelled_keys: Vec<usize> = labelled.iter().copied().filter(|&i| is_key[i]).collect();
    let total_rows = labelled_keys.len() + 2 * unlabelled.len();
    let mut done = 0usize;
    let mut cand: Vec<Vec<Candidate>> = vec![Vec::new(); n];
    let mut end = vec![WalkEnd::OPEN; n];
    let cols = emb.gather(labelled)?;
    // the best labelled candidates of a row of similarities with `labelled`
    let picks = |row: &[f32]| -> Vec<Candidate> {
        let mut c: Vec<Candidate> = labelled
            .iter()
            .zip(row)
            .filter(|&(_, &s)| s > 0.2)
            .map(|(&t, &s)| (t as u32, hundredths(s)))
            .filter(|&(_, h)| h > V2_THRESHOLD)
            .collect();
        walk_order(&mut c);
        c.truncate(V2_PICKS);
        c
    };

    // 1. labelled keys
    neighbours::for_each_block(emb, &labelled_keys, &cols, |first, sims| {
        let rows = &labelled_keys[first..(first + neighbours::BLOCK).min(labelled_keys.len())];
        let found: Vec<Vec<Candidate>> = sims.par_chunks(labelled.len().max(1)).map(picks).collect();
        for (&q, c) in rows.iter().zip(found) {
            end[q] = WalkEnd::of(&c);
            cand[q] = c;
        }
        done += rows.len();
        progress(done, total_rows);
        Ok(())
    })?;

    // 2. unlabelled tokens against labelled ones, both ways
    let col_floor: Vec<f32> = labelled.iter().map(|&t| if is_key[t] { end[t].floor() } else { f32::INFINITY }).collect();
    neighbours::for_each_block(emb, &unlabelled, &cols, |first, sims| {
        let rows = &unlabelled[first..(first + neighbours::BLOCK).min(unlabelled.len())];
        let width = labelled.len().max(1);
        let found: Vec<(Vec<Candidate>, Vec<usize>)> = sims
            .par_chunks(width)
            .zip(rows.par_iter())
            .map(|(row, &u)| {
                let own = if is_key[u] { picks(row) } else { Vec::new() };
                // labelled keys whose walk takes `u`
                let taken_by: Vec<usize> =
                    (0..labelled.len()).filter(|&j| row[j] >= col_floor[j] && end[labelled[j]].admits(u, hundredths(row[j]))).collect();
                (own, taken_by)
            })
            .collect();
        for (r, (&u, (own, taken_by))) in rows.iter().zip(found).enumerate() {
            if is_key[u] {
                end[u] = WalkEnd::of(&own);
                cand[u] = own;
            }
            for j in taken_by {
                cand[labelled[j]].push((u as u32, hundredths(sims[r * width + j])));
            }
        }
        done += rows.len();
        progress(done, total_rows);
        Ok(())
    })?;

    // 3. unlabelled x unlabelled, upper triangle: a pair can join either side's neighbourhood
    let floor: Vec<f32> = unlabelled.iter().map(|&u| if is_key[u] { end[u].floor() } else { f32::INFINITY }).collect();
    neighbours::for_each_upper_block(emb, &unlabelled, |first, width, sims| {
        let len = sims.len() / width.max(1);
        let hits: Vec<Vec<(usize, u32, i32)>> = (0..len)
            .into_par_iter()
            .map(|r| {
                let a = first + r;
                let (ua, fa) = (unlabelled[a], floor[a]);
                let row = &sims[r * width..(r + 1) * width];
                let mut out = Vec::new();
                for (c, &s) in row.iter().enumerate().skip(r) {
                    let b = first + c;
                    let fb = floor[b];
                    if s < fa && s < fb {
                        continue;
                    }
                    let (ub, h) = (unlabelled[b], hundredths(s));
                    if is_key[ua] && end[ua].admits(ub, h) {
                        out.push((ua, ub as u32, h));
                    }
                    if b != a && is_key[ub] && end[ub].admits(ua, h) {
                        out.push((ub, ua as u32, h));
                    }
                }
                out
            })
            .collect();
        for (k, t, h) in hits.into_iter().flatten() {
            cand[k].push((t, h));
        }
        done += len;
        progress(done, total_rows);
        Ok(())
    })?;

    Ok(cand
        .into_par_iter()
        .enumerate()
        .map(|(k, mut c)| {
            if !is_key[k] {
                return Vec::new();
            }
            walk_order(&mut c);
            c.into_iter().map(|(t, _)| t).collect()
        })
        .collect())
}

fn v1(
    vocab: &[String],
    emb: &Embeddings,
    labels: &TokenLabels,
    opts: &BuildOptions,
    stats: &mut BuildStats,
    progress: Progress<'_>,
) -> anyhow::Result<Vec<Counts>> {
    const PICKS: usize = 21;
    let targets: Vec<usize> = (0..vocab.len()).filter(|&i| !vocab[i].starts_with('#') && labels.labelled[i]).collect();
    let queries: Vec<usize> = (0..vocab.len()).filter(|&i| is_key(&vocab[i])).collect();
    let mut counts = vec![Counts::new(); vocab.len()];
    if targets.is_empty() {
        return Ok(counts);
    }
    let index = Index::build(emb, targets, opts.search, queries.len())?;
    stats.search = if index.is_exact() { "exact".into() } else { "hnsw".into() };
    if !index.is_exact() {
        stats.recall_at_k = Some(sampled_recall(&index, emb, &queries, PICKS, opts)?);
    }
    let hoods = neighbourhoods(&index, &queries, 10, 64, PICKS, &|_| true, progress)?;
    for hood in hoods {
        if hood.len() <= 10 {
            continue;
        }
        let mut h = Counts::new();
        for &t in &hood {
            for &l in &labels.lower[t] {
                add(&mut h, l, 1);
            }
        }
        for &t in &hood {
            let own = &labels.lower[t];
            for &(l, c) in &h {
                if own.contains(&l) {
                    add(&mut counts[t], l, c);
                }
            }
        }
    }
    Ok(counts)
}

/// labels.txt conventions for every token (see the module documentation).
fn finish(vocab: &[String], seeds: &SeedSet, labels: &TokenLabels, counts: Vec<Counts>) -> anyhow::Result<Vec<(String, Signature)>> {
    let mut out = Vec::with_capacity(vocab.len());
    for (tok, mut c) in vocab.iter().zip(counts) {
        let entries: Vec<(Label, u32)> = if !c.is_empty() {
            c.sort_by_key(|x| std::cmp::Reverse(x.1));
            c.into_iter().map(|(l, n)| (labels.names[l as usize].clone(), n.min(u32::MAX as u64) as u32)).collect()
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
    by_group
        .into_iter()
        .fold(None::<(String, u64)>, |best, (g, n)| match best {
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
