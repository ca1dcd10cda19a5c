//! `tag --output FILE` with a line-oriented format and a file input: the output is made
//! durable in batches, each followed by a checkpoint in the sidecar `FILE.resume.json`, so
//! `--resume` can continue an interrupted run (crash, `kill -9`, power loss, full disk) and
//! still produce exactly the bytes of an uninterrupted run.
//!
//! The invariant: the checkpoint only ever describes data already on disk. A batch's output
//! is written and `fsync`ed first; then the checkpoint (input position, the SHA-256 of the
//! input consumed, output length, counts) is written to a temporary file, `fsync`ed, renamed
//! over the sidecar and the directory `fsync`ed. Whatever the output holds past the
//! checkpointed length (records of later batches, a torn last line) is cut off on resume, and
//! tagging continues at the checkpointed input line with the same line numbering and layout.
//! Resuming never reads the output, only its length; it reads the consumed input prefix once
//! to check that it is unchanged.

use super::input::{LineReader, Position, hex};
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The checkpoint file's format version (a different one is refused, not guessed at).
const VERSION: u32 = 1;

/// At most this much work is redone after an interruption; each checkpoint costs two fsyncs.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// The sidecar of output `out`: `out` with `.resume.json` appended.
pub fn sidecar(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_os_string();
    s.push(".resume.json");
    PathBuf::from(s)
}

/// What must be the same in a resumed run for its output to continue the interrupted one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `--format`, `--mode`, `--explain`, `--batch` as given.
    pub format: String,
    pub mode: String,
    pub explain: bool,
    pub batch: usize,
    /// SHA-256 of the engine configuration and the loaded engine's description (members,
    /// maps' vocabulary and seed hashes, taxonomy, numerics).
    pub engine: String,
    /// SHA-256 of the names, sizes and modification times of the members' model files and
    /// map and label files.
    pub files: String,
}

impl Identity {
    /// Why `now` cannot continue a run made with `self`, if it cannot.
    fn mismatch(&self, now: &Identity) -> Option<String> {
        let flag = |name: &str, was: &dyn std::fmt::Display, is: &dyn std::fmt::Display| {
            format!("{name} was {was} in the interrupted run, now {is}")
        };
        if self.format != now.format {
            return Some(flag("--format", &self.format, &now.format));
        }
        if self.mode != now.mode {
            return Some(flag("--mode", &self.mode, &now.mode));
        }
        if self.explain != now.explain {
            return Some(flag("--explain", &self.explain, &now.explain));
        }
        if self.batch != now.batch {
            return Some(flag("--batch", &self.batch, &now.batch));
        }
        if self.engine != now.engine {
            return Some(
                "the engine configuration (members, models, maps, config file or engine flags) differs from the interrupted run".into(),
            );
        }
        if self.files != now.files {
            return Some("the model, map or label files changed since the interrupted run".into());
        }
        None
    }
}

/// The sidecar's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Checkpoint {
    version: u32,
    identity: Identity,
    /// Where the next input line starts, with its line number and the layout.
    input: Position,
    /// SHA-256 (hex) of the input's first `input.offset` bytes.
    input_sha256: String,
    /// Bytes of the output that are durable and complete.
    output_bytes: u64,
    /// Records in those bytes, and how many of them are error records.
    records: u64,
    errors: u64,
}

impl Checkpoint {
    fn load(path: &Path) -> anyhow::Result<Option<Checkpoint>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("{}: cannot read the checkpoint", path.display())),
        };
        let ck: Checkpoint = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a maskner checkpoint (delete it and the output to start over)", path.display()))?;
        if ck.version != VERSION {
            bail!(
                "{}: checkpoint version {} (this maskner writes {VERSION}); delete it and the output to start over",
                path.display(),
                ck.version
            );
        }
        Ok(Some(ck))
    }

    /// Replaces the sidecar atomically and durably (see the module documentation).
    fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut tmp = path.as_os_str().to_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            serde_json::to_writer_pretty(&mut f, self)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            sync_dir(path)
        };
        write().with_context(|| format!("{}: cannot write the checkpoint", path.display()))
    }
}

