//! Prediction tags: the grammar the engine (`maskner tag --format conll`) and the reference
//! ensemble write (ALGORITHM.md §8), checked when a prediction file is read so that a file with
//! swapped columns or broken tags is an error rather than a silently wrong score.
//!
//! ```text
//! tag  := part | part "/" part        two predictions: chosen member's first
//! part := "O" | ("B_" | "I_") label
//! label:= GROUP | SUBTYPE "[" GROUP "]"   the display ("flipped") form
//! ```
//!
//! [`check_labels`] additionally checks the names against a taxonomy: a bare label must be a
//! group, and `S[G]` needs `S` to be a subtype of `G`.

use super::{EvalError, Sentences};
use crate::aggregate::{EntityTag, TermTag};
use crate::entity_map::Taxonomy;

/// What a tag should look like, for error messages.
const GRAMMAR: &str = "expected O, B_GROUP, I_GROUP, B_SUBTYPE[GROUP], I_SUBTYPE[GROUP], or two of these joined by \"/\"";

/// The one or two predictions of a tag, or `None` if it is not in the grammar.
pub fn parse(tag: &str) -> Option<Vec<TermTag>> {
    let parts: Vec<&str> = tag.split('/').collect();
    if parts.len() > 2 {
        return None;
    }
    parts.into_iter().map(TermTag::parse_flipped).collect()
}

/// Checks one prediction line's tag; `term` helps recognise swapped columns.
pub(crate) fn check(term: &str, tag: &str) -> Result<(), String> {
    if parse(tag).is_some() {
        return Ok(());
    }
    let hint = if parse(term).is_some() { " (the columns look swapped: the term comes first, then the tag)" } else { "" };
    Err(format!("invalid tag {tag:?}: {GRAMMAR}{hint}"))
}

/// Checks every predicted label against `taxonomy`; the error names the place (file and line
/// when read from a file).
pub fn check_labels(pred: &Sentences, taxonomy: &Taxonomy) -> Result<(), EvalError> {
    for (s, sentence) in pred.sentences.iter().enumerate() {
        for (t, (term, tag)) in sentence.iter().enumerate() {
            let at = || pred.locate(s, Some(t));
            let parts = parse(tag).ok_or_else(|| EvalError::at(at(), check(term, tag).unwrap_err()))?;
            for part in &parts {
                if let TermTag::Entity(_, e) = part {
                    label_in(e, taxonomy).map_err(|m| EvalError::at(at(), format!("tag {tag:?}: {m}")))?;
                }
            }
        }
    }
    Ok(())
}

fn label_in(e: &EntityTag, taxonomy: &Taxonomy) -> Result<(), String> {
    let tax = taxonomy.name();
    let group_of = |label: &str| taxonomy.group_of(label).map_err(|_| format!("\"{label}\" is not a label of taxonomy {tax}"));
    let group = group_of(e.group.as_str())?;
    if *group != e.group {
        return Err(if e.is_bare() {
            format!("\"{}\" is a subtype in taxonomy {tax}: write it {}[{group}]", e.group, e.group)
        } else {
            format!("\"{}\" is not a group of taxonomy {tax}", e.group)
        });
    }
    let sub_group = group_of(e.subtype.as_str())?;
    if sub_group != group {
        return Err(format!("\"{}\" is not a subtype of {group} in taxonomy {tax} (its group is {sub_group})", e.subtype));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Role;

    #[test]
    fn grammar() {
        for ok in [
            "O",
            "B_DISEASE",
            "I_GENE",
            "B_DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]/B_GENE",
            "I_GENE/I_DISEASE_ADJECTIVE[DISEASE]",
            "B_MEASURE/I_LOCATION",
            "B_GENE/O",
        ] {
            assert!(parse(ok).is_some(), "{ok}");
        }
        for bad in ["", "B", "B_", "X_DISEASE", "B-DISEASE", "B_[BROKEN", "B_X[", "B_X[]", "B_X]", "B_A[B]C", "B_A/B_B/B_C", "Clustering"] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        assert!(check("O", "Clustering").unwrap_err().contains("columns look swapped"));
        assert!(!check("Clustering", "X_DISEASE").unwrap_err().contains("swapped"));
    }

    #[test]
    fn labels_against_the_taxonomy() {
        let tax = Taxonomy::jan2022();
        let one = |tag: &str| {
            let s = Sentences::in_memory(Role::Pred, vec![vec![("x".to_string(), tag.to_string())]]);
            check_labels(&s, &tax).map_err(|e| e.to_string())
        };
        assert!(one("B_DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]/I_OTHER").is_ok());
        let e = one("B_FOO").unwrap_err();
        assert_eq!(e, "prediction sentence 1 token 1: tag \"B_FOO\": \"FOO\" is not a label of taxonomy jan2022");
        // a subtype written bare, a subtype as group, and a subtype under the wrong group
        let e = one("B_DRUG").unwrap_err();
        assert!(e.ends_with("\"DRUG\" is a subtype in taxonomy jan2022: write it DRUG[THERAPEUTIC_OR_PREVENTIVE_PROCEDURE]"), "{e}");
        assert!(one("B_GENE[DRUG]").unwrap_err().ends_with("\"DRUG\" is not a group of taxonomy jan2022"));
        let e = one("B_DRUG[GENE]").unwrap_err();
        assert!(
            e.contains("\"DRUG\" is not a subtype of GENE in taxonomy jan2022 (its group is THERAPEUTIC_OR_PREVENTIVE_PROCEDURE)"),
            "{e}"
        );
        assert!(one("B_BAR[GENE]").unwrap_err().ends_with("\"BAR\" is not a label of taxonomy jan2022"));
        // feb2022 adds groups jan2022 lacks
        assert!(one("B_LEGAL").is_err());
        let s = Sentences::in_memory(Role::Pred, vec![vec![("x".to_string(), "B_LEGAL".to_string())]]);
        assert!(check_labels(&s, &Taxonomy::feb2022()).is_ok());
    }
}
