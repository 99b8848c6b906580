//! One local stand-in base: its locked Debian packages (plus, for a toolchain recipe, the host's
//! Rust toolchain) written as reproducible layers, wrapped in a `docker save` archive and loaded
//! into the engine. An image made from the same inputs is reused instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use debimage::{Event, LayerFile, LockEntry, Resolution};
use sha2::{Digest, Sha256};
use xshell::cmd;

use super::packages::{debian_recipe, dpkg_db, Packages};
use super::{Plan, Rebuild};
use crate::ctx::Ctx;
use crate::engine::Engine;
use crate::ids::short_id;
use crate::labels::{LABEL, LABEL_BASE, LABEL_RECIPE};
use crate::manifest::Recipe;
use crate::report::human_bytes;
use crate::report::progress::Progress;

/// Bumped when the way layers are written changes, so that older bases are made again.
/// 2: the layers come from the `debimage` crate, from packages pinned by the lock file.
const LAYOUT: &str = "layout 2";

/// What every stand-in of one run shares.
pub(super) struct Site<'a> {
    pub ctx: &'a Ctx,
    pub engine: &'a Engine,
    pub plan: &'a Plan,
    pub progress: &'a Progress,
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

/// The local stand-in of one base: reused when an image made from the same recipe and locked
/// packages is present, assembled otherwise. Returns its tag.
pub(super) async fn local_base(
    site: &Site<'_>,
    packages: &mut Packages<'_>,
    name: &str,
    recipe: &Recipe,
) -> Result<String> {
    let Site {
        ctx,
        engine,
        plan,
        progress,
    } = *site;
    let toolchain = match &recipe.toolchain {
        Some(_) => Some(host_toolchain(ctx)?),
        None => None,
    };
    let source = plan.source_of(recipe);
    let tag = match &toolchain {
        Some(toolchain) => format!("{}:{}", recipe.image, toolchain.version),
        None => format!("{}:{}", recipe.image, super::suites_tag(&source.suites)),
    };
    // The lock entry is known without the network, so an up-to-date base needs none.
    let entry = packages.entry(name, recipe).await?;
    let digest = recipe_digest(&Inputs {
        recipe,
        source: &source,
        entry: &entry,
        toolchain: toolchain.as_ref().map(|t| t.verbose.as_str()),
        host_cas: &debian_recipe(name, recipe).local_ca_certificates,
        files: &additions(recipe, &plan.dir).files,
    })?;
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
    std::fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;
    let resolution = packages.locked(name, recipe, &entry).await?;
    progress.note(&format!(
        "{name}: {} packages, as {} pins them",
        resolution.packages.len(),
        plan.lock.shown
    ));

    let client = packages.client()?;
    let bar = progress.bytes(&format!("{name}: downloading"), 0);
    let on = |event: Event| match event {
        Event::Resolved { download_bytes, .. } => bar.set_length(download_bytes),
        Event::Downloaded { bytes, .. } => bar.advance(bytes),
        _ => {}
    };
    let fetched = debimage::download(&client, &resolution, &plan.cache, &on)
        .await
        .context("download the packages")?;
    bar.finish(&format!(
        "{name}: {} packages, {} downloaded, {} from the cache",
        resolution.packages.len(),
        human_bytes(fetched.bytes_downloaded),
        fetched.from_cache
    ));

    let phase = progress.phase(&format!("{name}: writing the layers"));
    let layers = write_layers(
        &work,
        name,
        resolution,
        fetched.debs,
        recipe,
        (toolchain.as_ref(), additions(recipe, &plan.dir)),
    )
    .await?;
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
            // The suites joined with `,`, so that the label keeps its three words.
            format!(
                "{} {} {}",
                source.mirror,
                source.suites.join(","),
                source.arch
            ),
        ),
    ]);
    let spec = debimage::ImageSpec {
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
    let files: Vec<LayerFile> = layers.into_iter().map(|(layer, _)| layer).collect();
    let archive = work.join(format!("{name}.tar"));
    let (id, files) = {
        let (archive, tag) = (archive.clone(), tag.clone());
        tokio::task::spawn_blocking(move || {
            debimage::write_image_archive(&archive, &tag, &files, &spec).map(|id| (id, files))
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
            .map(|l| format!("{} ({})", short_id(&l.diff_id), human_bytes(l.size)))
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

/// The packages layer and, for a toolchain recipe, the toolchain layer, each with the
/// `created_by` of its history entry. The writing is synchronous, so it runs off the runtime.
async fn write_layers(
    work: &Path,
    name: &str,
    resolution: Resolution,
    debs: Vec<PathBuf>,
    recipe: &Recipe,
    (toolchain, additions): (Option<&Toolchain>, debimage::Additions),
) -> Result<Vec<(LayerFile, String)>> {
    let work = work.to_path_buf();
    let name = name.to_string();
    let dpkg = dpkg_db(recipe.dpkg);
    let toolchain_layer = recipe
        .toolchain
        .clone()
        .zip(toolchain.map(|t| t.sysroot.clone()));
    tokio::task::spawn_blocking(move || -> Result<Vec<(LayerFile, String)>> {
        let mut layers = Vec::new();
        let packages = work.join(format!("{name}.packages.tar"));
        let layer =
            debimage::write_rootfs_layer_with(&resolution, &debs, &packages, dpkg, &additions)
                .context("write the packages layer")?;
        let names: Vec<&str> = resolution
            .packages
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        // The history says what the recipe added, so that `docker history` tells a stand-in's
        // own links and files from what the packages ship.
        let added = match (additions.links.len(), additions.files.len()) {
            (0, 0) => String::new(),
            (links, files) => format!(", and the recipe's {links} links and {files} files"),
        };
        layers.push((
            layer,
            format!("webtest xtask: Debian packages {}{added}", names.join(" ")),
        ));
        if let Some((prefix, sysroot)) = toolchain_layer {
            let out = work.join(format!("{name}.toolchain.tar"));
            let layer = debimage::write_dir_layer(&sysroot, &["bin", "lib"], &prefix, &out)
                .context("write the toolchain layer")?;
            layers.push((
                layer,
                format!("webtest xtask: the host Rust toolchain's bin/ and lib/ in /{prefix}"),
            ));
        }
        Ok(layers)
    })
    .await
    .context("the layer writing task failed")?
}

/// A recipe's `links` and `files` as `debimage` takes them; `from` is relative to the
/// manifest's folder `dir`. (The manifest checked that every mode is octal.)
fn additions(recipe: &Recipe, dir: &Path) -> debimage::Additions {
    debimage::Additions {
        links: recipe.links.clone(),
        files: recipe
            .files
            .iter()
            .map(|file| debimage::AddedFile {
                path: file.path.clone(),
                source: dir.join(&file.from),
                mode: file.mode_bits().unwrap_or(0o644),
                uid: file.uid,
                gid: file.gid,
            })
            .collect(),
    }
}

/// The layer files and the archive are only a way into the engine; once loaded, they would
/// only take disk space.
fn remove_quietly(archive: &Path, layers: &[LayerFile]) {
    let _ = std::fs::remove_file(archive);
    for layer in layers {
        let _ = std::fs::remove_file(&layer.path);
    }
}

/// What a local base is made from.
#[derive(Clone, Copy)]
struct Inputs<'a> {
    recipe: &'a Recipe,
    source: &'a debimage::Source,
    /// The packages, pinned.
    entry: &'a LockEntry,
    /// `rustc -vV` for a toolchain recipe.
    toolchain: Option<&'a str>,
    /// The host CA files a recipe trusts; their contents go into the image.
    host_cas: &'a [PathBuf],
    /// The recipe's `files`; their contents go into the image.
    files: &'a [debimage::AddedFile],
}

/// The digest of a base's inputs: the recipe, the package source, the locked packages, and the
/// toolchain and CA files it takes from the host. An image whose label holds the same digest
/// needs no rebuild.
fn recipe_digest(inputs: &Inputs) -> Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(inputs.recipe).context("serialize the recipe")?);
    let source = inputs.source;
    hasher.update(format!(
        "{}\n{}\n{}\n{}\n",
        source.mirror,
        source.suites.join(","),
        source.arch,
        source.components.join(",")
    ));
    hasher.update(serde_json::to_vec(inputs.entry).context("serialize the lock entry")?);
    hasher.update(inputs.toolchain.unwrap_or(""));
    for ca in inputs.host_cas {
        hasher.update(debimage::sha256_file(ca).with_context(|| format!("hash {}", ca.display()))?);
    }
    for file in inputs.files {
        hasher.update(
            debimage::sha256_file(&file.source)
                .with_context(|| format!("hash {}", file.source.display()))?,
        );
    }
    hasher.update(LAYOUT);
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::DpkgDb;

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
            links: Default::default(),
            files: vec![],
            suites: None,
        }
    }

    fn pinned(version: &str) -> LockEntry {
        let text = format!(
            "source: {{ suites: [bookworm], arch: amd64, components: [main] }}\n\
             inputs: {{ packages: [dash], dependencies: true, required: false }}\n\
             packages:\n- {{ name: dash, version: '{version}', architecture: amd64, \
             filename: pool/d.deb, sha256: '{}', size: 1 }}\n",
            "a".repeat(64)
        );
        serde_yaml::from_str(&text).unwrap()
    }

    #[test]
    fn the_recipe_digest_changes_with_what_the_base_is_made_from() {
        let source = debimage::Source {
            mirror: "m".into(),
            ..debimage::Source::default()
        };
        let (recipe, entry) = (recipe(), pinned("0.5.12-2"));
        let inputs = Inputs {
            recipe: &recipe,
            source: &source,
            entry: &entry,
            toolchain: None,
            host_cas: &[],
            files: &[],
        };
        let a = recipe_digest(&inputs).unwrap();
        assert_eq!(a, recipe_digest(&inputs).unwrap());
        let mut other = recipe.clone();
        other.packages.push("bash".into());
        let digest = |inputs: Inputs| recipe_digest(&inputs).unwrap();
        assert_ne!(
            a,
            digest(Inputs {
                recipe: &other,
                ..inputs
            })
        );
        assert_ne!(
            a,
            digest(Inputs {
                toolchain: Some("rustc 1.95.0"),
                ..inputs
            })
        );
        let newer = pinned("0.5.12-3");
        assert_ne!(
            a,
            digest(Inputs {
                entry: &newer,
                ..inputs
            })
        );
        let trixie = debimage::Source {
            suites: vec!["trixie".into()],
            ..source.clone()
        };
        assert_ne!(
            a,
            digest(Inputs {
                source: &trixie,
                ..inputs
            })
        );
    }
}

