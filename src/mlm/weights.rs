//! Checkpoint weights: safetensors (memory-mapped) or PyTorch `.bin` (zip), with names normalised.

use anyhow::{Context, anyhow, bail};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use crate::nn::Precision;

/// All tensors of a checkpoint under canonical names (`bert.…`, `cls.…`, LayerNorm `weight`/`bias`).
pub struct Weights {
    tensors: HashMap<String, Tensor>,
    /// Tensors of a non-float dtype, by canonical name, with the dtype: real checkpoints carry
    /// integer buffers (`embeddings.position_ids`) that are never read, so these are refused
    /// only when a model asks for one as a weight.
    non_float: HashMap<String, String>,
    source: PathBuf,
}

impl Weights {
    /// Loads `model.safetensors` (or its sharded index) if present, else `pytorch_model.bin`.
    pub fn from_dir(dir: &Path, device: &Device) -> anyhow::Result<Self> {
        Self::from_dir_with(dir, device, Precision::Fp32)
    }

    /// [`Weights::from_dir`], with the weight matrices held at `precision` (see
    /// [`holds_bf16`]): each is rounded as it is read, so the checkpoint is never held whole in
    /// fp32 (a safetensors one; a PyTorch `.bin` is read whole first anyway).
    pub fn from_dir_with(dir: &Path, device: &Device, precision: Precision) -> anyhow::Result<Self> {
        let st = dir.join("model.safetensors");
        let st_index = dir.join("model.safetensors.index.json");
        let bin = dir.join("pytorch_model.bin");
        if st.is_file() {
            Self::from_safetensors(std::slice::from_ref(&st), &st, device, precision)
        } else if st_index.is_file() {
            let shards = shard_files(&st_index)?;
            Self::from_safetensors(&shards, &st_index, device, precision)
        } else if bin.is_file() {
            Self::from_pytorch_bin(&bin, device, precision)
        } else {
            bail!("{}: no model weights (expected model.safetensors or pytorch_model.bin)", dir.display())
        }
    }

    fn from_safetensors(files: &[PathBuf], source: &Path, device: &Device, precision: Precision) -> anyhow::Result<Self> {
        let (mut tensors, mut non_float) = (HashMap::new(), HashMap::new());
        for file in files {
            let f = std::fs::File::open(file).with_context(|| format!("{}: cannot read", file.display()))?;
            // SAFETY: the file is opened read-only and not modified while mapped; a concurrent
            // writer would be a user error the OS cannot protect us from either.
            let mm = unsafe { memmap2::Mmap::map(&f) }.with_context(|| format!("{}: cannot map", file.display()))?;
            let st = safetensors::SafeTensors::deserialize(&mm)
                .map_err(|e| anyhow!("{}: not a valid safetensors file ({e}); download it again", file.display()))?;
            let release = |view: &safetensors::tensor::TensorView<'_>| release_pages(&mm, view.data());
            load_views(st.tensors(), &mut tensors, &mut non_float, device, precision, release)
                .map_err(|e| anyhow!("{}: {e}", file.display()))?;
        }
        Self::finish_with(tensors, non_float, source)
    }

    /// A safetensors checkpoint held in memory; `source` names it in messages. The header is
    /// checked by the `safetensors` crate (its length bounded, every tensor's byte range inside
    /// the buffer and matching its shape and dtype) before any tensor is read.
    pub fn from_safetensors_bytes(bytes: &[u8], source: &Path, device: &Device) -> anyhow::Result<Self> {
        let st = candle_core::safetensors::SliceSafetensors::new(bytes)
            .map_err(|e| anyhow!("{}: not a valid safetensors file ({e}); download it again", source.display()))?;
        let (mut tensors, mut non_float) = (HashMap::new(), HashMap::new());
        load_views(st.tensors(), &mut tensors, &mut non_float, device, Precision::Fp32, |_| {})
            .map_err(|e| anyhow!("{}: {e}", source.display()))?;
        Self::finish_with(tensors, non_float, source)
    }

    fn from_pytorch_bin(path: &Path, device: &Device, precision: Precision) -> anyhow::Result<Self> {
        let source = path.display().to_string();
        let mut file = std::fs::File::open(path).with_context(|| format!("{source}: cannot read"))?;
        let len = file.metadata().with_context(|| format!("{source}: cannot read"))?.len();
        let mut magic = [0u8; 4];
        let got = file.read(&mut magic).with_context(|| format!("{source}: cannot read"))?;
        check_zip_magic(&magic[..got], &source)?;
        file.rewind().with_context(|| format!("{source}: cannot read"))?;
        let list = crate::mlm::pytorch::read_checkpoint(std::io::BufReader::new(file), len, &source)?;
        Self::from_list(list, path, device, precision)
    }

