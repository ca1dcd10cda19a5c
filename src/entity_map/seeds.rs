//! Seed term lists: the human labelling that map building spreads across a vocabulary.
//!
//! One file per label, `<LABEL>.txt`, with a header of `# key: value` lines (`label`, `source`
//! and `licence` required, `group` checked when present) and then one term per line. Files in
//! the seed directory serve every taxonomy; files under its `feb2022/` subdirectory hold labels
//! only the Feb-2022 taxonomy has and are read only with it. Labels the Feb-2022 taxonomy renamed
//! (`DEVICE_ADJECTIVE` -> `PRODUCT_ADJECTIVE`) are renamed on load.

use super::taxonomy::{Label, Taxonomy, UNTAGGED_ENTITY};
use anyhow::{Context, anyhow, bail};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/seeds_embedded.rs"));
}

/// Labels renamed between taxonomy versions: (old, new).
const RENAMES: &[(&str, &str)] = &[("DEVICE_ADJECTIVE", "PRODUCT_ADJECTIVE")];

/// All seed terms with their labels.
#[derive(Debug, Clone, Default)]
pub struct SeedSet {
    /// Terms as written (cased), each with its labels in file order.
    exact: BTreeMap<String, Vec<Label>>,
    /// Lower-cased term -> union of the labels of its case variants (the reference's bootstrap
    /// dictionary, which lower-cases every term).
    lower: HashMap<String, Vec<Label>>,
    /// Files read, in order, for provenance and hashing.
    files: Vec<PathBuf>,
}

impl SeedSet {
    /// Reads every `*.txt` of `dir` (and `dir/feb2022/` when the taxonomy has those labels),
    /// checking each label against `taxonomy`.
    pub fn load(dir: &Path, taxonomy: &Taxonomy) -> anyhow::Result<Self> {
        let mut files = list_txt(dir)?;
        let extra = dir.join("feb2022");
        if extra.is_dir() && taxonomy.contains("LEGAL") {
            files.extend(list_txt(&extra)?);
        }
        if files.is_empty() {
            bail!("{}: no seed files (*.txt)", dir.display());
        }
        let mut set = SeedSet::default();
        for f in &files {
            let bytes = std::fs::read(f).with_context(|| format!("{}: cannot read", f.display()))?;
            let text = String::from_utf8(bytes)
                .map_err(|e| anyhow!("{}: not valid UTF-8 (at byte {})", f.display(), e.utf8_error().valid_up_to()))?;
            let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            set.read_text(&f.display().to_string(), stem, &text, taxonomy)?;
        }
        set.files = files;
        Ok(set)
    }

    /// The seed lists compiled into the binary (the repository's `descriptors/seeds`).
    pub fn builtin(taxonomy: &Taxonomy) -> anyhow::Result<Self> {
        let mut set = SeedSet::default();
        for (rel, text) in embedded::SEED_FILES {
            if rel.starts_with("feb2022/") && !taxonomy.contains("LEGAL") {
                continue;
            }
            let stem = rel.rsplit('/').next().unwrap_or(rel).trim_end_matches(".txt");
            set.read_text(&format!("descriptors/seeds/{rel}"), stem, text, taxonomy)?;
            set.files.push(PathBuf::from(format!("descriptors/seeds/{rel}")));
        }
        if set.is_empty() {
            bail!("this maskner binary was built without seed lists; pass --seeds DIR");
        }
        Ok(set)
    }

