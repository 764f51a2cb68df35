//! `chinwag-bench`: arguments to a scenario run, exit code. See `chinwag::bench`.

use chinwag::bench::{self, Cli};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    match bench::run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chinwag-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
