//! `cargo xtask build-images`: ensures the bases, then builds each variant through the Engine API
//! with the classic builder, from one context tar that honours `.dockerignore`, and tags it
//! `repository:variant`.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result};
use xshell::cmd;

use crate::bases;
use crate::build_context;
use crate::build_records::{Record, Records};
use crate::ctx::Ctx;
use crate::engine::{BuildEvent, BuildSpec, Built, Engine};
use crate::ids::short_id;
use crate::labels;
use crate::manifest::{BuildArgs, Manifest};
use crate::report::progress::Progress;

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Build only this variant (repeatable; default: every variant of the manifest).
    #[arg(long = "variant", value_name = "NAME")]
    pub variants: Vec<String>,
    /// Build every step again instead of taking it from the build cache.
    #[arg(long)]
    pub no_cache: bool,
}

/// Whether the build cache is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    Use,
    Ignore,
}

/// Which variants to build and how.
pub struct Plan {
    pub variants: Vec<String>,
    pub cache: Cache,
}

impl Plan {
    pub fn new(manifest: &Manifest, args: &Args) -> Result<Plan> {
        Ok(Plan {
            variants: manifest.select(&args.variants)?,
            cache: if args.no_cache {
                Cache::Ignore
            } else {
                Cache::Use
            },
        })
    }
}

pub async fn run(ctx: &Ctx, manifest: &Manifest, engine: &Engine, args: Args) -> Result<()> {
    let plan = Plan::new(manifest, &args)?;
    let progress = Progress::new(ctx.style);
    let _lock = engine
        .exclusive("build-images", |holder| progress.waiting_for(holder))
        .await?;
    // A signal stops the build, and what it made so far goes.
    engine
        .guarded(build_all(ctx, engine, manifest, &plan, &progress))
        .await?;
    Ok(())
}

/// Builds the planned variants in manifest order and returns what each build made.
pub async fn build_all(
    ctx: &Ctx,
    engine: &Engine,
    manifest: &Manifest,
    plan: &Plan,
    progress: &Progress,
) -> Result<BTreeMap<String, Built>> {
    Ok(build_all_on_bases(ctx, engine, manifest, plan, progress)
        .await?
        .built)
}

/// What [`build_all_on_bases`] made, and the base images it built on.
pub struct Builds {
    pub built: BTreeMap<String, Built>,
    /// Each base argument and the image it resolved to: the official one, or a local stand-in.
    pub bases: BuildArgs,
}

/// [`build_all`], also saying which base image each base argument resolved to.
pub async fn build_all_on_bases(
    ctx: &Ctx,
    engine: &Engine,
    manifest: &Manifest,
    plan: &Plan,
    progress: &Progress,
) -> Result<Builds> {
    let bases = bases::ensure_for_build(ctx, engine, manifest, progress).await?;
    let site = Site {
        ctx,
        engine,
        manifest,
        progress,
    };
    build_on(&site, plan, bases).await
}

/// What every build of one manifest works with.
pub struct Site<'a> {
    pub ctx: &'a Ctx,
    pub engine: &'a Engine,
    pub manifest: &'a Manifest,
    pub progress: &'a Progress,
}

