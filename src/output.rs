//! Output stage: a [`TagResult`] as maskner's JSON (with the explanation), the reference's
//! two-column `term TAG` format, a Hugging Face pipeline-style entity list, displaCy's manual
//! format, or the reference ensemble's JSON. Offsets in every output are **character** offsets
//! into the input text. [`render`] picks one record's shape by [`Format`] for every front end.

use crate::aggregate::{Prefix, SpanPrediction, TermTag};
use crate::compat::{self, Numerics};
use crate::engine::{ClassifiedEntity, TagResult, TaggedSentence};
use crate::ensemble::{self, FinalTag};
use serde::Serialize;
use serde_json::{Value, json};

/// Output formats of `maskner tag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One pretty-printed JSON document: an array of records.
    Json,
    /// One compact JSON record per input line.
    #[default]
    Jsonl,
    /// The reference's `term TAG` lines, a blank line after each input.
    Conll,
    /// Hugging Face token-classification pipeline style: per input, a JSON list of
    /// `{entity_group, score, word, start, end}`.
    Hf,
    /// spaCy displaCy's manual format, one compact JSON line per input:
    /// `{"text", "ents": [{"start", "end", "label"}], "title"}` (label = group, title = id).
    Displacy,
    /// One self-contained HTML page for all inputs (`src/view/`): entities marked inline, a
    /// legend, and with `--explain` each entity's descriptors per member.
    Html,
}

/// Converts byte offsets of one text to character offsets.
pub struct CharOffsets(Vec<usize>);

impl CharOffsets {
    pub fn new(text: &str) -> Self {
        let mut map = vec![0; text.len() + 1];
        let mut c = 0;
        for (b, ch) in text.char_indices() {
            for k in 0..ch.len_utf8() {
                map[b + k] = c;
            }
            c += 1;
        }
        map[text.len()] = c;
        Self(map)
    }

    pub fn at(&self, byte: usize) -> usize {
        self.0.get(byte).copied().unwrap_or_else(|| self.0.last().copied().unwrap_or(0))
    }
}

/// A typed span of the output.
#[derive(Debug, Clone, Serialize)]
pub struct Entity {
    /// Character offsets.
    pub start: usize,
    pub end: usize,
    pub word: String,
    pub group: String,
    pub subtype: String,
    /// The display tag of the first term (`B_DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]`,
    /// possibly with a second prediction after `/`).
    pub tag: String,
    /// The chosen member's pooled confidence of `group`; for a token classifier running alone,
    /// its pipeline score.
    pub score: f64,
    pub member: String,
    /// A token classifier running alone: the model's own label (the pipeline's `entity_group`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The first term's second prediction (the part of `tag` after `/`), typed, so a reader
    /// need not parse `tag`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub second: Option<Second>,
    /// Term indices of the entity within its sentence.
    #[serde(skip)]
    pub terms: std::ops::Range<usize>,
    #[serde(skip)]
    pub sentence: usize,
}

/// A dual prediction's second entity type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Second {
    pub group: String,
    pub subtype: String,
}

/// The prediction of member `m` for the phrase that contains term `t`.
fn span_at(s: &TaggedSentence, m: usize, t: usize) -> Option<&SpanPrediction> {
    let start = s.phrases.iter().find(|r| r.contains(&t))?.start;
    s.outputs.get(m)?.spans.get(&start)
}

