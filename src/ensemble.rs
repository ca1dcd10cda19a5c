//! The ensemble decision between members (models) per span (ALGORITHM.md §8).
//!
//! Every member tags the same terms with its own pooled top tags ([`MemberOutput`]). Per span,
//! [`decide`] picks one member (agreement, `O` handling, cross-prediction test) or emits both
//! (`DUAL`: `X/Y` tags), and [`resolve`] turns the choice into the final display tags, adding a
//! second prediction when the member's own CS-only or CI-only winner disagrees with its pooled
//! one. [`details_json`] writes the reference's per-span JSON pieces (§8.4).
//!
//! Members are configuration ([`EnsembleConfig`]). Their order gives their roles:
//!
//! * index 0, the *primary* ("bio-like") member: agreement goes to it when the agreed group is
//!   in its precedence list, and a confidence tie in a dual decision goes to it;
//! * index 1, the *secondary* ("phi-like") member: everything else.
//!
//! With **one member**, every phrase is resolved against that member alone (its own tags,
//! flipped, plus the single-member second predictions of §8.3). **More than two members** are
//! rejected with [`EnsembleError::TooManyMembers`]: the method's rules are defined for exactly
//! one primary and one secondary member and an n-way rule would be an invention.
//!
//! Reference quirks are reproduced with [`Numerics::Compat`] and fixed by default; the list is
//! in [`crate::compat`].

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::aggregate::{self, EntityTag, PackedScore, Prefix, SpanPrediction, TermTag};
use crate::compat::Numerics;
use crate::entity_map::{Group, Taxonomy, TaxonomyError};

/// Precedence list of the reference's bio member (`bio_precedence_arr`).
pub const BIO_PRECEDENCE: &[&str] =
    &["THERAPEUTIC_OR_PREVENTIVE_PROCEDURE", "DISEASE", "GENE", "BODY_PART_OR_ORGAN_COMPONENT", "BIO", "ORGANISM_FUNCTION"];

/// Precedence list of the reference's phi member (`phi_precedence_arr`, January 2022).
pub const PHI_PRECEDENCE: &[&str] =
    &["PERSON", "ORGANIZATION", "ENT", "COLOR", "LANGUAGE", "GRAMMAR_CONSTRUCT", "LOCATION", "SOCIAL_CIRCUMSTANCES"];

/// Groups appended to the phi precedence list when the taxonomy has them (February 2022).
pub const PHI_PRECEDENCE_FEB2022: &[&str] = &["LEGAL", "POLITICS", "SOFTWARE"];

/// Groups that never count as a cross prediction (`common_entities_arr`).
pub const COMMON_ENTITIES: &[&str] = &["UNTAGGED_ENTITY", "OTHER", "GRAMMAR_CONSTRUCT", "OBJECT", "MEASURE", "LOCATION"];

/// One member of the ensemble: a name and the groups it is trusted for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberConfig {
    pub name: String,
    pub precedence: Vec<Group>,
}

/// Members in role order (primary first), the groups common to all, and the rule for a
/// member's second CS-only prediction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnsembleConfig {
    pub members: Vec<MemberConfig>,
    pub common: Vec<Group>,
    #[serde(default)]
    pub second_cs: SecondCsRule,
}

/// When [`resolve`] offers a member's second CS-only candidate as a second prediction (§8.3,
/// last rule). Not a numerics switch: both modes use the configured rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecondCsRule {
    /// The reference's effective rule: the candidate must be above the mean *and* its top
    /// subtype must be the group itself (§11.11: the reference compares a bare group name with
    /// packed `G[S]` entries). Reproduces the published outputs.
    #[default]
    Reference,
    /// The rule the reference's code intended: whenever the candidate is above the mean. Gives
    /// many more dual tags, often with implausible second predictions.
    AboveMean,
}

