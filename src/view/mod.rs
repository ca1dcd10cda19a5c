//! The HTML view: one self-contained page (inline CSS and JS, no network) that marks entities
//! inline and explains each from its descriptors, for `maskner tag --format html`,
//! `maskner fill-mask --format html` and the demo page of `maskner serve` (`GET /`).
//!
//! Rust never assembles markup here or anywhere else: the templates (`page.html`, `view.css`,
//! `view.js`) are compiled in, and the records travel as JSON inside a
//! `<script type="application/json">` element that the script parses and turns into DOM nodes
//! with `textContent`, so input text is never parsed as HTML. The JSON is made safe for that
//! element by escaping `<`, `>` and `&` (see [`script_json`]).
//!
//! Page data (`{"kind", ...}`), read by `view.js`:
//! - `tag`: `members`, `explain`, `records` ([`record`] or an error record `{"id","error"}`;
//!   explanations in the compact form of [`compact_explanations`]), `names` (the strings the
//!   compact form refers to), `signatures` (per member, token -> `[labels, counts]`).
//! - `fill`: `model`, `records` (the fill-mask JSON record or `{"text","error"}`).
//! - `demo`: nothing; the page asks the server (`/v1/info`, `/v1/ner`).

use crate::engine::TagResult;
use crate::output;
use serde_json::{Map, Value, json};

const PAGE: &str = include_str!("page.html");
const STYLE: &str = include_str!("view.css");
const SCRIPT: &str = include_str!("view.js");

/// One record as the tag page draws it: the JSON record (`id`, `text`, `entities`, with
/// `--explain` each entity's `explanation`) without what the page does not show (the per-term
/// tags, an entity's display `tag`), plus the typed phrases that are no entity (`phrases`,
/// drawn faint).
pub fn record(id: &Value, result: &TagResult, member_names: &[&str], explain: bool) -> Value {
    let mut v = output::record_json(id, result, member_names, explain);
    let Some(obj) = v.as_object_mut() else { return v };
    obj.remove("terms");
    let spans: Vec<(u64, u64)> = match obj.get_mut("entities").and_then(Value::as_array_mut) {
        Some(ents) => ents
            .iter_mut()
            .filter_map(|e| {
                let e = e.as_object_mut()?;
                e.remove("tag");
                Some((e.get("start")?.as_u64()?, e.get("end")?.as_u64()?))
            })
            .collect(),
        None => Vec::new(),
    };
    let mut phrases = obj.remove("phrases").unwrap_or_else(|| output::phrases_json(result));
    if let Some(list) = phrases.as_array_mut() {
        list.retain(|p| {
            let (s, e) = (p["start"].as_u64().unwrap_or(0), p["end"].as_u64().unwrap_or(0));
            !spans.iter().any(|&(a, b)| s < b && a < e)
        });
    }
    obj.insert("phrases".into(), phrases);
    v
}

/// The page of `maskner tag --format html`: `records` are [`record`]s and error records, in
/// input order.
pub fn tag_page(mut records: Vec<Value>, member_names: &[&str], explain: bool) -> String {
    let mut names = Names::default();
    let signatures = compact_explanations(&mut records, &mut names);
    let title = format!("maskner tag: {} record{}", records.len(), if records.len() == 1 { "" } else { "s" });
    let data = json!({"kind": "tag", "title": title, "members": member_names, "explain": explain,
                      "records": records, "signatures": signatures, "names": names.list});
    page(&data, Connect::None)
}

/// The page of `maskner fill-mask --format html`: per text, the top-K at each `[MASK]` and at
/// `[CLS]` side by side.
pub fn fill_page(records: Vec<Value>, model: &str) -> String {
    let title = format!("maskner fill-mask: {model}");
    page(&json!({"kind": "fill", "title": title, "model": model, "records": records}), Connect::None)
}

/// The demo page `maskner serve` answers `GET /` with: a text box tagged through the server's
/// own `POST /v1/ner` (with `explain`), drawn by the same script as [`tag_page`].
pub fn demo_page() -> String {
    page(&json!({"kind": "demo", "title": "maskner"}), Connect::SameOrigin)
}

/// Where the page's script may send requests (its Content-Security-Policy).
enum Connect {
    None,
    SameOrigin,
}

fn page(data: &Value, connect: Connect) -> String {
    let connect = match connect {
        Connect::None => "'none'",
        Connect::SameOrigin => "'self'",
    };
    fill_template(PAGE, &[("connect", connect), ("style", STYLE), ("script", SCRIPT), ("data", &script_json(data))])
}

