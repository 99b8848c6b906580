//! `compare --edit-cost`: what a one-line source change costs to rebuild, per variant. The
//! lesson claims that a multistage build reuses its dependency layer while a single-stage build
//! compiles everything again; this measures it.
//!
//! The user's tree is never touched: the build context is a tar this tool writes, so the edited
//! context is that tar with one comment line appended to the manifest's `edit:` file. Each
//! variant is built from it under a throw-away tag of its own, timed, and then everything that
//! build made (the tagged image and the stage images only it uses) is removed again, so that the
//! next variant starts from the same warm cache and nothing is left behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::bases;
use crate::build;
use crate::build_context;
use crate::ctx::Ctx;
use crate::engine::{BuildEvent, BuildSpec, Engine};
use crate::error::UsageError;
use crate::labels::{self, LABEL_VARIANT};
use crate::manifest::Manifest;
use crate::model::EditCost;
use crate::report::progress::Progress;

/// What `--edit-cost` measures, decided from the manifest before any build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The edited file, relative to the build context, `/`-separated.
    pub file: String,
    /// The line appended to it: a comment in the file's language, unique to this run so that no
    /// earlier measurement can answer from the build cache.
    pub line: String,
    pub variants: Vec<String>,
}

impl Plan {
    /// The plan for every variant of the manifest; `nonce` makes the appended line unique.
    pub fn new(manifest: &Manifest, nonce: u128) -> Result<Plan> {
        let Some(file) = &manifest.edit else {
            return Err(UsageError(format!(
                "--edit-cost needs the source file to change: add `edit: PATH` (relative to the \
                 build context, e.g. `edit: webtest/src/main.rs`) to {}",
                manifest.path.display()
            ))
            .into());
        };
        let file = file.to_string_lossy().replace('\\', "/");
        let line = format!(
            "{} edit-cost probe {nonce:x}\n",
            comment_marker(Path::new(&file))
        );
        Ok(Plan {
            file,
            line,
            variants: manifest.variants.keys().cloned().collect(),
        })
    }

    /// The tag an edited build of a variant gets: a repository of its own, so that the variant's
    /// own tag and the cache of the normal build are left alone.
    pub fn tag(manifest: &Manifest, variant: &str) -> String {
        format!("{}-edit-cost:{variant}", manifest.repository)
    }
}

/// The line comment of a source file's language, from its extension.
fn comment_marker(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "py" | "sh" | "rb" | "toml" | "yaml" | "yml" | "pl" | "r" => "#",
        "sql" | "lua" | "hs" => "--",
        "html" | "htm" | "xml" | "css" => "",
        _ => "//",
    }
}

/// The appended text for files whose comments need a closing mark.
fn appended(plan: &Plan) -> String {
    match Path::new(&plan.file).extension().and_then(|e| e.to_str()) {
        Some("html" | "htm" | "xml") => format!("<!-- {} -->\n", plan.line.trim()),
        Some("css") => format!("/* {} */\n", plan.line.trim()),
        _ => plan.line.clone(),
    }
}

/// What every edited build needs besides the variant: the bases' build arguments and the
/// revision, found once.
pub struct Inputs {
    bases: crate::manifest::BuildArgs,
    revision: String,
}

impl Inputs {
    pub async fn find(
        ctx: &Ctx,
        engine: &Engine,
        manifest: &Manifest,
        progress: &Progress,
    ) -> Result<Inputs> {
        let bases = bases::ensure_for_build(ctx, engine, manifest, progress).await?;
        Ok(Inputs {
            bases,
            revision: build::revision(ctx),
        })
    }
}

/// An edited build that is still in the engine, under [`Plan::tag`]: the caller measures it and
/// then removes it with [`Engine::remove_built`]`(&edited.tag, &edited.built.made)`.
pub struct Edited {
    pub tag: String,
    pub built: crate::engine::Built,
    pub elapsed: std::time::Duration,
    /// The instructions that ran again, in build order.
    pub rebuilt: Vec<String>,
}

