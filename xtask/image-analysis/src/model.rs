//! The result of an analysis, as callers see it and serialise it: the image's figures, each
//! layer's figures, the merged filesystem with the questions a report asks of it (does a path
//! exist, is there a shell, is there a package manager), and the components a scanner would look
//! at (packages, Go modules, executables).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What one image holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// The layout of the archive the image was read from.
    pub layout: Layout,
    /// The names the archive gives the image (`RepoTags`, or the OCI name annotations).
    pub tags: Vec<String>,
    /// The digest of the image config blob (`sha256:…`): the image ID on Docker's graph store.
    pub config_digest: String,
    /// The digest of the image manifest when the archive carries one (the OCI layout): the image
    /// ID on the containerd image store.
    pub manifest_digest: Option<String>,
    /// The sum of the sizes of every entry of every layer, as dive counts an image's size.
    pub size_bytes: u64,
    /// What a registry stores for the image: every layer's compressed size (the blob when the
    /// layer is stored compressed, the gzip of the tar otherwise), plus the config blob, plus the
    /// manifest blob when the archive carries one. `None` when a layer's is (the analysis was
    /// made without [`Options::compressed_size`](crate::Options::compressed_size) and the image
    /// has a plain layer).
    pub compressed_bytes: Option<u64>,
    /// dive's `efficiencyScore`: the smallest copy of every path over all copies of every path.
    pub efficiency: f64,
    /// dive's `inefficientBytes`: every copy of every path that occurs in more than one layer.
    pub wasted_bytes: u64,
    /// What deleting the duplicates would save: of every path stored more than once, all copies
    /// but the smallest (a whiteout counting as a copy the size of what it deletes).
    pub reclaimable_bytes: u64,
    /// Bytes of regular files that the layers store and the merged filesystem does not show
    /// (overwritten, or deleted, alone or with their directory): what squashing the layers would
    /// save. Unlike the two figures above, it sees a directory deleted whole (`RUN rm -rf /tmp/build`
    /// after a step that filled it), whose path and files each occur only once.
    pub hidden_bytes: u64,
    /// Regular files and hard links in the merged filesystem.
    pub file_count: u64,
    /// The largest regular files of the merged filesystem, largest first.
    pub largest_files: Vec<PathSize>,
    /// The paths dive lists as inefficient, most wasted bytes first.
    pub wasted_paths: Vec<WastedPath>,
    /// The layers, lowest first.
    pub layers: Vec<Layer>,
    /// What a scanner would look at: packages, Go modules, executables.
    #[serde(default)]
    pub components: Components,
    /// The merged filesystem: relative paths (`usr/bin/sh`) to what is there.
    pub fs: BTreeMap<String, Node>,
}

impl Analysis {
    /// The analysis as one made without
    /// [`Options::compressed_size`](crate::Options::compressed_size) would be: every plain
    /// layer's compressed size absent, and the image's when it has such a layer.
    pub fn without_compressed_size(mut self) -> Analysis {
        for layer in &mut self.layers {
            if layer.compression == Compression::None {
                layer.compressed_bytes = None;
            }
        }
        if self.layers.iter().any(|l| l.compressed_bytes.is_none()) {
            self.compressed_bytes = None;
        }
        self
    }
}

/// What an image holds for a scanner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Components {
    /// OS packages, sorted by name.
    pub packages: Vec<Package>,
    /// Modules of Go binaries, as their build info lists them (the main module included).
    pub go_modules: Vec<GoModule>,
    /// Regular files with an execute bit in the merged filesystem.
    pub executables: u64,
}

/// Which database recorded a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PackageDb {
    Dpkg,
    Apk,
}

/// One OS package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub arch: Option<String>,
    pub db: PackageDb,
}

/// One module of a Go binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoModule {
    pub path: String,
    /// `(devel)` for a main module built from a source tree.
    pub version: String,
    /// The binary it was read from, absolute.
    pub binary: String,
    /// The binary's own module, rather than a dependency.
    pub main: bool,
}

/// Which `docker save` layout an archive has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// `manifest.json` naming `<id>/layer.tar` (or `<digest>.tar`) members: Docker before 25,
    /// `skopeo copy … docker-archive:`.
    Classic,
    /// `oci-layout`, `index.json` and `blobs/sha256/…`: Docker 25 and newer (with a docker
    /// `manifest.json` beside it), `skopeo copy … oci-archive:`.
    Oci,
}

/// A path and a size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathSize {
    pub path: String,
    pub size_bytes: u64,
}

/// A path that dive counts as wasted: stored (or deleted) in more than one layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WastedPath {
    pub path: String,
    /// In how many layers the path occurs.
    pub copies: u32,
    /// dive's cumulative size of the path: all its copies.
    pub size_bytes: u64,
}

/// How a layer is stored in the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// The figures of one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// The sha256 of the uncompressed tar (`sha256:…`), as the image config lists it.
    pub diff_id: String,
    /// The sha256 of the layer as stored in the archive: the diff ID for a plain tar.
    pub blob_digest: String,
    /// The media type the manifest gives the layer (for the classic layout, Docker's plain tar
    /// media type).
    pub media_type: String,
    /// How the stored layer is compressed, found from its first bytes.
    pub compression: Compression,
    /// The bytes of the uncompressed tar.
    pub tar_bytes: u64,
    /// The bytes of the layer as the archive stores it.
    pub blob_bytes: u64,
    /// What a registry stores for the layer: the blob when it is compressed, the gzip (level 6,
    /// as Docker pushes) of the tar otherwise. `None` for a plain layer when the analysis was
    /// made without [`Options::compressed_size`](crate::Options::compressed_size): it was not
    /// deflated.
    pub compressed_bytes: Option<u64>,
    /// The sum of the sizes of the layer's entries, as dive counts a layer's size.
    pub size_bytes: u64,
    /// The layer's tar entries.
    pub entries: u64,
    /// Whether the layer's figures came from the cache rather than from reading it.
    pub cached: bool,
}

