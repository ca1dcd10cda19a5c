//! The reference's numeric and decision quirks, in one place.
//!
//! [`Numerics::Compat`] reproduces the published Python reference bit for bit (ALGORITHM.md
//! sections 7, 8 and 11; checked by `maskner replay --compat` on the logged descriptors).
//! [`Numerics::Fixed`], the default, keeps the method (logit-weighted softmax-of-counts
//! aggregation, CI+CS pooling, precedence/cross-prediction/dual ensemble rules) and fixes the
//! quirks that only lose information or are plain bugs. Every difference between the two modes
//! is a method of [`Numerics`], so the stages never test the mode directly, and this is the one
//! list of them (the README and `docs/pipeline-numerics.md` point here). Per method, what the
//! reference (compat) does, then what the default does instead:
//!
//! * [`Numerics::punctuation_by_substring`]: a predicted token is punctuation noise when it is a
//!   *substring* of Python's `string.punctuation` (`()` is, `--` is not; §3.5). Default: when it
//!   is made only of punctuation.
//! * [`Numerics::subwords_use_budget`]: sub-word predictions (`##x`) are skipped but use up the
//!   descriptor budget (§3.5). Default: they are skipped for free.
//! * [`Numerics::descriptor_weight`]: the logit rounded to 4 decimals as Python's `round(x, 4)`
//!   (§7.1: it travels as a string between the reference's services), a negative one
//!   subtracting evidence. Default: full precision, and a negative logit contributes nothing
//!   (§11.2: a descriptor in the top-k is evidence for its labels, however weak).
//! * [`Numerics::softmax`]: the plain exponential form of the softmax of counts (§7.1).
//!   Default: always the max-shifted form (equal up to rounding in the last bits).
//! * [`Numerics::rounds_before_pooling`] (applied by [`Numerics::stored_value`]): per-model CI
//!   and CS distributions are rounded to 4 dp before pooling (§7.2, §11.7). Default: pooled at
//!   full precision; only reported values are rounded.
//! * [`Numerics::span_crosses_entities`]: a member's span runs from its `B_` tag to the next `O`
//!   (§8.1 `span`), across a neighbouring entity. Default: it stops at the next `B_`, so a tag is
//!   never built from a neighbouring entity's data.
//! * [`Numerics::asymmetric_o_spans`]: second member `O`, first member an entity: one token is
//!   resolved, then the rest token by token with plain tags (§11.12). Default: the first
//!   member's whole span at once, as in the mirror case.
//! * [`Numerics::pivot_prefix_on_continuation`]: continuation tokens of a "pooled winner differs
//!   from CS winner" dual tag copy the pivot's `B_X` into the first half (§11.10). Default: `I_`
//!   in both halves.
//! * [`Numerics::unknown_cross_picks_second`]: exactly one cross-predicting member and no data
//!   for the first member: the second member is chosen (§8.2). Default: the member that does not
//!   cross-predict.
//! * [`Numerics::dual_with_o`]: a dual tag may pair an entity with `O` (§11.12). Default: it falls
//!   back to the single tag.
//! * [`Numerics::ambig_from_second_member`]: the ensemble JSON's "ambig" entries always hold the
//!   second member's data, its `e` overwritten with the prefixed final tag (aliasing the chosen
//!   member's entry when that is the second), and `ambig_prediction_details_cs` stays empty
//!   (§11.9). Default: the *other* member's data with its own top tag, the CS details filled,
//!   `e` never overwritten.
//! * [`Numerics::conll_prints_model_terms`]: CoNLL output prints each term as the chosen member's
//!   vocabulary cased it, and the period the reference appends to a sentence. Default: the input
//!   words as given.
//!
//! Guarded in both modes (the reference would crash or print NaN): softmax over large counts
//! (max-shifted when the plain form would overflow, §11.5), descriptors whose labels are all
//! suppressed (skipped, §11.5), empty descriptor lists, non-finite logits (skipped), unknown
//! labels (an error naming the label, §11.8).
//!
//! Kept in both modes because they define the method's outputs (§11): raw logits as weights
//! (scale differs per model, but every distribution is normalised per model), raw subtype counts
//! (§11.6), the mean as the cross-prediction threshold (§11.13), agreement resolved by the first
//! member's precedence list (§11.13), the stable-sort tie orders and the sorted-order normaliser.
//! Also kept: the second CS-only candidate is offered only when its top subtype is the group
//! itself (§11.11, an exact string compare of a group name with packed `G[S]` entries). The
//! rule the code intended ("whenever it is above the mean") is available as
//! [`SecondCsRule::AboveMean`](crate::ensemble::SecondCsRule) but is not the default: on the
//! logged spans it turns 15 of 174 single tags into dual tags, mostly with implausible second
//! predictions (`chronic kidney disease` DISEASE/PROTEIN, `Lionel` PERSON/NUMBER).

