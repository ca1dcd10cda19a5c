//! Plain layers over checkpoint tensors (PyTorch layout), shared by the masked-LM BERT
//! ([`crate::mlm`]) and the token classifiers ([`crate::token_classify`]): one copy, so both run
//! the same candle ops in the same order.

use candle_core::{DType, Tensor};

use crate::mlm::config::Activation;
use crate::mlm::weights::Weights;

pub mod kernels;
pub mod precision;

pub use kernels::{Threads, WeightLayout, WeightValues};
pub use precision::Precision;

/// A dense layer `y = x · Wᵀ + b`, run by [`kernels::linear`] on an fp32 or a bf16 weight (see
/// [`Precision`]). Loaded with the weight as PyTorch stores it; [`Linear::prepare`] transposes
/// it once for the faster layout.
pub struct Linear {
    /// `[out, in]` (as stored by PyTorch) or `[in, out]`, as `layout` says; f32 or bf16.
    weight: Tensor,
    layout: WeightLayout,
    /// `[out]`, as a plain vector: the kernel writes it into every output row.
    bias: Option<Vec<f32>>,
}

impl Linear {
    pub fn load(w: &Weights, prefix: &str, inp: usize, out: usize) -> anyhow::Result<Self> {
        Self::new(w.get(&format!("{prefix}.weight"), &[out, inp])?, Some(w.get(&format!("{prefix}.bias"), &[out])?))
    }

    pub fn load_no_bias(w: &Weights, prefix: &str, inp: usize, out: usize) -> anyhow::Result<Self> {
        Self::new(w.get(&format!("{prefix}.weight"), &[out, inp])?, None)
    }

    /// From a `[out, in]` weight and an optional `[out]` bias.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> anyhow::Result<Self> {
        let bias = match bias {
            Some(b) => Some(b.to_vec1::<f32>()?),
            None => None,
        };
        Ok(Self { weight, layout: WeightLayout::OutIn, bias })
    }

    /// Layers that read the same input, stacked into one (e.g. fused query/key/value): one
    /// product instead of several. All or none of them must have a bias; all must still be in
    /// PyTorch's layout. The stacked weight comes out prepared (transposed, see
    /// [`Linear::prepare`]) in the same pass that stacks it.
    pub fn stack(parts: &[&Linear]) -> anyhow::Result<Self> {
        if parts.iter().any(|l| l.layout != WeightLayout::OutIn) {
            anyhow::bail!("cannot stack linear layers already prepared");
        }
        let biases: Vec<&Vec<f32>> = parts.iter().filter_map(|l| l.bias.as_ref()).collect();
        let bias = match biases.len() {
            0 => None,
            n if n == parts.len() => Some(biases.into_iter().flatten().copied().collect()),
            _ => anyhow::bail!("cannot stack linear layers with and without bias"),
        };
        let Some(first) = parts.first() else { anyhow::bail!("nothing to stack") };
        let k = first.weight.dims2()?.1;
        let mut rows = 0;
        for l in parts {
            let (n, wk) = l.weight.dims2()?;
            anyhow::ensure!(wk == k, "cannot stack linear layers of input widths {k} and {wk}");
            rows += n;
        }
        let weights: Vec<&Tensor> = parts.iter().map(|l| &l.weight).collect();
        Ok(Self { weight: transposed(&weights, k, rows)?, layout: WeightLayout::InOut, bias })
    }

    /// Transposes the weight to `[in, out]`, the layout [`kernels::linear`] runs fastest
    /// (see [`WeightLayout::InOut`]). The weight is replaced, not copied; a weight shared with
    /// another use (the decoder tied to the word embeddings) is better left unprepared.
    pub fn prepare(self) -> anyhow::Result<Self> {
        if self.layout == WeightLayout::InOut {
            return Ok(self);
        }
        let (n, k) = self.weight.dims2()?;
        Ok(Self { weight: transposed(&[&self.weight], k, n)?, layout: WeightLayout::InOut, bias: self.bias })
    }

    /// Output width.
    pub fn out_features(&self) -> candle_core::Result<usize> {
        match self.layout {
            WeightLayout::OutIn => self.weight.dim(0),
            WeightLayout::InOut => self.weight.dim(1),
        }
    }

    /// `x`: `[rows, in]` -> `[rows, out]`.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let x = x.contiguous()?;
        let (rows, k) = x.dims2()?;
        let y = with_f32(&x, |values| self.forward_rows(values, k, None, Threads::Pool))??;
        Tensor::from_vec(y, (rows, self.out_features()?), x.device())
    }

    /// The product on a row-major `[rows, k]` slice, then `act` if given, through the fused
    /// kernels (bias written into the output before the product accumulates into it).
    pub fn forward_rows(&self, x: &[f32], k: usize, act: Option<Activation>, threads: Threads) -> candle_core::Result<Vec<f32>> {
        if k == 0 || !x.len().is_multiple_of(k) {
            return Err(candle_core::Error::Msg(format!("linear layer input of {} values is not rows of {k}", x.len())));
        }
        let (n, wk) = match self.layout {
            WeightLayout::OutIn => self.weight.dims2()?,
            WeightLayout::InOut => {
                let (wk, n) = self.weight.dims2()?;
                (n, wk)
            }
        };
        if wk != k {
            return Err(candle_core::Error::Msg(format!("linear layer expects width {wk}, got {k}")));
        }
        let bias = self.bias.as_deref();
        match self.weight.dtype() {
            DType::BF16 => with_values(&self.weight, |w| kernels::linear(x, k, WeightValues::Bf16(w), n, self.layout, bias, act, threads)),
            _ => with_f32(&self.weight, |w| kernels::linear(x, k, WeightValues::F32(w), n, self.layout, bias, act, threads)),
        }
    }
}

