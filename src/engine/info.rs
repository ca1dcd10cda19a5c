//! What a loaded engine is: its members (models, maps, label maps), taxonomy and settings,
//! typed; front ends serialise it (`/v1/info`, the eval report's settings).

use super::{Engine, MemberKind, MemberModel};
use crate::compat::Numerics;
use crate::entity_map::Group;
use crate::entity_map::store::MapMeta;
use crate::entity_map::taxonomy::GroupEntry;
use crate::mlm::Precision;
use crate::token_classify::Aggregation;
use serde::Serialize;

/// A loaded engine, described.
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    pub numerics: Numerics,
    pub taxonomy: TaxonomyInfo,
    pub members: Vec<MemberInfo>,
    /// Groups common to all members (§8).
    pub common: Vec<Group>,
    /// The member fill-mask runs on: the first masked LM (`None`: no masked-LM member).
    pub fill_mask_member: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaxonomyInfo {
    pub name: String,
    pub groups: Vec<GroupEntry>,
}

/// One member: name, kind (`masked-lm` or `token-classifier`, never `auto`), model, then what
/// its kind has.
#[derive(Debug, Clone, Serialize)]
pub struct MemberInfo {
    pub name: String,
    pub kind: MemberKind,
    pub model: String,
    #[serde(flatten)]
    pub details: MemberDetails,
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum MemberDetails {
    MaskedLm {
        use_cls: bool,
        precedence: Vec<String>,
        vocab_size: usize,
        max_len: usize,
        /// How the model holds its weight matrices (`fp32` or `bf16`).
        precision: Precision,
        map: MapMeta,
    },
    TokenClassifier {
        precedence: Vec<String>,
        labels: Vec<String>,
        /// Where the label -> taxonomy map came from.
        label_map: String,
        aggregation: Aggregation,
        stride: usize,
        max_len: usize,
        warnings: Vec<String>,
    },
}

impl Engine {
    /// The engine, described.
    pub fn info(&self) -> Info {
        let members = self
            .members
            .iter()
            .map(|m| {
                let (kind, details) = match &m.model {
                    MemberModel::Mlm { lm, map, .. } => (
                        MemberKind::MaskedLm,
                        MemberDetails::MaskedLm {
                            use_cls: m.spec.use_cls,
                            precedence: m.spec.precedence.clone(),
                            vocab_size: lm.tokenizer().vocab_size(),
                            max_len: lm.max_len(),
                            precision: lm.precision(),
                            map: map.meta().clone(),
                        },
                    ),
                    MemberModel::Classifier { tc, aggregation } => (
                        MemberKind::TokenClassifier,
                        MemberDetails::TokenClassifier {
                            precedence: m.spec.precedence.clone(),
                            labels: tc.labels().to_vec(),
                            label_map: tc.label_map().source().to_string(),
                            aggregation: *aggregation,
                            stride: tc.stride(),
                            max_len: tc.max_len(),
                            warnings: tc.warnings().to_vec(),
                        },
                    ),
                };
                MemberInfo { name: m.spec.name.clone(), kind, model: m.spec.model.clone(), details }
            })
            .collect();
        Info {
            numerics: self.numerics,
            taxonomy: TaxonomyInfo { name: self.taxonomy.name().to_string(), groups: self.taxonomy.entries().to_vec() },
            members,
            common: self.ensemble.common.clone(),
            fill_mask_member: self.fill_mask_model().map(|(name, _)| name.to_string()),
        }
    }
}