use serde::{Deserialize, Serialize};

/// Reference-exact (`compat`) or fixed (default) numerics and decision rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Numerics {
    /// Keep the method, fix the quirks listed in the module documentation.
    #[default]
    Fixed,
    /// Reproduce the reference exactly, quirks included.
    Compat,
}

impl Numerics {
    /// `Compat` if `compat` is set, else the default.
    pub fn from_compat_flag(compat: bool) -> Self {
        if compat { Self::Compat } else { Self::Fixed }
    }

    /// Private: stages ask the named predicates below, never the mode.
    fn is_compat(self) -> bool {
        self == Self::Compat
    }

    /// The weight of a descriptor with this logit, or `None` if it must be skipped.
    ///
    /// Compat: the logit rounded to 4 decimals exactly as Python `round(x, 4)` does (it travels
    /// as a string between the reference's services). Fixed: the logit itself, negative ones
    /// clamped to 0. Both: a non-finite logit is skipped.
    pub fn descriptor_weight(self, logit: f64) -> Option<f64> {
        if !logit.is_finite() {
            return None;
        }
        Some(match self {
            Self::Compat => python_round(logit, 4),
            Self::Fixed => logit.max(0.0),
        })
    }

    /// Softmax of one descriptor's label counts (ALGORITHM.md §7.1).
    ///
    /// Compat: the plain exponential form, which is what the reference computed whenever it did
    /// not overflow; max-shifted otherwise (the reference printed NaN there). Fixed: always
    /// max-shifted. Empty input gives an empty output.
    pub fn softmax(self, counts: &[u32]) -> Vec<f64> {
        let Some(&max) = counts.iter().max() else {
            return Vec::new();
        };
        // exp(709) is the largest finite power of e; a sum of up to a few hundred such terms
        // stays finite below 700.
        let shift = match self {
            Self::Compat if max < 700 => 0.0,
            _ => f64::from(max),
        };
        let exps: Vec<f64> = counts.iter().map(|&c| (f64::from(c) - shift).exp()).collect();
        let total: f64 = exps.iter().sum();
        exps.into_iter().map(|e| e / total).collect()
    }

    /// §3.5: a predicted token is punctuation noise when it is a substring of Python's
    /// `string.punctuation` (compat) or when it is made only of punctuation (fixed).
    pub fn punctuation_by_substring(self) -> bool {
        self.is_compat()
    }

    /// §3.5: a skipped sub-word prediction (`##x`) uses up one place of the descriptor budget
    /// (compat) or none (fixed).
    pub fn subwords_use_budget(self) -> bool {
        self.is_compat()
    }

    /// Whether the per-model CI and CS distributions are rounded to 4 dp before pooling (§7.2).
    pub fn rounds_before_pooling(self) -> bool {
        self.is_compat()
    }

    /// Round a per-model value that feeds pooling: to 4 digits, numpy's way, in compat; untouched
    /// otherwise. Reported values are always rounded with [`numpy_round`] at serialisation.
    pub fn stored_value(self, x: f64) -> f64 {
        if self.rounds_before_pooling() { numpy_round(x, 4) } else { x }
    }

    /// §8.1 `span`: a `B_` tag's run continues over every following non-`O` term (compat) or
    /// only over the following `I_` terms (fixed).
    pub fn span_crosses_entities(self) -> bool {
        self.is_compat()
    }

