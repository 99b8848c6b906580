//! `cargo xtask bases`: makes every base image the manifest names. An image present locally is
//! used as it is; one that can be pulled is pulled; otherwise its local stand-in is assembled from
//! Debian packages (with the `debimage` crate: a signed index, a lock file, verified packages) and
//! loaded into the engine, and the user is told so plainly. The build arguments that point the
//! Dockerfiles at the bases come out of here.
//!
//! The module is split by concern: `packages` is the Debian side (the signed index, read once,
//! and the lock file beside the manifest that pins each recipe's packages); `image` assembles and
//! loads one stand-in from them.

mod image;
mod packages;

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::ctx::Ctx;
use crate::engine::Engine;
use crate::error::Fix;
use crate::manifest::{Base, BuildArgs, Debian, Manifest, Recipe};
use crate::report::progress::Progress;

use image::Site;
use packages::Packages;

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Assemble every local base again, even when an up-to-date one is present.
    #[arg(long)]
    pub rebuild: bool,
    /// Resolve every recipe's packages again against the signed Debian index and rewrite the
    /// lock file beside the manifest (e.g. docker/images.lock), instead of taking the locked ones.
    #[arg(long)]
    pub update: bool,
    /// The Debian mirror to take packages from (default: the manifest's `debian.mirror`).
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,
    /// The Debian suite of the recipes that name no `suites` of their own, such as bookworm
    /// (default: the manifest's `debian.suite`). A recipe's own `suites` are kept.
    #[arg(long, value_name = "NAME")]
    pub suite: Option<String>,
    /// Where downloaded indexes and packages are kept, relative to the workspace root (default:
    /// target/xtask/cache).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
}

/// When a local base is assembled again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rebuild {
    /// Only when none is present or its recipe changed.
    IfChanged,
    Always,
}

/// What `bases` does, decided once from the flags and the manifest.
pub struct Plan {
    pub rebuild: Rebuild,
    /// The source of the recipes that name no `suites`: the manifest's `debian` section, with
    /// `--mirror` and `--suite` applied. A recipe's own suites replace its `suites` alone
    /// (see [`Plan::source_of`]).
    pub source: debimage::Source,
    /// The download cache, absolute.
    pub cache: PathBuf,
    pub lock: LockPlan,
    /// The manifest's folder, which the recipes' `files` are read from.
    pub dir: PathBuf,
}

/// Where the lock file is and what is done with it.
pub struct LockPlan {
    /// Beside the manifest, with its extension replaced: `docker/images.lock`.
    pub path: PathBuf,
    /// `--update`: resolve every recipe again and rewrite the file.
    pub update: bool,
    /// The path as the user knows it (relative to the workspace root), for messages.
    pub shown: String,
    /// The manifest's path as the user knows it.
    pub manifest: String,
    /// The command that rewrites this lock file, for messages.
    pub update_command: String,
}

impl Plan {
    pub fn new(ctx: &Ctx, manifest: &Manifest, args: &Args) -> Plan {
        let debian = &manifest.debian;
        Plan {
            cache: ctx.path_or(args.cache.as_deref(), ctx.out_dir().join("cache")),
            rebuild: if args.rebuild {
                Rebuild::Always
            } else {
                Rebuild::IfChanged
            },
            source: default_source(debian, args),
            lock: LockPlan::new(&ctx.root, &manifest.path, args.update),
            dir: manifest
                .path
                .parent()
                .map_or_else(|| ctx.root.clone(), Path::to_path_buf),
        }
    }

    /// Where a recipe's packages come from: its own `suites`, or the plan's suite.
    pub fn source_of(&self, recipe: &Recipe) -> debimage::Source {
        recipe_source(&self.source, recipe)
    }
}

/// The source of the recipes that name no suites: the manifest's `debian` section, with
/// `--mirror` and `--suite` applied.
fn default_source(debian: &Debian, args: &Args) -> debimage::Source {
    debimage::Source {
        mirror: args.mirror.clone().unwrap_or_else(|| debian.mirror.clone()),
        suites: vec![args.suite.clone().unwrap_or_else(|| debian.suite.clone())],
        arch: debian.arch.clone(),
        components: debian.components.clone(),
    }
}

