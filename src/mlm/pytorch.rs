//! A small, safe reader for PyTorch zip checkpoints (`pytorch_model.bin` written by `torch.save`).
//!
//! Our own reader rather than validating and then handing the file to candle's
//! `pickle::read_all`: candle's reader silently skips calls it does not know, sizes buffers by the
//! pickle's own length fields, indexes argument tuples without checking their length (a panic on a
//! short tuple) and re-opens the archive per tensor, so a validator in front of it would have to
//! mirror its whole interpretation anyway. This reader never executes anything: the pickle is
//! interpreted by a tiny stack machine that knows only the opcodes a state dict needs and only the
//! globals torch's weights-only loader allows for one (`collections.OrderedDict`, the tensor and
//! parameter rebuild functions, the `torch.*Storage` classes); any other global is refused by name
//! the moment it appears. Every length is checked against the bytes remaining, objects nest at
//! most [`MAX_DEPTH`] deep, zip entries are bounded in count and size relative to the archive, and
//! every tensor view is checked (with overflow-checked arithmetic) to lie inside its storage entry
//! before a byte of it is read.

use anyhow::{anyhow, bail};
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::io::{Read, Seek};
use std::rc::Rc;

/// Most zip entries accepted: a BERT-large checkpoint has about 400; a million would only cost
/// memory for nothing.
const MAX_ENTRIES: usize = 200_000;
/// Largest `data.pkl` read: the pickle of a state dict holds names and small integers (about
/// 30 KB for BERT-base), never tensor data.
const MAX_PICKLE_BYTES: u64 = 64 << 20;
/// Deflate's best case is about 1032:1, so a larger declared expansion is a lie (or a bomb).
const MAX_INFLATION: u64 = 1032;
/// Deepest object nesting accepted (a state dict needs about 5); also keeps dropping a hostile
/// deep structure from overflowing the stack.
const MAX_DEPTH: usize = 32;
/// Most tensor dimensions accepted.
const MAX_RANK: usize = 8;

/// Reads every tensor of a zip checkpoint as f32 on the CPU. `archive_len` is the size of the
/// whole archive (the bound for entry sizes); `source` names it in errors.
pub fn read_checkpoint<R: Read + Seek>(reader: R, archive_len: u64, source: &str) -> anyhow::Result<Vec<(String, Tensor)>> {
    let mut zip = zip::ZipArchive::new(reader)
        .map_err(|e| anyhow!("{source}: not a complete zip archive ({e}); the file is truncated or corrupt, download it again"))?;
    if zip.len() > MAX_ENTRIES {
        bail!("{source}: the zip archive claims {} entries (at most {MAX_ENTRIES} are read); the file is corrupt", zip.len());
    }
    let pkl_name = find_data_pkl(&zip, source)?;
    let prefix = pkl_name.strip_suffix("data.pkl").unwrap_or("").to_string();
    let pickle = read_entry(&mut zip, &pkl_name, archive_len, MAX_PICKLE_BYTES, source)?;
    let root = Unpickler::new(&pickle, source).run()?;
    let records = state_dict(root, source)?;

    // One storage at a time (tied weights share one), so at most one raw storage is held.
    let mut by_storage: Vec<(String, Rc<Storage>, View)> = records;
    by_storage.sort_by(|a, b| a.1.key.cmp(&b.1.key));
    let mut out = Vec::with_capacity(by_storage.len());
    let mut current: Option<(String, Vec<u8>)> = None;
    for (name, storage, view) in by_storage {
        let label = shown(&name);
        let elem = storage.dtype.size();
        let nbytes =
            storage.numel.checked_mul(elem).ok_or_else(|| anyhow!("{source}: tensor {label}: storage size {} overflows", storage.numel))?;
        check_view(&label, &view, storage.numel, source)?;
        if !storage.dtype.is_float() {
            if is_integer_buffer(&name) {
                continue; // recomputed by the model; never a weight
            }
            bail!(
                "{source}: tensor {label} has dtype {} ({}), but only float32, float16 and bfloat16 weights are read; \
                 convert the checkpoint to model.safetensors with float weights",
                storage.dtype.name(),
                storage.class
            );
        }
        if current.as_ref().map(|(k, _)| k != &storage.key).unwrap_or(true) {
            let entry = format!("{prefix}data/{}", storage.key);
            let bytes = read_entry(&mut zip, &entry, archive_len, u64::MAX, source)?;
            current = Some((storage.key.clone(), bytes));
        }
        let bytes = current.as_ref().map(|(_, b)| b.as_slice()).unwrap_or(&[]);
        // Checked per record: two records may name one storage key with different sizes or types.
        if bytes.len() != nbytes {
            bail!(
                "{source}: tensor {label}: storage entry {} holds {} bytes but its record says {nbytes}; the file is corrupt",
                shown(&format!("{prefix}data/{}", storage.key)),
                bytes.len()
            );
        }
        let values = gather(bytes, storage.dtype, &view);
        let shape: Vec<usize> = view.size.clone();
        let t = Tensor::from_vec(values, shape, &Device::Cpu).map_err(|e| anyhow!("{source}: tensor {label}: {e}"))?;
        out.push((name, t));
    }
    Ok(out)
}

