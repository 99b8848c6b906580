//! `cargo xtask stress`, the measurement: the service under abuse, in a container of one
//! variant (the multistage one unless `--variant` says otherwise) started through the runner,
//! published on 127.0.0.1 only. Four phases, each with its own figures:
//!
//! 1. **load** ([`load`]): many keep-alive connections on `GET /` for a fixed time;
//! 2. **garbage** ([`garbage`], from the [`corpus`]): thousands of malformed requests, each on
//!    its own connection, classified by what the server answered; then the container must
//!    still be the same, running one;
//! 3. **idle** ([`idle`]): hundreds of connections that send nothing or half a request head,
//!    held open while `GET /healthz` must still answer, then counted as the server closes them;
//! 4. **stop under load** ([`stop`]): a fresh container is stopped while requests are in
//!    flight, which must all finish.
//!
//! [`measure`] returns the figures and [`decide`] the verdicts on them; figures are measured,
//! never asserted as timings. Building the image, writing `stress.json` and wording it all for
//! people is the command's (`commands::stress`) and the report's business, not this module's.

pub mod corpus;
mod garbage;
mod idle;
mod load;
pub mod plan;
mod probe;
mod stop;
mod verdicts;

use anyhow::{Context, Result};

use crate::engine::{Engine, Security};
use crate::model::stress::Figures;
use crate::runner::{self, Watch};

pub use plan::{Args, Build, Plan};
pub use verdicts::decide;

/// Runs the four phases against the plan's image, which must exist, on the port the plan names
/// (no longer 0). Every container started is removed before this returns, however it ends.
pub async fn measure(engine: &Engine, plan: &Plan, watch: &dyn Watch) -> Result<Figures> {
    let image = engine.image(&plan.image).await?.with_context(|| {
        format!(
            "there is no image {}: build it with `cargo xtask build-images --variant {}` or run stress without --no-build",
            plan.image, plan.variant
        )
    })?;
    let client = runner::http_client(load::REQUEST_TIMEOUT)?;

    // Phases 1 to 3 share one container, so that the idle phase meets the server as the
    // garbage left it.
    let id = start(engine, &client, plan, watch).await?;
    let abused = async {
        let load = load::phase(engine, &id, plan, watch).await?;
        let garbage = garbage::phase(engine, &id, &client, plan, watch).await?;
        let idle = idle::phase(engine, &id, &client, plan, watch).await?;
        Ok::<_, anyhow::Error>((load, garbage, idle))
    }
    .await;
    let removed = engine.remove(&id).await;
    let (load, garbage, idle) = abused?;
    removed?;

    // Phase 4 needs a container that has seen nothing yet: a stop is a one-way trip.
    let id = start(engine, &client, plan, watch).await?;
    let stopped = stop::phase(engine, &id, plan, watch).await;
    let removed = engine.remove(&id).await;
    let stop = stopped?;
    removed?;

    Ok(Figures {
        image: plan.image.clone(),
        image_id: image.id,
        engine: engine.describe().await?,
        security: match plan.security {
            Security::Hardened if !plan.tmpfs.is_empty() => format!(
                "hardened (read-only root filesystem with a tmpfs at {}, every capability \
                 dropped, no-new-privileges)",
                plan.tmpfs.join(", ")
            ),
            Security::Hardened => {
                "hardened (read-only root filesystem, every capability dropped, no-new-privileges)"
                    .into()
            }
            Security::Default => "the engine's defaults".into(),
        },
        load,
        garbage,
        idle,
        stop,
    })
}

/// Starts a container of the plan's image through the runner and waits until it answers; a
/// container that never does is removed, and its logs explain the failure (`NotReady`).
async fn start(
    engine: &Engine,
    client: &reqwest::Client,
    plan: &Plan,
    watch: &dyn Watch,
) -> Result<String> {
    let how = match plan.security {
        Security::Hardened => " hardened",
        Security::Default => "",
    };
    watch.begin(&format!("start {}{how} on {}", plan.image, plan.addr()));
    match runner::start(engine, client, &plan.service()).await {
        Ok(started) => {
            watch.done(&format!(
                "started {} ({}) in {} ms",
                plan.image,
                &started.id[..12.min(started.id.len())],
                started.ready.as_millis()
            ));
            Ok(started.id)
        }
        Err(err) => {
            watch.failed(&format!("start {}: {err:#}", plan.image));
            Err(err)
        }
    }
}