/// The f32 as the f64 of its shortest decimal form (`0.5362` rather than `0.53619998693466`).
fn shortest(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

/// The entities a token classifier found running alone, as its pipeline reports them.
fn classified_entities(found: &[ClassifiedEntity], member_names: &[&str]) -> Vec<Entity> {
    found
        .iter()
        .map(|e| Entity {
            start: e.span.start,
            end: e.span.end,
            word: e.span.word.clone(),
            group: e.tag.group.as_str().to_string(),
            subtype: e.tag.subtype.as_str().to_string(),
            tag: TermTag::Entity(Prefix::B, e.tag.clone()).flipped(),
            score: shortest(e.span.score),
            member: member_names.first().unwrap_or(&"").to_string(),
            label: Some(e.span.entity_group.clone()),
            second: None,
            terms: 0..0,
            sentence: 0,
        })
        .collect()
}

/// Entities of a result: a run starts at a `B_` first prediction and continues over `I_` of the
/// same group (an `I_` without `B_` starts one too). The appended period never belongs to one.
/// `word` is the text between the run's first and last term; in marker mode, the terms joined
/// by single spaces (the text there holds the markers). A run of empty terms (a standalone
/// `:__entity__`) is no entity. A token classifier running alone gives its own entities.
pub fn entities(result: &TagResult, member_names: &[&str]) -> Vec<Entity> {
    if let Some(found) = &result.classified {
        return classified_entities(found, member_names);
    }
    let offs = CharOffsets::new(&result.text);
    let mut out = Vec::new();
    for (si, s) in result.sentences.iter().enumerate() {
        let tags = &s.decision.tags;
        let mut t = 0;
        while t < tags.len() {
            let TermTag::Entity(_, tag) = &tags[t].first else {
                t += 1;
                continue;
            };
            // OTHER / UNTAGGED_ENTITY: a phrase no member could type is not an entity
            if s.terms[t].synthetic || matches!(tag.group.as_str(), "OTHER" | "UNTAGGED_ENTITY") {
                t += 1;
                continue;
            }
            let mut end = t + 1;
            while end < tags.len()
                && !s.terms[end].synthetic
                && matches!(&tags[end].first, TermTag::Entity(Prefix::I, x) if x.group == tag.group)
            {
                end += 1;
            }
            let fin: &FinalTag = &tags[t];
            let score =
                span_at(s, fin.member, t).and_then(|p| p.pooled.iter().find(|g| g.group == tag.group).map(|g| g.confidence)).unwrap_or(0.0);
            let (bs, be) = (s.terms[t].start, s.terms[end - 1].end);
            let word = if s.markers {
                let words: Vec<&str> = s.terms[t..end].iter().map(|x| x.text.as_str()).filter(|w| !w.is_empty()).collect();
                words.join(" ")
            } else {
                result.text.get(bs..be).unwrap_or("").to_string()
            };
            if word.is_empty() {
                t = end;
                continue;
            }
            out.push(Entity {
                start: offs.at(bs),
                end: offs.at(be),
                word,
                group: tag.group.as_str().to_string(),
                subtype: tag.subtype.as_str().to_string(),
                tag: fin.to_string(),
                score: compat::numpy_round(score, 4),
                member: member_names.get(fin.member).unwrap_or(&"").to_string(),
                label: None,
                second: fin
                    .second
                    .as_ref()
                    .and_then(TermTag::entity)
                    .map(|s| Second { group: s.group.as_str().to_string(), subtype: s.subtype.as_str().to_string() }),
                terms: t..end,
                sentence: si,
            });
            t = end;
        }
    }
    out
}

/// maskner's JSON record: terms with tags and offsets, entities, and (with `explain`) every
/// member's distributions and descriptors for each entity.
pub fn record_json(id: &Value, result: &TagResult, member_names: &[&str], explain: bool) -> Value {
    let offs = CharOffsets::new(&result.text);
    let ents = entities(result, member_names);
    let terms: Vec<Value> = result
        .sentences
        .iter()
        .flat_map(|s| {
            s.terms
                .iter()
                .zip(&s.decision.tags)
                .filter(|(t, _)| !t.synthetic)
                .map(|(t, f)| json!({"term": t.text, "start": offs.at(t.start), "end": offs.at(t.end), "tag": f.to_string()}))
        })
        .collect();
    let entities: Vec<Value> = ents
        .iter()
        .map(|e| {
            let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
            if explain && e.label.is_some() {
                // a lone classifier's entity is explained by the model's own label and score
                let name = member_names.first().unwrap_or(&"").to_string();
                v["explanation"] = json!({ name: {"label": e.label, "score": e.score} });
            } else if explain {
                let s = &result.sentences[e.sentence];
                let mut models = serde_json::Map::new();
                for (m, name) in member_names.iter().enumerate() {
                    if let Some(p) = span_at(s, m, e.terms.start) {
                        models.insert(name.to_string(), explanation(p));
                    }
                }
                v["explanation"] = Value::Object(models);
            }
            v
        })
        .collect();
    let mut record = json!({"id": id, "text": result.text, "terms": terms, "entities": entities});
    if explain {
        record["phrases"] = phrases_json(result);
    }
    record
}

/// Every phrase the members typed, with its final tag, entity or not (`O`, `OTHER`,
/// `UNTAGGED_ENTITY` included): which phrases were considered at all. Character offsets;
/// `text` is the phrase's words as in an entity's `word`.
pub fn phrases_json(result: &TagResult) -> Value {
    let offs = CharOffsets::new(&result.text);
    let mut out = Vec::new();
    for s in &result.sentences {
        for r in &s.phrases {
            let real: Vec<usize> = r.clone().filter(|&t| s.terms.get(t).is_some_and(|x| !x.synthetic)).collect();
            let (Some(&first), Some(&last)) = (real.first(), real.last()) else { continue };
            let (bs, be) = (s.terms[first].start, s.terms[last].end);
            let text = if s.markers {
                real.iter().map(|&t| s.terms[t].text.as_str()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
            } else {
                result.text.get(bs..be).unwrap_or("").to_string()
            };
            let tag = s.decision.tags.get(first).map(|f| f.to_string()).unwrap_or_default();
            out.push(json!({"start": offs.at(bs), "end": offs.at(be), "text": text, "tag": tag}));
        }
    }
    Value::Array(out)
}

fn explanation(p: &SpanPrediction) -> Value {
    let descs = |d: &[crate::aggregate::Descriptor]| -> Vec<Value> {
        d.iter()
            .map(|x| {
                json!({"token": x.token, "labels": x.signature.labels_field(), "counts": x.signature.counts_field(),
                       "logit": compat::numpy_round(x.logit, 4), "at": x.at})
            })
            .collect()
    };
    json!({
        "top": p.top.to_string(),
        "distribution": p.pooled,
        "cs_only": p.orig_cs,
        "ci_only": p.orig_ci,
        "cs_descriptors": descs(&p.cs_descriptors),
        "ci_descriptors": descs(&p.ci_descriptors),
    })
}

/// An error record in place of a result.
pub fn error_json(id: &Value, error: &str) -> Value {
    json!({"id": id, "error": error})
}

/// The reference's two-column output: `term TAG` per term, then a blank line. Compat prints the
/// chosen member's term casing and the appended period like the reference; the default prints
/// the input words.
pub fn conll(result: &TagResult, numerics: Numerics) -> String {
    let mut out = String::new();
    for s in &result.sentences {
        for (t, f) in s.terms.iter().zip(&s.decision.tags) {
            if numerics.conll_prints_model_terms() {
                out.push_str(&format!("{} {}\n", f.term, f));
            } else if !t.synthetic {
                out.push_str(&format!("{} {}\n", t.text, f));
            }
        }
    }
    out.push('\n');
    out
}

/// Hugging Face pipeline-style list: `{entity_group, score, word, start, end}` per entity
/// (`entity_group` is our group; the first prediction only). A token classifier running alone
/// gives exactly its pipeline's entities, with `entity_group` mapped to our group.
pub fn hf(result: &TagResult, member_names: &[&str]) -> Value {
    Value::Array(
        entities(result, member_names)
            .into_iter()
            .map(|e| json!({"entity_group": e.group, "score": e.score, "word": e.word, "start": e.start, "end": e.end}))
            .collect(),
    )
}

/// displaCy's manual format (`displacy.render(doc, style="ent", manual=True)`): the text, its
/// entities as `{start, end, label}` (character offsets, label = group; as [`hf`], the first
/// prediction only) and the record id as `title` (omitted for a null id).
pub fn displacy(id: &Value, result: &TagResult, member_names: &[&str]) -> Value {
    let ents: Vec<Value> =
        entities(result, member_names).into_iter().map(|e| json!({"start": e.start, "end": e.end, "label": e.group})).collect();
    let mut v = json!({"text": result.text, "ents": ents});
    match id {
        Value::Null => {}
        Value::String(s) => v["title"] = Value::String(s.clone()),
        other => v["title"] = Value::String(other.to_string()),
    }
    v
}

/// One record in `format`, as a value: the one place that maps a format to its shape, for the
/// CLI, the server and the bindings. `conll` is its text as a JSON string; `json` and `jsonl`
/// records are the same (the array framing of `json` is the writer's); an `html` record is
/// what [`crate::view::tag_page`] draws (the page is the writer's).
pub fn render(format: Format, id: &Value, result: &TagResult, member_names: &[&str], numerics: Numerics, explain: bool) -> Value {
    match format {
        Format::Json | Format::Jsonl => record_json(id, result, member_names, explain),
        Format::Hf => hf(result, member_names),
        Format::Conll => Value::String(conll(result, numerics)),
        Format::Displacy => displacy(id, result, member_names),
        Format::Html => crate::view::record(id, result, member_names, explain),
    }
}

/// The reference ensemble's JSON for a single-sentence result (§8.4), for the compatibility
/// route of the server.
pub fn reference_json(result: &TagResult, numerics: Numerics, elapsed_secs: f64) -> Value {
    let mut obj = match result.sentences.first() {
        Some(s) => ensemble::details_json(&s.outputs, &s.decision, numerics),
        None => serde_json::Map::new(),
    };
    obj.insert(
        "stats".into(),
        json!({"Ensemble server count": result.sentences.first().map_or(0, |s| s.outputs.len()).to_string(),
               "Elapsed time": format!("{elapsed_secs:.1} secs"), "return_status": "Success"}),
    );
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::CharOffsets;

    #[test]
    fn char_offsets_of_multibyte_text() {
        let t = "Zoë Müller";
        let o = CharOffsets::new(t);
        assert_eq!(o.at(0), 0);
        assert_eq!(o.at(5), 4); // 'M' after "Zoë " (ë is 2 bytes)
        assert_eq!(o.at(t.len()), 10);
    }
}
