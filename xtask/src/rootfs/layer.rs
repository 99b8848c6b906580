//! Layer tars: the root filesystem of a package set, and a host directory tree.
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

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::deb::{normalize, ControlFiles, Deb};
use super::effects;
use super::index::Package;
use super::version::parse_relations;
use super::{DpkgDb, LayerFile, Resolution, FIXED_MTIME};

/// The merged-`/usr` aliases that always exist (debootstrap creates them for amd64).
const USR_ALIASES: &[&str] = &["bin", "sbin", "lib", "lib64"];
/// Aliases created only when a package ships something under them.
const OPTIONAL_USR_ALIASES: &[&str] = &["lib32", "libx32", "libo32"];

/// Paths dropped by [`Recipe::drop_docs`](super::Recipe::drop_docs), as dpkg
/// `path-exclude` globs (where `*` also matches `/`), and the ones kept back.
pub(super) const DOC_EXCLUDES: &[&str] = &[
    "/usr/share/doc/*",
    "/usr/share/groff/*",
    "/usr/share/info/*",
    "/usr/share/linda/*",
    "/usr/share/lintian/overrides/*",
    "/usr/share/locale/*",
    "/usr/share/man/*",
];
pub(super) const DOC_INCLUDES: &[&str] = &["/usr/share/doc/*/copyright"];

/// Where a regular file's bytes are.
#[derive(Clone, Debug)]
pub(super) enum Content {
    Spool { offset: u64, len: u64 },
    Inline(Vec<u8>),
}

impl Content {
    fn len(&self) -> u64 {
        match self {
            Content::Spool { len, .. } => *len,
            Content::Inline(v) => v.len() as u64,
        }
    }
}

#[derive(Clone, Debug)]
pub(super) enum Kind {
    Dir,
    File(Content),
    Symlink(String),
    /// A hard link to another path of the tree (relative to the root, rewritten).
    HardLink(String),
}

/// One entry of the tree.
#[derive(Clone, Debug)]
pub(super) struct Node {
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    /// Index of the package that installed it, `None` when generated.
    pub owner: Option<usize>,
}

impl Node {
    pub fn generated(kind: Kind, mode: u32) -> Node {
        Node {
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: FIXED_MTIME,
            owner: None,
        }
    }
}

/// What the effects and the dpkg database need to know about an unpacked package.
pub(super) struct Unpacked {
    pub control: ControlFiles,
    /// Paths as the package ships them (before merged-`/usr` rewriting), in archive order,
    /// starting with `/.`: the content of dpkg's `info/<pkg>.list`.
    pub list: Vec<String>,
}

/// The root filesystem being assembled.
pub(super) struct Tree {
    /// Paths relative to the root, without leading or trailing slash.
    pub nodes: BTreeMap<String, Node>,
    /// Directories that `drop_docs` filtered out, kept in case a kept file needs them.
    excluded_dirs: BTreeMap<String, Node>,
    spool: File,
    spool_len: u64,
    /// Alias directory → target, e.g. `bin` → `usr/bin`.
    aliases: Vec<(String, String)>,
    used_aliases: BTreeSet<String>,
    pub notes: Vec<String>,
    /// Names of the packages, by index (for notes).
    names: Vec<String>,
    /// Names each package `Replaces`, by index.
    replaces: Vec<BTreeSet<String>>,
}

impl Tree {
    fn new(spool: File, packages: &[Package], aliases: Vec<(String, String)>) -> Result<Tree> {
        let mut replaces = Vec::new();
        for p in packages {
            let groups = parse_relations(&p.replaces)
                .with_context(|| format!("Replaces of {} {}", p.name, p.version))?;
            replaces.push(groups.into_iter().flatten().map(|d| d.name).collect());
        }
        Ok(Tree {
            nodes: BTreeMap::new(),
            excluded_dirs: BTreeMap::new(),
            spool,
            spool_len: 0,
            aliases,
            used_aliases: BTreeSet::new(),
            notes: Vec::new(),
            names: packages.iter().map(|p| p.name.clone()).collect(),
            replaces,
        })
    }

