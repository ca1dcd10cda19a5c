//! Label maps: a token classifier's own entity labels onto our taxonomy's groups and subtypes,
//! and the group distribution of a span (how a member votes in the ensemble).
//!
//! A map file (`descriptors/members/<org>--<name>.labels.txt`) has one line per entity group of
//! the model — the pipeline's `entity_group`, i.e. the label with its `B-`/`I-` prefix removed —
//! followed by the target:
//!
//! ```text
//! protein     GENE[PROTEIN]      a group and one of its subtypes
//! Lab_value   MEASURE            a group
//! Medication  DRUG               a subtype alone (its group comes from the taxonomy)
//! O           -                  not an entity of ours: probability reported as `outside`
//! ```
//!
//! Targets are checked against the taxonomy ([`Taxonomy::group_of`]): an unknown label, or a
//! subtype written under another group, is an error naming the file and line. Labels of the
//! model that the file does not list are *unmapped*: listed in [`LabelMap::unmapped`], reported
//! as a warning when the member is loaded, and their probability reported as
//! [`GroupDistribution::unmapped`] — never dropped silently.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, bail};
use serde::Serialize;

use crate::aggregate::EntityTag;
use crate::entity_map::{Group, Taxonomy};

/// The label maps shipped with maskner, by hub id (matched case-insensitively).
const BUILTIN: &[(&str, &str, &str)] = &[
    (
        "fran-martinez/scibert_scivocab_cased_ner_jnlpba",
        "descriptors/members/fran-martinez--scibert_scivocab_cased_ner_jnlpba.labels.txt",
        include_str!("../../descriptors/members/fran-martinez--scibert_scivocab_cased_ner_jnlpba.labels.txt"),
    ),
    (
        "venkatd/BIOMed_NER",
        "descriptors/members/venkatd--BIOMed_NER.labels.txt",
        include_str!("../../descriptors/members/venkatd--BIOMed_NER.labels.txt"),
    ),
];

/// Where a label of the model goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// One of our groups, with a subtype (or the group itself, see [`EntityTag::is_bare`]).
    Tag(EntityTag),
    /// Not an entity of ours (`-` in the file), like the `O` label.
    Outside,
}

/// A model's label -> taxonomy map, checked against the model's labels and the taxonomy.
#[derive(Clone, Debug)]
pub struct LabelMap {
    /// The file the map came from (a builtin's repository path, or the user's file).
    source: String,
    /// entity_group -> target, for the entity groups of the model that the file lists.
    targets: HashMap<String, Target>,
    /// Entity groups of the model that the file does not list, in label order.
    pub unmapped: Vec<String>,
    /// Entries of the file that name no label of the model (reported as a warning).
    pub unused: Vec<String>,
    /// Per label id: what its probability folds into.
    folds: Vec<Fold>,
}

#[derive(Clone, Debug)]
enum Fold {
    Tag(EntityTag),
    Outside,
    Unmapped,
}

/// The entity group the Hugging Face pipeline reports for a label: everything after the first
/// `-` (`B-protein` -> `protein`), or the whole label when it has none (`O`).
pub fn entity_group_of(label: &str) -> &str {
    label.split_once('-').map_or(label, |(_, rest)| rest)
}

/// The builtin map file of a member, if maskner ships one: `(path, text)`.
pub fn builtin(name: &str) -> Option<(&'static str, &'static str)> {
    let want = name.trim_end_matches('/').to_lowercase().replace("--", "/");
    BUILTIN.iter().find(|(id, _, _)| id.to_lowercase() == want).map(|(_, path, text)| (*path, *text))
}

