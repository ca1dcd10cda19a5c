//! The cross-model decision (ALGORITHM.md §8.2) and `resolve` (§8.3) on synthetic members: the
//! logs only hold the winning model's data, so every branch is pinned down here, with the exact
//! output tags in compat and default modes.

use std::collections::BTreeMap;
use std::ops::Range;

use maskner::aggregate::{EntityTag, PackedScore, PooledGroup, SpanPrediction};
use maskner::compat::Numerics::{self, Compat, Fixed};
use maskner::ensemble::{self, Decision, EnsembleConfig, EnsembleError, MemberOutput, Mode, SecondCsRule, decide, details_json};
use maskner::entity_map::Taxonomy;

fn packed(s: &str) -> EntityTag {
    EntityTag::parse_packed(s).unwrap()
}

fn list(entries: &[(&str, f64)]) -> Vec<PackedScore> {
    entries.iter().map(|&(e, c)| PackedScore { tag: packed(e), confidence: c }).collect()
}

/// A span whose pooled top is `top` with confidence `conf`, and the given CS-only and CI-only
/// lists (the CI list defaults to the pooled top alone).
fn pred(top: &str, conf: f64, cs: &[(&str, f64)], ci: &[(&str, f64)]) -> SpanPrediction {
    let top = packed(top);
    let ci = if ci.is_empty() { list(&[(&top.to_string(), 1.0)]) } else { list(ci) };
    SpanPrediction {
        pooled: vec![PooledGroup { group: top.group.clone(), confidence: conf, stypes: vec![(top.subtype.clone(), 1.0)] }],
        top,
        orig_cs: list(cs),
        orig_ci: ci,
        cs_descriptors: vec![],
        ci_descriptors: vec![],
    }
}

/// A span that agrees with itself everywhere (no second prediction from `resolve`).
fn plain(top: &str, conf: f64) -> SpanPrediction {
    pred(top, conf, &[(top, 1.0)], &[])
}

fn member(terms: &str, phrases: Vec<(Range<usize>, SpanPrediction)>) -> MemberOutput {
    MemberOutput::new(terms.split(' ').map(str::to_owned).collect(), phrases).unwrap()
}

fn config() -> EnsembleConfig {
    EnsembleConfig::reference(&Taxonomy::jan2022()).unwrap()
}

fn run(members: &[MemberOutput], numerics: Numerics) -> Decision {
    decide(members, &config(), numerics).unwrap()
}

fn tags(d: &Decision) -> Vec<String> {
    d.tags.iter().map(ToString::to_string).collect()
}

fn terms(d: &Decision) -> Vec<&str> {
    d.tags.iter().map(|t| t.term.as_str()).collect()
}

// Sentence used by most tests: "Her X Y works ." with one two-term phrase at 1..3; the bio
// member writes lowercase terms and the phi member uppercase, so the chosen member shows.
const BIO: &str = "her x y works .";
const PHI: &str = "HER X Y WORKS .";

fn pair(bio: SpanPrediction, phi: SpanPrediction) -> [MemberOutput; 2] {
    [member(BIO, vec![(1..3, bio)]), member(PHI, vec![(1..3, phi)])]
}

// ----- §8.2 decision branches -----

#[test]
fn agreement_in_bio_precedence_goes_to_bio() {
    let m = pair(plain("DISEASE", 0.6), plain("DISEASE[DISEASE_ADJECTIVE]", 0.9));
    for n in [Compat, Fixed] {
        let d = run(&m, n);
        assert_eq!(tags(&d), ["O", "B_DISEASE", "I_DISEASE", "O", "O"]);
        // `O` terms agree too, and `O` is not in the bio precedence list: phi's casing.
        assert_eq!(terms(&d), ["HER", "x", "y", "WORKS", "."]);
        assert_eq!(d.runs[1].member, 0);
        assert_eq!(d.runs[1].mode, Mode::Single);
    }
}

#[test]
fn agreement_outside_bio_precedence_goes_to_phi() {
    // LOCATION is common to both, MEASURE is in neither list: phi wins both.
    for (bio_top, phi_top, want) in [("LOCATION", "LOCATION", "LOCATION"), ("MEASURE[TIME]", "MEASURE[NUMBER]", "NUMBER[MEASURE]")] {
        let d = run(&pair(plain(bio_top, 0.9), plain(phi_top, 0.5)), Compat);
        assert_eq!(tags(&d), ["O", &format!("B_{want}"), &format!("I_{want}"), "O", "O"]);
        assert_eq!(terms(&d)[1..3], ["X", "Y"]);
    }
}

