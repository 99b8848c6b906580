//! The root filesystem being assembled: an in-memory tree of metadata whose file contents
//! sit in a spool file, with merged-`/usr` path rewriting and the conflict rules of dpkg.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use anyhow::{Context, Result};

use crate::deb::{normalize, ControlFiles};
use crate::package::Package;
use crate::version::parse_relations;
use crate::FIXED_MTIME;

use super::OPTIONAL_USR_ALIASES;

/// Where a regular file's bytes are.
#[derive(Clone, Debug)]
pub(crate) enum Content {
    Spool { offset: u64, len: u64 },
    Inline(Vec<u8>),
}

impl Content {
    pub(super) fn len(&self) -> u64 {
        match self {
            Content::Spool { len, .. } => *len,
            Content::Inline(v) => v.len() as u64,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Dir,
    File(Content),
    Symlink(String),
    /// A hard link to another path of the tree (relative to the root, rewritten).
    HardLink(String),
}

/// One entry of the tree.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    pub(crate) mtime: u64,
    /// Index of the package that installed it, `None` when generated.
    pub(crate) owner: Option<usize>,
}

impl Node {
    pub(crate) fn generated(kind: Kind, mode: u32) -> Node {
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
pub(crate) struct Unpacked {
    pub(crate) control: ControlFiles,
    /// Paths as the package ships them (before merged-`/usr` rewriting), in archive order,
    /// starting with `/.`: the content of dpkg's `info/<pkg>.list`.
    pub(crate) list: Vec<String>,
}

/// The root filesystem being assembled.
pub(crate) struct Tree {
    /// Paths relative to the root, without leading or trailing slash.
    pub(crate) nodes: BTreeMap<String, Node>,
    /// Directories that `drop_docs` filtered out, kept in case a kept file needs them.
    pub(super) excluded_dirs: BTreeMap<String, Node>,
    pub(super) spool: File,
    pub(super) spool_len: u64,
    /// Alias directory → target, e.g. `bin` → `usr/bin`.
    pub(super) aliases: Vec<(String, String)>,
    pub(super) used_aliases: BTreeSet<String>,
    pub(crate) notes: Vec<String>,
    /// Names of the packages, by index (for notes).
    pub(super) names: Vec<String>,
    /// Names each package `Replaces`, by index.
    pub(super) replaces: Vec<BTreeSet<String>>,
}

impl Tree {
    pub(super) fn new(
        spool: File,
        packages: &[Package],
        aliases: Vec<(String, String)>,
    ) -> Result<Tree> {
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
    pub(crate) fn rewrite(&mut self, path: &str) -> String {
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
    pub(crate) fn get(&mut self, path: &str) -> Option<&Node> {
        let p = self.rewrite(path);
        self.nodes.get(&p)
    }

    /// The contents of the regular file at `path` (following hard links, not symlinks).
    pub(crate) fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>> {
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

    pub(super) fn content(&mut self, content: &Content) -> Result<Vec<u8>> {
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
    pub(crate) fn files_under(&mut self, dir: &str) -> Vec<String> {
        let prefix = format!("{}/", self.rewrite(dir));
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(_, n)| matches!(n.kind, Kind::File(_) | Kind::HardLink(_)))
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Inserts a generated entry at `path`, replacing whatever is there.
    pub(crate) fn put(&mut self, path: &str, node: Node) {
        let p = self.rewrite(path);
        self.nodes.insert(p, node);
    }

    /// A generated regular file.
    pub(crate) fn put_file(&mut self, path: &str, mode: u32, uid: u64, gid: u64, data: Vec<u8>) {
        let mut node = Node::generated(Kind::File(Content::Inline(data)), mode);
        node.uid = uid;
        node.gid = gid;
        self.put(path, node);
    }

    /// A generated symlink.
    pub(crate) fn put_symlink(&mut self, path: &str, target: &str) {
        self.put(
            path,
            Node::generated(Kind::Symlink(target.to_string()), 0o777),
        );
    }

    /// A generated directory, unless a directory is already there (whose metadata then
    /// stays, as with `mkdir -p`).
    pub(crate) fn ensure_dir(&mut self, path: &str, mode: u32, uid: u64, gid: u64) {
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

    pub(super) fn spool_copy(&mut self, reader: &mut dyn Read) -> Result<Content> {
        let offset = self.spool_len;
        self.spool
            .seek(SeekFrom::Start(offset))
            .context("seeking in the spool file")?;
        let len = io::copy(reader, &mut self.spool).context("writing the spool file")?;
        self.spool_len += len;
        Ok(Content::Spool { offset, len })
    }

    pub(super) fn owner_name(&self, node: &Node) -> &str {
        node.owner.map_or("(generated)", |i| &self.names[i])
    }

    /// Adds an entry unpacked from a package, deciding conflicts (see the module docs).
    pub(super) fn add_from_package(&mut self, path: String, node: Node) -> Result<()> {
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

    /// Adds the alias symlinks, turns hard-link sets into valid tar order, and adds
    /// missing parent directories.
    pub(super) fn finish(&mut self) {
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
    pub(super) fn fix_hard_links(&mut self) {
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

    pub(super) fn fix_parents(&mut self) {
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
}
