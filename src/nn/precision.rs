//! How the encoders' weight matrices are held: fp32 (the parity-tested default) or bf16.

use std::fmt;
use std::str::FromStr;

/// Storage precision of the masked-LM encoders' weight matrices (word embeddings, every
/// linear layer, the tied decoder). Biases, LayerNorm and position embeddings stay fp32.
///
/// `Bf16` rounds each matrix to bfloat16 once at load (round to nearest even), which halves
/// the model's memory, and widens a block of it back to fp32 just before each product, so the
/// arithmetic (activations, sums, softmax) stays fp32 and only the weights lose precision.
/// Why not bf16 arithmetic: on the CPUs this was measured on (AVX512-BF16, no AMX exposed),
/// bf16 dot products run at half the fp32 FMA rate (docs/benchmarks.md), so rounding the
/// activations too would cost both speed and accuracy; AMX tiles would change that, and are
/// not available to build or test here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Full fp32: the parity-tested default.
    #[default]
    Fp32,
    /// Weight matrices held as bf16 (half the memory), arithmetic in fp32.
    Bf16,
}

impl Precision {
    /// The accepted spellings, for messages.
    pub const NAMES: &'static str = "fp32, bf16";
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
        })
    }
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "fp32" | "f32" | "float32" => Ok(Precision::Fp32),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            _ => Err(format!("unknown precision {s:?}: expected one of {}", Precision::NAMES)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prints_and_refuses() {
        assert_eq!("BF16".parse::<Precision>(), Ok(Precision::Bf16));
        assert_eq!("bfloat16".parse::<Precision>(), Ok(Precision::Bf16));
        assert_eq!("fp32".parse::<Precision>(), Ok(Precision::Fp32));
        assert_eq!(Precision::Bf16.to_string(), "bf16");
        assert_eq!("fp16".parse::<Precision>().unwrap_err(), "unknown precision \"fp16\": expected one of fp32, bf16");
        assert_eq!(serde_json::from_str::<Precision>("\"bf16\"").unwrap(), Precision::Bf16);
        assert!(serde_json::from_str::<Precision>("\"int8\"").is_err());
    }
}
