//! The command line: serve (the default), `healthcheck`, `--version` and `--help`.
//!
//! Arguments are parsed by hand because there are only two modes and one option, and an
//! argument parser crate would be a large part of a binary this small.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use crate::{log, AppInfo, Stopped, DEFAULT_PORT, NAME, VERSION};

/// Exit code for a usage or configuration error, such as a bad `PORT`.
pub const EXIT_USAGE: u8 = 2;

const HELP: &str = "\
Usage:
  webtest                           serve HTTP on 0.0.0.0:$PORT (default 8080)
  webtest healthcheck [--port N]    exit 0 iff GET /healthz on 127.0.0.1 answers 200
  webtest --version | --help

Routes: GET / (greeting), GET /healthz (\"ok\"), GET /info (JSON),
        GET /delay/{ms} (\"ok\" after ms milliseconds, at most 10000;
        for testing timeouts and graceful shutdown).
Environment: PORT, WEBTEST_VARIANT, WEBTEST_REVISION.
SIGTERM or SIGINT stops the server gracefully.
";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the server.
    Serve,
    /// Probe a running server; `None` means "the port from `PORT`, or the default".
    Healthcheck { port: Option<u16> },
    /// Print the version.
    Version,
    /// Print the usage text.
    Help,
}

/// Parses the arguments after the program name.
pub fn parse_args(args: &[String]) -> Result<Command, String> {
    match args {
        [] => Ok(Command::Serve),
        [flag] if flag == "--version" || flag == "-V" => Ok(Command::Version),
        [flag] if flag == "--help" || flag == "-h" => Ok(Command::Help),
        [mode, rest @ ..] if mode == "healthcheck" => match rest {
            [] => Ok(Command::Healthcheck { port: None }),
            [flag, value] if flag == "--port" => parse_port(value)
                .map(|port| Command::Healthcheck { port: Some(port) })
                .map_err(|e| format!("--port: {e}")),
            [flag] if flag.starts_with("--port=") => parse_port(&flag["--port=".len()..])
                .map(|port| Command::Healthcheck { port: Some(port) })
                .map_err(|e| format!("--port: {e}")),
            _ => Err(format!("unexpected arguments to healthcheck: {rest:?}")),
        },
        _ => Err(format!("unexpected arguments: {args:?}")),
    }
}

/// Parses a TCP port number from 1 to 65535.
pub fn parse_port(value: &str) -> Result<u16, String> {
    match value.trim().parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(format!(
            "invalid port {value:?}: expected a number from 1 to 65535"
        )),
    }
}

/// The port from the `PORT` variable, or [`DEFAULT_PORT`] when it is unset.
pub fn port_from_env() -> Result<u16, String> {
    match std::env::var("PORT") {
        Ok(value) => parse_port(&value).map_err(|e| format!("PORT: {e}")),
        Err(std::env::VarError::NotPresent) => Ok(DEFAULT_PORT),
        Err(std::env::VarError::NotUnicode(_)) => Err("PORT: not valid UTF-8".to_owned()),
    }
}

/// Runs the program with the arguments after its name, and returns its exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let command = match parse_args(&args) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("{NAME}: {e}\n\n{HELP}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match command {
        Command::Version => {
            log::line(&format!("{NAME} {VERSION}"));
            ExitCode::SUCCESS
        }
        Command::Help => {
            log::line(&format!(
                "{NAME} {VERSION}: a small HTTP demo service\n\n{HELP}"
            ));
            ExitCode::SUCCESS
        }
        Command::Healthcheck { port } => run_healthcheck(port),
        Command::Serve => run_server(),
    }
}

/// Probes the local server; any failure is exit code 1, because Docker reserves 2.
fn run_healthcheck(port: Option<u16>) -> ExitCode {
    let port = match port.map_or_else(port_from_env, Ok) {
        Ok(port) => port,
        Err(e) => {
            eprintln!("{NAME} healthcheck: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    match crate::healthcheck(addr, crate::healthcheck::TIMEOUT) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{NAME} healthcheck: {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the server until SIGTERM or SIGINT; exit code 0 after a graceful stop.
fn run_server() -> ExitCode {
    let port = match port_from_env() {
        Ok(port) => port,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // One thread is plenty for a demo service, and the single-threaded runtime is the
    // smaller one.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{NAME}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async move {
        let signal = match crate::shutdown_signal() {
            Ok(signal) => signal,
            Err(e) => {
                eprintln!("{NAME}: cannot install signal handlers: {e}");
                return ExitCode::FAILURE;
            }
        };
        let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
        let listener = match crate::server::bind(addr) {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("{NAME}: cannot listen on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let info = AppInfo::from_env();
        log::line(&format!("{NAME} {VERSION} listening on {addr}"));

        let shutdown = async move {
            let name = signal.await;
            log::line(&format!("{NAME}: {name} received, shutting down"));
        };
        match crate::serve(listener, shutdown, info).await {
            Ok(Stopped::Drained) => {
                log::line(&format!("{NAME}: stopped"));
                ExitCode::SUCCESS
            }
            Ok(Stopped::DrainTimedOut) => {
                log::line(&format!(
                    "{NAME}: stopped; requests still running after {}s were dropped",
                    crate::DRAIN_TIMEOUT.as_secs()
                ));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{NAME}: server error: {e}");
                ExitCode::FAILURE
            }
        }
    });
    // Access-log lines wait in a buffer for a moment (see `log`); whatever way the server
    // stopped, none may be lost when the process exits.
    log::flush();
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_the_two_modes_and_flags() {
        assert_eq!(parse_args(&args(&[])), Ok(Command::Serve));
        assert_eq!(parse_args(&args(&["--version"])), Ok(Command::Version));
        assert_eq!(parse_args(&args(&["-h"])), Ok(Command::Help));
        assert_eq!(
            parse_args(&args(&["healthcheck"])),
            Ok(Command::Healthcheck { port: None })
        );
        assert_eq!(
            parse_args(&args(&["healthcheck", "--port", "9000"])),
            Ok(Command::Healthcheck { port: Some(9000) })
        );
        assert_eq!(
            parse_args(&args(&["healthcheck", "--port=9001"])),
            Ok(Command::Healthcheck { port: Some(9001) })
        );
        assert!(parse_args(&args(&["healthcheck", "--port", "0"])).is_err());
        assert!(parse_args(&args(&["healthcheck", "--port"])).is_err());
        assert!(parse_args(&args(&["serve", "now"])).is_err());
    }

    #[test]
    fn ports_are_1_to_65535() {
        assert_eq!(parse_port("8080"), Ok(8080));
        assert_eq!(parse_port(" 80 "), Ok(80));
        assert!(parse_port("0").is_err());
        assert!(parse_port("65536").is_err());
        assert!(parse_port("http").is_err());
        assert!(parse_port("").is_err());
    }
}