    /// Builds a seed set from in-memory (term, label) pairs (tests, held-out experiments).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>, taxonomy: &Taxonomy) -> anyhow::Result<Self> {
        let mut set = SeedSet::default();
        for (term, label) in pairs {
            let label = checked_label(label, taxonomy).map_err(|e| anyhow!("seed term {term:?}: {e}"))?;
            set.add(term, label);
        }
        Ok(set)
    }

    /// One seed file's text in memory, as [`load`](Self::load) reads each file: `name` names
    /// it in errors and `stem` is its file name without `.txt` (the header label must match).
    pub fn from_text(name: &str, stem: &str, text: &str, taxonomy: &Taxonomy) -> anyhow::Result<Self> {
        let mut set = SeedSet::default();
        set.read_text(name, stem, text, taxonomy)?;
        Ok(set)
    }

    /// Parses one seed file; `name` is used in error messages.
    fn read_text(&mut self, name: &str, stem: &str, text: &str, taxonomy: &Taxonomy) -> anyhow::Result<()> {
        let mut header: HashMap<&str, &str> = HashMap::new();
        let mut in_header = true;
        let mut label = None;
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            if in_header && line.starts_with('#') {
                let body = line.trim_start_matches('#').trim();
                if let Some((k, v)) = body.split_once(':') {
                    header.insert(k.trim(), v.trim());
                }
                continue;
            }
            if in_header {
                in_header = false;
                for key in ["label", "source", "licence"] {
                    if !header.contains_key(key) {
                        bail!("{}: header has no `# {key}:` line", name);
                    }
                }
                let declared = header["label"];
                if declared != stem {
                    bail!("{}: header label {declared} does not match the file name", name);
                }
                let l = checked_label(declared, taxonomy).map_err(|e| anyhow!("{}: {e}", name))?;
                if let Some(g) = header.get("group") {
                    let actual = taxonomy.group_of(l.as_str()).map_err(|e| anyhow!("{}: {e}", name))?;
                    let renamed_group = rename(g);
                    if actual.as_str() != renamed_group {
                        bail!("{}: header group {g} but {} belongs to {}", name, l, actual.as_str());
                    }
                }
                label = Some(l);
            }
            let term = line.trim_end_matches('\r');
            if term.trim().is_empty() {
                bail!("{} line {n}: blank line in the term list", name);
            }
            if term != term.trim() {
                bail!("{} line {n}: leading or trailing whitespace in {term:?}", name);
            }
            if let Some(l) = &label {
                self.add(term, l.clone());
            }
        }
        if label.is_none() {
            bail!("{}: no terms", name);
        }
        Ok(())
    }

    fn add(&mut self, term: &str, label: Label) {
        let e = self.exact.entry(term.to_string()).or_default();
        if !e.contains(&label) {
            e.push(label.clone());
        }
        let l = self.lower.entry(term.to_lowercase()).or_default();
        if !l.contains(&label) {
            l.push(label);
        }
        // the reference drops UNTAGGED_ENTITY when a term also has real labels
        if l.len() > 1 {
            l.retain(|x| x.as_str() != UNTAGGED_ENTITY);
        }
    }

    /// Labels of a term, exact casing.
    pub fn exact(&self, term: &str) -> Option<&[Label]> {
        self.exact.get(term).map(Vec::as_slice)
    }

    /// Labels of a term's lower-cased form (union over case variants).
    pub fn lower(&self, term: &str) -> Option<&[Label]> {
        self.lower.get(&term.to_lowercase()).map(Vec::as_slice)
    }

    /// True if the term (case-insensitively) has a label other than `UNTAGGED_ENTITY`.
    pub fn is_labelled(&self, term: &str) -> bool {
        self.lower(term).is_some_and(|ls| ls.iter().any(|l| l.as_str() != UNTAGGED_ENTITY))
    }

    /// Distinct terms (exact casing).
    pub fn len(&self) -> usize {
        self.exact.len()
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty()
    }

    pub fn terms(&self) -> impl Iterator<Item = (&str, &[Label])> {
        self.exact.iter().map(|(t, l)| (t.as_str(), l.as_slice()))
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// A stable content hash (FNV-1a over sorted terms and labels), part of the map cache key.
    pub fn content_hash(&self) -> u64 {
        let mut h = Fnv::new();
        for (t, ls) in &self.exact {
            h.write(t.as_bytes());
            for l in ls {
                h.write(b"\x1f");
                h.write(l.as_str().as_bytes());
            }
            h.write(b"\x1e");
        }
        h.finish()
    }

    /// The same set without the given terms (held-out evaluation).
    pub fn without(&self, drop: &std::collections::HashSet<String>) -> SeedSet {
        let mut out = SeedSet::default();
        for (t, ls) in &self.exact {
            if !drop.contains(t) {
                for l in ls {
                    out.add(t, l.clone());
                }
            }
        }
        out.files = self.files.clone();
        out
    }
}