impl EnsembleConfig {
    /// The reference's two-member configuration (bio, phi) for this taxonomy: LEGAL, POLITICS and
    /// SOFTWARE join the phi precedence list when the taxonomy has them (feb2022).
    pub fn reference(taxonomy: &Taxonomy) -> Result<Self, TaxonomyError> {
        let mut phi: Vec<&str> = PHI_PRECEDENCE.to_vec();
        phi.extend(PHI_PRECEDENCE_FEB2022.iter().filter(|g| taxonomy.contains(g)));
        Ok(Self {
            members: vec![
                MemberConfig { name: "bio".into(), precedence: groups(taxonomy, BIO_PRECEDENCE)? },
                MemberConfig { name: "phi".into(), precedence: groups(taxonomy, &phi)? },
            ],
            common: groups(taxonomy, COMMON_ENTITIES)?,
            second_cs: SecondCsRule::Reference,
        })
    }

    /// A one-member "ensemble": the member's own tags.
    pub fn single(name: impl Into<String>, precedence: Vec<Group>, common: Vec<Group>) -> Self {
        Self { members: vec![MemberConfig { name: name.into(), precedence }], common, second_cs: SecondCsRule::Reference }
    }

    /// Check every group name against the taxonomy.
    pub fn validate(&self, taxonomy: &Taxonomy) -> Result<(), TaxonomyError> {
        self.members.iter().flat_map(|m| &m.precedence).chain(&self.common).try_for_each(|g| taxonomy.group(g.as_str()).map(|_| ()))
    }
}

fn groups(taxonomy: &Taxonomy, names: &[&str]) -> Result<Vec<Group>, TaxonomyError> {
    names.iter().map(|n| taxonomy.group(n).cloned()).collect()
}

/// Errors of building member outputs or running the decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnsembleError {
    #[error("an ensemble needs at least one member")]
    NoMembers,
    #[error("ensembles of {0} members are not supported (one or two members)")]
    TooManyMembers(usize),
    #[error("{outputs} member outputs for {configured} configured members")]
    MemberCount { outputs: usize, configured: usize },
    #[error("member {member}: {terms} terms but {tags} tags")]
    Misaligned { member: usize, terms: usize, tags: usize },
    #[error("phrase {start}..{end} is empty, out of range ({terms} terms) or overlaps another")]
    BadPhrase { start: usize, end: usize, terms: usize },
}

/// One member's result for a sentence: terms (its own casing), per-term tags and, keyed by the
/// 0-based index of each phrase's `B_` term, its [`SpanPrediction`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemberOutput {
    pub terms: Vec<String>,
    pub tags: Vec<TermTag>,
    pub spans: BTreeMap<usize, SpanPrediction>,
}

impl MemberOutput {
    /// Build from terms and the phrases' predictions (term ranges, in any order).
    pub fn new(terms: Vec<String>, phrases: Vec<(Range<usize>, SpanPrediction)>) -> Result<Self, EnsembleError> {
        let n = terms.len();
        let mut sorted: Vec<&Range<usize>> = phrases.iter().map(|(r, _)| r).collect();
        sorted.sort_by_key(|r| r.start);
        let mut end = 0;
        for r in sorted {
            if r.is_empty() || r.end > n || r.start < end {
                return Err(EnsembleError::BadPhrase { start: r.start, end: r.end, terms: n });
            }
            end = r.end;
        }
        let tags = aggregate::term_tags(n, phrases.iter().map(|(r, p)| (r.clone(), &p.top)));
        let spans = phrases.into_iter().map(|(r, p)| (r.start, p)).collect();
        Ok(Self { terms, tags, spans })
    }
}

/// How a run of terms was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One member's tags (possibly with its own second prediction).
    Single,
    /// Both members' tags, chosen member first.
    Dual,
}

/// The final tag of one term: one or two predictions, and the member whose term casing and
/// details are reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinalTag {
    pub term: String,
    pub member: usize,
    pub first: TermTag,
    pub second: Option<TermTag>,
}

