//! Entry point of the `webtest` binary: everything lives in the library so the tests can drive it.

use std::process::ExitCode;

fn main() -> ExitCode {
    webtest::cli::run(std::env::args_os().skip(1))
}
