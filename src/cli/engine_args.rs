//! The engine flags, declared once and flattened into `tag`, `serve` and `eval`. Each command
//! names its own engine-config flag (`eval` has a scorer `--config` already), so that one stays
//! outside.

use crate::engine::EngineConfig;
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
}

impl EngineArgs {
    /// Whether any engine flag was given.
    pub fn given(&self) -> bool {
        !(self.models.is_empty() && self.maps.is_empty() && self.labels.is_empty() && self.members.is_empty())
            || self.aggregation.is_some()
            || self.stride.is_some()
            || self.compat
    }

    /// The configuration: `file` (or the default ensemble), then `--members`, then `--model`,
    /// `--map`, `--labels` (which may name members that `--members` added), `--compat`,
    /// `--aggregation` and `--stride`.
    pub fn config(&self, file: Option<&Path>) -> anyhow::Result<EngineConfig> {
        let mut cfg = match file {
            Some(p) => EngineConfig::from_file(p)?,
            None => EngineConfig::reference_default(),
        };
        cfg.select_members(&self.members).map_err(|e| e.context("--members"))?;
        cfg.validate()?;
        for (flag, values) in [("model", &self.models), ("map", &self.maps), ("labels", &self.labels)] {
            for arg in values {
                let (name, value) = arg.split_once('=').ok_or_else(|| anyhow::anyhow!("--{flag} {arg}: expected NAME=VALUE"))?;
                let m = cfg.member_mut(name).map_err(|e| e.context(format!("--{flag} {arg}")))?;
                match flag {
                    "model" => m.model = value.to_string(),
                    "map" => m.map = Some(PathBuf::from(value)),
                    _ => m.labels = Some(PathBuf::from(value)),
                }
            }
        }
        cfg.set_classifier_options(self.aggregation, self.stride)?;
        Ok(cfg.with_compat(self.compat))
    }
}
