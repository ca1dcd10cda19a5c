//! Maps per model, built on first use and cached.
//!
//! A model's map lives under `<cache>/maps/<model>/<vocab hash>-<settings hash>/` (see
//! [`super::store::cache_root`]); the settings hash covers the input embeddings, the seed
//! terms, the rule and its parameters and the taxonomy, so changing any of them builds a new
//! map and never reuses a stale one.

use super::build::{self, BuildOptions, BuildStats};
use super::neighbours::Embeddings;
use super::seeds::{Fnv, SeedSet};
use super::space::{self, Space};
use super::store::{EntityMap, FORMAT_VERSION, MapMeta, cache_root, vocab_hash};
use super::taxonomy::Taxonomy;
use crate::mlm::{MaskedLm, Precision};
use crate::progress::{self, Progress};
use candle_core::Tensor;
use std::path::{Path, PathBuf};

/// The cache directory of the map for `lm` built from `seeds` with `opts`. Keyed by what the
/// map depends on: the vocabulary, a fingerprint of the input embeddings (so a new snapshot or
/// a fine-tuned model with the same vocabulary never reuses a map), the seeds, the rule and the
/// taxonomy. The model part of the path is only for people reading the cache: a hub id, or a
/// local directory's name however it was spelled.
pub fn map_dir(lm: &MaskedLm, seeds: &SeedSet, opts: &BuildOptions, taxonomy: &Taxonomy) -> PathBuf {
    let mut h = Fnv::new();
    h.write(&seeds.content_hash().to_le_bytes());
    h.write(serde_json::to_string(opts).unwrap_or_default().as_bytes());
    h.write(taxonomy.name().as_bytes());
    h.write(&FORMAT_VERSION.to_le_bytes());
    h.write(&embedding_fingerprint(lm.word_embeddings()).to_le_bytes());
    if opts.space != Space::Input && lm.precision() != Precision::Fp32 {
        // a contextual space runs the model, whose outputs change with its precision
        h.write(lm.precision().to_string().as_bytes());
    }
    let shown = if lm.dir().is_dir() && Path::new(lm.name()).is_dir() {
        lm.dir().canonicalize().ok().and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
    } else {
        None
    };
    let model: String = shown
        .as_deref()
        .unwrap_or(lm.name())
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' { c } else { '_' })
        .collect();
    cache_root().join("maps").join(model.trim_start_matches(['.', '_'])).join(format!(
        "{}-{:016x}",
        vocab_hash(lm.tokenizer().vocab()),
        h.finish()
    ))
}

/// A hash of up to 256 evenly spaced rows of the embedding matrix: cheap at every start, and
/// different for any two real models. The values are hashed rounded to bf16, so a model held
/// in bf16 ([`Precision::Bf16`]) finds the map built from its fp32 embeddings.
fn embedding_fingerprint(emb: &Tensor) -> u64 {
    let rows = emb.dims().first().copied().unwrap_or(0);
    let picked: Vec<u32> = (0..rows).step_by((rows / 256).max(1)).map(|r| r as u32).collect();
    let mut h = Fnv::new();
    let values = Tensor::new(picked.as_slice(), emb.device())
        .and_then(|ids| emb.index_select(&ids, 0))
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_dtype(candle_core::DType::BF16))
        .and_then(|t| t.to_vec1::<half::bf16>());
    match values {
        Ok(v) => v.iter().for_each(|x| h.write(&x.to_bits().to_le_bytes())),
        Err(_) => h.write(b"unreadable"),
    }
    h.finish()
}

/// Builds the map of `lm` (not cached) in `opts.space`, reporting to `progress`.
pub fn build_for_model(
    lm: &MaskedLm,
    seeds: &SeedSet,
    opts: &BuildOptions,
    taxonomy: &Taxonomy,
    progress: &dyn Progress,
) -> anyhow::Result<(EntityMap, BuildStats)> {
    let vocab = lm.tokenizer().vocab().len();
    let emb = if opts.space.is_input() {
        space::embeddings(lm, opts.space, &|_, _| {})?
    } else {
        progress::step(progress, "embedding the vocabulary", Some(vocab as u64), || {
            space::embeddings(lm, opts.space, &|done, _| progress.at(done as u64))
        })?
    };
    build_with_embeddings(lm, &emb, seeds, opts, taxonomy, progress)
}

/// Builds the map of `lm` from vectors already computed (benchmarks compare spaces and rules
/// without recomputing the contextual pass).
pub fn build_with_embeddings(
    lm: &MaskedLm,
    emb: &Embeddings,
    seeds: &SeedSet,
    opts: &BuildOptions,
    taxonomy: &Taxonomy,
    progress: &dyn Progress,
) -> anyhow::Result<(EntityMap, BuildStats)> {
    let vocab = lm.tokenizer().vocab();
    let report = |done: usize, _total: usize| progress.at(done as u64);
    let (entries, stats) =
        progress::step(progress, "building map", Some(vocab.len() as u64), || build::build(vocab, emb, seeds, opts, &report))?;
    let meta = MapMeta {
        format: FORMAT_VERSION,
        source: opts.rule.name().to_string(),
        model: Some(lm.name().to_string()),
        vocab_size: 0,
        vocab_hash: String::new(),
        seeds_hash: Some(format!("{:016x}", seeds.content_hash())),
        taxonomy: taxonomy.name().to_string(),
        stats: serde_json::json!({ "build": &stats, "options": opts }),
    };
    Ok((EntityMap::from_entries(entries, meta, taxonomy)?, stats))
}

/// The cached map of `lm`, built and saved first if absent.
pub fn ensure_map(
    lm: &MaskedLm,
    seeds: &SeedSet,
    opts: &BuildOptions,
    taxonomy: &Taxonomy,
    progress: &dyn Progress,
) -> anyhow::Result<EntityMap> {
    let dir = map_dir(lm, seeds, opts, taxonomy);
    if dir.join("meta.json").is_file()
        && let Ok(m) = EntityMap::open(&dir)
        && m.check_vocab(lm.tokenizer().vocab(), lm.name()).is_ok()
    {
        return Ok(m);
    }
    progress.note(&format!("building the descriptor map of {} (once; cached in {})", lm.name(), dir.display()));
    let (map, _) = build_for_model(lm, seeds, opts, taxonomy, progress)?;
    map.save(&dir)?;
    EntityMap::open(&dir)
}
