//! The command line: every command and its flags, as clap parses them. Each command's `Args`
//! lives beside the code that turns it into a plan; this module only gathers them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::{bases, build, clean, commands, compare, render, stress};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build, measure, run and check the webtest images"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// The image manifest, relative to the workspace root or absolute.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        default_value = "docker/images.yaml"
    )]
    pub manifest: PathBuf,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// Remove the containers the tool started and the images of the manifest's repository.
    Clean(clean::Args),
    /// Analyse one image (dive's efficiency and wasted bytes, and ours): an image in the engine,
    /// or a `docker save` archive file, which needs no engine.
    Analyze(commands::analyze::Args),
    /// Benchmarks: the Rust and the Go service on the host under wrk, or (--against-dive) the
    /// image analysis against dive 0.13.1.
    Bench(commands::bench::Args),
}
