//! The descriptor -> entity map: every vocabulary token with its entity signature.
//!
//! On disk a map is a directory: `exact.fst` (token -> line), `lower.fst` (lower-cased token ->
//! union signature), `tables.bin` (bincode: tokens in vocabulary order, their signature ids,
//! the distinct signatures) and `meta.json`. The two `fst` maps are memory-mapped at load; the
//! tables are small (one entry per vocabulary token) and decoded into memory. Build once with
//! [`EntityMap::from_entries`], save, then open read-only many times, like `fst`'s
//! `MapBuilder`/`Map` split.
//!
//! Lookup follows ALGORITHM.md section 4 (see [`EntityMap::lookup`]).

use super::signature::Signature;
use super::taxonomy::{Label, OTHER, Taxonomy, UNTAGGED_ENTITY};
use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Version of the on-disk layout; bump when it changes.
pub const FORMAT_VERSION: u32 = 1;

/// What a map was built from, stored as `meta.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MapMeta {
    pub format: u32,
    /// How the map was made: `import` (a labels.txt) or the build rule (`knn`, `v2`, `v1`).
    pub source: String,
    /// The model (hub id or directory) whose vocabulary and embeddings were used, if any.
    pub model: Option<String>,
    pub vocab_size: usize,
    /// FNV-1a of the vocabulary tokens in order, hex.
    pub vocab_hash: String,
    /// FNV-1a of the seed terms and labels, hex (built maps only).
    pub seeds_hash: Option<String>,
    pub taxonomy: String,
    /// Build statistics (neighbour search, recall on a sample, timings), free-form.
    #[serde(default)]
    pub stats: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Tables {
    tokens: Vec<String>,
    token_sig: Vec<u32>,
    signatures: Vec<Signature>,
}

/// Bytes of an `fst` map: memory-mapped from disk or built in memory.
enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// Where a looked-up signature came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupSource {
    /// The token is all digits: `MEASURE 1`, whatever the map says.
    Digits,
    Exact,
    /// The lower-cased token is itself an entry.
    Lowercase,
    /// The union over all case variants.
    CaseUnion,
    /// Not in the map.
    Unknown,
}

/// A loaded map.
pub struct EntityMap {
    meta: MapMeta,
    exact: fst::Map<Bytes>,
    lower: fst::Map<Bytes>,
    tables: Tables,
    /// union signatures, indexed by the values of `lower` (kept apart from per-token ones)
    unions: Vec<Signature>,
}

impl EntityMap {
    /// Builds a map from `(token, signature)` in vocabulary order. Every label must be in the
    /// taxonomy.
    pub fn from_entries(entries: Vec<(String, Signature)>, mut meta: MapMeta, taxonomy: &Taxonomy) -> anyhow::Result<Self> {
        let mut sig_ids: HashMap<Signature, u32> = HashMap::new();
        let mut signatures = Vec::new();
        let mut tokens = Vec::with_capacity(entries.len());
        let mut token_sig = Vec::with_capacity(entries.len());
        for (tok, sig) in entries {
            taxonomy.check(&sig).map_err(|e| anyhow!("token {tok:?}: {e}"))?;
            let id = *sig_ids.entry(sig.clone()).or_insert_with(|| {
                signatures.push(sig);
                (signatures.len() - 1) as u32
            });
            tokens.push(tok);
            token_sig.push(id);
        }
        meta.vocab_size = tokens.len();
        meta.vocab_hash = vocab_hash(&tokens);
        meta.format = FORMAT_VERSION;
        let tables = Tables { tokens, token_sig, signatures };
        let (exact, lower, unions) = index(&tables)?;
        Ok(Self { meta, exact, lower, tables, unions })
    }