/// Builds the plan's variants, in its order, on bases already made (`bases::ensure_for_build`).
/// Builds of different manifests may run at once: they share only their bases.
pub async fn build_on(site: &Site<'_>, plan: &Plan, bases: BuildArgs) -> Result<Builds> {
    let Site {
        ctx,
        engine,
        manifest,
        progress,
    } = *site;
    let provenance = provenance(ctx, manifest)?;
    let revision = provenance.revision.clone();
    // The crates of each package a Dockerfile builds, asked of cargo once per package.
    let mut crates: BTreeMap<String, Option<String>> = BTreeMap::new();

    let mut built = BTreeMap::new();
    for name in &plan.variants {
        let variant = &manifest.variants[name];
        let tag = manifest.tag(name);
        let dockerfile = manifest.context.join(&variant.dockerfile);
        let text = std::fs::read_to_string(&dockerfile)
            .with_context(|| format!("read {}", dockerfile.display()))?;
        let build_args = declared_args(&text, &bases, &revision);
        // One context per variant, holding its own Dockerfile only: the engine drops that file
        // from what `COPY . .` sees (`.dockerignore` excludes it), but it would not drop the
        // Dockerfile of another variant, and the cache key would change with the selection.
        let crates_label = match crate::crates::built_package(&text) {
            Some(package) => crates
                .entry(package.clone())
                .or_insert_with(|| {
                    match crate::crates::locked_crates(ctx, &manifest.context, &package) {
                        Ok(list) => Some(crate::crates::label_value(&list)),
                        Err(err) => {
                            progress.note(&format!(
                                "the crates of {package} are not labelled on its images: {err:#}"
                            ));
                            None
                        }
                    }
                })
                .clone(),
            None => None,
        };
        let description = describe(manifest, name);
        let mut labels = labels::variant(&tag, name, &description, &provenance);
        if let Some(value) = crates_label {
            labels.insert(labels::LABEL_CRATES.to_string(), value);
        }
        // The labels go into the Dockerfile the engine receives, as one step, when the context
        // leaves the Dockerfile out of what COPY sees (so that its text is in no cache key);
        // otherwise through the build API, one step per label.
        let labelled = if build_context::excludes(&manifest.context, &variant.dockerfile)? {
            crate::dockerfile::with_labels(&text, variant.target.as_deref(), &labels)
        } else {
            None
        };
        let context_tar = {
            let dir = manifest.context.clone();
            let dockerfile = variant.dockerfile.clone();
            let labelled = labelled.clone();
            tokio::task::spawn_blocking(move || {
                let replaced = labelled
                    .as_deref()
                    .map(|text| (dockerfile.as_str(), text.as_bytes()));
                build_context::tar_with(&dir, &[dockerfile.as_str()], replaced)
            })
            .await?
            .context("pack the build context")?
        };
        let api_labels = if labelled.is_some() {
            BTreeMap::new()
        } else {
            labels
        };
        let spec = BuildSpec {
            context_tar,
            dockerfile: &variant.dockerfile,
            tag: &tag,
            target: variant.target.as_deref(),
            build_args: &build_args,
            labels: &api_labels,
            no_cache: plan.cache == Cache::Ignore,
        };
        // The image the tag names before the build: with no record of the build that made it
        // (a fresh checkout, an engine kept across checkouts), it is what the build supersedes.
        let before = engine.image(&tag).await?.map(|image| image.id);
        let started = Instant::now();
        let bar = progress.steps(&format!("build {tag}"));
        let mut on = |event: BuildEvent| match event {
            BuildEvent::Step {
                number,
                total,
                instruction,
            } => bar.step(number, total, &instruction),
            BuildEvent::Output(line) => bar.output(&line),
            _ => {}
        };
        let result = engine.build(spec, &mut on).await;
        match result {
            Ok(done) => {
                let removed = forget_superseded(ctx, engine, &tag, &done, before).await?;
                let how = if done.cached == done.steps && done.steps > 0 {
                    "up to date, every step from the cache".to_string()
                } else {
                    format!("{} of {} steps from the cache", done.cached, done.steps)
                };
                let superseded = if removed > 0 {
                    format!("; removed {removed} superseded image(s)")
                } else {
                    String::new()
                };
                bar.finish(&format!(
                    "built {tag} {} ({how}) in {:.1} s{superseded}",
                    short_id(&done.id),
                    started.elapsed().as_secs_f64()
                ));
                built.insert(name.clone(), done);
            }
            Err(err) => {
                bar.fail(&format!("build {tag} failed"));
                return Err(err).with_context(|| format!("build image {name}"));
            }
        }
    }
    let removed = name_stage_ends(engine, manifest, &plan.variants, &built)
        .await
        .context("name the stage ends the builds keep")?;
    if removed > 0 {
        progress.note(&format!(
            "{}: removed {removed} superseded image(s) of build stages the images copy from",
            manifest.repository
        ));
    }
    Ok(Builds { built, bases })
}

