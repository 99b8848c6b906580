//! `cargo xtask stress`: plans the run, takes the engine, builds the variant when asked, lets
//! `stress` measure and decide, has `report` word the verdicts, writes `stress.json` and shows
//! the report. The exit code follows the verdicts alone.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};

use crate::build;
use crate::ctx::Ctx;
use crate::engine::Engine;
use crate::error::ChecksFailed;
use crate::manifest::Manifest;
use crate::model::stress::StressReport;
use crate::report::progress::{Phase, Progress};
use crate::runner::{self, NotReady, Watch};
use crate::stress::{self, Args, Build, Plan};

pub async fn run(ctx: &Ctx, manifest: &Manifest, engine: &Engine, args: Args) -> Result<()> {
    let plan = Plan::new(ctx, manifest, &args, engine.probe_host())?;
    let progress = Progress::new(ctx.style);
    let _lock = engine
        .exclusive("stress", |holder| progress.waiting_for(holder))
        .await?;
    // Checked once the engine is ours, since a run we waited for held the port until it ended.
    let port = runner::host_port(plan.service().publish.host_ip, plan.port)?;
    let plan = Plan { port, ..plan };
    let watch = Shown::new(&progress);
    // A signal must not leave a container behind: the work stops, then what it started goes.
    let measured = engine
        .guarded(async {
            if plan.build == Build::Changed {
                let build_plan = build::Plan {
                    variants: vec![plan.variant.clone()],
                    cache: build::Cache::Use,
                };
                build::build_all(ctx, engine, manifest, &build_plan, &progress).await?;
            }
            stress::measure(engine, &plan, &watch).await
        })
        .await;
    let figures = match measured {
        Ok(figures) => figures,
        Err(err) => {
            if let Some(not_ready) = err.downcast_ref::<NotReady>() {
                progress.note(&crate::report::container_logs(&plan.image, &not_ready.logs));
            }
            return Err(err);
        }
    };
    let verdicts = stress::decide(&figures);
    let checks = crate::report::stress_checks(&figures, &verdicts);
    let report = StressReport::new(figures, checks);
    let path = write(&plan.out, &report)?;
    print!("{}", crate::report::stress_terminal(&report, ctx.style));
    progress.note(&format!("report: {}", path.display()));
    if report.ok {
        Ok(())
    } else {
        Err(ChecksFailed.into())
    }
}

/// Writes `stress.json` into `dir`, whole and then renamed, so that a reader never sees half.
fn write(dir: &Path, report: &StressReport) -> Result<PathBuf> {
    let path = dir.join("stress.json");
    let mut text = serde_json::to_string_pretty(report).context("serialize the stress report")?;
    text.push('\n');
    crate::json_file::write_atomically(&path, text.as_bytes())?;
    Ok(path)
}

/// The phases of the measurement as the progress display shows them: one spinner at a time.
struct Shown<'a> {
    progress: &'a Progress,
    current: Mutex<Option<Phase<'a>>>,
}

impl<'a> Shown<'a> {
    fn new(progress: &'a Progress) -> Shown<'a> {
        Shown {
            progress,
            current: Mutex::new(None),
        }
    }

    fn take(&self) -> Option<Phase<'a>> {
        self.current.lock().expect("the current phase").take()
    }
}

impl Watch for Shown<'_> {
    fn begin(&self, what: &str) {
        let phase = self.progress.phase(what);
        *self.current.lock().expect("the current phase") = Some(phase);
    }

    fn done(&self, what: &str) {
        match self.take() {
            Some(phase) => phase.finish(what),
            None => self.progress.note(what),
        }
    }

    fn failed(&self, what: &str) {
        match self.take() {
            Some(phase) => phase.fail(what),
            None => self.progress.note(what),
        }
    }
}
