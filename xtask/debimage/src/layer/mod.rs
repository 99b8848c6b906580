//! Layer tars: the root filesystem of a package set, and a host directory tree.
//!
//! Split by job: [`tree`] holds the tree and its conflict rules, [`unpack`] fills it from
//! packages, [`docs`] filters documentation, [`additions`] adds a caller's links and files,
//! [`writer`] writes it.
//!
//! [`write_rootfs_layer`] works in two passes so that the output can be sorted and file
//! conflicts decided after every package is known: the first pass unpacks each package's
//! `data.tar` into an in-memory tree of metadata, copying file contents into one spool
//! file next to the output (so memory stays small whatever the image size); the second
//! writes the tree in path order, reading contents back from the spool.
//!
//! Layout: merged `/usr` as debootstrap makes it for bookworm. `/bin`, `/sbin`, `/lib`,
//! `/lib64` (and `/lib32`, `/libx32`, `/libo32` when a package uses them) are symlinks
//! to their `/usr` counterparts, and package paths under them, including hard-link
//! targets, are rewritten to `/usr`. Symlink targets are left alone: debootstrap's dpkg
//! writes them verbatim through the aliases too, so they resolve the same way.
//!
//! Conflicts: packages are unpacked in name order. Directories declared by several
//! packages merge (the first declaration's metadata stays; differing modes or owners are
//! noted). Identical files and symlinks merge silently. For any other clash the later
//! package wins only if it declares `Replaces` on the earlier one (as dpkg would let it),
//! otherwise the earlier one stays; both cases are noted. A directory is never replaced
//! by a non-directory.

mod additions;
mod docs;
mod tree;
mod unpack;
mod writer;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::deb::normalize;
mod effects;
use crate::source::Resolution;
use crate::FIXED_MTIME;

pub use additions::{AddedFile, Additions};
pub(crate) use docs::{DOC_EXCLUDES, DOC_INCLUDES};
pub(crate) use tree::{Kind, Tree, Unpacked};

use self::writer::{header_for, write_layer, TempPath};

/// The merged-`/usr` aliases that always exist (debootstrap creates them for amd64).
const USR_ALIASES: &[&str] = &["bin", "sbin", "lib", "lib64"];
/// Aliases created only when a package ships something under them.
pub(crate) const OPTIONAL_USR_ALIASES: &[&str] = &["lib32", "libx32", "libo32"];

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

/// Unpacks the packages of `res` (their `.deb` files in `debs`, in the same order) into
/// one layer tar at `out`, applies the maintainer-script effects the image needs (see
/// the `effects` module) and the dpkg database of `style`.
///
/// The result is byte-identical for the same packages and recipe; it is written through
/// a temporary file, and a spool file of the size of the unpacked contents is used next
/// to `out` meanwhile.
pub fn write_rootfs_layer(
    res: &Resolution,
    debs: &[PathBuf],
    out: &Path,
    style: DpkgDb,
) -> Result<LayerFile> {
    write_rootfs_layer_with(res, debs, out, style, &Additions::default())
}

/// [`write_rootfs_layer`], and then the links and files of `additions` (see [`Additions`]),
/// which never replace an entry of the packages or the effects.
pub fn write_rootfs_layer_with(
    res: &Resolution,
    debs: &[PathBuf],
    out: &Path,
    style: DpkgDb,
    additions: &Additions,
) -> Result<LayerFile> {
    if debs.len() != res.packages.len() {
        bail!(
            "{} package files for {} packages of {}",
            debs.len(),
            res.packages.len(),
            res.name
        );
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let spool_path = TempPath::beside(out, "spool");
    let spool = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&spool_path.0)
        .with_context(|| format!("creating {}", spool_path.0.display()))?;

    let mut aliases: Vec<(String, String)> = USR_ALIASES
        .iter()
        .chain(OPTIONAL_USR_ALIASES)
        .map(|a| (a.to_string(), format!("usr/{a}")))
        .collect();
    if res.packages.iter().any(|p| p.name == "base-files") {
        // base-files' postinst turns these directories into symlinks to /run
        // (`migrate_directory`); aliasing them from the start puts anything a package
        // ships there where the symlinks lead.
        aliases.push(("var/run".into(), "run".into()));
        aliases.push(("var/lock".into(), "run/lock".into()));
    }
    let mut tree = Tree::new(spool, &res.packages, aliases)?;
    let mut unpacked = Vec::new();
    for (i, (pkg, deb)) in res.packages.iter().zip(debs).enumerate() {
        unpacked.push(
            tree.unpack(i, deb, res.drop_docs)
                .with_context(|| format!("unpacking {} {}", pkg.name, pkg.version))?,
        );
    }
    for cert in &res.local_ca_certificates {
        let name = cert
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| n.ends_with(".crt"))
            .with_context(|| {
                format!(
                    "local CA certificate {} must be named *.crt",
                    cert.display()
                )
            })?;
        let data = std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
        if !data
            .windows(27)
            .any(|w| w == b"-----BEGIN CERTIFICATE-----")
        {
            bail!("{} is not a PEM certificate", cert.display());
        }
        tree.put_file(
            &format!("usr/local/share/ca-certificates/{name}"),
            0o644,
            0,
            0,
            data,
        );
    }
    if !res.local_ca_certificates.is_empty()
        && !res.packages.iter().any(|p| p.name == "ca-certificates")
    {
        tree.notes.push(
            "local CA certificates installed, but without ca-certificates no bundle includes them"
                .to_string(),
        );
    }
    effects::apply(&mut tree, res, &unpacked, style)
        .context("applying maintainer-script effects")?;
    additions::apply(&mut tree, additions).context("adding the recipe's links and files")?;
    tree.finish();
    let notes = std::mem::take(&mut tree.notes);
    write_layer(out, notes, |w| tree.write_tar(w))
        .with_context(|| format!("writing the layer of {}", res.name))
}

