//! The lock file: the packages each recipe resolved to, pinned, so that a base built on
//! another day or another machine has the same layer digest while the mirror still serves
//! those versions.
//!
//! It is YAML, meant to live beside the file that declares the recipes (e.g.
//! `docker/images.lock` beside `docker/images.yaml`), and holds one [`LockEntry`] per recipe:
//!
//! ```yaml
//! version: 1
//! recipes:
//!   distroless-static:
//!     source: { suites: [bookworm], arch: amd64, components: [main] }
//!     inputs: { packages: [base-files, netbase], dependencies: false, required: false, exclude: [] }
//!     packages:
//!     - name: base-files
//!       version: 12.4+deb12u12
//!       architecture: amd64
//!       filename: pool/main/b/base-files/base-files_12.4+deb12u12_amd64.deb
//!       sha256: 5bd3…
//!       size: 70720
//! ```
//!
//! The mirror is not part of the pin: another mirror serves the same files under the same
//! names and sums. The suites, architecture and components are, and so are the inputs of the
//! resolution (the recipe's roots, exclusions, `dependencies`, `required` and target
//! release): when they change, [`LockEntry::check`] says so, and the entry must be made
//! afresh.
//!
//! Using it: [`LockEntry::new`] records a fresh [`resolve`](crate::resolve);
//! [`resolve_locked`] takes the packages of an entry without resolving anything, and checks
//! that the signed index still lists each locked version with the same SHA256. A point
//! release of Debian replaces versions in the index, after which an entry fails with
//! [`LockError::NotServed`] until it is made afresh.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::index::Index;
use crate::package::Package;
use crate::source::{Recipe, Resolution, Source};

/// The format version this crate reads and writes.
pub const LOCK_VERSION: u32 = 1;

/// A whole lock file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// [`LOCK_VERSION`].
    pub version: u32,
    /// Recipe name → its pinned packages.
    #[serde(default)]
    pub recipes: BTreeMap<String, LockEntry>,
}

impl Default for Lock {
    fn default() -> Self {
        Lock {
            version: LOCK_VERSION,
            recipes: BTreeMap::new(),
        }
    }
}

/// The pinned packages of one recipe, and what they were resolved from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    /// Where they come from, less the mirror.
    pub source: LockedSource,
    /// The recipe's inputs of the resolution.
    pub inputs: LockedInputs,
    /// The packages, sorted by name.
    pub packages: Vec<LockedPackage>,
}

/// The part of a [`Source`] that a lock pins: everything but the mirror.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedSource {
    pub suites: Vec<String>,
    pub arch: String,
    pub components: Vec<String>,
}

/// The fields of a [`Recipe`] that decide its package set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedInputs {
    pub packages: Vec<String>,
    pub dependencies: bool,
    pub required: bool,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_release: Option<String>,
}

/// One pinned package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// Path of the `.deb` relative to the mirror root.
    pub filename: String,
    /// Lowercase hex SHA256 of the `.deb`.
    pub sha256: String,
    pub size: u64,
}

/// Why a lock entry cannot be used. Every case means the same thing to a user: the entry must
/// be made afresh (resolve again and record it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The lock has no entry for the recipe.
    #[error("recipe `{recipe}` has no entry in the lock")]
    NoEntry { recipe: String },
    /// The recipe or the source changed since the entry was made.
    #[error(
        "the lock entry of recipe `{recipe}` was made for {field} {locked}, and it is now \
         {current}: the lock is out of date"
    )]
    Mismatch {
        recipe: String,
        /// What differs, e.g. `packages` or `suites`.
        field: String,
        locked: String,
        current: String,
    },
    /// The signed index no longer lists a locked version.
    #[error(
        "recipe `{recipe}`: the lock pins {package} {version}, which the signed index of \
         {suites} no longer lists ({available}): the lock is out of date"
    )]
    NotServed {
        recipe: String,
        package: String,
        version: String,
        suites: String,
        /// What the index has instead, in words.
        available: String,
    },
    /// The signed index lists the locked version with another file.
    #[error(
        "recipe `{recipe}`: the lock pins {package} {version} as {locked}, but the signed index \
         lists {listed}: refused (the version was rebuilt, or the lock edited)"
    )]
    FileChanged {
        recipe: String,
        package: String,
        version: String,
        locked: String,
        listed: String,
    },
}

impl Lock {
    /// Parses a lock file's text.
    pub fn from_yaml(text: &str) -> Result<Lock> {
        let lock: Lock = serde_yaml::from_str(text).context("parse the lock file")?;
        if lock.version != LOCK_VERSION {
            bail!(
                "lock file version {} is not {LOCK_VERSION}, the one this tool reads",
                lock.version
            );
        }
        Ok(lock)
    }

