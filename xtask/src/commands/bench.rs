//! `cargo xtask bench`: two benchmarks that `compare` cannot run, because their figures are only
//! fair when nothing else runs.
//!
//! * Without flags, the Rust and the Go service served the same way: both production binaries on
//!   the host, one core for the server, one for wrk, over loopback, both writing their access log
//!   (issue 10.8).
//! * With `--against-dive`, our image analysis against dive 0.13.1 on the manifest's images, cold
//!   and after a one-line source edit (issue 11.4).
//!
//! Either holds the engine lock while it runs, so that no other `cargo xtask` builds meanwhile.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use xshell::Shell;

use crate::bench::{dive, http};
use crate::build;
use crate::ctx::Ctx;
use crate::edit_cost;
use crate::engine::Engine;
use crate::error::UsageError;
use crate::manifest::Manifest;
use crate::model::bench::DiveBench;
use crate::report::progress::Progress;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Time the image analysis against dive instead (the manifest's images, cold and after a
    /// one-line edit of its `edit:` file).
    #[arg(long)]
    pub against_dive: bool,
    /// How many times each service is loaded (or each image analysed); the runs take turns.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Seconds of load per run.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub duration: u64,
    /// wrk's keep-alive connections.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,
    /// Requests wrk sends at once on each connection (HTTP/1.1 pipelining): with 1, one wrk
    /// thread may not keep a fast server's core busy, and the rate is wrk's.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=128))]
    pub pipeline: u32,
    /// The core the server is pinned to.
    #[arg(long, value_name = "CPU", default_value_t = 0)]
    pub server_cpu: usize,
    /// The core wrk is pinned to.
    #[arg(long, value_name = "CPU", default_value_t = 1)]
    pub load_cpu: usize,
    /// Where the services write their access log: a file each (kept in the output folder) or
    /// /dev/null.
    #[arg(long, value_enum, default_value_t = Log::File)]
    pub log: Log,
    /// Use the binaries (or images) as they are, without building.
    #[arg(long)]
    pub no_build: bool,
    /// With --against-dive: the variants to analyse (repeatable; default: simples and target,
    /// the large ones).
    #[arg(long = "variant", value_name = "NAME")]
    pub variants: Vec<String>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    File,
    Null,
}

/// What one `bench` run does, decided from the flags before any I/O.
pub enum Plan {
    Http(http::Settings),
    Dive {
        runs: u32,
        build: bool,
        variants: Vec<String>,
        out: PathBuf,
    },
}

