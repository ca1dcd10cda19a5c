//! Embeds the seed term lists (descriptors/seeds) into the binary, so `maskner` can build
//! descriptor maps without the source tree.

use std::io::Write;
use std::path::Path;

fn main() {
    // read at run time: a build script compiled for one checkout may run for another that
    // shares the target directory (CI keeps one across clones)
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest);
    let seeds = root.join("descriptors/seeds");
    println!("cargo:rerun-if-changed={}", seeds.display());
    let mut files = Vec::new();
    for sub in ["", "feb2022"] {
        let dir = seeds.join(sub);
        println!("cargo:rerun-if-changed={}", dir.display());
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "txt") {
                println!("cargo:rerun-if-changed={}", p.display());
                let rel = p.strip_prefix(&seeds).unwrap_or(&p).to_string_lossy().replace('\\', "/");
                files.push((rel, p));
            }
        }
    }
    files.sort();
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("seeds_embedded.rs");
    let mut f = std::fs::File::create(out).expect("create seeds_embedded.rs");
    writeln!(f, "/// (relative path, contents) of every embedded seed file.").unwrap();
    writeln!(f, "pub const SEED_FILES: &[(&str, &str)] = &[").unwrap();
    for (rel, p) in files {
        writeln!(f, "    ({rel:?}, include_str!({:?})),", p.display().to_string()).unwrap();
    }
    writeln!(f, "];").unwrap();
}