/// Builds one variant from the edited context, under its throw-away tag. A failed build leaves
/// nothing behind (the engine removes what it made).
pub async fn rebuild(
    engine: &Engine,
    manifest: &Manifest,
    plan: &Plan,
    inputs: &Inputs,
    name: &str,
    progress: &Progress,
) -> Result<Edited> {
    let variant = &manifest.variants[name];
    let dockerfile = manifest.context.join(&variant.dockerfile);
    let text = std::fs::read_to_string(&dockerfile)
        .with_context(|| format!("read {}", dockerfile.display()))?;
    let build_args = build::declared_args(&text, &inputs.bases, &inputs.revision);
    let context_tar = {
        let dir = manifest.context.clone();
        let dockerfile = variant.dockerfile.clone();
        let (file, line) = (plan.file.clone(), appended(plan));
        tokio::task::spawn_blocking(move || {
            let tar = build_context::tar(&dir, &[dockerfile.as_str()])?;
            append_line(&tar, &file, &line)
        })
        .await?
        .context("pack the edited build context")?
    };
    let tag = Plan::tag(manifest, name);
    let labels = labels::image(&[(LABEL_VARIANT, name)]);
    let spec = BuildSpec {
        context_tar,
        dockerfile: &variant.dockerfile,
        tag: &tag,
        target: variant.target.as_deref(),
        build_args: &build_args,
        labels: &labels,
        no_cache: false,
    };
    let bar = progress.steps(&format!(
        "edit cost {name}: rebuild after a change to {}",
        plan.file
    ));
    let mut steps = Steps::default();
    let started = Instant::now();
    let result = engine
        .build(spec, &mut |event: BuildEvent| {
            steps.see(&event);
            match event {
                BuildEvent::Step {
                    number,
                    total,
                    instruction,
                } => bar.step(number, total, &instruction),
                BuildEvent::Output(line) => bar.output(&line),
                _ => {}
            }
        })
        .await;
    let elapsed = started.elapsed();
    match result {
        Ok(built) => {
            bar.finish(&format!(
                "edit cost {name}: {:.1} s, {} of {} steps from the cache",
                elapsed.as_secs_f64(),
                built.cached,
                built.steps
            ));
            Ok(Edited {
                tag,
                built,
                elapsed,
                rebuilt: steps.finish(),
            })
        }
        Err(err) => {
            bar.fail(&format!("edit cost {name}: the rebuild failed"));
            Err(err).with_context(|| format!("rebuild {name} after the edit"))
        }
    }
}

/// Rebuilds every planned variant from the edited context and returns what each rebuild cost.
/// The normal build must have run first: its cache is what the rebuild may reuse.
pub async fn measure(
    ctx: &Ctx,
    engine: &Engine,
    manifest: &Manifest,
    plan: &Plan,
    progress: &Progress,
) -> Result<BTreeMap<String, EditCost>> {
    let inputs = Inputs::find(ctx, engine, manifest, progress).await?;
    let mut costs = BTreeMap::new();
    for name in &plan.variants {
        let edited = rebuild(engine, manifest, plan, &inputs, name, progress).await?;
        // What the measurement made goes at once, so that the next variant does not take it
        // from the cache and nothing of it outlives the run.
        engine
            .remove_built(&edited.tag, &edited.built.made)
            .await
            .with_context(|| format!("remove the edited build of {name}"))?;
        costs.insert(
            name.clone(),
            EditCost {
                file: plan.file.clone(),
                rebuild_ms: edited.elapsed.as_millis() as u64,
                steps: edited.built.steps,
                cached_steps: edited.built.cached,
                rebuilt: edited.rebuilt,
            },
        );
    }
    Ok(costs)
}

/// Follows a build's steps to tell which ones ran again: every step inside a stage (not a
/// `FROM`, not an `ARG` before the first `FROM`) that the cache did not answer.
#[derive(Default)]
struct Steps {
    in_stage: bool,
    current: Option<String>,
    rebuilt: Vec<String>,
}

impl Steps {
    fn see(&mut self, event: &BuildEvent) {
        match event {
            BuildEvent::Step { instruction, .. } => {
                self.flush();
                let is_from = instruction.to_ascii_uppercase().starts_with("FROM ");
                self.in_stage |= is_from;
                self.current = (self.in_stage && !is_from).then(|| instruction.clone());
            }
            BuildEvent::Cached => self.current = None,
            _ => {}
        }
    }

    fn flush(&mut self) {
        if let Some(step) = self.current.take() {
            self.rebuilt.push(step);
        }
    }

    fn finish(mut self) -> Vec<String> {
        self.flush();
        self.rebuilt
    }
}

