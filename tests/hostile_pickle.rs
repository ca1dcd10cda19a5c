//! Hostile PyTorch `.bin` checkpoints: each is refused with one line naming the file and the
//! problem, nothing in the pickle is ever executed, and well-formed state dicts still load.

use candle_core::Device;
use maskner::mlm::weights::Weights;
use std::io::Write;

/// A pickle written opcode by opcode (protocol 2 unless `proto` says otherwise).
struct Pickle(Vec<u8>);

impl Pickle {
    fn new(proto: u8) -> Self {
        Self(vec![0x80, proto])
    }
    fn op(mut self, raw: &[u8]) -> Self {
        self.0.extend_from_slice(raw);
        self
    }
    fn s(self, text: &str) -> Self {
        let mut raw = vec![b'X'];
        raw.extend_from_slice(&(text.len() as u32).to_le_bytes());
        raw.extend_from_slice(text.as_bytes());
        self.op(&raw)
    }
    fn short_s(self, text: &str) -> Self {
        let mut raw = vec![0x8c, text.len() as u8];
        raw.extend_from_slice(text.as_bytes());
        self.op(&raw)
    }
    fn int(self, v: u8) -> Self {
        self.op(&[b'K', v])
    }
    fn global(self, module: &str, name: &str) -> Self {
        self.op(format!("c{module}\n{name}\n").as_bytes())
    }
    fn ints(mut self, v: &[u8]) -> Self {
        self = self.op(b"(");
        for &i in v {
            self = self.int(i);
        }
        self.op(b"t")
    }
    /// `_rebuild_tensor_v2(storage(class, key, numel), offset, size, stride, False, OrderedDict())`.
    fn tensor(self, class: &str, key: &str, numel: u8, offset: u8, size: &[u8], stride: &[u8]) -> Self {
        self.global("torch._utils", "_rebuild_tensor_v2")
            .op(b"((")
            .s("storage")
            .global("torch", class)
            .s(key)
            .s("cpu")
            .int(numel)
            .op(b"tQ")
            .int(offset)
            .ints(size)
            .ints(stride)
            .op(b"\x89")
            .global("collections", "OrderedDict")
            .op(b")RtR")
    }
    fn done(self) -> Vec<u8> {
        self.op(b".").0
    }
}

/// One tensor record: (name, storage class, key, numel, offset, size, stride).
type Record<'a> = (&'a str, &'a str, &'a str, u8, u8, &'a [u8], &'a [u8]);

/// `OrderedDict` of the records.
fn state_dict(tensors: &[Record]) -> Vec<u8> {
    let mut p = Pickle::new(2).global("collections", "OrderedDict").op(b")Rq\x00(");
    for (name, class, key, numel, offset, size, stride) in tensors {
        p = p.s(name).tensor(class, key, *numel, *offset, size, stride);
    }
    p.op(b"u").done()
}