    /// Maps a path (absolute or relative) to its place in the tree: normalised, with
    /// aliased directories replaced by their targets.
    pub fn rewrite(&mut self, path: &str) -> String {
        let path = normalize(path.as_bytes());
        for (alias, target) in &self.aliases {
            if path == *alias {
                self.used_aliases.insert(alias.clone());
                return target.clone();
            }
            if let Some(rest) = path.strip_prefix(alias.as_str()) {
                if let Some(rest) = rest.strip_prefix('/') {
                    self.used_aliases.insert(alias.clone());
                    return format!("{target}/{rest}");
                }
            }
        }
        path
    }

    /// The node at `path` (a path as in a package, rewritten first).
    pub fn get(&mut self, path: &str) -> Option<&Node> {
        let p = self.rewrite(path);
        self.nodes.get(&p)
    }

    /// The contents of the regular file at `path` (following hard links, not symlinks).
    pub fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>> {
        let mut p = self.rewrite(path);
        for _ in 0..8 {
            match self.nodes.get(&p).map(|n| &n.kind) {
                Some(Kind::HardLink(t)) => p = t.clone(),
                Some(Kind::File(content)) => {
                    let content = content.clone();
                    return self.content(&content).map(Some);
                }
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    fn content(&mut self, content: &Content) -> Result<Vec<u8>> {
        match content {
            Content::Inline(v) => Ok(v.clone()),
            Content::Spool { offset, len } => {
                let mut buf = vec![0; *len as usize];
                self.spool
                    .seek(SeekFrom::Start(*offset))
                    .context("seeking in the spool file")?;
                self.spool
                    .read_exact(&mut buf)
                    .context("reading the spool file")?;
                Ok(buf)
            }
        }
    }

    /// Regular files under the directory `dir` (recursively), sorted by path.
    pub fn files_under(&mut self, dir: &str) -> Vec<String> {
        let prefix = format!("{}/", self.rewrite(dir));
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(_, n)| matches!(n.kind, Kind::File(_) | Kind::HardLink(_)))
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Inserts a generated entry at `path`, replacing whatever is there.
    pub fn put(&mut self, path: &str, node: Node) {
        let p = self.rewrite(path);
        self.nodes.insert(p, node);
    }

    /// A generated regular file.
    pub fn put_file(&mut self, path: &str, mode: u32, uid: u64, gid: u64, data: Vec<u8>) {
        let mut node = Node::generated(Kind::File(Content::Inline(data)), mode);
        node.uid = uid;
        node.gid = gid;
        self.put(path, node);
    }

    /// A generated symlink.
    pub fn put_symlink(&mut self, path: &str, target: &str) {
        self.put(
            path,
            Node::generated(Kind::Symlink(target.to_string()), 0o777),
        );
    }

    /// A generated directory, unless a directory is already there (whose metadata then
    /// stays, as with `mkdir -p`).
    pub fn ensure_dir(&mut self, path: &str, mode: u32, uid: u64, gid: u64) {
        let p = self.rewrite(path);
        if matches!(
            self.nodes.get(&p),
            Some(Node {
                kind: Kind::Dir,
                ..
            })
        ) {
            return;
        }
        let mut node = Node::generated(Kind::Dir, mode);
        node.uid = uid;
        node.gid = gid;
        self.nodes.insert(p, node);
    }

    fn spool_copy(&mut self, reader: &mut dyn Read) -> Result<Content> {
        let offset = self.spool_len;
        self.spool
            .seek(SeekFrom::Start(offset))
            .context("seeking in the spool file")?;
        let len = io::copy(reader, &mut self.spool).context("writing the spool file")?;
        self.spool_len += len;
        Ok(Content::Spool { offset, len })
    }

    fn owner_name(&self, node: &Node) -> &str {
        node.owner.map_or("(generated)", |i| &self.names[i])
    }

    /// Adds an entry unpacked from a package, deciding conflicts (see the module docs).
    fn add_from_package(&mut self, path: String, node: Node) -> Result<()> {
        let Some(old) = self.nodes.get(&path).cloned() else {
            self.nodes.insert(path, node);
            return Ok(());
        };
        let (old_name, new_name) = (
            self.owner_name(&old).to_string(),
            self.owner_name(&node).to_string(),
        );
        let same_meta = old.mode == node.mode && old.uid == node.uid && old.gid == node.gid;
        match (&old.kind, &node.kind) {
            (Kind::Dir, Kind::Dir) => {
                if !same_meta {
                    self.notes.push(format!(
                        "directory /{path}: kept {:o} {}:{} of {old_name}, {new_name} declares {:o} {}:{}",
                        old.mode, old.uid, old.gid, node.mode, node.uid, node.gid
                    ));
                }
                return Ok(());
            }
            (Kind::Dir, _) | (_, Kind::Dir) => {
                let keep_new = matches!(node.kind, Kind::Dir);
                self.notes.push(format!(
                    "/{path}: a directory and a non-directory ({old_name}, {new_name}); kept the directory"
                ));
                if keep_new {
                    self.nodes.insert(path, node);
                }
                return Ok(());
            }
            (Kind::Symlink(a), Kind::Symlink(b)) if a == b => return Ok(()),
            (Kind::HardLink(a), Kind::HardLink(b)) if a == b && same_meta => return Ok(()),
            (Kind::File(a), Kind::File(b)) if same_meta && a.len() == b.len() => {
                let (a, b) = (a.clone(), b.clone());
                if self.content(&a)? == self.content(&b)? {
                    return Ok(());
                }
            }
            _ => {}
        }
        let replaces = match (node.owner, old.owner) {
            (Some(new), Some(_)) => self.replaces[new].contains(&old_name),
            _ => false,
        };
        if replaces {
            self.notes.push(format!(
                "/{path}: {new_name} replaces the file of {old_name} (Replaces)"
            ));
            self.nodes.insert(path, node);
        } else {
            self.notes.push(format!(
                "/{path}: file conflict between {old_name} and {new_name}; kept {old_name}'s"
            ));
        }
        Ok(())
    }

    /// Unpacks one package into the tree.
    fn unpack(&mut self, index: usize, deb_path: &Path, drop_docs: bool) -> Result<Unpacked> {
        let mut deb = Deb::open(deb_path)?;
        let control = deb.control_files()?;
        if !control.contains_key("control") {
            bail!("{}: control.tar has no control file", deb_path.display());
        }
        let mut list = vec!["/.".to_string()];
        let mut data = deb.data()?;
        let entries = data
            .entries()
            .with_context(|| format!("reading data.tar of {}", deb_path.display()))?;
        for entry in entries {
            let mut entry =
                entry.with_context(|| format!("reading data.tar of {}", deb_path.display()))?;
            let original = normalize(&entry.path_bytes());
            if original.is_empty() {
                continue;
            }
            list.push(format!("/{original}"));
            let path = self.rewrite(&original);
            let header = entry.header();
            let mut node = Node {
                kind: Kind::Dir,
                mode: header.mode().context("bad mode")? & 0o7777,
                uid: header.uid().context("bad uid")?,
                gid: header.gid().context("bad gid")?,
                mtime: header.mtime().context("bad mtime")?,
                owner: Some(index),
            };
            let entry_type = header.entry_type();
            if drop_docs && doc_excluded(&path) {
                if entry_type.is_dir() {
                    self.excluded_dirs.insert(path, node);
                }
                continue;
            }
            node.kind = match entry_type {
                tar::EntryType::Directory => Kind::Dir,
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    Kind::File(self.spool_copy(&mut entry)?)
                }
                tar::EntryType::Symlink => {
                    let target = entry
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    Kind::Symlink(target)
                }
                tar::EntryType::Link => {
                    let target = entry.link_name_bytes().unwrap_or_default();
                    Kind::HardLink(self.rewrite(&normalize(&target)))
                }
                other => {
                    self.notes.push(format!(
                        "/{original} of {}: skipped entry of type {other:?}",
                        self.names[index]
                    ));
                    continue;
                }
            };
            self.add_from_package(path, node)?;
        }
        Ok(Unpacked { control, list })
    }

    /// Adds the alias symlinks, turns hard-link sets into valid tar order, and adds
    /// missing parent directories.
    fn finish(&mut self) {
        for (alias, target) in self.aliases.clone() {
            let optional = OPTIONAL_USR_ALIASES.contains(&alias.as_str());
            if optional && !self.used_aliases.contains(&alias) {
                continue;
            }
            self.ensure_dir(&target, 0o755, 0, 0);
            // The alias itself must not be rewritten: insert it directly.
            let link = if target.starts_with("usr/") {
                target.clone()
            } else {
                format!("/{target}")
            };
            self.nodes
                .insert(alias, Node::generated(Kind::Symlink(link), 0o777));
        }
        self.fix_hard_links();
        self.fix_parents();
    }

    /// In a tar, a hard link must follow the file it links to. Sorting by path can put a
    /// link first, so each set of hard-linked paths stores the content at its first path
    /// and links the others to it.
    fn fix_hard_links(&mut self) {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let links: Vec<(String, String)> = self
            .nodes
            .iter()
            .filter_map(|(p, n)| match &n.kind {
                Kind::HardLink(t) => Some((p.clone(), t.clone())),
                _ => None,
            })
            .collect();
        for (path, mut target) in links {
            let mut hops = 0;
            while let Some(Node {
                kind: Kind::HardLink(next),
                ..
            }) = self.nodes.get(&target)
            {
                target = next.clone();
                hops += 1;
                if hops > 32 {
                    break;
                }
            }
            if matches!(
                self.nodes.get(&target),
                Some(Node {
                    kind: Kind::File(_),
                    ..
                })
            ) {
                groups.entry(target).or_default().push(path);
            } else {
                self.notes
                    .push(format!("/{path}: hard link to missing /{target}, dropped"));
                self.nodes.remove(&path);
            }
        }
        for (file, links) in groups {
            let mut all: Vec<String> = links;
            all.push(file.clone());
            all.sort();
            let first = all[0].clone();
            let node = self
                .nodes
                .remove(&file)
                .expect("hard link target checked above");
            for p in &all {
                if *p != first {
                    let mut link = node.clone();
                    link.kind = Kind::HardLink(first.clone());
                    self.nodes.insert(p.clone(), link);
                }
            }
            self.nodes.insert(first, node);
        }
    }

    fn fix_parents(&mut self) {
        let mut missing = BTreeMap::new();
        let mut orphans = Vec::new();
        for path in self.nodes.keys() {
            let mut p = path.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                match self.nodes.get(parent) {
                    Some(Node {
                        kind: Kind::Dir, ..
                    }) => {}
                    Some(_) => orphans.push(path.clone()),
                    None => {
                        let node = self
                            .excluded_dirs
                            .get(parent)
                            .cloned()
                            .unwrap_or_else(|| Node::generated(Kind::Dir, 0o755));
                        missing.insert(parent.to_string(), node);
                    }
                }
                p = parent;
            }
        }
        for path in orphans {
            if self.nodes.remove(&path).is_some() {
                self.notes
                    .push(format!("/{path}: lies under a non-directory, dropped"));
            }
        }
        self.nodes.extend(missing);
    }

    /// Writes the tree as a tar to `out`, sorted by path.
    fn write_tar(&mut self, out: &mut dyn Write) -> Result<()> {
        let mut builder = tar::Builder::new(out);
        let nodes = std::mem::take(&mut self.nodes);
        for (path, node) in &nodes {
            let mut header = header_for(node.mode, node.uid, node.gid, node.mtime);
            match &node.kind {
                Kind::Dir => {
                    header.set_entry_type(tar::EntryType::Directory);
                    builder.append_data(&mut header, format!("{path}/"), io::empty())
                }
                Kind::File(Content::Inline(data)) => {
                    header.set_size(data.len() as u64);
                    builder.append_data(&mut header, path, data.as_slice())
                }
                Kind::File(Content::Spool { offset, len }) => {
                    header.set_size(*len);
                    self.spool
                        .seek(SeekFrom::Start(*offset))
                        .context("seeking in the spool file")?;
                    builder.append_data(&mut header, path, (&mut self.spool).take(*len))
                }
                Kind::Symlink(target) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    builder.append_link(&mut header, path, target)
                }
                Kind::HardLink(target) => {
                    header.set_entry_type(tar::EntryType::Link);
                    builder.append_link(&mut header, path, target)
                }
            }
            .with_context(|| format!("writing /{path} to the layer"))?;
        }
        self.nodes = nodes;
        builder.finish().context("finishing the layer tar")?;
        Ok(())
    }
}