/// Writes the directories `subdirs` of `src` (e.g. `bin` and `lib` of a Rust toolchain)
/// as a layer tar at `out`, under `dest_prefix` (e.g. `usr/local`, so that `rustc` is
/// `/usr/local/bin/rustc` and finds its sysroot at `/usr/local`).
///
/// Entries are sorted (by name within each directory), owned by 0:0, dated
/// [`FIXED_MTIME`], with modes, symlinks and hard links preserved; the directories of
/// `dest_prefix` are included with mode 0755. File contents are streamed, never held in
/// memory. Other file types (sockets, devices) are an error.
pub fn write_dir_layer(
    src: &Path,
    subdirs: &[&str],
    dest_prefix: &str,
    out: &Path,
) -> Result<LayerFile> {
    let prefix = normalize(dest_prefix.as_bytes());
    let mut subdirs: Vec<&str> = subdirs.to_vec();
    subdirs.sort_unstable();
    subdirs.dedup();
    for sub in &subdirs {
        let dir = src.join(sub);
        if !dir.is_dir() {
            bail!("{} is not a directory", dir.display());
        }
    }
    write_layer(out, Vec::new(), |w| {
        let mut builder = tar::Builder::new(w);
        let mut acc = String::new();
        for part in prefix.split('/').filter(|s| !s.is_empty()) {
            acc = if acc.is_empty() {
                part.to_string()
            } else {
                format!("{acc}/{part}")
            };
            let mut header = header_for(0o755, 0, 0, FIXED_MTIME);
            header.set_entry_type(tar::EntryType::Directory);
            builder
                .append_data(&mut header, format!("{acc}/"), io::empty())
                .context("writing a prefix directory")?;
        }
        // (device, inode) of files with several links → the path they were first written at.
        let mut seen: BTreeMap<(u64, u64), String> = BTreeMap::new();
        for sub in &subdirs {
            for entry in walkdir::WalkDir::new(src.join(sub)).sort_by_file_name() {
                let entry = entry.with_context(|| format!("walking {}", src.display()))?;
                let rel = entry
                    .path()
                    .strip_prefix(src)
                    .context("walked outside the source directory")?;
                let rel = rel
                    .to_str()
                    .with_context(|| format!("{} is not UTF-8", entry.path().display()))?;
                let dest = if prefix.is_empty() {
                    rel.to_string()
                } else {
                    format!("{prefix}/{rel}")
                };
                let meta = entry
                    .path()
                    .symlink_metadata()
                    .with_context(|| format!("reading metadata of {}", entry.path().display()))?;
                let mut header = header_for(meta.mode() & 0o7777, 0, 0, FIXED_MTIME);
                let ft = meta.file_type();
                if ft.is_dir() {
                    header.set_entry_type(tar::EntryType::Directory);
                    builder.append_data(&mut header, format!("{dest}/"), io::empty())
                } else if ft.is_symlink() {
                    let target = std::fs::read_link(entry.path())
                        .with_context(|| format!("reading link {}", entry.path().display()))?;
                    header.set_entry_type(tar::EntryType::Symlink);
                    builder.append_link(&mut header, &dest, target)
                } else if ft.is_file() {
                    let key = (meta.dev(), meta.ino());
                    if meta.nlink() > 1 {
                        if let Some(first) = seen.get(&key) {
                            header.set_entry_type(tar::EntryType::Link);
                            builder
                                .append_link(&mut header, &dest, first)
                                .with_context(|| format!("writing /{dest}"))?;
                            continue;
                        }
                        seen.insert(key, dest.clone());
                    }
                    let file = File::open(entry.path())
                        .with_context(|| format!("opening {}", entry.path().display()))?;
                    header.set_size(meta.len());
                    // `take` guards against a file growing while it is copied.
                    builder.append_data(&mut header, &dest, file.take(meta.len()))
                } else {
                    bail!("{}: unsupported file type", entry.path().display());
                }
                .with_context(|| format!("writing /{dest}"))?;
            }
        }
        builder.finish().context("finishing the layer tar")?;
        Ok(())
    })
    .with_context(|| format!("writing a layer of {}", src.display()))
}

#[cfg(test)]
mod tests;