/// `[k, rows]`: the transpose of `[n_i, k]` matrices (f32 or bf16, all the same) stacked along
/// their rows, `rows` = Σ n_i, read in place and written in one pass
/// ([`kernels::transpose_stacked`]).
fn transposed(parts: &[&Tensor], k: usize, rows: usize) -> candle_core::Result<Tensor> {
    fn as_type<T: candle_core::WithDType + kernels::Element>(parts: &[&Tensor], k: usize, rows: usize) -> candle_core::Result<Tensor> {
        let guards: Vec<_> = parts.iter().map(|t| t.storage_and_layout()).collect();
        let refs = guards.iter().map(|(st, l)| values::<T>(st, l)).collect::<candle_core::Result<Vec<_>>>()?;
        Tensor::from_vec(kernels::transpose_stacked(&refs, k), (k, rows), parts.first().map_or(&candle_core::Device::Cpu, |t| t.device()))
    }
    match parts.first().map(|t| t.dtype()) {
        Some(DType::BF16) => as_type::<half::bf16>(parts, k, rows),
        _ => as_type::<f32>(parts, k, rows),
    }
}

/// Runs `f` on the values of a contiguous f32 CPU tensor, without copying them.
pub fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    with_values(t, f)
}

/// Runs `f` on the values of a contiguous CPU tensor of element type `T`, without copying them.
pub fn with_values<T: candle_core::WithDType, R>(t: &Tensor, f: impl FnOnce(&[T]) -> R) -> candle_core::Result<R> {
    let (storage, layout) = t.storage_and_layout();
    Ok(f(values::<T>(&storage, layout)?))
}

/// The values a contiguous CPU tensor's storage and layout describe, as `T`.
fn values<'a, T: candle_core::WithDType>(storage: &'a candle_core::Storage, layout: &candle_core::Layout) -> candle_core::Result<&'a [T]> {
    let candle_core::Storage::Cpu(cpu) = storage else {
        return Err(candle_core::Error::Msg("maskner's kernels run on the CPU only".into()));
    };
    let values = cpu.as_slice::<T>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&values[start..end]),
        None => Err(candle_core::Error::Msg("tensor is not contiguous".into())),
    }
}

pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
    /// The same parameters as plain vectors, for the fused kernels.
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

impl LayerNorm {
    pub fn load(w: &Weights, prefix: &str, size: usize, eps: f64) -> anyhow::Result<Self> {
        let weight = w.get(&format!("{prefix}.weight"), &[size])?;
        let bias = w.get(&format!("{prefix}.bias"), &[size])?;
        let (gamma, beta) = (weight.to_vec1()?, bias.to_vec1()?);
        Ok(Self { weight, bias, eps: eps as f32, gamma, beta })
    }

    /// `LayerNorm(x + residual)` over rows, written into `x`.
    pub fn forward_add_rows(&self, x: &mut [f32], residual: &[f32], threads: Threads) {
        kernels::add_layer_norm(x, residual, self.gamma.len(), &self.gamma, &self.beta, self.eps, threads);
    }

    /// `LayerNorm(x)` over rows, in place.
    pub fn forward_rows(&self, x: &mut [f32], threads: Threads) {
        kernels::layer_norm(x, self.gamma.len(), &self.gamma, &self.beta, self.eps, threads);
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
