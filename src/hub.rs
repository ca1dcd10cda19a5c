//! Model resolution: a local directory, or a Hugging Face hub id found in (or downloaded into)
//! the standard cache.
//!
//! Cache location: `HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub` (the
//! layout `models--<org>--<name>/snapshots/<rev>/…` that Python tools share). `HF_HUB_OFFLINE=1`
//! forbids network access; `HF_ENDPOINT` points at a mirror.

use anyhow::{anyhow, bail};
use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo};
use std::path::{Path, PathBuf};

/// Files a BERT model directory needs; each inner list holds alternatives, first preferred.
const NEEDED: &[&[&str]] = &[&["config.json"], &["model.safetensors", "pytorch_model.bin"], &["tokenizer.json", "vocab.txt", "spm.model"]];
/// Fetched when present, never required.
const OPTIONAL: &[&str] = &["tokenizer_config.json", "vocab.txt"];

/// A model that is neither a local directory nor obtainable from the hub (offline and not
/// cached, or the download failed). A typed cause, so [`crate::Error::is_not_found`] can tell a
/// missing model from a broken one without reading messages.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotFound(pub String);

/// The cache directory in use, from the environment.
pub fn cache_dir() -> PathBuf {
    if let Ok(d) = std::env::var("HF_HUB_CACHE") {
        return PathBuf::from(d);
    }
    if let Ok(h) = std::env::var("HF_HOME") {
        return Path::new(&h).join("hub");
    }
    Cache::from_env().path().clone()
}

fn offline() -> bool {
    matches!(std::env::var("HF_HUB_OFFLINE").map(|v| v.to_ascii_lowercase()).as_deref(), Ok("1" | "true" | "yes" | "on"))
}

/// A directory holding the model's files: `spec` itself if it is a directory, else the cache
/// snapshot of hub id `spec` (downloading missing files unless offline, silently).
pub fn resolve(spec: &str) -> anyhow::Result<PathBuf> {
    resolve_with(spec, &crate::progress::Quiet)
}

/// [`resolve`], reporting each file's download to `progress`.
pub fn resolve_with(spec: &str, progress: &dyn crate::progress::Progress) -> anyhow::Result<PathBuf> {
    let path = Path::new(spec);
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    if path.exists() {
        bail!("{spec}: is a file; --model takes a model directory or a hub id");
    }
    if !is_hub_id(spec) {
        return Err(NotFound(format!("{spec:?}: no such model directory (and not a hub id like `bert-base-cased` or `org/name`)")).into());
    }
    let cache = Cache::new(cache_dir());
    let cached = cache.repo(Repo::model(spec.to_string()));
    let mut found: Vec<PathBuf> = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    for alts in NEEDED {
        match alts.iter().find_map(|f| cached.get(f)) {
            Some(p) => found.push(p),
            None => missing.push(alts.join(" or ")),
        }
    }
    if missing.is_empty() {
        return snapshot_dir(&found[0]);
    }
    if offline() {
        return Err(NotFound(format!(
            "model {spec}: no local directory of that name, and not complete in the Hugging Face cache {} \
             with HF_HUB_OFFLINE set; missing: {}. \
             Download it where the hub is reachable (e.g. `huggingface-cli download {spec}`) and copy the cache, \
             or give a local model directory with the files instead",
            cache_dir().display(),
            missing.join(", ")
        ))
        .into());
    }
    download(spec, &cache, progress).map_err(|e| {
        anyhow::Error::new(NotFound(format!(
            "model {spec}: not in the Hugging Face cache {} (missing: {}) and downloading failed: {e:#}. \
             Check the network or HF_ENDPOINT, or give a local model directory with the files instead",
            cache_dir().display(),
            missing.join(", ")
        )))
    })
}

/// Hub repository ids: `name` or `org/name`, each part of letters, digits, `-`, `_` and `.`,
/// not starting with `.` or `-` (so paths like `./x`, `~/x` or `a/b/c` are not taken for ids).
fn is_hub_id(spec: &str) -> bool {
    let parts: Vec<&str> = spec.split('/').collect();
    parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty() && !p.starts_with(['.', '-']) && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

/// Forwards hf-hub's per-file download progress (bytes) to a [`crate::progress::Progress`].
struct Download<'a> {
    progress: &'a dyn crate::progress::Progress,
    done: u64,
}

impl hf_hub::api::Progress for Download<'_> {
    fn init(&mut self, size: usize, filename: &str) {
        self.done = 0;
        self.progress.start(&format!("downloading {filename}"), Some(size as u64));
    }

    fn update(&mut self, size: usize) {
        self.done += size as u64;
        self.progress.at(self.done);
    }

    fn finish(&mut self) {
        self.progress.finish();
    }
}

fn download(spec: &str, cache: &Cache, progress: &dyn crate::progress::Progress) -> anyhow::Result<PathBuf> {
    let mut builder = ApiBuilder::from_cache(cache.clone()).with_progress(false);
    if let Ok(endpoint) = std::env::var("HF_ENDPOINT") {
        builder = builder.with_endpoint(endpoint);
    }
    let api = builder.build()?;
    let repo = api.model(spec.to_string());
    let cached = cache.repo(Repo::model(spec.to_string()));
    // the cached file, else a download reported to `progress`
    let get = |f: &str| match cached.get(f) {
        Some(p) => Ok(p),
        None => repo.download_with_progress(f, Download { progress, done: 0 }),
    };
    let mut first = None;
    for alts in NEEDED {
        let mut last_err = None;
        let mut got = None;
        for f in *alts {
            match get(f) {
                Ok(p) => {
                    got = Some(p);
                    break;
                }
                Err(e) => last_err = Some(anyhow!("{f}: {e}")),
            }
        }
        match got {
            Some(p) => {
                first.get_or_insert(p);
            }
            None => return Err(last_err.unwrap_or_else(|| anyhow!("no file"))),
        }
    }
    for f in OPTIONAL {
        let _ = get(f); // absent optional files are fine
    }
    snapshot_dir(&first.ok_or_else(|| anyhow!("nothing downloaded"))?)
}

fn snapshot_dir(file: &Path) -> anyhow::Result<PathBuf> {
    file.parent().map(Path::to_path_buf).ok_or_else(|| anyhow!("{}: no parent directory", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_ids_and_paths_are_told_apart() {
        for id in ["bert-base-cased", "ajitrajasekharan/biomedical", "Charangan/MedBERT", "a_b/c.d-1"] {
            assert!(is_hub_id(id), "{id}");
        }
        for path in ["", "org/", "/abs/dir", "./rel", "../up", "~/x", "a/b/c", "dir\\x", ".hidden", "org/-x", "name with space"] {
            assert!(!is_hub_id(path), "{path:?}");
        }
        let err = resolve("./no/such/dir").unwrap_err();
        assert!(err.to_string().contains("no such model directory"), "{err}");
        assert!(err.is::<NotFound>());
    }
}