fn archive(pickle: &[u8], storages: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    z.start_file("my_model/data.pkl", opts).unwrap();
    z.write_all(pickle).unwrap();
    for (key, data) in storages {
        z.start_file(format!("my_model/data/{key}"), opts).unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap().into_inner()
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn load(bytes: &[u8]) -> anyhow::Result<Weights> {
    Weights::from_pytorch_bin_bytes(bytes, "evil.bin", &Device::Cpu)
}

fn refusal(bytes: &[u8]) -> String {
    let msg = match load(bytes) {
        Ok(_) => panic!("the checkpoint was loaded"),
        Err(e) => format!("{e:#}"),
    };
    assert!(msg.starts_with("evil.bin: "), "error does not name the file: {msg}");
    assert!(!msg.contains('\n'), "error is not one line: {msg}");
    msg
}

#[test]
fn os_system_is_named_and_never_run() {
    let marker = std::env::temp_dir().join(format!("maskner-hostile-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let pickle = Pickle::new(2).global("os", "system").s(&format!("touch {}", marker.display())).op(b"\x85R").done();
    let msg = refusal(&archive(&pickle, &[]));
    assert_eq!(
        msg,
        "evil.bin: the checkpoint's pickle references `os.system`, which is not a tensor; refusing to load it \
         (only state dicts of tensors are read; convert it to model.safetensors)"
    );
    assert!(!marker.exists(), "the pickle's command ran");
}

#[test]
fn other_code_globals_are_named() {
    for (module, name) in [("builtins", "eval"), ("subprocess", "Popen"), ("posix", "system"), ("torch", "load")] {
        let pickle = Pickle::new(2).global(module, name).op(b")R").done();
        let msg = refusal(&archive(&pickle, &[]));
        assert!(msg.contains(&format!("references `{module}.{name}`, which is not a tensor")), "{msg}");
    }
    // The same through STACK_GLOBAL (protocol 4).
    let pickle = Pickle::new(4).short_s("builtins").short_s("eval").op(b"\x93").short_s("1").op(b"\x85R").done();
    assert!(refusal(&archive(&pickle, &[])).contains("references `builtins.eval`"));
}

#[test]
fn stack_global_from_computed_strings_is_refused() {
    // Other opcodes (push None, pop it) between the module string and STACK_GLOBAL.
    let pickle = Pickle::new(4).short_s("collections").op(b"N0").short_s("OrderedDict").op(b"\x93)R.").0;
    let msg = refusal(&archive(&pickle, &[]));
    assert!(msg.contains("STACK_GLOBAL whose module and name are not literal strings"), "{msg}");
}

#[test]
fn huge_string_length_is_refused_without_allocating() {
    let pickle = Pickle::new(2).op(b"X\xff\xff\xff\xffab").done();
    let msg = refusal(&archive(&pickle, &[]));
    assert_eq!(msg, "evil.bin: corrupt checkpoint pickle at byte 7: a length of 4294967295 bytes runs past the end (3 left)");
}

#[test]
fn view_past_its_storage_is_refused() {
    let pickle = state_dict(&[("w", "FloatStorage", "0", 6, 4, &[2, 3], &[3, 1])]);
    let msg = refusal(&archive(&pickle, &[("0", f32s(&[1.0; 6]))]));
    assert_eq!(
        msg,
        "evil.bin: tensor w: view (offset 4, shape [2, 3], stride [3, 1]) reaches element 9 of a storage of 6; the file is corrupt"
    );
}

#[test]
fn storage_record_larger_than_its_entry_is_refused() {
    let pickle = state_dict(&[("w", "FloatStorage", "0", 200, 0, &[200], &[1])]);
    let msg = refusal(&archive(&pickle, &[("0", f32s(&[1.0; 6]))]));
    assert_eq!(msg, "evil.bin: tensor w: storage entry my_model/data/0 holds 24 bytes but its record says 800; the file is corrupt");
}

#[test]
fn records_disagreeing_on_a_shared_storage_are_refused() {
    // Found by fuzzing: the second record claims more of storage "0" than the first (which fits).
    let pickle = state_dict(&[("a", "FloatStorage", "0", 2, 0, &[2], &[1]), ("b", "FloatStorage", "0", 9, 0, &[9], &[1])]);
    let msg = refusal(&archive(&pickle, &[("0", f32s(&[1.0, 2.0]))]));
    assert_eq!(msg, "evil.bin: tensor b: storage entry my_model/data/0 holds 8 bytes but its record says 36; the file is corrupt");
}

#[test]
fn integer_weight_is_refused_naming_tensor_and_dtype() {
    let pickle = state_dict(&[("bert.pooler.dense.weight", "IntStorage", "0", 2, 0, &[2], &[1])]);
    let msg = refusal(&archive(&pickle, &[("0", vec![0; 8])]));
    assert!(
        msg.starts_with(
            "evil.bin: tensor bert.pooler.dense.weight has dtype int32 (IntStorage), but only float32, float16 and bfloat16 weights are read"
        ),
        "{msg}"
    );
}

#[test]
fn deep_nesting_is_refused() {
    let pickle = Pickle::new(2).op(b")").op(&[0x85; 100]).done();
    let msg = refusal(&archive(&pickle, &[]));
    assert!(msg.contains("objects nest deeper than 32 levels"), "{msg}");
}

#[test]
fn unsupported_opcode_is_named() {
    let pickle = Pickle::new(2).op(b"i").done(); // INST: calls a class by name
    assert!(refusal(&archive(&pickle, &[])).contains("unsupported pickle opcode 0x69"));
}

#[test]
fn legacy_and_truncated_files_are_refused() {
    let dir = std::env::temp_dir().join(format!("maskner-hostile-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("pytorch_model.bin");

    // Legacy torch.save(_use_new_zipfile_serialization=False): a bare pickle stream.
    std::fs::write(&bin, b"\x80\x02\x8a\x0alp\xfc\x9cF\xf9 j\xa8P\x19.").unwrap();
    let msg = format!("{:#}", Weights::from_dir(&dir, &Device::Cpu).err().expect("refused"));
    assert!(msg.starts_with(&format!("{}: legacy (non-zip) PyTorch format, which cannot be read safely", bin.display())), "{msg}");

    // A good archive cut in half.
    let good = archive(&state_dict(&[("w", "FloatStorage", "0", 2, 0, &[2], &[1])]), &[("0", f32s(&[1.0, 2.0]))]);
    std::fs::write(&bin, &good[..good.len() / 2]).unwrap();
    let msg = format!("{:#}", Weights::from_dir(&dir, &Device::Cpu).err().expect("refused"));
    assert!(msg.starts_with(&format!("{}: not a complete zip archive (", bin.display())), "{msg}");
    assert!(msg.ends_with("the file is truncated or corrupt, download it again"), "{msg}");

    // Too short to hold a zip signature.
    std::fs::write(&bin, b"PK").unwrap();
    let msg = format!("{:#}", Weights::from_dir(&dir, &Device::Cpu).err().expect("refused"));
    assert!(msg.contains("only 2 bytes, too short to be a PyTorch checkpoint"), "{msg}");

    // The whole archive through the file path loads.
    std::fs::write(&bin, &good).unwrap();
    let w = Weights::from_dir(&dir, &Device::Cpu).unwrap();
    assert_eq!(w.get("w", &[2]).unwrap().to_vec1::<f32>().unwrap(), vec![1.0, 2.0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn zip_without_data_pkl_is_refused() {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file("readme.txt", zip::write::SimpleFileOptions::default()).unwrap();
    z.write_all(b"hello").unwrap();
    let bytes = z.finish().unwrap().into_inner();
    assert!(refusal(&bytes).contains("zip archive without a <dir>/data.pkl record"));
}

#[test]
fn well_formed_state_dicts_load() {
    // A row-major view and its transpose over one storage, plus a half-precision tensor at an offset.
    let pickle = state_dict(&[
        ("a", "FloatStorage", "0", 6, 0, &[2, 3], &[3, 1]),
        ("b", "FloatStorage", "0", 6, 0, &[3, 2], &[1, 3]),
        ("c", "HalfStorage", "1", 3, 1, &[2], &[1]),
        ("bert.embeddings.position_ids", "LongStorage", "2", 1, 0, &[1], &[1]),
    ]);
    let half: Vec<u8> = [0x3c00u16, 0xc000, 0x3800].iter().flat_map(|h| h.to_le_bytes()).collect();
    let bytes = archive(&pickle, &[("0", f32s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])), ("1", half), ("2", vec![0; 8])]);
    let w = load(&bytes).unwrap();
    assert_eq!(w.get("a", &[2, 3]).unwrap().to_vec2::<f32>().unwrap(), vec![vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]]);
    assert_eq!(w.get("b", &[3, 2]).unwrap().to_vec2::<f32>().unwrap(), vec![vec![1.0, 4.0], vec![2.0, 5.0], vec![3.0, 6.0]]);
    assert_eq!(w.get("c", &[2]).unwrap().to_vec1::<f32>().unwrap(), vec![-2.0, 0.5]);
    assert!(!w.contains("bert.embeddings.position_ids"), "integer buffers are skipped");

    // The same tensors wrapped as {"epoch": 1, "state_dict": {...}}.
    let pickle = Pickle::new(2)
        .op(b"}(")
        .s("epoch")
        .int(1)
        .s("state_dict")
        .op(b"}(")
        .s("w")
        .tensor("FloatStorage", "0", 2, 0, &[2], &[1])
        .op(b"uu")
        .done();
    let w = load(&archive(&pickle, &[("0", f32s(&[7.0, 8.0]))])).unwrap();
    assert_eq!(w.get("w", &[2]).unwrap().to_vec1::<f32>().unwrap(), vec![7.0, 8.0]);
}