    /// Reads a reference-format `labels.txt`: one line per vocabulary token, exactly three
    /// whitespace-separated fields `LABEL1/LABEL2/... COUNT1/COUNT2/... token`.
    pub fn from_labels_txt(path: &Path, taxonomy: &Taxonomy) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let text = String::from_utf8(bytes)
            .map_err(|e| anyhow!("{}: not valid UTF-8 (at byte {})", path.display(), e.utf8_error().valid_up_to()))?;
        Self::parse_labels_txt(&text, &path.display().to_string(), taxonomy)
    }

    /// [`from_labels_txt`](Self::from_labels_txt) on text in memory; `name` names it in errors
    /// and in the map's provenance (the fuzz target parses without touching files).
    pub fn parse_labels_txt(text: &str, name: &str, taxonomy: &Taxonomy) -> anyhow::Result<Self> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() != 3 {
                bail!("{name} line {}: expected 3 fields `LABELS COUNTS token`, found {}", i + 1, fields.len());
            }
            let sig = Signature::from_fields(fields[0], fields[1]).map_err(|e| anyhow!("{name} line {}: {e}", i + 1))?;
            taxonomy.check(&sig).map_err(|e| anyhow!("{name} line {}: {e}", i + 1))?;
            entries.push((fields[2].to_string(), sig));
        }
        if entries.is_empty() {
            bail!("{name}: empty labels file");
        }
        let meta = MapMeta {
            format: FORMAT_VERSION,
            source: "import".into(),
            model: None,
            vocab_size: 0,
            vocab_hash: String::new(),
            seeds_hash: None,
            taxonomy: taxonomy.name().to_string(),
            stats: serde_json::json!({ "imported_from": name }),
        };
        Self::from_entries(entries, meta, taxonomy)
    }

    /// Writes the reference's `labels.txt` format, one line per token in vocabulary order.
    pub fn write_labels_txt(&self, out: &mut impl Write) -> std::io::Result<()> {
        for (tok, &sid) in self.tables.tokens.iter().zip(&self.tables.token_sig) {
            let sig = &self.tables.signatures[sid as usize];
            writeln!(out, "{} {} {}", sig.labels_field(), sig.counts_field(), tok)?;
        }
        Ok(())
    }

    /// Saves into `dir` (created; replaced atomically if it exists).
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let parent = dir.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).with_context(|| format!("{}: cannot create", parent.display()))?;
        let tmp = parent.join(format!(".{}.tmp-{}", dir.file_name().and_then(|n| n.to_str()).unwrap_or("map"), std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).with_context(|| format!("{}: cannot create", tmp.display()))?;
        let write = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
            std::fs::write(tmp.join(name), bytes).with_context(|| format!("{}: cannot write", tmp.join(name).display()))
        };
        write("exact.fst", self.exact.as_fst().as_bytes())?;
        write("lower.fst", self.lower.as_fst().as_bytes())?;
        let stored = (&self.tables, &self.unions);
        write("tables.bin", &bincode::serde::encode_to_vec(stored, bincode::config::standard())?)?;
        write("meta.json", serde_json::to_string_pretty(&self.meta)?.as_bytes())?;
        // Replace an existing map by moving it aside first; if another process puts a map in
        // place at the same moment (two `tag` runs building the same cached map), keep theirs.
        let trash = parent.join(format!(".{}.old-{}", dir.file_name().and_then(|n| n.to_str()).unwrap_or("map"), std::process::id()));
        if dir.exists() {
            let _ = std::fs::rename(dir, &trash);
        }
        let moved = std::fs::rename(&tmp, dir);
        let _ = std::fs::remove_dir_all(&trash);
        if let Err(e) = moved {
            let _ = std::fs::remove_dir_all(&tmp);
            if !dir.join("meta.json").is_file() {
                return Err(anyhow!("{}: cannot move into place ({e})", dir.display()));
            }
        }
        Ok(())
    }

    /// Opens a saved map; the fst files are memory-mapped.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let meta_path = dir.join("meta.json");
        let meta_text =
            std::fs::read_to_string(&meta_path).with_context(|| format!("{}: not a maskner map (cannot read meta.json)", dir.display()))?;
        let meta: MapMeta = serde_json::from_str(&meta_text).map_err(|e| anyhow!("{}: invalid map metadata ({e})", meta_path.display()))?;
        if meta.format != FORMAT_VERSION {
            bail!(
                "{}: map format {} but this maskner reads format {FORMAT_VERSION}; rebuild it with `maskner build-map`",
                dir.display(),
                meta.format
            );
        }
        let mmap = |name: &str| -> anyhow::Result<fst::Map<Bytes>> {
            let p = dir.join(name);
            let f = std::fs::File::open(&p).with_context(|| format!("{}: cannot open", p.display()))?;
            // SAFETY: map files are written once into a fresh directory and never modified in
            // place (save() replaces the directory atomically).
            let m = unsafe { memmap2::Mmap::map(&f) }.with_context(|| format!("{}: cannot map", p.display()))?;
            fst::Map::new(Bytes::Mapped(m)).map_err(|e| anyhow!("{}: corrupt fst ({e})", p.display()))
        };
        let exact = mmap("exact.fst")?;
        let lower = mmap("lower.fst")?;
        let tp = dir.join("tables.bin");
        let bytes = std::fs::read(&tp).with_context(|| format!("{}: cannot read", tp.display()))?;
        let ((tables, unions), _): ((Tables, Vec<Signature>), usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard())
                .map_err(|e| anyhow!("{}: corrupt map tables ({e})", tp.display()))?;
        if tables.tokens.len() != meta.vocab_size || tables.token_sig.iter().any(|&s| s as usize >= tables.signatures.len()) {
            bail!("{}: map tables do not match meta.json; rebuild the map", dir.display());
        }
        if vocab_hash(&tables.tokens) != meta.vocab_hash || !indexes_match(&exact, &lower, &tables, unions.len()) {
            bail!("{}: map files do not belong together (tables.bin, exact.fst, lower.fst, meta.json); rebuild the map", dir.display());
        }
        Ok(Self { meta, exact, lower, tables, unions })
    }

    pub fn meta(&self) -> &MapMeta {
        &self.meta
    }

    pub fn len(&self) -> usize {
        self.tables.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tables.tokens.is_empty()
    }

    /// Tokens in vocabulary order.
    pub fn tokens(&self) -> &[String] {
        &self.tables.tokens
    }

    /// The signature stored for the `i`-th token.
    pub fn signature_at(&self, i: usize) -> Option<&Signature> {
        self.tables.token_sig.get(i).map(|&s| &self.tables.signatures[s as usize])
    }

    /// Checks that the map was made for this vocabulary (same tokens in the same order);
    /// `model` names the model the vocabulary belongs to, for the message.
    pub fn check_vocab(&self, vocab: &[String], model: &str) -> anyhow::Result<()> {
        if vocab.len() != self.len() || vocab_hash(vocab) != self.meta.vocab_hash {
            let made_for = match &self.meta.model {
                Some(m) => format!("model {m}'s vocabulary"),
                None => "a vocabulary".to_string(),
            };
            bail!(
                "vocab mismatch: the map was made for {made_for} of {} tokens (hash {}), but model {model} has {} tokens (hash {}); \
                 a map only fits the vocabulary it was built for: build one with `maskner build-map --model {model}`",
                self.len(),
                self.meta.vocab_hash,
                vocab.len(),
                vocab_hash(vocab)
            );
        }
        Ok(())
    }

    /// The entity signature of a descriptor token (ALGORITHM.md section 4):
    /// an all-digit token is `MEASURE 1`; else the exact entry; else the lower-cased token's
    /// entry; else the union over case variants; else `UNTAGGED_ENTITY 1`. A result whose
    /// labels are just `OTHER` also becomes `UNTAGGED_ENTITY 1`.
    pub fn lookup(&self, token: &str) -> (Signature, LookupSource) {
        let lower = token.to_lowercase();
        if !lower.is_empty() && lower.chars().all(char::is_numeric) {
            return (Signature::single(Label::new("MEASURE"), 1), LookupSource::Digits);
        }
        let found = if let Some(i) = self.exact.get(token) {
            Some((self.signature_at(i as usize), LookupSource::Exact))
        } else if let Some(i) = self.exact.get(&lower) {
            Some((self.signature_at(i as usize), LookupSource::Lowercase))
        } else {
            self.lower.get(&lower).map(|u| (self.unions.get(u as usize), LookupSource::CaseUnion))
        };
        match found {
            Some((Some(sig), src)) if sig.labels_field() != OTHER => (sig.clone(), src),
            Some((Some(_), src)) => (Signature::single(Label::new(UNTAGGED_ENTITY), 1), src),
            _ => (Signature::single(Label::new(UNTAGGED_ENTITY), 1), LookupSource::Unknown),
        }
    }
}