    /// §11.12: second member `O`, first member an entity: resolve only the first token of the
    /// first member's span (compat) or its whole span (fixed).
    pub fn asymmetric_o_spans(self) -> bool {
        self.is_compat()
    }

    /// §11.10: the first half of a pooled-vs-CS dual tag on a continuation token keeps the pivot's
    /// `B_` (compat) or uses the token's own `I_` (fixed).
    pub fn pivot_prefix_on_continuation(self) -> bool {
        self.is_compat()
    }

    /// §8.2: exactly one cross-predictor and no data for the first member: choose the second
    /// member (compat) or the one that does not cross-predict (fixed).
    pub fn unknown_cross_picks_second(self) -> bool {
        self.is_compat()
    }

    /// §11.12: a dual tag may pair an entity with `O` (compat), or falls back to the single tag.
    pub fn dual_with_o(self) -> bool {
        self.is_compat()
    }

    /// §11.9: ambig details always come from the second member, its `e` is overwritten with the
    /// prefixed final tag (aliasing the chosen member's entry when that member is the second),
    /// and `ambig_prediction_details_cs` stays empty (compat); fixed uses the other member.
    pub fn ambig_from_second_member(self) -> bool {
        self.is_compat()
    }

    /// CoNLL output: each term as the chosen member's vocabulary cased it, with the period the
    /// reference appends to a sentence (compat), or the input words as given (fixed).
    pub fn conll_prints_model_terms(self) -> bool {
        self.is_compat()
    }
}

/// numpy's `round(x, digits)`: `rint(x * 10^digits) / 10^digits` in IEEE doubles, ties to
/// even *after* the (rounded) multiplication (ALGORITHM.md §7.1).
///
/// The reference rounds its distributions this way, and pooled values land on exact .5 ties
/// routinely: only this form reproduces them ([`python_round`] fails 36 of the 174 logged pooled
/// distributions, [`round_half_away`] 62). Used at 4 digits for every reported value.
pub fn numpy_round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round_ties_even() / scale
}

/// Python's `round(x, digits)`: the double nearest to the decimal with `digits` places nearest
/// to the *exact binary* value of `x`, exact ties to even.
///
/// Neither scaled form gets this right: `(x * 100.0).round()` breaks ties away from zero
/// (5/8 gives 0.63, Python 0.62), and the product is itself rounded, which can create or remove
/// a tie: 1/40 is slightly above 0.025 (Python: 0.03), 3/40 slightly below 0.075 (Python: 0.07),
/// yet both products are exactly 2.5 and 7.5. Rust's `{:.N}` formatting rounds the exact binary
/// value with ties to even, and parsing reads the decimal back as its nearest double, which is
/// what Python does. Used for descriptor logits at 4 digits (§7.1) and scores at 2 (§9.5).
pub fn python_round(x: f64, digits: usize) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.digits$}").parse().unwrap_or(x)
}

