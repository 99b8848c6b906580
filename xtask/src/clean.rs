//! `cargo xtask clean`: removes every container and image that carries the project's label, and
//! nothing else. The local bases stay unless `--bases` is given, because assembling them again
//! takes a download.

use anyhow::{bail, Result};

use crate::ctx::Ctx;
use crate::engine::Engine;
use crate::labels::LABEL_BASE;
use crate::report::progress::Progress;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remove the local base images too.
    #[arg(long)]
    pub bases: bool,
}

/// Whether the local bases go too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    KeepBases,
    Everything,
}

pub async fn run(ctx: &Ctx, engine: &Engine, args: Args) -> Result<()> {
    let scope = if args.bases {
        Scope::Everything
    } else {
        Scope::KeepBases
    };
    let progress = Progress::new(ctx.style);
    let _lock = engine
        .exclusive("clean", |holder| progress.waiting_for(holder))
        .await?;
    let containers = engine.labelled_containers().await?;
    for id in &containers {
        engine.remove(id).await?;
    }
    let mut removed = 0;
    let mut kept = Vec::new();
    // Removing an image also removes its untagged parents, and an image that still has children
    // cannot go yet: so remove what can go, list again, and stop when a round removes nothing.
    loop {
        let images = engine.labelled_images().await?;
        let mut progressed = false;
        kept.clear();
        for (id, tags, labels) in images {
            let is_base = labels.get(LABEL_BASE).is_some_and(|tag| tags.contains(tag));
            if is_base && scope == Scope::KeepBases {
                kept.extend(tags);
                continue;
            }
            // By ID, so that every tag of the image goes with it.
            if engine.remove_image(&id).await.is_ok() {
                removed += 1;
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    let left: Vec<_> = engine
        .labelled_images()
        .await?
        .into_iter()
        .filter(|(_, tags, labels)| {
            !(scope == Scope::KeepBases
                && labels.get(LABEL_BASE).is_some_and(|tag| tags.contains(tag)))
        })
        .collect();
    if !left.is_empty() {
        let ids: Vec<_> = left
            .iter()
            .map(|(id, tags, _)| format!("{id} {tags:?}"))
            .collect();
        bail!("these labelled images could not be removed (a container of another project may use them): {}", ids.join(", "));
    }
    progress.note(&format!(
        "removed {} container(s) and {removed} image(s) with the label io.webtest.xtask=1",
        containers.len()
    ));
    if !kept.is_empty() {
        kept.sort();
        progress.note(&format!(
            "kept the local bases {} (remove them too with --bases)",
            kept.join(", ")
        ));
    }
    Ok(())
}