/// `<dir>/data.pkl` for any top-level directory name; exactly one is expected.
fn find_data_pkl<R: Read + Seek>(zip: &zip::ZipArchive<R>, source: &str) -> anyhow::Result<String> {
    let mut found: Option<String> = None;
    for name in zip.file_names() {
        let Ok(name) = name else { continue }; // a non-UTF-8 name is never data.pkl
        let Some(dir) = name.strip_suffix("/data.pkl") else { continue };
        if dir.is_empty() || dir.contains('/') {
            continue;
        }
        if found.is_some() {
            bail!("{source}: the zip archive holds several */data.pkl records; it is not a single PyTorch checkpoint");
        }
        found = Some(name.to_string());
    }
    found.ok_or_else(|| {
        anyhow!("{source}: zip archive without a <dir>/data.pkl record, so not a PyTorch checkpoint; convert it to model.safetensors")
    })
}

/// The bytes of entry `name`, refusing sizes beyond `cap`, beyond the archive for stored entries
/// and beyond deflate's expansion limit for compressed ones. The buffer grows with the bytes
/// actually read, never by a declared size alone.
fn read_entry<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
    archive_len: u64,
    cap: u64,
    source: &str,
) -> anyhow::Result<Vec<u8>> {
    let name_shown = shown(name);
    let entry = zip.by_name(name).map_err(|e| {
        anyhow!("{source}: cannot read zip entry {name_shown} ({e}); the file is corrupt or uses an unsupported zip feature")
    })?;
    let size = entry.size();
    let packed = entry.compressed_size();
    let bound = if entry.compression() == zip::CompressionMethod::Stored { packed } else { packed.saturating_mul(MAX_INFLATION) };
    if packed > archive_len || size > bound || size > archive_len.saturating_mul(MAX_INFLATION) {
        bail!(
            "{source}: zip entry {name_shown} claims {size} bytes from {packed} stored in a {archive_len}-byte archive, which is impossible; the file is corrupt"
        );
    }
    if size > cap {
        bail!("{source}: zip entry {name_shown} is {size} bytes (at most {cap} are read); the file is corrupt or not a state dict");
    }
    let mut bytes = Vec::with_capacity(size.min(1 << 20) as usize);
    entry
        .take(size)
        .read_to_end(&mut bytes)
        .map_err(|e| anyhow!("{source}: cannot read zip entry {name_shown} ({e}); the file is truncated or corrupt"))?;
    if bytes.len() as u64 != size {
        bail!("{source}: zip entry {name_shown} ends after {} of its {size} bytes; the file is truncated", bytes.len());
    }
    Ok(bytes)
}

