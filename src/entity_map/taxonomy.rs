//! The entity taxonomy: which group every entity label belongs to (ALGORITHM.md §6).
//!
//! Labels are subtypes (`DRUG`) or groups (`THERAPEUTIC_OR_PREVENTIVE_PROCEDURE`); a group is a
//! label of itself. Aggregation scores groups and reports subtypes, so every label met in a
//! signature must be in the taxonomy: an unknown one is an error naming the label, never a crash.
//!
//! ```
//! use maskner::entity_map::Taxonomy;
//! let tax = Taxonomy::jan2022();
//! assert_eq!(tax.group_of("DRUG").unwrap().as_str(), "THERAPEUTIC_OR_PREVENTIVE_PROCEDURE");
//! assert!(tax.group_of("FOO").is_err());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Label of descriptors that carry no entity information; suppressed during aggregation.
pub const UNTAGGED_ENTITY: &str = "UNTAGGED_ENTITY";
/// Catch-all group; also the aggregation result when no descriptor carries a label.
pub const OTHER: &str = "OTHER";

const JAN2022: &str = include_str!("../../descriptors/taxonomy/jan2022.txt");
const FEB2022: &str = include_str!("../../descriptors/taxonomy/feb2022.txt");

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(std::sync::Arc<str>);

        impl $name {
            /// Wrap a name without checking it against a taxonomy.
            pub fn new(name: impl Into<String>) -> Self {
                Self(std::sync::Arc::from(name.into()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(std::sync::Arc::from(s))
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }
    };
}

// Names are shared (`Arc<str>`), not owned strings: a vocabulary's signatures repeat the same
// few dozen labels millions of times, and clones of them are just reference counts.
name_type!(
    /// An entity label as it appears in signatures: a subtype (`DRUG`) or a group name.
    Label
);
name_type!(
    /// An entity group (`THERAPEUTIC_OR_PREVENTIVE_PROCEDURE`); scored and tagged.
    Group
);

impl Group {
    /// The group's own name as a label (every group is a label of itself).
    pub fn as_label(&self) -> Label {
        Label(self.0.clone())
    }
}

impl PartialEq<Group> for Label {
    fn eq(&self, other: &Group) -> bool {
        self.0 == other.0
    }
}

impl PartialEq<Label> for Group {
    fn eq(&self, other: &Label) -> bool {
        self.0 == other.0
    }
}

/// The taxonomies shipped in `descriptors/taxonomy/`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BuiltinTaxonomy {
    /// The reference's January 2022 map (benchmark outputs, logged signatures). 17 scored
    /// groups + UNTAGGED_ENTITY.
    #[default]
    Jan2022,
    /// The February 2022 revision: adds LEGAL, POLITICS, SOFTWARE; DEVICE_ADJECTIVE becomes
    /// PRODUCT_ADJECTIVE.
    Feb2022,
}

impl BuiltinTaxonomy {
    pub fn name(self) -> &'static str {
        match self {
            Self::Jan2022 => "jan2022",
            Self::Feb2022 => "feb2022",
        }
    }

    fn text(self) -> &'static str {
        match self {
            Self::Jan2022 => JAN2022,
            Self::Feb2022 => FEB2022,
        }
    }
}

/// Errors of loading a taxonomy or looking a label up in it.
#[derive(Debug, thiserror::Error)]
pub enum TaxonomyError {
    #[error("unknown entity label \"{label}\" (not in taxonomy {taxonomy}; see descriptors/taxonomy/)")]
    UnknownLabel { label: String, taxonomy: String },
    #[error("\"{name}\" is not an entity group of taxonomy {taxonomy} (see descriptors/taxonomy/)")]
    NotAGroup { name: String, taxonomy: String },
    #[error("taxonomy {taxonomy}, line {line}: label \"{label}\" appears more than once")]
    DuplicateLabel { taxonomy: String, line: usize, label: String },
    #[error("taxonomy {taxonomy}, line {line}: expected `GROUP` or `GROUP SUB1/SUB2/...`, got {text:?}")]
    Syntax { taxonomy: String, line: usize, text: String },
    #[error("taxonomy {taxonomy}: no groups")]
    Empty { taxonomy: String },
    #[error("taxonomy {path}: not a builtin name (jan2022, feb2022) and cannot be read")]
    Io { path: String, source: std::io::Error },
}

