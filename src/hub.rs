//! Model resolution: a local directory, or a Hugging Face hub id found in (or downloaded into)
//! the standard cache.
//!
//! Cache location: `HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub` (the
//! layout `models--<org>--<name>/snapshots/<rev>/…` that Python tools share). `HF_HUB_OFFLINE=1`
//! forbids network access; `HF_ENDPOINT` points at a mirror.
//!
//! Downloads go through hf-hub, which checks neither size nor content; each file is checked here
//! against the hub's announced size (and SHA-256 for LFS files) before it counts as cached.

use anyhow::{anyhow, bail};
use hf_hub::api::sync::{ApiBuilder, ApiError};
use hf_hub::{Cache, Repo};
use sha2::{Digest, Sha256};
use std::cell::Cell;
use std::io::Read;
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
    // a download failure stays a `NotFound` (the model could not be had), its message one line
    // naming the file and the cause
    download(spec, &cache, progress).map_err(|e| anyhow::Error::new(NotFound(format!("model {spec}: {e}"))))
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

/// Forwards hf-hub's per-file download progress (bytes) to a [`crate::progress::Progress`], and
/// keeps the size the hub announced, which hf-hub itself never checks the finished file against.
struct Download<'a> {
    progress: &'a dyn crate::progress::Progress,
    done: u64,
    announced: &'a Cell<Option<u64>>,
}

impl hf_hub::api::Progress for Download<'_> {
    fn init(&mut self, size: usize, filename: &str) {
        self.done = 0;
        self.announced.set(Some(size as u64));
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

/// Attempts per file. A cut connection, a short body or a checksum mismatch is tried again (hf-hub
/// resumes from the `.part` file it keeps); an HTTP status is reported at once.
const ATTEMPTS: u32 = 3;

/// Why one file could not be fetched; [`Failure::sentence`] makes the one-line message.
#[derive(Debug)]
enum Failure {
    /// HTTP 404: the repository has no such file (an alternative or an optional file may follow).
    Absent,
    /// Any other HTTP status.
    Status(u16),
    /// The connection failed or was cut (transport or I/O error); worth another attempt.
    Broken(String),
    /// The finished file is shorter or longer than the hub announced.
    Incomplete { got: u64, want: u64 },
    /// The finished file's SHA-256 differs from the etag the hub gave for it.
    Corrupt { got: String, want: String },
    /// Anything else (a header missing, a lock held, a cache directory not writable).
    Other(String),
}

impl Failure {
    fn retry(&self) -> bool {
        matches!(self, Failure::Broken(_) | Failure::Incomplete { .. } | Failure::Corrupt { .. })
    }

    fn sentence(&self, file: &str, endpoint: &str) -> String {
        match self {
            Failure::Absent => format!("the hub at {endpoint} has no {file} for it (HTTP 404)"),
            Failure::Status(code) => {
                let hint = match code {
                    401 | 403 => "; the repository may be private or gated (a token in HF_HOME/token is sent when present)",
                    _ => "; run again later to retry, or check HF_ENDPOINT",
                };
                format!("download of {file} failed: the hub at {endpoint} answered HTTP {code}{hint}")
            }
            Failure::Broken(cause) => format!(
                "download of {file} failed after {ATTEMPTS} attempts: {cause}; check the network or HF_ENDPOINT ({endpoint}) \
                 and run again to retry (a partial download is resumed)"
            ),
            Failure::Incomplete { got, want } => {
                format!("download of {file} was incomplete (got {got} of {want} bytes); run again to retry")
            }
            Failure::Corrupt { got, want } => {
                format!("download of {file} was corrupt (sha256 {got}, the hub announced {want}); run again to retry")
            }
            Failure::Other(cause) => format!("download of {file} failed: {cause}"),
        }
    }
}

/// Sorts an hf-hub error into a [`Failure`], on one line.
fn classify(e: ApiError) -> Failure {
    let line = |s: String| s.split_whitespace().collect::<Vec<_>>().join(" ");
    match e {
        ApiError::RequestError(e) => {
            let text = line(e.to_string());
            match e.into_response() {
                Some(r) if r.status() == 404 => Failure::Absent,
                Some(r) => Failure::Status(r.status()),
                None => Failure::Broken(text),
            }
        }
        ApiError::IoError(e) if !matches!(e.kind(), std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::StorageFull) => {
            Failure::Broken(line(e.to_string()))
        }
        ApiError::MissingHeader(h) | ApiError::InvalidHeader(h) => {
            Failure::Other(format!("the answer has no valid `{h}` header (is HF_ENDPOINT a Hugging Face hub?)"))
        }
        ApiError::InvalidResume => Failure::Other(
            "the partial download (a .part file in the cache's blobs directory) is longer than the file; delete it and run again".into(),
        ),
        ApiError::LockAcquisition(p) => {
            Failure::Other(format!("another process holds {}; wait for its download to end and run again", p.display()))
        }
        other => Failure::Other(line(other.to_string())),
    }
}

/// Checks a finished download against what the hub announced: its size, and its SHA-256 when the
/// etag is one (64 hex digits, as for LFS files). On a mismatch removes the blob and the snapshot
/// link, so that no later run takes the file for a good one.
fn verify(pointer: &Path, announced: Option<u64>) -> Result<(), Failure> {
    let io = |e: std::io::Error| Failure::Other(format!("{}: {e}", pointer.display()));
    let blob = std::fs::canonicalize(pointer).map_err(io)?;
    let etag = blob.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    let got = std::fs::metadata(&blob).map_err(io)?.len();
    let bad = match announced {
        Some(want) if want != got => Some(Failure::Incomplete { got, want }),
        _ if etag.len() == 64 && etag.bytes().all(|b| b.is_ascii_hexdigit()) => {
            let sum = sha256_file(&blob).map_err(io)?;
            (!sum.eq_ignore_ascii_case(&etag)).then(|| Failure::Corrupt { got: sum, want: etag.to_ascii_lowercase() })
        }
        _ => None,
    };
    match bad {
        None => Ok(()),
        Some(f) => {
            let _ = std::fs::remove_file(pointer);
            let _ = std::fs::remove_file(&blob);
            Err(f)
        }
    }
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match file.read(&mut buf)? {
            0 => break,
            n => hash.update(&buf[..n]),
        }
    }
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Removes `file`'s snapshot link if it dangles (its blob was deleted): hf-hub would neither use
/// it nor replace it, failing every download of the file with "File exists".
fn drop_dangling(cached: &hf_hub::CacheRepo, repo_dir: &Path, file: &str) {
    if cached.get(file).is_some() {
        return;
    }
    let Ok(commit) = std::fs::read_to_string(repo_dir.join("refs/main")) else { return };
    let link = repo_dir.join("snapshots").join(commit.trim()).join(file);
    if link.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) && !link.exists() {
        let _ = std::fs::remove_file(link);
    }
}

