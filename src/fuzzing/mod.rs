//! Fuzz target bodies, shared by the libFuzzer binaries in `fuzz/` and by the corpus replay in
//! `tests/fuzz_corpora.rs` (so `cargo test` guards every fixed crash without a fuzzing
//! toolchain). Each function takes arbitrary bytes, must never panic, and asserts the target's
//! properties beyond "no panic" where it has them. Not part of the engine API.

pub mod eval;
pub mod inputs;
pub mod maps;
pub mod model;
pub mod server;
pub mod text;