    /// The lock file's text, after `header` as comment lines.
    pub fn to_yaml(&self, header: &str) -> Result<String> {
        let mut text: String = header.lines().map(|l| format!("# {l}\n")).collect();
        text.push_str(&serde_yaml::to_string(self).context("serialise the lock file")?);
        Ok(text)
    }

    /// Reads a lock file; `None` when there is none.
    pub fn read(path: &Path) -> Result<Option<Lock>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
        };
        Lock::from_yaml(&text)
            .with_context(|| format!("read {}", path.display()))
            .map(Some)
    }

    /// Writes the lock file (through a temporary file and a rename, so that a reader never
    /// sees half of it), after `header` as comment lines.
    pub fn write(&self, path: &Path, header: &str) -> Result<()> {
        let text = self.to_yaml(header)?;
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".partial-{}", std::process::id()));
        let partial = path.with_file_name(name);
        std::fs::write(&partial, text).with_context(|| format!("write {}", partial.display()))?;
        std::fs::rename(&partial, path).with_context(|| format!("rename into {}", path.display()))
    }

    /// The entry of a recipe.
    pub fn entry(&self, recipe: &str) -> Result<&LockEntry, LockError> {
        self.recipes.get(recipe).ok_or_else(|| LockError::NoEntry {
            recipe: recipe.to_string(),
        })
    }
}

impl LockedSource {
    fn of(source: &Source) -> LockedSource {
        LockedSource {
            suites: source.suites.clone(),
            arch: source.arch.clone(),
            components: source.components.clone(),
        }
    }
}

impl LockedInputs {
    fn of(recipe: &Recipe) -> LockedInputs {
        LockedInputs {
            packages: recipe.packages.clone(),
            dependencies: recipe.dependencies,
            required: recipe.required,
            exclude: recipe.exclude.clone(),
            target_release: recipe.target_release.clone(),
        }
    }
}

impl LockedPackage {
    fn of(p: &Package) -> LockedPackage {
        LockedPackage {
            name: p.name.clone(),
            version: p.version.clone(),
            architecture: p.architecture.clone(),
            filename: p.filename.clone(),
            sha256: p.sha256.clone(),
            size: p.size,
        }
    }
}

impl LockEntry {
    /// The entry that pins `res`, a fresh resolution of `recipe`.
    pub fn new(recipe: &Recipe, res: &Resolution) -> LockEntry {
        let mut packages: Vec<LockedPackage> = res.packages.iter().map(LockedPackage::of).collect();
        packages.sort_by(|a, b| a.name.cmp(&b.name));
        LockEntry {
            source: LockedSource::of(&res.source),
            inputs: LockedInputs::of(recipe),
            packages,
        }
    }

    /// Whether the entry was made for this recipe and source (the mirror aside); the first
    /// difference is a [`LockError::Mismatch`].
    pub fn check(&self, recipe: &Recipe, source: &Source) -> Result<(), LockError> {
        let (locked, current) = (&self.inputs, LockedInputs::of(recipe));
        let (locked_source, current_source) = (&self.source, LockedSource::of(source));
        let fields: [(&str, String, String); 8] = [
            (
                "suites",
                list(&locked_source.suites),
                list(&current_source.suites),
            ),
            ("arch", locked_source.arch.clone(), current_source.arch),
            (
                "components",
                list(&locked_source.components),
                list(&current_source.components),
            ),
            ("packages", list(&locked.packages), list(&current.packages)),
            ("exclude", list(&locked.exclude), list(&current.exclude)),
            (
                "dependencies",
                locked.dependencies.to_string(),
                current.dependencies.to_string(),
            ),
            (
                "required",
                locked.required.to_string(),
                current.required.to_string(),
            ),
            (
                "target release",
                locked
                    .target_release
                    .clone()
                    .unwrap_or_else(|| "none".into()),
                current.target_release.unwrap_or_else(|| "none".into()),
            ),
        ];
        match fields.into_iter().find(|(_, a, b)| a != b) {
            None => Ok(()),
            Some((field, locked, current)) => Err(LockError::Mismatch {
                recipe: recipe.name.clone(),
                field: field.to_string(),
                locked,
                current,
            }),
        }
    }
}

fn list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

