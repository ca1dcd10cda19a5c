//! The engine's configuration: members and ensemble settings, their defaults and validation, in
//! one place. Built in code ([`EngineConfig::reference_default`] and the `with_*` and `select_*`
//! methods the CLI, server and bindings call) or read from JSON ([`EngineConfig::from_file`],
//! the format of `--config FILE`; unknown keys are errors).

use crate::compat::Numerics;
use crate::ensemble::{EnsembleConfig, MemberConfig, SecondCsRule};
use crate::entity_map::Taxonomy;
use crate::error::{Error, ErrorKind, Result};
use crate::mlm::Precision;
use crate::token_classify::{self, Aggregation};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Most members an ensemble runs: the ensemble rules (§8) decide between two.
pub const MAX_MEMBERS: usize = 2;

/// What kind of model a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemberKind {
    /// From the checkpoint's `config.json`: `*ForTokenClassification` is a token classifier,
    /// anything else a masked LM.
    #[default]
    Auto,
    /// A masked LM run through the descriptor method.
    MaskedLm,
    /// A supervised token classifier whose label probabilities vote over our groups.
    TokenClassifier,
}

/// One ensemble member: a masked LM with its descriptor map, or a supervised token
/// classifier, and the groups it is trusted for. Unknown keys in a config file are errors (a
/// misspelt setting must not be ignored).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSpec {
    pub name: String,
    #[serde(default)]
    pub kind: MemberKind,
    /// Hub id or local directory.
    pub model: String,
    /// A map directory; default: the model's cached map, built on first use.
    #[serde(default)]
    pub map: Option<PathBuf>,
    /// Read `[CLS]` in the CI prompt too (the reference does for its biomedical model).
    #[serde(default)]
    pub use_cls: bool,
    /// Groups this member is trusted for (§8). Empty: a token classifier's mapped groups, or
    /// the reference's biomedical list for a masked LM.
    #[serde(default)]
    pub precedence: Vec<String>,
    /// Token classifiers: how tokens form entities when the member runs alone (the Hugging
    /// Face pipeline's `aggregation_strategy`; default `first`).
    #[serde(default)]
    pub aggregation: Option<Aggregation>,
    /// Token classifiers: tokens shared by consecutive windows of a long text (default
    /// [`token_classify::DEFAULT_STRIDE`], at most half a window).
    #[serde(default)]
    pub stride: Option<usize>,
    /// Token classifiers: a label -> taxonomy map file (default: the built-in map of the model).
    #[serde(default)]
    pub labels: Option<PathBuf>,
}

impl MemberSpec {
    /// A member added by model name alone (`--members <hub id or dir>`): kind from its config.
    pub fn from_model(model: &str) -> Self {
        Self {
            name: model.to_string(),
            kind: MemberKind::Auto,
            model: model.to_string(),
            map: None,
            use_cls: false,
            precedence: Vec::new(),
            aggregation: None,
            stride: None,
            labels: None,
        }
    }

    /// Whether this member is a token classifier: its `kind`, or for `auto` the `config.json`
    /// of its checkpoint in `dir` (already resolved).
    pub fn is_token_classifier_in(&self, dir: &Path) -> bool {
        match self.kind {
            MemberKind::Auto => checkpoint_is_token_classifier(dir),
            k => k == MemberKind::TokenClassifier,
        }
    }

    /// Whether this member is a token classifier (resolving a hub id for `auto`, which
    /// downloads the model's files if needed).
    pub fn is_token_classifier(&self) -> Result<bool> {
        if self.kind != MemberKind::Auto {
            return Ok(self.kind == MemberKind::TokenClassifier);
        }
        let dir = crate::hub::resolve(&self.model).map_err(|e| Error::files(&e.context(format!("member {}", self.name))))?;
        Ok(self.is_token_classifier_in(&dir))
    }
}

/// Is the checkpoint in `dir` a token classifier (by `config.json` `architectures`)?
fn checkpoint_is_token_classifier(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("architectures").cloned())
        .and_then(|a| a.as_array().cloned())
        .is_some_and(|a| a.iter().any(|x| x.as_str().is_some_and(|s| s.ends_with("ForTokenClassification"))))
}

