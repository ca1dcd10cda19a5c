//! `maskner tag` end to end with two different tiny fixture models as the two ensemble members:
//! formats, offsets on non-ASCII text, explicit spans, error records, batching invariance.

mod common;

use std::process::{Command, Output};

fn fixture(name: &str) -> String {
    common::root().join("data/fixtures").join(name).display().to_string()
}

fn tag(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let cache = std::env::temp_dir().join(format!("maskner-tag-cache-{}", std::process::id()));
    let bio = format!("bio={}", fixture("tiny-bert-cased"));
    let phi = format!("phi={}", fixture("tiny-bert-uncased"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_maskner"));
    cmd.args(["tag", "--model", &bio, "--model", &phi])
        .args(args)
        .env("MASKNER_CACHE", &cache)
        .env("HF_HUB_OFFLINE", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn maskner");
    if let Some(bytes) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

fn lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
}

#[test]
fn marker_mode_conll_tags_exactly_the_marked_phrases() {
    let out = tag(&["--format", "conll", "Imatinib:__entity__ mesylate:__entity__ is used to treat CML:__entity__ ."], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<(&str, &str)> = text.lines().filter(|l| !l.is_empty()).map(|l| l.split_once(' ').unwrap()).collect();
    let terms: Vec<&str> = rows.iter().map(|r| r.0).collect();
    assert_eq!(terms, ["Imatinib", "mesylate", "is", "used", "to", "treat", "CML", "."]);
    assert!(rows[0].1.starts_with("B_"), "{rows:?}");
    assert!(rows[1].1.starts_with("I_"), "{rows:?}");
    for r in &rows[2..6] {
        assert_eq!(r.1, "O");
    }
    assert!(rows[6].1.starts_with("B_"));
    assert_eq!(rows[7].1, "O");
    assert!(text.ends_with("\n\n"), "a blank line ends the record");
}

#[test]
fn compat_prints_the_appended_period_and_default_does_not() {
    let input = "Lou:__entity__ Gehrig:__entity__ worked in XCorp:__entity__";
    let c = String::from_utf8(tag(&["--format", "conll", "--compat", input], None).stdout).unwrap();
    let d = String::from_utf8(tag(&["--format", "conll", input], None).stdout).unwrap();
    assert_eq!(c.lines().filter(|l| !l.is_empty()).count(), 6);
    assert_eq!(c.lines().nth(5).unwrap(), ". O");
    assert_eq!(d.lines().filter(|l| !l.is_empty()).count(), 5);
}

#[test]
fn hf_offsets_are_characters_of_the_original_text() {
    let text = "Zoë Müller moved from Zürich to São Paulo in 2019.";
    let out = tag(&["--format", "hf", text], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = &lines(&out)[0];
    let ents = v.as_array().unwrap();
    assert!(!ents.is_empty());
    let chars: Vec<char> = text.chars().collect();
    for e in ents {
        let (s, t) = (e["start"].as_u64().unwrap() as usize, e["end"].as_u64().unwrap() as usize);
        let word: String = chars[s..t].iter().collect();
        assert_eq!(word, e["word"].as_str().unwrap());
        assert!(e["entity_group"].is_string() && e["score"].is_f64());
    }
    let words: Vec<&str> = ents.iter().map(|e| e["word"].as_str().unwrap()).collect();
    assert!(words.contains(&"Zürich"), "{words:?}");
}

#[test]
fn every_input_line_gives_one_record_even_on_errors() {
    let mut input = Vec::new();
    input.extend_from_slice(b"{\"id\": \"a\", \"text\": \"The patient was given aspirin .\", \"spans\": [[22, 29]]}\n");
    input.extend_from_slice(b"{\"id\": \"b\", \"text\": \"bad span\", \"spans\": [[3, 99]]}\n");
    input.extend_from_slice(b"{\"id\": \"c\", \"text\": \n");
    input.extend_from_slice(b"{\"id\": \"d\", \"text\": \"Mesothelioma:__entity__ is caused by asbestos:__entity__\"}\n");
    input.extend_from_slice(b"{\"id\": \"e\", \"text\": \"caf\xc3\xa9 \xff\"}\n");
    let out = tag(&["--input", "-", "--explain"], Some(&input));
    assert_eq!(out.status.code(), Some(2), "failed records make the exit code 2");
    let recs = lines(&out);
    assert_eq!(recs.len(), 5);
    assert_eq!(recs[0]["id"], "a");
    let ents = recs[0]["entities"].as_array().unwrap();
    assert_eq!(ents.len(), 1);
    assert_eq!(ents[0]["word"], "aspirin");
    assert_eq!((ents[0]["start"].as_u64(), ents[0]["end"].as_u64()), (Some(22), Some(29)));
    let expl = ents[0]["explanation"].as_object().unwrap();
    assert!(expl.contains_key("bio") && expl.contains_key("phi"));
    assert!(!expl["bio"]["cs_descriptors"].as_array().unwrap().is_empty());
    assert_eq!(recs[1]["id"], "b");
    assert!(recs[1]["error"].as_str().unwrap().contains("out of range"), "{}", recs[1]);
    assert!(recs[2]["error"].as_str().unwrap().contains("malformed JSON"));
    assert_eq!(recs[3]["id"], "d");
    assert_eq!(recs[3]["entities"].as_array().unwrap().len(), 2);
    assert!(recs[4]["error"].as_str().unwrap().contains("invalid UTF-8"));
}

#[test]
fn results_do_not_depend_on_batching() {
    let texts = [
        "Mutations in the EGFR gene predict response to gefitinib in lung cancer.",
        "The mice were treated with cisplatin for three weeks.",
        "Lou Gehrig worked in New York.",
    ];
    let joined = texts.join("\n") + "\n";
    let batched = tag(&["--input", "-", "--format", "conll", "--batch", "3"], Some(joined.as_bytes()));
    let single = tag(&["--input", "-", "--format", "conll", "--batch", "1"], Some(joined.as_bytes()));
    assert!(batched.status.success());
    assert_eq!(batched.stdout, single.stdout);
}

#[test]
fn one_member_runs_alone() {
    let out = tag(&["--members", "phi", "--format", "conll", "Paris:__entity__ is nice"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().next().unwrap().starts_with("Paris B_"), "{text}");
    let out = tag(&["--members", "nope", "x"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no member named nope"));
}

#[test]
fn a_token_classifier_runs_alone_and_as_an_ensemble_member() {
    let scibert = fixture("tiny-scibert-ner-jnlpba");
    let labels = common::root().join("descriptors/members/fran-martinez--scibert_scivocab_cased_ner_jnlpba.labels.txt");
    let lab = format!("{scibert}={}", labels.display());
    // alone: its own entities, mapped to our groups
    let out = tag(&["--members", &scibert, "--labels", &lab, "--format", "hf", "The BRCA1 protein repairs damaged DNA in breast tissue."], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ents = lines(&out)[0].as_array().unwrap().clone();
    assert!(!ents.is_empty());
    for e in &ents {
        let g = e["entity_group"].as_str().unwrap();
        assert!(g == "GENE" || g == "BODY_PART_OR_ORGAN_COMPONENT", "JNLPBA labels map to GENE or BODY_PART groups: {g}");
    }
    // in the ensemble: votes on the marked phrases next to a masked LM
    let out = tag(&["--members", &format!("bio,{scibert}"), "--labels", &lab, "--format", "conll", "BRCA1:__entity__ is mutated ."], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("BRCA1 B_"), "{text}");
    assert_eq!(text.lines().filter(|l| l.ends_with(" O")).count(), 3);
}
