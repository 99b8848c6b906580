//! The two questions asked of the container after each abusive phase: does `GET /healthz` still
//! answer, and is it still the same, running container?

use std::time::Instant;

use anyhow::Result;

use super::plan::Plan;
use crate::engine::{root_cause, Engine};
use crate::model::stress::{Healthz, Survival};

/// `GET /healthz` on a fresh connection: its status and latency, or why it failed.
pub async fn healthz(client: &reqwest::Client, plan: &Plan) -> Healthz {
    let sent = Instant::now();
    let answer = async {
        let response = client
            .get(format!("{}/healthz", plan.base()))
            .send()
            .await?;
        let status = response.status().as_u16();
        response.bytes().await?;
        Ok::<_, reqwest::Error>(status)
    }
    .await;
    match answer {
        Ok(status) => Healthz {
            status: Some(status),
            ms: Some(sent.elapsed().as_secs_f64() * 1000.0),
            error: None,
        },
        Err(err) => Healthz {
            error: Some(root_cause(&err)),
            ..Healthz::default()
        },
    }
}

/// Whether the container is still the running one it was. The engine restarts a container
/// only under a restart policy, which this tool never sets: a crash would leave it exited.
pub async fn survival(
    engine: &Engine,
    id: &str,
    client: &reqwest::Client,
    plan: &Plan,
) -> Result<Survival> {
    let facts = engine.container(id).await?;
    let host = &id[..12.min(id.len())];
    let greeting = match client.get(format!("{}/", plan.base())).send().await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    Ok(Survival {
        running: facts.running,
        oom_killed: facts.oom_killed,
        exit_code: facts.exit_code,
        same_container: greeting.trim_end().ends_with(host),
    })
}
