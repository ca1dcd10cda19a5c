//! Per-model aggregation: descriptors -> group distributions, CI+CS pooling, top tag and
//! B_/I_ tags (ALGORITHM.md §7).
//!
//! For one phrase and one model, [`SpanPrediction::new`] takes the context-sensitive (CS) and
//! context-independent (CI) descriptor lists and returns the pooled distribution, the CS-only and
//! CI-only "orig" lists and the top tag. The numeric details that differ between the reference
//! and the default mode come from [`Numerics`]; everything else (insertion-ordered stable sorts,
//! the normaliser summed in sorted order, raw subtype counts) is the same in both.
//!
//! ```
//! use maskner::aggregate::{Descriptor, SpanPrediction};
//! use maskner::compat::Numerics;
//! use maskner::entity_map::Taxonomy;
//! let d = |t: &str, sig: &str, logit| Descriptor::new(t, sig.parse().unwrap(), logit);
//! let cs = vec![d("drug", "DRUG/GENE 5/1", 11.0), d("protein", "PROTEIN 3", 9.0)];
//! let ci = vec![d("inhibitor", "DRUG 4", 10.0)];
//! let p = SpanPrediction::new(cs, ci, &Taxonomy::jan2022(), Numerics::Compat).unwrap();
//! assert_eq!(p.top.to_string(), "THERAPEUTIC_OR_PREVENTIVE_PROCEDURE[DRUG]");
//! assert_eq!(p.top.flipped(), "DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]");
//! ```

use std::cmp::Ordering;
use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize, Serializer};

use crate::compat::{self, Numerics};
use crate::entity_map::taxonomy::{OTHER, UNTAGGED_ENTITY};
use crate::entity_map::{Group, Label, Signature, Taxonomy, TaxonomyError};

/// A vocabulary token predicted at a `[MASK]` or `[CLS]` position, with its entity signature and
/// the model's raw logit (ALGORITHM.md §1, §3.5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Descriptor {
    pub token: String,
    pub signature: Signature,
    pub logit: f64,
    /// Where the model predicted it; a CI prompt is read at `[CLS]` and at its `[MASK]`, and
    /// `--explain` shows which (the two reads answer different questions).
    #[serde(default)]
    pub at: ReadAt,
}

/// The position a descriptor was read at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadAt {
    /// The prompt's `[MASK]` (every CS descriptor, and the CI prompt's mask).
    #[default]
    Mask,
    /// The CI prompt's `[CLS]` (when the member reads it, `use_cls`).
    Cls,
}

impl Descriptor {
    pub fn new(token: impl Into<String>, signature: Signature, logit: f64) -> Self {
        Self { token: token.into(), signature, logit, at: ReadAt::Mask }
    }

    /// The same descriptor, read at `at`.
    pub fn read_at(self, at: ReadAt) -> Self {
        Self { at, ..self }
    }

    /// The reference's JSON form `{d, e, mlm, l_score}` (all strings; `mlm` is the logit rounded
    /// to 4 dp as Python prints it).
    pub fn reference_json(&self) -> serde_json::Value {
        serde_json::json!({
            "d": self.token,
            "e": self.signature.labels_field(),
            "mlm": compat::format_logit(self.logit),
            "l_score": self.signature.counts_field(),
        })
    }
}

/// A group with its top subtype: `G` when the top subtype is the group itself, else `G[S]`
/// (the reference's packed form; [`EntityTag::flipped`] gives the display form `S[G]`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EntityTag {
    pub group: Group,
    pub subtype: Label,
}

impl EntityTag {
    pub fn new(group: Group, subtype: Label) -> Self {
        Self { group, subtype }
    }

    /// A tag whose subtype is the group itself (`G`).
    pub fn bare(group: Group) -> Self {
        let subtype = group.as_label();
        Self { group, subtype }
    }

    /// True for the bare `G` form (top subtype == group).
    pub fn is_bare(&self) -> bool {
        self.subtype == self.group
    }

