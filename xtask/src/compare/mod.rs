//! `cargo xtask compare`: builds what changed, measures every variant (size, layers, compressed
//! size, wasted space, files, config, posture), moves it through a registry (push, pull, deploy;
//! the registry's manifest gives the compressed size of what it took, so that the analysis
//! deflates only what no registry took), runs each variant that runs (ready time over several
//! starts, probes, memory, a short load, stop time), evaluates every check, and writes the
//! report. Every container it starts is removed, however the run ends. An image unchanged
//! since a run that kept its figures (the round trip's, the runs', the commands') is not moved
//! or started again unless `--fresh` says so.

use std::collections::HashMap;

use anyhow::{Context, Result};

use crate::analysis::{self, Analysis};
use crate::build;
use crate::checks;
use crate::ctx::Ctx;
use crate::edit_cost;
use crate::engine::Engine;
use crate::error::ChecksFailed;
use crate::manifest::{BuildArgs, Manifest};
use crate::model::{self, ImageReport, Report};
use crate::render;
use crate::report::progress::Progress;
use crate::runner;
use crate::sbom;
use crate::transfer;

mod commands;
mod plan;
mod runs;

pub use plan::{Args, Build, Format, Plan};

/// Compares every app of `apps` (read and checked by `manifest::load_apps`), one after the
/// other on the same host port, into one report. `primary` is the manifest that lists them,
/// whose registry serves an app that names none.
pub async fn run(
    ctx: &Ctx,
    apps: &[Manifest],
    primary: Manifest,
    engine: &Engine,
    args: Args,
) -> Result<()> {
    let manifest = apps.first().context("no app to compare")?;
    let plan = Plan::new(ctx, manifest, &args, engine.probe_host())?;
    let progress = Progress::new(ctx.style);
    let _lock = engine
        .exclusive("compare", |holder| progress.waiting_for(holder))
        .await?;
    // Checked once the engine is ours, since a run we waited for held the port until it ended.
    let port = runner::host_port(plan.host_ip, plan.port)?;
    if port != plan.port {
        progress.note(&format!(
            "publishing on the free port {}:{port}",
            plan.host_ip
        ));
    }
    let plan = Plan {
        port,
        registry_home: Some(std::sync::Arc::new(primary)),
        ..plan
    };
    if !plan.host_ip.is_loopback() {
        progress.note(&format!(
            "warning: publishing on {}, so the containers can be reached from beyond this machine",
            plan.host_ip
        ));
    }
    // A signal must not leave a container behind: the work stops, then what it started goes.
    let report = engine
        .guarded(measure_apps(ctx, engine, apps, &plan, &args, &progress))
        .await?;
    let written = render::write(&plan.out, &report)?;
    match plan.format {
        Format::Table => {
            print!("{}", crate::report::terminal(&report, ctx.style));
            progress.note(&format!(
                "report: {}, {}, {}",
                written.json.display(),
                written.markdown.display(),
                written.svg.display()
            ));
        }
        Format::Json => print!("{}", crate::report::json(&report)),
    }
    if report.ok {
        Ok(())
    } else {
        Err(ChecksFailed.into())
    }
}

/// Every app's images built first, the apps at once; then each app measured in turn, with its
/// own manifest's settings (where no flag overrides them) on the port the run chose; then one
/// report of them all.
async fn measure_apps(
    ctx: &Ctx,
    engine: &Engine,
    apps: &[Manifest],
    plan: &Plan,
    args: &Args,
    progress: &Progress,
) -> Result<Report> {
    let resolved: Vec<Option<BuildArgs>> = match plan.build {
        Build::Changed => build_apps(ctx, engine, apps, progress)
            .await?
            .into_iter()
            .map(Some)
            .collect(),
        Build::Skip => vec![None; apps.len()],
    };
    let mut parts = Vec::new();
    for (manifest, resolved) in apps.iter().zip(resolved) {
        if apps.len() > 1 {
            progress.note(&format!(
                "app {} ({}, {})",
                manifest.app,
                manifest.repository,
                crate::apps::app_report(manifest, &ctx.root).manifest
            ));
        }
        let app_plan = Plan {
            port: plan.port,
            registry_home: plan.registry_home.clone(),
            ..Plan::new(ctx, manifest, args, engine.probe_host())?
        };
        let app = App {
            ctx,
            engine,
            manifest,
            plan: &app_plan,
            progress,
        };
        let mut report = measure_and_check(&app, resolved).await?;
        crate::apps::mark(&mut report, &manifest.app);
        parts.push((crate::apps::app_report(manifest, &ctx.root), report));
    }
    crate::apps::merge(parts).context("no app to compare")
}

