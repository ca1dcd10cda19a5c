//! `maskner tag` end to end with two different tiny fixture models as the two ensemble members:
//! formats, offsets on non-ASCII text, explicit spans, error records, batching invariance;
//! member options (`--members` then `--model`/`--map`/`--labels`), checks at load (map
//! taxonomy, strict config files), input layout detection, marker-mode entity words.

mod common;

use std::process::Output;

/// `maskner tag` with the two tiny fixtures as `bio` and `phi`.
fn tag(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let bio = format!("bio={}", common::fixture_arg("tiny-bert-cased"));
    let phi = format!("phi={}", common::fixture_arg("tiny-bert-uncased"));
    let mut all = vec!["--model", &bio, "--model", &phi];
    all.extend_from_slice(args);
    run(&all, stdin)
}

/// `maskner tag ARGS` with a private map cache, offline.
fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    common::maskner(&[&["tag"], args].concat(), stdin, &[])
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

/// displaCy's manual format carries the json record's text and entities (start, end, group)
/// and the id as the title; an error record stays an error record.
#[test]
fn displacy_lines_match_the_json_records() {
    let input = concat!(
        "{\"id\": \"a\", \"text\": \"Zoë Müller moved from Zürich to São Paulo in 2019.\"}\n",
        "{\"id\": 7, \"text\": \"Imatinib:__entity__ mesylate:__entity__ is used to treat CML:__entity__ .\"}\n",
        "{\"id\": null, \"text\": \"The patient was given aspirin .\", \"spans\": [[22, 29]]}\n",
        "{\"id\": \"bad\", \"text\": \"bad span\", \"spans\": [[3, 99]]}\n",
    );
    let json = lines(&tag(&["--format", "jsonl", "--input", "-"], Some(input.as_bytes())));
    let out = tag(&["--format", "displacy", "--input", "-"], Some(input.as_bytes()));
    assert_eq!(out.status.code(), Some(2), "the bad span fails");
    let displacy = lines(&out);
    assert_eq!(displacy.len(), 4);
    for (d, j) in displacy.iter().zip(&json).take(3) {
        assert_eq!(d["text"], j["text"]);
        let want: Vec<serde_json::Value> = j["entities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| serde_json::json!({"start": e["start"], "end": e["end"], "label": e["group"]}))
            .collect();
        assert_eq!(d["ents"].as_array().unwrap(), &want);
    }
    assert!(displacy.iter().take(3).any(|d| !d["ents"].as_array().unwrap().is_empty()));
    assert_eq!(displacy[0]["title"], "a");
    assert_eq!(displacy[1]["title"], "7");
    assert!(displacy[2].get("title").is_none(), "a null id has no title");
    assert_eq!(displacy[3], json[3]);
    assert!(displacy[3]["error"].is_string());
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
    let span_error = recs[1]["error"].as_str().unwrap();
    assert!(span_error.starts_with("stdin line 2: ") && span_error.contains("out of range"), "{}", recs[1]);
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
    let phi = format!("phi={}", common::fixture_arg("tiny-bert-uncased"));
    let out = run(&["--members", "phi", "--model", &phi, "--format", "conll", "Paris:__entity__ is nice"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().next().unwrap().starts_with("Paris B_"), "{text}");
    let out = tag(&["--members", "nope", "x"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no member named nope"));
}

#[test]
fn a_token_classifier_runs_alone_and_as_an_ensemble_member() {
    let scibert = common::fixture_arg("tiny-scibert-ner-jnlpba");
    let labels = common::root().join("descriptors/members/fran-martinez--scibert_scivocab_cased_ner_jnlpba.labels.txt");
    let lab = format!("{scibert}={}", labels.display());
    // alone: its own entities, mapped to our groups
    let out =
        run(&["--members", &scibert, "--labels", &lab, "--format", "hf", "The BRCA1 protein repairs damaged DNA in breast tissue."], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ents = lines(&out)[0].as_array().unwrap().clone();
    assert!(!ents.is_empty());
    for e in &ents {
        let g = e["entity_group"].as_str().unwrap();
        assert!(g == "GENE" || g == "BODY_PART_OR_ORGAN_COMPONENT", "JNLPBA labels map to GENE or BODY_PART groups: {g}");
    }
    // in the ensemble: votes on the marked phrases next to a masked LM
    let bio = format!("bio={}", common::fixture_arg("tiny-bert-cased"));
    let out = run(
        &["--members", &format!("bio,{scibert}"), "--model", &bio, "--labels", &lab, "--format", "conll", "BRCA1:__entity__ is mutated ."],
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("BRCA1 B_"), "{text}");
    assert_eq!(text.lines().filter(|l| l.ends_with(" O")).count(), 3);
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn member_options_can_name_members_added_by_members() {
    let cased = common::fixture_arg("tiny-bert-cased");
    let uncased = common::fixture_arg("tiny-bert-uncased");
    // --model names the member --members added (by its path), which used to be "no member named"
    let swap = format!("{uncased}={cased}");
    let out = run(&["--members", &uncased, "--model", &swap, "--format", "conll", "Paris:__entity__ is nice"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Paris B_"));

    // a configured member that --members did not choose is not there to be changed
    let out = tag(&["--members", "phi", "x"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--model bio=") && stderr(&out).contains("no member named bio (members: phi)"), "{}", stderr(&out));
}

#[test]
fn member_lists_and_label_maps_are_checked() {
    let out = tag(&["--members", "phi,phi", "x"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--members: phi is listed twice"), "{}", stderr(&out));

    let out = tag(&["--members", "bio,phi,acme/third", "x"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("at most two members are supported (got 3)"), "{}", stderr(&out));

    // --labels on a masked LM would be ignored: an error naming the member
    let labels = common::root().join("descriptors/members/fran-martinez--scibert_scivocab_cased_ner_jnlpba.labels.txt");
    let lab = format!("bio={}", labels.display());
    let out = tag(&["--labels", &lab, "x"], None);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(e.contains("member bio:") && e.contains("is a masked LM; a label map (--labels"), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");

    // an unknown name: the error lists the members
    let out = tag(&["--labels", "nope=x.txt", "x"], None);
    assert!(stderr(&out).contains("--labels nope=x.txt: no member named nope (members: bio, phi)"), "{}", stderr(&out));

    // --aggregation without a token classifier would do nothing
    let out = tag(&["--aggregation", "max", "x"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("none of the members (bio, phi) is one"), "{}", stderr(&out));
}

#[test]
fn a_map_for_another_taxonomy_fails_at_load() {
    let d = common::tmp("cli-tag-taxonomy");
    let cased = common::fixture_arg("tiny-bert-cased");
    let map = d.join("feb-map");
    let out = common::maskner(&["build-map", "--model", &cased, "--taxonomy", "feb2022", "--out", map.to_str().unwrap()], None, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // --map names the member that --members added
    let m = format!("{cased}={}", map.display());
    let out = run(&["--members", &cased, "--map", &m, "Paris:__entity__ is nice"], None);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(e.contains(&format!("member {cased}: map {} was built for taxonomy feb2022", map.display())), "{e}");
    assert!(e.contains(r#"pass --config with "taxonomy": "feb2022""#), "{e}");
    assert!(out.stdout.is_empty());
    // with the map's taxonomy it runs
    let cfg = d.join("feb.json");
    std::fs::write(
        &cfg,
        format!(r#"{{"taxonomy": "feb2022", "members": [{{"name": "b", "model": "{cased}", "map": "{}"}}]}}"#, map.display()),
    )
    .unwrap();
    let out = run(&["--config", cfg.to_str().unwrap(), "--format", "conll", "Paris:__entity__ is nice"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_member_failing_on_some_inputs_gives_error_records_in_a_well_formed_array() {
    // a map whose meta.json claims jan2022 but whose every token is labelled SOFTWARE (a
    // feb2022 group): each sentence with descriptors fails in the member, the others succeed
    let d = common::tmp("cli-tag-member-error");
    let cased = common::fixture_arg("tiny-bert-cased");
    let vocab = std::fs::read_to_string(common::fixture("tiny-bert-cased").join("vocab.txt")).unwrap();
    let labels: String = vocab.lines().map(|t| format!("SOFTWARE 1 {t}\n")).collect();
    std::fs::write(d.join("labels.txt"), labels).unwrap();
    let map = d.join("map");
    let out = common::maskner(
        &[
            "build-map",
            "--import",
            d.join("labels.txt").to_str().unwrap(),
            "--taxonomy",
            "feb2022",
            "--model",
            &cased,
            "--out",
            map.to_str().unwrap(),
        ],
        None,
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let meta = std::fs::read_to_string(map.join("meta.json")).unwrap().replace("\"feb2022\"", "\"jan2022\"");
    std::fs::write(map.join("meta.json"), meta).unwrap();
    let m = format!("bio={}", map.display());
    let bio = format!("bio={cased}");
    let input = b"Paris:__entity__ is nice .\n\nthe:__entity__ cat sat .\n";
    let out = run(&["--members", "bio", "--model", &bio, "--map", &m, "--format", "json", "--input", "-"], Some(input));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a well-formed JSON array");
    let recs = v.as_array().unwrap();
    assert_eq!(recs.len(), 3, "one record per input line: {v}");
    for i in [0, 2] {
        let e = recs[i]["error"].as_str().unwrap_or_else(|| panic!("record {i}: {}", recs[i]));
        assert!(e.starts_with(&format!("stdin line {}: member bio:", i + 1)) && e.contains("SOFTWARE"), "{e}");
    }
    assert_eq!(recs[1]["entities"], serde_json::json!([]), "the blank line is tagged");
    assert!(stderr(&out).contains("2 input(s) could not be tagged"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn jsonl_is_detected_after_blank_lines_and_a_byte_order_mark() {
    let rec = "{\"id\": \"x\", \"text\": \"Paris:__entity__ is nice .\"}\n";
    let out = tag(&["--input", "-"], Some(format!("\n{rec}").as_bytes()));
    assert!(out.status.success(), "{}", stderr(&out));
    let recs = lines(&out);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["text"], "");
    assert_eq!(recs[1]["id"], "x");
    assert_eq!(recs[1]["text"], "Paris:__entity__ is nice .");

    let out = tag(&["--input", "-"], Some(format!("\u{feff}{rec}").as_bytes()));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(lines(&out)[0]["id"], "x");

    // a JSON record in a plain-text file, a plain line in JSON Lines: error records
    let out = tag(&["--input", "-"], Some(format!("Paris is nice .\n{rec}").as_bytes()));
    assert_eq!(out.status.code(), Some(2));
    let recs = lines(&out);
    assert_eq!(recs[0]["text"], "Paris is nice .");
    assert!(recs[1]["error"].as_str().unwrap().contains("line 2: a JSON Lines record in plain-text input"), "{}", recs[1]);
    let out = tag(&["--input", "-"], Some(format!("{rec}Paris is nice .\n").as_bytes()));
    let recs = lines(&out);
    assert_eq!(recs[0]["id"], "x");
    assert!(recs[1]["error"].as_str().unwrap().contains("line 2: malformed JSON"), "{}", recs[1]);
}

#[test]
fn texts_and_input_together_are_a_usage_error() {
    let out = tag(&["--input", "-", "a text"], Some(b"another\n"));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot be used with"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let out = common::maskner(
        &["fill-mask", "--model", &common::fixture_arg("tiny-bert-cased"), "--input", "-", "a [MASK] ."],
        Some(b"b [MASK] .\n"),
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot be used with"), "{}", stderr(&out));
}

#[test]
fn marker_mode_words_are_the_phrase_without_markers() {
    let text = "Imatinib:__entity__ mesylate:__entity__ is used to treat CML:__entity__ .";
    let out = tag(&["--format", "json", text], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ents = v[0]["entities"].as_array().unwrap();
    let words: Vec<&str> = ents.iter().map(|e| e["word"].as_str().unwrap()).collect();
    assert_eq!(words, ["Imatinib mesylate", "CML"]);
    // offsets stay those of the input text, markers included
    assert_eq!((ents[0]["start"].as_u64(), ents[0]["end"].as_u64()), (Some(0), Some(28)));
    let hf = tag(&["--format", "hf", text], None);
    assert_eq!(lines(&hf)[0][0]["word"], "Imatinib mesylate");

    // a standalone marker is a blank slot: tagged, but no entity with an empty word
    let out = tag(&["Staten is a :__entity__ ."], None);
    let rec = &lines(&out)[0];
    let blank = rec["terms"].as_array().unwrap().iter().find(|t| t["term"] == "").expect("the blank term");
    assert!(blank["tag"].as_str().unwrap().starts_with("B_"), "{rec}");
    assert!(rec["entities"].as_array().unwrap().iter().all(|e| !e["word"].as_str().unwrap().is_empty()), "{rec}");
}

#[test]
fn engine_config_files_are_strict() {
    let d = common::tmp("cli-tag-config");
    let cased = common::fixture_arg("tiny-bert-cased");
    let f = d.join("engine.json");
    std::fs::write(&f, format!(r#"{{"members": [{{"name": "b", "model": "{cased}", "precedance": ["GENE"]}}]}}"#)).unwrap();
    let out = run(&["--config", f.to_str().unwrap(), "x"], None);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(e.contains(&format!("{}: invalid engine config", f.display())) && e.contains("unknown field `precedance`"), "{e}");

    std::fs::write(&f, format!(r#"{{"members": [{{"name": "b", "model": "{cased}", "precedence": ["GENES"]}}]}}"#)).unwrap();
    let e = stderr(&run(&["--config", f.to_str().unwrap(), "x"], None));
    assert!(e.contains(&format!("{}: member b: precedence:", f.display())) && e.contains("\"GENES\""), "{e}");

    std::fs::write(&f, format!(r#"{{"common": ["NOPE"], "members": [{{"name": "b", "model": "{cased}"}}]}}"#)).unwrap();
    let e = stderr(&run(&["--config", f.to_str().unwrap(), "x"], None));
    assert!(e.contains(&format!("{}: common:", f.display())) && e.contains("\"NOPE\""), "{e}");
    let _ = std::fs::remove_dir_all(&d);
}

/// `--precision bf16` (or `"precision": "bf16"` in a config file) holds the weight matrices as
/// bf16: on the fixtures every marked phrase keeps its fp32 entity (span, subtype, group), the
/// scores move a little but not much, and a bad value is refused by name.
#[test]
fn bf16_precision_keeps_the_fp32_entities() {
    let input =
        "Imatinib:__entity__ is used to treat CML:__entity__ .\nAspirin:__entity__ helps with headache:__entity__ and fever:__entity__ .";
    let ents = |out: &Output| -> Vec<(u64, u64, String, String, f64)> {
        assert!(out.status.success(), "{}", stderr(out));
        lines(out)
            .iter()
            .flat_map(|r| r["entities"].as_array().unwrap().clone())
            .map(|e| {
                let s = |k: &str| e[k].as_str().unwrap().to_string();
                (e["start"].as_u64().unwrap(), e["end"].as_u64().unwrap(), s("subtype"), s("group"), e["score"].as_f64().unwrap())
            })
            .collect()
    };
    let fp32 = ents(&tag(&["--format", "jsonl", "--input", "-"], Some(input.as_bytes())));
    let bf16 = ents(&tag(&["--format", "jsonl", "--precision", "bf16", "--input", "-"], Some(input.as_bytes())));
    assert_eq!(fp32.len(), 5, "{fp32:?}");
    assert_eq!(fp32.len(), bf16.len());
    for (a, b) in fp32.iter().zip(&bf16) {
        assert_eq!((a.0, a.1, &a.2, &a.3), (b.0, b.1, &b.2, &b.3), "entity changed under bf16");
        assert!((a.4 - b.4).abs() < 0.05, "score moved from {} to {}", a.4, b.4);
    }

    let d = common::tmp("cli-tag-precision");
    let f = d.join("engine.json");
    let (cased, uncased) = (common::fixture_arg("tiny-bert-cased"), common::fixture_arg("tiny-bert-uncased"));
    let members = format!(r#""members": [{{"name": "bio", "model": "{cased}"}}, {{"name": "phi", "model": "{uncased}"}}]"#);
    let with_config = |extra: &str, flags: &[&str]| {
        std::fs::write(&f, format!("{{{extra}{members}}}")).unwrap();
        ents(&run(&[&["--config", f.to_str().unwrap(), "--format", "jsonl", "--input", "-"], flags].concat(), Some(input.as_bytes())))
    };
    let file_bf16 = with_config(r#""precision": "bf16", "#, &[]);
    assert_eq!(file_bf16, with_config("", &["--precision", "bf16"]), "the config file's precision is the flag's");
    assert_ne!(file_bf16, with_config("", &[]), "the config file's precision is ignored");
    std::fs::write(&f, format!(r#"{{"precision": "fp16", "members": [{{"name": "b", "model": "{cased}"}}]}}"#)).unwrap();
    let e = stderr(&run(&["--config", f.to_str().unwrap(), "x"], None));
    assert!(e.contains("invalid engine config") && e.contains("unknown variant `fp16`"), "{e}");
    let _ = std::fs::remove_dir_all(&d);

    let out = tag(&["--precision", "fp16", "x"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("invalid value 'fp16' for '--precision <PRECISION>'"), "{}", stderr(&out));
}