/// One entry of the merged filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Node {
    File {
        size: u64,
    },
    Dir,
    Symlink {
        target: String,
    },
    /// A hard link to another path of the image.
    Link {
        target: String,
    },
    Other,
}

/// The shells whose presence makes an image "have a shell".
const SHELLS: &[&str] = &[
    "/bin/sh",
    "/bin/bash",
    "/bin/dash",
    "/bin/ash",
    "/bin/busybox",
];

/// Package managers, by their usual paths.
const PACKAGE_MANAGERS: &[&str] = &[
    "/usr/bin/dpkg",
    "/usr/bin/apt-get",
    "/usr/bin/apt",
    "/sbin/apk",
    "/usr/bin/rpm",
    "/usr/bin/yum",
    "/usr/bin/dnf",
    "/usr/bin/microdnf",
];

/// Symbolic links followed before a path is taken for a loop, as Linux's `MAXSYMLINKS`.
const MAX_SYMLINK_HOPS: u32 = 40;

impl Analysis {
    pub fn has_shell(&self) -> bool {
        SHELLS.iter().any(|path| self.exists(path))
    }

    pub fn has_package_manager(&self) -> bool {
        PACKAGE_MANAGERS.iter().any(|path| self.exists(path))
    }

    /// Whether `path` (absolute) exists in the merged filesystem, following symbolic links the
    /// way the kernel would inside the container (`/bin/sh` through `bin -> usr/bin`).
    pub fn exists(&self, path: &str) -> bool {
        self.resolve(path).is_some()
    }

    /// The path a path resolves to, following symbolic links; `None` when it does not exist.
    pub fn resolve(&self, path: &str) -> Option<String> {
        let mut pending: Vec<String> = components(path).rev().map(str::to_string).collect();
        let mut current: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    current.pop();
                    continue;
                }
                _ => {}
            }
            current.push(part);
            let joined = current.join("/");
            match self.fs.get(&joined) {
                Some(Node::Symlink { target }) => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return None;
                    }
                    current.pop();
                    if target.starts_with('/') {
                        current.clear();
                    }
                    pending.extend(components(target).rev().map(str::to_string));
                }
                Some(_) => {}
                // A directory that only appears as the parent of other paths.
                None if self.has_children(&joined) => {}
                None => return None,
            }
        }
        Some(format!("/{}", current.join("/")))
    }

    fn has_children(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        self.fs
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(path, _)| path.starts_with(&prefix))
    }
}

fn components(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/').filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analysis(fs: &[(&str, Node)]) -> Analysis {
        Analysis {
            layout: Layout::Classic,
            tags: Vec::new(),
            config_digest: String::new(),
            manifest_digest: None,
            size_bytes: 0,
            compressed_bytes: None,
            efficiency: 1.0,
            wasted_bytes: 0,
            reclaimable_bytes: 0,
            hidden_bytes: 0,
            file_count: 0,
            largest_files: Vec::new(),
            wasted_paths: Vec::new(),
            layers: Vec::new(),
            components: Default::default(),
            fs: fs.iter().map(|(p, n)| (p.to_string(), n.clone())).collect(),
        }
    }

    fn link(target: &str) -> Node {
        Node::Symlink {
            target: target.into(),
        }
    }

    #[test]
    fn paths_resolve_through_symbolic_links() {
        let a = analysis(&[
            ("bin", link("usr/bin")),
            ("usr", Node::Dir),
            ("usr/bin", Node::Dir),
            ("usr/bin/dash", Node::File { size: 2 }),
            ("usr/bin/sh", link("dash")),
            ("usr/bin/dpkg", Node::File { size: 1 }),
        ]);
        assert_eq!(a.resolve("/bin/sh").as_deref(), Some("/usr/bin/dash"));
        assert!(a.has_shell());
        assert!(a.has_package_manager());
        assert!(!a.exists("/bin/bash"));
        assert!(a.exists("/usr/bin/../bin/dash"));
    }

    #[test]
    fn absolute_links_restart_from_the_root() {
        let a = analysis(&[
            ("etc/alternatives/sh", link("/usr/bin/dash")),
            ("bin/sh", link("/etc/alternatives/sh")),
            ("usr/bin/dash", Node::File { size: 2 }),
        ]);
        assert_eq!(a.resolve("/bin/sh").as_deref(), Some("/usr/bin/dash"));
        // `usr` and `usr/bin` have no entries of their own, yet they are directories.
        assert!(a.exists("/usr/bin"));
    }

    #[test]
    fn a_link_loop_does_not_hang() {
        let a = analysis(&[("a", link("b")), ("b", link("a"))]);
        assert!(!a.exists("/a"));
    }

    #[test]
    fn a_dangling_link_does_not_exist() {
        let a = analysis(&[("bin/sh", link("/nowhere"))]);
        assert!(!a.exists("/bin/sh"));
        assert!(!a.has_shell());
    }
}