/// `f64::round` of the scaled value: ties away from zero, after the (rounded) multiplication.
///
/// Neither Python's nor numpy's rule; only for figures that no reference output is compared
/// with (run timings), where the rule does not matter but the outputs should not change.
pub fn round_half_away(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// The reference's string form of a descriptor logit (`mlm`, `v`): Python `str(round(x, 4))`,
/// e.g. `"7.07"`, `"19.1558"`, `"12.0"`.
pub fn format_logit(x: f64) -> String {
    python_float_repr(python_round(x, 4))
}

/// Python `repr(float)` for values that need no exponent (|x| in [1e-4, 1e16) or 0): shortest
/// round-trip digits, always with a decimal point.
pub fn python_float_repr(x: f64) -> String {
    let s = format!("{x}");
    if x.is_finite() && !s.contains('.') { format!("{s}.0") } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_round_is_numpy_style() {
        // Ties after the (rounded) multiplication go to even; Python's round() differs.
        assert_eq!(numpy_round(0.00005, 4), 0.0);
        assert_eq!((numpy_round(0.00025, 4), python_round(0.00025, 4)), (0.0002, 0.0003));
        assert_eq!((numpy_round(0.00035, 4), python_round(0.00035, 4)), (0.0004, 0.0003));
        assert_eq!((numpy_round(0.12345, 4), python_round(0.12345, 4)), (0.1234, 0.1235));
        assert_eq!(numpy_round(2.0 / 3.0, 4), 0.6667);
        // Idempotent, so rounding already-rounded values changes nothing.
        for x in [0.1, 0.4455, 0.7751, 0.0001, 1.0] {
            assert_eq!(numpy_round(numpy_round(x, 4), 4), numpy_round(x, 4));
        }
    }

    #[test]
    fn python_round_is_exact_binary_rounding() {
        assert_eq!(python_round(1.03125, 4), 1.0312);
        assert_eq!(python_round(1.00005, 4), 1.0001); // 1.00005 is slightly above the tie
        assert_eq!(format_logit(7.07), "7.07");
        assert_eq!(format_logit(12.0), "12.0");
        assert_eq!(format_logit(19.155_81), "19.1558");
        assert_eq!(format_logit(-2.23374), "-2.2337");
    }

    /// Halves that tell the three rules apart, at each digit count the crate uses.
    #[test]
    fn tricky_halves_per_rule() {
        // Python, 2 digits (scores, §9.5): exact binary value, ties to even.
        assert_eq!(python_round(5.0 / 8.0, 2), 0.62); // exact tie -> even
        assert_eq!(python_round(-0.625, 2), -0.62);
        assert_eq!(python_round(1.0 / 40.0, 2), 0.03); // above .025, though 100x is exactly 2.5
        assert_eq!(python_round(3.0 / 40.0, 2), 0.07); // below .075, though 100x is exactly 7.5
        assert_eq!(python_round(2.675, 2), 2.67); // 2.675 is below the tie in binary
        assert_eq!(python_round(100.0, 2), 100.0);
        // Python, 4 digits (compat descriptor logits, §7.1).
        assert_eq!(python_round(1.03125, 4), 1.0312); // exact tie -> even
        assert_eq!(python_round(1.03135, 4), 1.0313); // 1.03135 is below the tie in binary
        assert_eq!(python_round(-2.23375, 4), -2.2338); // |x| is above the tie in binary
        // numpy, 4 digits (every reported value): the product's tie goes to even.
        assert_eq!(numpy_round(0.00025, 4), 0.0002);
        assert_eq!(numpy_round(0.00035, 4), 0.0004);
        assert_eq!(numpy_round(-0.00025, 4), -0.0002);
        assert_eq!(numpy_round(1.0 / 40.0, 4), 0.025);
        // half away from zero, 2 digits (timings): the product's tie goes away from zero.
        assert_eq!(round_half_away(5.0 / 8.0, 2), 0.63);
        assert_eq!(round_half_away(-0.625, 2), -0.63);
        assert_eq!(round_half_away(3.0 / 40.0, 2), 0.08);
        assert_eq!(round_half_away(2.675, 2), 2.68);
    }

    #[test]
    fn softmax_guards_overflow_and_empty() {
        assert!(Numerics::Compat.softmax(&[]).is_empty());
        let w = Numerics::Compat.softmax(&[800, 800]);
        assert_eq!(w, vec![0.5, 0.5]);
        let w = Numerics::Fixed.softmax(&[2000, 1]);
        assert!(w.iter().all(|x| x.is_finite()));
        assert_eq!(w[0], 1.0);
        let a = Numerics::Compat.softmax(&[3, 1, 1]);
        let b = Numerics::Fixed.softmax(&[3, 1, 1]);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-15);
        }
    }

    #[test]
    fn weights() {
        assert_eq!(Numerics::Compat.descriptor_weight(-2.23374), Some(-2.2337));
        assert_eq!(Numerics::Fixed.descriptor_weight(-2.23374), Some(0.0));
        assert_eq!(Numerics::Fixed.descriptor_weight(7.123456), Some(7.123456));
        assert_eq!(Numerics::Compat.descriptor_weight(f64::NAN), None);
    }
}