    /// Display form `S[G]`, or `G` when bare.
    pub fn flipped(&self) -> String {
        if self.is_bare() { self.group.to_string() } else { format!("{}[{}]", self.subtype, self.group) }
    }

    /// Parse the packed form `G` or `G[S]` (no taxonomy check).
    pub fn parse_packed(s: &str) -> Option<Self> {
        match s.split_once('[') {
            None if !s.is_empty() && !s.contains(']') => Some(Self::bare(Group::new(s))),
            Some((g, rest)) => {
                let sub = rest.strip_suffix(']')?;
                (!g.is_empty() && !sub.is_empty() && !sub.contains(['[', ']'])).then(|| Self::new(Group::new(g), Label::new(sub)))
            }
            None => None,
        }
    }
}

impl fmt::Display for EntityTag {
    /// Packed form `G[S]`, or `G` when bare.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_bare() { write!(f, "{}", self.group) } else { write!(f, "{}[{}]", self.group, self.subtype) }
    }
}

impl Serialize for EntityTag {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// B_/I_ position of a term inside a phrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Prefix {
    B,
    I,
}

impl Prefix {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::B => "B_",
            Self::I => "I_",
        }
    }

    /// Splits a `B`/`I` prefix and one of `separators` off a tag: `("B_DISEASE", "_")` ->
    /// `(B, "DISEASE")`; `None` when there is none (`O`, bare `B`/`I`, `B-PER` with `"_"`).
    /// The engine writes `_`; CoNLL-style files (eval's gold) also use `-`.
    pub fn split<'a>(tag: &'a str, separators: &str) -> Option<(Self, &'a str)> {
        let prefix = match tag.as_bytes().first()? {
            b'B' => Self::B,
            b'I' => Self::I,
            _ => return None,
        };
        let rest = &tag[1..];
        let sep = rest.chars().next().filter(|&c| separators.contains(c))?;
        Some((prefix, &rest[sep.len_utf8()..]))
    }
}

/// A tag without its `B`/`I` prefix (see [`Prefix::split`]): `strip_bio("B_DISEASE", "_")` is
/// `DISEASE`; anything without such a prefix is returned whole.
pub fn strip_bio<'a>(tag: &'a str, separators: &str) -> &'a str {
    Prefix::split(tag, separators).map_or(tag, |(_, rest)| rest)
}

/// One model's tag for one term (§7.3): `O`, `B_<top>` or `I_<top>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TermTag {
    O,
    Entity(Prefix, EntityTag),
}

impl TermTag {
    /// The group (`grp` of §8.1); `None` for `O`.
    pub fn group(&self) -> Option<&Group> {
        match self {
            Self::O => None,
            Self::Entity(_, t) => Some(&t.group),
        }
    }

    pub fn prefix(&self) -> Option<Prefix> {
        match self {
            Self::O => None,
            Self::Entity(p, _) => Some(*p),
        }
    }

    pub fn is_begin(&self) -> bool {
        self.prefix() == Some(Prefix::B)
    }

    pub fn entity(&self) -> Option<&EntityTag> {
        match self {
            Self::O => None,
            Self::Entity(_, t) => Some(t),
        }
    }

    /// Display form with the subtype first: `B_S[G]`, `I_G`, `O`.
    pub fn flipped(&self) -> String {
        match self {
            Self::O => "O".to_owned(),
            Self::Entity(p, t) => format!("{}{}", p.as_str(), t.flipped()),
        }
    }

    /// Parse the flipped display form (`B_S[G]`, `I_G`, `O`), as written by the ensemble.
    pub fn parse_flipped(s: &str) -> Option<Self> {
        if s == "O" {
            return Some(Self::O);
        }
        let (prefix, rest) = Prefix::split(s, "_")?;
        // S[G] -> G[S]
        let tag = EntityTag::parse_packed(rest)?;
        let tag = if tag.is_bare() { tag } else { EntityTag::new(Group::new(tag.subtype.as_str()), Label::new(tag.group.as_str())) };
        Some(Self::Entity(prefix, tag))
    }
}

