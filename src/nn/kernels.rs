//! Fused fp32 kernels over row-major slices, for the encoder's hot path.
//!
//! Why hand-written: profiling fill-mask on BERT-base (docs/benchmarks.md) showed a third of
//! the time outside the big matrix products, in candle's one-op-per-pass style: a separate
//! bias add with a fresh 30 MB buffer after every product, a scalar `erff` per GELU element, and
//! ~10 small ops (each a `gemm` call or a copy) per sequence and layer for attention. Here the
//! bias is written into the product's output before `gemm` accumulates into it, GELU runs in
//! place with a vectorisable `erf`, residual add and LayerNorm are one pass, and attention is
//! one loop nest per sequence. Every row is computed the same way whatever else is in the
//! batch, so results stay batch-invariant.

use gemm::Parallelism;
use rayon::prelude::*;

use crate::mlm::config::Activation;

/// Defines `fn $name(args)` that runs `$body` (an `#[inline(always)]` function) compiled for
/// AVX-512 or AVX2+FMA when the CPU has them, else for the baseline: the crate is built for
/// plain x86-64 (SSE2), where these loops vectorise only 4 wide. Lane-wise arithmetic is the
/// same at every width (no reassociation, no fused multiply-add), so results are identical.
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) => $body:ident) => {
        multiversion!($(#[$m])* $vis fn $name($($arg: $ty),*) -> () => $body);
    };
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty => $body:ident) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn v4($($arg: $ty),*) -> $ret {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn v3($($arg: $ty),*) -> $ret {
                    $body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F.
                    return unsafe { v4($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU has AVX2 and FMA.
                    return unsafe { v3($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

/// Whether a kernel may spread its work over rayon's pool, or must stay on the calling thread
/// (when the caller already runs independent chunks in parallel: no sharing, no waiting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    Pool,
    One,
}

/// Runs `f(index, chunk)` over `size`-element chunks of `data`, on the pool or in order.
fn for_each_chunk(data: &mut [f32], size: usize, threads: Threads, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    match threads {
        Threads::Pool => data.par_chunks_mut(size).enumerate().for_each(|(i, c)| f(i, c)),
        Threads::One => data.chunks_mut(size).enumerate().for_each(|(i, c)| f(i, c)),
    }
}

/// How a weight matrix is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightLayout {
    /// `[n, k]`, as PyTorch stores it (used in place, e.g. the decoder tied to the embeddings).
    OutIn,
    /// `[k, n]`: transposed once at load. `gemm` then reads the weight as a column-major left
    /// operand and skips repacking it for every block (up to 1.2x on BERT-base's shapes).
    InOut,
}

/// A weight matrix's values: fp32, or bf16 (see [`crate::nn::Precision`]).
#[derive(Debug, Clone, Copy)]
pub enum WeightValues<'a> {
    F32(&'a [f32]),
    Bf16(&'a [half::bf16]),
}

impl WeightValues<'_> {
    fn len(&self) -> usize {
        match self {
            WeightValues::F32(w) => w.len(),
            WeightValues::Bf16(w) => w.len(),
        }
    }
}

/// Output columns per widened block of a bf16 weight: BERT-base's hidden size, so the
/// attention-output and FFN-output products take one block and the FFN input four. Each block
/// is a separate `gemm` call that packs the activations again, so fewer, larger blocks won: in
/// the pipeline 768 ran at about 0.89x fp32's speed where 256 ran at 0.82x (1,536: no better).
/// The scratch buffer is at most 799 x `k` floats (9.8 MB for `k` = 3,072) per call.
const BF16_BLOCK: usize = 768;

/// `y = x · Wᵀ + bias` for `x` = `[rows, k]` and the weight `[n, k]` stored as `layout` says,
/// then the activation if given. Returns `[rows, n]`.
///
/// A bf16 weight is multiplied a block of [`BF16_BLOCK`] output columns at a time: the block is
/// widened to fp32 (exactly: bf16 is the top half of an fp32) into a scratch buffer in the same
/// layout, and multiplied there, so the arithmetic is fp32 and the whole weight is never held
/// in fp32. Every block sums over `k` in the same order whatever the batch, so results stay
/// batch-invariant.
#[allow(clippy::too_many_arguments)]
pub fn linear(
    x: &[f32],
    k: usize,
    w: WeightValues<'_>,
    n: usize,
    layout: WeightLayout,
    bias: Option<&[f32]>,
    act: Option<Activation>,
    threads: Threads,
) -> Vec<f32> {
    debug_assert_eq!(w.len(), n * k);
    let mut y = biased_output(x.len() / k.max(1), n, bias);
    match w {
        WeightValues::F32(w) => product(x, k, w, n, layout, &mut y, n, bias.is_some(), threads),
        WeightValues::Bf16(w) => {
            // a narrow last block joins the one before: `gemm` would take a few columns by
            // another kernel, summing in another order for small batches than for large ones
            let widest = if n < BF16_BLOCK + 32 { n } else { BF16_BLOCK + 31 };
            let mut block = vec![0f32; widest * k];
            let mut j0 = 0;
            while j0 < n {
                let cols = if n - j0 < BF16_BLOCK + 32 { n - j0 } else { BF16_BLOCK };
                let block = &mut block[..cols * k];
                match layout {
                    // rows j0.. of [n, k]: one run
                    WeightLayout::OutIn => widen_bf16(&w[j0 * k..(j0 + cols) * k], block),
                    // columns j0.. of [k, n]: a run per row, into [k, cols]
                    WeightLayout::InOut => {
                        for (kk, row) in block.chunks_exact_mut(cols).enumerate() {
                            widen_bf16(&w[kk * n + j0..kk * n + j0 + cols], row);
                        }
                    }
                }
                product(x, k, block, cols, layout, &mut y[j0..], n, bias.is_some(), threads);
                j0 += cols;
            }
        }
    }
    if let Some(act) = act {
        activate_in_place(&mut y, act, threads);
    }
    y
}

/// A `[rows, n]` output holding the bias in every row (the product then adds into it), or
/// zeros.
fn biased_output(rows: usize, n: usize, bias: Option<&[f32]>) -> Vec<f32> {
    match bias {
        Some(b) => b.repeat(rows),
        None => vec![0f32; rows * n],
    }
}

multiversion!(fn widen_bf16(src: &[half::bf16], dst: &mut [f32]) => widen_bf16_body);

#[inline(always)]
fn widen_bf16_body(src: &[half::bf16], dst: &mut [f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = f32::from_bits(u32::from(s.to_bits()) << 16);
    }
}

/// `y (+)= x · Wᵀ` into the first `n` columns of each `ldy`-wide row of `y`, for `x` =
/// `[rows, k]` and `W` = `[n, k]` stored as `layout` says; `read_dst` adds to what `y` holds.
#[allow(clippy::too_many_arguments)]
fn product(x: &[f32], k: usize, w: &[f32], n: usize, layout: WeightLayout, y: &mut [f32], ldy: usize, read_dst: bool, threads: Threads) {
    let rows = x.len() / k.max(1);
    if rows == 0 || n == 0 {
        return;
    }
    assert!(w.len() >= n * k && y.len() >= (rows - 1) * ldy + n, "product operands are smaller than their shapes");
    let pool = rayon::current_num_threads();
    let parallelism = if threads == Threads::Pool && pool > 1 { Parallelism::Rayon(pool) } else { Parallelism::None };
    // (m, n) of the product, then (column, row) strides of the output, left and right operand
    // (element (i, j) at i*rs + j*cs)
    let (pm, pn, dst, lhs, rhs) = match layout {
        // y = x · Wᵀ, W read as its transpose: element (kk, j) at j*k + kk
        WeightLayout::OutIn => (rows, n, (1, ldy as isize), (x.as_ptr(), 1, k as isize), (w.as_ptr(), k as isize, 1)),
        // yᵀ = W · xᵀ: yᵀ (j, i) at i*ldy + j, W (j, kk) at kk*n + j, xᵀ (kk, i) at i*k + kk
        WeightLayout::InOut => (n, rows, (ldy as isize, 1), (w.as_ptr(), n as isize, 1), (x.as_ptr(), k as isize, 1)),
    };
    // SAFETY: x is rows x k and w n x k (OutIn) or k x n (InOut), row-major; y holds `rows`
    // rows of stride ldy >= n (checked above); the strides above describe exactly these.
    unsafe {
        gemm::gemm(
            pm,
            pn,
            k,
            y.as_mut_ptr(),
            dst.0,
            dst.1,
            read_dst,
            lhs.0,
            lhs.1,
            lhs.2,
            rhs.0,
            rhs.1,
            rhs.2,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    };
}

/// `[rows, cols]` -> `[cols, rows]`; see [`transpose_stacked`].
pub fn transpose<T: Element>(src: &[T], rows: usize, cols: usize) -> Vec<T> {
    debug_assert_eq!(src.len(), rows * cols);
    transpose_stacked(&[src], cols)
}

/// A matrix element the transposes move: f32 (through AVX registers where the CPU has them)
/// or bf16 (value by value).
pub trait Element: Copy + Default + Send + Sync {
    /// Transposes the 8 x 8 block at `src` (row stride `ss`) into `dst` (row stride `ds`) if
    /// this type has a fast path on this CPU; `false` leaves it to the caller.
    ///
    /// # Safety
    /// `src` must hold 8 readable rows of 8 and `dst` 8 writable rows of 8 at those strides.
    unsafe fn block8(src: *const Self, ss: usize, dst: *mut Self, ds: usize) -> bool;

    /// Whether [`Element::block8`] does the work on this CPU.
    fn has_block8() -> bool;
}

impl Element for f32 {
    unsafe fn block8(src: *const f32, ss: usize, dst: *mut f32, ds: usize) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: the caller's guarantee, and `has_block8` (AVX) was checked before.
            unsafe { transpose8x8(src, ss, dst, ds) };
            true
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (src, ss, dst, ds);
            false
        }
    }

    fn has_block8() -> bool {
        #[cfg(target_arch = "x86_64")]
        return std::arch::is_x86_feature_detected!("avx");
        #[cfg(not(target_arch = "x86_64"))]
        false
    }
}

impl Element for half::bf16 {
    unsafe fn block8(src: *const Self, ss: usize, dst: *mut Self, ds: usize) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: the caller's guarantee; SSE2 is part of x86-64.
            unsafe { transpose8x8_u16(src.cast(), ss, dst.cast(), ds) };
            true
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (src, ss, dst, ds);
            false
        }
    }

    fn has_block8() -> bool {
        cfg!(target_arch = "x86_64")
    }
}

/// [`transpose8x8`] for 16-bit values in SSE2 registers: three rounds of interleaving (16-,
/// 32-, then 64-bit units) turn eight rows into eight columns.
#[cfg(target_arch = "x86_64")]
unsafe fn transpose8x8_u16(src: *const u16, ss: usize, dst: *mut u16, ds: usize) {
    use std::arch::x86_64::*;
    // SAFETY (whole body): the caller guarantees 8 readable rows of 8 at `src` and 8 writable
    // rows of 8 at `dst`; unaligned loads and stores.
    unsafe {
        let r: [__m128i; 8] = std::array::from_fn(|i| _mm_loadu_si128(src.add(i * ss).cast()));
        let a: [__m128i; 8] = std::array::from_fn(|i| {
            let (x, y) = (r[(i / 2) * 2], r[(i / 2) * 2 + 1]);
            if i % 2 == 0 { _mm_unpacklo_epi16(x, y) } else { _mm_unpackhi_epi16(x, y) }
        });
        // a[0] = r0r1 cols 0-3, a[1] = r0r1 cols 4-7, a[2] = r2r3 cols 0-3, ...
        let b = [
            _mm_unpacklo_epi32(a[0], a[2]),
            _mm_unpackhi_epi32(a[0], a[2]),
            _mm_unpacklo_epi32(a[1], a[3]),
            _mm_unpackhi_epi32(a[1], a[3]),
            _mm_unpacklo_epi32(a[4], a[6]),
            _mm_unpackhi_epi32(a[4], a[6]),
            _mm_unpacklo_epi32(a[5], a[7]),
            _mm_unpackhi_epi32(a[5], a[7]),
        ];
        // b[j] (j < 4) = rows 0-3 of columns 2j, 2j+1; b[j + 4] the same for rows 4-7
        for j in 0..4 {
            _mm_storeu_si128(dst.add(2 * j * ds).cast(), _mm_unpacklo_epi64(b[j], b[j + 4]));
            _mm_storeu_si128(dst.add((2 * j + 1) * ds).cast(), _mm_unpackhi_epi64(b[j], b[j + 4]));
        }
    }
}

/// The transpose of matrices stacked along their rows (each `[rows_i, cols]`, `rows_i` =
/// `len / cols`): `[cols, Σ rows_i]`, as if they were concatenated first, in one pass and
/// one allocation (stacking the fused query/key/value weights then transposing them wrote
/// every value twice, and fresh pages are what a cold start pays for).
///
/// In parallel over bands of 32 output rows; inside a band, 8 x 8 blocks go through AVX
/// registers where the CPU has them, the edges value by value.
pub fn transpose_stacked<T: Element>(parts: &[&[T]], cols: usize) -> Vec<T> {
    const BAND: usize = 32;
    let ld: usize = parts.iter().map(|p| p.len() / cols.max(1)).sum();
    let mut dst = vec![T::default(); ld * cols];
    if ld == 0 || cols == 0 {
        return dst;
    }
    let fast = T::has_block8();
    dst.par_chunks_mut(BAND * ld).enumerate().for_each(|(band, out)| {
        let c0 = band * BAND;
        let width = out.len() / ld;
        let mut col0 = 0;
        for src in parts {
            let rows = src.len() / cols;
            let mut done = 0;
            if fast && width.is_multiple_of(8) {
                while done + 8 <= rows {
                    for c in (0..width).step_by(8) {
                        // SAFETY: rows done..done+8 and columns c0+c..c0+c+8 lie inside `src`
                        // (rows x cols); output rows c..c+8, columns col0+done..col0+done+8
                        // inside `out` (width x ld).
                        unsafe { T::block8(src.as_ptr().add(done * cols + c0 + c), cols, out.as_mut_ptr().add(c * ld + col0 + done), ld) };
                    }
                    done += 8;
                }
            }
            for rr in done..rows {
                for c in 0..width {
                    out[c * ld + col0 + rr] = src[rr * cols + c0 + c];
                }
            }
            col0 += rows;
        }
    });
    dst
}

/// Transposes the 8 x 8 block at `src` (row stride `ss`) into `dst` (row stride `ds`): the
/// classic unpack / shuffle / permute sequence.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn transpose8x8(src: *const f32, ss: usize, dst: *mut f32, ds: usize) {
    use std::arch::x86_64::*;
    // SAFETY (whole body): the caller guarantees 8 readable rows of 8 at `src` and 8 writable
    // rows of 8 at `dst`.
    unsafe {
        let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src.add(i * ss)));
        let t: [__m256; 8] = std::array::from_fn(|i| {
            let (a, b) = (r[(i / 2) * 2], r[(i / 2) * 2 + 1]);
            if i % 2 == 0 { _mm256_unpacklo_ps(a, b) } else { _mm256_unpackhi_ps(a, b) }
        });
        let s = [
            _mm256_shuffle_ps::<0x44>(t[0], t[2]),
            _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
            _mm256_shuffle_ps::<0x44>(t[1], t[3]),
            _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
            _mm256_shuffle_ps::<0x44>(t[4], t[6]),
            _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
            _mm256_shuffle_ps::<0x44>(t[5], t[7]),
            _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
        ];
        for i in 0..4 {
            _mm256_storeu_ps(dst.add(i * ds), _mm256_permute2f128_ps::<0x20>(s[i], s[i + 4]));
            _mm256_storeu_ps(dst.add((i + 4) * ds), _mm256_permute2f128_ps::<0x31>(s[i], s[i + 4]));
        }
    }
}

