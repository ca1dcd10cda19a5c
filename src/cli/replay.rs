//! (subcommand; to be implemented)

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> super::CheckResult {
    anyhow::bail!("not implemented yet")
}