/// A GNU tar header with fixed metadata and no user or group names.
fn header_for(mode: u32, uid: u64, gid: u64, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_mode(mode);
    header.set_uid(uid);
    header.set_gid(gid);
    header.set_mtime(mtime);
    header.set_size(0);
    header
}

/// Whether `drop_docs` removes `path` (relative to the root), with dpkg's glob semantics
/// for the patterns of [`DOC_EXCLUDES`] and [`DOC_INCLUDES`].
pub(super) fn doc_excluded(path: &str) -> bool {
    let abs = format!("/{path}");
    let matches = |pattern: &str| glob_match(pattern, &abs);
    DOC_EXCLUDES.iter().any(|p| matches(p)) && !DOC_INCLUDES.iter().any(|p| matches(p))
}

/// `fnmatch` without `FNM_PATHNAME` for patterns whose only wildcard is `*`.
fn glob_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            if !tail.contains('*') {
                return rest.len() >= tail.len() && rest.ends_with(tail);
            }
            (0..=rest.len())
                .filter(|&i| rest.is_char_boundary(i))
                .any(|i| glob_match(tail, &rest[i..]))
        }
    }
}

/// A writer that hashes and counts what passes through it.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A file next to `out` that is removed on drop, for spools and unfinished outputs.
struct TempPath(PathBuf);