/// Applies `act` to every element, in parallel chunks.
pub fn activate_in_place(y: &mut [f32], act: Activation, threads: Threads) {
    for_each_chunk(y, 1 << 14, threads, |_, c| activate_chunk(c, act));
}

multiversion!(fn activate_chunk(c: &mut [f32], act: Activation) => activate_chunk_body);

#[inline(always)]
fn activate_chunk_body(c: &mut [f32], act: Activation) {
    match act {
        Activation::Gelu => c.iter_mut().for_each(|v| *v = gelu_erf(*v)),
        Activation::GeluNew => c.iter_mut().for_each(|v| *v = gelu_tanh(*v)),
        Activation::Relu => c.iter_mut().for_each(|v| *v = v.max(0.0)),
    }
}

/// `0.5 x (1 + erf(x / √2))`, the exact GELU.
#[inline(always)]
fn gelu_erf(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`, GPT-2's approximation (`gelu_new`).
#[inline(always)]
fn gelu_tanh(x: f32) -> f32 {
    let u = 0.797_884_6 * (x + 0.044_715 * x * x * x);
    // tanh(u) = 1 - 2 / (exp(2u) + 1), with the argument clamped so exp stays finite
    let t = 1.0 - 2.0 / (exp(2.0 * u.clamp(-20.0, 20.0)) + 1.0);
    0.5 * x * (1.0 + t)
}

/// erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7), branch-free so loops over
/// it vectorise.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let r = 1.0 - poly * exp(-a * a);
    r.copysign(x)
}

/// e^x for x in about [-87, 88] (relative error ~2e-7; smaller inputs give 0), branch-free:
/// 2^n by exponent bits times a degree-6 polynomial on the reduced argument.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // round to nearest by the 1.5 * 2^23 trick (f32::round is a libm call that blocks
    // vectorisation on baseline x86-64)
    let n = (x * std::f32::consts::LOG2_E + 12_582_912.0) - 12_582_912.0;
    // Cody-Waite reduction: ln 2 split in a part exact in f32 and the rest
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (0.166_666_67 + r * (0.041_666_668 + r * (0.008_333_334 + r * 0.001_388_889)))));
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale
}

/// `LayerNorm(a + b)` row by row (`[rows, h]`), written over `a`.
pub fn add_layer_norm(a: &mut [f32], b: &[f32], h: usize, gamma: &[f32], beta: &[f32], eps: f32, threads: Threads) {
    for_each_chunk(a, h, threads, |i, row| {
        for (v, r) in row.iter_mut().zip(&b[i * h..(i + 1) * h]) {
            *v += r;
        }
        layer_norm_row(row, gamma, beta, eps);
    });
}

/// `LayerNorm(x)` row by row, in place.
pub fn layer_norm(x: &mut [f32], h: usize, gamma: &[f32], beta: &[f32], eps: f32, threads: Threads) {
    for_each_chunk(x, h, threads, |_, row| layer_norm_row(row, gamma, beta, eps));
}

multiversion!(fn layer_norm_row(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) => layer_norm_row_body);

#[inline(always)]
fn layer_norm_row_body(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let h = row.len() as f32;
    let mean = sum(row) / h;
    let mut acc = [0f32; 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        for i in 0..8 {
            acc[i] += (c[i] - mean) * (c[i] - mean);
        }
    }
    let var = (acc.iter().sum::<f32>() + chunks.remainder().iter().map(|v| (v - mean) * (v - mean)).sum::<f32>()) / h;
    let inv = 1.0 / (var + eps).sqrt();
    for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *v = (*v - mean) * inv * g + b;
    }
}

multiversion!(
    /// One sequence's attention: `seq` is its `[len, 3h]` rows of `qkv`, `out` its `[len, h]`
    /// context (zeroed).
    fn attend(seq: &[f32], len: usize, out: &mut [f32], h: usize, heads: usize) => attend_body
);

#[inline(always)]
fn attend_body(seq: &[f32], len: usize, out: &mut [f32], h: usize, heads: usize) {
    let d = h / heads;
    let scale = 1.0 / (d as f32).sqrt();
    // the head's keys transposed ([d, len]), so a query's scores are d row updates over the
    // keys (vectorised across keys) instead of len dot products ending in horizontal sums
    let mut kt = vec![0f32; d * len];
    let mut probs = vec![0f32; len];
    for hd in 0..heads {
        let (qo, ko, vo) = (hd * d, h + hd * d, 2 * h + hd * d);
        for j in 0..len {
            for (t, &v) in seq[j * 3 * h + ko..][..d].iter().enumerate() {
                kt[t * len + j] = v;
            }
        }
        for i in 0..len {
            let q = &seq[i * 3 * h + qo..][..d];
            probs.fill(0.0);
            for (t, &qv) in q.iter().enumerate() {
                for (p, &kv) in probs.iter_mut().zip(&kt[t * len..(t + 1) * len]) {
                    *p += qv * kv;
                }
            }
            let mut max = f32::NEG_INFINITY;
            for p in probs.iter_mut() {
                *p *= scale;
                max = max.max(*p);
            }
            for p in probs.iter_mut() {
                *p = exp(*p - max);
            }
            let inv = 1.0 / sum(&probs);
            let o = &mut out[i * h + hd * d..][..d];
            for (j, &p) in probs.iter().enumerate() {
                let w = p * inv;
                let v = &seq[j * 3 * h + vo..][..d];
                for (x, y) in o.iter_mut().zip(v) {
                    *x += w * y;
                }
            }
        }
    }
}

/// How many values are NaN or infinite. `v * 0` is 0 for every finite `v` and NaN otherwise,
/// so a lane-wise float sum of those is a branch-free, vectorised test (a per-value count
/// did not vectorise and was an eighth of a cold start); only a checkpoint that fails it is
/// counted value by value.
pub fn count_non_finite(values: &[f32]) -> usize {
    if sum_times_zero(values) == 0.0 { 0 } else { values.iter().filter(|v| !v.is_finite()).count() }
}

multiversion!(fn sum_times_zero(values: &[f32]) -> f32 => sum_times_zero_body);

#[inline(always)]
fn sum_times_zero_body(values: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let mut chunks = values.chunks_exact(16);
    for c in &mut chunks {
        for i in 0..16 {
            acc[i] += c[i] * 0.0;
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().map(|v| v * 0.0).sum::<f32>()
}

/// A float sum in eight lanes, so it vectorises (the compiler may not reorder one sum).
#[inline(always)]
fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for i in 0..8 {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// Multi-head self-attention over packed sequences: `qkv` is `[tokens, 3h]` (query, key, value
/// side by side, each `heads` blocks of `h / heads`), `lens` the sequence lengths. Returns the
/// context `[tokens, h]`. Sequences never see each other (no mask needed), and run in parallel.
pub fn attention(qkv: &[f32], lens: &[usize], h: usize, heads: usize, threads: Threads) -> Vec<f32> {
    let total: usize = lens.iter().sum();
    let mut ctx = vec![0f32; total * h];
    // split the output into one slice per sequence
    let mut pieces = Vec::with_capacity(lens.len());
    let mut rest = ctx.as_mut_slice();
    let mut offset = 0;
    for &len in lens {
        let (head, tail) = rest.split_at_mut(len * h);
        pieces.push((offset, len, head));
        rest = tail;
        offset += len;
    }
    let run = |(start, len, out): (usize, usize, &mut [f32])| attend(&qkv[start * 3 * h..(start + len) * 3 * h], len, out, h, heads);
    match threads {
        Threads::Pool => pieces.into_par_iter().for_each(run),
        Threads::One => pieces.into_iter().for_each(run),
    }
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_erf_match_libm() {
        let mut worst_exp = 0f32;
        let mut worst_erf = 0f32;
        let mut worst_tanh = 0f32;
        for i in -8000..8000 {
            let x = i as f32 / 1000.0;
            worst_exp = worst_exp.max(((exp(x) - x.exp()) / x.exp()).abs());
            worst_erf = worst_erf.max((erf(x) - libm::erff(x)).abs());
            let want = 0.5 * x * (1.0 + (0.797_884_6 * (x + 0.044_715 * x * x * x)).tanh());
            worst_tanh = worst_tanh.max((gelu_tanh(x) - want).abs());
        }
        assert!(worst_exp < 5e-7, "exp relative error {worst_exp}");
        assert!(worst_erf < 1e-6, "erf error {worst_erf}");
        assert!(worst_tanh < 1e-6, "gelu_new error {worst_tanh}");
        assert_eq!(exp(-200.0), exp(-87.0));
        assert!(exp(-87.0) < 1e-37);
    }

    #[test]
    fn transpose_moves_every_value() {
        // multiples of 8 (the AVX blocks), ragged edges, and a band narrower than 8
        for (rows, cols) in [(37, 70), (64, 96), (16, 36), (9, 5), (1, 1)] {
            let src: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let t = transpose(&src, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(t[c * rows + r], src[r * cols + c], "{rows}x{cols} at ({r},{c})");
                }
            }
        }
        assert!(transpose::<f32>(&[], 0, 5).is_empty());
        // stacked: the same as concatenating, then transposing
        let (a, b): (Vec<f32>, Vec<f32>) = ((0..24 * 16).map(|i| i as f32).collect(), (0..13 * 16).map(|i| -(i as f32)).collect());
        let joined: Vec<f32> = a.iter().chain(&b).copied().collect();
        assert_eq!(transpose_stacked(&[&a, &b], 16), transpose(&joined, 37, 16));
    }

    #[test]
    fn linear_layouts_agree_and_add_bias() {
        let (rows, k, n) = (20, 24, 40);
        let x: Vec<f32> = (0..rows * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let w: Vec<f32> = (0..n * k).map(|i| ((i * 53 % 97) as f32 - 48.0) / 100.0).collect();
        let b: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let y = linear(&x, k, WeightValues::F32(&w), n, WeightLayout::OutIn, Some(&b), None, Threads::Pool);
        let yt = linear(&x, k, WeightValues::F32(&transpose(&w, n, k)), n, WeightLayout::InOut, Some(&b), None, Threads::One);
        for i in 0..rows {
            for j in 0..n {
                let want: f32 = (0..k).map(|kk| x[i * k + kk] * w[j * k + kk]).sum::<f32>() + b[j];
                assert!((y[i * n + j] - want).abs() < 1e-4, "({i},{j}) {} vs {want}", y[i * n + j]);
                assert!((yt[i * n + j] - want).abs() < 1e-4, "({i},{j}) {} vs {want}", yt[i * n + j]);
            }
        }
        let relu = linear(&x, k, WeightValues::F32(&w), n, WeightLayout::OutIn, None, Some(Activation::Relu), Threads::One);
        assert!(relu.iter().all(|&v| v >= 0.0) && relu.iter().any(|&v| v > 0.0));
    }

    /// Wide enough for several column blocks and a narrow tail that joins the last one
    /// (n = 2 * 256 + 20): every column must match the fp32 product on the widened weight,
    /// and rows must not depend on how many others run with them.
    #[test]
    fn linear_bf16_matches_fp32_on_the_widened_weight_and_is_batch_invariant() {
        let (rows, k, n) = (40, 24, 2 * BF16_BLOCK + 20);
        let x: Vec<f32> = (0..rows * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let w32: Vec<f32> = (0..n * k).map(|i| ((i * 53 % 97) as f32 - 48.0) / 100.0 + 1e-4).collect();
        let w16: Vec<half::bf16> = w32.iter().map(|&v| half::bf16::from_f32(v)).collect();
        let widened: Vec<f32> = w16.iter().map(|v| v.to_f32()).collect();
        assert!(widened != w32, "the test weight must lose precision in bf16");
        let b: Vec<f32> = (0..n).map(|i| i as f32 / 10.0).collect();
        let y = linear(&x, k, WeightValues::Bf16(&w16), n, WeightLayout::OutIn, Some(&b), None, Threads::Pool);
        let want = linear(&x, k, WeightValues::F32(&widened), n, WeightLayout::OutIn, Some(&b), None, Threads::Pool);
        let worst = y.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-5, "bf16 product differs from the fp32 one on the widened weight by {worst}");
        let yt = linear(&x, k, WeightValues::Bf16(&transpose(&w16, n, k)), n, WeightLayout::InOut, Some(&b), None, Threads::One);
        let worst = yt.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-5, "bf16 product on the transposed weight differs by {worst}");
        // the first 16 rows alone, on one thread, give the same bits
        let alone =
            linear(&x[..16 * k], k, WeightValues::Bf16(&w16), n, WeightLayout::OutIn, Some(&b), Some(Activation::Gelu), Threads::One);
        let mut gelu = y[..16 * n].to_vec();
        activate_in_place(&mut gelu, Activation::Gelu, Threads::One);
        assert!(alone == gelu, "rows differ when run alone");
    }

    #[test]
    fn bf16_transpose_moves_every_value() {
        for (rows, cols) in [(37, 70), (64, 96), (16, 36), (9, 5)] {
            let src: Vec<half::bf16> = (0..rows * cols).map(|i| half::bf16::from_bits(i as u16)).collect();
            let t = transpose(&src, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(t[c * rows + r], src[r * cols + c], "({r}, {c}) of {rows} x {cols}");
                }
            }
        }
    }

    #[test]
    fn widening_bf16_is_exact() {
        let src: Vec<half::bf16> =
            [0.0f32, -0.0, 1.0, -2.5, 1.2345, 1e-30, -6.5e4, f32::INFINITY].iter().map(|&v| half::bf16::from_f32(v)).collect();
        let mut dst = vec![0f32; src.len()];
        widen_bf16(&src, &mut dst);
        for (s, d) in src.iter().zip(&dst) {
            assert_eq!(s.to_f32().to_bits(), d.to_bits());
        }
    }

    #[test]
    fn attention_keeps_sequences_apart() {
        // two sequences; the second alone must give the same context as in the pack
        let (h, heads) = (16, 2);
        let lens = [3usize, 5];
        let total: usize = lens.iter().sum();
        let qkv: Vec<f32> = (0..total * 3 * h).map(|i| ((i * 29 % 83) as f32 - 41.0) / 40.0).collect();
        let packed = attention(&qkv, &lens, h, heads, Threads::Pool);
        let alone = attention(&qkv[3 * 3 * h..], &lens[1..], h, heads, Threads::One);
        assert_eq!(&packed[3 * h..], &alone[..]);
        // a one-token sequence attends only to itself: its context is its own value
        let one = attention(&qkv[..3 * h], &[1], h, heads, Threads::One);
        assert_eq!(&one[..], &qkv[2 * h..3 * h]);
    }

    #[test]
    fn counts_non_finite_values() {
        let mut v = vec![1.5f32; 1000];
        assert_eq!(count_non_finite(&v), 0);
        v[3] = f32::NAN;
        v[999] = f32::INFINITY;
        v[500] = f32::NEG_INFINITY;
        assert_eq!(count_non_finite(&v), 3);
        assert_eq!(count_non_finite(&[f32::MAX, f32::MIN, 0.0]), 0);
        assert_eq!(count_non_finite(&[]), 0);
    }

    #[test]
    fn layer_norm_normalises_rows() {
        let mut a = vec![1.0, 2.0, 3.0, 4.0, 10.0, 10.0, 10.0, 14.0];
        let b = vec![0.0; 8];
        add_layer_norm(&mut a, &b, 4, &[1.0; 4], &[0.0; 4], 1e-12, Threads::Pool);
        for row in a.chunks(4) {
            assert!(row.iter().sum::<f32>().abs() < 1e-5);
            let var: f32 = row.iter().map(|v| v * v).sum::<f32>() / 4.0;
            assert!((var - 1.0).abs() < 1e-4, "{row:?}");
        }
    }
}
