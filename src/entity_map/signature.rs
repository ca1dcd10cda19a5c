//! Entity signatures: the ordered (label, count) list a descriptor token carries (ALGORITHM.md §1,
//! §4), written `L1/L2/... c1/c2/...` (e.g. `DISEASE/GENE 38/2`).
//!
//! A signature is plain data, independent of any map or taxonomy: the map stores it, the
//! aggregation reads it, and [`Taxonomy::check`](super::Taxonomy::check) validates its labels.
//! Order is significant (labels by count descending, ties as built) and kept as given.
//!
//! ```
//! use maskner::entity_map::Signature;
//! let sig: Signature = "DISEASE/GENE 38/2".parse().unwrap();
//! assert_eq!(sig.len(), 2);
//! assert_eq!(sig.to_string(), "DISEASE/GENE 38/2");
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::taxonomy::Label;

/// Malformed signature text or entries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("empty entity signature")]
    Empty,
    #[error("entity signature {0:?}: expected `LABEL1/LABEL2/... COUNT1/COUNT2/...`")]
    Syntax(String),
    #[error("entity signature: {labels} labels but {counts} counts")]
    LengthMismatch { labels: usize, counts: usize },
    #[error("entity signature: bad label {0:?}")]
    BadLabel(String),
    #[error("entity signature: bad count {0:?} (expected a non-negative integer)")]
    BadCount(String),
}

/// An ordered, non-empty list of (label, count).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "Vec<(Label, u32)>")]
pub struct Signature {
    entries: Vec<(Label, u32)>,
}

impl Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.entries.serialize(s)
    }
}

impl TryFrom<Vec<(Label, u32)>> for Signature {
    type Error = SignatureError;
    fn try_from(entries: Vec<(Label, u32)>) -> Result<Self, Self::Error> {
        Self::new(entries)
    }
}

impl Signature {
    /// A signature from entries in the given order; labels must be single `/`-free tokens.
    pub fn new(entries: Vec<(Label, u32)>) -> Result<Self, SignatureError> {
        if entries.is_empty() {
            return Err(SignatureError::Empty);
        }
        if let Some((bad, _)) = entries.iter().find(|(l, _)| !is_label_token(l.as_str())) {
            return Err(SignatureError::BadLabel(bad.as_str().to_owned()));
        }
        Ok(Self { entries })
    }

    /// A one-label signature, e.g. `UNTAGGED_ENTITY 1`.
    pub fn single(label: impl Into<Label>, count: u32) -> Self {
        Self { entries: vec![(label.into(), count)] }
    }

    /// Parse the two fields separately, as the reference's JSON carries them (`e`, `l_score`).
    pub fn from_fields(labels: &str, counts: &str) -> Result<Self, SignatureError> {
        let labels: Vec<&str> = labels.split('/').collect();
        let counts: Vec<&str> = counts.split('/').collect();
        if labels.len() != counts.len() {
            return Err(SignatureError::LengthMismatch { labels: labels.len(), counts: counts.len() });
        }
        let entries = labels
            .into_iter()
            .zip(counts)
            .map(|(l, c)| {
                if !is_label_token(l) {
                    return Err(SignatureError::BadLabel(l.to_owned()));
                }
                let c = c.parse::<u32>().map_err(|_| SignatureError::BadCount(c.to_owned()))?;
                Ok((Label::new(l), c))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(entries)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Label, u32)> {
        self.entries.iter().map(|(l, c)| (l, *c))
    }

    pub fn entries(&self) -> &[(Label, u32)] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Always false (signatures are non-empty); present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The labels field, `L1/L2/...`.
    pub fn labels_field(&self) -> String {
        join(self.entries.iter().map(|(l, _)| l.as_str()))
    }

    /// The counts field, `c1/c2/...`.
    pub fn counts_field(&self) -> String {
        join(self.entries.iter().map(|(_, c)| c.to_string()))
    }
}

fn join<S: AsRef<str>>(parts: impl Iterator<Item = S>) -> String {
    let mut out = String::new();
    for (i, p) in parts.enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(p.as_ref());
    }
    out
}

fn is_label_token(s: &str) -> bool {
    !s.is_empty() && !s.contains('/') && !s.chars().any(char::is_whitespace)
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.labels_field(), self.counts_field())
    }
}

impl FromStr for Signature {
    type Err = SignatureError;
    /// `L1/L2/... c1/c2/...`: exactly two whitespace-separated fields.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut fields = s.split_whitespace();
        match (fields.next(), fields.next(), fields.next()) {
            (Some(labels), Some(counts), None) => Self::from_fields(labels, counts),
            (None, _, _) => Err(SignatureError::Empty),
            _ => Err(SignatureError::Syntax(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for text in ["DISEASE/GENE/HAZARDOUS_OR_POISONOUS_SUBSTANCE 38/2/1", "OTHER 0", "DRUG/GENE 0/0"] {
            let sig: Signature = text.parse().unwrap();
            assert_eq!(sig.to_string(), text);
        }
        let sig = Signature::from_fields("A/B", "3/1").unwrap();
        assert_eq!(sig.entries(), [(Label::new("A"), 3), (Label::new("B"), 1)]);
        assert_eq!(sig.labels_field(), "A/B");
        assert_eq!(sig.counts_field(), "3/1");
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!("".parse::<Signature>(), Err(SignatureError::Empty));
        assert!(matches!("A/B 1".parse::<Signature>(), Err(SignatureError::LengthMismatch { .. })));
        assert!(matches!("A 1 x".parse::<Signature>(), Err(SignatureError::Syntax(_))));
        assert!(matches!("A -1".parse::<Signature>(), Err(SignatureError::BadCount(_))));
        assert!(matches!("A//B 1/1/1".parse::<Signature>(), Err(SignatureError::BadLabel(_))));
        assert!(Signature::new(vec![]).is_err());
    }

    #[test]
    fn serde_round_trip_validates() {
        let sig: Signature = "A/B 3/1".parse().unwrap();
        let json = serde_json::to_string(&sig).unwrap();
        assert_eq!(json, r#"[["A",3],["B",1]]"#);
        assert_eq!(serde_json::from_str::<Signature>(&json).unwrap(), sig);
        assert!(serde_json::from_str::<Signature>("[]").is_err());
    }
}