impl FinalTag {
    /// The display form without `B_`/`I_` (`DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]/GENE`), as
    /// in `ensembled_prediction_details[..].e`.
    pub fn stripped(&self) -> String {
        let strip = |t: &TermTag| match t {
            TermTag::O => "O".to_owned(),
            TermTag::Entity(_, e) => e.flipped(),
        };
        match &self.second {
            None => strip(&self.first),
            Some(s) => format!("{}/{}", strip(&self.first), strip(s)),
        }
    }

    pub fn is_dual(&self) -> bool {
        self.second.is_some()
    }
}

impl fmt::Display for FinalTag {
    /// The display form: `O`, `B_S[G]`, or two of them joined by `/`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.first.flipped())?;
        if let Some(s) = &self.second {
            write!(f, "/{}", s.flipped())?;
        }
        Ok(())
    }
}

impl Serialize for FinalTag {
    /// `{"term": ..., "e": ...}`, an `ensembled_ner` entry.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("FinalTag", 2)?;
        st.serialize_field("term", &self.term)?;
        st.serialize_field("e", &self.to_string())?;
        st.end()
    }
}

/// A run of terms decided together (§8.2): `start..start+len`, resolved against `member`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Run {
    pub start: usize,
    pub len: usize,
    pub member: usize,
    pub mode: Mode,
}

/// The ensemble's result for one sentence.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    pub tags: Vec<FinalTag>,
    pub runs: Vec<Run>,
}

/// §8.1 `span`: 1 for `I_`/`O`; for `B_`, 1 + the following terms up to the first `O` (compat)
/// or up to the next `B_` or `O` (fixed).
pub fn span(tags: &[TermTag], t: usize, numerics: Numerics) -> usize {
    if !tags.get(t).is_some_and(TermTag::is_begin) {
        return 1;
    }
    let follows = tags[t + 1..]
        .iter()
        .take_while(|x| match x.prefix() {
            None => false,
            Some(Prefix::I) => true,
            Some(Prefix::B) => numerics.span_crosses_entities(),
        })
        .count();
    1 + follows
}

/// §8.1 `above_mean`: the leading entries whose confidence is at least 1/n.
pub fn above_mean(list: &[PackedScore]) -> &[PackedScore] {
    let threshold = 1.0 / list.len() as f64;
    let k = list.iter().take_while(|e| e.confidence >= threshold).count();
    &list[..k]
}

/// §8.1 `cross`: does an above-mean CS-only prediction fall outside the member's precedence list
/// and the common groups? `None` when the member has no prediction at `t`.
pub fn cross(member: &MemberOutput, precedence: &[Group], common: &[Group], t: usize) -> Option<bool> {
    let span = member.spans.get(&t)?;
    Some(above_mean(&span.orig_cs).iter().any(|e| !precedence.contains(&e.tag.group) && !common.contains(&e.tag.group)))
}

/// Run the ensemble over one sentence (§8.2).
pub fn decide(members: &[MemberOutput], config: &EnsembleConfig, numerics: Numerics) -> Result<Decision, EnsembleError> {
    if members.len() != config.members.len() {
        return Err(EnsembleError::MemberCount { outputs: members.len(), configured: config.members.len() });
    }
    for (i, m) in members.iter().enumerate() {
        if m.terms.len() != m.tags.len() {
            return Err(EnsembleError::Misaligned { member: i, terms: m.terms.len(), tags: m.tags.len() });
        }
    }
    match members.len() {
        0 => Err(EnsembleError::NoMembers),
        1 => Ok(decide_single(&members[0], config, numerics)),
        2 => Ok(decide_pair(members, config, numerics)),
        n => Err(EnsembleError::TooManyMembers(n)),
    }
}

