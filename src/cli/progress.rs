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
