//! `cargo xtask clean`: removes what the tool made for the manifest, and nothing else: the
//! containers it started (they carry a label only the tool sets when it creates a container, so
//! a container a user started by hand from a webtest image is never one of them), the images of
//! the manifest's repository, and with `--bases` the local bases of its recipes. It says what it
//! left and why.

use anyhow::Result;

use crate::ctx::Ctx;
use crate::engine::Engine;
use crate::labels::LABEL_BASE;
use crate::manifest::Manifest;
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

/// What happens to one labelled image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// A tag of the manifest's repository.
    Remove,
    /// A local base of the manifest's recipes, kept unless `--bases`.
    Base,
    /// Anything else: another repository's image, or an untagged one (a build stage's image
    /// that the next build takes from the cache).
    Other,
}

/// The repository of `repo:tag` (a registry's port is part of the repository).
fn repository_of(tag: &str) -> &str {
    tag.rsplit_once(':').map_or(tag, |(repo, _)| repo)
}

/// What becomes of an image with `tags` and `labels` under `scope`.
pub fn fate(
    manifest: &Manifest,
    tags: &[String],
    labels: &std::collections::BTreeMap<String, String>,
) -> Fate {
    let repository = |tag: &str| repository_of(tag).to_string();
    let base_repositories: Vec<&str> = manifest
        .recipes
        .values()
        .map(|r| r.image.as_str())
        .collect();
    if labels.get(LABEL_BASE).is_some_and(|tag| tags.contains(tag))
        && tags
            .iter()
            .any(|t| base_repositories.contains(&repository(t).as_str()))
    {
        return Fate::Base;
    }
    if tags.iter().any(|t| repository(t) == manifest.repository) {
        return Fate::Remove;
    }
    Fate::Other
}

pub async fn run(ctx: &Ctx, manifest: &Manifest, engine: &Engine, args: Args) -> Result<()> {
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
    let mut kept_bases = Vec::new();
    let mut failed = Vec::new();
    let mut others = 0;
    for (id, tags, labels) in engine.labelled_images().await? {
        match (fate(manifest, &tags, &labels), scope) {
            (Fate::Base, Scope::KeepBases) => kept_bases.extend(tags),
            (Fate::Remove, _) => {
                // Tag by tag, and only the repository's own: an image another repository also
                // names (the same stage end built for the tests' repository, say) keeps that
                // name, and an image that another image builds on stays as its parent. The
                // last tag takes the image with it, and the untagged images of its build steps.
                let ours: Vec<&String> = tags
                    .iter()
                    .filter(|tag| repository_of(tag) == manifest.repository)
                    .collect();
                let mut result = Ok(());
                for tag in &ours {
                    result = result.and(engine.remove_tag(tag).await);
                }
                match result {
                    Ok(()) => removed += 1,
                    Err(err) => failed.push(format!(
                        "{} ({err:#})",
                        ours.iter()
                            .map(|t| t.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                }
            }
            (Fate::Base, Scope::Everything) => {
                // By ID, so that every tag of the image goes with it, and the untagged images of
                // its own build steps with it.
                match engine.remove_image(&id).await {
                    Ok(()) => removed += 1,
                    Err(err) => failed.push(format!("{} ({err:#})", tags.join(", "))),
                }
            }
            (Fate::Other, _) => others += 1,
        }
    }
    progress.note(&format!(
        "removed {} container(s) the tool started and {removed} image(s) of {}",
        containers.len(),
        manifest.repository
    ));
    if !kept_bases.is_empty() {
        kept_bases.sort();
        progress.note(&format!(
            "kept the local bases {} (remove them too with --bases)",
            kept_bases.join(", ")
        ));
    }
    if others > 0 {
        progress.note(&format!(
            "left {others} other labelled image(s): other repositories' images and build stages that later builds reuse"
        ));
    }
    if !failed.is_empty() {
        anyhow::bail!(
            "these images could not be removed (a container started by hand may use them; stop it first): {}",
            failed.join("; ")
        );
    }
    Ok(())
}