/// Names the stage ends the builds left untagged and without a child (a `test` stage the image
/// only copies from): they are the next build's cache, and unnamed they would show as `<none>`
/// images, like the pile of superseded ones the records prevent. Only those: a stage end that
/// another variant's image builds on (`slim`, `distroless`) has a child and needs no name. A
/// later build whose stage end differs takes the tag, and the old one goes: returns how many
/// images went with it.
async fn name_stage_ends(
    engine: &Engine,
    manifest: &Manifest,
    order: &[String],
    built: &BTreeMap<String, Built>,
) -> Result<usize> {
    let dangling: Vec<String> = engine
        .labelled_images()
        .await?
        .into_iter()
        .filter(|(_, tags, _)| tags.iter().all(|tag| tag == "<none>:<none>"))
        .map(|(id, ..)| short_id(&id).to_string())
        .collect();
    let mut named = Vec::new();
    let mut removed = 0;
    // In the manifest's order, so that a stage end several variants share is named after the
    // first of them (`multistage-stage-test`, not `distroless-stage-test`).
    for (variant, done) in order.iter().filter_map(|v| Some((v, built.get(v)?))) {
        for end in &done.stage_ends {
            let id = short_id(&end.id).to_string();
            if dangling.contains(&id) && !named.contains(&id) {
                let tag = stage_tag(variant, &end.stage);
                let name = format!("{}:{tag}", manifest.repository);
                let old = engine.image(&name).await?.map(|image| image.id);
                engine
                    .tag_stage_end(&id, &manifest.repository, &tag)
                    .await?;
                // The stage end the tag named before is untagged now: it goes, with the step
                // images under it that nothing else uses (a build record may have removed them
                // already; without one, nothing else would).
                if let Some(old) = old.filter(|old| !old.contains(&id)) {
                    removed += engine.remove_if_untagged(&old).await;
                }
                named.push(id);
            }
        }
    }
    Ok(removed)
}

/// The build arguments a Dockerfile declares, taken from the bases and the revision. Only the
/// declared ones are passed: the engine warns about any other.
pub(crate) fn declared_args(dockerfile: &str, bases: &BuildArgs, revision: &str) -> BuildArgs {
    let mut args = BuildArgs::new();
    for line in dockerfile.lines() {
        let Some(rest) = line.trim().strip_prefix("ARG ") else {
            continue;
        };
        let name = rest.split('=').next().unwrap_or("").trim();
        if let Some(image) = bases.get(name) {
            args.insert(name.to_string(), image.clone());
        } else if name == "REVISION" && !revision.is_empty() {
            args.insert(name.to_string(), revision.to_string());
        }
    }
    args
}

/// The tag of a stage's end that a variant's build keeps as its cache, beside the variant's own:
/// `multistage-stage-test` in the variant's repository, so that `docker images` names every
/// image the tool keeps, and `clean` removes it with the repository.
pub(crate) fn stage_tag(variant: &str, stage: &str) -> String {
    let tag = format!("{variant}-stage-{stage}");
    // A tag is at most 128 characters of [A-Za-z0-9_.-]; a stage name is a Dockerfile word.
    tag.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect()
}