impl fmt::Display for TermTag {
    /// The model's own (unflipped) form: `B_G[S]`, `I_G`, `O`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::O => f.write_str("O"),
            Self::Entity(p, t) => write!(f, "{}{t}", p.as_str()),
        }
    }
}

impl Serialize for TermTag {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Per-term tags of one model for a sentence of `n_terms` terms: `O` outside the phrases,
/// `B_<top>` on a phrase's first term, `I_<top>` on the rest (§7.3).
///
/// Phrases must be non-empty, in bounds and non-overlapping (checked by the caller that built
/// them; out-of-range parts are ignored here rather than panicking).
pub fn term_tags<'a>(n_terms: usize, phrases: impl IntoIterator<Item = (Range<usize>, &'a EntityTag)>) -> Vec<TermTag> {
    let mut tags = vec![TermTag::O; n_terms];
    for (range, top) in phrases {
        for (k, i) in range.enumerate() {
            if let Some(slot) = tags.get_mut(i) {
                let prefix = if k == 0 { Prefix::B } else { Prefix::I };
                *slot = TermTag::Entity(prefix, top.clone());
            }
        }
    }
    tags
}

/// One group of a per-model distribution (§7.1): its normalised score and the raw label counts
/// of its subtypes, in first-seen order.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupAggregate {
    pub group: Group,
    /// Rounded to 4 dp in compat mode, full precision otherwise.
    pub confidence: f64,
    pub subtype_counts: Vec<(Label, u64)>,
}

impl GroupAggregate {
    /// Subtypes ordered by count, descending; ties keep first-seen order.
    pub fn ordered_subtypes(&self) -> Vec<(Label, u64)> {
        let mut v = self.subtype_counts.clone();
        v.sort_by_key(|x| std::cmp::Reverse(x.1)); // stable
        v
    }

    /// The packed `G[S]` form with S the top subtype (`G` if S == G).
    pub fn packed(&self) -> EntityTag {
        let top = self
            .subtype_counts
            .iter()
            .fold(None::<&(Label, u64)>, |best, x| match best {
                Some(b) if b.1 >= x.1 => Some(b),
                _ => Some(x),
            })
            .map(|(l, _)| l.clone());
        EntityTag::new(self.group.clone(), top.unwrap_or_else(|| self.group.as_label()))
    }
}

/// A per-model distribution over groups, ordered by confidence (descending, stable).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Aggregate {
    pub groups: Vec<GroupAggregate>,
}

impl Aggregate {
    /// The reference's "orig" list: packed tags with confidences (§7.3).
    pub fn packed(&self) -> Vec<PackedScore> {
        self.groups.iter().map(|g| PackedScore { tag: g.packed(), confidence: g.confidence }).collect()
    }
}

/// One entry of an "orig" (CS-only or CI-only) list: `{e: "G[S]", confidence}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PackedScore {
    #[serde(rename = "e")]
    pub tag: EntityTag,
    #[serde(serialize_with = "ser_round4")]
    pub confidence: f64,
}

/// One entry of a pooled distribution: `{e: G, confidence, stypes: {S: share, ...}}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PooledGroup {
    #[serde(rename = "e")]
    pub group: Group,
    #[serde(serialize_with = "ser_round4")]
    pub confidence: f64,
    /// Subtype shares, by raw count descending (stable, CS keys before CI keys).
    #[serde(serialize_with = "ser_shares")]
    pub stypes: Vec<(Label, f64)>,
}

fn ser_round4<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(compat::numpy_round(*x, 4))
}

fn ser_shares<S: Serializer>(v: &[(Label, f64)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(v.len()))?;
    for (l, x) in v {
        m.serialize_entry(l.as_str(), &compat::numpy_round(*x, 4))?;
    }
    m.end()
}

