//! Progress bars on stderr: the CLI's [`Progress`](crate::progress::Progress) for the
//! library's long work, and bars for its own loops over input records.

use crate::progress::Progress;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;

/// A bar on stderr (drawn only when stderr is a terminal): with a length, `pos/len`, rate and
/// time left; without, a spinner and a count.
pub fn bar(len: Option<u64>, what: &str) -> ProgressBar {
    let bar = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    let template = if len.is_some() { "{msg} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})" } else { "{msg} {spinner} {pos} ({per_sec})" };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

/// The library's progress as bars on stderr, and its notes as `maskner: ...` lines.
#[derive(Default)]
pub struct Bars {
    current: Mutex<Option<ProgressBar>>,
}

impl Bars {
    fn with(&self, f: impl FnOnce(&mut Option<ProgressBar>)) {
        let mut guard = self.current.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard);
    }
}

impl Progress for Bars {
    fn start(&self, what: &str, total: Option<u64>) {
        self.with(|cur| {
            if let Some(old) = cur.take() {
                old.finish_and_clear();
            }
            *cur = Some(bar(total, what));
        });
    }

    fn at(&self, done: u64) {
        self.with(|cur| {
            if let Some(b) = cur {
                b.set_position(done);
            }
        });
    }

    fn finish(&self) {
        self.with(|cur| {
            if let Some(b) = cur.take() {
                b.finish_and_clear();
            }
        });
    }

    fn note(&self, message: &str) {
        self.with(|cur| match cur {
            Some(b) => b.suspend(|| eprintln!("maskner: {message}")),
            None => eprintln!("maskner: {message}"),
        });
    }
}

/// `tag`'s progress over its input: with a file, bytes read against its size (so the rate and
/// time left are real however long the lines are), the records count in the message; with
/// stdin, a spinner counting records. Ends with a one-line summary (records, errors, seconds,
/// records/s), printed whether or not stderr is a terminal.
pub struct InputBar {
    bar: ProgressBar,
    started: std::time::Instant,
    bytes: bool,
}

impl InputBar {
    /// `size`: the input file's size; `from`: where reading starts in it (a resumed run).
    pub fn new(size: Option<u64>, from: u64) -> Self {
        let (bar, bytes) = match size {
            Some(n) => {
                let bar = ProgressBar::new(n);
                let t = "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, eta {eta})";
                if let Ok(style) = ProgressStyle::with_template(t) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_position(from);
                bar.reset_eta();
                (bar, true)
            }
            None => (bar(None, "tagging"), false),
        };
        if bytes {
            bar.set_message("tagging");
        }
        Self { bar, started: std::time::Instant::now(), bytes }
    }

    /// `records` tagged so far by this process; `offset` the input bytes consumed.
    pub fn at(&self, records: u64, offset: Option<u64>) {
        if let (true, Some(o)) = (self.bytes, offset) {
            self.bar.set_position(o);
            let secs = self.started.elapsed().as_secs_f64();
            self.bar.set_message(format!("tagging: {records} records ({:.0}/s)", records as f64 / secs.max(1e-9)));
        } else {
            self.bar.set_position(records);
        }
    }

    /// Clears the bar and, if the run `succeeded` (else its error says what happened), prints
    /// the summary of this process's work.
    pub fn finish(&self, records: u64, errors: u64, succeeded: bool) {
        self.bar.finish_and_clear();
        if !succeeded {
            return;
        }
        let secs = self.started.elapsed().as_secs_f64();
        let rate = records as f64 / secs.max(1e-9);
        eprintln!("maskner: tagged {records} records ({errors} errors) in {secs:.1} s, {rate:.1} records/s");
    }

    /// Prints `message` as a `maskner: ...` line without disturbing the bar.
    pub fn note(&self, message: &str) {
        self.bar.suspend(|| eprintln!("maskner: {message}"));
    }
}
