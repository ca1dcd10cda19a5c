//! Plain layers over checkpoint tensors (PyTorch layout), shared by the architectures here.

use candle_core::Tensor;

use crate::mlm::config::Activation;
use crate::mlm::weights::Weights;

pub(crate) struct Linear {
    /// `[out, in]`, as stored by PyTorch.
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    pub fn load(w: &Weights, prefix: &str, inp: usize, out: usize) -> anyhow::Result<Self> {
        Ok(Self {
            weight: w.get(&format!("{prefix}.weight"), &[out, inp])?,
            bias: Some(w.get(&format!("{prefix}.bias"), &[out])?),
        })
    }

    pub fn load_no_bias(w: &Weights, prefix: &str, inp: usize, out: usize) -> anyhow::Result<Self> {
        Ok(Self { weight: w.get(&format!("{prefix}.weight"), &[out, inp])?, bias: None })
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

pub(crate) struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    pub fn load(w: &Weights, prefix: &str, size: usize, eps: f64) -> anyhow::Result<Self> {
        Ok(Self {
            weight: w.get(&format!("{prefix}.weight"), &[size])?,
            bias: w.get(&format!("{prefix}.bias"), &[size])?,
            eps: eps as f32,
        })
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

pub(crate) fn activate(x: &Tensor, act: Activation) -> candle_core::Result<Tensor> {
    match act {
        Activation::Gelu => x.gelu_erf(),
        Activation::GeluNew => x.gelu(),
        Activation::Relu => x.relu(),
    }
}