/// `s` fit for a one-line error: control characters escaped, at most 120 characters.
fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(120).flat_map(char::escape_debug).collect();
    if s.chars().nth(120).is_some() {
        out.push_str("...");
    }
    out
}

/// Element types of the `torch.*Storage` classes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum StorageType {
    F32,
    F16,
    Bf16,
    F64,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl StorageType {
    fn from_class(class: &str) -> Option<Self> {
        Some(match class {
            "FloatStorage" => Self::F32,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::Bf16,
            "DoubleStorage" => Self::F64,
            "LongStorage" => Self::I64,
            "IntStorage" => Self::I32,
            "ShortStorage" => Self::I16,
            "CharStorage" => Self::I8,
            "ByteStorage" => Self::U8,
            "BoolStorage" => Self::Bool,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::Bf16 | Self::I16 => 2,
            Self::I8 | Self::U8 | Self::Bool => 1,
        }
    }

    fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F16 | Self::Bf16)
    }

    fn name(self) -> &'static str {
        match self {
            Self::F32 => "float32",
            Self::F16 => "float16",
            Self::Bf16 => "bfloat16",
            Self::F64 => "float64",
            Self::I64 => "int64",
            Self::I32 => "int32",
            Self::I16 => "int16",
            Self::I8 => "int8",
            Self::U8 => "uint8",
            Self::Bool => "bool",
        }
    }
}

/// Integer buffers BERT checkpoints carry (`position_ids`, `token_type_ids`): the model builds
/// them itself, so they are skipped rather than refused.
fn is_integer_buffer(name: &str) -> bool {
    name.ends_with("position_ids") || name.ends_with("token_type_ids")
}

/// A storage record from a persistent id: `('storage', torch.XStorage, key, location, numel)`.
#[derive(Debug)]
struct Storage {
    class: String,
    dtype: StorageType,
    key: String,
    numel: usize,
}

/// A tensor view into a storage, in elements.
#[derive(Debug, Clone)]
struct View {
    offset: usize,
    size: Vec<usize>,
    stride: Vec<usize>,
}

/// Refuses a view reaching outside its storage or holding more elements than the storage (a
/// broadcast view would let a tiny file expand to any size).
fn check_view(name: &str, v: &View, storage_numel: usize, source: &str) -> anyhow::Result<()> {
    let overflow = || anyhow!("{source}: tensor {name}: shape {:?} overflows", v.size);
    let numel = v.size.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(overflow)?;
    if numel == 0 {
        if v.offset > storage_numel {
            bail!("{source}: tensor {name}: offset {} lies past its storage of {storage_numel} elements; the file is corrupt", v.offset);
        }
        return Ok(());
    }
    let mut last = v.offset;
    for (&d, &s) in v.size.iter().zip(&v.stride) {
        let reach = (d - 1).checked_mul(s).ok_or_else(overflow)?;
        last = last.checked_add(reach).ok_or_else(overflow)?;
    }
    if last >= storage_numel {
        bail!(
            "{source}: tensor {name}: view (offset {}, shape {:?}, stride {:?}) reaches element {last} of a storage of {storage_numel}; the file is corrupt",
            v.offset,
            v.size,
            v.stride
        );
    }
    if numel > storage_numel {
        bail!("{source}: tensor {name}: {numel} elements viewed from a storage of {storage_numel} (overlapping view); not supported");
    }
    Ok(())
}