/// Every exact key names its own token and every lower-case key a case-union signature, so
/// files mixed up from two maps are refused at load instead of answering wrong lookups.
fn indexes_match(exact: &fst::Map<Bytes>, lower: &fst::Map<Bytes>, t: &Tables, unions: usize) -> bool {
    use fst::Streamer;
    let mut s = exact.stream();
    while let Some((k, v)) = s.next() {
        if t.tokens.get(v as usize).is_none_or(|tok| tok.as_bytes() != k) {
            return false;
        }
    }
    let lowered: std::collections::HashSet<String> = t.tokens.iter().map(|tok| tok.to_lowercase()).collect();
    if lower.len() != lowered.len() {
        return false;
    }
    let mut s = lower.stream();
    while let Some((k, v)) = s.next() {
        if v as usize >= unions || std::str::from_utf8(k).map_or(true, |k| !lowered.contains(k)) {
            return false;
        }
    }
    true
}

/// Builds the exact and lower-case indexes. Exact: the last line of a token wins (the
/// reference fills a dict line by line). Lower: counts of the same label summed over all case
/// variants, sorted by count descending, ties in first-appearance order.
fn index(t: &Tables) -> anyhow::Result<(fst::Map<Bytes>, fst::Map<Bytes>, Vec<Signature>)> {
    let mut exact: Vec<(&str, u64)> = Vec::with_capacity(t.tokens.len());
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, tok) in t.tokens.iter().enumerate() {
        last.insert(tok.as_str(), i);
    }
    for (tok, i) in &last {
        exact.push((tok, *i as u64));
    }
    exact.sort_unstable();
    let exact = fst::Map::from_iter(exact).map_err(|e| anyhow!("building token index: {e}"))?;

    let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for (i, tok) in t.tokens.iter().enumerate() {
        let k = tok.to_lowercase();
        let e = groups.entry(k.clone()).or_default();
        if e.is_empty() {
            order.push(k);
        }
        e.push(i);
    }
    let mut unions = Vec::new();
    let mut union_ids: HashMap<Signature, u64> = HashMap::new();
    let mut lower: Vec<(String, u64)> = Vec::with_capacity(order.len());
    for k in order {
        let mut counts: Vec<(Label, u64)> = Vec::new();
        for &i in &groups[&k] {
            let sig = &t.signatures[t.token_sig[i] as usize];
            for (l, c) in sig.iter() {
                match counts.iter_mut().find(|(x, _)| x == l) {
                    Some((_, n)) => *n += c as u64,
                    None => counts.push((l.clone(), c as u64)),
                }
            }
        }
        counts.sort_by_key(|x| std::cmp::Reverse(x.1)); // stable: ties keep first appearance
        let sig = Signature::new(counts.into_iter().map(|(l, c)| (l, c.min(u32::MAX as u64) as u32)).collect())
            .map_err(|e| anyhow!("case union of {k:?}: {e}"))?;
        let id = *union_ids.entry(sig.clone()).or_insert_with(|| {
            unions.push(sig);
            (unions.len() - 1) as u64
        });
        lower.push((k, id));
    }
    lower.sort_unstable();
    let lower = fst::Map::from_iter(lower).map_err(|e| anyhow!("building lower-case index: {e}"))?;
    Ok((
        fst::Map::new(Bytes::Owned(exact.into_fst().into_inner())).map_err(|e| anyhow!("{e}"))?,
        fst::Map::new(Bytes::Owned(lower.into_fst().into_inner())).map_err(|e| anyhow!("{e}"))?,
        unions,
    ))
}

