//! The package index of a [`Source`]: the `Packages` indices of every suite and component,
//! merged, with the priorities that choose among the suites.
//!
//! # Several suites
//!
//! A source may merge several suites, e.g. `bookworm` and `bookworm-backports`. Which version
//! of a package is chosen follows apt's pin priorities:
//!
//! * every suite gets apt's default priority from its signed `Release` file: 500, or 100
//!   for a `NotAutomatic` suite with `ButAutomaticUpgrades` (backports), or 1 for a
//!   `NotAutomatic` one (experimental);
//! * a recipe's [`target_release`](crate::Recipe::target_release) gets 990, as
//!   `apt-get -t SUITE` gives it;
//! * the candidate of a package is its version of the highest priority, and among equal
//!   priorities the highest version (then the earlier suite of the source).
//!
//! So with `bookworm` + `bookworm-backports` and no target, everything comes from bookworm,
//! except packages that only backports has (`golang-1.23-go`, say): they are taken from there
//! because nothing else provides them, as apt installs them. A root written `name/suite`
//! takes that root from that suite (`apt-get install golang-go/bookworm-backports`), and with
//! `target_release: bookworm-backports` every package that backports has comes from it.
//!
//! One liberty is taken, on purpose: where the candidate does not satisfy a versioned
//! dependency, the resolver falls back to another version that does (from a suite of lower
//! priority), where apt would stop with "but it is not going to be installed". A dependency
//! of a backported package on a newer library of backports is thus met without a target.

use std::collections::HashMap;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::deb822::parse_deb822;
use crate::package::Package;
use crate::release::Release;
use crate::source::Source;
use crate::version::{compare_versions, parse_relations};

/// The priority `apt-get -t` gives its target release.
pub const TARGET_PRIORITY: i32 = 990;

/// One suite of an [`Index`], as its verified `Release` file describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuiteInfo {
    /// The suite as the [`Source`] names it, e.g. `bookworm`.
    pub name: String,
    /// The `Suite` field, e.g. `oldstable`.
    pub suite: Option<String>,
    /// The `Codename` field, e.g. `bookworm`.
    pub codename: Option<String>,
    /// The `Date` field.
    pub date: Option<DateTime<Utc>>,
    /// apt's default priority of the suite (500, 100 or 1; see the module docs).
    pub priority: i32,
    /// Fingerprints of the keys whose signatures on the `InRelease` verified.
    pub signed_by: Vec<String>,
}

impl SuiteInfo {
    /// The description of a suite from its verified `Release` file.
    pub fn new(name: &str, release: &Release, signed_by: Vec<String>) -> SuiteInfo {
        SuiteInfo {
            name: name.to_string(),
            suite: release.suite.clone(),
            codename: release.codename.clone(),
            date: release.date,
            priority: release.default_priority(),
            signed_by,
        }
    }

    /// Whether `name` names this suite: as the source names it, or by its `Suite` or
    /// `Codename`.
    pub fn is_named(&self, name: &str) -> bool {
        self.name == name
            || self.suite.as_deref() == Some(name)
            || self.codename.as_deref() == Some(name)
    }
}

/// The parsed `Packages` indices of all suites and components of one [`Source`].
#[derive(Debug, Clone)]
pub struct Index {
    source: Source,
    suites: Vec<SuiteInfo>,
    packages: Vec<Package>,
    /// Package name → indices into `packages`, highest version first (equal versions in
    /// suite order).
    by_name: HashMap<String, Vec<usize>>,
    /// Provided name → (providing package index, provided version), in index order.
    providers: HashMap<String, Vec<(usize, Option<String>)>>,
}

impl Index {
    /// Builds an index from the text of `Packages` files: for each suite, in the source's
    /// order, its description and one text per component. Packages of other architectures
    /// than the source's (and `all`) are ignored.
    pub(crate) fn new(source: Source, suites: Vec<(SuiteInfo, Vec<String>)>) -> Result<Index> {
        let mut packages = Vec::new();
        let mut infos = Vec::new();
        for (info, texts) in suites {
            for text in &texts {
                let paragraphs = parse_deb822(text)
                    .with_context(|| format!("parse a packages index of {}", info.name))?;
                for (n, p) in paragraphs.iter().enumerate() {
                    let pkg = Package::from_paragraph(p, &info.name).with_context(|| {
                        format!(
                            "packages index of {}, stanza {} ({})",
                            info.name,
                            n + 1,
                            p.get("Package").unwrap_or("?")
                        )
                    })?;
                    if pkg.architecture == source.arch || pkg.architecture == "all" {
                        packages.push(pkg);
                    }
                }
            }
            infos.push(info);
        }
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        let mut providers: HashMap<String, Vec<(usize, Option<String>)>> = HashMap::new();
        for (i, pkg) in packages.iter().enumerate() {
            by_name.entry(pkg.name.clone()).or_default().push(i);
            for group in parse_relations(&pkg.provides)
                .with_context(|| format!("Provides of {} {}", pkg.name, pkg.version))?
            {
                for dep in group {
                    let version = dep.constraint.map(|(_, v)| v);
                    providers.entry(dep.name).or_default().push((i, version));
                }
            }
        }
        for list in by_name.values_mut() {
            // Stable: equal versions keep index order, so the earlier suite and component
            // come first.
            list.sort_by(|&a, &b| compare_versions(&packages[b].version, &packages[a].version));
        }
        Ok(Index {
            source,
            suites: infos,
            packages,
            by_name,
            providers,
        })
    }

