//! `cargo xtask bases`: makes every base image the manifest names. An image present locally is
//! used as it is; one that can be pulled is pulled; otherwise its local stand-in is assembled from
//! Debian packages (see `rootfs`) and loaded into the engine, and the user is told so plainly.
//! The build arguments that point the Dockerfiles at the bases come out of here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use xshell::cmd;

use crate::ctx::Ctx;
use crate::engine::Engine;
use crate::error::Fix;
use crate::ids::short_id;
use crate::labels::{LABEL, LABEL_BASE, LABEL_RECIPE};
use crate::manifest::{BuildArgs, DpkgDb, Manifest, Recipe};
use crate::report::progress::Progress;
use crate::rootfs;

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Assemble every local base again, even when an up-to-date one is present.
    #[arg(long)]
    pub rebuild: bool,
    /// The Debian mirror to take packages from (default: the manifest's `debian.mirror`).
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,
    /// The Debian suite, such as bookworm (default: the manifest's `debian.suite`).
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
    pub source: rootfs::Source,
    /// The download cache, absolute.
    pub cache: PathBuf,
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
            source: rootfs::Source {
                mirror: args.mirror.clone().unwrap_or_else(|| debian.mirror.clone()),
                suite: args.suite.clone().unwrap_or_else(|| debian.suite.clone()),
                arch: debian.arch.clone(),
                components: debian.components.clone(),
            },
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
        .guarded(ensure(ctx, engine, manifest, &plan, &progress))
        .await?;
    Ok(())
}

