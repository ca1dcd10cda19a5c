//! The HTML formats without a browser (python/tests/test_view.py drives them in Chromium): the
//! page's data equals the JSON output, input markup never reaches the page as markup, `--explain`
//! says where each descriptor was read, `fill-mask --format`.

mod common;

use serde_json::Value;
use std::process::Output;

fn tag(args: &[&str], stdin: &str) -> Output {
    let bio = format!("bio={}", common::fixture_arg("tiny-bert-cased"));
    let phi = format!("phi={}", common::fixture_arg("tiny-bert-uncased"));
    common::maskner(&[&["tag", "--model", &bio, "--model", &phi], args].concat(), Some(stdin.as_bytes()), &[])
}

/// The JSON inside the page's `<script type="application/json" id="maskner-data">`.
fn page_data(page: &str) -> Value {
    let open = r#"<script type="application/json" id="maskner-data">"#;
    let start = page.find(open).expect("the data element") + open.len();
    let end = start + page[start..].find("</script>").expect("its end");
    serde_json::from_str(&page[start..end]).expect("page data is JSON")
}

fn jsonl(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
}

const INPUT: &str = concat!(
    r#"{"id":"x","text":"Aspirin:__entity__ helps </script><script>alert(1)</script> & <img src=x onerror=alert(1)> \u2028 ."}"#,
    "\n",
    r#"{"id":"y","text":"Zoë Müller was treated with imatinib in São Paulo ."}"#,
    "\n",
    r#"{"id":"z","text":"short","spans":[[2,40]]}"#,
    "\n"
);

#[test]
fn the_tag_page_carries_the_json_records_and_no_input_markup() {
    let out = tag(&["--input", "-", "--format", "html", "--explain"], INPUT);
    assert_eq!(out.status.code(), Some(2), "the bad spans record: {}", String::from_utf8_lossy(&out.stderr));
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
    assert_eq!(page.matches("<script").count(), 2, "only the page's own data and script elements");
    assert!(!page.contains("<img") && !page.contains("alert(1)</script>"));
    assert!(page.contains("connect-src 'none'"), "a file page sends no requests");
    let data = page_data(&page);
    assert_eq!(data["kind"], "tag");
    assert_eq!(data["members"], serde_json::json!(["bio", "phi"]));
    let want = jsonl(&tag(&["--input", "-", "--format", "jsonl", "--explain"], INPUT));
    let records = data["records"].as_array().unwrap();
    assert_eq!(records.len(), 3);
    for (got, want) in records.iter().zip(&want) {
        assert_eq!(got["id"], want["id"]);
        assert_eq!(got["text"], want["text"]);
        assert_eq!(got["error"], want["error"]);
        // the page keeps the phrases that are no entity (drawn faint)
        let entity_spans: Vec<(u64, u64)> =
            want["entities"].as_array().into_iter().flatten().map(|e| (e["start"].as_u64().unwrap(), e["end"].as_u64().unwrap())).collect();
        let faint: Vec<&Value> = want["phrases"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| !entity_spans.iter().any(|&(a, b)| p["start"].as_u64().unwrap() < b && a < p["end"].as_u64().unwrap()))
            .collect();
        assert_eq!(got["phrases"].as_array().map(|a| a.iter().collect::<Vec<_>>()).unwrap_or_default(), faint);
        let strip = |v: &Value| -> Vec<Value> {
            v["entities"].as_array().map_or(vec![], |a| {
                a.iter()
                    .map(|e| {
                        let mut e = e.clone();
                        e.as_object_mut().unwrap().remove("explanation");
                        e.as_object_mut().unwrap().remove("tag");
                        e
                    })
                    .collect()
            })
        };
        assert_eq!(strip(got), strip(want));
        // the page's explanation is compact: descriptors as [token, logit] in three lists
        for (g, w) in got["entities"].as_array().into_iter().flatten().zip(want["entities"].as_array().into_iter().flatten()) {
            for (member, ex) in w["explanation"].as_object().unwrap() {
                let d = &g["explanation"][member]["d"];
                let names = &data["names"];
                let tokens = |v: &Value| -> Vec<String> {
                    v.as_array().unwrap().iter().map(|x| names[x[0].as_u64().unwrap() as usize].as_str().unwrap().to_string()).collect()
                };
                let of = |key: &str, at: &str| -> Vec<String> {
                    ex[key].as_array().unwrap().iter().filter(|x| x["at"] == at).map(|x| x["token"].as_str().unwrap().to_string()).collect()
                };
                assert_eq!(tokens(&d["cs"]), of("cs_descriptors", "mask"));
                assert_eq!(tokens(&d["cls"]), of("ci_descriptors", "cls"));
                assert_eq!(tokens(&d["mask"]), of("ci_descriptors", "mask"));
                let sig = &data["signatures"][member][&tokens(&d["cs"])[0]];
                assert_eq!(sig[0], ex["cs_descriptors"][0]["labels"]);
            }
        }
    }
    assert_eq!(records[0]["entities"][0]["word"], "Aspirin");
    assert!(records[2]["error"].as_str().unwrap().contains("2..40"));
}

#[test]
fn explain_says_where_each_descriptor_was_read() {
    let out = tag(&["--explain", "Imatinib:__entity__ treats leukemia:__entity__ ."], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rec = &jsonl(&out)[0];
    let mut cls = 0;
    for e in rec["entities"].as_array().unwrap() {
        for ex in e["explanation"].as_object().unwrap().values() {
            assert!(ex["cs_descriptors"].as_array().unwrap().iter().all(|d| d["at"] == "mask"), "CS descriptors are read at [MASK]");
            for d in ex["ci_descriptors"].as_array().unwrap() {
                assert!(d["at"] == "mask" || d["at"] == "cls", "{d}");
                cls += usize::from(d["at"] == "cls");
            }
        }
    }
    // the default configuration reads [CLS] of the CI prompt for one member
    assert!(cls > 0, "no descriptor read at [CLS]: {rec}");
    // every phrase, entity or not, with its tag and its words
    let phrases = rec["phrases"].as_array().unwrap();
    let words: Vec<&str> = phrases.iter().map(|p| p["text"].as_str().unwrap()).collect();
    assert_eq!(words, ["Imatinib", "leukemia"]);
    assert!(phrases.iter().all(|p| p["tag"].as_str().unwrap().starts_with("B_") || p["tag"] == "O"));
}

#[test]
fn fill_mask_formats() {
    let model = common::fixture_arg("tiny-bert-cased");
    let texts = ["Paris is the [MASK] of <b>France</b> .", "no mask"];
    let run = |extra: &[&str]| common::maskner(&[&["fill-mask", "--model", &model], extra, &texts].concat(), None, &[]);
    let json = run(&["--format", "json"]);
    assert!(json.status.success());
    assert_eq!(json.stdout, run(&["--json"]).stdout, "--json is --format json");
    let page = run(&["--format", "html"]);
    assert!(page.status.success(), "{}", String::from_utf8_lossy(&page.stderr));
    let page = String::from_utf8(page.stdout).unwrap();
    assert!(!page.contains("<b>France"));
    let data = page_data(&page);
    assert_eq!(data["kind"], "fill");
    assert_eq!(data["records"].as_array().unwrap(), &jsonl(&json));
    let text = run(&["--format", "text"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("[CLS] at position 0"));
    let both = run(&["--json", "--format", "html"]);
    assert_eq!(both.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&both.stderr).contains("cannot be used with"));
}
