//! The effects of maintainer scripts that an image needs, reproduced by code.
//!
//! Nothing from a package is ever run. Instead, for the packages of bookworm's base
//! system, this module does what their `postinst` scripts (and dpkg triggers) would have
//! done on a fresh install and what a container needs; each effect applies only when its
//! package is in the set, and each says which script it stands for. Everything generated
//! is owned by root (unless the script sets another owner) and dated
//! [`FIXED_MTIME`](super::FIXED_MTIME); files copied with `cp -p` keep their metadata.
//!
//! Not reproduced, on purpose:
//! - `ldconfig` (libc-bin's trigger): without `/etc/ld.so.cache`, glibc's loader searches
//!   its default directories, which on Debian include the multiarch ones, so every
//!   library of the image is still found.
//! - OpenSSL hash links in `/etc/ssl/certs` (update-ca-certificates' `openssl rehash`):
//!   computing them needs X.509 parsing; the bundle, which is what curl, cargo, Go,
//!   rustls-native-certs and OpenSSL's default `CAfile` use, is written.
//! - `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`: the container engine mounts them.
//! - debconf's database and systemd units: nothing in an image reads them.

mod accounts;
mod alternatives;
mod dpkg_db;
mod system;

use anyhow::Result;

use super::{Tree, Unpacked};
use crate::source::Resolution;
use crate::DpkgDb;

/// Group ids that Debian allocates statically (base-passwd): `mail`, `shadow`, `utmp`.
pub(super) const GID_MAIL: u64 = 8;
pub(super) const GID_SHADOW: u64 = 42;
pub(super) const GID_UTMP: u64 = 43;
/// The unprivileged user of distroless images.
pub(super) const NONROOT: u64 = 65532;

/// Applies every effect, in a fixed order, then writes the dpkg database of `style`.
pub(crate) fn apply(
    tree: &mut Tree,
    res: &Resolution,
    unpacked: &[Unpacked],
    style: DpkgDb,
) -> Result<()> {
    let has = |name: &str| res.packages.iter().any(|p| p.name == name);
    if has("base-files") {
        system::base_files(tree)?;
    }
    if has("dash") {
        system::dash(tree);
    }
    accounts::users_and_groups(tree, has("base-passwd"))?;
    if has("passwd") {
        accounts::shadow(tree)?;
    }
    system::nsswitch(tree, has("libc-bin"))?;
    if has("debianutils") {
        accounts::shells(tree)?;
    }
    if has("ca-certificates") {
        system::ca_certificates(tree)?;
    }
    if has("tzdata") {
        system::tzdata(tree);
    }
    alternatives::alternatives(tree, unpacked, has("dpkg"));
    if has("apt") {
        system::apt_sources(tree, &res.source);
    }
    if res.drop_docs && has("dpkg") {
        system::dpkg_excludes(tree);
    }
    system::tmp(tree);
    dpkg_db::dpkg_database(tree, res, unpacked, style)
}

/// `cp -p from to`, unless `to` exists: a copy with the source's mode, owner and mtime.
pub(super) fn copy_preserving(tree: &mut Tree, from: &str, to: &str) -> Result<bool> {
    if tree.get(to).is_some() {
        return Ok(false);
    }
    let Some(node) = tree.get(from).cloned() else {
        return Ok(false);
    };
    let Some(data) = tree.read(from)? else {
        return Ok(false);
    };
    tree.put_file(to, node.mode, node.uid, node.gid, data);
    let path = tree.rewrite(to);
    if let Some(n) = tree.nodes.get_mut(&path) {
        n.mtime = node.mtime;
    }
    Ok(true)
}
