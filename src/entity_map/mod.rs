//! Entity taxonomy and descriptor -> entity signature maps.

pub mod signature;
pub mod taxonomy;

pub use signature::{Signature, SignatureError};
pub use taxonomy::{BuiltinTaxonomy, Group, Label, Taxonomy, TaxonomyError};

pub mod build;
pub mod neighbours;
pub mod seeds;
pub mod space;
pub mod store;

pub use build::{BuildOptions, Rule};
pub use seeds::SeedSet;
pub use space::Space;
pub use store::{EntityMap, LookupSource, MapMeta};
pub mod cache;
pub mod quality;
