//! `maskner` binary: argument parsing and exit codes live in `maskner::cli`.

fn main() -> std::process::ExitCode {
    maskner::cli::main()
}
