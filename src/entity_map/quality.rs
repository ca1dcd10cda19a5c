//! Held-out quality of a map-building rule: hide a share of the seed terms that are single
//! vocabulary tokens, build from the rest, and count how often a hidden token's top group is
//! one of its true groups.

use super::build::{self, BuildOptions, groups_of, top_group};
use super::neighbours::Embeddings;
use super::seeds::SeedSet;
use super::taxonomy::Taxonomy;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Accuracy over several random splits.
#[derive(Debug, Clone, Serialize)]
pub struct QualityReport {
    pub rule: String,
    pub splits: usize,
    pub held_out_per_split: usize,
    pub mean: f64,
    pub std: f64,
    pub per_split: Vec<f64>,
    /// Accuracy per true group (first group of the term), pooled over splits.
    pub per_group: BTreeMap<String, GroupScore>,
    /// Share of held-out tokens whose true group is the most frequent group.
    pub majority_baseline: f64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct GroupScore {
    pub correct: usize,
    pub total: usize,
    pub accuracy: f64,
}

/// SplitMix64: a few lines of well-known, seedable pseudo-randomness for reproducible splits
/// (not worth a dependency).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
}

/// Runs `splits` seeded splits holding out `fraction` of the single-token seed terms.
pub fn held_out(
    vocab: &[String],
    emb: &Embeddings,
    seeds: &SeedSet,
    taxonomy: &Taxonomy,
    opts: &BuildOptions,
    splits: usize,
    fraction: f64,
) -> anyhow::Result<QualityReport> {
    let index: HashMap<&str, usize> = vocab.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect();
    let lowercase_vocab = !vocab.iter().any(|t| !t.starts_with('[') && t.chars().any(char::is_uppercase));
    // vocabulary token -> (true groups, seed terms that map to it)
    let mut cand: BTreeMap<usize, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for (term, labels) in seeds.terms() {
        let key = if lowercase_vocab { term.to_lowercase() } else { term.to_string() };
        let Some(&i) = index.get(key.as_str()) else { continue };
        if term.contains(' ') || term.chars().count() < 2 {
            continue;
        }
        let e = cand.entry(i).or_default();
        for g in groups_of(labels, taxonomy) {
            if !e.0.contains(&g) {
                e.0.push(g);
            }
        }
        e.1.push(term.to_string());
    }
    let tokens: Vec<usize> = cand.keys().copied().collect();
    anyhow::ensure!(!tokens.is_empty(), "no seed term is a single vocabulary token");
    let mut group_freq: HashMap<&str, usize> = HashMap::new();
    for (gs, _) in cand.values() {
        *group_freq.entry(gs[0].as_str()).or_default() += 1;
    }
    let majority = group_freq.iter().max_by_key(|(_, n)| **n).map(|(g, _)| g.to_string()).unwrap_or_default();
    let n_hold = ((tokens.len() as f64) * fraction).round().max(1.0) as usize;
    let mut per_split = Vec::new();
    let mut per_group: BTreeMap<String, GroupScore> = BTreeMap::new();
    let mut majority_hits = 0usize;
    for s in 0..splits {
        let mut rng = SplitMix(0x5eed_0000 + s as u64);
        let mut order = tokens.clone();
        for i in (1..order.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let held: Vec<usize> = order[..n_hold].to_vec();
        let drop: HashSet<String> = held.iter().flat_map(|i| cand[i].1.iter().cloned()).collect();
        let train = seeds.without(&drop);
        let (entries, _) = build::build(vocab, emb, &train, opts, &|_, _| {})?;
        let mut correct = 0usize;
        for i in &held {
            let (groups, _) = &cand[i];
            let ok = top_group(&entries[*i].1, taxonomy).is_some_and(|g| groups.contains(&g));
            correct += ok as usize;
            majority_hits += groups.contains(&majority) as usize;
            let gs = per_group.entry(groups[0].clone()).or_default();
            gs.total += 1;
            gs.correct += ok as usize;
        }
        per_split.push(correct as f64 / held.len() as f64);
    }
    for g in per_group.values_mut() {
        g.accuracy = g.correct as f64 / g.total.max(1) as f64;
    }
    let mean = per_split.iter().sum::<f64>() / per_split.len() as f64;
    let var = per_split.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / per_split.len() as f64;
    Ok(QualityReport {
        rule: opts.rule.name().to_string(),
        splits,
        held_out_per_split: n_hold,
        mean,
        std: var.sqrt(),
        per_split,
        per_group,
        majority_baseline: majority_hits as f64 / (n_hold * splits) as f64,
    })
}