    /// Loads a PyTorch zip checkpoint held in memory (the same reader as for a file; for the
    /// fuzz target and for callers that already hold the bytes). `source_name` names it in errors.
    pub fn from_pytorch_bin_bytes(bytes: &[u8], source_name: &str, device: &Device) -> anyhow::Result<Self> {
        check_zip_magic(bytes, source_name)?;
        let list = crate::mlm::pytorch::read_checkpoint(std::io::Cursor::new(bytes), bytes.len() as u64, source_name)?;
        Self::from_list(list, Path::new(source_name), device, Precision::Fp32)
    }

    fn from_list(list: Vec<(String, Tensor)>, source: &Path, device: &Device, precision: Precision) -> anyhow::Result<Self> {
        let mut tensors = HashMap::with_capacity(list.len());
        for (name, t) in list {
            let t = t.to_device(device)?;
            let t = if is_float(t.dtype()) { settle(&name, t, precision).map_err(|e| anyhow!("{}: {e}", source.display()))? } else { t };
            tensors.insert(name, t);
        }
        Self::finish_with(tensors, HashMap::new(), source)
    }

    /// Files every float tensor (already [`settle`]d) under its canonical name; tensors of
    /// other dtypes are set aside (see [`Weights::get`]).
    fn finish_with(raw: HashMap<String, Tensor>, mut non_float: HashMap<String, String>, source: &Path) -> anyhow::Result<Self> {
        if raw.is_empty() && non_float.is_empty() {
            bail!("{}: the checkpoint holds no tensors", source.display());
        }
        non_float = non_float.into_iter().map(|(n, d)| (canonical_name(&n), d)).collect();
        let mut tensors = HashMap::with_capacity(raw.len());
        for (name, t) in raw {
            if !is_float(t.dtype()) {
                non_float.insert(canonical_name(&name), format!("{:?}", t.dtype()));
                continue;
            }
            let key = canonical_name(&name);
            if tensors.insert(key.clone(), t).is_some() {
                bail!("{}: two tensors are both named {key} once prefixes are normalised; the checkpoint is ambiguous", source.display());
            }
        }
        Ok(Self { tensors, non_float, source: source.to_path_buf() })
    }

    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Every tensor under its canonical name (for checks over a whole checkpoint).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The tensor `name` with the shape `config.json` implies; errors name the file and tensor.
    /// A weight of a non-float dtype is refused here: reinterpreting integers as weights would
    /// give a model that runs and predicts nonsense.
    pub fn get(&self, name: &str, shape: &[usize]) -> anyhow::Result<Tensor> {
        if let Some(dtype) = self.non_float.get(name) {
            bail!("{}: tensor {name} has dtype {dtype}, {DTYPE_ADVICE}", self.source.display());
        }
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| anyhow!("{}: missing tensor {name} (is this a BERT checkpoint?)", self.source.display()))?;
        if t.dims() != shape {
            bail!(
                "{}: tensor {name} has shape {:?} but config.json implies {:?}; the weights and config.json belong to different models",
                self.source.display(),
                t.dims(),
                shape
            );
        }
        Ok(t.clone())
    }
}