/// JSON that can sit inside `<script type="application/json">`: `<`, `>` and `&` only occur
/// inside JSON strings, where `\u003c` etc. mean the same characters, so `</script>` or
/// `<!--` in input text cannot end or alter the element. U+2028/U+2029 are escaped too, so the
/// text stays valid if ever read as a script.
pub fn script_json(v: &Value) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 32);
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Replaces each `{{key}}` of `template` in one left-to-right pass, so a value that itself
/// contains `{{...}}` (input text inside the data) is never expanded. Hand-written rather than
/// a template engine: four fixed slots, and no markup is generated from data on the Rust side.
fn fill_template(template: &str, slots: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + slots.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}").map(|c| open + c) else { break };
        let key = &rest[open + 2..close];
        match slots.iter().find(|(k, _)| *k == key) {
            Some((_, value)) => {
                out.push_str(&rest[..open]);
                out.push_str(value);
            }
            None => out.push_str(&rest[..close + 2]),
        }
        rest = &rest[close + 2..];
    }
    out.push_str(rest);
    out
}

/// Bars the entity panel draws from a member's pooled distribution.
const TOP_GROUPS: usize = 8;
/// Subtypes kept for the top group, and groups kept from the CS-only and CI-only distributions.
const TOP_SHOWN: usize = 3;

/// The strings an explained page repeats thousands of times (descriptor tokens, group names),
/// each stored once in the page's `names`; the compact explanation refers to them by index.
#[derive(Default)]
struct Names {
    list: Vec<String>,
    index: std::collections::HashMap<String, usize>,
}

impl Names {
    fn id(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.list.push(name.to_string());
        self.index.insert(name.to_string(), self.list.len() - 1);
        self.list.len() - 1
    }
}

/// Makes every explanation of `records` compact for the page, in place, and returns the
/// signature table. Per member and entity the page keeps what the panel shows, with strings as
/// indices into `names`: the pooled distribution's top groups as `[name, confidence]` (the
/// first with its top subtypes as a third element), the CS-only and CI-only tops likewise,
/// and the descriptors as `[token, logit]` in three lists by where they were read (`d`: `cs`,
/// `cls`, `mask`). Their `labels`/`counts` go to one table per member (token -> `[labels,
/// counts]`), staying inline (`[token, logit, labels, counts]`) only where a descriptor
/// disagrees with its member's table (a CI override such as a number phrase's `two`).
/// `view.js` expands it back into the `--explain` JSON shape. 923 NCBI-disease sentences with
/// automatic phrases: 38 MB of `--explain` JSON, 11 MB as a page.
fn compact_explanations(records: &mut [Value], names: &mut Names) -> Value {
    let mut table: Map<String, Value> = Map::new();
    for rec in records.iter_mut() {
        let Some(entities) = rec.get_mut("entities").and_then(Value::as_array_mut) else { continue };
        for ent in entities {
            let Some(models) = ent.get_mut("explanation").and_then(Value::as_object_mut) else { continue };
            for (member, ex) in models.iter_mut() {
                let Some(obj) = ex.as_object_mut() else { continue };
                if !obj.contains_key("cs_descriptors") {
                    continue; // a token classifier's label and score
                }
                let sigs = table.entry(member.clone()).or_insert_with(|| Value::Object(Map::new()));
                let Some(sigs) = sigs.as_object_mut() else { continue };
                let mut lists = Map::new();
                for (key, at, list) in
                    [("cs_descriptors", None, "cs"), ("ci_descriptors", Some("cls"), "cls"), ("ci_descriptors", Some("mask"), "mask")]
                {
                    let descs = obj.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
                    let kept = descs
                        .iter()
                        .filter(|d| at.is_none_or(|a| d.get("at").and_then(Value::as_str) == Some(a)))
                        .map(|d| compact_descriptor(d, sigs, names))
                        .collect();
                    lists.insert(list.into(), Value::Array(kept));
                }
                obj.remove("cs_descriptors");
                obj.remove("ci_descriptors");
                obj.insert("d".into(), Value::Object(lists));
                for (key, keep) in [("distribution", TOP_GROUPS), ("cs_only", TOP_SHOWN), ("ci_only", TOP_SHOWN)] {
                    if let Some(Value::Array(dist)) = obj.get_mut(key) {
                        *dist = compact_distribution(dist, keep, key == "distribution", names);
                    }
                }
            }
        }
    }
    Value::Object(table)
}