/// One line of the taxonomy file: a group and its subtypes, in file order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupEntry {
    pub group: Group,
    pub subtypes: Vec<Label>,
}

/// Label -> group map loaded from a `GROUP SUB1/SUB2/...` file.
#[derive(Clone, Debug)]
pub struct Taxonomy {
    name: String,
    entries: Vec<GroupEntry>,
    /// label -> index into `entries`
    index: HashMap<String, usize>,
}

impl Default for Taxonomy {
    fn default() -> Self {
        Self::jan2022()
    }
}

impl Taxonomy {
    /// The default taxonomy (the reference's January 2022 map).
    pub fn jan2022() -> Self {
        Self::builtin(BuiltinTaxonomy::Jan2022)
    }

    /// The February 2022 revision (adds LEGAL, POLITICS, SOFTWARE).
    pub fn feb2022() -> Self {
        Self::builtin(BuiltinTaxonomy::Feb2022)
    }

    pub fn builtin(which: BuiltinTaxonomy) -> Self {
        // The embedded files are part of the build and checked by the unit tests below.
        Self::parse(which.name(), which.text()).expect("embedded taxonomy file is valid")
    }

    /// A builtin name (`jan2022`, `feb2022`) or the path of a taxonomy file.
    pub fn from_name_or_path(spec: &str) -> Result<Self, TaxonomyError> {
        match spec {
            "jan2022" => Ok(Self::jan2022()),
            "feb2022" => Ok(Self::feb2022()),
            path => Self::load(path),
        }
    }

    /// Load a taxonomy file; its name is the file stem.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TaxonomyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| TaxonomyError::Io { path: path.display().to_string(), source })?;
        let name = path.file_stem().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned());
        Self::parse(&name, &text)
    }

    /// Parse the `GROUP SUB1/SUB2/...` format; blank lines and `#` comments are skipped.
    pub fn parse(name: &str, text: &str) -> Result<Self, TaxonomyError> {
        let syntax = |line: usize, text: &str| TaxonomyError::Syntax { taxonomy: name.to_owned(), line, text: text.to_owned() };
        let mut entries: Vec<GroupEntry> = Vec::new();
        let mut index = HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() > 2 {
                return Err(syntax(i + 1, raw));
            }
            let mut labels = vec![fields[0]];
            if let Some(subs) = fields.get(1) {
                labels.extend(subs.split('/'));
            }
            if !labels.iter().all(|l| is_label_name(l)) {
                return Err(syntax(i + 1, raw));
            }
            for label in &labels {
                if index.insert((*label).to_owned(), entries.len()).is_some() {
                    return Err(TaxonomyError::DuplicateLabel { taxonomy: name.to_owned(), line: i + 1, label: (*label).to_owned() });
                }
            }
            entries.push(GroupEntry { group: Group::new(labels[0]), subtypes: labels[1..].iter().map(|s| Label::new(*s)).collect() });
        }
        if entries.is_empty() {
            return Err(TaxonomyError::Empty { taxonomy: name.to_owned() });
        }
        Ok(Self { name: name.to_owned(), entries, index })
    }

    /// The taxonomy's name (`jan2022`, or a file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The group of a label (a group maps to itself).
    pub fn group_of(&self, label: &str) -> Result<&Group, TaxonomyError> {
        self.index
            .get(label)
            .map(|&i| &self.entries[i].group)
            .ok_or_else(|| TaxonomyError::UnknownLabel { label: label.to_owned(), taxonomy: self.name.clone() })
    }

    /// The group with this name; an error if the name is unknown or only a subtype.
    pub fn group(&self, name: &str) -> Result<&Group, TaxonomyError> {
        let group = self.group_of(name)?;
        if group.as_str() == name {
            Ok(group)
        } else {
            Err(TaxonomyError::NotAGroup { name: name.to_owned(), taxonomy: self.name.clone() })
        }
    }

    pub fn contains(&self, label: &str) -> bool {
        self.index.contains_key(label)
    }

    /// Groups with their subtypes, in file order.
    pub fn entries(&self) -> &[GroupEntry] {
        &self.entries
    }

    /// All groups, in file order (UNTAGGED_ENTITY included).
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.entries.iter().map(|e| &e.group)
    }

    /// The groups a prediction can be scored as: all but UNTAGGED_ENTITY.
    pub fn scored_groups(&self) -> impl Iterator<Item = &Group> {
        self.groups().filter(|g| g.as_str() != UNTAGGED_ENTITY)
    }

    /// Every label (groups and subtypes), group first, in file order.
    pub fn labels(&self) -> impl Iterator<Item = Label> + '_ {
        self.entries.iter().flat_map(|e| std::iter::once(e.group.as_label()).chain(e.subtypes.iter().cloned()))
    }

    /// Check that every label of a signature is known.
    pub fn check(&self, signature: &super::Signature) -> Result<(), TaxonomyError> {
        signature.iter().try_for_each(|(label, _)| self.group_of(label.as_str()).map(|_| ()))
    }
}