/// `default` with the recipe's own suites, when it names any: the mirror, the architecture
/// and the components are the manifest's for every recipe.
fn recipe_source(default: &debimage::Source, recipe: &Recipe) -> debimage::Source {
    match &recipe.suites {
        Some(suites) => debimage::Source {
            suites: suites.clone(),
            ..default.clone()
        },
        None => default.clone(),
    }
}

/// The suites of a source in words, for messages: `bookworm + bookworm-backports`.
fn suites_shown(source: &debimage::Source) -> String {
    source.suites.join(" + ")
}

/// The tag of a stand-in made from `suites`: the first suite, then each other without the
/// first's name in front, joined with `-`. `[bookworm]` gives `bookworm`, `[bookworm,
/// bookworm-backports]` gives `bookworm-backports`, `[bookworm, bookworm-updates,
/// bookworm-backports]` gives `bookworm-updates-backports`, `[trixie, sid]` gives `trixie-sid`.
/// The manifest allows only what a tag may hold in a suite's name.
fn suites_tag(suites: &[String]) -> String {
    let Some((first, rest)) = suites.split_first() else {
        return String::new();
    };
    let mut tag = first.clone();
    for suite in rest {
        let own = suite
            .strip_prefix(first.as_str())
            .and_then(|tail| tail.strip_prefix('-'))
            .unwrap_or(suite);
        tag.push('-');
        tag.push_str(own);
    }
    tag
}

impl LockPlan {
    fn new(root: &Path, manifest: &Path, update: bool) -> LockPlan {
        let path = manifest.with_extension("lock");
        let relative = |p: &Path| {
            p.strip_prefix(root)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned()
        };
        let manifest_shown = relative(manifest);
        // The default manifest needs no flag; any other is named, or the command would
        // rewrite the wrong file.
        let update_command = if manifest_shown == "docker/images.yaml" {
            "cargo xtask bases --update".to_string()
        } else {
            format!("cargo xtask bases --update --manifest {manifest_shown}")
        };
        LockPlan {
            shown: relative(&path),
            path,
            update,
            update_command,
            manifest: manifest_shown,
        }
    }
}

pub async fn run(ctx: &Ctx, manifest: &Manifest, engine: &Engine, args: Args) -> Result<()> {
    let plan = Plan::new(ctx, manifest, &args);
    let progress = Progress::new(ctx.style);
    let _lock = engine
        .exclusive("bases", |holder| progress.waiting_for(holder))
        .await?;
    engine
        .guarded(async {
            ensure(ctx, engine, manifest, &plan, &progress).await?;
            // The registry compare starts is a base of its own, made here too.
            registry_with(ctx, engine, manifest, &plan, &progress).await
        })
        .await?;
    Ok(())
}

/// [`ensure`] with the manifest's own settings (no `bases` flags), as every build of the
/// variants needs it.
pub async fn ensure_for_build(
    ctx: &Ctx,
    engine: &Engine,
    manifest: &Manifest,
    progress: &Progress,
) -> Result<BuildArgs> {
    let plan = Plan::new(ctx, manifest, &Args::default());
    ensure(ctx, engine, manifest, &plan, progress).await
}

/// Makes sure every base is there and returns the build arguments that name them.
pub async fn ensure(
    ctx: &Ctx,
    engine: &Engine,
    manifest: &Manifest,
    plan: &Plan,
    progress: &Progress,
) -> Result<BuildArgs> {
    let mut packages = Packages::new(manifest, plan, progress);
    if plan.lock.update {
        packages.update_lock().await.map_err(|err| {
            keep_fix(err, |err| Fix {
                problem: format!("cannot update {}: {}", plan.lock.shown, one_line_cause(err)),
                next: next_step(err, plan, None),
            })
        })?;
    }
    let site = Site {
        ctx,
        engine,
        plan,
        progress,
    };
    let mut args = BuildArgs::new();
    for (arg, base) in &manifest.bases {
        let image = one_base(&site, &mut packages, manifest, arg, base).await?;
        args.insert(arg.clone(), image);
    }
    Ok(args)
}