/// The engine's configuration (also the format of `--config FILE`, JSON; unknown keys are
/// errors).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    pub members: Vec<MemberSpec>,
    /// Groups common to all members; default: the reference's list.
    #[serde(default)]
    pub common: Option<Vec<String>>,
    #[serde(default)]
    pub second_cs: SecondCsRule,
    /// `jan2022` (default), `feb2022` or a taxonomy file.
    #[serde(default = "default_taxonomy")]
    pub taxonomy: String,
    /// Seed directory for maps built on first use; default: the built-in lists.
    #[serde(default)]
    pub seeds: Option<PathBuf>,
    /// How the masked-LM members hold their weight matrices: `fp32` (default) or `bf16` (half
    /// the memory; see [`Precision`]).
    #[serde(default)]
    pub precision: Precision,
    #[serde(skip)]
    pub numerics: Numerics,
    /// The file this configuration was read from, named in errors about its settings.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

fn default_taxonomy() -> String {
    "jan2022".into()
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self::reference_default()
    }
}

impl EngineConfig {
    /// The reference's ensemble: the biomedical model (reads `[CLS]`) and bert-base-cased.
    pub fn reference_default() -> Self {
        let tax = Taxonomy::jan2022();
        let cfg = EnsembleConfig::reference(&tax).expect("built-in precedence lists are in the built-in taxonomy");
        let names = |m: &MemberConfig| m.precedence.iter().map(|g| g.as_str().to_string()).collect();
        Self {
            members: vec![
                MemberSpec {
                    name: "bio".into(),
                    use_cls: true,
                    precedence: names(&cfg.members[0]),
                    kind: MemberKind::MaskedLm,
                    ..MemberSpec::from_model("ajitrajasekharan/biomedical")
                },
                MemberSpec {
                    name: "phi".into(),
                    precedence: names(&cfg.members[1]),
                    kind: MemberKind::MaskedLm,
                    ..MemberSpec::from_model("bert-base-cased")
                },
            ],
            common: None,
            second_cs: SecondCsRule::Reference,
            taxonomy: default_taxonomy(),
            seeds: None,
            precision: Precision::Fp32,
            numerics: Numerics::Fixed,
            source: None,
        }
    }

