//! Entity taxonomy and descriptor -> entity signature maps.

pub mod signature;
pub mod taxonomy;

pub use signature::{Signature, SignatureError};
pub use taxonomy::{BuiltinTaxonomy, Group, Label, Taxonomy, TaxonomyError};

pub mod api;
pub mod build;
pub mod neighbours;
pub mod seeds;
pub mod space;
pub mod store;

pub use api::{MapBuild, build_map, import_map, lookup_record, map_of_model, map_or_model, open_map};
pub use build::{BuildOptions, BuildStats, Rule};
pub use seeds::SeedSet;
pub use space::Space;
pub use store::{EntityMap, LookupSource, MapMeta};
pub mod cache;
pub mod quality;