/// The `keep` first groups with a confidence above zero as `[name, confidence]`; with
/// `subtypes`, the first also carries its top subtypes.
fn compact_distribution(dist: &[Value], keep: usize, subtypes: bool, names: &mut Names) -> Vec<Value> {
    dist.iter()
        .filter(|g| g.get("confidence").and_then(Value::as_f64).is_some_and(|c| c > 0.0))
        .take(keep)
        .enumerate()
        .map(|(i, g)| {
            let name = names.id(g.get("e").and_then(Value::as_str).unwrap_or_default());
            let conf = g.get("confidence").cloned().unwrap_or(Value::Null);
            match g.get("stypes").and_then(Value::as_object) {
                Some(st) if subtypes && i == 0 => {
                    let top: Map<String, Value> = st.iter().take(TOP_SHOWN).map(|(k, v)| (k.clone(), v.clone())).collect();
                    json!([name, conf, top])
                }
                _ => json!([name, conf]),
            }
        })
        .collect()
}

/// `[token, logit]`, or `[token, logit, labels, counts]` when the signature differs from the
/// member's table entry (the first one seen for the token).
fn compact_descriptor(d: &Value, sigs: &mut Map<String, Value>, names: &mut Names) -> Value {
    let token = d.get("token").and_then(Value::as_str).unwrap_or_default();
    let logit = d.get("logit").cloned().unwrap_or(Value::Null);
    let sig = json!([d.get("labels").cloned().unwrap_or_default(), d.get("counts").cloned().unwrap_or_default()]);
    let known = sigs.entry(token.to_string()).or_insert_with(|| sig.clone());
    let id = names.id(token);
    if *known == sig { json!([id, logit]) } else { json!([id, logit, sig[0], sig[1]]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_its_element() {
        let v = json!({"text": "</script><script>alert(1)</script> & <!-- \u{2028}"});
        let s = script_json(&v);
        assert!(!s.contains('<') && !s.contains('>') && !s.contains('&') && !s.contains('\u{2028}'));
        let back: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn template_slots_are_filled_once() {
        let out = fill_template("a {{x}} b {{y}} {{unknown}}", &[("x", "{{y}}"), ("y", "Y")]);
        assert_eq!(out, "a {{y}} b Y {{unknown}}");
    }

    #[test]
    fn explanations_are_compacted_with_shared_signatures() {
        let d = |tok: &str, labels: &str, at: &str| json!({"token": tok, "labels": labels, "counts": "1", "logit": 1.5, "at": at});
        let dist: Vec<Value> = (0..10)
            .map(
                |i| json!({"e": format!("G{i}"), "confidence": 0.1 * f64::from(9 - i), "stypes": {"a": 0.5, "b": 0.3, "c": 0.1, "d": 0.1}}),
            )
            .collect();
        let ex = |cs: Vec<Value>, ci: Vec<Value>| json!({"bio": {"top": "G0", "distribution": dist, "cs_only": dist, "ci_only": [], "cs_descriptors": cs, "ci_descriptors": ci}});
        let mut records = vec![
            json!({"entities": [{"explanation": ex(vec![d("two", "NUMBER", "mask"), d("liver", "BODY", "mask")], vec![d("liver", "BODY", "cls"), d("lung", "BODY", "mask")])}]}),
            json!({"entities": [{"explanation": ex(vec![d("two", "MEASURE", "mask")], vec![])}]}),
        ];
        let mut names = Names::default();
        let table = compact_explanations(&mut records, &mut names);
        assert_eq!(table, json!({"bio": {"two": ["NUMBER", "1"], "liver": ["BODY", "1"], "lung": ["BODY", "1"]}}));
        assert_eq!(names.list, ["two", "liver", "lung", "G0", "G1", "G2", "G3", "G4", "G5", "G6", "G7"]);
        let first = &records[0]["entities"][0]["explanation"]["bio"];
        assert_eq!(first["d"], json!({"cs": [[0, 1.5], [1, 1.5]], "cls": [[1, 1.5]], "mask": [[2, 1.5]]}));
        // nine groups have a confidence above zero; the eight best stay, the first with three subtypes
        let kept = first["distribution"].as_array().unwrap();
        assert_eq!(kept.len(), 8);
        assert_eq!(kept[0], json!([3, 0.9, {"a": 0.5, "b": 0.3, "c": 0.1}]));
        assert_eq!(kept[1].as_array().unwrap().len(), 2);
        assert_eq!(first["cs_only"].as_array().unwrap().len(), 3);
        assert_eq!(first["cs_only"][0], json!([3, 0.9]));
        assert!(first.get("cs_descriptors").is_none());
        // the second page-wide "two" disagrees with the table: it keeps its own signature
        assert_eq!(records[1]["entities"][0]["explanation"]["bio"]["d"]["cs"][0], json!([0, 1.5, "MEASURE", "1"]));
    }
}