/// Makes sure every base is there and returns the build arguments that name them.
pub async fn ensure(
    ctx: &Ctx,
    engine: &Engine,
    manifest: &Manifest,
    plan: &Plan,
    progress: &Progress,
) -> Result<BuildArgs> {
    let mut args = BuildArgs::new();
    for (arg, base) in &manifest.bases {
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
                    local_base(ctx, engine, recipe_name, recipe, plan, progress)
                        .await
                        .map_err(|err| Fix {
                            problem: format!(
                                "base {arg}: {} cannot be pulled, and its local stand-in `{recipe_name}` cannot be made: {}",
                                base.image,
                                one_line_cause(&err)
                            ),
                            next: format!(
                                "make the Debian mirror {} reachable (or pass --mirror URL, or set debian.mirror in the manifest), or load {} into the engine with `docker load`",
                                plan.source.mirror, base.image
                            ),
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
        args.insert(arg.clone(), image);
    }
    Ok(args)
}

/// The whole chain of an error on one line, innermost cause last.
fn one_line_cause(err: &anyhow::Error) -> String {
    err.chain()
        .map(|cause| cause.to_string().replace('\n', " "))
        .collect::<Vec<_>>()
        .join(": ")
}

/// The host's CA bundle, where there is one.
fn host_ca_bundle() -> Vec<PathBuf> {
    let path = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/ssl/certs/ca-certificates.crt"));
    if path.is_file() {
        vec![path]
    } else {
        Vec::new()
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// The inputs a toolchain recipe takes from the host.
struct Toolchain {
    sysroot: PathBuf,
    /// `1.95.0`.
    version: String,
    /// `rustc -vV`, which changes with any change of the toolchain.
    verbose: String,
}

fn host_toolchain(ctx: &Ctx) -> Result<Toolchain> {
    let sh = &ctx.sh;
    let sysroot = cmd!(sh, "rustc --print sysroot")
        .quiet()
        .read()
        .context("ask rustc for its sysroot")?;
    let verbose = cmd!(sh, "rustc -vV")
        .quiet()
        .read()
        .context("ask rustc for its version")?;
    let version = verbose
        .lines()
        .find_map(|line| line.strip_prefix("release: "))
        .context("read the release from `rustc -vV`")?
        .trim()
        .to_string();
    Ok(Toolchain {
        sysroot: PathBuf::from(sysroot.trim()),
        version,
        verbose,
    })
}

/// The local stand-in of one base: reused when an image made from the same recipe is present,
/// assembled otherwise. Returns its tag.
async fn local_base(
    ctx: &Ctx,
    engine: &Engine,
    name: &str,
    recipe: &Recipe,
    plan: &Plan,
    progress: &Progress,
) -> Result<String> {
    let toolchain = match &recipe.toolchain {
        Some(_) => Some(host_toolchain(ctx)?),
        None => None,
    };
    let tag = match &toolchain {
        Some(toolchain) => format!("{}:{}", recipe.image, toolchain.version),
        None => format!("{}:{}", recipe.image, plan.source.suite),
    };
    let digest = recipe_digest(
        recipe,
        &plan.source,
        toolchain.as_ref().map(|t| t.verbose.as_str()),
    );
    if plan.rebuild == Rebuild::IfChanged {
        if let Some(image) = engine.image(&tag).await? {
            if image.labels.get(LABEL_RECIPE) == Some(&digest) {
                progress.note(&format!("{name}: {tag} is up to date"));
                return Ok(tag);
            }
        }
    }

    let started = Instant::now();
    let work = ctx.out_dir().join("bases");
    let cache = &plan.cache;
    std::fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;
    let client = rootfs::http_client()?;

    let phase = progress.phase(&format!(
        "{name}: reading the {} index of {}",
        plan.source.suite, plan.source.mirror
    ));
    let index = rootfs::fetch_index(&client, &plan.source, cache)
        .await
        .context("fetch the package index")?;
    let rootfs_recipe = rootfs::Recipe {
        name: name.to_string(),
        packages: recipe.packages.clone(),
        dependencies: recipe.dependencies,
        required: recipe.required,
        exclude: recipe.exclude.clone(),
        drop_docs: recipe.drop_docs,
        local_ca_certificates: if recipe.host_ca_certificates {
            host_ca_bundle()
        } else {
            Vec::new()
        },
    };
    let resolution = rootfs::resolve(&index, &rootfs_recipe).context("resolve the packages")?;
    phase.finish(&format!("{name}: {} packages", resolution.packages.len()));
    for note in &resolution.notes {
        progress.note(&format!("{name}: {note}"));
    }

    let bar = progress.bytes(&format!("{name}: downloading"), 0);
    let on = |event: rootfs::Event| match event {
        rootfs::Event::Resolved { download_bytes, .. } => bar.set_length(download_bytes),
        rootfs::Event::Downloaded { bytes, .. } => bar.advance(bytes),
        _ => {}
    };
    let fetched = rootfs::download(&client, &plan.source, &resolution, cache, &on)
        .await
        .context("download the packages")?;
    bar.finish(&format!(
        "{name}: {} packages, {} downloaded, {} from the cache",
        resolution.packages.len(),
        crate::report::human_bytes(fetched.bytes_downloaded),
        fetched.from_cache
    ));

    let phase = progress.phase(&format!("{name}: writing the layers"));
    let archive = work.join(format!("{name}.tar"));
    let layers = {
        let work = work.clone();
        let name = name.to_string();
        let dpkg = match recipe.dpkg {
            DpkgDb::Full => rootfs::DpkgDb::Full,
            DpkgDb::StatusD => rootfs::DpkgDb::StatusD,
        };
        let prefix = recipe.toolchain.clone();
        let sysroot = toolchain.as_ref().map(|t| t.sysroot.clone());
        tokio::task::spawn_blocking(move || -> Result<Vec<(rootfs::LayerFile, String)>> {
            let mut layers = Vec::new();
            let packages = work.join(format!("{name}.packages.tar"));
            let layer = rootfs::write_rootfs_layer(&resolution, &fetched.debs, &packages, dpkg)
                .context("write the packages layer")?;
            let names: Vec<&str> = resolution
                .packages
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            layers.push((
                layer,
                format!("webtest xtask: Debian packages {}", names.join(" ")),
            ));
            if let (Some(prefix), Some(sysroot)) = (prefix, sysroot) {
                let out = work.join(format!("{name}.toolchain.tar"));
                let layer = rootfs::write_dir_layer(&sysroot, &["bin", "lib"], &prefix, &out)
                    .context("write the toolchain layer")?;
                layers.push((
                    layer,
                    format!("webtest xtask: the host Rust toolchain's bin/ and lib/ in /{prefix}"),
                ));
            }
            Ok(layers)
        })
        .await??
    };
    let labels = BTreeMap::from([
        (LABEL.to_string(), "1".to_string()),
        // The base's own tag: images built from the base inherit its labels, so a base is an image
        // whose tags include this value, not any image that has the label.
        (LABEL_BASE.to_string(), tag.clone()),
        (LABEL_RECIPE.to_string(), digest),
        ("org.opencontainers.image.title".to_string(), tag.clone()),
        (
            "org.opencontainers.image.description".to_string(),
            format!("Local stand-in assembled by cargo xtask bases from the recipe {name}"),
        ),
        (
            "io.webtest.xtask.source".to_string(),
            format!(
                "{} {} {}",
                plan.source.mirror, plan.source.suite, plan.source.arch
            ),
        ),
    ]);
    let spec = rootfs::ImageSpec {
        env: recipe.env.clone(),
        cmd: recipe.cmd.clone(),
        user: recipe.user.clone(),
        workdir: None,
        labels,
        history: layers
            .iter()
            .map(|(_, created_by)| created_by.clone())
            .collect(),
    };
    let files: Vec<rootfs::LayerFile> = layers.into_iter().map(|(layer, _)| layer).collect();
    let (id, files) = {
        let (archive, tag) = (archive.clone(), tag.clone());
        tokio::task::spawn_blocking(move || {
            rootfs::write_image_archive(&archive, &tag, &files, &spec).map(|id| (id, files))
        })
        .await?
        .context("write the image archive")?
    };
    let notes: Vec<&String> = files.iter().flat_map(|l| &l.notes).collect();
    for note in notes.iter().take(5) {
        progress.note(&format!("{name}: {note}"));
    }
    if notes.len() > 5 {
        progress.note(&format!(
            "{name}: and {} more notes of the same kind",
            notes.len() - 5
        ));
    }
    phase.finish(&format!(
        "{name}: layers {}",
        files
            .iter()
            .map(|l| format!(
                "{} ({})",
                short_id(&l.diff_id),
                crate::report::human_bytes(l.size)
            ))
            .collect::<Vec<_>>()
            .join(", ")
    ));

    let phase = progress.phase(&format!("{name}: loading {tag} into the engine"));
    engine.load(&archive).await?;
    remove_quietly(&archive, &files);
    phase.finish(&format!(
        "{name}: {tag} {} in {:.1} s",
        short_id(&id),
        started.elapsed().as_secs_f64()
    ));
    if engine.image(&tag).await?.is_none() {
        bail!(
            "the engine loaded {} but has no image {tag}",
            archive.display()
        );
    }
    Ok(tag)
}

/// The layer files and the archive are only a way into the engine; once loaded, they would
/// only take disk space.
fn remove_quietly(archive: &Path, layers: &[rootfs::LayerFile]) {
    let _ = std::fs::remove_file(archive);
    for layer in layers {
        let _ = std::fs::remove_file(&layer.path);
    }
}

/// What a local base is made from: the recipe, the package source and, for a toolchain recipe,
/// the toolchain. An image whose label holds the same digest needs no rebuild.
fn recipe_digest(recipe: &Recipe, source: &rootfs::Source, toolchain: Option<&str>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(recipe).expect("a recipe serializes"));
    hasher.update(format!(
        "{}\n{}\n{}\n{}\n",
        source.mirror,
        source.suite,
        source.arch,
        source.components.join(",")
    ));
    hasher.update(toolchain.unwrap_or(""));
    // Bumped when the way layers are written changes, so that old bases are rebuilt.
    hasher.update("layout 1");
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe() -> Recipe {
        Recipe {
            image: "webtest-base/x".into(),
            packages: vec!["dash".into()],
            dependencies: true,
            required: false,
            exclude: vec![],
            drop_docs: true,
            host_ca_certificates: false,
            toolchain: None,
            dpkg: DpkgDb::Full,
            env: vec![],
            cmd: vec![],
            user: None,
        }
    }

    #[test]
    fn the_recipe_digest_changes_with_what_the_base_is_made_from() {
        let source = rootfs::Source {
            mirror: "m".into(),
            suite: "bookworm".into(),
            arch: "amd64".into(),
            components: vec!["main".into()],
        };
        let a = recipe_digest(&recipe(), &source, None);
        assert_eq!(a, recipe_digest(&recipe(), &source, None));
        let mut other = recipe();
        other.packages.push("bash".into());
        assert_ne!(a, recipe_digest(&other, &source, None));
        assert_ne!(a, recipe_digest(&recipe(), &source, Some("rustc 1.95.0")));
        let trixie = rootfs::Source {
            suite: "trixie".into(),
            ..source
        };
        assert_ne!(a, recipe_digest(&recipe(), &trixie, None));
    }
}