/// Builds every variant of every app, and says what each app's base arguments resolved to.
///
/// The bases are made first, one app after the other (apps share bases, and two makings of one
/// stand-in at once would race); then the apps' builds run at once, each app's variants in the
/// manifest's order (they share stages). The classic builder spends most of a step, on a large
/// base, committing it (the engine compares the container's whole tree with its parent's): that
/// is waiting, not computing, so builds of different apps overlap well. Measured on a 2-core
/// machine with fuse-overlayfs: the Go and the front-end `simples` built in 38 s and 49 s one
/// after the other, and in 46 s together.
async fn build_apps(
    ctx: &Ctx,
    engine: &Engine,
    apps: &[Manifest],
    progress: &Progress,
) -> Result<Vec<BuildArgs>> {
    let mut bases = Vec::new();
    for manifest in apps {
        bases.push(crate::bases::ensure_for_build(ctx, engine, manifest, progress).await?);
    }
    let sites: Vec<build::Site> = apps
        .iter()
        .map(|manifest| build::Site {
            ctx,
            engine,
            manifest,
            progress,
        })
        .collect();
    let builds = futures_util::future::try_join_all(sites.iter().zip(bases).map(
        |(site, bases)| async move {
            let build_plan = build::Plan {
                variants: site.manifest.variants.keys().cloned().collect(),
                cache: build::Cache::Use,
            };
            build::build_on(site, &build_plan, bases)
                .await
                .with_context(|| format!("build the images of app {}", site.manifest.app))
        },
    ))
    .await?;
    Ok(builds.into_iter().map(|builds| builds.bases).collect())
}

/// One app of the run: what its measuring and checking works with.
struct App<'a> {
    ctx: &'a Ctx,
    engine: &'a Engine,
    manifest: &'a Manifest,
    plan: &'a Plan,
    progress: &'a Progress,
}