#[test]
fn phi_o_takes_bio_one_token_at_a_time_in_compat() {
    // bio: pooled DRUG-group but CS winner GENE -> "pooled differs from CS" second prediction.
    let bio =
        pred("THERAPEUTIC_OR_PREVENTIVE_PROCEDURE[DRUG]", 0.52, &[("GENE", 0.48), ("THERAPEUTIC_OR_PREVENTIVE_PROCEDURE[DRUG]", 0.4)], &[]);
    let m = [member(BIO, vec![(1..3, bio)]), member(PHI, vec![])];
    // Compat: span 1, then the I-token is its own pivot and only gets the plain tag (§11.12).
    let d = run(&m, Compat);
    assert_eq!(
        tags(&d),
        ["O", "B_DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]/B_GENE", "I_DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]", "O", "O"]
    );
    assert_eq!((d.runs[1].len, d.runs[2].len), (1, 1));
    // Fixed: bio's whole span at once, continuation with I_ on both halves.
    let d = run(&m, Fixed);
    assert_eq!(
        tags(&d),
        ["O", "B_DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]/B_GENE", "I_DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]/I_GENE", "O", "O"]
    );
    assert_eq!(d.runs[1].len, 2);
    assert_eq!(terms(&d)[1..3], ["x", "y"]);
}

#[test]
fn bio_o_takes_the_full_phi_span() {
    let m = [member(BIO, vec![]), member(PHI, vec![(1..3, plain("PERSON", 0.7))])];
    for n in [Compat, Fixed] {
        let d = run(&m, n);
        assert_eq!(tags(&d), ["O", "B_PERSON", "I_PERSON", "O", "O"]);
        assert_eq!(terms(&d)[1..3], ["X", "Y"]);
        assert_eq!((d.runs[1].member, d.runs[1].len), (1, 2));
    }
}

#[test]
fn exactly_one_cross_predictor_is_dropped() {
    // bio cross-predicts ORGANIZATION (above the mean 1/3, outside bio precedence and common).
    let bio_cross = pred("DISEASE", 0.8, &[("DISEASE", 0.5), ("ORGANIZATION", 0.4), ("GENE", 0.1)], &[]);
    let phi_clean = pred("PERSON", 0.3, &[("PERSON", 0.9), ("DISEASE", 0.1)], &[]);
    for n in [Compat, Fixed] {
        let d = run(&pair(bio_cross.clone(), phi_clean.clone()), n);
        assert_eq!(tags(&d), ["O", "B_PERSON", "I_PERSON", "O", "O"]);
        assert_eq!(d.runs[1].member, 1);
    }
    // phi cross-predicts DISEASE (outside phi precedence): bio is kept, whatever the confidences.
    let bio_clean = pred("DISEASE", 0.2, &[("DISEASE", 0.9), ("PERSON", 0.1)], &[]);
    let phi_cross = pred("PERSON", 0.9, &[("PERSON", 0.5), ("DISEASE", 0.5)], &[]);
    for n in [Compat, Fixed] {
        let d = run(&pair(bio_clean.clone(), phi_cross.clone()), n);
        assert_eq!(tags(&d), ["O", "B_DISEASE", "I_DISEASE", "O", "O"]);
        assert_eq!(d.runs[1].member, 0);
    }
}

#[test]
fn both_or_neither_cross_gives_dual_by_confidence() {
    let neither = |c0: f64, c1: f64| {
        pair(pred("DISEASE", c0, &[("DISEASE", 0.9), ("PERSON", 0.1)], &[]), pred("PERSON", c1, &[("PERSON", 0.9), ("DISEASE", 0.1)], &[]))
    };
    let both = |c0: f64, c1: f64| {
        pair(
            pred("DISEASE", c0, &[("DISEASE", 0.5), ("ENT", 0.5)], &[]),
            pred("PERSON[PERSON_ADJECTIVE]", c1, &[("PERSON", 0.5), ("GENE", 0.5)], &[]),
        )
    };
    for n in [Compat, Fixed] {
        // bio more confident (ties too): bio first.
        for m in [neither(0.73, 0.21), neither(0.5, 0.5)] {
            let d = run(&m, n);
            assert_eq!(tags(&d), ["O", "B_DISEASE/B_PERSON", "I_DISEASE/I_PERSON", "O", "O"]);
            assert_eq!((d.runs[1].member, d.runs[1].mode), (0, Mode::Dual));
            assert_eq!(terms(&d)[1], "x");
        }
        // phi more confident: phi first, phi's casing.
        let d = run(&both(0.3, 0.6), n);
        assert_eq!(tags(&d), ["O", "B_PERSON_ADJECTIVE[PERSON]/B_DISEASE", "I_PERSON_ADJECTIVE[PERSON]/I_DISEASE", "O", "O"]);
        assert_eq!((d.runs[1].member, terms(&d)[1]), (1, "X"));
    }
}

