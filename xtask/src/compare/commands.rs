//! The structure tests that run a command in an image (`command:` in the manifest): each runs
//! in a container of its own with the engine's defaults, to its end or a timeout.
//!
//! What a command printed and how it exited is kept by the image's ID, the engine and the
//! command, like the runs' figures, so that a `compare` with nothing changed starts no
//! container for them; `--fresh` runs them again. A command the engine could not run is never
//! kept.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result};

use super::App;
use crate::checks::CommandOutcome;
use crate::engine::{RunSpec, Security};
use crate::figure_cache::FigureCache;
use crate::labels;
use crate::manifest::StructureTest;
use crate::model::ImageReport;

/// How long a structure test's command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Bumped when what is kept of a command changes.
const FORMAT: &str = "v1";

/// The outcome of every `command:` test of the manifest, by the test's index.
pub(super) async fn run_all(
    app: &App<'_>,
    images: &[ImageReport],
) -> Result<HashMap<usize, CommandOutcome>> {
    let (engine, manifest, plan, progress) = (app.engine, app.manifest, app.plan, app.progress);
    let cache: FigureCache<(i64, String)> =
        FigureCache::under(&app.ctx.out_dir(), "command-cache", FORMAT).fresh(plan.fresh);
    let mut commands = HashMap::new();
    for (index, test) in manifest.structure.iter().enumerate() {
        let StructureTest::Command { image, run, .. } = test else {
            continue;
        };
        let tag = manifest.tag(image);
        let shown = run.join(" ");
        let id = images
            .iter()
            .find(|i| &i.variant == image)
            .map(|i| i.id.as_str())
            .with_context(|| format!("no image {tag} was measured"))?;
        let key = format!("{id}\n{}\n{run:?}", engine.endpoint());
        if let Some(outcome) = cache.get(&key) {
            progress.note(&format!(
                "command in {tag}: {shown}: unchanged image, outcome from the cache"
            ));
            commands.insert(index, Ok(outcome));
            continue;
        }
        let phase = progress.phase(&format!("command in {tag}: {shown}"));
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
        phase.finish(&format!("command in {tag}: {shown}"));
        if let Ok(finished) = &outcome {
            cache
                .put(&key, finished)
                .with_context(|| format!("keep the outcome of a command in {tag}"))?;
        }
        commands.insert(index, outcome);
    }
    Ok(commands)
}