/// FNV-1a of the tokens in order, as hex.
pub fn vocab_hash(tokens: &[String]) -> String {
    let mut h = super::seeds::Fnv::new();
    for t in tokens {
        h.write(t.as_bytes());
        h.write(b"\n");
    }
    format!("{:016x}", h.finish())
}

/// Default directory for cached maps: `MASKNER_CACHE`, else `$XDG_CACHE_HOME/maskner`, else
/// `~/.cache/maskner`; maps live under `maps/`.
pub fn cache_root() -> PathBuf {
    if let Some(d) = std::env::var_os("MASKNER_CACHE") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Path::new(&d).join("maskner");
    }
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/maskner")).unwrap_or_else(|| PathBuf::from(".maskner-cache"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> EntityMap {
        let tax = Taxonomy::jan2022();
        let rows = [
            ("DISEASE/GENE 38/2", "mesothelioma"),
            ("GENE 5", "EGFR"),
            ("LAB_TEST_COMPONENT 3", "eGFR"),
            ("OTHER 0", "the"),
            ("PERSON/LOCATION 2/1", "Jordan"),
            ("LOCATION 4", "jordan"),
            ("ORGANIZATION 7", "Apple"),
        ];
        let entries = rows.iter().map(|(s, t)| (t.to_string(), s.parse().unwrap())).collect();
        let meta = MapMeta {
            format: FORMAT_VERSION,
            source: "test".into(),
            model: None,
            vocab_size: 0,
            vocab_hash: String::new(),
            seeds_hash: None,
            taxonomy: "jan2022".into(),
            stats: serde_json::Value::Null,
        };
        EntityMap::from_entries(entries, meta, &tax).unwrap()
    }

    fn show(m: &EntityMap, t: &str) -> (String, LookupSource) {
        let (s, src) = m.lookup(t);
        (s.to_string(), src)
    }

    #[test]
    fn lookup_rules_of_section_4() {
        let m = tiny();
        assert_eq!(show(&m, "EGFR"), ("GENE 5".into(), LookupSource::Exact));
        assert_eq!(show(&m, "eGFR"), ("LAB_TEST_COMPONENT 3".into(), LookupSource::Exact));
        // no exact, lower-case key present
        assert_eq!(show(&m, "JORDAN"), ("LOCATION 4".into(), LookupSource::Lowercase));
        // no exact, no lower-case key: union of case variants, summed and re-sorted
        assert_eq!(show(&m, "Egfr"), ("GENE/LAB_TEST_COMPONENT 5/3".into(), LookupSource::CaseUnion));
        assert_eq!(show(&m, "APPLE"), ("ORGANIZATION 7".into(), LookupSource::CaseUnion));
        assert_eq!(show(&m, "1984"), ("MEASURE 1".into(), LookupSource::Digits));
        assert_eq!(show(&m, "the"), ("UNTAGGED_ENTITY 1".into(), LookupSource::Exact));
        assert_eq!(show(&m, "zebra"), ("UNTAGGED_ENTITY 1".into(), LookupSource::Unknown));
    }

    #[test]
    fn union_ties_keep_first_appearance() {
        let m = tiny();
        // Jordan (PERSON 2, LOCATION 1) + jordan (LOCATION 4): LOCATION 5, PERSON 2
        let (s, _) = m.lookup("jORDAN");
        assert_eq!(s.to_string(), "LOCATION 4"); // lower-case key exists: rule 2 wins over union
        let u = &m.unions[m.lower.get("jordan").unwrap() as usize];
        assert_eq!(u.to_string(), "LOCATION/PERSON 5/2");
    }

    #[test]
    fn save_open_roundtrip_and_export() {
        let m = tiny();
        let dir = std::env::temp_dir().join(format!("maskner-map-{}", std::process::id()));
        m.save(&dir).unwrap();
        let o = EntityMap::open(&dir).unwrap();
        assert_eq!(o.meta(), m.meta());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        m.write_labels_txt(&mut a).unwrap();
        o.write_labels_txt(&mut b).unwrap();
        assert_eq!(a, b);
        assert_eq!(String::from_utf8(a).unwrap().lines().next().unwrap(), "DISEASE/GENE 38/2 mesothelioma");
        assert_eq!(show(&o, "Egfr").0, "GENE/LAB_TEST_COMPONENT 5/3");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