impl TempPath {
    fn beside(out: &Path, what: &str) -> TempPath {
        let mut name = out.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{what}-{}", std::process::id()));
        TempPath(out.with_file_name(name))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes a layer tar to `out` through a temporary file, hashing it on the way.
fn write_layer(
    out: &Path,
    notes: Vec<String>,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<LayerFile> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let partial = TempPath::beside(out, "partial");
    let file =
        File::create(&partial.0).with_context(|| format!("creating {}", partial.0.display()))?;
    let mut writer = HashingWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        len: 0,
    };
    write(&mut writer)?;
    writer.flush().context("flushing the layer")?;
    let HashingWriter {
        inner, hasher, len, ..
    } = writer;
    let file = inner
        .into_inner()
        .map_err(|e| e.into_error())
        .context("flushing the layer")?;
    file.sync_all().context("syncing the layer")?;
    std::fs::rename(&partial.0, out).with_context(|| format!("renaming into {}", out.display()))?;
    Ok(LayerFile {
        path: out.to_path_buf(),
        diff_id: format!("sha256:{}", hex::encode(hasher.finalize())),
        size: len,
        notes,
    })
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
mod tests {
    use super::super::deb::tests::{build_deb, tempdir, TestEntry};
    use super::super::{Resolution, Source};
    use super::*;

    fn pkg(name: &str, replaces: &str) -> Package {
        Package {
            name: name.into(),
            version: "1".into(),
            architecture: "amd64".into(),
            replaces: replaces.into(),
            ..Package::default()
        }
    }

    fn control(name: &str) -> String {
        format!("Package: {name}\nVersion: 1\nArchitecture: amd64\nDescription: test\n")
    }

    /// Two small packages exercising merged /usr, hard links, conflicts and Replaces.
    fn fixture(dir: &Path, drop_docs: bool) -> (Resolution, Vec<PathBuf>) {
        let ca = control("alpha");
        let cb = control("beta");
        let a = build_deb(
            dir,
            "alpha",
            &[("control", ca.as_bytes()), ("md5sums", b"0  bin/tool\n")],
            &[
                TestEntry::Dir("bin", 0o755),
                TestEntry::File("bin/tool", 0o4755, b"tool"),
                TestEntry::Symlink("bin/alias", "tool"),
                TestEntry::HardLink("bin/tool2", "bin/tool"),
                TestEntry::Dir("lib", 0o755),
                TestEntry::Dir("lib/x86_64-linux-gnu", 0o755),
                TestEntry::File("lib/x86_64-linux-gnu/libz.so.1", 0o644, b"elf"),
                TestEntry::HardLink("lib/a-first-link", "lib/x86_64-linux-gnu/libz.so.1"),
                TestEntry::Dir("usr", 0o755),
                TestEntry::Dir("usr/share", 0o755),
                TestEntry::Dir("usr/share/doc", 0o755),
                TestEntry::Dir("usr/share/doc/alpha", 0o755),
                TestEntry::File("usr/share/doc/alpha/copyright", 0o644, b"(c)"),
                TestEntry::File("usr/share/doc/alpha/README", 0o644, b"read me"),
                TestEntry::File("etc/conflict", 0o644, b"alpha"),
                TestEntry::File("etc/same", 0o644, b"same"),
            ],
        );
        let b = build_deb(
            dir,
            "beta",
            &[("control", cb.as_bytes())],
            &[
                TestEntry::Dir("usr", 0o755),
                TestEntry::Dir("usr/bin", 0o775),
                TestEntry::File("usr/bin/other", 0o755, b"x"),
                TestEntry::File("etc/conflict", 0o644, b"beta"),
                TestEntry::File("etc/same", 0o644, b"same"),
                TestEntry::File("etc/replaced", 0o644, b"beta"),
            ],
        );
        let c = build_deb(
            dir,
            "gamma",
            &[("control", control("gamma").as_bytes())],
            &[TestEntry::File("etc/replaced", 0o600, b"gamma")],
        );
        let res = Resolution {
            name: "test".into(),
            packages: vec![pkg("alpha", ""), pkg("beta", ""), pkg("gamma", "beta")],
            notes: vec![],
            source: Source::default(),
            drop_docs,
            local_ca_certificates: vec![],
        };
        (res, vec![a, b, c])
    }

    fn entries(path: &Path) -> Vec<(String, char, u32, String)> {
        let mut archive = tar::Archive::new(File::open(path).unwrap());
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let h = e.header().clone();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let mut data = String::new();
                if h.entry_type().is_file() {
                    e.read_to_string(&mut data).unwrap();
                }
                let kind = match h.entry_type() {
                    tar::EntryType::Directory => 'd',
                    tar::EntryType::Symlink => 'l',
                    tar::EntryType::Link => 'h',
                    _ => 'f',
                };
                let path = e
                    .path()
                    .unwrap()
                    .to_string_lossy()
                    .trim_end_matches('/')
                    .to_string();
                (
                    path,
                    kind,
                    h.mode().unwrap(),
                    if kind == 'f' { data } else { link },
                )
            })
            .collect()
    }

