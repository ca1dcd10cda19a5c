//! Loading an ensemble: every member's settings are checked before any model loads, then each
//! member's model and map (built and cached on first use) or token classifier.

use super::config::{EngineConfig, MemberSpec, mapped_groups};
use super::{Engine, Member, MemberModel};
use crate::descriptors::{Stoplist, VocabCasing};
use crate::ensemble::{self, EnsembleConfig, MemberConfig};
use crate::entity_map::{BuildOptions, EntityMap, Group, SeedSet, Taxonomy, cache};
use crate::error::{Error, ErrorKind, Result};
use crate::mlm::MaskedLm;
use crate::progress::Progress;
use crate::token_classify::{Aggregation, LoadOptions, TokenClassifier};
use anyhow::Context;
use std::path::PathBuf;

/// A member after its settings were checked, before its model loads.
enum Plan {
    Tc {
        dir: PathBuf,
    },
    /// With the given map (directory, opened) if any.
    Mlm {
        dir: PathBuf,
        map: Option<(PathBuf, Box<EntityMap>)>,
    },
}

impl Engine {
    /// Loads every member's model and map (building and caching maps on first use), reporting
    /// long steps and notes to `progress`.
    ///
    /// Every member's settings are checked before any model loads: its kind (from
    /// `config.json`) against the options given for it, its precedence groups, and a given
    /// map's taxonomy against the engine's — so a bad setting fails at once, naming the member
    /// (and the config file), instead of after minutes of loading or on the first sentence.
    pub fn load(config: &EngineConfig, progress: &dyn Progress) -> Result<Self> {
        config.validate()?;
        let taxonomy =
            Taxonomy::from_name_or_path(&config.taxonomy).map_err(|e| config.files(anyhow::Error::new(e).context("taxonomy")))?;
        let group = |n: &String| -> anyhow::Result<Group> { Ok(taxonomy.group(n)?.clone()) };
        let common = match &config.common {
            Some(c) => {
                let groups: anyhow::Result<Vec<Group>> = c.iter().map(group).collect();
                groups.map_err(|e| config.input(format!("common: {e:#}")))?
            }
            None => EnsembleConfig::reference(&taxonomy).map_err(|e| Error::from_chain(e.into(), ErrorKind::Internal))?.common,
        };
        let mut planned = Vec::with_capacity(config.members.len());
        for spec in &config.members {
            planned.push(plan(config, spec, &taxonomy, progress)?);
        }
        let mut ensemble = EnsembleConfig { members: Vec::new(), common, second_cs: config.second_cs };
        let mut seeds: Option<SeedSet> = None;
        let mut members = Vec::new();
        for (spec, plan) in config.members.iter().zip(planned) {
            let model = load_member(config, spec, plan, &taxonomy, &mut seeds, progress)?;
            for w in model.warnings() {
                progress.note(&format!("warning: {w}"));
            }
            let mut names = spec.precedence.clone();
            if names.is_empty() {
                names = match &model {
                    MemberModel::Classifier { tc, .. } => mapped_groups(tc),
                    MemberModel::Mlm { .. } => ensemble::BIO_PRECEDENCE.iter().map(|g| g.to_string()).collect(),
                };
            }
            let precedence: anyhow::Result<Vec<Group>> = names.iter().map(group).collect();
            let precedence = precedence.map_err(|e| config.input(format!("member {}: precedence: {e:#}", spec.name)))?;
            ensemble.members.push(MemberConfig { name: spec.name.clone(), precedence });
            members.push(Member { spec: MemberSpec { precedence: names, ..spec.clone() }, model });
        }
        Ok(Self { members, ensemble, taxonomy, numerics: config.numerics, stoplist: Stoplist::builtin() })
    }
}