/// Everything one model says about one phrase (§7): the pooled distribution (`entity_distribution`
/// of the reference), the CS-only and CI-only packed lists and the top tag.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpanPrediction {
    /// Pooled top tag `G` / `G[S]` (§7.3); `OTHER` if the pooled list is empty.
    pub top: EntityTag,
    /// Pooled CI+CS distribution, best first.
    pub pooled: Vec<PooledGroup>,
    /// CS-only distribution, packed (empty when there were no CS descriptors).
    pub orig_cs: Vec<PackedScore>,
    /// CI-only distribution, packed.
    pub orig_ci: Vec<PackedScore>,
    pub cs_descriptors: Vec<Descriptor>,
    pub ci_descriptors: Vec<Descriptor>,
}

impl SpanPrediction {
    /// Aggregate both lists, pool them and pick the top tag. An empty CS list (the reference's
    /// `ignore_cs`) pools CI alone; an empty CI list aggregates to `OTHER` like any empty list.
    pub fn new(cs: Vec<Descriptor>, ci: Vec<Descriptor>, taxonomy: &Taxonomy, numerics: Numerics) -> Result<Self, TaxonomyError> {
        let ci_agg = aggregate(&ci, taxonomy, numerics)?;
        let cs_agg = if cs.is_empty() { None } else { Some(aggregate(&cs, taxonomy, numerics)?) };
        let pooled = pool(&ci_agg, cs_agg.as_ref(), numerics);
        Ok(Self {
            top: top_tag(&pooled),
            orig_cs: cs_agg.map(|a| a.packed()).unwrap_or_default(),
            orig_ci: ci_agg.packed(),
            pooled,
            cs_descriptors: cs,
            ci_descriptors: ci,
        })
    }

    /// A supervised member's vote as a prediction: its probability of each of our groups
    /// (`groups`, best first, summing to 1) and of each group/subtype pair (`tags`). The CS-only
    /// and CI-only lists are the same packed list; there are no descriptors. No mass at all
    /// gives `OTHER`.
    pub fn from_shares(groups: &[(Group, f64)], tags: &[(EntityTag, f64)]) -> Self {
        let mut pooled: Vec<PooledGroup> = Vec::new();
        for (g, p) in groups.iter().filter(|(_, p)| *p > 0.0) {
            let mut st: Vec<(Label, f64)> = tags.iter().filter(|(t, _)| &t.group == g).map(|(t, q)| (t.subtype.clone(), *q)).collect();
            st.sort_by(|a, b| desc(a.1, b.1));
            let total: f64 = st.iter().map(|x| x.1).sum();
            if total > 0.0 {
                st.iter_mut().for_each(|x| x.1 /= total);
            } else {
                st = vec![(g.as_label(), 1.0)];
            }
            pooled.push(PooledGroup { group: g.clone(), confidence: *p, stypes: st });
        }
        if pooled.is_empty() {
            pooled.push(PooledGroup { group: Group::new(OTHER), confidence: 1.0, stypes: vec![(Label::new(OTHER), 1.0)] });
        }
        let packed: Vec<PackedScore> = pooled
            .iter()
            .map(|g| PackedScore { tag: EntityTag::new(g.group.clone(), g.stypes[0].0.clone()), confidence: g.confidence })
            .collect();
        Self {
            top: top_tag(&pooled),
            pooled,
            orig_cs: packed.clone(),
            orig_ci: packed,
            cs_descriptors: Vec::new(),
            ci_descriptors: Vec::new(),
        }
    }

    /// Confidence of the pooled top group (0 if empty).
    pub fn top_confidence(&self) -> f64 {
        self.pooled.first().map_or(0.0, |g| g.confidence)
    }
}

