//! The Debian side of the local bases: the signed package index of each set of suites the
//! recipes name, read at most once per run, and the lock file beside the manifest
//! (`docker/images.lock` for `docker/images.yaml`) that pins the packages of every recipe by
//! name, version and SHA256.
//!
//! With a lock file, a base is made of exactly the locked packages, each checked against the
//! signed index (`debimage::resolve_locked`), so that it comes out the same on another day or
//! machine; nothing is resolved. `--update` resolves every recipe again and rewrites the file.
//! Where there is no lock file yet, the first base that needs one writes it, as cargo writes
//! `Cargo.lock`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Context, Result};
use debimage::{Event, Index, Keyring, Lock, LockEntry, Resolution};

use super::Plan;
use crate::error::Fix;
use crate::manifest::{DpkgDb, Manifest, Recipe};
use crate::report::progress::Progress;

/// How many changed packages `--update` lists one by one before it only counts them.
const CHANGES_LISTED: usize = 20;

/// The indexes and the lock of one run, each read when first needed.
pub(super) struct Packages<'a> {
    manifest: &'a Manifest,
    plan: &'a Plan,
    progress: &'a Progress,
    client: Option<reqwest::Client>,
    /// One index per set of suites (`[bookworm]`, `[bookworm, bookworm-backports]`): the
    /// mirror, the architecture and the components are the same for every recipe.
    indexes: HashMap<Vec<String>, Index>,
    lock: LockState,
}

enum LockState {
    Unread,
    /// There is no lock file.
    Missing,
    Read(Lock),
}

impl<'a> Packages<'a> {
    pub(super) fn new(manifest: &'a Manifest, plan: &'a Plan, progress: &'a Progress) -> Self {
        Packages {
            manifest,
            plan,
            progress,
            client: None,
            indexes: HashMap::new(),
            lock: LockState::Unread,
        }
    }

    /// The HTTP client for the mirror, made once.
    pub(super) fn client(&mut self) -> Result<reqwest::Client> {
        if self.client.is_none() {
            self.client = Some(debimage::http_client().context("make the HTTP client")?);
        }
        Ok(self.client.clone().expect("the client was just made"))
    }

    /// Resolves every recipe of the manifest afresh against the signed index and writes the lock
    /// file, saying what changed.
    pub(super) async fn update_lock(&mut self) -> Result<()> {
        // A broken old lock is exactly what an update replaces, so it only serves the comparison.
        let old = Lock::read(&self.plan.lock.path).ok().flatten();
        let (manifest, plan) = (self.manifest, self.plan);
        for recipe in manifest.recipes.values() {
            self.index(&plan.source_of(recipe)).await?;
        }
        let mut lock = Lock::default();
        for (name, recipe) in &manifest.recipes {
            let index = &self.indexes[&plan.source_of(recipe).suites];
            let debian = debian_recipe(name, recipe);
            let resolution = debimage::resolve(index, &debian)
                .with_context(|| format!("resolve the packages of {name}"))?;
            for note in &resolution.notes {
                self.progress.note(&format!("{name}: {note}"));
            }
            lock.recipes
                .insert(name.clone(), LockEntry::new(&debian, &resolution));
        }
        let changes = changes(old.as_ref(), &lock);
        for change in changes.iter().take(CHANGES_LISTED) {
            self.progress.note(&format!("    {change}"));
        }
        if changes.len() > CHANGES_LISTED {
            self.progress.note(&format!(
                "    and {} more changes",
                changes.len() - CHANGES_LISTED
            ));
        }
        lock.write(&self.plan.lock.path, &self.header())?;
        let packages: usize = lock.recipes.values().map(|e| e.packages.len()).sum();
        self.progress.note(&format!(
            "wrote {}: {} recipes, {packages} packages pinned, {}",
            self.plan.lock.shown,
            lock.recipes.len(),
            match changes.len() {
                0 => "unchanged".to_string(),
                1 => "1 change".to_string(),
                n => format!("{n} changes"),
            }
        ));
        self.lock = LockState::Read(lock);
        Ok(())
    }