/// Records what `tag`'s build is made of and removes the images of its last build that nothing
/// uses any more; returns how many went.
async fn forget_superseded(
    ctx: &Ctx,
    engine: &Engine,
    tag: &str,
    done: &Built,
    before: Option<String>,
) -> Result<usize> {
    let records = Records::new(&ctx.out_dir());
    let record = Record {
        id: done.id.clone(),
        images: done.images.clone(),
    };
    let mut removed = 0;
    if records.read(tag).is_some() {
        for id in &records.superseded(tag, &record) {
            if engine.remove_superseded(id).await {
                removed += 1;
            }
        }
    } else if let Some(old) = before.filter(|old| *old != done.id) {
        // No record says what the old build was made of: the engine's own pruning removes the
        // old image, if the tag was its last and nothing builds on it, with the untagged step
        // images under it that nothing else uses. The cache the new build took keeps its
        // children, so it stays.
        removed += engine.remove_if_untagged(&old).await;
    }
    records.write(tag, &record).context("record the build")?;
    Ok(removed)
}

/// What a variant's image is, in a line: the manifest's description and how it is built.
fn describe(manifest: &Manifest, name: &str) -> String {
    let variant = &manifest.variants[name];
    let how = match &variant.target {
        Some(target) => format!("{} --target {target}", variant.dockerfile),
        None => variant.dockerfile.clone(),
    };
    match &manifest.description {
        Some(about) => format!("{about}: the {name} variant ({how})"),
        None => format!("The {name} variant of {} ({how})", manifest.repository),
    }
}

/// The commit being built (short), when the project is a git checkout; empty otherwise.
pub(crate) fn revision(ctx: &Ctx) -> String {
    git(ctx, &["rev-parse", "--short=12", "HEAD"])
}

/// What `git ARGS` prints, trimmed; empty outside a git checkout or when git fails.
fn git(ctx: &Ctx, args: &[&str]) -> String {
    let sh = &ctx.sh;
    cmd!(sh, "git {args...}")
        .quiet()
        .ignore_stderr()
        .read()
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The commit being built, its time, the checkout's origin (each empty outside a git checkout)
/// and the app's version from the manifest's `version_from`.
fn provenance(ctx: &Ctx, manifest: &Manifest) -> Result<labels::Provenance> {
    let version = match &manifest.version_from {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("read the version from {}", file.display()))?;
            let name = file.file_name().unwrap_or_default().to_string_lossy();
            labels::version_in(&name, &text).with_context(|| {
                format!(
                    "{} names no version (version_from of {})",
                    file.display(),
                    manifest.path.display()
                )
            })?
        }
        None => String::new(),
    };
    Ok(labels::Provenance {
        revision: revision(ctx),
        created: git(ctx, &["log", "-1", "--format=%cI"]),
        // Only a URL says where the sources are; a clone of a local path does not.
        source: Some(git(ctx, &["remote", "get-url", "origin"]))
            .filter(|url| url.contains("://") || url.starts_with("git@"))
            .unwrap_or_default(),
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_end_is_named_after_its_variant_and_stage() {
        assert_eq!(stage_tag("multistage", "test"), "multistage-stage-test");
        assert_eq!(stage_tag("slim", "2"), "slim-stage-2");
        assert_eq!(stage_tag("v", "a/b"), "v-stage-a_b");
        assert_eq!(stage_tag("v", &"x".repeat(200)).len(), 128);
    }

    #[test]
    fn only_declared_arguments_are_passed() {
        let bases = BuildArgs::from([
            (
                "RUST_IMAGE".to_string(),
                "webtest-base/rust:1.95.0".to_string(),
            ),
            ("SLIM_IMAGE".to_string(), "x".to_string()),
        ]);
        let text = "ARG RUST_IMAGE=rust:1.95\nFROM ${RUST_IMAGE}\n  ARG REVISION=\nARG OTHER\n";
        let args = declared_args(text, &bases, "abc123");
        assert_eq!(
            args,
            BuildArgs::from([
                (
                    "RUST_IMAGE".to_string(),
                    "webtest-base/rust:1.95.0".to_string()
                ),
                ("REVISION".to_string(), "abc123".to_string())
            ])
        );
        assert!(!declared_args(text, &bases, "").contains_key("REVISION"));
    }
}