/// §7.1: one descriptor list -> group distribution with raw subtype counts.
///
/// Each descriptor's non-suppressed labels (all but OTHER and UNTAGGED_ENTITY) add their raw
/// counts to their subtypes, and `softmax(counts) * weight` to their groups, where the weight is
/// the logit ([`Numerics::descriptor_weight`]). Groups are ordered by score (stable) and
/// normalised by the sum taken in that order. No scored label at all gives `OTHER: 1`.
pub fn aggregate(descriptors: &[Descriptor], taxonomy: &Taxonomy, numerics: Numerics) -> Result<Aggregate, TaxonomyError> {
    let mut groups: Vec<GroupAggregate> = Vec::new();
    for d in descriptors {
        let mut kept: Vec<(&Label, u32, &Group)> = Vec::with_capacity(d.signature.len());
        for (label, count) in d.signature.iter() {
            let group = taxonomy.group_of(label.as_str())?;
            if label.as_str() != OTHER && label.as_str() != UNTAGGED_ENTITY {
                kept.push((label, count, group));
            }
        }
        if kept.is_empty() {
            continue;
        }
        let Some(weight) = numerics.descriptor_weight(d.logit) else {
            continue;
        };
        let counts: Vec<u32> = kept.iter().map(|k| k.1).collect();
        let softmax = numerics.softmax(&counts);
        for ((label, count, group), w) in kept.into_iter().zip(softmax) {
            let g = match groups.iter().position(|g| &g.group == group) {
                Some(i) => i,
                None => {
                    groups.push(GroupAggregate { group: group.clone(), confidence: 0.0, subtype_counts: Vec::new() });
                    groups.len() - 1
                }
            };
            let entry = &mut groups[g];
            match entry.subtype_counts.iter_mut().find(|(l, _)| l == label) {
                Some((_, c)) => *c += u64::from(count),
                None => entry.subtype_counts.push((label.clone(), u64::from(count))),
            }
            entry.confidence += w * weight;
        }
    }
    if groups.is_empty() {
        let other = taxonomy.group(OTHER)?.clone();
        groups.push(GroupAggregate { subtype_counts: vec![(other.as_label(), 1)], group: other, confidence: 1.0 });
    }
    groups.sort_by(|a, b| desc(a.confidence, b.confidence));
    let scores: Vec<f64> = groups.iter().map(|g| g.confidence).collect();
    for (g, c) in groups.iter_mut().zip(normalize(&scores)) {
        g.confidence = numerics.stored_value(c);
    }
    Ok(Aggregate { groups })
}

/// §7.2: pool the CI and CS distributions with equal weight (CI groups first for tie order),
/// normalise in sorted order, and merge the raw subtype counts (CS keys first).
pub fn pool(ci: &Aggregate, cs: Option<&Aggregate>, numerics: Numerics) -> Vec<PooledGroup> {
    let mut m: Vec<(&Group, f64)> = ci.groups.iter().map(|g| (&g.group, g.confidence)).collect();
    for g in cs.into_iter().flat_map(|a| &a.groups) {
        match m.iter_mut().find(|(k, _)| *k == &g.group) {
            Some((_, v)) => *v += g.confidence,
            None => m.push((&g.group, g.confidence)),
        }
    }
    m.sort_by(|a, b| desc(a.1, b.1));
    let values: Vec<f64> = m.iter().map(|x| x.1).collect();
    let conf = normalize(&values);
    let subs_of = |agg: Option<&Aggregate>, group: &Group| {
        agg.and_then(|a| a.groups.iter().find(|g| &g.group == group)).map(|g| g.subtype_counts.clone()).unwrap_or_default()
    };
    m.iter()
        .zip(conf)
        .map(|((group, _), c)| {
            let mut st = subs_of(cs, group);
            for (label, count) in subs_of(Some(ci), group) {
                match st.iter_mut().find(|(l, _)| *l == label) {
                    Some((_, n)) => *n += count,
                    None => st.push((label, count)),
                }
            }
            st.sort_by_key(|x| std::cmp::Reverse(x.1)); // stable: ties keep CS-first order
            // Counts are integers: their f64 sum is exact in any order below 2^53.
            let counts: Vec<f64> = st.iter().map(|(_, n)| *n as f64).collect();
            let shares = normalize(&counts);
            PooledGroup {
                group: (*group).clone(),
                confidence: numerics.stored_value(c),
                stypes: st.into_iter().zip(shares).map(|((l, _), s)| (l, numerics.stored_value(s))).collect(),
            }
        })
        .collect()
}