#[cfg(test)]
mod file_tests {
    use super::*;

    #[test]
    fn editing_a_recipe_file_changes_the_digest() {
        let dir = std::env::temp_dir().join(format!("xtask-recipe-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let apk = dir.join("apk");
        std::fs::write(&apk, "#!/bin/sh\necho one\n").unwrap();
        let recipe: Recipe = serde_yaml::from_str(
            "image: webtest-base/alpine\npackages: [busybox-static]\n\
             links: { /bin/sh: busybox }\nfiles: [{ path: /sbin/apk, from: apk, mode: '0755' }]\n",
        )
        .unwrap();
        let entry: LockEntry = serde_yaml::from_str(
            "source: { suites: [bookworm], arch: amd64, components: [main] }\n\
             inputs: { packages: [busybox-static], dependencies: true, required: false }\n\
             packages: []\n",
        )
        .unwrap();
        let added = additions(&recipe, &dir);
        assert_eq!(added.files[0].mode, 0o755);
        assert_eq!(added.files[0].source, apk);
        assert_eq!(added.links["/bin/sh"], "busybox");
        let source = debimage::Source::default();
        let digest = || {
            recipe_digest(&Inputs {
                recipe: &recipe,
                source: &source,
                entry: &entry,
                toolchain: None,
                host_cas: &[],
                files: &added.files,
            })
            .unwrap()
        };
        let before = digest();
        std::fs::write(&apk, "#!/bin/sh\necho two\n").unwrap();
        assert_ne!(before, digest());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