    /// A configuration from its JSON text (`source` names it in errors).
    pub fn from_json(text: &str, source: Option<&Path>) -> Result<Self> {
        let mut cfg: Self = serde_json::from_str(text).map_err(|e| match source {
            Some(p) => Error::input_at(p.display().to_string(), format!("invalid engine config ({e})")),
            None => Error::input(format!("invalid engine config ({e})")),
        })?;
        cfg.source = source.map(Path::to_path_buf);
        Ok(cfg)
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Files {
            message: format!("{}: cannot read ({e})", path.display()),
            not_found: e.kind() == std::io::ErrorKind::NotFound,
        })?;
        Self::from_json(&text, Some(path))
    }

    /// The reference's numerics and quirks (`true`), or the fixed defaults.
    pub fn with_compat(mut self, compat: bool) -> Self {
        self.numerics = Numerics::from_compat_flag(compat);
        self
    }

    /// Keeps only the `names` members, in that order: configured names, or hub ids / model
    /// directories of new members (kind read from their `config.json` at load, named by the id
    /// or path as written).
    pub fn select_members(&mut self, names: &[String]) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let configured: Vec<String> = self.members.iter().map(|m| m.name.clone()).collect();
        let mut chosen: Vec<MemberSpec> = Vec::new();
        for n in names {
            if chosen.iter().any(|m| &m.name == n) {
                return Err(Error::input(format!("{n} is listed twice; each member runs once")));
            }
            match self.members.iter().find(|m| &m.name == n) {
                Some(m) => chosen.push(m.clone()),
                None if n.contains('/') || Path::new(n).is_dir() => chosen.push(MemberSpec::from_model(n)),
                None => {
                    return Err(Error::input(format!(
                        "no member named {n} (members: {}; or give a hub id or model directory)",
                        configured.join(", ")
                    )));
                }
            }
        }
        self.members = chosen;
        Ok(())
    }

    /// The member called `name`, to change its settings.
    pub fn member_mut(&mut self, name: &str) -> Result<&mut MemberSpec> {
        let names: Vec<String> = self.members.iter().map(|m| m.name.clone()).collect();
        self.members
            .iter_mut()
            .find(|m| m.name == name)
            .ok_or_else(|| Error::input(format!("no member named {name} (members: {})", names.join(", "))))
    }

    /// Sets `aggregation` and `stride` on every token-classifier member; an error if there is
    /// none (the options would do nothing).
    pub fn set_classifier_options(&mut self, aggregation: Option<Aggregation>, stride: Option<usize>) -> Result<()> {
        self.classifier_options(aggregation, stride, OptionSpelling::Cli)
    }

    /// [`set_classifier_options`](Self::set_classifier_options), its error naming the options
    /// as the front end spells them.
    fn classifier_options(&mut self, aggregation: Option<Aggregation>, stride: Option<usize>, spelling: OptionSpelling) -> Result<()> {
        if aggregation.is_none() && stride.is_none() {
            return Ok(());
        }
        let mut any = false;
        for m in &mut self.members {
            if m.is_token_classifier()? {
                any = true;
                m.aggregation = aggregation.or(m.aggregation);
                m.stride = stride.or(m.stride);
            }
        }
        if !any {
            let names: Vec<&str> = self.members.iter().map(|m| m.name.as_str()).collect();
            let options = match spelling {
                OptionSpelling::Cli => "--aggregation and --stride",
                OptionSpelling::Python => "aggregation and stride",
            };
            return Err(Error::input(format!(
                "{options} apply to token-classifier members, and none of the members ({}) is one",
                names.join(", ")
            )));
        }
        Ok(())
    }

    /// The checks that need no file: one or two members, each name once. [`Engine::load`]
    /// runs them first; front ends may call this to fail before anything else.
    ///
    /// [`Engine::load`]: super::Engine::load
    pub fn validate(&self) -> Result<()> {
        self.check_member_count()?;
        for (i, m) in self.members.iter().enumerate() {
            if self.members[..i].iter().any(|o| o.name == m.name) {
                return Err(self.input(format!("two members are named {}; each member runs once, under its own name", m.name)));
            }
        }
        Ok(())
    }

    fn check_member_count(&self) -> Result<()> {
        let names: Vec<&str> = self.members.iter().map(|m| m.name.as_str()).collect();
        match names.len() {
            0 => Err(self.input("the ensemble has no members".into())),
            n if n > MAX_MEMBERS => Err(Error::limit(format!(
                "{}: at most two members are supported (got {n})",
                self.at(format!("members {}", names.join(",")))
            ))),
            _ => Ok(()),
        }
    }

    /// A bad-setting error, naming the config file it comes from (if any).
    pub(crate) fn input(&self, message: String) -> Error {
        match &self.source {
            Some(p) => Error::input_at(p.display().to_string(), message),
            None => Error::input(message),
        }
    }

    /// `what`, prefixed with the config file it comes from (if any), for error contexts.
    pub(crate) fn at(&self, what: impl std::fmt::Display) -> String {
        match &self.source {
            Some(p) => format!("{}: {what}", p.display()),
            None => what.to_string(),
        }
    }

    /// A stage's error while loading, as a files error naming the config file.
    pub(crate) fn files(&self, e: anyhow::Error) -> Error {
        Error::from_chain(e, ErrorKind::Files).context_if(self.source.as_deref())
    }
}

/// A front end's overrides of a base configuration, applied in one place so the CLI flags,
/// the server and the Python keyword arguments cannot drift apart.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// The members to run, in order: configured names, or hub ids / model directories of new
    /// members (see [`EngineConfig::select_members`]). Empty: the base's members.
    pub members: Vec<String>,
    /// Member name -> hub id or model directory.
    pub models: Vec<(String, String)>,
    /// Member name -> map directory (masked-LM members).
    pub maps: Vec<(String, PathBuf)>,
    /// Member name -> label map file (token-classifier members).
    pub labels: Vec<(String, PathBuf)>,
    /// Token-classifier members' aggregation (an error if there is no such member).
    pub aggregation: Option<Aggregation>,
    /// Token-classifier members' window stride (an error if there is no such member).
    pub stride: Option<usize>,
    /// The reference's numerics and quirks.
    pub compat: bool,
    /// How the masked-LM members hold their weights (default: the base's).
    pub precision: Option<Precision>,
}

/// How errors name the options: as the CLI's flags (`--model bio=x`) or as the Python
/// binding's keyword arguments (`models['bio']`), so a user reads back what they wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionSpelling {
    Cli,
    Python,
}

impl OptionSpelling {
    fn members(self) -> &'static str {
        match self {
            OptionSpelling::Cli => "--members",
            OptionSpelling::Python => "members",
        }
    }

    /// One `name = value` entry of the option whose CLI flag is `flag` and keyword `keyword`.
    fn entry(self, flag: &str, keyword: &str, name: &str, value: impl std::fmt::Display) -> String {
        match self {
            OptionSpelling::Cli => format!("--{flag} {name}={value}"),
            OptionSpelling::Python => format!("{keyword}['{name}']"),
        }
    }
}