    /// An index of one suite (named after the source's first) from `Packages` texts, for
    /// tests.
    #[cfg(test)]
    pub(crate) fn from_packages_texts(source: Source, texts: &[&str]) -> Result<Index> {
        let info = SuiteInfo {
            name: source.suites[0].clone(),
            suite: None,
            codename: None,
            date: None,
            priority: 500,
            signed_by: Vec::new(),
        };
        let texts = texts.iter().map(|t| t.to_string()).collect();
        Index::new(source, vec![(info, texts)])
    }

    /// The source the index was read from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The suites, in the source's order.
    pub fn suites(&self) -> &[SuiteInfo] {
        &self.suites
    }

    /// The suite that `name` names (see [`SuiteInfo::is_named`]).
    pub fn suite(&self, name: &str) -> Option<&SuiteInfo> {
        self.suites.iter().find(|s| s.is_named(name))
    }

    /// All packages, in index order.
    pub fn packages(&self) -> &[Package] {
        &self.packages
    }

    /// The priority of a package of this index: 990 when its suite is `target`, else its
    /// suite's default priority.
    pub fn priority(&self, pkg: &Package, target: Option<&str>) -> i32 {
        let Some(suite) = self.suites.iter().find(|s| s.name == pkg.suite) else {
            return 0;
        };
        if target.is_some_and(|t| suite.is_named(t)) {
            TARGET_PRIORITY
        } else {
            suite.priority
        }
    }

    /// The candidate of a package with apt's default priorities: its version of the highest
    /// priority, the highest version among equals.
    pub fn get(&self, name: &str) -> Option<&Package> {
        self.versions(name).min_by_key(|p| -self.priority(p, None))
    }

    /// All versions of a package, highest first.
    pub fn versions(&self, name: &str) -> impl Iterator<Item = &Package> {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .map(|&i| &self.packages[i])
    }

    /// Packages that provide `name`, with the version they provide.
    pub fn providers(&self, name: &str) -> impl Iterator<Item = (&Package, Option<&str>)> {
        self.providers
            .get(name)
            .into_iter()
            .flatten()
            .map(|(i, v)| (&self.packages[*i], v.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_index_fields() {
        let sha = "ab".repeat(32);
        let text = format!(
            "Package: libc6\nVersion: 2.36-9\nArchitecture: amd64\nMulti-Arch: same\n\
             Priority: optional\nDepends: libgcc-s1\nProvides: libc6-x (= 1.0), foo\n\
             Filename: pool/main/g/glibc/libc6.deb\nSize: 10\nSHA256: {sha}\n\n\
             Package: libc6\nVersion: 2.36-9+deb12u1\nArchitecture: amd64\nEssential: yes\n\
             Filename: pool/x.deb\nSize: 11\nSHA256: {sha}\n\n\
             Package: other\nVersion: 1\nArchitecture: arm64\nFilename: f\nSize: 1\nSHA256: {sha}\n"
        );
        let index = Index::from_packages_texts(Source::default(), &[&text]).unwrap();
        assert_eq!(index.packages().len(), 2);
        let best = index.get("libc6").unwrap();
        assert_eq!(best.version, "2.36-9+deb12u1");
        assert!(best.essential);
        assert_eq!(index.versions("libc6").count(), 2);
        let provs: Vec<_> = index
            .providers("libc6-x")
            .map(|(p, v)| (p.version.as_str(), v))
            .collect();
        assert_eq!(provs, vec![("2.36-9", Some("1.0"))]);
        assert_eq!(index.providers("foo").next().unwrap().1, None);
        assert!(index.get("other").is_none());
        assert_eq!(
            index.versions("libc6").last().unwrap().dpkg_name(),
            "libc6:amd64"
        );
        let bad = "Package: x\nVersion: 1\nArchitecture: all\nFilename: f\nSize: 1\nSHA256: zz\n";
        assert!(Index::from_packages_texts(Source::default(), &[bad]).is_err());
    }
}
