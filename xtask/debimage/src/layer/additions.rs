//! What a base adds to its root filesystem beyond the packages: symbolic links (a static
//! busybox's applets, `/bin/sh` among them) and files from the caller (a script, a config).
//!
//! They are applied after the packages are unpacked and the maintainer-script effects are
//! applied, and they never replace anything: a path that a package ships, or that an effect
//! generated, is an error, so an addition can never silently change what a package put there.
//! Paths go through the same merged-`/usr` rewriting as package paths: `/bin/sh` is written as
//! `usr/bin/sh`, since `/bin` is the symlink `bin -> usr/bin` in the same layer, and a tar entry
//! `bin/sh` would have to pass through that symlink (which an engine either refuses or turns
//! into a directory that hides `/usr/bin`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use super::tree::{Content, Kind, Node, Tree};
use super::OPTIONAL_USR_ALIASES;
use crate::FIXED_MTIME;

/// What goes into a root filesystem besides the packages (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Additions {
    /// Symbolic links, absolute path → target (written verbatim, relative or absolute), owned
    /// by root and dated [`FIXED_MTIME`].
    pub links: BTreeMap<String, String>,
    /// Files read from the host, in the layer at their absolute `path`.
    pub files: Vec<AddedFile>,
}

/// One file of [`Additions::files`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddedFile {
    /// Where it goes in the image, absolute, e.g. `/sbin/apk`.
    pub path: String,
    /// Where it is read from on the host.
    pub source: PathBuf,
    /// Permission bits, e.g. `0o755`.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

impl Additions {
    /// Whether there is nothing to add.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty() && self.files.is_empty()
    }
}

/// Adds the links and files to the tree, refusing any that would replace an entry, lie under a
/// non-directory, or name an unsafe path.
pub(super) fn apply(tree: &mut Tree, additions: &Additions) -> Result<()> {
    // Every addition's place in the tree, checked before anything is added, so that two
    // additions at one path are refused as well as an addition over a package's file.
    let mut placed: BTreeMap<String, String> = BTreeMap::new();
    let mut place = |tree: &mut Tree, path: &str, what: &str| -> Result<String> {
        let rewritten = checked_path(tree, path)?;
        if let Some(other) = placed.insert(rewritten.clone(), what.to_string()) {
            bail!("{path}: both {other} and {what} would be written there");
        }
        Ok(rewritten)
    };
    let mut links = Vec::new();
    for (path, target) in &additions.links {
        if target.is_empty() || target.contains('\0') {
            bail!("link {path}: the target is empty or not a path");
        }
        links.push((place(tree, path, "a link")?, target.clone()));
    }
    let mut files = Vec::new();
    for file in &additions.files {
        if file.mode & !0o7777 != 0 {
            bail!(
                "file {}: mode {:o} is not a permission mode",
                file.path,
                file.mode
            );
        }
        let data = std::fs::read(&file.source)
            .with_context(|| format!("file {}: reading {}", file.path, file.source.display()))?;
        files.push((place(tree, &file.path, "a file")?, file, data));
    }
    for (path, target) in links {
        tree.nodes
            .insert(path, Node::generated(Kind::Symlink(target), 0o777));
    }
    for (path, file, data) in files {
        let mut node = Node::generated(Kind::File(Content::Inline(data)), file.mode);
        node.uid = file.uid;
        node.gid = file.gid;
        node.mtime = FIXED_MTIME;
        tree.nodes.insert(path, node);
    }
    Ok(())
}

/// The tree path of an addition's absolute `path`, merged-`/usr` aliases rewritten; an error
/// when the path is not a plain absolute path, names an alias itself, is taken, or lies under
/// something that is not a directory.
fn checked_path(tree: &mut Tree, path: &str) -> Result<String> {
    let Some(relative) = path.strip_prefix('/') else {
        bail!("{path}: not an absolute path");
    };
    if relative.is_empty()
        || relative
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
    {
        bail!("{path}: not a plain absolute path (no empty, `.` or `..` parts)");
    }
    let is_alias = |name: &str, tree: &Tree| {
        tree.aliases.iter().any(|(alias, _)| alias == name) || OPTIONAL_USR_ALIASES.contains(&name)
    };
    if is_alias(relative, tree) {
        bail!("{path}: is a merged-/usr alias (a symlink to /usr), not a path of its own");
    }
    let rewritten = tree.rewrite(relative);
    if let Some(node) = tree.nodes.get(&rewritten) {
        let what = match node.owner {
            Some(index) => format!("package {}", tree.names[index]),
            None => "the maintainer-script effects".to_string(),
        };
        bail!("{path}: already in the image (from {what}); an addition never replaces anything");
    }
    let mut parent = rewritten.as_str();
    while let Some((up, _)) = parent.rsplit_once('/') {
        if let Some(node) = tree.nodes.get(up) {
            if !matches!(node.kind, Kind::Dir) {
                bail!("{path}: /{up} is in the image and is not a directory");
            }
        }
        parent = up;
    }
    Ok(rewritten)
}