/// A member's model: its token classifier, or its masked LM with the given map or the cached
/// one (built from the seeds on first use).
fn load_member(
    config: &EngineConfig,
    spec: &MemberSpec,
    plan: Plan,
    taxonomy: &Taxonomy,
    seeds: &mut Option<SeedSet>,
    progress: &dyn Progress,
) -> Result<MemberModel> {
    let member = format!("member {}", spec.name);
    match plan {
        Plan::Tc { dir } => {
            let opts = LoadOptions { labels: spec.labels.clone(), taxonomy: taxonomy.clone() };
            let mut tc = TokenClassifier::load_with(&spec.model, &dir, &opts).map_err(|e| config.files(e.context(member.clone())))?;
            if let Some(s) = spec.stride {
                tc.set_stride(s).map_err(|e| config.input(format!("{member}: {e:#}")))?;
            }
            Ok(MemberModel::Classifier { tc, aggregation: spec.aggregation.unwrap_or(Aggregation::First) })
        }
        Plan::Mlm { dir, map } => {
            let lm = MaskedLm::load_with(&spec.model, &dir, config.precision)
                .with_context(|| format!("{member}: loading model {}", spec.model))
                .map_err(|e| config.files(e))?;
            if !lm.has_mlm_head() {
                return Err(config.files(anyhow::anyhow!("{member}: {} has no masked-LM head (cls.predictions.*)", spec.model)));
            }
            let map = match map {
                Some((dir, m)) => {
                    m.check_vocab(lm.tokenizer().vocab(), &spec.model)
                        .with_context(|| format!("{member}: map {}", dir.display()))
                        .map_err(|e| config.files(e))?;
                    *m
                }
                None => {
                    if seeds.is_none() {
                        let loaded = match &config.seeds {
                            Some(d) => SeedSet::load(d, taxonomy).context("seeds"),
                            None => SeedSet::builtin(taxonomy),
                        };
                        *seeds = Some(loaded.map_err(|e| config.files(e))?);
                    }
                    let s = seeds.as_ref().ok_or_else(|| Error::internal("internal error: no seeds"))?;
                    cache::ensure_map(&lm, s, &BuildOptions::default(), taxonomy, progress).context(member).map_err(|e| config.files(e))?
                }
            };
            let casing = VocabCasing::new(lm.tokenizer().vocab());
            Ok(MemberModel::Mlm { lm, map, casing })
        }
    }
}

/// A member's kind and given map, checked against its settings (no model is loaded).
fn plan(config: &EngineConfig, spec: &MemberSpec, taxonomy: &Taxonomy, progress: &dyn Progress) -> Result<Plan> {
    let bad = |what: String| config.input(format!("member {}: {what}", spec.name));
    let dir = crate::hub::resolve_with(&spec.model, progress).map_err(|e| config.files(e.context(format!("member {}", spec.name))))?;
    let classifier = spec.is_token_classifier_in(&dir);
    for n in &spec.precedence {
        taxonomy.group(n).map_err(|e| bad(format!("precedence: {e:#}")))?;
    }
    if classifier {
        if let Some(m) = &spec.map {
            return Err(bad(format!("{} is a token classifier; a descriptor map ({}) is for masked-LM members", spec.model, m.display())));
        }
        return Ok(Plan::Tc { dir });
    }
    let only_tc = [
        ("a label map (--labels / \"labels\")", spec.labels.is_some()),
        ("--aggregation / \"aggregation\"", spec.aggregation.is_some()),
        ("--stride / \"stride\"", spec.stride.is_some()),
    ];
    if let Some((what, _)) = only_tc.iter().find(|(_, given)| *given) {
        return Err(bad(format!("{} is a masked LM; {what} applies to token-classifier members only", spec.model)));
    }
    let map = match &spec.map {
        Some(d) => {
            let m = EntityMap::open(d).map_err(|e| config.files(e.context(format!("member {}: map {}", spec.name, d.display()))))?;
            let built = &m.meta().taxonomy;
            if built != taxonomy.name() {
                return Err(bad(format!(
                    "map {} was built for taxonomy {built} but the engine uses {}; pass --config with \"taxonomy\": \"{built}\" or rebuild the map with `maskner build-map --taxonomy {}`",
                    d.display(),
                    taxonomy.name(),
                    taxonomy.name()
                )));
            }
            Some((d.clone(), Box::new(m)))
        }
        None => None,
    };
    Ok(Plan::Mlm { dir, map })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_model_directory_is_a_not_found_files_error() {
        let mut config = EngineConfig::reference_default();
        config.member_mut("bio").unwrap().model = "/no/such/model-dir".into();
        let e = Engine::load(&config, &crate::progress::Quiet).err().expect("no such model");
        assert_eq!(e.kind(), ErrorKind::Files);
        assert!(e.is_not_found(), "{e:?}");
        assert!(e.to_string().starts_with("member bio: \"/no/such/model-dir\": no such model directory"), "{e}");
    }
}