/// Label names are single tokens that cannot be confused with the packed `G[S]`, `L1/L2` forms.
fn is_label_name(s: &str) -> bool {
    !s.is_empty() && !s.contains(['/', '[', ']', ',']) && !s.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_counts_match_the_reference() {
        let jan = Taxonomy::jan2022();
        assert_eq!(jan.entries().len(), 18);
        assert_eq!(jan.labels().count(), 82);
        assert_eq!(jan.scored_groups().count(), 17);
        let feb = Taxonomy::feb2022();
        assert_eq!(feb.entries().len(), 21);
        assert_eq!(feb.labels().count(), 88);
        assert_eq!(feb.group_of("PRODUCT_ADJECTIVE").unwrap().as_str(), "OBJECT");
        assert!(feb.group_of("DEVICE_ADJECTIVE").is_err());
        assert_eq!(jan.group_of("DEVICE_ADJECTIVE").unwrap().as_str(), "OBJECT");
        for g in ["LEGAL", "POLITICS", "SOFTWARE"] {
            assert!(feb.group(g).is_ok());
            assert!(jan.group(g).is_err());
        }
        let names: Vec<_> = feb.groups().map(Group::as_str).collect();
        assert_eq!(&names[15..], ["GRAMMAR_CONSTRUCT", "LEGAL", "POLITICS", "SOFTWARE", "OTHER", "UNTAGGED_ENTITY"]);
    }

    #[test]
    fn groups_map_to_themselves() {
        let tax = Taxonomy::jan2022();
        for g in tax.groups() {
            assert_eq!(tax.group_of(g.as_str()).unwrap(), g);
        }
        assert_eq!(tax.group_of("HORMONE").unwrap().as_str(), "BODY_PART_OR_ORGAN_COMPONENT");
        assert!(matches!(tax.group("DRUG"), Err(TaxonomyError::NotAGroup { .. })));
    }

    #[test]
    fn unknown_label_message() {
        let err = Taxonomy::jan2022().group_of("FOO").unwrap_err();
        assert_eq!(err.to_string(), "unknown entity label \"FOO\" (not in taxonomy jan2022; see descriptors/taxonomy/)");
    }

    #[test]
    fn rejects_duplicates_and_bad_lines() {
        let err = Taxonomy::parse("t", "A B/C\nD C\n").unwrap_err();
        assert!(matches!(err, TaxonomyError::DuplicateLabel { line: 2, .. }), "{err}");
        assert!(Taxonomy::parse("t", "A B C\n").is_err());
        assert!(Taxonomy::parse("t", "A B//C\n").is_err());
        assert!(Taxonomy::parse("t", "A[x]\n").is_err());
        assert!(Taxonomy::parse("t", "# only a comment\n").is_err());
        let t = Taxonomy::parse("t", "# c\n\nA B/C\nD\n").unwrap();
        assert_eq!(t.group_of("C").unwrap().as_str(), "A");
        assert_eq!(t.group_of("D").unwrap().as_str(), "D");
    }
}