/// §7.3: the first pooled group with its first subtype; `OTHER` for an empty list.
pub fn top_tag(pooled: &[PooledGroup]) -> EntityTag {
    match pooled.first() {
        Some(g) => EntityTag::new(g.group.clone(), g.stypes.first().map_or_else(|| g.group.as_label(), |(l, _)| l.clone())),
        None => EntityTag::bare(Group::new(OTHER)),
    }
}

/// Descending order for a stable sort; incomparable values (never produced) count as equal.
fn desc(a: f64, b: f64) -> Ordering {
    b.partial_cmp(&a).unwrap_or(Ordering::Equal)
}

/// The reference's `normalize`: divide by the left-to-right sum; a zero (or non-finite) total
/// sets the first value to 1 and divides by 1.
fn normalize(values: &[f64]) -> Vec<f64> {
    let total: f64 = values.iter().sum();
    if total == 0.0 || !total.is_finite() {
        let mut v = values.to_vec();
        if let Some(first) = v.first_mut() {
            *first = 1.0;
        }
        return v;
    }
    values.iter().map(|v| v / total).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(token: &str, sig: &str, logit: f64) -> Descriptor {
        Descriptor::new(token, sig.parse().unwrap(), logit)
    }

    #[test]
    fn bio_prefixes() {
        assert_eq!(Prefix::split("B_DISEASE", "_"), Some((Prefix::B, "DISEASE")));
        assert_eq!(Prefix::split("I-PER", "-"), Some((Prefix::I, "PER")));
        for tag in ["O", "B", "I", "B-PER", "X_DISEASE", "BI_X", "", "É_X"] {
            assert_eq!(Prefix::split(tag, "_"), None, "{tag}");
            assert_eq!(strip_bio(tag, "_"), tag);
        }
        assert_eq!(strip_bio("B_", "_"), "");
        assert_eq!(strip_bio("I_B_X", "_"), "B_X"); // one prefix only
        assert_eq!(strip_bio("B-PER", "_-"), "PER");
        assert_eq!(strip_bio("I_GENE", "_-"), "GENE");
    }

    #[test]
    fn empty_and_untagged_lists_give_other() {
        let tax = Taxonomy::jan2022();
        for descs in [vec![], vec![d("x", "UNTAGGED_ENTITY 1", 5.0), d("y", "OTHER 0", 3.0)]] {
            let a = aggregate(&descs, &tax, Numerics::Compat).unwrap();
            assert_eq!(a.groups.len(), 1);
            assert_eq!(a.groups[0].group.as_str(), "OTHER");
            assert_eq!(a.groups[0].confidence, 1.0);
            assert_eq!(a.packed()[0].tag.to_string(), "OTHER");
        }
    }

    #[test]
    fn unknown_label_is_an_error() {
        let err = aggregate(&[d("x", "FOO 1", 5.0)], &Taxonomy::jan2022(), Numerics::Fixed);
        assert!(matches!(err, Err(TaxonomyError::UnknownLabel { .. })));
    }

    #[test]
    fn softmax_weighting_and_subtypes() {
        let tax = Taxonomy::jan2022();
        // DRUG and GENE share one descriptor: softmax([2, 2]) = .5/.5 of logit 10.
        let descs = [d("a", "DRUG/GENE 2/2", 10.0), d("b", "PROTEIN/CHEMICAL_SUBSTANCE 1/1", 2.0)];
        let a = aggregate(&descs, &tax, Numerics::Compat).unwrap();
        let got: Vec<_> = a.groups.iter().map(|g| (g.group.as_str(), g.confidence)).collect();
        // scores: TOPP 5 + 1 = 6, GENE 5 + 1 = 6 (tie: first seen wins)
        assert_eq!(got, [("THERAPEUTIC_OR_PREVENTIVE_PROCEDURE", 0.5), ("GENE", 0.5)]);
        assert_eq!(a.groups[1].packed().to_string(), "GENE"); // GENE 2 > PROTEIN 1
        assert_eq!(a.groups[0].packed().to_string(), "THERAPEUTIC_OR_PREVENTIVE_PROCEDURE[DRUG]");
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        let tax = Taxonomy::jan2022();
        let descs = [d("a", "DRUG/GENE 5000/4000", 10.0)];
        for n in [Numerics::Compat, Numerics::Fixed] {
            let a = aggregate(&descs, &tax, n).unwrap();
            assert_eq!(a.groups[0].confidence, 1.0);
            assert!(a.groups.iter().all(|g| g.confidence.is_finite()));
        }
    }

    #[test]
    fn pooling_without_cs_is_ci_alone() {
        let tax = Taxonomy::jan2022();
        let p = SpanPrediction::new(vec![], vec![d("a", "DISEASE 3", 4.0)], &tax, Numerics::Compat).unwrap();
        assert!(p.orig_cs.is_empty());
        assert_eq!(p.top.to_string(), "DISEASE");
        assert_eq!(p.pooled[0].confidence, 1.0);
        assert_eq!(p.pooled[0].stypes, [(Label::new("DISEASE"), 1.0)]);
    }

    #[test]
    fn pooled_subtypes_put_cs_keys_first() {
        let tax = Taxonomy::jan2022();
        let cs = vec![d("a", "GENE/PROTEIN 2/2", 5.0)];
        let ci = vec![d("b", "PROTEIN/ENZYME/GENE 2/2/1", 5.0)];
        let p = SpanPrediction::new(cs, ci, &tax, Numerics::Compat).unwrap();
        let st: Vec<_> = p.pooled[0].stypes.iter().map(|(l, x)| (l.as_str(), *x)).collect();
        // counts GENE 3, PROTEIN 4, ENZYME 2: PROTEIN first, then GENE, ENZYME
        assert_eq!(st, [("PROTEIN", 0.4444), ("GENE", 0.3333), ("ENZYME", 0.2222)]);
        assert_eq!(p.top.to_string(), "GENE[PROTEIN]");
    }

    #[test]
    fn tag_forms() {
        let t = EntityTag::parse_packed("THERAPEUTIC_OR_PREVENTIVE_PROCEDURE[DRUG]").unwrap();
        assert_eq!(t.flipped(), "DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]");
        let tt = TermTag::Entity(Prefix::I, t.clone());
        assert_eq!(tt.to_string(), "I_THERAPEUTIC_OR_PREVENTIVE_PROCEDURE[DRUG]");
        assert_eq!(tt.flipped(), "I_DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]");
        assert_eq!(TermTag::parse_flipped(&tt.flipped()), Some(tt));
        assert_eq!(TermTag::parse_flipped("B_GENE").unwrap().to_string(), "B_GENE");
        assert_eq!(TermTag::parse_flipped("O"), Some(TermTag::O));
        assert_eq!(TermTag::parse_flipped("X_GENE"), None);
        assert_eq!(EntityTag::parse_packed("G[S"), None);
        let tags = term_tags(4, [(1..3, &t)]);
        let s: Vec<_> = tags.iter().map(ToString::to_string).collect();
        assert_eq!(s[0], "O");
        assert!(s[1].starts_with("B_") && s[2].starts_with("I_") && s[3] == "O");
    }

    #[test]
    fn fixed_mode_clamps_negative_logits() {
        let tax = Taxonomy::jan2022();
        let descs = [d("a", "DISEASE 1", 5.0), d("b", "GENE 1", -2.0)];
        let c = aggregate(&descs, &tax, Numerics::Compat).unwrap();
        let f = aggregate(&descs, &tax, Numerics::Fixed).unwrap();
        // compat: DISEASE 5, GENE -2 -> 5/3 and -2/3
        assert_eq!(c.groups[1].confidence, numpy_round(-2.0 / 3.0, 4));
        assert_eq!(f.groups[0].confidence, 1.0);
        assert_eq!(f.groups[1].confidence, 0.0);
    }

    use crate::compat::numpy_round;
}