    /// The lock entry of a recipe, checked against the recipe and the source (no network).
    /// Where there is no lock file, it is written first.
    pub(super) async fn entry(&mut self, name: &str, recipe: &Recipe) -> Result<LockEntry> {
        if let LockState::Unread = self.lock {
            self.lock = match Lock::read(&self.plan.lock.path) {
                Ok(Some(lock)) => LockState::Read(lock),
                Ok(None) => LockState::Missing,
                Err(err) => {
                    return Err(Fix {
                        problem: format!(
                            "the lock file {} cannot be used: {}",
                            self.plan.lock.shown,
                            super::one_line_cause(&err)
                        ),
                        next: format!("run `{}` to write it afresh", self.plan.lock.update_command),
                    }
                    .into())
                }
            };
        }
        if let LockState::Missing = self.lock {
            self.progress.note(&format!(
                "there is no {} yet: every recipe is resolved and its packages pinned there (commit it)",
                self.plan.lock.shown
            ));
            self.update_lock().await?;
        }
        let LockState::Read(lock) = &self.lock else {
            unreachable!("the lock was read or written above");
        };
        let what = || format!("take the packages pinned in {}", self.plan.lock.shown);
        let entry = lock.entry(name).with_context(what)?;
        entry
            .check(&debian_recipe(name, recipe), &self.plan.source_of(recipe))
            .with_context(what)?;
        Ok(entry.clone())
    }

    /// The packages of a lock entry, each checked against the signed index.
    pub(super) async fn locked(
        &mut self,
        name: &str,
        recipe: &Recipe,
        entry: &LockEntry,
    ) -> Result<Resolution> {
        let plan = self.plan;
        let index = self.index(&plan.source_of(recipe)).await?;
        debimage::resolve_locked(index, &debian_recipe(name, recipe), entry)
            .with_context(|| format!("take the packages pinned in {}", plan.lock.shown))
    }

    /// The signed index of `source`'s suites, read once: each suite's `InRelease` is verified
    /// against Debian's archive keys before anything in it is used.
    async fn index(&mut self, source: &debimage::Source) -> Result<&Index> {
        if !self.indexes.contains_key(&source.suites) {
            let index = self.read_index(source).await?;
            self.indexes.insert(source.suites.clone(), index);
        }
        Ok(&self.indexes[&source.suites])
    }

    async fn read_index(&mut self, source: &debimage::Source) -> Result<Index> {
        let client = self.client()?;
        let (plan, progress) = (self.plan, self.progress);
        let suites = super::suites_shown(source);
        let phase = progress.phase(&format!(
            "reading the signed {suites} index of {}",
            source.mirror
        ));
        let signers: Mutex<Vec<String>> = Mutex::new(Vec::new());
        let on = |event: Event| {
            match event {
            Event::MirrorUnreachable { url, error } => progress.note(&format!(
                "{url} cannot be reached ({error}); using the copy an earlier run kept, verified again"
            )),
            Event::IndexVerified { signed_by, .. } => {
                let mut signers = signers.lock().expect("no panic while held");
                signers.extend(signed_by.into_iter().filter(|k| !k.is_empty()));
            }
            _ => {}
        }
        };
        let keyring = Keyring::debian();
        let index = match debimage::fetch_index(&client, source, &keyring, &plan.cache, &on)
            .await
            .context("read the signed package index")
        {
            Ok(index) => index,
            Err(err) => {
                phase.fail(&format!("reading the {suites} index"));
                return Err(err);
            }
        };
        let mut signers = signers.into_inner().expect("no panic while held");
        // Every suite is signed by the same archive keys, each named once.
        signers.sort();
        signers.dedup();
        phase.finish(&format!(
            "{suites} index: signature verified (key {}), {} packages listed",
            signers
                .iter()
                .map(|k| &k[k.len().saturating_sub(16)..])
                .collect::<Vec<_>>()
                .join(", "),
            index.packages().len()
        ));
        Ok(index)
    }

    fn header(&self) -> String {
        format!(
            "The Debian packages of every recipe of {}, pinned by name, version and SHA256.\n\
             `cargo xtask bases` takes exactly these, checked against Debian's signed index;\n\
             `{}` resolves every recipe again and rewrites this file. Commit it.",
            self.plan.lock.manifest, self.plan.lock.update_command
        )
    }
}