/// The view's elements as f32, row-major. Assumes [`check_view`] passed.
fn gather(bytes: &[u8], dtype: StorageType, v: &View) -> Vec<f32> {
    let elem = dtype.size();
    let decode = |i: usize| -> f32 {
        let b = &bytes[i * elem..(i + 1) * elem];
        match dtype {
            StorageType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            StorageType::F16 => f16_to_f32(u16::from_le_bytes([b[0], b[1]])),
            StorageType::Bf16 => f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16),
            _ => 0.0,
        }
    };
    let numel: usize = v.size.iter().product();
    let mut out = Vec::with_capacity(numel);
    if numel == 0 {
        return out;
    }
    let rank = v.size.len();
    let mut index = vec![0usize; rank];
    let mut pos = v.offset;
    loop {
        out.push(decode(pos));
        // Odometer over the dimensions, last fastest.
        let mut d = rank;
        loop {
            if d == 0 {
                return out;
            }
            d -= 1;
            index[d] += 1;
            // Wrapping: a size-1 dimension may carry any stride; the sum returns in range.
            pos = pos.wrapping_add(v.stride[d]);
            if index[d] < v.size[d] {
                break;
            }
            pos = pos.wrapping_sub(v.stride[d].wrapping_mul(v.size[d]));
            index[d] = 0;
        }
    }
}

/// IEEE half to single precision (exact: every f16 is an f32).
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: value = frac * 2^-24.
            let v = frac as f32 * f32::from_bits(0x3380_0000);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, _) => sign | 0x7fc0_0000 | (frac << 13),
        _ => sign | ((exp + 112) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

/// A pickle value as far as a state dict needs one. Containers are shared (`Rc`) so memo reads
/// cost nothing; `depth` bounds nesting.
#[derive(Debug, Clone)]
enum Obj {
    Mark,
    None,
    Bool,
    Int(i64),
    Float,
    Str(Rc<str>),
    Bytes,
    Tuple(Rc<Vec<Obj>>, usize),
    List(Rc<Vec<Obj>>, usize),
    Dict(Rc<Vec<(Obj, Obj)>>, usize),
    Global(Global),
    Storage(Rc<Storage>),
    Tensor(Rc<Storage>, Rc<View>),
}

impl Obj {
    fn depth(&self) -> usize {
        match self {
            Obj::Tuple(_, d) | Obj::List(_, d) | Obj::Dict(_, d) => *d,
            _ => 0,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Obj::Mark => "mark",
            Obj::None => "None",
            Obj::Bool => "bool",
            Obj::Int(_) => "int",
            Obj::Float => "float",
            Obj::Str(_) => "str",
            Obj::Bytes => "bytes",
            Obj::Tuple(..) => "tuple",
            Obj::List(..) => "list",
            Obj::Dict(..) => "dict",
            Obj::Global(_) => "global",
            Obj::Storage(_) => "storage",
            Obj::Tensor(..) => "tensor",
        }
    }
}

/// The globals a state dict may name.
#[derive(Debug, Clone, PartialEq)]
enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildParameter,
    RebuildFromTypeV2,
    /// `torch.Tensor` / `torch.nn.parameter.Parameter`, the type argument of `_rebuild_from_type_v2`.
    TensorType,
    StorageClass(String, StorageType),
}

fn allowed_global(module: &str, name: &str) -> Option<Global> {
    Some(match (module, name) {
        ("collections", "OrderedDict") => Global::OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
        ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
        ("torch._tensor", "_rebuild_from_type_v2") => Global::RebuildFromTypeV2,
        ("torch", "Tensor") | ("torch.nn.parameter", "Parameter") => Global::TensorType,
        ("torch", class) => Global::StorageClass(class.to_string(), StorageType::from_class(class)?),
        _ => return None,
    })
}

/// The restricted pickle machine: builds objects, never calls anything.
struct Unpickler<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Obj>,
    memo: HashMap<u32, Obj>,
    /// How many of the most recent opcodes pushed a literal string (for `STACK_GLOBAL`).
    recent_strings: usize,
    /// Elements copied so far because a container shared with the memo was extended; bounded
    /// so a pickle cannot make the reader quadratic.
    copied: usize,
    source: &'a str,
}

impl<'a> Unpickler<'a> {
    fn new(data: &'a [u8], source: &'a str) -> Self {
        Self { data, pos: 0, stack: Vec::new(), memo: HashMap::new(), recent_strings: 0, copied: 0, source }
    }

