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
//! panic in the engine is caught on the worker thread; the group is then re-run one text at a
//! time so that only the text that panics fails (its request answers 500) and the server lives
//! on. The same isolation applies when the engine fails a whole group with an error.

use crate::mlm::{MaskedLm, MlmInput};
use crate::pipeline::{Engine, TagRequest, TagResult};
use serde::Serialize;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
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
    Fill { text: String, top_k: usize },
}

impl Work {
    fn text(&self) -> &str {
        match self {
            Work::Tag(r) => &r.text,
            Work::Fill { text, .. } => text,
        }
    }

    fn is_tag(&self) -> bool {
        matches!(self, Work::Tag(_))
    }
}

/// The answer for one text.
pub(crate) enum Outcome {
    Tag(Result<TagResult, String>),
    /// The fill-mask JSON record of the text (`{"text","masks","cls"}` or `{"text","error"}`).
    Fill(Result<serde_json::Value, serde_json::Value>),
    /// The engine panicked on this text: the request answers 500.
    Internal(String),
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
                run_fill(engine.first_model(), group, hook.as_ref());
            }
        }
    })
}

/// Why one input got no result.
enum Failure {
    /// The engine refused the input (or failed on it alone): an error record.
    Input(String),
    /// The engine panicked on it: the request answers 500.
    Panic(String),
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("internal error: inference panicked ({what})")
}

/// Runs `f` on all inputs at once. If the call panics or fails as a whole (or returns the wrong
/// number of results) and there is more than one input, every input is re-run alone, so one
/// bad input cannot fail the texts of other requests that happened to share its group.
fn run_guarded<I, O>(inputs: &[I], f: &dyn Fn(&[I]) -> anyhow::Result<Vec<O>>) -> Vec<Result<O, Failure>> {
    let once = |xs: &[I]| -> Result<Vec<O>, Failure> {
        match catch_unwind(AssertUnwindSafe(|| f(xs))) {
            Ok(Ok(v)) if v.len() == xs.len() => Ok(v),
            Ok(Ok(v)) => Err(Failure::Input(format!("internal error: {} results for {} inputs", v.len(), xs.len()))),
            Ok(Err(e)) => Err(Failure::Input(format!("{e:#}"))),
            Err(p) => Err(Failure::Panic(panic_message(p.as_ref()))),
        }
    };
    match once(inputs) {
        Ok(v) => v.into_iter().map(Ok).collect(),
        Err(e) if inputs.len() == 1 => vec![Err(e)],
        Err(_) => inputs
            .iter()
            .map(|x| once(std::slice::from_ref(x)).and_then(|mut v| v.pop().ok_or_else(|| Failure::Input("internal error: no result".into()))))
            .collect(),
    }
}

fn call_hook(hook: Option<&InferenceHook>, texts: &[&str]) {
    if let Some(h) = hook {
        h(texts);
    }
}

fn run_tag(engine: &Engine, group: Vec<Item>, hook: Option<&InferenceHook>) {
    let (reqs, replies): (Vec<TagRequest>, Vec<_>) = group
        .into_iter()
        .filter_map(|i| match i.work {
            Work::Tag(r) => Some((r, i.reply)),
            Work::Fill { .. } => None,
        })
        .unzip();
    let f = |rs: &[TagRequest]| {
        let texts: Vec<&str> = rs.iter().map(|r| r.text.as_str()).collect();
        call_hook(hook, &texts);
        engine.tag(rs)
    };
    for (res, reply) in run_guarded(&reqs, &f).into_iter().zip(replies) {
        let outcome = match res {
            Ok(Ok(r)) => Outcome::Tag(Ok(r)),
            Ok(Err(e)) => Outcome::Tag(Err(format!("{e:#}"))),
            Err(Failure::Input(e)) => Outcome::Tag(Err(e)),
            Err(Failure::Panic(e)) => Outcome::Internal(e),
        };
        // the requester may have gone meanwhile; nothing to do then
        let _ = reply.send(outcome);
    }
}

#[derive(Serialize)]
struct TokenScore<'a> {
    token: &'a str,
    id: u32,
    /// The f32 logit as the f64 of its shortest decimal form, so the JSON number prints exactly
    /// as `maskner fill-mask --json` prints the f32 (a plain `as f64` would add digits).
    score: f64,
}

