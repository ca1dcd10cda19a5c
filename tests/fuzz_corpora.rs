//! Replays every fuzz target's minimised corpus (`fuzz/corpus/<target>/`) through the same
//! target body the fuzzer runs, so a fixed crash stays fixed without a fuzzing toolchain.

use std::path::Path;

/// A target's name (its corpus directory) and body.
type Target = (&'static str, fn(&[u8]));

fn targets() -> Vec<Target> {
    vec![
        ("text_stage", maskner::fuzzing::text::text_stage as fn(&[u8])),
        ("jsonl_record", maskner::fuzzing::inputs::jsonl_record as fn(&[u8])),
        ("engine_config", maskner::fuzzing::inputs::engine_config as fn(&[u8])),
        ("taxonomy", maskner::fuzzing::maps::taxonomy as fn(&[u8])),
        ("seed_list", maskner::fuzzing::maps::seed_list as fn(&[u8])),
        ("labels_import", maskner::fuzzing::maps::labels_import as fn(&[u8])),
        ("eval_readers", maskner::fuzzing::eval::eval_readers as fn(&[u8])),
        ("eval_config", maskner::fuzzing::eval::eval_config as fn(&[u8])),
        ("ner_body", maskner::fuzzing::server::ner_body as fn(&[u8])),
        ("fill_mask_body", maskner::fuzzing::server::fill_mask_body as fn(&[u8])),
        ("tokenize_prompt", maskner::fuzzing::text::tokenize_prompt as fn(&[u8])),
        ("model_config", maskner::fuzzing::model::model_config as fn(&[u8])),
        ("model_safetensors", maskner::fuzzing::model::model_safetensors as fn(&[u8])),
        ("model_bin_zip", maskner::fuzzing::model::model_bin_zip as fn(&[u8])),
    ]
}

#[test]
fn every_fuzz_corpus_replays_without_a_failure() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (name, run) in targets() {
        let dir = root.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (every fuzz target keeps a corpus)", dir.display()))
            .map(|e| e.expect("corpus entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: empty corpus", dir.display());
        for file in files {
            let data = std::fs::read(&file).expect("corpus file");
            if let Err(panic) = std::panic::catch_unwind(|| run(&data)) {
                std::panic::resume_unwind(Box::new(format!("{name}: {} failed: {panic:?}", file.display())));
            }
        }
    }
}