/// Makes a directory entry change (create, rename, remove) of `path` durable.
fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// The output file: buffered, counting the bytes written, its errors naming the file.
pub struct Output {
    file: BufWriter<File>,
    path: PathBuf,
    len: u64,
}

impl Output {
    /// Creates (or truncates) `path`, like shell redirection.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file = File::create(path).with_context(|| format!("{}: cannot create the output", path.display()))?;
        Ok(Self { file: BufWriter::new(file), path: path.to_path_buf(), len: 0 })
    }

    /// Writes all buffered bytes to disk; returns the file's length.
    fn durable(&mut self) -> anyhow::Result<u64> {
        let path = &self.path;
        self.file.flush().with_context(|| format!("{}: write failed", path.display()))?;
        self.file.get_ref().sync_data().with_context(|| format!("{}: write failed", path.display()))?;
        Ok(self.len)
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf).map_err(|e| named(&self.path, e))?;
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush().map_err(|e| named(&self.path, e))
    }
}

/// `e` with the file it happened on, for the one-line error.
fn named(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: write failed: {e}", path.display()))
}

/// A checkpointed run: its sidecar and the counts of what is durable.
pub struct Run {
    sidecar: PathBuf,
    identity: Identity,
    /// Records and error records before this process started (a resumed run).
    pub done_before: u64,
    pub errors_before: u64,
    last: Instant,
}

/// The input and output of a checkpointed run, positioned where it starts.
pub struct Started {
    pub run: Run,
    pub output: Output,
    pub reader: LineReader,
    /// Where the input is read from (0 on a fresh start), and the input's size.
    pub from: u64,
    pub input_len: u64,
}

/// Opens a checkpointed run of `input` into `out`: continues it with `resume` when its
/// sidecar exists, else starts fresh. Refused: a sidecar without `resume` (the user must
/// choose), `resume` with an output but no sidecar (a finished or foreign file), a checkpoint
/// from different flags, engine or model files, or an input whose consumed part changed.
pub fn start(out: &Path, input: &Path, identity: Identity, resume: bool) -> anyhow::Result<Started> {
    let side = sidecar(out);
    let found = Checkpoint::load(&side)?;
    let input_len = std::fs::metadata(input).with_context(|| format!("{}: cannot open", input.display()))?.len();
    let Some(ck) = found else {
        if resume && std::fs::metadata(out).is_ok_and(|m| m.len() > 0) {
            bail!(
                "{}: exists but has no checkpoint {} (it is a finished run's output, or not maskner's); delete it to tag again, or drop --resume to overwrite it",
                out.display(),
                side.display()
            );
        }
        let mut output = Output::create(out)?;
        let mut run = Run { sidecar: side, identity, done_before: 0, errors_before: 0, last: Instant::now() };
        let reader = LineReader::new(
            Box::new(BufReader::new(open_input(input)?)),
            input.display().to_string(),
            Position::START,
            Some(Sha256::new()),
        );
        run.checkpoint(&mut output, &reader, 0, 0)?;
        return Ok(Started { run, output, reader, from: 0, input_len });
    };
    if !resume {
        bail!(
            "{}: an interrupted run left its checkpoint {}; add --resume to continue it, or delete both files to start over",
            out.display(),
            side.display()
        );
    }
    if let Some(why) = ck.identity.mismatch(&identity) {
        bail!("cannot resume {}: {why}; run it as before, or delete {} and {} to start over", out.display(), out.display(), side.display());
    }
    // the input: at least as long as what was consumed, and those bytes unchanged
    let changed = || {
        format!(
            "cannot resume {}: the input {} changed since the interrupted run (its first {} bytes differ); delete {} and {} to start over",
            out.display(),
            input.display(),
            ck.input.offset,
            out.display(),
            side.display()
        )
    };
    if input_len < ck.input.offset {
        bail!("{} (it is shorter now)", changed());
    }
    let mut file = open_input(input)?;
    let mut hash = Sha256::new();
    let mut prefix = (&mut file).take(ck.input.offset);
    std::io::copy(&mut prefix, &mut HashWriter(&mut hash)).with_context(|| format!("{}: read error", input.display()))?;
    if hex(&hash.clone().finalize()) != ck.input_sha256 {
        bail!("{}", changed());
    }
    file.seek(SeekFrom::Start(ck.input.offset)).with_context(|| format!("{}: read error", input.display()))?;
    let reader = LineReader::new(Box::new(BufReader::new(file)), input.display().to_string(), ck.input, Some(hash));
    let output = open_at(out, ck.output_bytes, &side)?;
    let run = Run { sidecar: side, identity, done_before: ck.records, errors_before: ck.errors, last: Instant::now() };
    Ok(Started { run, output, reader, from: ck.input.offset, input_len })
}