impl EngineOptions {
    /// `base` (the reference default or a file), then `members`, then `models`, `maps` and
    /// `labels` (which may name members that `members` added), `aggregation` and `stride`, and
    /// `compat`. Errors name the option as `spelling` writes it.
    pub fn apply(&self, base: EngineConfig, spelling: OptionSpelling) -> Result<EngineConfig> {
        let mut cfg = base;
        cfg.select_members(&self.members).map_err(|e| e.context(spelling.members()))?;
        cfg.validate()?;
        for (name, value) in &self.models {
            cfg.member_mut(name).map_err(|e| e.context(spelling.entry("model", "models", name, value)))?.model = value.clone();
        }
        for (name, value) in &self.maps {
            cfg.member_mut(name).map_err(|e| e.context(spelling.entry("map", "maps", name, value.display())))?.map = Some(value.clone());
        }
        for (name, value) in &self.labels {
            cfg.member_mut(name).map_err(|e| e.context(spelling.entry("labels", "labels", name, value.display())))?.labels =
                Some(value.clone());
        }
        cfg.classifier_options(self.aggregation, self.stride, spelling)?;
        if let Some(p) = self.precision {
            cfg.precision = p;
        }
        Ok(cfg.with_compat(self.compat))
    }
}

impl Error {
    /// Prefixes the config file's path, when there is one.
    fn context_if(self, source: Option<&Path>) -> Self {
        match source {
            Some(p) => self.context(p.display()),
            None => self,
        }
    }
}

/// The groups a token classifier's labels map to, in label order.
pub(crate) fn mapped_groups(tc: &token_classify::TokenClassifier) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in tc.labels() {
        if let Some(token_classify::Target::Tag(t)) = tc.label_map().target(token_classify::entity_group_of(l)) {
            let g = t.group.as_str().to_string();
            if !out.contains(&g) {
                out.push(g);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> EngineOptions {
        EngineOptions { members: vec!["bio".into()], models: vec![("nope".into(), "x".into())], ..EngineOptions::default() }
    }

    #[test]
    fn errors_name_the_options_as_the_front_end_spells_them() {
        let base = EngineConfig::reference_default;
        let bad_member = EngineOptions { members: vec!["bi".into()], ..EngineOptions::default() };
        let e = bad_member.apply(base(), OptionSpelling::Python).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Input);
        assert!(e.to_string().starts_with("members: no member named bi (members: bio, phi;"), "{e}");
        let e = bad_member.apply(base(), OptionSpelling::Cli).unwrap_err();
        assert!(e.to_string().starts_with("--members: no member named bi"), "{e}");

        let e = options().apply(base(), OptionSpelling::Python).unwrap_err();
        assert_eq!(e.to_string(), "models['nope']: no member named nope (members: bio)");
        let e = options().apply(base(), OptionSpelling::Cli).unwrap_err();
        assert_eq!(e.to_string(), "--model nope=x: no member named nope (members: bio)");
        let maps = EngineOptions { maps: vec![("nope".into(), "d".into())], ..EngineOptions::default() };
        assert!(maps.apply(base(), OptionSpelling::Python).unwrap_err().to_string().starts_with("maps['nope']: "));
        let labels = EngineOptions { labels: vec![("nope".into(), "f".into())], ..EngineOptions::default() };
        assert!(labels.apply(base(), OptionSpelling::Cli).unwrap_err().to_string().starts_with("--labels nope=f: "));
    }

    #[test]
    fn overrides_apply_to_the_base() {
        let opts = EngineOptions {
            members: vec!["phi".into()],
            models: vec![("phi".into(), "m".into())],
            maps: vec![("phi".into(), "d".into())],
            compat: true,
            precision: Some(Precision::Bf16),
            ..EngineOptions::default()
        };
        let cfg = opts.apply(EngineConfig::reference_default(), OptionSpelling::Python).unwrap();
        assert_eq!(cfg.precision, Precision::Bf16);
        assert_eq!(cfg.members.len(), 1);
        assert_eq!((cfg.members[0].model.as_str(), cfg.members[0].map.as_deref()), ("m", Some(Path::new("d"))));
        assert_eq!(cfg.numerics, Numerics::from_compat_flag(true));
    }
}