/// The context tar with `line` appended to `file`; every other entry is copied as it is. An
/// error when the tar does not hold the file (it does not exist, or `.dockerignore` leaves it
/// out), since the rebuild would then measure no change at all.
pub fn append_line(tar: &[u8], file: &str, line: &str) -> Result<Vec<u8>> {
    let mut archive = tar::Archive::new(tar);
    let mut builder = tar::Builder::new(Vec::new());
    let mut found = false;
    for entry in archive.entries().context("read the context tar")? {
        let mut entry = entry.context("read the context tar")?;
        let path: PathBuf = entry.path()?.into_owned();
        let mut header = entry.header().clone();
        if header.entry_type().is_symlink() {
            let target = entry
                .link_name()?
                .context("a symlink without a target")?
                .into_owned();
            builder.append_link(&mut header, &path, target)?;
            continue;
        }
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data)?;
        if header.entry_type().is_file() && path.to_string_lossy() == file {
            if !data.is_empty() && !data.ends_with(b"\n") {
                data.push(b'\n');
            }
            data.extend_from_slice(line.as_bytes());
            found = true;
        }
        header.set_size(data.len() as u64);
        builder.append_data(&mut header, &path, data.as_slice())?;
    }
    if !found {
        return Err(UsageError(format!(
            "the build context holds no file `{file}` to edit (is it missing, or left out by \
             .dockerignore?)"
        ))
        .into());
    }
    builder
        .into_inner()
        .context("finish the edited context tar")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(tar: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut archive = tar::Archive::new(tar);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = e.path().unwrap().to_string_lossy().into_owned();
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut data).unwrap();
                (path, data)
            })
            .collect()
    }

    #[test]
    fn one_line_is_appended_to_the_file_and_nothing_else_changes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let tar = build_context::tar(root, &["docker/Dockerfile.simples"]).unwrap();
        let edited = append_line(&tar, "webtest/src/main.rs", "// probe\n").unwrap();
        let (before, after) = (files(&tar), files(&edited));
        assert_eq!(before.len(), after.len());
        for ((name, old), (name2, new)) in before.iter().zip(&after) {
            assert_eq!(name, name2);
            if name == "webtest/src/main.rs" {
                assert_eq!(&new[..old.len()], &old[..]);
                assert!(new.ends_with(b"// probe\n"));
            } else {
                assert_eq!(old, new, "{name} changed");
            }
        }
        // The tree itself is untouched.
        let on_disk = std::fs::read(root.join("webtest/src/main.rs")).unwrap();
        assert!(!on_disk.ends_with(b"// probe\n"));
    }

    #[test]
    fn a_file_the_context_lacks_is_an_error() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let tar = build_context::tar(root, &["docker/Dockerfile.simples"]).unwrap();
        let err = append_line(&tar, "xtask/src/main.rs", "// probe\n").unwrap_err();
        assert!(
            err.to_string().contains("no file `xtask/src/main.rs`"),
            "{err}"
        );
    }

    #[test]
    fn the_comment_fits_the_language() {
        assert_eq!(comment_marker(Path::new("a/main.rs")), "//");
        assert_eq!(comment_marker(Path::new("main.go")), "//");
        assert_eq!(comment_marker(Path::new("app.py")), "#");
        let plan = Plan {
            file: "src/index.html".into(),
            line: " edit-cost probe 1\n".into(),
            variants: vec![],
        };
        assert_eq!(appended(&plan), "<!-- edit-cost probe 1 -->\n");
    }

    #[test]
    fn rebuilt_steps_are_the_ones_the_cache_did_not_answer() {
        let mut steps = Steps::default();
        let step = |n: usize, s: &str| BuildEvent::Step {
            number: n,
            total: 5,
            instruction: s.into(),
        };
        steps.see(&step(1, "ARG RUST_IMAGE=x"));
        steps.see(&step(2, "FROM x"));
        steps.see(&step(3, "COPY Cargo.toml ./"));
        steps.see(&BuildEvent::Cached);
        steps.see(&step(4, "COPY webtest/src webtest/src"));
        steps.see(&step(5, "RUN cargo build"));
        assert_eq!(
            steps.finish(),
            vec!["COPY webtest/src webtest/src", "RUN cargo build"]
        );
    }
}
