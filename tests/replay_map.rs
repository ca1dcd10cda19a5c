//! `maskner replay --map`: the reference's logged real descriptors with a map's signatures,
//! single-model tagging, reference scorer (needs ../shared/benchmarks; skips without it).

mod common;

use std::path::PathBuf;

use maskner::compat::Numerics;
use maskner::entity_map::{BuildOptions, EntityMap, SeedSet, Space, Taxonomy, cache, space};
use maskner::eval::Config;
use maskner::mlm::MaskedLm;
use maskner::replay::map::{MapReplay, MapReplayOptions, Signatures, replay_with_map};

struct Custom {
    log: PathBuf,
    gold: PathBuf,
    config: Config,
}

fn custom() -> Option<Custom> {
    let dir = common::benchmarks_dir()?.join("custom");
    Some(Custom {
        log: dir.join("reference_query_response_log.txt"),
        gold: dir.join("test.tsv"),
        config: Config::from_path(&dir.join("reference_eval_config.json")).unwrap(),
    })
}

fn replay(c: &Custom, signatures: Signatures<'_>) -> MapReplay {
    let options = MapReplayOptions {
        numerics: Numerics::Fixed,
        taxonomy: Taxonomy::jan2022(),
        signatures,
        gold: Some((c.gold.as_path(), &c.config)),
    };
    replay_with_map(&c.log, &options).unwrap()
}

fn f1(r: &MapReplay, range: &str) -> (f64, f64) {
    let s = r.report.scores.iter().find(|s| s.records == range).unwrap();
    (s.f1_1p, s.f1_2p)
}

#[test]
fn logged_signatures_score_like_the_reference() {
    let Some(c) = custom() else { return };
    let r = replay(&c, Signatures::Logged);
    assert_eq!((r.report.records, r.report.spans, r.report.descriptors), (106, 174, 5756));
    assert_eq!(r.report.span_top_group_agreement.agree, 174);
    // The reference's own 1p F1 on this log is 0.88; single-model tagging keeps it.
    assert_eq!(f1(&r, "all").0, 0.88);
    let halves = (f1(&r, "records_1_53"), f1(&r, "records_54_106"));
    assert!(halves.0.0 > 0.8 && halves.1.0 > 0.8, "{halves:?}");
    // The tags file has one block per record, every term tagged.
    let conll = r.conll();
    assert_eq!(conll.matches("\n\n").count(), 106);
    assert!(conll.contains(" B_DISEASE"), "no disease span in the tags");
}

#[test]
fn a_map_decides_every_signature() {
    let Some(c) = custom() else { return };
    let tax = Taxonomy::jan2022();
    let labels = common::tmp("replay-map").join("labels.txt");
    std::fs::write(&labels, "DISEASE 5 disease\nPERSON 3 Patient\n").unwrap();
    let map = EntityMap::from_labels_txt(&labels, &tax).unwrap();
    let r = replay(&c, Signatures::Map { map: &map, seed_fallback: None });
    let s = &r.report.by_source;
    assert_eq!(s.exact + s.lowercase + s.case_union + s.digits + s.unknown, r.report.descriptors);
    assert!(s.exact > 0 && s.unknown > s.exact, "{s:?}");
    assert_eq!(s.seed_fallback, 0);
    // Only the map's groups (and MEASURE for all-digit tokens) can appear in the tags.
    for (_, tag) in r.predictions.iter().flatten() {
        for part in tag.split('/') {
            let ok = part == "O" || ["DISEASE", "PERSON", "MEASURE", "OTHER"].iter().any(|g| part.contains(g));
            assert!(ok, "tag {tag} is not from the map");
        }
    }
    assert!(r.report.span_top_group_agreement.agree < 174);

    // The seed fallback labels tokens the map lacks, and says how many.
    let seeds = SeedSet::from_pairs([("tumor", "DISEASE"), ("EGFR", "GENE")], &tax).unwrap();
    let fb = replay(&c, Signatures::Map { map: &map, seed_fallback: Some(&seeds) });
    assert!(fb.report.by_source.seed_fallback > 0);
    assert_eq!(fb.report.by_source.unknown, s.unknown);
    assert!(fb.predictions.iter().flatten().any(|(_, t)| t.contains("GENE")));
}

#[test]
fn minilm_maps_on_real_descriptors() {
    let (Some(c), Some(dir)) = (custom(), common::minilm_dir()) else {
        return;
    };
    let lm = MaskedLm::load(&dir.display().to_string(), &dir).unwrap();
    let tax = Taxonomy::jan2022();
    let seeds = SeedSet::builtin(&tax).unwrap();
    let opts = BuildOptions::default();
    let emb = space::embeddings(&lm, opts.space, &|_, _| {}).unwrap();
    let (map, _) = cache::build_with_embeddings(&lm, &emb, &seeds, &opts, &tax, &maskner::progress::Quiet).unwrap();
    let plain = replay(&c, Signatures::Map { map: &map, seed_fallback: None });
    let fb = replay(&c, Signatures::Map { map: &map, seed_fallback: Some(&seeds) });
    // Guards below the measured figures (README, docs/map-quality.md).
    assert!(f1(&plain, "all").0 >= 0.80, "{:?}", plain.report.scores);
    assert!(f1(&fb, "all").0 >= 0.85, "{:?}", fb.report.scores);
    assert!(plain.report.token_top_group_agreement.rate >= 0.69, "{:?}", plain.report.token_top_group_agreement);
}

#[test]
fn contextual_space_reads_the_model_output() {
    let dir = common::fixture("tiny-bert-cased");
    let lm = MaskedLm::load("tiny-bert-cased", &dir).unwrap();
    let n = lm.tokenizer().vocab().len();
    let hidden = lm.config().hidden_size;
    let input = space::embeddings(&lm, Space::Input, &|_, _| {}).unwrap();
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let ctx = space::embeddings(&lm, Space::Contextual, &|done, total| {
        assert!(done <= total);
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    let mixed = space::embeddings(&lm, Space::Mixed, &|_, _| {}).unwrap();
    assert_eq!((input.len(), ctx.len(), mixed.len()), (n, n, n));
    assert_eq!((ctx.dim(), mixed.dim()), (hidden, 2 * hidden));
    assert!(calls.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    let norm = |r: &[f32]| r.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm(ctx.row(n - 1)) - 1.0).abs() < 1e-4);
    // Different vectors from the input space, and the mixed cosine is the mean of the two.
    assert!((input.cosine(5, 6) - ctx.cosine(5, 6)).abs() > 1e-3);
    let mean = (input.cosine(5, 6) + ctx.cosine(5, 6)) / 2.0;
    assert!((mixed.cosine(5, 6) - mean).abs() < 1e-4, "{} vs {mean}", mixed.cosine(5, 6));
    // The default space keeps the settings (and so the cache keys) maps had before spaces.
    let json = |o: &BuildOptions| serde_json::to_string(o).unwrap();
    assert!(!json(&BuildOptions::default()).contains("space"));
    let ctx_opts = BuildOptions { space: Space::Contextual, ..BuildOptions::default() };
    assert!(json(&ctx_opts).contains(r#""space":"contextual""#));
}
