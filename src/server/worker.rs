//! The inference side of the server: a bounded queue of texts and one dedicated inference
//! thread (a `std::thread`, never a thread of the async runtime) that drains it in groups.
//!
//! Handlers push one [`Item`] per text, each with a tokio oneshot sender for its answer, and
//! await the receivers; the runtime only moves requests and responses. The worker takes the
//! oldest item and, behind it, further items *of the same kind* (tag or fill-mask) in arrival
//! order until the group reaches [`BatchLimits::max_texts`] texts or
//! [`BatchLimits::max_chars`] characters (the token budget, approximated by characters: roughly
//! four characters per word piece for English). A single text larger than the budget forms a
//! group of its own. There is no waiting for a group to fill: while one group runs, new
//! requests pile up and form the next one, so batching costs no latency when the server is idle
//! and grows with load (continuous batching, as in text-embeddings-inference).
//!
//! Items whose requester has gone (timed out, disconnected) are dropped before inference. A
//! group runs under [`isolate`], the engine's own per-input isolation, with the inference hook
//! inside it: a panic (in the engine or the hook) re-runs the group one text at a time, so
//! only the text that panics fails (its request answers 500) and the server lives on.

use crate::engine::{Engine, FillRequest, FillResult, TagRequest, TagResult, isolate};
use crate::error::Error;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// Called on the inference thread with the texts of a group just before the engine runs it
/// (also for each single-text re-run after a failure). For tests and diagnostics: a hook may
/// sleep, block or panic to simulate a slow or crashing model.
pub type InferenceHook = Arc<dyn Fn(&[&str]) + Send + Sync>;

/// What one queued text asks for.
pub(crate) enum Work {
    Tag(TagRequest),
    Fill(FillRequest),
}

impl Work {
    fn text(&self) -> &str {
        match self {
            Work::Tag(r) => &r.text,
            Work::Fill(r) => &r.text,
        }
    }

    fn is_tag(&self) -> bool {
        matches!(self, Work::Tag(_))
    }
}

/// The answer for one text.
pub(crate) enum Outcome {
    Tag(Result<TagResult, Error>),
    Fill(Result<FillResult, Error>),
}

impl Outcome {
    pub fn error(&self) -> Option<&Error> {
        match self {
            Outcome::Tag(Err(e)) | Outcome::Fill(Err(e)) => Some(e),
            _ => None,
        }
    }
}

/// One queued text.
pub(crate) struct Item {
    pub work: Work,
    /// Cost against the group budget: the text's characters (at least 1).
    pub chars: usize,
    pub reply: oneshot::Sender<Outcome>,
}

impl Item {
    pub fn new(work: Work) -> (Self, oneshot::Receiver<Outcome>) {
        let (tx, rx) = oneshot::channel();
        let chars = work.text().chars().count().max(1);
        (Self { work, chars, reply: tx }, rx)
    }
}

/// Group limits of the worker.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchLimits {
    pub max_texts: usize,
    pub max_chars: usize,
}

/// Why a request could not be queued.
#[derive(Debug)]
pub(crate) enum PushError {
    /// Not enough room for all texts of the request: `(queued, capacity)`.
    Full(usize, usize),
    /// The worker has stopped (shutdown, or it died).
    Closed,
}

struct State {
    items: VecDeque<Item>,
    closed: bool,
}

/// The bounded queue between the handlers and the inference thread.
pub(crate) struct Queue {
    state: Mutex<State>,
    ready: Condvar,
    capacity: usize,
    /// Groups run and texts answered, for `/health` and the load test.
    pub batches: AtomicU64,
    pub texts: AtomicU64,
}