fn decide_single(member: &MemberOutput, config: &EnsembleConfig, numerics: Numerics) -> Decision {
    let members = std::slice::from_ref(member);
    let mut out = Decision { tags: Vec::with_capacity(member.tags.len()), runs: Vec::new() };
    let mut t = 0;
    while t < member.tags.len() {
        // A single member has no reference behaviour to mimic: a run is one phrase.
        let len = span(&member.tags, t, Numerics::Fixed);
        out.runs.push(Run { start: t, len, member: 0, mode: Mode::Single });
        for r in t..t + len {
            out.tags.push(resolve(members, config, 0, t, r, Mode::Single, numerics));
        }
        t += len;
    }
    out
}

fn decide_pair(members: &[MemberOutput], config: &EnsembleConfig, numerics: Numerics) -> Decision {
    let (m0, m1) = (&members[0], &members[1]);
    let n = m0.tags.len().min(m1.tags.len());
    let mut out = Decision { tags: Vec::with_capacity(n), runs: Vec::new() };
    let mut t = 0;
    while t < n {
        let (g0, g1) = (m0.tags[t].group(), m1.tags[t].group());
        let (s0, s1) = (span(&m0.tags, t, numerics), span(&m1.tags, t, numerics));
        let min = s0.min(s1);
        let (c, mode, len) = if g0 == g1 {
            let primary = g0.is_some_and(|g| config.members[0].precedence.contains(g));
            (if primary { 0 } else { 1 }, Mode::Single, min)
        } else if g1.is_none() {
            (0, Mode::Single, if numerics.asymmetric_o_spans() { min } else { s0 })
        } else if g0.is_none() {
            (1, Mode::Single, s1)
        } else {
            let x0 = cross(m0, &config.members[0].precedence, &config.common, t);
            let x1 = cross(m1, &config.members[1].precedence, &config.common, t);
            let crossing = [x0, x1].iter().filter(|x| **x == Some(true)).count();
            if crossing == 1 {
                // Drop the cross-predictor.
                let second = x0 == Some(true) || (x0.is_none() && numerics.unknown_cross_picks_second());
                (usize::from(second), Mode::Single, min)
            } else {
                let c = match (m0.spans.get(&t), m1.spans.get(&t)) {
                    (Some(a), Some(b)) if a.top_confidence() < b.top_confidence() => 1,
                    _ => 0,
                };
                (c, Mode::Dual, min)
            }
        };
        let len = len.min(n - t);
        out.runs.push(Run { start: t, len, member: c, mode });
        for r in t..t + len {
            out.tags.push(resolve(members, config, c, t, r, mode, numerics));
        }
        t += len;
    }
    out
}

