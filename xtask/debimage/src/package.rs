//! One binary package as a `Packages` index lists it, with the fields the crate uses.

use anyhow::{bail, Context, Result};

use crate::deb822::Paragraph;

/// One binary package of the index, with the fields the crate uses. Relationship
/// fields are kept as text and parsed when the resolver visits the package.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub multi_arch: Option<String>,
    pub priority: Option<String>,
    pub essential: bool,
    pub depends: String,
    pub pre_depends: String,
    pub provides: String,
    pub replaces: String,
    pub breaks: String,
    pub conflicts: String,
    /// Path of the `.deb` relative to the mirror root.
    pub filename: String,
    pub size: u64,
    /// Lowercase hex SHA256 of the `.deb`.
    pub sha256: String,
    /// The suite whose index lists it, as the [`Source`] names it (when several suites list
    /// the same version, each has its own entry).
    pub suite: String,
}

impl Package {
    pub(crate) fn from_paragraph(p: &Paragraph<'_>, suite: &str) -> Result<Package> {
        let req = |name: &str| {
            p.get(name)
                .map(str::to_string)
                .with_context(|| format!("missing field {name}"))
        };
        let opt = |name: &str| p.get(name).unwrap_or("").to_string();
        let sha256 = req("SHA256")?.to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("malformed SHA256 `{sha256}`");
        }
        Ok(Package {
            name: req("Package")?,
            version: req("Version")?,
            architecture: req("Architecture")?,
            multi_arch: p.get("Multi-Arch").map(str::to_string),
            priority: p.get("Priority").map(str::to_string),
            essential: p
                .get("Essential")
                .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            depends: opt("Depends"),
            pre_depends: opt("Pre-Depends"),
            provides: opt("Provides"),
            replaces: opt("Replaces"),
            breaks: opt("Breaks"),
            conflicts: opt("Conflicts"),
            filename: req("Filename")?,
            size: req("Size")?.parse().context("malformed Size")?,
            sha256,
            suite: suite.to_string(),
        })
    }

    /// The rank of the package's priority, lower is more important; used to choose among
    /// providers of a virtual package the way apt prefers important packages.
    pub fn priority_rank(&self) -> u8 {
        match self.priority.as_deref() {
            Some("required") => 0,
            Some("important") => 1,
            Some("standard") => 2,
            Some("optional") => 3,
            Some("extra") => 4,
            _ => 5,
        }
    }

    /// The name dpkg uses for the package's files under `/var/lib/dpkg/info`: `Multi-Arch:
    /// same` packages are qualified with their architecture (`libc6:amd64`).
    pub fn dpkg_name(&self) -> String {
        if self.multi_arch.as_deref() == Some("same") {
            format!("{}:{}", self.name, self.architecture)
        } else {
            self.name.clone()
        }
    }
}