    fn corrupt(&self, what: impl std::fmt::Display) -> anyhow::Error {
        anyhow!("{}: corrupt checkpoint pickle at byte {}: {what}", self.source, self.pos)
    }

    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        match end {
            Some(end) => {
                let s = &self.data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(self.corrupt(format!("a length of {n} bytes runs past the end ({} left)", self.data.len() - self.pos))),
        }
    }

    fn u8(&mut self) -> anyhow::Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> anyhow::Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> anyhow::Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> anyhow::Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn line(&mut self) -> anyhow::Result<&'a str> {
        let rest = &self.data[self.pos..];
        let n = rest.iter().position(|&b| b == b'\n').ok_or_else(|| self.corrupt("GLOBAL name without a newline"))?;
        let line = self.take(n + 1)?;
        std::str::from_utf8(&line[..n]).map_err(|_| self.corrupt("GLOBAL name is not UTF-8"))
    }

    fn string(&mut self, n: usize) -> anyhow::Result<Obj> {
        let b = self.take(n)?;
        let s = std::str::from_utf8(b).map_err(|_| self.corrupt("string is not UTF-8"))?;
        Ok(Obj::Str(Rc::from(s)))
    }

    fn pop(&mut self) -> anyhow::Result<Obj> {
        match self.stack.pop() {
            Some(Obj::Mark) => Err(self.corrupt("a value was expected but a MARK was found")),
            Some(o) => Ok(o),
            None => Err(self.corrupt("stack underflow")),
        }
    }

    fn pop_to_mark(&mut self) -> anyhow::Result<Vec<Obj>> {
        let mark = self.stack.iter().rposition(|o| matches!(o, Obj::Mark)).ok_or_else(|| self.corrupt("no MARK on the stack"))?;
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(items)
    }

    fn container_depth(&self, items: impl Iterator<Item = usize>) -> anyhow::Result<usize> {
        let d = items.max().unwrap_or(0) + 1;
        if d > MAX_DEPTH {
            return Err(self.corrupt(format!("objects nest deeper than {MAX_DEPTH} levels")));
        }
        Ok(d)
    }

    fn tuple(&self, items: Vec<Obj>) -> anyhow::Result<Obj> {
        let d = self.container_depth(items.iter().map(Obj::depth))?;
        Ok(Obj::Tuple(Rc::new(items), d))
    }

    fn push(&mut self, o: Obj) {
        self.stack.push(o);
    }

    fn memo_put(&mut self, id: u32) -> anyhow::Result<()> {
        let top = self.stack.last().ok_or_else(|| self.corrupt("memo write with an empty stack"))?.clone();
        self.memo.insert(id, top);
        Ok(())
    }

    fn memo_get(&mut self, id: u32) -> anyhow::Result<()> {
        let o = self.memo.get(&id).cloned().ok_or_else(|| self.corrupt(format!("memo entry {id} read before it was written")))?;
        self.push(o);
        Ok(())
    }

    fn global(&mut self, module: &str, name: &str) -> anyhow::Result<()> {
        match allowed_global(module, name) {
            Some(g) => {
                self.push(Obj::Global(g));
                Ok(())
            }
            None => {
                let shown = shown(&format!("{module}.{name}"));
                bail!(
                    "{}: the checkpoint's pickle references `{shown}`, which is not a tensor; refusing to load it \
                     (only state dicts of tensors are read; convert it to model.safetensors)",
                    self.source
                )
            }
        }
    }

    /// Adds items to the dict or list on top of the stack (copying it first if the memo shares it).
    fn extend_top(&mut self, items: Vec<Obj>, dict: bool) -> anyhow::Result<()> {
        let extra = items.iter().map(Obj::depth).max().unwrap_or(0) + 1;
        if extra > MAX_DEPTH {
            return Err(self.corrupt(format!("objects nest deeper than {MAX_DEPTH} levels")));
        }
        let shared_len = match self.stack.last() {
            Some(Obj::Dict(d, _)) if Rc::strong_count(d) > 1 => d.len(),
            Some(Obj::List(l, _)) if Rc::strong_count(l) > 1 => l.len(),
            _ => 0,
        };
        self.copied = self.copied.saturating_add(shared_len);
        if self.copied > self.data.len().saturating_mul(4).saturating_add(1 << 16) {
            return Err(self.corrupt("memoised containers are extended again and again (copy budget exhausted)"));
        }
        let top = self.stack.last_mut();
        match (top, dict) {
            (Some(Obj::Dict(d, depth)), true) => {
                if !items.len().is_multiple_of(2) {
                    return Err(self.corrupt("SETITEMS with an odd number of values"));
                }
                let d = Rc::make_mut(d);
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    d.push((k, v));
                }
                *depth = (*depth).max(extra);
                Ok(())
            }
            (Some(Obj::List(l, depth)), false) => {
                Rc::make_mut(l).extend(items);
                *depth = (*depth).max(extra);
                Ok(())
            }
            (Some(other), _) => {
                let k = other.kind();
                Err(self.corrupt(format!("cannot add items to a {k}")))
            }
            (None, _) => Err(self.corrupt("stack underflow")),
        }
    }

    fn run(mut self) -> anyhow::Result<Obj> {
        loop {
            let op = self.u8()?;
            let was_strings = self.recent_strings;
            self.recent_strings = 0;
            match op {
                0x80 => {
                    let v = self.u8()?;
                    if v > 5 {
                        return Err(self.corrupt(format!("unknown pickle protocol {v}")));
                    }
                }
                0x95 => {
                    self.u64()?; // FRAME: a size hint only
                    self.recent_strings = was_strings;
                }
                b'.' => {
                    let top = self.pop()?;
                    return Ok(top);
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(module, name)?;
                }
                0x93 => {
                    // STACK_GLOBAL: only straight from two literal strings.
                    if was_strings < 2 {
                        return Err(self.corrupt("STACK_GLOBAL whose module and name are not literal strings"));
                    }
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Obj::Str(m), Obj::Str(n)) => self.global(&m, &n)?,
                        _ => return Err(self.corrupt("STACK_GLOBAL whose module and name are not strings")),
                    }
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = self.string(n)?;
                    self.push(s);
                    self.recent_strings = was_strings + 1;
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let s = self.string(n)?;
                    self.push(s);
                    self.recent_strings = was_strings + 1;
                }
                0x8d => {
                    let n = usize::try_from(self.u64()?).unwrap_or(usize::MAX);
                    let s = self.string(n)?;
                    self.push(s);
                    self.recent_strings = was_strings + 1;
                }
                b'C' => {
                    let n = self.u8()? as usize;
                    self.take(n)?;
                    self.push(Obj::Bytes);
                }
                b'B' => {
                    let n = self.u32()? as usize;
                    self.take(n)?;
                    self.push(Obj::Bytes);
                }
                0x8e => {
                    let n = usize::try_from(self.u64()?).unwrap_or(usize::MAX);
                    self.take(n)?;
                    self.push(Obj::Bytes);
                }
                b'q' => {
                    let id = self.u8()? as u32;
                    self.memo_put(id)?;
                    self.recent_strings = was_strings;
                }
                b'r' => {
                    let id = self.u32()?;
                    self.memo_put(id)?;
                    self.recent_strings = was_strings;
                }
                0x94 => {
                    let id = u32::try_from(self.memo.len()).map_err(|_| self.corrupt("memo too large"))?;
                    self.memo_put(id)?;
                    self.recent_strings = was_strings;
                }
                b'h' => {
                    let id = self.u8()? as u32;
                    self.memo_get(id)?;
                    if matches!(self.stack.last(), Some(Obj::Str(_))) {
                        self.recent_strings = was_strings + 1;
                    }
                }
                b'j' => {
                    let id = self.u32()?;
                    self.memo_get(id)?;
                    if matches!(self.stack.last(), Some(Obj::Str(_))) {
                        self.recent_strings = was_strings + 1;
                    }
                }
                b'(' => self.push(Obj::Mark),
                b')' => self.push(Obj::Tuple(Rc::new(Vec::new()), 1)),
                b']' => self.push(Obj::List(Rc::new(Vec::new()), 1)),
                b'}' => self.push(Obj::Dict(Rc::new(Vec::new()), 1)),
                b'N' => self.push(Obj::None),
                0x88 => self.push(Obj::Bool),
                0x89 => self.push(Obj::Bool),
                b'K' => {
                    let v = self.u8()?;
                    self.push(Obj::Int(v as i64));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Obj::Int(v as i64));
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Obj::Int(v as i64));
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?;
                    if n > 8 {
                        return Err(self.corrupt(format!("integer of {n} bytes")));
                    }
                    let mut v: i64 = 0;
                    for (i, &byte) in b.iter().enumerate() {
                        v |= (byte as i64) << (8 * i);
                    }
                    if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n); // two's complement sign
                    }
                    self.push(Obj::Int(v));
                }
                b'G' => {
                    self.take(8)?;
                    self.push(Obj::Float);
                }
                b't' => {
                    let items = self.pop_to_mark()?;
                    let t = self.tuple(items)?;
                    self.push(t);
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err(self.corrupt("stack underflow"));
                    }
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    let t = self.tuple(items)?;
                    self.push(t);
                }
                b'l' => {
                    let items = self.pop_to_mark()?;
                    let d = self.container_depth(items.iter().map(Obj::depth))?;
                    self.push(Obj::List(Rc::new(items), d));
                }
                b'd' => {
                    let items = self.pop_to_mark()?;
                    self.push(Obj::Dict(Rc::new(Vec::new()), 1));
                    self.extend_top(items, true)?;
                }
                b'a' => {
                    let v = self.pop()?;
                    self.extend_top(vec![v], false)?;
                }
                b'e' => {
                    let items = self.pop_to_mark()?;
                    self.extend_top(items, false)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.extend_top(vec![k, v], true)?;
                }
                b'u' => {
                    let items = self.pop_to_mark()?;
                    self.extend_top(items, true)?;
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_to_mark()?;
                }
                b'2' => {
                    let top = self.stack.last().ok_or_else(|| self.corrupt("stack underflow"))?.clone();
                    self.push(top);
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let s = self.persistent_load(pid)?;
                    self.push(s);
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let r = self.call(callable, args)?;
                    self.push(r);
                }
                b'b' => {
                    // BUILD sets state (e.g. a state dict's `_metadata`), which a tensor reader ignores.
                    self.pop()?;
                    if self.stack.is_empty() {
                        return Err(self.corrupt("stack underflow"));
                    }
                }
                other => return Err(self.corrupt(format!("unsupported pickle opcode 0x{other:02x} (not used by state dicts)"))),
            }
        }
    }

    /// `('storage', torch.XStorage, key, location, numel)`.
    fn persistent_load(&self, pid: Obj) -> anyhow::Result<Obj> {
        let Obj::Tuple(items, _) = pid else { return Err(self.corrupt("persistent id is not a tuple")) };
        match items.as_slice() {
            [Obj::Str(tag), Obj::Global(Global::StorageClass(class, dtype)), Obj::Str(key), _location, Obj::Int(numel)]
                if &**tag == "storage" =>
            {
                let numel = usize::try_from(*numel).map_err(|_| self.corrupt(format!("storage of {numel} elements")))?;
                Ok(Obj::Storage(Rc::new(Storage { class: class.clone(), dtype: *dtype, key: key.to_string(), numel })))
            }
            _ => Err(self.corrupt("persistent id is not a ('storage', torch.<Type>Storage, key, location, size) record")),
        }
    }

    /// Evaluates the few calls a state dict makes, without running any code.
    fn call(&self, callable: Obj, args: Obj) -> anyhow::Result<Obj> {
        let Obj::Global(g) = callable else {
            let k = callable.kind();
            return Err(self.corrupt(format!("call of a {k}")));
        };
        let Obj::Tuple(args, _) = args else { return Err(self.corrupt("call arguments are not a tuple")) };
        match g {
            Global::OrderedDict => Ok(Obj::Dict(Rc::new(Vec::new()), 1)),
            Global::RebuildTensorV2 => self.rebuild_tensor(&args),
            Global::RebuildParameter => match args.first() {
                Some(t @ Obj::Tensor(..)) => Ok(t.clone()),
                _ => Err(self.corrupt("_rebuild_parameter without a tensor")),
            },
            Global::RebuildFromTypeV2 => match args.as_slice() {
                [Obj::Global(f), _new_type, Obj::Tuple(inner, d), ..] => self.call(Obj::Global(f.clone()), Obj::Tuple(inner.clone(), *d)),
                _ => Err(self.corrupt("malformed _rebuild_from_type_v2 call")),
            },
            Global::TensorType | Global::StorageClass(..) => Err(self.corrupt("a type is called; not a state dict record")),
        }
    }

    /// `_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`.
    fn rebuild_tensor(&self, args: &[Obj]) -> anyhow::Result<Obj> {
        let [Obj::Storage(storage), Obj::Int(offset), Obj::Tuple(size, _), Obj::Tuple(stride, _), ..] = args else {
            return Err(self.corrupt("malformed _rebuild_tensor_v2 arguments"));
        };
        if size.len() != stride.len() || size.len() > MAX_RANK {
            return Err(self.corrupt(format!("tensor of {} dimensions with {} strides (at most {MAX_RANK})", size.len(), stride.len())));
        }
        let dims = |v: &[Obj], what: &str| -> anyhow::Result<Vec<usize>> {
            v.iter()
                .map(|o| match o {
                    Obj::Int(i) => usize::try_from(*i).map_err(|_| self.corrupt(format!("negative tensor {what} {i}"))),
                    _ => Err(self.corrupt(format!("tensor {what} is not an integer"))),
                })
                .collect()
        };
        let offset = usize::try_from(*offset).map_err(|_| self.corrupt(format!("negative storage offset {offset}")))?;
        let view = View { offset, size: dims(size, "size")?, stride: dims(stride, "stride")? };
        Ok(Obj::Tensor(storage.clone(), Rc::new(view)))
    }
}

