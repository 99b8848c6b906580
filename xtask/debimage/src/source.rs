//! What a base is made from: the [`Source`] of the packages, the [`Recipe`] of the package
//! set, and the [`Resolution`] that [`resolve`](crate::resolve) or
//! [`resolve_locked`](crate::resolve_locked) makes of them.

use std::path::PathBuf;

use crate::package::Package;

/// Where packages come from: one or more suites of one Debian mirror, for one architecture.
///
/// Several suites are merged into one index, the way apt merges the lines of its
/// `sources.list`: `["bookworm", "bookworm-backports"]` offers bookworm's packages plus the
/// newer ones of backports, which are chosen only where the recipe asks for them (see
/// [`index`](crate::index) for the priorities).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// Base URL of the archive, without a trailing slash, e.g. `https://deb.debian.org/debian`.
    /// `http://` is as good as `https://`: what the mirror serves is verified either way.
    pub mirror: String,
    /// Suites or codenames under `dists/`, e.g. `["bookworm", "bookworm-backports"]`; at least
    /// one. Their order breaks ties between equal versions and equal priorities.
    pub suites: Vec<String>,
    /// Debian architecture name, e.g. `amd64`.
    pub arch: String,
    /// Components whose indices are merged, in order, e.g. `["main"]`.
    pub components: Vec<String>,
}

impl Default for Source {
    fn default() -> Self {
        Source {
            mirror: "https://deb.debian.org/debian".to_string(),
            suites: vec!["bookworm".to_string()],
            arch: "amd64".to_string(),
            components: vec!["main".to_string()],
        }
    }
}

impl Source {
    /// The mirror URL without a trailing slash.
    pub fn mirror_url(&self) -> &str {
        self.mirror.trim_end_matches('/')
    }
}

/// What goes into a root filesystem: the package side of a base image.
///
/// Not to be confused with a caller's own recipe type (xtask's manifest has one that also
/// names the image, its environment and its command); this one only says which packages and
/// how they are laid out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recipe {
    /// A short name used in messages and as the key of the lock file, e.g. `distroless`.
    pub name: String,
    /// The root packages (real package names; a virtual name is accepted when it has a
    /// provider). `name/suite` takes that root from that suite only, as `apt-get install
    /// name/suite` does (its dependencies are chosen as usual).
    pub packages: Vec<String>,
    /// `true`: resolve the closure of `Pre-Depends` and `Depends`; `false`: exactly the roots,
    /// as distroless does. Note that packages never declare dependencies on `Essential: yes`
    /// packages (dpkg assumes them), so a closure without `required` lists e.g. `coreutils`
    /// only if a root names it.
    pub dependencies: bool,
    /// Also take every package with `Priority: required`, like debootstrap's `minbase`
    /// variant (which adds `apt` on top: name it as a root if wanted).
    pub required: bool,
    /// Packages never installed; a dependency that only they could satisfy is cut and
    /// reported in [`Resolution::notes`].
    pub exclude: Vec<String>,
    /// The suite preferred over the others, like `apt-get -t SUITE`: its packages get
    /// priority 990, so every package it has (roots and dependencies alike) is taken from it.
    /// `None`: apt's default priorities (see [`index`](crate::index)).
    pub target_release: Option<String>,
    /// Drop documentation like the official `debian:*-slim` images do through
    /// `/etc/dpkg/dpkg.cfg.d/docker`: everything under `/usr/share/doc` except each
    /// `copyright` file, and everything under `/usr/share/{man,info,groff,linda,locale}`
    /// and `/usr/share/lintian/overrides` (directories left empty are dropped too, the
    /// top-level ones stay).
    /// The same file is written into the image when dpkg is installed, so that packages
    /// installed later are filtered alike.
    pub drop_docs: bool,
    /// Host PEM files (`*.crt`) installed as `/usr/local/share/ca-certificates/<file name>`
    /// and appended to the CA bundle after Debian's, as `update-ca-certificates` does with
    /// local certificates (only when `ca-certificates` is in the set). For a TLS-inspecting
    /// proxy's CA, which containers behind it must trust to reach crates.io.
    pub local_ca_certificates: Vec<PathBuf>,
}

/// The package set of a recipe.
#[derive(Clone, Debug)]
pub struct Resolution {
    /// The recipe's name.
    pub name: String,
    /// The chosen packages, sorted by name (one version of each).
    pub packages: Vec<Package>,
    /// Facts worth a look that are not errors: dependencies cut by `exclude`, conflicts.
    pub notes: Vec<String>,
    /// The source of the index the packages were chosen from.
    pub source: Source,
    /// Copied from [`Recipe::drop_docs`], applied by [`write_rootfs_layer`](crate::write_rootfs_layer).
    pub drop_docs: bool,
    /// Copied from [`Recipe::local_ca_certificates`], read by
    /// [`write_rootfs_layer`](crate::write_rootfs_layer).
    pub local_ca_certificates: Vec<PathBuf>,
}