fn rename(label: &str) -> &str {
    RENAMES.iter().find(|(old, _)| *old == label).map(|(_, new)| *new).unwrap_or(label)
}

fn checked_label(label: &str, taxonomy: &Taxonomy) -> anyhow::Result<Label> {
    if taxonomy.contains(label) {
        return Ok(Label::new(label));
    }
    let renamed = rename(label);
    if taxonomy.contains(renamed) {
        return Ok(Label::new(renamed));
    }
    // reverse rename: a newer file read with the older taxonomy
    if let Some((old, _)) = RENAMES.iter().find(|(_, new)| *new == label)
        && taxonomy.contains(old)
    {
        return Ok(Label::new(*old));
    }
    taxonomy.group_of(label).map_err(|e| anyhow!("{e}"))?;
    Ok(Label::new(label))
}

fn list_txt(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).with_context(|| format!("{}: cannot read seed directory", dir.display()))?;
    let mut files: Vec<PathBuf> =
        rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "txt")).collect();
    files.sort();
    Ok(files)
}

/// FNV-1a, 64-bit: a tiny, stable, dependency-free hash for cache keys (std's hasher is
/// randomly seeded per process, so it cannot name files).
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Self {
        Fnv(0xcbf29ce484222325)
    }
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x100000001b3);
        }
    }
    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_union_case_variants_and_drop_untagged() {
        let tax = Taxonomy::jan2022();
        let s = SeedSet::from_pairs(
            [("EGFR", "GENE"), ("eGFR", "LAB_TEST_COMPONENT"), ("the", "UNTAGGED_ENTITY"), ("The", "GRAMMAR_CONSTRUCT")],
            &tax,
        )
        .unwrap();
        assert_eq!(s.exact("EGFR").unwrap().len(), 1);
        let l: Vec<&str> = s.lower("Egfr").unwrap().iter().map(|l| l.as_str()).collect();
        assert_eq!(l, vec!["GENE", "LAB_TEST_COMPONENT"]);
        let l: Vec<&str> = s.lower("THE").unwrap().iter().map(|l| l.as_str()).collect();
        assert_eq!(l, vec!["GRAMMAR_CONSTRUCT"]);
        assert!(s.is_labelled("the"));
    }

    #[test]
    fn unknown_label_is_an_error() {
        let err = SeedSet::from_pairs([("x", "FOO")], &Taxonomy::jan2022()).unwrap_err().to_string();
        assert!(err.contains("unknown entity label \"FOO\""), "{err}");
    }

    #[test]
    fn renamed_labels_follow_the_taxonomy() {
        let s = SeedSet::from_pairs([("sleek", "DEVICE_ADJECTIVE")], &Taxonomy::feb2022()).unwrap();
        assert_eq!(s.exact("sleek").unwrap()[0].as_str(), "PRODUCT_ADJECTIVE");
    }

    #[test]
    fn one_seed_file_from_memory_is_read_like_a_file() {
        let tax = Taxonomy::jan2022();
        let text = "# label: DRUG\n# source: x\n# licence: MIT\naspirin\nHeparin\n";
        let s = SeedSet::from_text("DRUG.txt", "DRUG", text, &tax).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s.lower("heparin").unwrap()[0].as_str(), "DRUG");
        let err = SeedSet::from_text("GENE.txt", "GENE", text, &tax).unwrap_err().to_string();
        assert_eq!(err, "GENE.txt: header label DRUG does not match the file name");
        let err = SeedSet::from_text("DRUG.txt", "DRUG", &text.replace("Heparin", " Heparin"), &tax).unwrap_err().to_string();
        assert_eq!(err, "DRUG.txt line 5: leading or trailing whitespace in \" Heparin\"");
    }
}