/// Loads the safetensors views of a float dtype; the names and dtypes of the others go to
/// `non_float` unread (their bytes are never converted).
/// Copies the float tensors out of `views` (and sets the others aside); `copied` is told of
/// each view once its copy exists.
fn load_views<'a>(
    views: Vec<(String, safetensors::tensor::TensorView<'a>)>,
    out: &mut HashMap<String, Tensor>,
    non_float: &mut HashMap<String, String>,
    device: &Device,
    precision: Precision,
    copied: impl Fn(&safetensors::tensor::TensorView<'a>),
) -> anyhow::Result<()> {
    use candle_core::safetensors::Load;
    for (name, view) in views {
        match DType::try_from(view.dtype()) {
            Ok(dtype) if is_float(dtype) => {
                let t = view.load(device).map_err(|e| anyhow!("cannot read tensor {name}: {e}"))?;
                copied(&view);
                let t = settle(&name, t, precision)?;
                out.insert(name, t);
            }
            _ => {
                non_float.insert(name, format!("{:?}", view.dtype()));
            }
        }
    }
    Ok(())
}

/// Drops the mapped pages under `data` (rounded out to whole pages) from this process: once a
/// tensor is copied, its file pages would otherwise stay resident until the map is dropped, so
/// loading would briefly hold every weight twice (BERT-base: 0.44 GB more peak memory). A page
/// shared with a tensor not yet copied is simply read again from the page cache.
fn release_pages(map: &memmap2::Mmap, data: &[u8]) {
    #[cfg(unix)]
    {
        // SAFETY: sysconf only reads a system constant.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096).max(1);
        let base = map.as_ptr() as usize;
        let start = (data.as_ptr() as usize - base) / page * page;
        let end = ((data.as_ptr() as usize - base + data.len()).div_ceil(page) * page).min(map.len().div_ceil(page) * page);
        if end > start {
            // SAFETY: the range lies inside this read-only private map (page-aligned, as
            // madvise needs); MADV_DONTNEED on such a map only drops pages, which later reads
            // fault in again unchanged from the file.
            unsafe { libc::madvise((base + start) as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        }
    }
    #[cfg(not(unix))]
    let _ = (map, data);
}

const DTYPE_ADVICE: &str = "but model weights must be float32, float16 or bfloat16; the file is corrupt or not a model checkpoint";

/// A float tensor as the model holds it: converted to f32, its values checked (finite), then
/// rounded to bf16 if `precision` asks for it and it is a weight matrix ([`holds_bf16`]).
fn settle(name: &str, t: Tensor, precision: Precision) -> anyhow::Result<Tensor> {
    let t = if t.dtype() == DType::F32 { t } else { t.to_dtype(DType::F32)? };
    check_finite(name, &t)?;
    if precision == Precision::Bf16 && holds_bf16(&canonical_name(name), t.dims()) {
        return Ok(t.to_dtype(DType::BF16)?);
    }
    Ok(t)
}

/// Whether a tensor is held in bf16 under [`Precision::Bf16`]: every weight matrix (word
/// embeddings, linear layers, decoder), which is nearly all of a model's memory. The position
/// and token-type tables are small and added row by row, so they stay fp32, like every bias
/// and LayerNorm vector.
pub fn holds_bf16(canonical: &str, dims: &[usize]) -> bool {
    dims.len() == 2
        && canonical.ends_with(".weight")
        && !canonical.ends_with("position_embeddings.weight")
        && !canonical.ends_with("token_type_embeddings.weight")
}

/// The dtypes weights may have (converted to f32 at load).
fn is_float(dtype: DType) -> bool {
    matches!(dtype, DType::F32 | DType::F16 | DType::BF16)
}

/// A NaN or infinite weight poisons every output silently, so it is refused at load. The scan
/// is one vectorised pass over the values (see [`crate::nn::kernels::count_non_finite`]).
fn check_finite(name: &str, t: &Tensor) -> anyhow::Result<()> {
    let (storage, layout) = t.storage_and_layout();
    let candle_core::Storage::Cpu(cpu) = &*storage else {
        return Ok(());
    };
    let values = cpu.as_slice::<f32>()?;
    let values = match layout.contiguous_offsets() {
        Some((start, end)) => values.get(start..end).unwrap_or(&[]),
        None => values,
    };
    let bad = crate::nn::kernels::count_non_finite(values);
    if bad > 0 {
        bail!("tensor {name} holds {bad} NaN or infinite values; the checkpoint is corrupt (download it again, or use another)");
    }
    Ok(())
}

/// Maps checkpoint names onto one scheme: `bert.` prefix for encoder tensors (absent in
/// `BertModel` checkpoints), `weight`/`bias` for LayerNorm (old TF-converted checkpoints say
/// `gamma`/`beta`), no `module.` prefix (saved from DataParallel).
fn canonical_name(name: &str) -> String {
    let mut n = name.strip_prefix("module.").unwrap_or(name).to_string();
    if n.starts_with("embeddings.") || n.starts_with("encoder.") || n.starts_with("pooler.") {
        n = format!("bert.{n}");
    }
    if let Some(stem) = n.strip_suffix(".gamma") {
        n = format!("{stem}.weight");
    } else if let Some(stem) = n.strip_suffix(".beta") {
        n = format!("{stem}.bias");
    }
    n
}

/// Refuses what is not a zip archive before any parsing: the legacy format is a bare pickle
/// stream, which cannot be read without trusting it.
fn check_zip_magic(head: &[u8], source: &str) -> anyhow::Result<()> {
    if head.len() < 4 {
        bail!("{source}: only {} bytes, too short to be a PyTorch checkpoint; the file is truncated, download it again", head.len());
    }
    if &head[..4] != b"PK\x03\x04" {
        bail!(
            "{source}: legacy (non-zip) PyTorch format, which cannot be read safely; convert it once with \
             python: `import torch; torch.save(torch.load(p, weights_only=True), p)` (or save it as model.safetensors)"
        );
    }
    Ok(())
}

fn shard_files(index: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(index).with_context(|| format!("{}: cannot read", index.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| anyhow!("{}: invalid JSON ({e})", index.display()))?;
    let map = v.get("weight_map").and_then(|m| m.as_object()).ok_or_else(|| anyhow!("{}: no weight_map", index.display()))?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut files: Vec<PathBuf> = map.values().filter_map(|f| f.as_str()).map(|f| dir.join(f)).collect();
    files.sort();
    files.dedup();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::canonical_name;

    #[test]
    fn names_are_normalised() {
        assert_eq!(canonical_name("embeddings.LayerNorm.gamma"), "bert.embeddings.LayerNorm.weight");
        assert_eq!(canonical_name("bert.encoder.layer.0.output.LayerNorm.beta"), "bert.encoder.layer.0.output.LayerNorm.bias");
        assert_eq!(canonical_name("cls.predictions.bias"), "cls.predictions.bias");
        assert_eq!(canonical_name("module.bert.pooler.dense.weight"), "bert.pooler.dense.weight");
    }
}