impl LabelMap {
    /// Reads a map file and checks it against the model's labels (`id2label` in id order) and
    /// the taxonomy.
    pub fn from_file(path: &Path, labels: &[String], taxonomy: &Taxonomy) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow!("{}: cannot read label map: {e}", path.display()))?;
        Self::parse(&path.display().to_string(), &text, labels, taxonomy)
    }

    /// A map in which every label is unmapped (no file for this model).
    pub fn empty(labels: &[String]) -> Self {
        let mut unmapped: Vec<String> = Vec::new();
        for l in labels {
            let g = entity_group_of(l);
            if !unmapped.iter().any(|u| u == g) {
                unmapped.push(g.to_string());
            }
        }
        Self {
            source: "(no label map)".into(),
            targets: HashMap::new(),
            unmapped,
            unused: Vec::new(),
            folds: vec![Fold::Unmapped; labels.len()],
        }
    }

    /// Parses map text; `source` names it in errors.
    pub fn parse(source: &str, text: &str, labels: &[String], taxonomy: &Taxonomy) -> anyhow::Result<Self> {
        let mut targets: HashMap<String, Target> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [key, target] = fields[..] else {
                bail!("{source}, line {}: expected `LABEL TARGET` (TARGET: GROUP, GROUP[SUBTYPE], SUBTYPE or -), got {raw:?}", i + 1);
            };
            let target = parse_target(target, taxonomy).map_err(|e| anyhow!("{source}, line {}: {e}", i + 1))?;
            if targets.insert(key.to_string(), target).is_some() {
                bail!("{source}, line {}: label \"{key}\" is mapped twice", i + 1);
            }
            order.push(key.to_string());
        }
        let mut unmapped: Vec<String> = Vec::new();
        let mut folds = Vec::with_capacity(labels.len());
        for l in labels {
            let g = entity_group_of(l);
            folds.push(match targets.get(g) {
                Some(Target::Tag(t)) => Fold::Tag(t.clone()),
                Some(Target::Outside) => Fold::Outside,
                None => {
                    if !unmapped.iter().any(|u| u == g) {
                        unmapped.push(g.to_string());
                    }
                    Fold::Unmapped
                }
            });
        }
        let unused = order.into_iter().filter(|k| !labels.iter().any(|l| entity_group_of(l) == k)).collect();
        Ok(Self { source: source.to_string(), targets, unmapped, unused, folds })
    }

    /// Where the map came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The target of an entity group (as in [`super::EntitySpan::entity_group`]).
    pub fn target(&self, entity_group: &str) -> Option<&Target> {
        self.targets.get(entity_group)
    }

    /// Warnings about this map: unmapped labels of the model, entries naming no label.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if !self.unmapped.is_empty() {
            w.push(format!(
                "{}: no mapping for the model's label(s) {}; their probability is reported as `unmapped`",
                self.source,
                self.unmapped.join(", ")
            ));
        }
        if !self.unused.is_empty() {
            w.push(format!("{}: the model has no label(s) {} (entries ignored)", self.source, self.unused.join(", ")));
        }
        w
    }

    /// Folds one probability vector over the model's labels (id order) into our groups.
    /// `tokens` is recorded in the result (how many tokens the vector averages).
    pub fn fold(&self, probs: &[f32], tokens: usize) -> GroupDistribution {
        let mut groups: Vec<GroupProb> = Vec::new();
        let mut tags: Vec<TagProb> = Vec::new();
        let (mut outside, mut unmapped) = (0.0f32, 0.0f32);
        for (fold, &p) in self.folds.iter().zip(probs) {
            match fold {
                Fold::Tag(tag) => {
                    match groups.iter_mut().find(|g| g.group == tag.group) {
                        Some(g) => g.prob += p,
                        None => groups.push(GroupProb { group: tag.group.clone(), prob: p }),
                    }
                    match tags.iter_mut().find(|t| t.tag == *tag) {
                        Some(t) => t.prob += p,
                        None => tags.push(TagProb { tag: tag.clone(), prob: p }),
                    }
                }
                Fold::Outside => outside += p,
                Fold::Unmapped => unmapped += p,
            }
        }
        // stable: equal probabilities keep label order
        groups.sort_by(|a, b| b.prob.total_cmp(&a.prob));
        tags.sort_by(|a, b| b.prob.total_cmp(&a.prob));
        GroupDistribution { groups, tags, outside, unmapped, tokens }
    }
}

fn parse_target(s: &str, taxonomy: &Taxonomy) -> anyhow::Result<Target> {
    if s == "-" {
        return Ok(Target::Outside);
    }
    let tag = EntityTag::parse_packed(s).ok_or_else(|| anyhow!("target {s:?} is not GROUP, GROUP[SUBTYPE], SUBTYPE or -"))?;
    // `tag.group` is the group, or (bare form) possibly a subtype written alone
    let group: Group = taxonomy.group_of(tag.group.as_str())?.clone();
    if tag.is_bare() {
        return Ok(Target::Tag(EntityTag::new(group, crate::entity_map::Label::new(tag.group.as_str()))));
    }
    if group != tag.group {
        bail!("\"{}\" is not an entity group of taxonomy {} (it belongs to {group})", tag.group, taxonomy.name());
    }
    let sub_group = taxonomy.group_of(tag.subtype.as_str())?;
    if *sub_group != group {
        bail!("subtype {} belongs to group {sub_group}, not {group}", tag.subtype);
    }
    Ok(Target::Tag(tag))
}

/// One group's share of a distribution.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupProb {
    pub group: Group,
    pub prob: f32,
}

/// One group/subtype pair's share (serialised in the packed `G[S]` form).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TagProb {
    pub tag: EntityTag,
    pub prob: f32,
}

/// A member's label probabilities for a span, folded into our groups.
///
/// `groups` (descending) plus `outside` (labels mapped to `-`, such as `O`) plus `unmapped`
/// (labels the map does not list) sum to 1 (up to rounding). `tags` splits each group's mass
/// by subtype.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupDistribution {
    pub groups: Vec<GroupProb>,
    pub tags: Vec<TagProb>,
    pub outside: f32,
    pub unmapped: f32,
    /// Number of tokens whose label probabilities were averaged.
    pub tokens: usize,
}

impl GroupDistribution {
    /// The probability of a group (0 if absent).
    pub fn prob(&self, group: &str) -> f32 {
        self.groups.iter().find(|g| g.group.as_str() == group).map_or(0.0, |g| g.prob)
    }

    /// The most probable group, if any group has mass.
    pub fn top(&self) -> Option<&GroupProb> {
        self.groups.first().filter(|g| g.prob > 0.0)
    }

    /// The group shares renormalised to sum to 1 over the mapped groups only (ignoring
    /// `outside` and `unmapped`): "if this is one of our entities, which group?". Empty if no
    /// mapped group has mass.
    pub fn entity_shares(&self) -> Vec<GroupProb> {
        let total: f32 = self.groups.iter().map(|g| g.prob).sum();
        if total <= 0.0 {
            return Vec::new();
        }
        self.groups.iter().map(|g| GroupProb { group: g.group.clone(), prob: g.prob / total }).collect()
    }
}
