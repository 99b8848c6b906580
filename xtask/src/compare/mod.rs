//! `cargo xtask compare`: builds what changed, measures every variant (size, layers, compressed
//! size, wasted space, files, config, posture), runs each variant that runs (ready time over
//! several starts, probes, memory, a short load, stop time), evaluates every check, and writes
//! the report. Every container it starts is removed, however the run ends.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::StreamExt;

use crate::analysis::{self, Analysis};
use crate::build;
use crate::checks::{self, CommandOutcome};
use crate::ctx::Ctx;
use crate::edit_cost;
use crate::engine::{Engine, RunSpec, Security};
use crate::error::ChecksFailed;
use crate::labels;
use crate::manifest::{BuildArgs, Manifest, StructureTest};
use crate::model::{
    self, Check, ImageReport, LoadReport, ProbeResult, Report, RunReport, RunSecurity,
};
use crate::render;
use crate::report::progress::Progress;
use crate::runner::{self, median, percentile, NotReady, Service, STOP_GRACE};
use crate::sbom;
use crate::transfer;

mod plan;

pub use plan::{Args, Build, Format, Plan};

/// How long a structure test's command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

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
    let mut resolved = match plan.build {
        Build::Changed => build_apps(ctx, engine, apps, progress)
            .await?
            .into_iter()
            .map(Some)
            .collect(),
        Build::Skip => vec![None; apps.len()],
    };
    let mut parts = Vec::new();
    for (manifest, resolved) in apps.iter().zip(resolved.drain(..)) {
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

    // The static figures: inspect, history, and the analysis of the exported image.
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
    let analyzer = analysis::Analyses::new(&analysis::Cache::under(&ctx.out_dir()))?;
    let analyses = futures_util::future::try_join_all(
        facts
            .iter()
            .map(|(_, tag, image, _)| analyze(&analyzer, engine, tag, &image.id, progress)),
    )
    .await?;
    let analyses: HashMap<String, Analysis> = facts
        .iter()
        .map(|(name, ..)| name.clone())
        .zip(analyses)
        .collect();

    let mut images: Vec<ImageReport> = facts
        .iter()
        .map(|(name, tag, image, history)| {
            analysis::image_report(name, tag, image, history, &analyses[name])
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

    // The registry round trip: push, pull back, start; before the runs, which share the port.
    let subjects: Vec<transfer::Subject> = images
        .iter()
        .map(|image| {
            let variant = &manifest.variants[&image.variant];
            transfer::Subject {
                variant: &image.variant,
                tag: &image.tag,
                id: &image.id,
                start: variant.run.then_some(security_of(variant)),
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
    };
    let mut transfers = transfer::measure(&site, &plan.registry, &subjects).await?;
    drop(subjects);
    for image in images.iter_mut() {
        image.transfer = transfers.remove(&image.variant);
    }

    // The runs, one variant at a time, since they share the host port.
    let runs = Runs {
        engine,
        client: runner::http_client(Duration::from_secs(5))?,
        manifest,
        starts: plan.starts,
    };
    let mut run_checks = Vec::new();
    for image in images.iter_mut() {
        if !manifest.variants[&image.variant].run {
            continue;
        }
        let phase = progress.phase(&format!(
            "run {}: {} start(s) on {}",
            image.tag,
            plan.starts,
            std::net::SocketAddr::new(plan.probe_host, plan.port)
        ));
        let variant = &manifest.variants[&image.variant];
        let service = Service {
            image: &image.tag,
            publish: plan.publish(manifest),
            security: security_of(variant),
            tmpfs: &variant.tmpfs,
            ready_timeout: Duration::from_secs(manifest.run.ready_timeout_secs),
            probe_host: plan.probe_host,
        };
        match run_variant(&runs, &service).await {
            Ok(run) => {
                phase.finish(&format!(
                    "run {}: ready in {} ms, stopped in {} ms, probes {}",
                    image.tag,
                    run.ready_ms,
                    run.stop_ms,
                    if run.probes_ok { "ok" } else { "FAILED" }
                ));
                image.run = Some(run);
            }
            Err(err) => {
                phase.fail(&format!("run {} failed: {err:#}", image.tag));
                if let Some(not_ready) = err.downcast_ref::<NotReady>() {
                    progress.note(&crate::report::container_logs(&image.tag, &not_ready.logs));
                }
                // An error is already words: the engine's or the runner's message.
                run_checks.push(Check {
                    name: format!("run {}", image.variant),
                    image: image.variant.clone(),
                    detail: format!("{err:#}"),
                    ..Check::default()
                });
            }
        }
    }

    // The structure tests that run a command.
    let mut commands: HashMap<usize, CommandOutcome> = HashMap::new();
    for (index, test) in manifest.structure.iter().enumerate() {
        if let StructureTest::Command { image, run, .. } = test {
            let tag = manifest.tag(image);
            let phase = progress.phase(&format!("command in {tag}: {}", run.join(" ")));
            let labels = labels::container();
            // A command inspects the image as it is, so it runs with the engine's defaults.
            let spec = RunSpec {
                image: &tag,
                publish: None,
                entrypoint: Some(vec![run[0].clone()]),
                cmd: Some(run[1..].to_vec()),
                labels: &labels,
                security: Security::Default,
                tmpfs: &[],
            };
            let outcome = engine
                .run_to_end(&spec, COMMAND_TIMEOUT)
                .await
                .map(|f| (f.exit_code, f.output))
                .map_err(|e| format!("{e:#}"));
            phase.finish(&format!("command in {tag}: {}", run.join(" ")));
            commands.insert(index, outcome);
        }
    }

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

/// What only the first start of a variant measures.
struct FirstStart {
    probes: Vec<ProbeResult>,
    /// Memory in use when idle, then after the load.
    idle: u64,
    after: Option<u64>,
    load: Option<LoadReport>,
    security: RunSecurity,
}

/// What every run of the variants shares: the engine, one HTTP client, the manifest's probes and
/// load, and how many times each variant starts.
struct Runs<'a> {
    engine: &'a Engine,
    client: reqwest::Client,
    manifest: &'a Manifest,
    starts: u32,
}

/// How a variant's container runs: hardened when the manifest says so, else with the engine's
/// defaults. One rule for the registry round trip's start and for the runs.
fn security_of(variant: &crate::manifest::Variant) -> Security {
    if variant.hardened {
        Security::Hardened
    } else {
        Security::Default
    }
}

/// Starts a variant `runs.starts` times; the first start is also probed, measured and loaded.
async fn run_variant(runs: &Runs<'_>, service: &Service<'_>) -> Result<RunReport> {
    let Runs {
        engine,
        client,
        manifest,
        starts,
    } = runs;
    let base = service.base();
    let mut ready = Vec::new();
    let mut stops = Vec::new();
    let mut first: Option<FirstStart> = None;
    for _ in 0..*starts {
        let runner::Started {
            id,
            ready: ready_in,
        } = runner::start(engine, client, service).await?;
        let measured = async {
            let ready_ms = ready_in.as_millis() as u64;
            if first.is_none() {
                let facts = engine.container(&id).await?;
                let probes = probe(client, &base, manifest).await;
                let idle = engine.memory(&id).await?;
                let load = if manifest.run.load.requests > 0 {
                    Some(load(client, &base, manifest).await)
                } else {
                    None
                };
                let after = if load.is_some() {
                    Some(engine.memory(&id).await?)
                } else {
                    None
                };
                first = Some(FirstStart {
                    probes,
                    idle,
                    after,
                    load,
                    security: RunSecurity {
                        read_only_rootfs: facts.read_only_rootfs,
                        cap_drop: facts.cap_drop,
                        no_new_privileges: facts.no_new_privileges,
                        user: facts.user,
                        published: facts.published,
                        tmpfs: facts.tmpfs,
                    },
                });
            }
            let stop_ms = engine.stop(&id, STOP_GRACE).await?.as_millis() as u64;
            Ok::<_, anyhow::Error>((ready_ms, stop_ms))
        }
        .await;
        let removed = engine.remove(&id).await;
        let (ready_ms, stop_ms) = measured?;
        removed?;
        ready.push(ready_ms);
        stops.push(stop_ms);
    }
    let FirstStart {
        probes,
        idle,
        after,
        load,
        security,
    } = first.context("the variant never started")?;
    Ok(RunReport {
        ready_ms: median(&ready),
        ready_samples_ms: ready,
        stop_ms: median(&stops),
        memory_bytes: idle,
        memory_after_load_bytes: after,
        probes_ok: probes.iter().all(|p| p.ok),
        probes,
        load,
        security,
    })
}

async fn probe(client: &reqwest::Client, base: &str, manifest: &Manifest) -> Vec<ProbeResult> {
    let mut results = Vec::new();
    for probe in &manifest.probe {
        let url = format!("{base}{}", probe.path);
        let answer = match client.get(&url).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                response
                    .text()
                    .await
                    .map(|body| (status, body))
                    .map_err(|e| e.to_string())
            }
            Err(err) => Err(err.to_string()),
        };
        let result = match answer {
            Err(err) => ProbeResult {
                path: probe.path.clone(),
                expected_status: probe.status,
                status: None,
                ok: false,
                detail: err,
            },
            Ok((status, body)) => {
                let mut problems = Vec::new();
                if status != probe.status {
                    problems.push(format!("status {status}, expected {}", probe.status));
                }
                if let Some(needle) = &probe.body_contains {
                    if !body.contains(needle.as_str()) {
                        problems.push(format!("body lacks `{needle}`"));
                    }
                }
                ProbeResult {
                    path: probe.path.clone(),
                    expected_status: probe.status,
                    status: Some(status),
                    ok: problems.is_empty(),
                    detail: problems.join(", "),
                }
            }
        };
        results.push(result);
    }
    results
}

/// A burst of requests at a fixed concurrency, with one connection pool as a real client has.
async fn load(client: &reqwest::Client, base: &str, manifest: &Manifest) -> LoadReport {
    let spec = &manifest.run.load;
    let url = format!("{base}{}", spec.path);
    let started = Instant::now();
    let results: Vec<Option<f64>> = futures_util::stream::iter(0..spec.requests)
        .map(|_| {
            let request = client.get(&url);
            async move {
                let sent = Instant::now();
                match request.send().await {
                    Ok(response) if response.status().is_success() => response
                        .bytes()
                        .await
                        .ok()
                        .map(|_| sent.elapsed().as_secs_f64() * 1000.0),
                    _ => None,
                }
            }
        })
        .buffer_unordered(spec.concurrency as usize)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut latencies: Vec<f64> = results.iter().flatten().copied().collect();
    latencies.sort_by(f64::total_cmp);
    LoadReport {
        path: spec.path.clone(),
        requests: spec.requests,
        concurrency: spec.concurrency,
        errors: (results.len() - latencies.len()) as u64,
        duration_ms: elapsed.as_secs_f64() * 1000.0,
        requests_per_second: spec.requests as f64 / elapsed.as_secs_f64().max(1e-9),
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
    }
}