impl Plan {
    pub fn new(ctx: &Ctx, args: Args) -> Result<Plan> {
        let out = ctx.out_dir().join("bench");
        if args.against_dive {
            return Ok(Plan::Dive {
                runs: args.runs,
                build: !args.no_build,
                variants: if args.variants.is_empty() {
                    vec!["simples".into(), "target".into()]
                } else {
                    args.variants
                },
                out,
            });
        }
        if args.server_cpu == args.load_cpu {
            return Err(UsageError(format!(
                "the server and the load need a core each, not both core {}",
                args.server_cpu
            ))
            .into());
        }
        Ok(Plan::Http(http::Settings {
            duration: Duration::from_secs(args.duration),
            connections: args.connections,
            runs: args.runs,
            server_cpu: args.server_cpu,
            load_cpu: args.load_cpu,
            pipeline: args.pipeline,
            log: match args.log {
                Log::File => http::LogSink::File(out.clone()),
                Log::Null => http::LogSink::Null,
            },
            build: !args.no_build,
            out,
        }))
    }
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let plan = Plan::new(ctx, args)?;
    let progress = Progress::new(ctx.style);
    match plan {
        Plan::Http(settings) => {
            // Held only to keep other runs of the tool from building while the load runs; the
            // services themselves need no engine.
            let engine = Engine::connect().await.ok();
            let _lock = match &engine {
                Some(engine) => Some(
                    engine
                        .exclusive("bench", |holder| progress.waiting_for(holder))
                        .await?,
                ),
                None => None,
            };
            let root = ctx.root.clone();
            let bench = tokio::task::spawn_blocking(move || {
                let sh = Shell::new()?;
                std::fs::create_dir_all(&settings.out)?;
                let binaries = http::build(&sh, &root, &settings)?;
                let bench = http::measure(&sh, &binaries, &settings)?;
                std::fs::write(
                    settings.out.join("http.json"),
                    serde_json::to_string_pretty(&bench)? + "\n",
                )?;
                anyhow::Ok(bench)
            })
            .await
            .context("the benchmark stopped")??;
            print!("{}", crate::report::bench_http(&bench));
            Ok(())
        }
        Plan::Dive {
            runs,
            build,
            variants,
            out,
        } => {
            let manifest = ctx.manifest()?;
            let engine = Engine::connect().await?;
            let _lock = engine
                .exclusive("bench", |holder| progress.waiting_for(holder))
                .await?;
            let bench = engine
                .guarded(against_dive(
                    ctx, &engine, &manifest, runs, build, &variants, &out, &progress,
                ))
                .await?;
            std::fs::write(
                out.join("dive.json"),
                serde_json::to_string_pretty(&bench)? + "\n",
            )?;
            print!("{}", crate::report::bench_dive(&bench));
            Ok(())
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn against_dive(
    ctx: &Ctx,
    engine: &Engine,
    manifest: &Manifest,
    runs: u32,
    build: bool,
    variants: &[String],
    out: &std::path::Path,
    progress: &Progress,
) -> Result<DiveBench> {
    let variants = manifest.select(variants)?;
    let sh = Shell::new()?;
    let dive_version = dive::version(&sh)?;
    if build {
        let plan = build::Plan {
            variants: variants.clone(),
            cache: build::Cache::Use,
        };
        build::build_all(ctx, engine, manifest, &plan, progress).await?;
    }
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut edit = edit_cost::Plan::new(manifest, nonce)?;
    edit.variants = variants.clone();
    let inputs = edit_cost::Inputs::find(ctx, engine, manifest, progress).await?;
    let work = out.join("dive");
    // What an interrupted run left (archives, caches) goes first.
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    // One image at a time, so that the disk holds two archives at most; its builds and saves
    // end before its timing starts, so that no build runs beside it.
    let mut images = Vec::new();
    for name in &variants {
        let tag = manifest.tag(name);
        let pair = dive::Pair {
            image: tag.clone(),
            original: work.join(format!("{name}.tar")),
            edited: work.join(format!("{name}-edited.tar")),
        };
        let timed = async {
            let phase = progress.phase(&format!("save {tag}"));
            save(engine, &tag, &pair.original).await?;
            phase.finish(&format!("saved {tag}"));
            let edited =
                edit_cost::rebuild(engine, manifest, &edit, &inputs, name, progress).await?;
            let saved = save(engine, &edited.tag, &pair.edited).await;
            engine
                .remove_built(&edited.tag, &edited.built.made)
                .await
                .with_context(|| format!("remove the edited build of {name}"))?;
            saved?;
            let phase = progress.phase(&format!(
                "time {tag}: ours and dive, cold and after the edit, {runs} run(s)"
            ));
            let times = dive::measure(&sh, &pair, runs, &work).await?;
            phase.finish(&format!("timed {tag}"));
            anyhow::Ok(times)
        }
        .await;
        std::fs::remove_file(&pair.original).ok();
        std::fs::remove_file(&pair.edited).ok();
        images.push(timed?);
    }
    Ok(DiveBench {
        dive: dive_version,
        images,
    })
}

/// `docker save` of one image into a file.
async fn save(engine: &Engine, name: &str, path: &std::path::Path) -> Result<()> {
    let mut reader = engine.export(name);
    let mut file = tokio::fs::File::create(path)
        .await
        .with_context(|| format!("create {}", path.display()))?;
    tokio::io::copy(&mut reader, &mut file)
        .await
        .with_context(|| format!("save {name} to {}", path.display()))?;
    Ok(())
}