fn open_input(input: &Path) -> anyhow::Result<File> {
    File::open(input).with_context(|| format!("{}: cannot open", input.display()))
}

/// The output cut back to its durable `len` bytes (dropping a torn line and records written
/// after the checkpoint), positioned at its end.
fn open_at(out: &Path, len: u64, side: &Path) -> anyhow::Result<Output> {
    let cannot = || format!("{}: cannot open the output to resume", out.display());
    let mut file = OpenOptions::new().write(true).create(len == 0).truncate(false).open(out).with_context(cannot)?;
    let have = file.metadata().with_context(cannot)?.len();
    if have < len {
        bail!(
            "cannot resume {}: it holds {have} bytes but its checkpoint says {len} were written; it was changed or truncated since; delete it and {} to start over",
            out.display(),
            side.display()
        );
    }
    file.set_len(len).with_context(cannot)?;
    file.sync_all().with_context(cannot)?;
    file.seek(SeekFrom::Start(len)).with_context(cannot)?;
    Ok(Output { file: BufWriter::new(file), path: out.to_path_buf(), len })
}

/// Feeds what is written to a hasher (to hash a reader with `io::copy`).
struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Run {
    /// Checkpoints if [`CHECKPOINT_EVERY`] has passed since the last one. `records` and
    /// `errors` count this process's records, all of them written to the output already.
    pub fn maybe_checkpoint(&mut self, output: &mut Output, reader: &LineReader, records: u64, errors: u64) -> anyhow::Result<()> {
        if self.last.elapsed() >= CHECKPOINT_EVERY {
            self.checkpoint(output, reader, records, errors)?;
        }
        Ok(())
    }

    /// Makes the output durable, then records where it ends.
    fn checkpoint(&mut self, output: &mut Output, reader: &LineReader, records: u64, errors: u64) -> anyhow::Result<()> {
        let output_bytes = output.durable()?;
        let ck = Checkpoint {
            version: VERSION,
            identity: self.identity.clone(),
            input: reader.position(),
            input_sha256: reader.digest().unwrap_or_default(),
            output_bytes,
            records: self.done_before + records,
            errors: self.errors_before + errors,
        };
        ck.save(&self.sidecar)?;
        self.last = Instant::now();
        Ok(())
    }

    /// The whole input is tagged: makes the output durable and removes the sidecar.
    pub fn complete(self, output: &mut Output) -> anyhow::Result<PathBuf> {
        output.durable()?;
        std::fs::remove_file(&self.sidecar)
            .and_then(|()| sync_dir(&self.sidecar))
            .with_context(|| format!("{}: cannot remove the checkpoint", self.sidecar.display()))?;
        Ok(self.sidecar)
    }
}

/// SHA-256 (hex) of the parts, each length-prefixed so that no two lists hash alike.
pub fn fingerprint<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hex(&h.finalize())
}

/// One line per regular file in `path` (a file, or a directory's top level, sorted): name,
/// size and modification time in nanoseconds. Identifies model weights without reading them.
pub fn file_stamps(path: &Path) -> anyhow::Result<String> {
    let stamp = |p: &Path| -> anyhow::Result<String> {
        let m = std::fs::metadata(p).with_context(|| format!("{}: cannot read", p.display()))?;
        let mtime = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
        Ok(format!("{}\t{}\t{mtime}\n", p.display(), m.len()))
    };
    if !path.is_dir() {
        return stamp(path);
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("{}: cannot list", path.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: cannot list", path.display()))?;
    entries.sort();
    let mut out = String::new();
    for p in entries.iter().filter(|p| p.is_file()) {
        out.push_str(&stamp(p)?);
    }
    Ok(out)
}