/// The image of one base (`arg` names it in messages): present, pulled, or its stand-in made.
async fn one_base(
    site: &Site<'_>,
    packages: &mut Packages<'_>,
    manifest: &Manifest,
    arg: &str,
    base: &Base,
) -> Result<String> {
    let Site {
        engine,
        plan,
        progress,
        ..
    } = *site;
    let image = if engine.image(&base.image).await?.is_some() {
        progress.note(&format!("{arg}: {} is present", base.image));
        base.image.clone()
    } else if let Some(recipe_name) = &base.offline {
        // A pull is tried only when the image is not there yet: it fails within milliseconds
        // where no registry can be reached, and then the local stand-in is used.
        match engine.pull(&base.image).await {
            Ok(()) => {
                progress.note(&format!("{arg}: pulled {}", base.image));
                base.image.clone()
            }
            Err(err) => {
                progress.note(&format!(
                    "{arg}: {} cannot be pulled ({}); using a local stand-in assembled from Debian packages",
                    base.image,
                    first_line(&format!("{err:#}"))
                ));
                let recipe = &manifest.recipes[recipe_name];
                image::local_base(site, packages, recipe_name, recipe)
                    .await
                    .map_err(|err| {
                        keep_fix(err, |err| Fix {
                            problem: format!(
                                "base {arg}: {} cannot be pulled, and its local stand-in `{recipe_name}` cannot be made: {}",
                                base.image,
                                one_line_cause(err)
                            ),
                            next: next_step(err, plan, Some(&base.image)),
                        })
                    })?
            }
        }
    } else {
        engine.pull(&base.image).await.map_err(|err| Fix {
            problem: format!(
                "base {arg}: {} is not in the engine and cannot be pulled ({}), and the manifest gives it no `offline` recipe",
                base.image,
                one_line_cause(&err)
            ),
            next: format!(
                "make a registry reachable, or load {} with `docker load`, or give bases.{arg} an `offline:` recipe in {} so that a stand-in is built",
                base.image,
                manifest.path.display()
            ),
        })?;
        progress.note(&format!("{arg}: pulled {}", base.image));
        base.image.clone()
    };
    Ok(image)
}

/// The registry image `compare` starts, made as a base is (present, pulled, or the stand-in of
/// its `offline` recipe); `None` when the manifest names no registry.
pub async fn registry_image(
    ctx: &Ctx,
    engine: &Engine,
    manifest: &Manifest,
    progress: &Progress,
) -> Result<Option<String>> {
    if manifest.registry.is_none() {
        return Ok(None);
    }
    let plan = Plan::new(ctx, manifest, &Args::default());
    registry_with(ctx, engine, manifest, &plan, progress).await
}

async fn registry_with(
    ctx: &Ctx,
    engine: &Engine,
    manifest: &Manifest,
    plan: &Plan,
    progress: &Progress,
) -> Result<Option<String>> {
    let Some(base) = &manifest.registry else {
        return Ok(None);
    };
    let mut packages = Packages::new(manifest, plan, progress);
    let site = Site {
        ctx,
        engine,
        plan,
        progress,
    };
    one_base(&site, &mut packages, manifest, "registry", base)
        .await
        .map(Some)
}

/// An error that already says what to do (a broken lock file, say) is kept as it is; any other
/// becomes the `Fix` that `wrap` makes of it.
fn keep_fix(err: anyhow::Error, wrap: impl FnOnce(&anyhow::Error) -> Fix) -> anyhow::Error {
    if err.chain().any(|cause| cause.is::<Fix>()) {
        err
    } else {
        let fix = wrap(&err);
        anyhow::Error::new(fix)
    }
}

