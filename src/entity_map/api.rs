//! The map operations of `maskner build-map` and `maskner lookup` as library calls, so the CLI
//! and the bindings run the same code and report the same [`Error`]s: a missing file or
//! directory is a [`Files`](Error::Files) error that says what to do and
//! [`is_not_found`](Error::is_not_found).

use super::build::{BuildOptions, BuildStats};
use super::{EntityMap, SeedSet, Taxonomy, cache};
use crate::error::{Error, ErrorKind, Result};
use crate::mlm::MaskedLm;
use crate::progress::Progress;
use anyhow::Context;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// A map build: the model whose vocabulary and embeddings are used, the seed lists (default:
/// the built-in ones), where the map goes (default: the cache directory `maskner tag` reads),
/// the build settings and the taxonomy (`jan2022`, `feb2022` or a file).
#[derive(Debug, Clone)]
pub struct MapBuild {
    pub model: String,
    pub seeds: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub options: BuildOptions,
    pub taxonomy: String,
}

/// Builds and saves (to `out`, else the cache dir `maskner tag` reads); returns the map, its
/// stats, and where it was written.
pub fn build_map(req: &MapBuild, progress: &dyn Progress) -> Result<(EntityMap, BuildStats, PathBuf)> {
    let taxonomy = taxonomy(&req.taxonomy)?;
    if req.options.k == 0 {
        return Err(Error::input("k must be at least 1 (neighbours that vote for a token)"));
    }
    let seeds = match &req.seeds {
        Some(dir) => {
            if !dir.exists() {
                return Err(Error::not_found(format!(
                    "seeds {}: no such directory; give a directory of <LABEL>.txt seed lists, or none for the built-in lists",
                    dir.display()
                )));
            }
            SeedSet::load(dir, &taxonomy)
        }
        None => SeedSet::builtin(&taxonomy),
    }
    .map_err(|e| Error::files(&e))?;
    let lm = load_model(&req.model, progress)?;
    let (map, stats) =
        cache::build_for_model(&lm, &seeds, &req.options, &taxonomy, progress).map_err(|e| Error::from_chain(e, ErrorKind::Internal))?;
    let out = req.out.clone().unwrap_or_else(|| cache::map_dir(&lm, &seeds, &req.options, &taxonomy));
    map.save(&out).map_err(|e| Error::files(&e))?;
    Ok((map, stats, out))
}

/// Imports a reference labels.txt (`LABELS COUNTS token` lines), checked against the
/// vocabulary of `model` (hub id or directory) when given, and saves it to `out`.
pub fn import_map(labels_txt: &Path, out: &Path, model: Option<&str>, taxonomy: &str) -> Result<EntityMap> {
    let taxonomy = self::taxonomy(taxonomy)?;
    if !labels_txt.is_file() {
        return Err(Error::not_found(format!(
            "{}: no such file; give the path of a reference labels.txt (`LABELS COUNTS token` lines)",
            labels_txt.display()
        )));
    }
    let map = EntityMap::from_labels_txt(labels_txt, &taxonomy).map_err(|e| Error::files(&e))?;
    if let Some(spec) = model {
        let lm = load_model(spec, &crate::progress::Quiet)?;
        map.check_vocab(lm.tokenizer().vocab(), spec).map_err(|e| Error::files(&e))?;
    }
    map.save(out).map_err(|e| Error::files(&e))?;
    Ok(map)
}

/// A saved map directory (`build-map --out`, `import_map`, or the cache).
pub fn open_map(dir: &Path) -> Result<EntityMap> {
    if !dir.exists() {
        return Err(Error::not_found(format!(
            "map {}: no such directory; build one with `maskner build-map --out {}`, or give a model to use its default map",
            dir.display(),
            dir.display()
        )));
    }
    EntityMap::open(dir).map_err(|e| Error::files(&e))
}

/// The default map of a model (hub id or model dir): built-in seeds, default build options,
/// the jan2022 taxonomy; built and cached on first use, exactly what `maskner lookup --model`
/// and a member without a map use.
pub fn map_of_model(spec: &str, progress: &dyn Progress) -> Result<EntityMap> {
    let lm = load_model(spec, progress)?;
    let tax = Taxonomy::jan2022();
    let seeds = SeedSet::builtin(&tax).map_err(|e| Error::files(&e))?;
    cache::ensure_map(&lm, &seeds, &BuildOptions::default(), &tax, progress).map_err(|e| Error::files(&e))
}

/// A directory holding a saved map ([`open_map`]), else a model whose default map is used
/// ([`map_of_model`]): one argument for front ends that take either.
pub fn map_or_model(spec: &str, progress: &dyn Progress) -> Result<EntityMap> {
    let path = Path::new(spec);
    if path.join("meta.json").is_file() {
        return open_map(path);
    }
    map_of_model(spec, progress)
        .map_err(|e| if e.is_not_found() { e.context(format!("{spec}: not a map directory, and as a model")) } else { e })
}

/// One token's lookup as `maskner lookup --json` prints it: `{"token","labels","counts","source"}`.
pub fn lookup_record(map: &EntityMap, token: &str) -> Value {
    let (sig, source) = map.lookup(token);
    json!({"token": token, "labels": sig.labels_field(), "counts": sig.counts_field(), "source": source})
}

fn taxonomy(spec: &str) -> Result<Taxonomy> {
    Taxonomy::from_name_or_path(spec).map_err(|e| Error::files(&anyhow::Error::new(e)))
}

/// A masked LM by hub id or directory, downloads reported to `progress`.
fn load_model(spec: &str, progress: &dyn Progress) -> Result<MaskedLm> {
    let dir = crate::hub::resolve_with(spec, progress).map_err(|e| Error::files(&e))?;
    MaskedLm::load(spec, &dir).with_context(|| format!("loading model {spec}")).map_err(|e| Error::files(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err<T>(r: Result<T>) -> Error {
        r.err().expect("an error")
    }

    #[test]
    fn missing_paths_are_not_found_errors_that_say_what_to_do() {
        let e = err(open_map(Path::new("/no/such/map")));
        assert!(e.is_not_found() && e.kind() == ErrorKind::Files, "{e:?}");
        assert!(e.to_string().contains("/no/such/map") && e.to_string().contains("build-map"), "{e}");
        let e = err(import_map(Path::new("/no/such/labels.txt"), Path::new("/tmp/x"), None, "jan2022"));
        assert!(e.is_not_found() && e.to_string().contains("/no/such/labels.txt"), "{e}");
        let e = err(map_or_model("./no/such/dir", &crate::progress::Quiet));
        assert!(e.is_not_found(), "{e:?}");
        assert!(e.to_string().starts_with("./no/such/dir: not a map directory, and as a model: "), "{e}");
        let e = err(import_map(Path::new("/no/such/labels.txt"), Path::new("/tmp/x"), None, "nope"));
        assert_eq!(
            e.to_string(),
            "taxonomy nope: not a builtin name (jan2022, feb2022) and cannot be read: No such file or directory (os error 2)"
        );
        assert!(e.is_not_found());
    }
}
