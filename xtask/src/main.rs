//! `cargo xtask`: builds the webtest image variants, measures them, runs them and proves the
//! multistage lesson. Each command lives in a module of its own that owns its `Args`; this file
//! only parses the command line, makes the shared handles once and dispatches.

mod analysis;
mod bases;
mod build;
mod checks;
mod clean;
mod compare;
mod context;
mod engine;
mod manifest;
mod model;
mod render;
mod report;
mod stress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::engine::Engine;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build, measure, run and check the webtest images"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The image manifest, relative to the workspace root or absolute.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        default_value = "docker/images.yaml"
    )]
    manifest: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Make every base image the manifest names: use it, pull it, or build its local stand-in.
    Bases(bases::Args),
    /// Build the image variants through the Docker Engine API.
    BuildImages(build::Args),
    /// Build what changed, measure and run every variant, check the budgets, write the report.
    Compare(compare::Args),
    /// Hammer the multistage container (load, garbage, idle connections, a stop under load).
    Stress(stress::Args),
    /// Render report.md and sizes.svg again from the last report.json, without the engine.
    Report(render::Args),
    /// Remove every image and container that carries the project's label, and nothing else.
    Clean(clean::Args),
}

/// What every command gets: where the project is and how to talk to people.
pub struct Ctx {
    /// The workspace root: every relative path on the command line is taken from here.
    pub root: PathBuf,
    pub sh: xshell::Shell,
    pub style: report::Style,
    /// `--manifest`, absolute.
    pub manifest_path: PathBuf,
}

impl Ctx {
    /// Reads and checks the manifest. Main calls this before it connects to the engine, so a bad
    /// manifest is reported without a single call to the engine.
    pub fn manifest(&self) -> anyhow::Result<manifest::Manifest> {
        manifest::Manifest::load(&self.manifest_path)
    }

    /// `target/xtask`, where reports and caches go.
    pub fn out_dir(&self) -> PathBuf {
        self.root.join("target").join("xtask")
    }

    /// A path given on the command line, taken from the workspace root like `--manifest`, or
    /// `default` when none was given.
    pub fn path_or(&self, given: Option<&std::path::Path>, default: PathBuf) -> PathBuf {
        given.map_or(default, |path| self.root.join(path))
    }
}

/// An error that means the user asked for something that cannot be: bad usage or a bad
/// manifest. It makes the process exit with 2 instead of 1.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A run that completed but found that a check or a build failed: exit code 1, and the report
/// has already said what failed, so nothing more is printed.
#[derive(Debug)]
pub struct ChecksFailed;

impl std::fmt::Display for ChecksFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("some checks failed")
    }
}

impl std::error::Error for ChecksFailed {}

/// An error that knows what the user can do about it: `report::exit` prints `next` instead of
/// the generic advice. The problem is one line; the chain below it says where it happened.
#[derive(Debug)]
pub struct Fix {
    pub problem: String,
    pub next: String,
}

impl std::fmt::Display for Fix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.problem)
    }
}

impl std::error::Error for Fix {}

/// SIGINT or SIGTERM arrived: the work was dropped and what it started was removed. The process
/// exits with 128 plus the signal's number, as a shell reports a process killed by it.
#[derive(Debug)]
pub struct Interrupted {
    pub signal: &'static str,
    pub number: u8,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted by {}", self.signal)
    }
}

impl std::error::Error for Interrupted {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let style = report::Style::detect();
    let result = run(cli, style);
    report::exit(result, style)
}

fn run(cli: Cli, style: report::Style) -> anyhow::Result<()> {
    let root = project_root();
    let sh = xshell::Shell::new()?;
    sh.change_dir(&root);
    let manifest_path = root.join(&cli.manifest);
    let ctx = Ctx {
        root,
        sh,
        style,
        manifest_path,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    // Arguments are evaluated in order: the manifest is read and checked before the engine is
    // connected to.
    runtime.block_on(async {
        match cli.command {
            Command::Bases(args) => {
                bases::run(&ctx, &ctx.manifest()?, &Engine::connect().await?, args).await
            }
            Command::BuildImages(args) => {
                build::run(&ctx, &ctx.manifest()?, &Engine::connect().await?, args).await
            }
            Command::Compare(args) => {
                compare::run(&ctx, &ctx.manifest()?, &Engine::connect().await?, args).await
            }
            Command::Stress(args) => {
                stress::run(&ctx, &ctx.manifest()?, &Engine::connect().await?, args).await
            }
            Command::Report(args) => render::run(&ctx, args),
            Command::Clean(args) => clean::run(&ctx, &Engine::connect().await?, args).await,
        }
    })
}

/// The workspace root, found from this crate's own manifest so that `cargo xtask` works from any
/// directory inside the project.
fn project_root() -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    dir.parent().unwrap_or(dir).to_path_buf()
}