/// Measures and checks one app's images, built already (`resolved` says what their base
/// arguments resolved to; `None` with `--no-build`).
async fn measure_and_check(app: &App<'_>, resolved: Option<BuildArgs>) -> Result<Report> {
    let App {
        ctx,
        engine,
        manifest,
        plan,
        progress,
    } = *app;

    // What the engine says of each image: inspect and history.
    let mut facts = Vec::new();
    for name in manifest.variants.keys() {
        let tag = manifest.tag(name);
        let image = engine
            .image(&tag)
            .await?
            .with_context(|| format!("there is no image {tag}: build it with `cargo xtask build-images` or run compare without --no-build"))?;
        let history = engine.history(&tag).await?;
        facts.push((name.clone(), tag, image, history));
    }
    // The registry round trip first: push, pull back, start; before the runs, which share the
    // port, and before the analysis, which then need not deflate what the registry stores.
    let subjects: Vec<transfer::Subject> = facts
        .iter()
        .map(|(name, tag, image, _)| {
            let variant = &manifest.variants[name];
            transfer::Subject {
                variant: name,
                tag,
                id: &image.id,
                start: variant.run.then_some(runs::security_of(variant)),
                tmpfs: &variant.tmpfs,
            }
        })
        .collect();
    let registry_home = match &plan.registry_home {
        Some(home) if manifest.registry.is_none() => home,
        _ => manifest,
    };
    let site = transfer::Site {
        ctx,
        engine,
        manifest,
        registry_home,
        progress,
        publish: plan.publish(manifest),
        probe_host: plan.probe_host,
        fresh: plan.fresh,
    };
    let mut transfers = transfer::measure(&site, &plan.registry, &subjects).await?;
    drop(subjects);

    // The analysis of each exported image. An image the registry took has its compressed size
    // from the registry's own manifest, the bytes it stores (its layers, config and manifest,
    // the parts the analysis counts), so its plain layers are not deflated again here (most of
    // a cold analysis's time); the others' are.
    let cache = analysis::Cache::under(&ctx.out_dir());
    let deflating = analysis::Analyses::new(&cache)?;
    let reading = analysis::Analyses::without_compressed_size(&cache)?;
    let analyses = futures_util::future::try_join_all(facts.iter().map(|(name, tag, image, _)| {
        let analyzer = if transfers.contains_key(name) {
            &reading
        } else {
            &deflating
        };
        analyze(analyzer, engine, tag, &image.id, progress)
    }))
    .await?;
    let analyses: HashMap<String, Analysis> = facts
        .iter()
        .map(|(name, ..)| name.clone())
        .zip(analyses)
        .collect();

    let mut images: Vec<ImageReport> = facts
        .iter()
        .map(|(name, tag, image, history)| {
            let mut report = analysis::image_report(name, tag, image, history, &analyses[name]);
            report.transfer = transfers.remove(name);
            if let Some(transfer) = &report.transfer {
                report.compressed_bytes = transfer.pushed_bytes;
            }
            report
        })
        .collect();

    // What each image was built on: the official base or a local stand-in.
    for image in images.iter_mut() {
        let (base, bases) = crate::apps::bases_used(
            engine,
            manifest,
            &image.variant,
            &image.config.labels,
            resolved.as_ref(),
        )
        .await?;
        image.base = base;
        image.bases = bases;
    }

    // The components of each image, and its SBOM beside the report.
    let sbom_dir = plan.out.join("sbom");
    for image in images.iter_mut() {
        let subject = sbom::Subject {
            tag: &image.tag,
            id: &image.id,
            labels: &image.config.labels,
            analysis: &analyses[&image.variant],
        };
        image.components = Some(sbom::write(&sbom_dir, &ctx.root, &subject)?);
    }

    // The runs, one variant at a time, since they share the host port.
    let run_checks = runs::run_all(app, &mut images).await?;

    // The structure tests that run a command.
    let commands = commands::run_all(app, &images).await?;

    // Last, so that its builds disturb none of the timings above.
    if let Some(edit_plan) = &plan.edit_cost {
        let mut costs = edit_cost::measure(ctx, engine, manifest, edit_plan, progress).await?;
        for image in images.iter_mut() {
            image.edit_cost = costs.remove(&image.variant);
        }
    }

    let inputs = checks::Inputs {
        images: &images,
        analyses: &analyses,
        commands: &commands,
    };
    let mut all = checks::budgets(&manifest.budgets, &inputs);
    all.extend(checks::structure(&manifest.structure, &inputs));
    all.extend(checks::probes(&images));
    all.extend(checks::hardening(&images, &|variant| {
        manifest.variants[variant].hardened
    }));
    all.extend(run_checks);
    crate::report::describe_all(&mut all);
    let facts = engine.facts().await?;
    Ok(Report {
        schema: model::SCHEMA,
        ok: all.iter().all(|c| c.ok),
        repository: manifest.repository.clone(),
        engine: facts.summary(),
        engine_info: Some(model::EngineInfo {
            version: facts.version,
            api_version: facts.api_version,
            image_store: facts.image_store,
            storage_driver: facts.storage_driver,
            os: facts.os,
            arch: facts.arch,
            endpoint: facts.endpoint,
        }),
        images,
        checks: all,
        apps: Vec::new(),
    })
}

/// The analysis of an image: from the cache when its ID was analysed before, otherwise from its
/// export, where the layers the cache knows are only drained.
async fn analyze(
    analyzer: &analysis::Analyses,
    engine: &Engine,
    tag: &str,
    id: &str,
    progress: &Progress,
) -> Result<Analysis> {
    let phase = progress.phase(&format!("analyse {tag}: export and read the layers"));
    let analysis = analyzer.image(engine, tag, id).await?;
    let cached = analysis.layers.iter().filter(|l| l.cached).count();
    phase.finish(&format!(
        "analysed {tag}: {} files, {cached} of {} layers from the cache",
        analysis.file_count,
        analysis.layers.len()
    ));
    Ok(analysis)
}
