//! `cargo xtask`: parses the command line, runs the command, and on failure prints what went
//! wrong and what to do next, ending with the exit code the error means (see DESIGN.md).

use std::process::ExitCode;

use clap::Parser;

use xtask::cli::Cli;
use xtask::report::Style;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let style = Style::detect();
    match xtask::run(cli, style) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprint!("{}", xtask::report::failure(&err, style));
            ExitCode::from(xtask::error::exit_code(&err))
        }
    }
}