/// The package side of a manifest recipe, as `debimage` takes it.
pub(super) fn debian_recipe(name: &str, recipe: &Recipe) -> debimage::Recipe {
    debimage::Recipe {
        name: name.to_string(),
        packages: recipe.packages.clone(),
        dependencies: recipe.dependencies,
        required: recipe.required,
        exclude: recipe.exclude.clone(),
        target_release: None,
        drop_docs: recipe.drop_docs,
        local_ca_certificates: if recipe.host_ca_certificates {
            host_ca_bundle()
        } else {
            Vec::new()
        },
    }
}

pub(super) fn dpkg_db(dpkg: DpkgDb) -> debimage::DpkgDb {
    match dpkg {
        DpkgDb::Full => debimage::DpkgDb::Full,
        DpkgDb::StatusD => debimage::DpkgDb::StatusD,
    }
}

/// The host's CA bundle, where there is one.
pub(super) fn host_ca_bundle() -> Vec<PathBuf> {
    let path = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/ssl/certs/ca-certificates.crt"));
    if path.is_file() {
        vec![path]
    } else {
        Vec::new()
    }
}

/// What differs between an old lock and a new one, one line per package or recipe.
fn changes(old: Option<&Lock>, new: &Lock) -> Vec<String> {
    let empty = Lock::default();
    let old = old.unwrap_or(&empty);
    let mut lines = Vec::new();
    for (name, entry) in &new.recipes {
        let Some(before) = old.recipes.get(name) else {
            lines.push(format!("{name}: {} packages pinned", entry.packages.len()));
            continue;
        };
        let versions = |e: &LockEntry| -> BTreeMap<String, (String, String)> {
            e.packages
                .iter()
                .map(|p| (p.name.clone(), (p.version.clone(), p.sha256.clone())))
                .collect()
        };
        let (a, b) = (versions(before), versions(entry));
        for (package, (version, sha)) in &b {
            match a.get(package) {
                None => lines.push(format!("{name}: + {package} {version}")),
                Some((v, s)) if v != version || s != sha => {
                    lines.push(format!("{name}: {package} {v} -> {version}"))
                }
                Some(_) => {}
            }
        }
        for (package, (version, _)) in &a {
            if !b.contains_key(package) {
                lines.push(format!("{name}: - {package} {version}"));
            }
        }
    }
    for name in old.recipes.keys() {
        if !new.recipes.contains_key(name) {
            lines.push(format!("{name}: recipe gone"));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use debimage::lock::{LockedInputs, LockedPackage, LockedSource};

    fn entry(packages: &[(&str, &str)]) -> LockEntry {
        LockEntry {
            source: LockedSource {
                suites: vec!["bookworm".into()],
                arch: "amd64".into(),
                components: vec!["main".into()],
            },
            inputs: LockedInputs {
                packages: vec!["a".into()],
                dependencies: true,
                required: false,
                exclude: vec![],
                target_release: None,
            },
            packages: packages
                .iter()
                .map(|(name, version)| LockedPackage {
                    name: name.to_string(),
                    version: version.to_string(),
                    architecture: "amd64".into(),
                    filename: format!("pool/{name}_{version}.deb"),
                    sha256: format!("{name}{version}"),
                    size: 1,
                })
                .collect(),
        }
    }

    #[test]
    fn an_update_lists_what_moved() {
        let mut old = Lock::default();
        old.recipes
            .insert("r".into(), entry(&[("a", "1"), ("b", "1")]));
        old.recipes.insert("gone".into(), entry(&[("a", "1")]));
        let mut new = Lock::default();
        new.recipes
            .insert("r".into(), entry(&[("a", "2"), ("c", "1")]));
        new.recipes.insert("fresh".into(), entry(&[("a", "1")]));
        assert_eq!(
            changes(Some(&old), &new),
            [
                "fresh: 1 packages pinned",
                "r: a 1 -> 2",
                "r: + c 1",
                "r: - b 1",
                "gone: recipe gone"
            ]
        );
        assert!(changes(Some(&new), &new).is_empty());
    }
}
