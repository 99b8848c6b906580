//! Builds container root filesystems straight from Debian packages, with no host tool.
//!
//! This is what Google's distroless rules and Chainguard's apko do: instead of running
//! `debootstrap` (which needs dpkg, a chroot and root privileges), the module reads the
//! archive's `Release` and `Packages` indices, resolves the dependency closure of a
//! [`Recipe`] itself, downloads and verifies the `.deb` files, and unpacks their
//! `data.tar` members into one reproducible layer tar. The handful of effects that
//! maintainer scripts would have had and that an image needs (the CA bundle, `/etc/passwd`,
//! the `cc` alternative, the dpkg database, …) are applied by code, never by running
//! anything from the packages. [`write_image_archive`] then wraps layers into a
//! `docker save`-format archive that the engine imports with `POST /images/load`.
//!
//! The pipeline is:
//!
//! 1. [`fetch_index`]: `Release` → `Packages.xz` of each component, checked and cached.
//! 2. [`resolve`]: the package set of a [`Recipe`], sorted by name.
//! 3. [`download`]: the `.deb` files, in parallel, checked and cached by hash.
//! 4. [`write_rootfs_layer`]: one layer tar with a merged-`/usr` tree.
//! 5. [`write_dir_layer`] (optional): a host directory, e.g. a Rust toolchain, as a layer.
//! 6. [`write_image_archive`]: the image archive for `docker load`.
//!
//! Trust: the `Release` file's OpenPGP signature is NOT verified (that needs an OpenPGP
//! implementation and the archive keyring); the module relies on HTTPS to the mirror for
//! the authenticity of `Release`, and on the SHA256 sums it lists for everything else.
//!
//! Reproducibility: the same index and recipe give a byte-identical layer. Entries are
//! sorted by path, owners are numeric (no user or group names), files taken from packages
//! keep the modification time recorded in the (hash-checked) package, and everything the
//! module generates itself gets [`FIXED_MTIME`] (the Unix epoch, as distroless and ko do).

mod archive;
mod deb;
mod effects;
mod fetch;
mod index;
mod layer;
mod resolve;
mod version;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use archive::write_image_archive;
pub use fetch::{download, fetch_index, http_client};
// The index type is re-exported for callers that keep an index around; xtask's own
// pipeline only passes it from `fetch_index` to `resolve` and never names it.
#[allow(unused_imports)]
pub use index::Index;
pub use index::Package;
pub use layer::{write_dir_layer, write_rootfs_layer};
pub use resolve::resolve;
pub use version::compare_versions;

/// Modification time (seconds since the Unix epoch) of every entry the module generates
/// rather than copies from a package, and the `created` time of images and their history.
pub const FIXED_MTIME: u64 = 0;

/// Where packages come from: one suite of one Debian mirror, for one architecture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// Base URL of the archive, without a trailing slash, e.g. `https://deb.debian.org/debian`.
    pub mirror: String,
    /// Suite or codename under `dists/`, e.g. `bookworm`.
    pub suite: String,
    /// Debian architecture name, e.g. `amd64`.
    pub arch: String,
    /// Components whose indices are merged, in order, e.g. `["main"]`.
    pub components: Vec<String>,
}

impl Default for Source {
    fn default() -> Self {
        Source {
            mirror: "https://deb.debian.org/debian".to_string(),
            suite: "bookworm".to_string(),
            arch: "amd64".to_string(),
            components: vec!["main".to_string()],
        }
    }
}

/// What goes into a root filesystem.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recipe {
    /// A short name used in messages, e.g. `distroless`.
    pub name: String,
    /// The root packages (real package names; a virtual name is accepted when it has a provider).
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
    /// Copied from [`Recipe::drop_docs`], applied by [`write_rootfs_layer`].
    pub drop_docs: bool,
    /// Copied from [`Recipe::local_ca_certificates`], read by [`write_rootfs_layer`].
    pub local_ca_certificates: Vec<PathBuf>,
}

/// Progress reports of [`download`]; the caller draws them, the module never prints.
/// ([`fetch_index`] and [`write_rootfs_layer`] take no callback: the first is one small
/// download, the second is synchronous and meant for `spawn_blocking`.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The cache has been checked: `download_bytes` remain to be fetched; `cached` packages
    /// were found intact in the cache.
    Resolved {
        packages: usize,
        download_bytes: u64,
        cached: usize,
    },
    /// One package has been downloaded and verified.
    Downloaded { name: String, bytes: u64 },
    /// Every package is present and verified; the next step, [`write_rootfs_layer`],
    /// unpacks this many packages.
    Extracting { packages: usize },
}

/// Result of [`download`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// The verified `.deb` files, in the order of [`Resolution::packages`].
    pub debs: Vec<PathBuf>,
    /// Bytes fetched from the network by this call.
    pub bytes_downloaded: u64,
    /// Number of packages taken from the cache.
    pub from_cache: usize,
}

/// How the dpkg database is represented in the root filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DpkgDb {
    /// `/var/lib/dpkg/status`, `available` and `info/<pkg>.{list,md5sums,conffiles,…}`, as
    /// dpkg itself leaves them, so that `dpkg -l` and `apt-get install` work (debian-slim).
    Full,
    /// `/var/lib/dpkg/status.d/<pkg>` (the package's control stanza) and
    /// `status.d/<pkg>.md5sums`, as distroless writes them: scanners see the packages, and
    /// there is no dpkg to use them.
    StatusD,
}

/// A layer tar written by [`write_rootfs_layer`] or [`write_dir_layer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerFile {
    /// The uncompressed layer tar.
    pub path: PathBuf,
    /// `sha256:<hex>` of the tar, the layer's `diff_id`.
    pub diff_id: String,
    /// Size of the tar in bytes.
    pub size: u64,
    /// What was decided while building it: file conflicts between packages, skipped
    /// entries, maintainer-script effects that were not reproduced.
    pub notes: Vec<String>,
}

/// The image configuration written by [`write_image_archive`]. The architecture is
/// `amd64` and the OS `linux`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageSpec {
    /// `KEY=value` entries.
    pub env: Vec<String>,
    /// The default command.
    pub cmd: Vec<String>,
    /// `user[:group]`, numeric or by name.
    pub user: Option<String>,
    /// The working directory.
    pub workdir: Option<String>,
    /// Image labels.
    pub labels: BTreeMap<String, String>,
    /// `created_by` of each layer's history entry, one per layer (or empty for defaults).
    pub history: Vec<String>,
}
