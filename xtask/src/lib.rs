//! `cargo xtask` as a library: builds the webtest image variants, measures them, runs them and
//! proves the multistage lesson. `main.rs` parses the command line and calls [`run`]; see
//! `ARCHITECTURE.md` at the workspace root for the layers and which way data flows.

pub mod analysis;
pub mod apps;
pub mod bases;
pub mod bench;
pub mod build;
pub mod build_context;
pub mod build_records;
pub mod checks;
pub mod clean;
pub mod cli;
pub mod commands;
pub mod compare;
pub mod crates;
pub mod ctx;
pub mod dockerfile;
pub mod edit_cost;
pub mod engine;
pub mod error;
pub mod figure_cache;
pub mod ids;
pub mod json_file;
pub mod labels;
pub mod manifest;
pub mod model;
pub mod render;
pub mod report;
pub mod runner;
pub mod sbom;
pub mod stress;
pub mod transfer;

use crate::cli::{Cli, Command};
use crate::ctx::Ctx;
use crate::engine::Engine;
use crate::report::Style;

/// Runs one command. The manifest is read and checked before the engine is connected to, so a
/// bad manifest never reaches the engine; `report` needs neither.
pub fn run(cli: Cli, style: Style) -> anyhow::Result<()> {
    let ctx = Ctx::new(ctx::project_root(), &cli.manifest, style)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        match cli.command {
            Command::Report(args) => render::run(&ctx, args),
            Command::Clean(args) => {
                let manifest = ctx.manifest()?;
                let engine = Engine::connect().await?;
                clean::run(&ctx, &manifest, &engine, args).await
            }
            Command::Bases(args) => {
                let manifest = ctx.manifest()?;
                let engine = Engine::connect().await?;
                bases::run(&ctx, &manifest, &engine, args).await
            }
            Command::BuildImages(args) => {
                let manifest = ctx.manifest()?;
                let engine = Engine::connect().await?;
                build::run(&ctx, &manifest, &engine, args).await
            }
            Command::Compare(args) => {
                // Every app's manifest is read and checked, and the flags become a plan for
                // each, before the engine is connected to: a bad one (such as --edit-cost for an
                // app without an `edit:` file) is a usage error even with no engine.
                let primary = ctx.manifest()?;
                let apps = manifest::load_apps(primary.clone(), args.app.as_deref())?;
                for app in &apps {
                    compare::Plan::new(&ctx, app, &args, std::net::Ipv4Addr::LOCALHOST.into())?;
                }
                let engine = Engine::connect().await?;
                compare::run(&ctx, &apps, primary, &engine, args).await
            }
            Command::Stress(args) => {
                let manifest = ctx.manifest()?;
                let engine = Engine::connect().await?;
                commands::stress::run(&ctx, &manifest, &engine, args).await
            }
            // It connects to the engine itself, and only for an image in the engine.
            Command::Analyze(args) => commands::analyze::run(&ctx, args).await,
            // The HTTP benchmark needs no engine; against dive, it connects itself.
            Command::Bench(args) => commands::bench::run(&ctx, args).await,
        }
    })
}
