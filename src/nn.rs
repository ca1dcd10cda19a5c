//! Plain layers over checkpoint tensors (PyTorch layout), shared by the masked-LM BERT
//! ([`crate::mlm`]) and the token classifiers ([`crate::token_classify`]): one copy, so both run
//! the same candle ops in the same order.

use candle_core::Tensor;

use crate::mlm::config::Activation;
use crate::mlm::weights::Weights;

pub struct Linear {
    /// `[out, in]`, as stored by PyTorch.
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    pub fn load(w: &Weights, prefix: &str, inp: usize, out: usize) -> anyhow::Result<Self> {
        Ok(Self { weight: w.get(&format!("{prefix}.weight"), &[out, inp])?, bias: Some(w.get(&format!("{prefix}.bias"), &[out])?) })
    }

    pub fn load_no_bias(w: &Weights, prefix: &str, inp: usize, out: usize) -> anyhow::Result<Self> {
        Ok(Self { weight: w.get(&format!("{prefix}.weight"), &[out, inp])?, bias: None })
    }

    /// Layers that read the same input, stacked into one (e.g. fused query/key/value): one
    /// product instead of several. All or none of them must have a bias.
    pub fn stack(parts: &[&Linear]) -> anyhow::Result<Self> {
        let weights: Vec<&Tensor> = parts.iter().map(|l| &l.weight).collect();
        let biases: Vec<&Tensor> = parts.iter().filter_map(|l| l.bias.as_ref()).collect();
        let bias = match biases.len() {
            0 => None,
            n if n == parts.len() => Some(Tensor::cat(&biases, 0)?),
            _ => anyhow::bail!("cannot stack linear layers with and without bias"),
        };
        Ok(Self { weight: Tensor::cat(&weights, 0)?, bias })
    }

    /// `x`: `[rows, in]` -> `[rows, out]`.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = x.matmul(&self.weight.t()?)?;
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    pub fn load(w: &Weights, prefix: &str, size: usize, eps: f64) -> anyhow::Result<Self> {
        Ok(Self { weight: w.get(&format!("{prefix}.weight"), &[size])?, bias: w.get(&format!("{prefix}.bias"), &[size])?, eps: eps as f32 })
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

/// The configured activation (`hidden_act`).
pub fn activate(x: &Tensor, act: Activation) -> candle_core::Result<Tensor> {
    match act {
        Activation::Gelu => x.gelu_erf(),
        Activation::GeluNew => x.gelu(),
        Activation::Relu => x.relu(),
    }
}