fn download(spec: &str, cache: &Cache, progress: &dyn crate::progress::Progress) -> Result<PathBuf, String> {
    let endpoint = std::env::var("HF_ENDPOINT").unwrap_or_else(|_| "https://huggingface.co".into());
    let api = ApiBuilder::from_cache(cache.clone())
        .with_progress(false)
        .with_endpoint(endpoint.clone())
        .build()
        .map_err(|e| format!("cannot set up the hub client: {e}"))?;
    let repo = api.model(spec.to_string());
    let cached = cache.repo(Repo::model(spec.to_string()));
    let repo_dir = cache_dir().join(format!("models--{}", spec.replace('/', "--")));
    // the cached file, else a verified download reported to `progress`
    let get = |f: &str| -> Result<PathBuf, Failure> {
        if let Some(p) = cached.get(f) {
            return Ok(p);
        }
        drop_dangling(&cached, &repo_dir, f);
        let mut attempt = 1;
        loop {
            let announced = Cell::new(None);
            let result = repo
                .download_with_progress(f, Download { progress, done: 0, announced: &announced })
                .map_err(classify)
                .and_then(|p| verify(&p, announced.get()).map(|()| p));
            match result {
                Err(e) if e.retry() && attempt < ATTEMPTS => {
                    std::thread::sleep(std::time::Duration::from_millis(250 * u64::from(attempt)));
                    attempt += 1;
                }
                other => return other,
            }
        }
    };
    let mut first = None;
    for alts in NEEDED {
        let mut got = None;
        for f in *alts {
            match get(f) {
                Ok(p) => {
                    got = Some(p);
                    break;
                }
                // absent: try the next alternative
                Err(Failure::Absent) => {}
                Err(e) => return Err(e.sentence(f, &endpoint)),
            }
        }
        match got {
            Some(p) => {
                first.get_or_insert(p);
            }
            None => {
                return Err(format!("the hub at {endpoint} has none of {} for it (HTTP 404); check the id", alts.join(", ")));
            }
        }
    }
    for f in OPTIONAL {
        match get(f) {
            Ok(_) | Err(Failure::Absent) => {} // absent optional files are fine
            Err(e) => return Err(e.sentence(f, &endpoint)),
        }
    }
    snapshot_dir(first.as_deref().ok_or("nothing downloaded")?).map_err(|e| e.to_string())
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