impl Queue {
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State { items: VecDeque::new(), closed: false }),
            ready: Condvar::new(),
            capacity: capacity.max(1),
            batches: AtomicU64::new(0),
            texts: AtomicU64::new(0),
        }
    }

    /// The lock, also after a panic elsewhere (no code panics while holding it, and the state
    /// stays consistent: a deque and a flag).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues all texts of a request, or none: a request is never half admitted.
    pub fn push_all(&self, items: Vec<Item>) -> Result<(), PushError> {
        let mut st = self.lock();
        if st.closed {
            return Err(PushError::Closed);
        }
        // texts whose requester gave up do not count against the capacity
        st.items.retain(|i| !i.reply.is_closed());
        if st.items.len() + items.len() > self.capacity {
            return Err(PushError::Full(st.items.len(), self.capacity));
        }
        st.items.extend(items);
        drop(st);
        self.ready.notify_one();
        Ok(())
    }

    /// Texts waiting whose requesters still wait.
    pub fn len(&self) -> usize {
        self.lock().items.iter().filter(|i| !i.reply.is_closed()).count()
    }

    /// Stops accepting work; the worker finishes what is queued, then exits.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// Closes the queue and drops everything queued (their requesters see the worker gone).
    fn abandon(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.items.clear();
    }

    /// The next group, blocking until there is one; `None` once closed and drained.
    fn next_batch(&self, limits: BatchLimits) -> Option<Vec<Item>> {
        let mut st = self.lock();
        loop {
            // requesters that gave up (timeout, disconnect) need no inference
            st.items.retain(|i| !i.reply.is_closed());
            if !st.items.is_empty() {
                break;
            }
            if st.closed {
                return None;
            }
            st = self.ready.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        let first = st.items.pop_front()?;
        let tag = first.work.is_tag();
        let mut chars = first.chars;
        let mut group = vec![first];
        let mut i = 0;
        while i < st.items.len() && group.len() < limits.max_texts {
            if st.items[i].work.is_tag() != tag {
                i += 1;
                continue;
            }
            if chars + st.items[i].chars > limits.max_chars {
                break; // keep arrival order among texts of one kind
            }
            chars += st.items[i].chars;
            if let Some(item) = st.items.remove(i) {
                group.push(item);
            }
        }
        Some(group)
    }
}

/// Closes the queue when the worker exits, however it exits, so no request waits for a worker
/// that is gone.
struct CloseOnExit(Arc<Queue>);

impl Drop for CloseOnExit {
    fn drop(&mut self) {
        self.0.abandon();
    }
}

/// Starts the inference thread; it owns the engine and runs until the queue is closed and
/// drained.
pub(crate) fn spawn(
    engine: Engine,
    queue: Arc<Queue>,
    limits: BatchLimits,
    hook: Option<InferenceHook>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("maskner-inference".into()).spawn(move || {
        let _guard = CloseOnExit(queue.clone());
        while let Some(group) = queue.next_batch(limits) {
            queue.batches.fetch_add(1, Ordering::Relaxed);
            queue.texts.fetch_add(group.len() as u64, Ordering::Relaxed);
            if group[0].work.is_tag() {
                run_tag(&engine, group, hook.as_ref());
            } else {
                run_fill(&engine, group, hook.as_ref());
            }
        }
    })
}

fn call_hook(hook: Option<&InferenceHook>, texts: &[&str]) {
    if let Some(h) = hook {
        h(texts);
    }
}

fn run_tag(engine: &Engine, group: Vec<Item>, hook: Option<&InferenceHook>) {
    let take = |w: Work| match w {
        Work::Tag(r) => Some(r),
        Work::Fill(_) => None,
    };
    run_group(group, hook, take, |rs: &[TagRequest]| engine.tag(rs), Outcome::Tag);
}

fn run_fill(engine: &Engine, group: Vec<Item>, hook: Option<&InferenceHook>) {
    let take = |w: Work| match w {
        Work::Fill(r) => Some(r),
        Work::Tag(_) => None,
    };
    run_group(group, hook, take, |rs: &[FillRequest]| engine.fill_mask(rs), Outcome::Fill);
}

/// Runs one group of requests of one kind under [`isolate`], the hook first, and answers
/// each requester.
fn run_group<R: HasText, T>(
    group: Vec<Item>,
    hook: Option<&InferenceHook>,
    take: impl Fn(Work) -> Option<R>,
    run: impl Fn(&[R]) -> Vec<Result<T, Error>>,
    answer: fn(Result<T, Error>) -> Outcome,
) {
    let (reqs, replies): (Vec<R>, Vec<_>) = group.into_iter().filter_map(|i| take(i.work).map(|r| (r, i.reply))).unzip();
    let f = |rs: &[R]| {
        let texts: Vec<&str> = rs.iter().map(HasText::text).collect();
        call_hook(hook, &texts);
        Ok(run(rs))
    };
    for (res, reply) in isolate(&reqs, &f).into_iter().zip(replies) {
        // the requester may have gone meanwhile; nothing to do then
        let _ = reply.send(answer(res));
    }
}

/// A request's text, for the inference hook.
trait HasText {
    fn text(&self) -> &str;
}

impl HasText for TagRequest {
    fn text(&self) -> &str {
        &self.text
    }
}

impl HasText for FillRequest {
    fn text(&self) -> &str {
        &self.text
    }
}