#[test]
fn missing_entity_distribution() {
    // bio tags the span but has no prediction data at its B term (x0 unknown).
    let mut bio = member(BIO, vec![(1..3, plain("DISEASE", 0.9))]);
    bio.spans = BTreeMap::new();
    // (GENE[PROTEIN] is packed, so phi itself offers no second CS prediction.)
    let phi_cross = member(PHI, vec![(1..3, pred("PERSON", 0.5, &[("PERSON", 0.5), ("GENE[PROTEIN]", 0.5)], &[]))]);
    let phi_clean = member(PHI, vec![(1..3, plain("PERSON", 0.5))]);

    // Exactly one cross-predictor (phi) and x0 unknown: the reference picks phi anyway.
    let m = [bio.clone(), phi_cross];
    assert_eq!(tags(&run(&m, Compat))[1..3], ["B_PERSON", "I_PERSON"]);
    assert_eq!(tags(&run(&m, Fixed))[1..3], ["B_DISEASE", "I_DISEASE"]);

    // No cross-predictor: DUAL, and with data missing the first member goes first.
    let m = [bio, phi_clean];
    for n in [Compat, Fixed] {
        let d = run(&m, n);
        assert_eq!(tags(&d)[1..3], ["B_DISEASE/B_PERSON", "I_DISEASE/I_PERSON"]);
        assert_eq!(d.runs[1].member, 0);
    }
}

// ----- §8.3 resolve branches (single member, bio precedence) -----

fn single(p: SpanPrediction, numerics: Numerics) -> Vec<String> {
    single_with(p, numerics, SecondCsRule::Reference)
}

fn single_with(p: SpanPrediction, numerics: Numerics, rule: SecondCsRule) -> Vec<String> {
    let full = config();
    let mut cfg = EnsembleConfig::single("bio", full.members[0].precedence.clone(), full.common);
    cfg.second_cs = rule;
    let d = decide(&[member(BIO, vec![(1..3, p)])], &cfg, numerics).unwrap();
    tags(&d)[1..3].to_vec()
}

#[test]
fn resolve_pooled_differs_from_cs_winner() {
    // Logged example `Imatinib mesylate`: B_X/I_Y on the continuation token in compat.
    let p = pred(
        "THERAPEUTIC_OR_PREVENTIVE_PROCEDURE[DRUG]",
        0.5195,
        &[("GENE", 0.4763), ("THERAPEUTIC_OR_PREVENTIVE_PROCEDURE[DRUG]", 0.4)],
        &[("THERAPEUTIC_OR_PREVENTIVE_PROCEDURE[DRUG]", 0.9)],
    );
    assert_eq!(
        single(p.clone(), Compat),
        ["B_DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]/B_GENE", "B_DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]/I_GENE"]
    );
    assert_eq!(
        single(p, Fixed),
        ["B_DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]/B_GENE", "I_DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]/I_GENE"]
    );
}

#[test]
fn resolve_ci_winner_in_precedence() {
    // CS and pooled agree on DISEASE; CI says GENE, which is in the bio precedence list.
    let p = pred("DISEASE", 0.6, &[("DISEASE", 0.7), ("GENE", 0.3)], &[("GENE[PROTEIN]", 0.6), ("DISEASE", 0.4)]);
    for n in [Compat, Fixed] {
        assert_eq!(single(p.clone(), n), ["B_DISEASE/B_PROTEIN[GENE]", "I_DISEASE/I_PROTEIN[GENE]"]);
    }
    // CI says PERSON, not in the bio precedence list: no second prediction.
    let p = pred("DISEASE", 0.6, &[("DISEASE", 0.7), ("GENE", 0.3)], &[("PERSON", 0.6), ("DISEASE", 0.4)]);
    for n in [Compat, Fixed] {
        assert_eq!(single(p.clone(), n), ["B_DISEASE", "I_DISEASE"]);
    }
}

