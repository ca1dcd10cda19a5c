//! Entity taxonomy and descriptor -> entity signature maps.

pub mod signature;
pub mod taxonomy;

pub use signature::{Signature, SignatureError};
pub use taxonomy::{BuiltinTaxonomy, Group, Label, Taxonomy, TaxonomyError};