fn shortest(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

#[derive(Serialize)]
struct MaskOut<'a> {
    position: usize,
    predictions: Vec<TokenScore<'a>>,
}

/// The record of `maskner fill-mask --json` (same fields, same order).
#[derive(Serialize)]
struct FillOut<'a> {
    text: &'a str,
    masks: Vec<MaskOut<'a>>,
    cls: Vec<TokenScore<'a>>,
}

fn fill_error(text: &str, e: &str) -> serde_json::Value {
    serde_json::json!({"text": text, "error": e})
}

/// Encodes a fill-mask text like `maskner fill-mask`: reads at `[CLS]` and every `[MASK]`;
/// longer than the model's maximum is refused, never truncated.
fn fill_input(lm: &MaskedLm, text: &str) -> Result<MlmInput, String> {
    let tok = lm.tokenizer();
    let enc = tok.encode(text, true).map_err(|e| format!("{e:#}"))?;
    if enc.ids.len() > lm.max_len() {
        return Err(format!("{} word pieces, more than the model's maximum of {}; shorten the text", enc.ids.len(), lm.max_len()));
    }
    let mut reads = vec![0];
    reads.extend(enc.ids.iter().enumerate().filter(|(_, id)| **id == tok.mask).map(|(i, _)| i));
    Ok(MlmInput { ids: enc.ids, reads })
}

fn run_fill(lm: Option<&MaskedLm>, group: Vec<Item>, hook: Option<&InferenceHook>) {
    let Some(lm) = lm else {
        for i in group {
            let e = fill_error(i.work.text(), "the engine has no masked-LM member");
            let _ = i.reply.send(Outcome::Fill(Err(e)));
        }
        return;
    };
    let tok = lm.tokenizer();
    // texts that encode, in group order: (text, top_k, reply) next to their model input
    let mut ok_inputs: Vec<MlmInput> = Vec::new();
    let mut ok_texts: Vec<String> = Vec::new();
    let mut pending = Vec::new();
    for item in group {
        let Work::Fill { text, top_k } = item.work else { continue };
        match fill_input(lm, &text) {
            Ok(inp) => {
                ok_inputs.push(inp);
                ok_texts.push(text.clone());
                pending.push((text, top_k, item.reply));
            }
            Err(e) => {
                let _ = item.reply.send(Outcome::Fill(Err(fill_error(&text, &e))));
            }
        }
    }
    if ok_inputs.is_empty() {
        return;
    }
    let f = |xs: &[MlmInput]| {
        // the texts of exactly these inputs (the whole group, or one on a re-run)
        let texts: Vec<&str> = if xs.len() == ok_inputs.len() {
            ok_texts.iter().map(String::as_str).collect()
        } else {
            xs.iter()
                .filter_map(|x| ok_inputs.iter().position(|y| std::ptr::eq(x, y)).map(|i| ok_texts[i].as_str()))
                .collect()
        };
        call_hook(hook, &texts);
        lm.predict(xs)
    };
    let results = run_guarded(&ok_inputs, &f);
    for (((text, top_k, reply), res), inp) in pending.into_iter().zip(results).zip(&ok_inputs) {
        let outcome = match res {
            Ok(logits) => {
                let scores = |i: usize| -> Vec<TokenScore<'_>> {
                    logits
                        .get(i)
                        .map(|l| l.top_k(top_k))
                        .unwrap_or_default()
                        .into_iter()
                        .map(|p| TokenScore { token: tok.token(p.id), id: p.id, score: shortest(p.score) })
                        .collect()
                };
                let fill = FillOut {
                    text: &text,
                    cls: scores(0),
                    masks: inp.reads[1..]
                        .iter()
                        .enumerate()
                        .map(|(j, &pos)| MaskOut { position: pos, predictions: scores(j + 1) })
                        .collect(),
                };
                match serde_json::to_value(&fill) {
                    Ok(v) => Outcome::Fill(Ok(v)),
                    Err(e) => Outcome::Fill(Err(fill_error(&text, &e.to_string()))),
                }
            }
            Err(Failure::Input(e)) => Outcome::Fill(Err(fill_error(&text, &e))),
            Err(Failure::Panic(e)) => Outcome::Internal(e),
        };
        let _ = reply.send(outcome);
    }
}