#[test]
fn resolve_second_cs_candidate() {
    // Second CS entry above the mean (1/3) and bare: offered under both rules.
    let bare = pred("MEASURE", 0.45, &[("MEASURE", 0.5761), ("LOCATION", 0.347), ("PERSON", 0.0769)], &[]);
    for n in [Compat, Fixed] {
        assert_eq!(single(bare.clone(), n), ["B_MEASURE/B_LOCATION", "I_MEASURE/I_LOCATION"]);
    }
    // Packed `G[S]`: the reference's string compare never matches it (§11.11).
    let sub = pred("DISEASE", 0.7, &[("DISEASE", 0.5), ("GENE[PROTEIN]", 0.4), ("PERSON", 0.1)], &[]);
    for n in [Compat, Fixed] {
        assert_eq!(single(sub.clone(), n), ["B_DISEASE", "I_DISEASE"]);
        assert_eq!(single_with(sub.clone(), n, SecondCsRule::AboveMean), ["B_DISEASE/B_PROTEIN[GENE]", "I_DISEASE/I_PROTEIN[GENE]"]);
    }
    // Below the mean: never offered.
    let low = pred("DISEASE", 0.7, &[("DISEASE", 0.8), ("GENE", 0.15), ("PERSON", 0.05)], &[]);
    assert_eq!(single_with(low, Fixed, SecondCsRule::AboveMean), ["B_DISEASE", "I_DISEASE"]);
}

#[test]
fn resolve_without_cs_uses_ci_winner() {
    // ignore_cs: the CS list is empty, so the CI winner stands in for it.
    let p = pred("DISEASE", 0.6, &[], &[("GENE", 0.6), ("DISEASE", 0.4)]);
    assert_eq!(single(p, Compat), ["B_DISEASE/B_GENE", "B_DISEASE/I_GENE"]);
}

#[test]
fn resolve_plain_and_flipped() {
    let p = plain("BODY_PART_OR_ORGAN_COMPONENT[CELL]", 0.9);
    for n in [Compat, Fixed] {
        assert_eq!(single(p.clone(), n), ["B_CELL[BODY_PART_OR_ORGAN_COMPONENT]", "I_CELL[BODY_PART_OR_ORGAN_COMPONENT]"]);
    }
}

#[test]
fn resolve_dual_with_o() {
    let bio = member(BIO, vec![(1..3, plain("DISEASE", 0.9))]);
    let phi = member(PHI, vec![(1..2, plain("PERSON", 0.9))]);
    let m = [bio, phi];
    let r = |n| ensemble::resolve(&m, &config(), 0, 1, 2, Mode::Dual, n).to_string();
    assert_eq!(r(Compat), "I_DISEASE/O");
    assert_eq!(r(Fixed), "I_DISEASE");
}

#[test]
fn adjacent_entities_are_separate_runs_by_default() {
    // Two adjacent phrases; the first has a pooled-vs-CS second prediction.
    let gene = pred("GENE", 0.5, &[("DISEASE", 0.6), ("GENE", 0.4)], &[]);
    let bio = member(BIO, vec![(1..2, gene), (2..3, plain("DISEASE", 0.9))]);
    let phi = member(PHI, vec![(1..2, plain("GENE", 0.4)), (2..3, plain("DISEASE", 0.4))]);
    let m = [bio, phi];
    // Compat: one run over both (span runs to the next O); the 2nd entity reuses the pivot's data.
    assert_eq!(tags(&run(&m, Compat))[1..3], ["B_GENE/B_DISEASE", "B_GENE/B_DISEASE"]);
    assert_eq!(tags(&run(&m, Fixed))[1..3], ["B_GENE/B_DISEASE", "B_DISEASE"]);
}

// ----- members, configuration, JSON -----