/// §8.3: the final tag of term `run` in a run starting at `pivot`, resolved against member `c`.
///
/// `Dual` pairs member `c`'s tag with the other member's. `Single` returns member `c`'s tag,
/// with a second prediction when its CS-only winner differs from its pooled winner, when its
/// CI-only winner differs and is in its precedence list, or when its second CS-only candidate
/// qualifies under [`EnsembleConfig::second_cs`]. Only phrases that start at `pivot` get second
/// predictions.
///
/// # Panics
///
/// If `c` is not an index of `members`.
pub fn resolve(
    members: &[MemberOutput],
    config: &EnsembleConfig,
    c: usize,
    pivot: usize,
    run: usize,
    mode: Mode,
    numerics: Numerics,
) -> FinalTag {
    let mc = &members[c];
    let own = mc.tags.get(run).cloned().unwrap_or(TermTag::O);
    let term = mc.terms.get(run).cloned().unwrap_or_default();
    let tag = |first: TermTag, second: Option<TermTag>| FinalTag { term: term.clone(), member: c, first, second };

    if mode == Mode::Dual {
        // The other member of the pair (there is none with a single member).
        let other = members.get(if c == 0 { 1 } else { 0 }).and_then(|m| m.tags.get(run)).cloned().unwrap_or(TermTag::O);
        if other == TermTag::O && !numerics.dual_with_o() {
            return tag(own, None);
        }
        return tag(own, Some(other));
    }
    let pivot_tag = mc.tags.get(pivot).cloned().unwrap_or(TermTag::O);
    let (Some(span), Some(pre), true) = (mc.spans.get(&pivot), own.prefix(), pivot_tag.is_begin()) else {
        return tag(own, None);
    };
    let (ocs, oci) = (&span.orig_cs, &span.orig_ci);
    let (Some(cs_top), Some(ci_top)) = (ocs.first().or(oci.first()), oci.first()) else {
        return tag(own, None);
    };
    let entity = |t: &EntityTag| TermTag::Entity(pre, t.clone());
    let (m1, m1ci, m2) = (&cs_top.tag.group, &ci_top.tag.group, pivot_tag.group());

    if Some(m1) != m2 {
        let first = if numerics.pivot_prefix_on_continuation() { pivot_tag.clone() } else { own };
        return tag(first, Some(entity(&cs_top.tag)));
    }
    if m1 != m1ci && config.members.get(c).is_some_and(|m| m.precedence.contains(m1ci)) {
        return tag(entity(&cs_top.tag), Some(entity(&ci_top.tag)));
    }
    if ocs.len() >= 2 {
        let above = above_mean(ocs);
        let second = &ocs[1].tag;
        let offered = match config.second_cs {
            // `entry.e == grp(ocs[1])`: a packed `G[S]` never equals a bare group name.
            SecondCsRule::Reference => above.iter().any(|e| e.tag.is_bare() && e.tag.group == second.group),
            SecondCsRule::AboveMean => above.len() >= 2,
        };
        if offered {
            return tag(entity(&cs_top.tag), Some(entity(second)));
        }
    }
    tag(own, None)
}

/// The reference's per-sentence ensemble JSON pieces (§8.4), keys in the reference's order:
/// `ensembled_ner`, `ensembled_prediction_details`, `ci_prediction_details`,
/// `cs_prediction_details`, `ambig_prediction_details_conf`, `ambig_prediction_details_ci`,
/// `ambig_prediction_details_cs`, `orig_cs_prediction_details`, `orig_ci_prediction_details`.
/// Index keys are 1-based term positions. The caller adds `stats`.
pub fn details_json(members: &[MemberOutput], decision: &Decision, numerics: Numerics) -> Map<String, Value> {
    let mut ner = Map::new();
    for (i, t) in decision.tags.iter().enumerate() {
        ner.insert((i + 1).to_string(), json!({"term": t.term, "e": t.to_string()}));
    }
    let [mut epd, mut ci, mut cs, mut amb_conf, mut amb_ci, mut amb_cs, mut ocs, mut oci] = std::array::from_fn(|_| Map::new());
    for run in &decision.runs {
        let chosen = &members[run.member];
        for r in run.start..run.start + run.len {
            let (Some(span), Some(fin)) = (chosen.spans.get(&r), decision.tags.get(r)) else {
                continue;
            };
            let key = (r + 1).to_string();
            let dual = run.mode == Mode::Dual && members.len() > 1;
            let ambig_member = if numerics.ambig_from_second_member() { 1 } else { 1 - run.member };
            // Compat: the chosen member's entry and the ambig entry are one shared dict when the
            // second member is chosen, so the prefixed tag overwrites `e`.
            let e = if dual && numerics.ambig_from_second_member() && run.member == 1 { fin.to_string() } else { fin.stripped() };
            epd.insert(key.clone(), distribution_json(&e, span));
            ci.insert(key.clone(), json!({"ci_descs": descs_json(&span.ci_descriptors)}));
            cs.insert(key.clone(), cs_json(span));
            ocs.insert(key.clone(), orig_json(span, &span.orig_cs));
            oci.insert(key.clone(), orig_json(span, &span.orig_ci));
            if dual && let Some(other) = members[ambig_member].spans.get(&r) {
                if numerics.ambig_from_second_member() {
                    amb_conf.insert(key.clone(), distribution_json(&fin.to_string(), other));
                } else {
                    amb_conf.insert(key.clone(), distribution_json(&other.top.to_string(), other));
                    amb_cs.insert(key.clone(), cs_json(other));
                }
                amb_ci.insert(key, json!({"ci_descs": descs_json(&other.ci_descriptors)}));
            }
        }
    }
    let mut out = Map::new();
    for (k, v) in [
        ("ensembled_ner", ner),
        ("ensembled_prediction_details", epd),
        ("ci_prediction_details", ci),
        ("cs_prediction_details", cs),
        ("ambig_prediction_details_conf", amb_conf),
        ("ambig_prediction_details_ci", amb_ci),
        ("ambig_prediction_details_cs", amb_cs),
        ("orig_cs_prediction_details", ocs),
        ("orig_ci_prediction_details", oci),
    ] {
        out.insert(k.to_owned(), Value::Object(v));
    }
    out
}

