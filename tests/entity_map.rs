//! Entity maps: labels.txt import/export, the build rules on a hand-made embedding set with
//! known neighbourhoods, the CLI, and held-out quality on real embeddings (all-MiniLM-L6-v2).

mod common;

use maskner::entity_map::build::{self, BuildOptions, Rule};
use maskner::entity_map::neighbours::{Embeddings, SearchMode};
use maskner::entity_map::{EntityMap, SeedSet, Taxonomy, quality};

const LABELS_TXT: &str = "OTHER 0 [PAD]\nOTHER 0 [CLS]\nDISEASE/GENE/HAZARDOUS_OR_POISONOUS_SUBSTANCE 38/2/1 mesothelioma\n\
DRUG/GENE 0/0 imatinib\nGENE/PROTEIN 634/225 EGFR\nLAB_TEST_COMPONENT 12 eGFR\nLOCATION/PERSON 10/5 that\n\
LOCATION 7 Zürich\nOTHER 0 ##ing\nDEVICE_ADJECTIVE 3 sleek\n";

#[test]
fn labels_txt_import_export_is_byte_identical() {
    let dir = common::tmp("em-import");
    let src = dir.join("labels.txt");
    std::fs::write(&src, LABELS_TXT).unwrap();
    let map = dir.join("map");
    let out = common::maskner(&["build-map", "--import", src.to_str().unwrap(), "--out", map.to_str().unwrap()], None, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let back = dir.join("back.txt");
    let out = common::maskner(&["export-map", "--map", map.to_str().unwrap(), "--out", back.to_str().unwrap()], None, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&back).unwrap(), LABELS_TXT.as_bytes());

    let out = common::maskner(
        &["lookup", "--map", map.to_str().unwrap(), "EGFR", "Egfr", "ZÜRICH", "2019", "imatinib", "that", "xyz"],
        None,
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "EGFR\tGENE/PROTEIN 634/225\texact");
    assert_eq!(lines[1], "Egfr\tGENE/PROTEIN/LAB_TEST_COMPONENT 634/225/12\tcase_union");
    assert_eq!(lines[2], "ZÜRICH\tLOCATION 7\tcase_union");
    assert_eq!(lines[3], "2019\tMEASURE 1\tdigits");
    assert_eq!(lines[4], "imatinib\tDRUG/GENE 0/0\texact");
    assert_eq!(lines[5], "that\tLOCATION/PERSON 10/5\texact");
    assert_eq!(lines[6], "xyz\tUNTAGGED_ENTITY 1\tunknown");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn malformed_labels_txt_names_file_and_line() {
    let dir = common::tmp("em-bad");
    let src = dir.join("labels.txt");
    std::fs::write(&src, "OTHER 0 [PAD]\nDISEASE 3\n").unwrap();
    let out = common::maskner(&["build-map", "--import", src.to_str().unwrap(), "--out", dir.join("m").to_str().unwrap()], None, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("labels.txt line 2: expected 3 fields"), "{err}");
    std::fs::write(&src, "FOO 3 x\n").unwrap();
    let out = common::maskner(&["build-map", "--import", src.to_str().unwrap(), "--out", dir.join("m").to_str().unwrap()], None, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 1") && err.contains("unknown entity label \"FOO\""), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two orthogonal clusters: 12 disease seeds + one DISEASE/GENE seed + one unlabelled token,
/// and 12 drug seeds + one unlabelled token; `[CLS]` on its own axis.
fn clusters() -> (Vec<String>, Embeddings, SeedSet) {
    let mut vocab = vec!["[CLS]".to_string()];
    let mut rows = vec![vec![0.0, 0.0, 0.0, 0.0, 1.0]];
    let mut pairs: Vec<(String, &str)> = Vec::new();
    for i in 0..14 {
        let t = match i {
            12 => "mix".to_string(),
            13 => "lesionx".to_string(),
            _ => format!("dis{i}"),
        };
        if i < 13 {
            pairs.push((t.clone(), "DISEASE"));
        }
        if i == 12 {
            pairs.push((t.clone(), "GENE"));
        }
        vocab.push(t);
        rows.push(vec![1.0, 0.01 * i as f32, 0.0, 0.0, 0.0]);
    }
    for i in 0..13 {
        let t = if i == 12 { "drugx".to_string() } else { format!("drug{i}") };
        if i < 12 {
            pairs.push((t.clone(), "DRUG"));
        }
        vocab.push(t);
        rows.push(vec![0.0, 0.0, 1.0, 0.01 * i as f32, 0.0]);
    }
    let tax = Taxonomy::jan2022();
    let seeds = SeedSet::from_pairs(pairs.iter().map(|(t, l)| (t.as_str(), *l)), &tax).unwrap();
    (vocab, Embeddings::from_rows(&rows).unwrap(), seeds)
}

fn sig_of(entries: &[(String, maskner::entity_map::Signature)], tok: &str) -> String {
    entries.iter().find(|(t, _)| t == tok).map(|(_, s)| s.to_string()).unwrap()
}

fn run(rule: Rule) -> Vec<(String, maskner::entity_map::Signature)> {
    let (vocab, emb, seeds) = clusters();
    let opts = BuildOptions { rule, search: SearchMode::Exact, ..BuildOptions::default() };
    build::build(&vocab, &emb, &seeds, &opts, &|_, _| {}).unwrap().0
}

#[test]
fn v2_gives_every_neighbourhood_member_the_histogram() {
    let e = run(Rule::V2);
    // 14 keys in the disease cluster, each neighbourhood = the 14 members, histogram DISEASE 13 + GENE 1
    assert_eq!(sig_of(&e, "dis0"), "DISEASE/GENE 182/14");
    assert_eq!(sig_of(&e, "lesionx"), "DISEASE/GENE 182/14");
    assert_eq!(sig_of(&e, "drugx"), "DRUG 156");
    assert_eq!(sig_of(&e, "[CLS]"), "OTHER 0");
}

#[test]
fn v1_reweights_only_own_seed_labels() {
    let e = run(Rule::V1);
    // 14 keys, each neighbourhood = the 13 labelled disease tokens (> 10), histogram DISEASE 13, GENE 1
    assert_eq!(sig_of(&e, "dis3"), "DISEASE 182");
    assert_eq!(sig_of(&e, "mix"), "DISEASE/GENE 182/14");
    assert_eq!(sig_of(&e, "lesionx"), "OTHER 0", "v1 never labels unlabelled tokens");
    assert_eq!(sig_of(&e, "drug0"), "DRUG 156");
}

#[test]
fn knn_votes_for_unlabelled_tokens_and_keeps_seed_labels() {
    let e = run(Rule::Knn);
    let lesion = sig_of(&e, "lesionx");
    assert!(lesion.starts_with("DISEASE/GENE "), "{lesion}");
    let drugx = sig_of(&e, "drugx");
    assert_eq!(drugx, "DRUG 100");
    let own = sig_of(&e, "drug0");
    assert_eq!(own, "DRUG 200", "own label 100 + a unanimous vote of 100");
}

#[test]
fn map_quality_on_real_embeddings_stays_above_the_bar() {
    let Some(dir) = common::minilm_dir() else { return };
    let lm = maskner::mlm::MaskedLm::load("all-MiniLM-L6-v2", &dir).unwrap();
    let tax = Taxonomy::jan2022();
    let seeds = SeedSet::builtin(&tax).unwrap();
    let vocab = lm.tokenizer().vocab();
    let emb = Embeddings::from_tensor(&lm.word_embeddings().narrow(0, 0, vocab.len()).unwrap()).unwrap();
    let r = quality::held_out(vocab, &emb, &seeds, &tax, &BuildOptions::default(), 5, 0.2).unwrap();
    eprintln!("held-out top-group accuracy {:.3} ± {:.3} (majority {:.3})", r.mean, r.std, r.majority_baseline);
    assert!(r.mean > 0.82, "held-out accuracy fell to {:.3}", r.mean);
    assert!(r.majority_baseline < 0.3);
}

#[test]
fn build_map_cli_on_a_fixture_model_writes_a_loadable_map() {
    let d = common::tmp("em-cli-build");
    let out_dir = d.join("map");
    let model = common::fixture("tiny-bert-cased");
    let out = common::maskner(&["build-map", "--model", model.to_str().unwrap(), "--out", out_dir.to_str().unwrap()], None, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(meta["source"], "knn");
    assert_eq!(meta["vocab_size"], 431);
    let map = EntityMap::open(&out_dir).unwrap();
    let lm = maskner::mlm::MaskedLm::load("x", &model).unwrap();
    map.check_vocab(lm.tokenizer().vocab(), "x").unwrap();
    let other = maskner::mlm::MaskedLm::load("y", &common::fixture("tiny-bert-uncased")).unwrap();
    let err = map.check_vocab(other.tokenizer().vocab(), "y").unwrap_err().to_string();
    let built_for = model.to_str().unwrap();
    assert!(err.contains(&format!("the map was made for model {built_for}'s vocabulary of 431 tokens")), "{err}");
    assert!(err.contains("but model y has"), "{err}");
    assert!(err.contains("build one with `maskner build-map --model y`"), "{err}");
    // seed terms keep their labels
    let (sig, _) = map.lookup("aspirin");
    assert!(sig.labels_field().contains("DRUG"), "{sig}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn build_map_cli_contextual_space() {
    let model = common::fixture("tiny-bert-cased");
    let d = common::tmp("em-cli-spaces");
    let (input_dir, ctx_dir) = (d.join("input"), d.join("contextual"));
    for (dir, space) in [(&input_dir, "input"), (&ctx_dir, "contextual")] {
        let out = common::maskner(
            &["build-map", "--model", model.to_str().unwrap(), "--space", space, "--out", dir.to_str().unwrap()],
            None,
            &[],
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        // the default space is left out of the settings, so older cache keys stay valid
        let recorded = meta["stats"]["options"]["space"].as_str().unwrap_or("input");
        assert_eq!(recorded, space);
    }
    let (a, b) = (EntityMap::open(&input_dir).unwrap(), EntityMap::open(&ctx_dir).unwrap());
    // seeds keep their labels in either space; the spread over other tokens differs
    assert!(b.lookup("aspirin").0.labels_field().contains("DRUG"));
    let differ = a.tokens().iter().filter(|t| a.lookup(t).0 != b.lookup(t).0).count();
    assert!(differ > 10, "only {differ} tokens differ between the spaces");
    let out = common::maskner(&["build-map", "--model", model.to_str().unwrap(), "--space", "nope"], None, &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("input, contextual, mixed"));
    let _ = std::fs::remove_dir_all(&d);
}

/// A seeded vocabulary of ~400 tokens in 24 dimensions whose rows have exactly nine entries of
/// ±1/3, so every cosine is a multiple of 1/9: far from any 2-decimal rounding boundary (an
/// oracle and the engine cannot round a pair differently) and full of exact ties (which the
/// walk must break by row). Words, sub-words, single characters and specials; a third of the
/// words seeded from their cluster's labels, some with `UNTAGGED_ENTITY` only.
fn ninths() -> (Vec<String>, Embeddings, SeedSet) {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let labels = [["DISEASE", "GENE"], ["DRUG", "CHEMICAL_SUBSTANCE"], ["LOCATION", "PERSON"], ["CELL", "UNTAGGED_ENTITY"]];
    let mut vocab: Vec<String> = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "7"].iter().map(|s| s.to_string()).collect();
    let mut rows: Vec<Vec<f32>> = Vec::new();
    let mut pairs: Vec<(String, &str)> = Vec::new();
    let row_near = |centre: usize, next: &mut dyn FnMut(u64) -> u64| {
        // nine coordinates: mostly the centre's block of twelve, some anywhere
        let mut coords: Vec<usize> = Vec::new();
        while coords.len() < 9 {
            let c = if next(4) == 0 { next(24) as usize } else { (centre * 6 + next(12) as usize) % 24 };
            if !coords.contains(&c) {
                coords.push(c);
            }
        }
        let mut r = vec![0f32; 24];
        for c in coords {
            r[c] = if next(8) == 0 { -1.0 / 3.0 } else { 1.0 / 3.0 };
        }
        r
    };
    for _ in 0..vocab.len() {
        rows.push(row_near(next(4) as usize, &mut next));
    }
    for i in 0..400 {
        let centre = next(4) as usize;
        let tok = if i % 9 == 0 { format!("##s{i}") } else { format!("w{i}") };
        rows.push(row_near(centre, &mut next));
        if next(3) == 0 {
            pairs.push((tok.clone(), labels[centre][0]));
            if next(4) == 0 {
                pairs.push((tok.clone(), labels[centre][1]));
            }
        }
        vocab.push(tok);
    }
    // exact duplicates: ties at similarity 1
    for i in [10usize, 11, 200] {
        rows.push(rows[i].clone());
        vocab.push(format!("dup{i}"));
    }
    pairs.push(("a".to_string(), "GENE"));
    let tax = Taxonomy::jan2022();
    let seeds = SeedSet::from_pairs(pairs.iter().map(|(t, l)| (t.as_str(), *l)), &tax).unwrap();
    (vocab, Embeddings::from_rows(&rows).unwrap(), seeds)
}

/// ALGORITHM.md 5.3 read literally: every similarity, rounded, sorted, walked.
fn oracle(vocab: &[String], emb: &Embeddings, seeds: &SeedSet, rule: Rule) -> Vec<String> {
    let untagged = |t: &str| seeds.lower(t).is_none_or(|ls| ls.iter().all(|l| l.as_str() == "UNTAGGED_ENTITY"));
    let key = |t: &str| !t.starts_with('[') && t.chars().count() >= 2;
    let (threshold, picks, min_hood) = if rule == Rule::V2 { (20, 20, 0) } else { (10, 21, 11) };
    let mut counts: Vec<Vec<(String, u64)>> = vec![Vec::new(); vocab.len()];
    let bump = |c: &mut Vec<(String, u64)>, l: &str, n: u64| match c.iter_mut().find(|(x, _)| x == l) {
        Some((_, m)) => *m += n,
        None => c.push((l.to_string(), n)),
    };
    for q in (0..vocab.len()).filter(|&q| key(&vocab[q])) {
        let eligible = |t: usize| if rule == Rule::V2 { true } else { !vocab[t].starts_with('#') && !untagged(&vocab[t]) };
        let mut cand: Vec<(usize, i64)> = (0..vocab.len())
            .filter(|&t| eligible(t))
            .map(|t| (t, ((emb.cosine(q, t) as f64) * 100.0).round_ties_even() as i64))
            .filter(|&(_, h)| h > threshold)
            .collect();
        cand.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut hood = Vec::new();
        let mut seen = 0;
        for (t, _) in cand {
            hood.push(t);
            if rule == Rule::V1 || !untagged(&vocab[t]) {
                seen += 1;
                if seen == picks {
                    break;
                }
            }
        }
        if hood.len() < min_hood {
            continue;
        }
        let mut hist: Vec<(String, u64)> = Vec::new();
        for &t in &hood {
            for l in seeds.lower(&vocab[t]).unwrap_or(&[]) {
                bump(&mut hist, l.as_str(), 1);
            }
        }
        for &t in &hood {
            for (l, n) in &hist {
                let own = seeds.lower(&vocab[t]).unwrap_or(&[]);
                if rule == Rule::V2 || own.iter().any(|x| x.as_str() == l) {
                    bump(&mut counts[t], l, *n);
                }
            }
        }
    }
    vocab
        .iter()
        .zip(counts)
        .map(|(tok, mut c)| {
            if c.is_empty() {
                return match seeds.lower(tok).filter(|ls| !ls.is_empty()) {
                    Some(ls) => {
                        format!("{} {}", ls.iter().map(|l| l.as_str()).collect::<Vec<_>>().join("/"), vec!["0"; ls.len()].join("/"))
                    }
                    None => "OTHER 0".to_string(),
                };
            }
            c.sort_by_key(|x| std::cmp::Reverse(x.1));
            let (ls, ns): (Vec<String>, Vec<String>) = c.into_iter().map(|(l, n)| (l, n.to_string())).unzip();
            format!("{} {}", ls.join("/"), ns.join("/"))
        })
        .collect()
}

#[test]
fn v2_and_v1_builds_equal_a_literal_reading_of_the_rules() {
    let (vocab, emb, seeds) = ninths();
    for rule in [Rule::V2, Rule::V1] {
        let want = oracle(&vocab, &emb, &seeds, rule);
        let opts = BuildOptions { rule, search: SearchMode::Exact, ..BuildOptions::default() };
        let (got, stats) = build::build(&vocab, &emb, &seeds, &opts, &|_, _| {}).unwrap();
        assert_eq!(stats.search, "exact");
        let labelled_hoods = want.iter().filter(|s| !s.starts_with("OTHER") && !s.ends_with(" 0")).count();
        assert!(labelled_hoods > 100, "{rule:?}: the fixture must exercise the walk ({labelled_hoods})");
        for ((tok, sig), want) in got.iter().zip(&want) {
            assert_eq!(&sig.to_string(), want, "{rule:?} signature of {tok}");
        }
    }
}

#[test]
fn map_files_mixed_from_two_maps_are_refused() {
    let dir = common::tmp("em-mixed");
    let tax = Taxonomy::jan2022();
    for (name, text) in [("a", LABELS_TXT), ("b", "OTHER 0 [PAD]\nDRUG 4 aspirin\nGENE 2 EGFR\n")] {
        let src = dir.join(format!("{name}.txt"));
        std::fs::write(&src, text).unwrap();
        EntityMap::from_labels_txt(&src, &tax).unwrap().save(&dir.join(name)).unwrap();
    }
    assert!(EntityMap::open(&dir.join("a")).is_ok());
    for file in ["exact.fst", "lower.fst", "tables.bin"] {
        let mixed = dir.join(format!("mixed-{file}"));
        std::fs::create_dir_all(&mixed).unwrap();
        for f in ["exact.fst", "lower.fst", "tables.bin", "meta.json"] {
            let from = if f == file { "b" } else { "a" };
            std::fs::copy(dir.join(from).join(f), mixed.join(f)).unwrap();
        }
        let err = EntityMap::open(&mixed).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("rebuild the map"), "{file} from another map: {err:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn build_map_errors_are_one_clear_line() {
    let model = common::fixture("tiny-bert-cased");
    let out =
        common::maskner(&["build-map", "--model", model.to_str().unwrap(), "--taxonomy", "nope", "--out", "/nonexistent/x"], None, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("taxonomy nope: not a builtin name (jan2022, feb2022)"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    let out = common::maskner(&["build-map", "--model", model.to_str().unwrap(), "-k", "0", "--out", "/nonexistent/x"], None, &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("-k must be at least 1"));
    let out = common::maskner(&["build-map", "--model", "./no/such/model"], None, &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such model directory"));
}

#[test]
fn map_cache_is_keyed_by_embeddings_not_by_how_the_model_was_named() {
    use maskner::entity_map::cache;
    let tax = Taxonomy::jan2022();
    let seeds = SeedSet::builtin(&tax).unwrap();
    let opts = BuildOptions::default();
    let load = |spec: &str, dir: std::path::PathBuf| maskner::mlm::MaskedLm::load(spec, &dir).unwrap();
    let abs = common::fixture("tiny-bert-cased");
    let a = load(abs.to_str().unwrap(), abs.clone());
    let b = load(abs.join("..").join("tiny-bert-cased").to_str().unwrap(), abs.join("..").join("tiny-bert-cased"));
    assert_eq!(cache::map_dir(&a, &seeds, &opts, &tax), cache::map_dir(&b, &seeds, &opts, &tax));
    // same vocabulary, other weights: another map
    let med = common::fixture("tiny-medbert-cased");
    let m = load(med.to_str().unwrap(), med.clone());
    assert_eq!(m.tokenizer().vocab(), a.tokenizer().vocab());
    let (da, dm) = (cache::map_dir(&a, &seeds, &opts, &tax), cache::map_dir(&m, &seeds, &opts, &tax));
    assert_ne!(da.file_name(), dm.file_name());
    // and another rule: another map
    let v2 = BuildOptions { rule: Rule::V2, ..BuildOptions::default() };
    assert_ne!(cache::map_dir(&a, &seeds, &v2, &tax), da);
}
