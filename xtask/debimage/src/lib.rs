//! Reproducible container base images built straight from Debian's signed package indexes,
//! with no host tool: no `debootstrap`, no dpkg, no chroot, no root privileges, and nothing
//! from a package is ever run.
//!
//! # Pipeline
//!
//! 1. **Index** ([`fetch_index`]): for each suite of a [`Source`], the clearsigned `InRelease`
//!    file is fetched and its OpenPGP signature verified against a [`Keyring`]; only the
//!    verified text is parsed ([`release`]). The `Packages` index of each component is then
//!    fetched (by hash when the mirror offers it), checked against the SHA256 that the signed
//!    text lists, decompressed and parsed into one [`Index`] of every suite.
//! 2. **Resolve** ([`resolve`]): the package set of a [`Recipe`], its dependency closure
//!    chosen among the suites with apt's default priorities ([`index`] explains them), sorted
//!    by name. Or, with a lock file ([`lock`]), exactly the locked packages, checked against
//!    the signed index ([`resolve_locked`]), with no resolution at all.
//! 3. **Fetch and verify** ([`download`]): the `.deb` files, in parallel, each checked against
//!    the index's SHA256 before it gets its final name, and cached by that hash.
//! 4. **Layer** ([`write_rootfs_layer`]): the packages' `data.tar` members unpacked into one
//!    layer tar with a merged `/usr`, plus what their maintainer scripts would have done
//!    (applied by code, see [`effects`](crate#effects)), sorted and dated so that the same
//!    packages always give the same bytes; [`write_rootfs_layer_with`] adds a caller's
//!    [`Additions`] (symbolic links, host files). [`write_dir_layer`] makes a layer of a host
//!    directory (a Rust toolchain, say).
//! 5. **Image archive** ([`write_image_archive`]): layers and configuration in the
//!    `docker save` format, which `docker load` (or the Engine API's `POST /images/load`)
//!    imports.
//!
//! Progress is reported through [`Event`] callbacks; the crate never prints.
//!
//! # Trust model
//!
//! The only things trusted are the OpenPGP keys of [`Keyring::debian`], kept in this crate's
//! `keys/` folder and taken from Debian's `debian-archive-keyring` package (their
//! fingerprints are in `keys/README.md`). Everything else is checked against them:
//!
//! * an `InRelease` file is used only when at least one of its signatures verifies with a key
//!   of the keyring that was valid when it signed; a missing, bad or unknown-key signature is
//!   a [`TrustError`]. Its `Suite` or `Codename` must name the suite asked for (so that a
//!   validly signed file of another suite cannot be passed off), and a `Valid-Until` date in
//!   the past refuses it (so that an old, validly signed file cannot be replayed forever);
//! * the `Packages` indexes are checked against the SHA256 sums of the verified text, and the
//!   `.deb` files against the SHA256 sums of the indexes; a cached file is hashed again on
//!   every use, and a cached `InRelease` is verified again on every use.
//!
//! The transport is therefore not part of the trust: an `http://` mirror is accepted, exactly
//! because what it serves is verified, and an `https://` mirror is verified just the same.
//! The lock file ([`lock`]) adds a pin on top: it names the exact versions and SHA256 sums, and
//! they must still be listed, with the same sums, by the signed index.
//!
//! # Reproducibility
//!
//! The same index and recipe give a byte-identical layer: entries are sorted by path, owners
//! are numeric (no user or group names), files taken from packages keep the modification time
//! recorded in the (hash-checked) package, and everything the crate generates itself gets
//! [`FIXED_MTIME`] (the Unix epoch, as distroless and ko do). A lock file makes a base built on
//! another day or machine the same, as long as the mirror serves the locked versions.
//!
//! # Names
//!
//! [`Recipe`] is the package side of a base only (roots, exclusions, documentation); a
//! caller's own notion of a recipe (an image name, its environment, …) stays the caller's.
//! [`DpkgDb`] is the form of the dpkg database written into the layer.
//!
//! # Effects
//!
//! The effects of maintainer scripts that images need (`/etc/passwd`, the CA bundle, the
//! `cc` alternative, the dpkg database, …) are reproduced by code, each documented with the
//! script it stands for, in the `effects` module's source.

mod archive;
mod deb;
mod deb822;
mod fetch;
mod http;
pub mod index;
mod layer;
pub mod lock;
mod package;
pub mod release;
mod resolve;
mod signature;
mod source;
mod version;

pub use archive::{write_image_archive, ImageSpec};
pub use fetch::{download, fetch_index};
pub use http::{http_client, sha256_file};
pub use index::{Index, SuiteInfo};
pub use layer::{
    write_dir_layer, write_rootfs_layer, write_rootfs_layer_with, AddedFile, Additions, DpkgDb,
    LayerFile,
};
pub use lock::{resolve_locked, Lock, LockEntry, LockError};
pub use package::Package;
pub use resolve::resolve;
pub use signature::{Keyring, TrustError, Verified};
pub use source::{Recipe, Resolution, Source};
pub use version::compare_versions;

use std::path::PathBuf;

/// Modification time (seconds since the Unix epoch) of every entry the crate generates
/// rather than copies from a package, and the `created` time of images and their history.
pub const FIXED_MTIME: u64 = 0;

/// Progress reports of [`fetch_index`] and [`download`]; the caller draws them, the crate
/// never prints. ([`write_rootfs_layer`] takes no callback: it is synchronous and meant for
/// `spawn_blocking`.)
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The mirror could not be reached for a suite's `InRelease` (a connection error or a
    /// time-out, not an HTTP error), so the copy cached by an earlier run is used, verified
    /// again like a fresh one.
    MirrorUnreachable {
        /// The URL that failed.
        url: String,
        /// Why, on one line.
        error: String,
    },
    /// A suite's `InRelease` has been verified: its text is what the index is made from.
    IndexVerified {
        /// The suite as the [`Source`] names it.
        suite: String,
        /// Fingerprints (uppercase hex) of the keyring keys whose signatures verified.
        signed_by: Vec<String>,
        /// Whether it came from the cache ([`Event::MirrorUnreachable`] said why).
        from_cache: bool,
    },
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
