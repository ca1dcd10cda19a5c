//! `maskner export-map`: write a map in the reference's labels.txt format.

use crate::entity_map::EntityMap;
use std::io::Write;
use std::path::PathBuf;

/// Write a map as labels.txt: one `LABEL1/LABEL2 COUNT1/COUNT2 token` line per vocabulary token.
///
/// Example:
///   maskner export-map --map my-map --out labels.txt
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Map directory (from `maskner build-map`).
    #[arg(long)]
    map: PathBuf,
    /// Output file (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let map = EntityMap::open(&args.map)?;
    let mut buf = Vec::with_capacity(map.len() * 32);
    map.write_labels_txt(&mut buf)?;
    match &args.out {
        Some(p) => std::fs::write(p, &buf).map_err(|e| anyhow::anyhow!("{}: cannot write ({e})", p.display()))?,
        None => std::io::stdout().lock().write_all(&buf)?,
    }
    Ok(())
}
