//! The engine flags, declared once and flattened into `tag`, `serve` and `eval`. Each command
//! names its own engine-config flag (`eval` has a scorer `--config` already), so that one stays
//! outside.

use crate::engine::{EngineConfig, EngineOptions, OptionSpelling};
use crate::mlm::Precision;
use crate::token_classify::Aggregation;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Default, Clone)]
pub struct EngineArgs {
    /// Override a member's model: NAME=HUB_ID_OR_DIR (repeatable).
    #[arg(long = "model", value_name = "NAME=MODEL")]
    pub models: Vec<String>,
    /// Use a prebuilt map for a masked-LM member: NAME=DIR (repeatable).
    #[arg(long = "map", value_name = "NAME=DIR")]
    pub maps: Vec<String>,
    /// A token-classifier member's label -> taxonomy map: NAME=FILE (repeatable; default: the
    /// map built in for the model, see descriptors/members/).
    #[arg(long = "labels", value_name = "NAME=FILE")]
    pub labels: Vec<String>,
    /// The members to run, in order, at most two: configured names (bio, phi) or hub ids /
    /// model directories of more masked LMs or token classifiers (kind read from their
    /// config.json; such a member is named by the id or path as written).
    #[arg(long, value_delimiter = ',')]
    pub members: Vec<String>,
    /// Token-classifier members: how tokens form entities (the Hugging Face pipeline's
    /// aggregation_strategy). Default: first.
    #[arg(long, value_enum, value_name = "STRATEGY")]
    pub aggregation: Option<Aggregation>,
    /// Token-classifier members: tokens shared by consecutive windows of a text too long for
    /// the model (default 128, at most half a window; must be below the window's length).
    #[arg(long, value_name = "N")]
    pub stride: Option<usize>,
    /// Reproduce the reference's exact numerics and quirks (listed in `src/compat.rs`).
    #[arg(long)]
    pub compat: bool,
    /// How the masked-LM members hold their weight matrices: fp32 (default), or bf16 for half
    /// the memory at near-fp32 accuracy (the arithmetic stays fp32; see the README).
    #[arg(long, value_enum, value_name = "PRECISION")]
    pub precision: Option<Precision>,
}

impl EngineArgs {
    /// Whether any engine flag was given.
    pub fn given(&self) -> bool {
        !(self.models.is_empty() && self.maps.is_empty() && self.labels.is_empty() && self.members.is_empty())
            || self.aggregation.is_some()
            || self.stride.is_some()
            || self.compat
            || self.precision.is_some()
    }

    /// The configuration: `file` (or the default ensemble) with the flags applied by
    /// [`EngineOptions::apply`]; only the `NAME=VALUE` syntax is checked here.
    pub fn config(&self, file: Option<&Path>) -> anyhow::Result<EngineConfig> {
        let base = match file {
            Some(p) => EngineConfig::from_file(p)?,
            None => EngineConfig::reference_default(),
        };
        let pairs = |flag: &str, values: &[String]| -> anyhow::Result<Vec<(String, String)>> {
            values
                .iter()
                .map(|arg| {
                    let (name, value) = arg.split_once('=').ok_or_else(|| anyhow::anyhow!("--{flag} {arg}: expected NAME=VALUE"))?;
                    Ok((name.to_string(), value.to_string()))
                })
                .collect()
        };
        let paths = |v: Vec<(String, String)>| v.into_iter().map(|(n, p)| (n, PathBuf::from(p))).collect();
        let options = EngineOptions {
            members: self.members.clone(),
            models: pairs("model", &self.models)?,
            maps: paths(pairs("map", &self.maps)?),
            labels: paths(pairs("labels", &self.labels)?),
            aggregation: self.aggregation,
            stride: self.stride,
            compat: self.compat,
            precision: self.precision,
        };
        Ok(options.apply(base, OptionSpelling::Cli)?)
    }
}