fn descs_json(descs: &[aggregate::Descriptor]) -> Value {
    Value::Array(descs.iter().map(aggregate::Descriptor::reference_json).collect())
}

fn distribution_json(e: &str, span: &SpanPrediction) -> Value {
    json!({"e": e, "cs_distribution": span.pooled})
}

fn cs_json(span: &SpanPrediction) -> Value {
    json!({"e": span.top.to_string(), "cs_descs": descs_json(&span.cs_descriptors)})
}

fn orig_json(span: &SpanPrediction, list: &[PackedScore]) -> Value {
    json!({"e": span.top.to_string(), "cs_distribution": list})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_config_follows_the_taxonomy() {
        let jan = EnsembleConfig::reference(&Taxonomy::jan2022()).unwrap();
        assert_eq!(jan.members[1].precedence.len(), 8);
        let feb = EnsembleConfig::reference(&Taxonomy::feb2022()).unwrap();
        assert_eq!(feb.members[1].precedence.len(), 11);
        assert!(feb.validate(&Taxonomy::feb2022()).is_ok());
        assert!(feb.validate(&Taxonomy::jan2022()).is_err());
    }

    #[test]
    fn span_rules() {
        let t = |s: &str| TermTag::parse_flipped(s).unwrap();
        let tags = [t("B_GENE"), t("I_GENE"), t("B_DISEASE"), t("O"), t("I_GENE")];
        assert_eq!(span(&tags, 0, Numerics::Compat), 3);
        assert_eq!(span(&tags, 0, Numerics::Fixed), 2);
        assert_eq!(span(&tags, 2, Numerics::Compat), 1);
        assert_eq!(span(&tags, 3, Numerics::Compat), 1);
        assert_eq!(span(&tags, 4, Numerics::Compat), 1);
    }

    #[test]
    fn above_mean_stops_at_first_below() {
        let e = |c| PackedScore { tag: EntityTag::bare(Group::new("GENE")), confidence: c };
        assert_eq!(above_mean(&[e(0.5), e(0.2), e(0.3)]).len(), 1); // threshold 1/3
        assert_eq!(above_mean(&[e(0.5), e(0.5)]).len(), 2);
        assert!(above_mean(&[]).is_empty());
    }

    #[test]
    fn member_output_rejects_bad_phrases() {
        let p = SpanPrediction::new(vec![], vec![], &Taxonomy::jan2022(), Numerics::Fixed).unwrap();
        let terms = vec!["a".to_owned(), "b".to_owned()];
        assert!(MemberOutput::new(terms.clone(), vec![(1..3, p.clone())]).is_err());
        assert!(MemberOutput::new(terms.clone(), vec![(0..2, p.clone()), (1..2, p.clone())]).is_err());
        assert!(MemberOutput::new(terms.clone(), vec![(1..1, p.clone())]).is_err());
        let m = MemberOutput::new(terms, vec![(1..2, p)]).unwrap();
        assert_eq!(m.tags[1].to_string(), "B_OTHER");
    }
}