/// What the user can do about a failure to make a stand-in, from what failed: a stale lock is
/// made afresh, a refused index calls for another mirror, anything else for a reachable one.
fn next_step(err: &anyhow::Error, plan: &Plan, image: Option<&str>) -> String {
    let is = |f: &dyn Fn(&(dyn std::error::Error + 'static)) -> bool| err.chain().any(f);
    if is(&|cause| cause.is::<debimage::LockError>()) {
        format!(
            "run `{}` to resolve the recipes again against the signed index and rewrite {}, then commit it",
            plan.lock.update_command, plan.lock.shown
        )
    } else if is(&|cause| cause.is::<debimage::TrustError>()) {
        "nothing from the refused index was used; use another Debian mirror (pass --mirror URL, or set debian.mirror in the manifest)".to_string()
    } else {
        let load = image.map_or(String::new(), |image| {
            format!(", or load {image} into the engine with `docker load`")
        });
        format!(
            "make the Debian mirror {} reachable (or pass --mirror URL, or set debian.mirror in the manifest){load}",
            plan.source.mirror
        )
    }
}

/// The whole chain of an error on one line, innermost cause last.
fn one_line_cause(err: &anyhow::Error) -> String {
    err.chain()
        .map(|cause| cause.to_string().replace('\n', " "))
        .collect::<Vec<_>>()
        .join(": ")
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipe_takes_its_own_suites_or_the_plans_and_is_tagged_with_them() {
        let manifest = |suites: &str| -> Recipe {
            serde_yaml::from_str(&format!(
                "image: webtest-base/go\npackages: [dash]\n{suites}"
            ))
            .unwrap()
        };
        let default = debimage::Source {
            mirror: "http://mirror/debian".into(),
            ..debimage::Source::default()
        };
        let own = recipe_source(
            &default,
            &manifest("suites: [bookworm, bookworm-backports]\n"),
        );
        assert_eq!(own.suites, ["bookworm", "bookworm-backports"]);
        assert_eq!(
            (own.mirror.as_str(), own.arch.as_str()),
            ("http://mirror/debian", "amd64"),
            "the mirror and the architecture are the manifest's"
        );
        assert_eq!(recipe_source(&default, &manifest("")), default);
        assert_eq!(suites_shown(&own), "bookworm + bookworm-backports");

        let tag =
            |suites: &[&str]| suites_tag(&suites.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(tag(&["bookworm"]), "bookworm");
        assert_eq!(
            tag(&["bookworm", "bookworm-backports"]),
            "bookworm-backports"
        );
        assert_eq!(
            tag(&["bookworm", "bookworm-updates", "bookworm-backports"]),
            "bookworm-updates-backports"
        );
        assert_eq!(tag(&["trixie", "sid"]), "trixie-sid");
        // Only a whole name is taken off: `bookwormish` is not a suite of bookworm's.
        assert_eq!(tag(&["bookworm", "bookwormish"]), "bookworm-bookwormish");
    }

    #[test]
    fn the_suite_flag_moves_only_the_recipes_that_name_no_suites() {
        let debian = Debian::default();
        let args = Args {
            suite: Some("trixie".into()),
            ..Args::default()
        };
        let default = default_source(&debian, &args);
        assert_eq!(default.suites, ["trixie"]);
        let go: Recipe = serde_yaml::from_str(
            "image: webtest-base/go\nsuites: [bookworm, bookworm-backports]\npackages: [dash]\n",
        )
        .unwrap();
        assert_eq!(
            recipe_source(&default, &go).suites,
            ["bookworm", "bookworm-backports"]
        );
        assert_eq!(
            default_source(&debian, &Args::default()).suites,
            ["bookworm"]
        );
    }

    /// Every lock file of the project, read as `bases` reads it, pins each recipe of its manifest
    /// for the suites that recipe names: the Go app's, rewritten for bookworm-backports, and the
    /// others, written before a recipe could name suites, alike.
    #[test]
    fn every_committed_lock_matches_the_suites_of_its_recipes() {
        let docker = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docker");
        for file in ["images.yaml", "go.yaml", "frontend.yaml"] {
            let manifest = Manifest::load(&docker.join(file)).unwrap();
            let lock = debimage::Lock::read(&manifest.path.with_extension("lock"))
                .unwrap()
                .unwrap_or_else(|| panic!("{file} has a lock file"));
            let default = default_source(&manifest.debian, &Args::default());
            for (name, recipe) in &manifest.recipes {
                let source = recipe_source(&default, recipe);
                let entry = lock.entry(name).unwrap();
                entry
                    .check(&packages::debian_recipe(name, recipe), &source)
                    .unwrap_or_else(|err| panic!("{file}: {err}"));
                assert_eq!(entry.source.suites, source.suites, "{file} {name}");
            }
        }
        let go = Manifest::load(&docker.join("go.yaml")).unwrap();
        let lock = debimage::Lock::read(&docker.join("go.lock"))
            .unwrap()
            .unwrap();
        let toolchain = lock.entry("go-toolchain").unwrap();
        let go_1_23 = toolchain
            .packages
            .iter()
            .find(|p| p.name == "golang-1.23-go")
            .expect("go.lock pins golang-1.23-go");
        assert!(go_1_23.version.contains("~bpo12"), "{}", go_1_23.version);
        assert!(toolchain
            .packages
            .iter()
            .all(|p| p.name != "golang-1.19-go"));
        assert_eq!(go.recipes.len(), lock.recipes.len());
    }

    /// The Go toolchain's entry as the lock held it before the recipe named its suites: it
    /// still reads, and is told apart as out of date, with the suites as the first difference.
    #[test]
    fn a_lock_made_before_the_recipe_named_its_suites_reads_and_is_out_of_date() {
        let before = format!(
            "version: 1\nrecipes:\n  go-toolchain:\n    source:\n      suites:\n      - bookworm\n      \
             arch: amd64\n      components:\n      - main\n    inputs:\n      packages:\n      \
             - golang-1.19-go\n      - ca-certificates\n      - dash\n      - base-files\n      \
             - base-passwd\n      dependencies: true\n      required: false\n      exclude: []\n    \
             packages:\n    - name: golang-1.19-go\n      version: 1.19.8-2\n      \
             architecture: amd64\n      filename: pool/main/g/golang-1.19/golang-1.19-go_1.19.8-2_amd64.deb\n      \
             sha256: {}\n      size: 1\n",
            "a".repeat(64)
        );
        let lock = debimage::Lock::from_yaml(&before).unwrap();
        let go = Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../docker/go.yaml"))
            .unwrap();
        let recipe = &go.recipes["go-toolchain"];
        let source = recipe_source(&default_source(&go.debian, &Args::default()), recipe);
        let err = lock
            .entry("go-toolchain")
            .unwrap()
            .check(&packages::debian_recipe("go-toolchain", recipe), &source)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the lock entry of recipe `go-toolchain` was made for suites [bookworm], and it is \
             now [bookworm, bookworm-backports]: the lock is out of date"
        );
    }

    #[test]
    fn the_lock_sits_beside_the_manifest_and_the_update_command_names_it() {
        let root = Path::new("/w");
        let default = LockPlan::new(root, Path::new("/w/docker/images.yaml"), false);
        assert_eq!(default.path, Path::new("/w/docker/images.lock"));
        assert_eq!(default.shown, "docker/images.lock");
        assert_eq!(default.update_command, "cargo xtask bases --update");
        let go = LockPlan::new(root, Path::new("/w/docker/go.yaml"), true);
        assert_eq!(go.shown, "docker/go.lock");
        assert!(go.update);
        assert_eq!(
            go.update_command,
            "cargo xtask bases --update --manifest docker/go.yaml"
        );
    }

    #[test]
    fn a_stale_lock_and_a_refused_index_each_get_their_own_advice() {
        let plan = Plan {
            rebuild: Rebuild::IfChanged,
            source: debimage::Source::default(),
            cache: PathBuf::from("/c"),
            lock: LockPlan::new(Path::new("/w"), Path::new("/w/docker/go.yaml"), false),
            dir: PathBuf::from("/w/docker"),
        };
        let stale = anyhow::Error::new(debimage::LockError::NoEntry { recipe: "r".into() })
            .context("pin the packages");
        assert!(next_step(&stale, &plan, None)
            .starts_with("run `cargo xtask bases --update --manifest docker/go.yaml`"));
        let refused = anyhow::Error::new(debimage::TrustError::NotSigned {
            url: "u".into(),
            detail: "d".into(),
        });
        assert!(next_step(&refused, &plan, None).contains("another Debian mirror"));
        let other = anyhow::anyhow!("connection refused");
        assert!(next_step(&other, &plan, Some("rust:1")).contains("docker load"));
    }
}
