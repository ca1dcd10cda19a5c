//! Progress of long work (loading models, building maps, downloads), reported through a
//! callback so the library itself never writes to the terminal: the CLI draws bars on stderr,
//! the server logs, a Python binding may forward to `tqdm`, tests pass [`Quiet`].

/// Receives the progress of long work. Every method has a do-nothing default.
pub trait Progress: Sync {
    /// A step starts: `what` (lower case, e.g. "building map"), with `total` units if known.
    fn start(&self, what: &str, total: Option<u64>) {
        let _ = (what, total);
    }

    /// `done` units of the current step are done (absolute, not an increment).
    fn at(&self, done: u64) {
        let _ = done;
    }

    /// The current step is over.
    fn finish(&self) {}

    /// A one-line note worth showing a user (a map being built once, a warning about a
    /// member's labels).
    fn note(&self, message: &str) {
        let _ = message;
    }
}

/// Reports nothing.
pub struct Quiet;

impl Progress for Quiet {}

/// Runs `work` as one step of `progress`, finishing the step however `work` ends.
pub fn step<T>(progress: &dyn Progress, what: &str, total: Option<u64>, work: impl FnOnce() -> T) -> T {
    progress.start(what, total);
    let out = work();
    progress.finish();
    out
}