/// The packages of a lock entry, taken from the signed `index` without resolving anything:
/// each locked version must still be listed, with the same file, size and SHA256. The
/// result is what [`resolve`](crate::resolve) gave when the entry was made (its `notes`
/// aside, which are not recorded), so the same layer follows.
pub fn resolve_locked(
    index: &Index,
    recipe: &Recipe,
    entry: &LockEntry,
) -> Result<Resolution, LockError> {
    entry.check(recipe, index.source())?;
    let suites = index.source().suites.join(" + ");
    let mut packages = Vec::new();
    for locked in &entry.packages {
        let listed: Vec<&Package> = index
            .versions(&locked.name)
            .filter(|p| p.version == locked.version && p.architecture == locked.architecture)
            .collect();
        if listed.is_empty() {
            let versions: Vec<&str> = index
                .versions(&locked.name)
                .map(|p| p.version.as_str())
                .collect();
            return Err(LockError::NotServed {
                recipe: recipe.name.clone(),
                package: locked.name.clone(),
                version: locked.version.clone(),
                suites: suites.clone(),
                available: if versions.is_empty() {
                    "it has no version of it".to_string()
                } else {
                    format!("it has {}", versions.join(", "))
                },
            });
        }
        let same = |p: &&&Package| {
            p.sha256 == locked.sha256 && p.size == locked.size && p.filename == locked.filename
        };
        let Some(pkg) = listed.iter().find(same) else {
            let other = listed[0];
            return Err(LockError::FileChanged {
                recipe: recipe.name.clone(),
                package: locked.name.clone(),
                version: locked.version.clone(),
                locked: format!(
                    "{} ({} bytes, sha256 {})",
                    locked.filename, locked.size, locked.sha256
                ),
                listed: format!(
                    "{} ({} bytes, sha256 {})",
                    other.filename, other.size, other.sha256
                ),
            });
        };
        packages.push((*pkg).clone());
    }
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Resolution {
        name: recipe.name.clone(),
        packages,
        notes: Vec::new(),
        source: index.source().clone(),
        drop_docs: recipe.drop_docs,
        local_ca_certificates: recipe.local_ca_certificates.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve;

    fn index() -> Index {
        let text = format!(
            "Package: app\nVersion: 1.0\nArchitecture: amd64\nDepends: lib\n\
             Filename: pool/a/app_1.0.deb\nSize: 10\nSHA256: {}\n\n\
             Package: lib\nVersion: 2.0\nArchitecture: amd64\n\
             Filename: pool/l/lib_2.0.deb\nSize: 20\nSHA256: {}\n",
            "a".repeat(64),
            "b".repeat(64)
        );
        Index::from_packages_texts(Source::default(), &[&text]).unwrap()
    }

    fn recipe() -> Recipe {
        Recipe {
            name: "r".into(),
            packages: vec!["app".into()],
            dependencies: true,
            ..Recipe::default()
        }
    }

    #[test]
    fn a_lock_round_trips_and_gives_back_the_resolution() {
        let idx = index();
        let fresh = resolve(&idx, &recipe()).unwrap();
        let mut lock = Lock::default();
        lock.recipes
            .insert("r".into(), LockEntry::new(&recipe(), &fresh));
        let text = lock.to_yaml("made by a test\nsecond line").unwrap();
        assert!(
            text.starts_with("# made by a test\n# second line\nversion: 1\n"),
            "{text}"
        );
        assert!(!text.contains("mirror"), "{text}");
        let back = Lock::from_yaml(&text).unwrap();
        assert_eq!(back, lock);
        let locked = resolve_locked(&idx, &recipe(), back.entry("r").unwrap()).unwrap();
        assert_eq!(locked.packages, fresh.packages);
        assert!(matches!(
            back.entry("other"),
            Err(LockError::NoEntry { .. })
        ));
        assert!(Lock::from_yaml("version: 2\n").is_err());
        assert!(Lock::from_yaml("version: 1\nextra: 1\n").is_err());
    }

    #[test]
    fn a_changed_recipe_or_index_is_told_apart() {
        let idx = index();
        let entry = LockEntry::new(&recipe(), &resolve(&idx, &recipe()).unwrap());
        let mut changed = recipe();
        changed.packages.push("lib".into());
        let err = resolve_locked(&idx, &changed, &entry).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the lock entry of recipe `r` was made for packages [app], and it is now [app, lib]: \
             the lock is out of date"
        );
        let other_suite = Source {
            suites: vec!["trixie".into()],
            ..Source::default()
        };
        let err = entry.check(&recipe(), &other_suite).unwrap_err();
        assert!(
            matches!(err, LockError::Mismatch { ref field, .. } if field == "suites"),
            "{err}"
        );
        // Another mirror is fine.
        let mirror = Source {
            mirror: "http://elsewhere/debian".into(),
            ..Source::default()
        };
        entry.check(&recipe(), &mirror).unwrap();

        let mut gone = entry.clone();
        gone.packages[1].version = "1.9".into();
        let err = resolve_locked(&idx, &recipe(), &gone).unwrap_err();
        assert_eq!(
            err.to_string(),
            "recipe `r`: the lock pins lib 1.9, which the signed index of bookworm no longer \
             lists (it has 2.0): the lock is out of date"
        );
        let mut rebuilt = entry.clone();
        rebuilt.packages[0].sha256 = "c".repeat(64);
        let err = resolve_locked(&idx, &recipe(), &rebuilt).unwrap_err();
        assert!(matches!(err, LockError::FileChanged { .. }), "{err}");
    }
}