#[test]
fn single_member_and_member_counts() {
    let m = member(BIO, vec![(1..3, plain("GENE[PROTEIN]", 0.9))]);
    let full = config();
    let one = EnsembleConfig::single("bio", full.members[0].precedence.clone(), full.common.clone());
    let d = decide(std::slice::from_ref(&m), &one, Fixed).unwrap();
    assert_eq!(tags(&d), ["O", "B_PROTEIN[GENE]", "I_PROTEIN[GENE]", "O", "O"]);
    assert_eq!(terms(&d), ["her", "x", "y", "works", "."]);

    assert_eq!(decide(std::slice::from_ref(&m), &full, Fixed).unwrap_err(), EnsembleError::MemberCount { outputs: 1, configured: 2 });
    let mut three = full.clone();
    three.members.push(full.members[0].clone());
    let ms = [m.clone(), m.clone(), m];
    assert_eq!(decide(&ms, &three, Fixed).unwrap_err(), EnsembleError::TooManyMembers(3));
    let none = EnsembleConfig { members: vec![], ..full };
    assert_eq!(decide(&[], &none, Fixed).unwrap_err(), EnsembleError::NoMembers);
}

#[test]
fn shorter_member_bounds_the_output() {
    let bio = member("a b c", vec![]);
    let phi = member("A B", vec![]);
    assert_eq!(tags(&run(&[bio, phi], Compat)), ["O", "O"]);
}

#[test]
fn feb2022_precedence_includes_new_groups() {
    let bio = || member(BIO, vec![(1..3, pred("DISEASE", 0.9, &[("DISEASE", 0.9), ("GENE", 0.1)], &[]))]);
    let phi = || member(PHI, vec![(1..3, pred("LEGAL", 0.3, &[("LEGAL", 0.9), ("PERSON", 0.1)], &[]))]);
    // feb2022: LEGAL is phi's own group, nobody cross-predicts -> DUAL, bio more confident.
    let feb = EnsembleConfig::reference(&Taxonomy::feb2022()).unwrap();
    let d = decide(&[bio(), phi()], &feb, Fixed).unwrap();
    assert_eq!(tags(&d)[1], "B_DISEASE/B_LEGAL");
    // With the jan2022 lists LEGAL is a cross prediction of phi: bio alone.
    let d = decide(&[bio(), phi()], &config(), Fixed).unwrap();
    assert_eq!(tags(&d)[1], "B_DISEASE");
}

#[test]
fn details_json_follows_the_reference_layout() {
    // A dual span won by phi: compat aliases `e` and takes ambig data from phi (itself).
    let m = pair(
        pred("DISEASE", 0.3, &[("DISEASE", 0.9), ("PERSON", 0.1)], &[]),
        pred("PERSON", 0.6, &[("PERSON", 0.9), ("DISEASE", 0.1)], &[]),
    );
    let d = run(&m, Compat);
    let j = details_json(&m, &d, Compat);
    let keys: Vec<&str> = j.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "ensembled_ner",
            "ensembled_prediction_details",
            "ci_prediction_details",
            "cs_prediction_details",
            "ambig_prediction_details_conf",
            "ambig_prediction_details_ci",
            "ambig_prediction_details_cs",
            "orig_cs_prediction_details",
            "orig_ci_prediction_details"
        ]
    );
    assert_eq!(j["ensembled_ner"]["2"]["e"], "B_PERSON/B_DISEASE");
    assert_eq!(j["ensembled_ner"]["2"]["term"], "X");
    assert_eq!(j["ensembled_prediction_details"]["2"]["e"], "B_PERSON/B_DISEASE");
    assert_eq!(j["ambig_prediction_details_conf"]["2"]["e"], "B_PERSON/B_DISEASE");
    assert_eq!(j["ambig_prediction_details_conf"]["2"]["cs_distribution"][0]["e"], "PERSON");
    assert!(j["ambig_prediction_details_cs"].as_object().unwrap().is_empty());
    assert_eq!(j["orig_cs_prediction_details"]["2"]["e"], "PERSON");
    assert_eq!(j["orig_cs_prediction_details"]["2"]["cs_distribution"][1]["e"], "DISEASE");
    assert!(j["ensembled_prediction_details"].get("3").is_none());

    let d = run(&m, Fixed);
    let j = details_json(&m, &d, Fixed);
    assert_eq!(j["ensembled_prediction_details"]["2"]["e"], "PERSON/DISEASE");
    assert_eq!(j["ambig_prediction_details_conf"]["2"]["e"], "DISEASE");
    assert_eq!(j["ambig_prediction_details_conf"]["2"]["cs_distribution"][0]["e"], "DISEASE");
    assert_eq!(j["ambig_prediction_details_cs"]["2"]["e"], "DISEASE");
}