    #[test]
    fn layer_is_reproducible_and_merged_usr() {
        let dir = tempdir("layer");
        let (res, debs) = fixture(&dir, false);
        let one = write_rootfs_layer(&res, &debs, &dir.join("one.tar"), DpkgDb::Full).unwrap();
        let two = write_rootfs_layer(&res, &debs, &dir.join("two.tar"), DpkgDb::Full).unwrap();
        assert_eq!(one.diff_id, two.diff_id);
        assert_eq!(
            std::fs::read(&one.path).unwrap(),
            std::fs::read(&two.path).unwrap()
        );
        assert_eq!(one.size, std::fs::metadata(&one.path).unwrap().len());
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("spool") || n.contains("partial"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");

        let e = entries(&one.path);
        let find = |p: &str| {
            e.iter()
                .find(|x| x.0 == p)
                .cloned()
                .unwrap_or_else(|| panic!("no {p}"))
        };
        // Sorted, each path once.
        let paths: Vec<&String> = e.iter().map(|x| &x.0).collect();
        let mut sorted = paths.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(paths, sorted);
        // Merged /usr: aliases at the root, package paths moved, modes kept.
        assert_eq!(find("bin"), ("bin".into(), 'l', 0o777, "usr/bin".into()));
        assert_eq!(find("lib64").3, "usr/lib64");
        assert_eq!(find("usr/lib64").1, 'd');
        assert_eq!(
            find("usr/bin/tool"),
            ("usr/bin/tool".into(), 'f', 0o4755, "tool".into())
        );
        assert_eq!(find("usr/bin/alias").3, "tool");
        assert!(!e
            .iter()
            .any(|x| x.0.starts_with("bin/") || x.0.starts_with("lib/")));
        // The directory keeps its first declaration (alpha's /bin, 0755).
        assert_eq!(find("usr/bin").2, 0o755);
        assert!(
            one.notes.iter().any(|n| n.contains("directory /usr/bin")),
            "{:?}",
            one.notes
        );
        // Hard links: target rewritten, and the content sits at the first path.
        assert_eq!(
            find("usr/bin/tool2"),
            ("usr/bin/tool2".into(), 'h', 0o4755, "usr/bin/tool".into())
        );
        assert_eq!(find("usr/lib/a-first-link").1, 'f');
        assert_eq!(find("usr/lib/a-first-link").3, "elf");
        assert_eq!(
            find("usr/lib/x86_64-linux-gnu/libz.so.1").3,
            "usr/lib/a-first-link"
        );
        // Conflicts: alpha keeps its file, gamma replaces beta's, identical files merge.
        assert_eq!(find("etc/conflict").3, "alpha");
        assert_eq!(find("etc/replaced").3, "gamma");
        assert_eq!(find("etc/replaced").2, 0o600);
        assert!(one
            .notes
            .iter()
            .any(|n| n.contains("/etc/conflict: file conflict between alpha and beta")));
        assert!(one
            .notes
            .iter()
            .any(|n| n.contains("/etc/replaced: gamma replaces")));
        assert!(!one.notes.iter().any(|n| n.contains("/etc/same")));
        // Generated entries and the dpkg database.
        assert_eq!(find("tmp").2, 0o1777);
        assert!(find("etc/passwd").3.contains("nonroot:x:65532:65532"));
        let status = find("var/lib/dpkg/status").3;
        assert!(
            status.starts_with("Package: alpha\nStatus: install ok installed\n"),
            "{status}"
        );
        assert!(status.contains("\n\nPackage: beta\nStatus: install ok installed\n"));
        let list = find("var/lib/dpkg/info/alpha.list").3;
        assert!(list.starts_with("/.\n/bin\n/bin/tool\n"), "{list}");
        assert_eq!(find("var/lib/dpkg/info/alpha.md5sums").3, "0  bin/tool\n");
        assert_eq!(find("var/lib/dpkg/available").3, "");
        assert!(find("usr/share/doc/alpha/README").3 == "read me");
    }

    #[test]
    fn drop_docs_keeps_copyright() {
        let dir = tempdir("docs");
        let (res, debs) = fixture(&dir, true);
        let layer = write_rootfs_layer(&res, &debs, &dir.join("l.tar"), DpkgDb::StatusD).unwrap();
        let e = entries(&layer.path);
        let has = |p: &str| e.iter().any(|x| x.0 == p);
        assert!(has("usr/share/doc/alpha/copyright"));
        assert!(has("usr/share/doc/alpha"));
        assert!(!has("usr/share/doc/alpha/README"));
        assert!(has("var/lib/dpkg/status.d/alpha"));
        assert!(!has("var/lib/dpkg/status"));
        assert!(doc_excluded("usr/share/man/man1/x.1.gz"));
        assert!(doc_excluded("usr/share/doc/libgcc-s1"));
        assert!(!doc_excluded("usr/share/man"));
        assert!(!doc_excluded("usr/share/doc/a/copyright"));
        assert!(!doc_excluded("usr/share/lintian/profiles/x"));
        assert!(doc_excluded("usr/share/lintian/overrides/x"));
    }

    #[test]
    fn dir_layer_is_reproducible() {
        let dir = tempdir("dirlayer");
        let src = dir.join("toolchain");
        std::fs::create_dir_all(src.join("bin")).unwrap();
        std::fs::create_dir_all(src.join("lib/rustlib")).unwrap();
        std::fs::create_dir_all(src.join("share")).unwrap();
        std::fs::write(src.join("bin/rustc"), b"rustc").unwrap();
        std::fs::write(src.join("lib/rustlib/std.rlib"), b"std").unwrap();
        std::fs::write(src.join("share/doc"), b"doc").unwrap();
        std::fs::hard_link(src.join("bin/rustc"), src.join("bin/rustdoc")).unwrap();
        std::os::unix::fs::symlink("rustc", src.join("bin/rc")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            src.join("bin/rustc"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let one =
            write_dir_layer(&src, &["lib", "bin"], "/usr/local/", &dir.join("a.tar")).unwrap();
        let two = write_dir_layer(&src, &["bin", "lib"], "usr/local", &dir.join("b.tar")).unwrap();
        assert_eq!(one.diff_id, two.diff_id);
        let e = entries(&one.path);
        let names: Vec<&str> = e.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "usr",
                "usr/local",
                "usr/local/bin",
                "usr/local/bin/rc",
                "usr/local/bin/rustc",
                "usr/local/bin/rustdoc",
                "usr/local/lib",
                "usr/local/lib/rustlib",
                "usr/local/lib/rustlib/std.rlib"
            ]
        );
        assert_eq!(e[4].2, 0o755);
        assert_eq!(e[5].1, 'h');
        assert_eq!(e[5].3, "usr/local/bin/rustc");
        assert_eq!(e[3].3, "rustc");
        let mut archive = tar::Archive::new(File::open(&one.path).unwrap());
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let h = entry.header();
            assert_eq!(
                (h.uid().unwrap(), h.gid().unwrap(), h.mtime().unwrap()),
                (0, 0, 0)
            );
            assert_eq!(h.username().unwrap(), Some(""));
        }
    }
}