/// The (name, storage, view) records of the state dict `root`, or of `root["state_dict"]`.
fn state_dict(root: Obj, source: &str) -> anyhow::Result<Vec<(String, Rc<Storage>, View)>> {
    let Obj::Dict(mut entries, _) = root else {
        bail!(
            "{source}: the checkpoint holds a {} rather than a state dict of tensors; save `model.state_dict()` (or model.safetensors)",
            root.kind()
        );
    };
    let has_tensor = entries.iter().any(|(_, v)| matches!(v, Obj::Tensor(..)));
    if !has_tensor {
        let nested = entries.iter().find(|(k, _)| matches!(k, Obj::Str(s) if &**s == "state_dict")).map(|(_, v)| v.clone());
        match nested {
            Some(Obj::Dict(inner, _)) => entries = inner,
            _ => bail!("{source}: the checkpoint holds no tensors"),
        }
    }
    let mut out = Vec::new();
    for (k, v) in entries.iter() {
        match (k, v) {
            (Obj::Str(name), Obj::Tensor(s, view)) => out.push((name.to_string(), s.clone(), (**view).clone())),
            (Obj::Str(_), _) => {} // non-tensor entries (e.g. `_metadata`, counters) carry nothing to load
            _ => bail!("{source}: the state dict has a key of type {}, not a tensor name", k.kind()),
        }
    }
    if out.is_empty() {
        bail!("{source}: the checkpoint holds no tensors");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::f16_to_f32;

    #[test]
    fn half_floats_convert_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
    }
}
