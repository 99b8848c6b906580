//! What an image holds, read from its `docker save` stream in one pass: the compressed size (the
//! stream through gzip), the merged filesystem, and the wasted space as dive computes it. Pure
//! logic over a `Read`, so it is tested on archives made in the test.
//!
//! dive's rule: every path that appears in a layer (files, links, whiteouts; not directories) is
//! an occurrence with a size, a whiteout's size being that of what it deletes. A path that occurs
//! in several layers wastes all its copies but the smallest. Efficiency is the sum of each path's
//! smallest copy over the sum of all copies: 1 when nothing is stored twice.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};

use anyhow::{Context, Result};
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};

use crate::model::PathSize;

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

/// The figures of one image, cached by image ID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub compressed_bytes: u64,
    pub efficiency: f64,
    pub wasted_bytes: u64,
    pub file_count: u64,
    pub largest_files: Vec<PathSize>,
    /// The merged filesystem: relative paths (`usr/bin/sh`) to what is there.
    pub fs: BTreeMap<String, Node>,
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
                    if hops > 40 {
                        return None;
                    }
                    current.pop();
                    if target.starts_with('/') {
                        current.clear();
                    }
                    for piece in components(target).rev() {
                        pending.push(piece.to_string());
                    }
                }
                Some(_) => {}
                // A directory that only appears as the parent of other paths.
                None if self
                    .fs
                    .range(format!("{joined}/")..)
                    .next()
                    .is_some_and(|(k, _)| k.starts_with(&format!("{joined}/"))) => {}
                None => return None,
            }
        }
        Some(format!("/{}", current.join("/")))
    }
}

fn components(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/').filter(|p| !p.is_empty())
}

/// One entry of one layer.
#[derive(Debug, Clone)]
struct Entry {
    path: String,
    node: Node,
}

/// Reads a `docker save` stream (the classic layout with `<id>/layer.tar`, or the OCI layout
/// with `blobs/sha256/<digest>`) to its end.
pub fn analyze(reader: impl Read) -> Result<Analysis> {
    let counter = Counter::default();
    let gzip = GzEncoder::new(counter.clone(), Compression::default());
    let mut tee = Tee {
        inner: reader,
        gzip,
    };
    let mut layers: HashMap<String, Vec<Entry>> = HashMap::new();
    let mut order: Option<Vec<String>> = None;
    {
        let mut archive = tar::Archive::new(&mut tee);
        for entry in archive.entries().context("read the image archive")? {
            let mut entry = entry.context("read the image archive")?;
            let name = entry
                .path()
                .context("read an archive path")?
                .to_string_lossy()
                .into_owned();
            if name == "manifest.json" {
                let mut text = String::new();
                entry
                    .read_to_string(&mut text)
                    .context("read manifest.json")?;
                order = Some(layer_order(&text)?);
            } else if name.ends_with("/layer.tar")
                || (name.starts_with("blobs/") && entry.header().entry_type().is_file())
            {
                // An OCI blob may be a config or a manifest rather than a layer: only the ones
                // that read as a tar are layers.
                if let Ok(entries) = read_layer(&mut entry) {
                    layers.insert(name, entries);
                }
            }
        }
    }
    // The stream goes on past the archive's end-of-archive blocks; all of it is what moves.
    io::copy(&mut tee, &mut io::sink()).context("read the rest of the image archive")?;
    tee.gzip.finish().context("compress the image archive")?;
    let order = order.context("the image archive has no manifest.json")?;
    let ordered: Vec<Vec<Entry>> = order
        .iter()
        .map(|name| {
            layers
                .remove(name)
                .with_context(|| format!("the image archive lacks the layer {name}"))
        })
        .collect::<Result<_>>()?;
    let mut analysis = merge(&ordered);
    analysis.compressed_bytes = counter.count();
    Ok(analysis)
}

/// The layers' names in order, from `manifest.json`.
fn layer_order(text: &str) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Item {
        #[serde(rename = "Layers")]
        layers: Vec<String>,
    }
    let items: Vec<Item> = serde_json::from_str(text).context("parse manifest.json")?;
    let item = items
        .into_iter()
        .next()
        .context("manifest.json names no image")?;
    Ok(item.layers)
}

fn read_layer(reader: impl Read) -> Result<Vec<Entry>> {
    let mut archive = tar::Archive::new(reader);
    let mut entries = Vec::new();
    for entry in archive.entries()? {
        let entry = entry?;
        let path = normalize(&entry.path()?.to_string_lossy());
        if path.is_empty() {
            continue;
        }
        let header = entry.header();
        let link = || {
            entry
                .link_name()
                .ok()
                .flatten()
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let node = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => Node::File {
                size: header.size()?,
            },
            tar::EntryType::Directory => Node::Dir,
            tar::EntryType::Symlink => Node::Symlink { target: link() },
            tar::EntryType::Link => Node::Link {
                target: normalize(&link()),
            },
            _ => Node::Other,
        };
        entries.push(Entry { path, node });
    }
    Ok(entries)
}

/// `./usr/bin/` → `usr/bin`.
fn normalize(path: &str) -> String {
    components(path)
        .filter(|p| *p != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Stacks the layers (oldest first) and computes dive's figures.
fn merge(layers: &[Vec<Entry>]) -> Analysis {
    let mut fs: BTreeMap<String, Node> = BTreeMap::new();
    // path → (sum of all copies, smallest copy, copies)
    let mut seen: HashMap<String, (u64, u64, u32)> = HashMap::new();
    let mut record = |path: &str, size: u64| {
        let slot = seen.entry(path.to_string()).or_insert((0, u64::MAX, 0));
        slot.0 += size;
        slot.1 = slot.1.min(size);
        slot.2 += 1;
    };
    for layer in layers {
        // Whiteouts delete from the layers below, so they apply before the layer's own files.
        for entry in layer {
            let (dir, base) = match entry.path.rsplit_once('/') {
                Some((dir, base)) => (Some(dir), base),
                None => (None, entry.path.as_str()),
            };
            if base == ".wh..wh..opq" {
                if let Some(dir) = dir {
                    remove_under(&mut fs, &format!("{dir}/"));
                }
            } else if let Some(name) = base.strip_prefix(".wh.") {
                let target = match dir {
                    Some(dir) => format!("{dir}/{name}"),
                    None => name.to_string(),
                };
                let mut size = size_of(&fs.remove(&target));
                size += remove_under(&mut fs, &format!("{target}/"));
                record(&target, size);
            }
        }
        for entry in layer {
            let base = entry.path.rsplit('/').next().unwrap_or("");
            if base.starts_with(".wh.") {
                continue;
            }
            if entry.node != Node::Dir {
                record(&entry.path, size_of(&Some(entry.node.clone())));
            }
            fs.insert(entry.path.clone(), entry.node.clone());
        }
    }

    let (mut all, mut smallest, mut wasted) = (0u64, 0u64, 0u64);
    for (total, min, copies) in seen.values() {
        all += total;
        smallest += min;
        if *copies > 1 {
            wasted += total - min;
        }
    }
    let efficiency = if all == 0 {
        1.0
    } else {
        smallest as f64 / all as f64
    };
    let mut files: Vec<PathSize> = fs
        .iter()
        .filter_map(|(path, node)| match node {
            Node::File { size } => Some(PathSize {
                path: format!("/{path}"),
                size_bytes: *size,
            }),
            _ => None,
        })
        .collect();
    let file_count = fs
        .values()
        .filter(|n| matches!(n, Node::File { .. } | Node::Link { .. }))
        .count() as u64;
    files.sort_by(|a, b| {
        b.size_bytes
            .cmp(&a.size_bytes)
            .then_with(|| a.path.cmp(&b.path))
    });
    files.truncate(10);
    Analysis {
        compressed_bytes: 0,
        efficiency,
        wasted_bytes: wasted,
        file_count,
        largest_files: files,
        fs,
    }
}

fn size_of(node: &Option<Node>) -> u64 {
    match node {
        Some(Node::File { size }) => *size,
        _ => 0,
    }
}

/// Removes every path that starts with `prefix` and returns the bytes of the files removed.
fn remove_under(fs: &mut BTreeMap<String, Node>, prefix: &str) -> u64 {
    let doomed: Vec<String> = fs
        .range(prefix.to_string()..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .map(|(k, _)| k.clone())
        .collect();
    doomed.iter().map(|k| size_of(&fs.remove(k))).sum()
}

/// Counts the bytes written to it; shared so that the count can be read after the encoder that
/// owns it is finished.
#[derive(Clone, Default)]
struct Counter(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Counter {
    fn count(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .fetch_add(buf.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A reader that also feeds everything it reads to a gzip encoder.
struct Tee<R> {
    inner: R,
    gzip: GzEncoder<Counter>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.gzip.write_all(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A layer tar from `(path, contents)` pairs; a path ending in `/` is a directory and a
    /// content starting with `->` makes a symbolic link.
    pub fn layer(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, contents) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o755);
            if path.ends_with('/') {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                builder.append_data(&mut header, path, io::empty()).unwrap();
            } else if let Some(target) = contents.strip_prefix("->") {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            } else {
                header.set_size(contents.len() as u64);
                builder
                    .append_data(&mut header, path, contents.as_bytes())
                    .unwrap();
            }
        }
        builder.into_inner().unwrap()
    }

    /// A `docker save` archive of the given layers, with manifest.json last as the engine
    /// writes it.
    pub fn image(layers: &[Vec<u8>]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut names = Vec::new();
        for (index, layer) in layers.iter().enumerate() {
            let name = format!("{index:064}/layer.tar");
            let mut header = tar::Header::new_gnu();
            header.set_size(layer.len() as u64);
            header.set_mode(0o644);
            builder
                .append_data(&mut header, &name, layer.as_slice())
                .unwrap();
            names.push(name);
        }
        let manifest =
            serde_json::json!([{ "Config": "c.json", "RepoTags": ["x:y"], "Layers": names }])
                .to_string();
        let mut header = tar::Header::new_gnu();
        header.set_size(manifest.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, "manifest.json", manifest.as_bytes())
            .unwrap();
        builder.into_inner().unwrap()
    }

    #[test]
    fn one_layer_wastes_nothing() {
        let archive = image(&[layer(&[("webtest", "0123456789")])]);
        let a = analyze(archive.as_slice()).unwrap();
        assert_eq!(a.efficiency, 1.0);
        assert_eq!(a.wasted_bytes, 0);
        assert_eq!(a.file_count, 1);
        assert_eq!(
            a.largest_files,
            vec![PathSize {
                path: "/webtest".into(),
                size_bytes: 10
            }]
        );
        assert!(!a.has_shell());
        assert!(a.compressed_bytes > 0 && a.compressed_bytes < archive.len() as u64);
    }

    #[test]
    fn a_path_in_two_layers_wastes_all_but_its_smallest_copy() {
        let base = layer(&[("etc/", ""), ("etc/big", "0123456789"), ("etc/keep", "abc")]);
        let top = layer(&[("etc/big", "01234")]);
        let a = analyze(image(&[base, top]).as_slice()).unwrap();
        assert_eq!(a.wasted_bytes, 10);
        // smallest copies 5 + 3 over all copies 10 + 5 + 3.
        assert!((a.efficiency - 8.0 / 18.0).abs() < 1e-9);
        assert_eq!(a.fs.get("etc/big"), Some(&Node::File { size: 5 }));
    }

    #[test]
    fn a_whiteout_deletes_and_counts_as_a_copy_the_size_of_what_it_deleted() {
        let base = layer(&[
            ("tmp/", ""),
            ("tmp/cache/", ""),
            ("tmp/cache/a", "0123456789"),
            ("tmp/cache/b", "01234"),
        ]);
        let top = layer(&[("tmp/.wh.cache", "")]);
        let a = analyze(image(&[base, top]).as_slice()).unwrap();
        assert!(!a.exists("/tmp/cache/a"));
        assert!(a.exists("/tmp"));
        assert_eq!(a.file_count, 0);
        // tmp/cache: one copy of 15 bytes (the whiteout); a and b once each.
        assert_eq!(a.wasted_bytes, 0);
    }

    #[test]
    fn an_opaque_directory_hides_what_lies_below() {
        let base = layer(&[("d/", ""), ("d/old", "x")]);
        let top = layer(&[("d/", ""), ("d/.wh..wh..opq", ""), ("d/new", "y")]);
        let a = analyze(image(&[base, top]).as_slice()).unwrap();
        assert!(!a.exists("/d/old"));
        assert!(a.exists("/d/new"));
    }

    #[test]
    fn paths_resolve_through_symbolic_links() {
        let base = layer(&[
            ("bin", "->usr/bin"),
            ("usr/", ""),
            ("usr/bin/", ""),
            ("usr/bin/dash", "#!"),
            ("usr/bin/sh", "->dash"),
            ("usr/bin/dpkg", "x"),
        ]);
        let a = analyze(image(&[base]).as_slice()).unwrap();
        assert_eq!(a.resolve("/bin/sh").as_deref(), Some("/usr/bin/dash"));
        assert!(a.has_shell());
        assert!(a.has_package_manager());
        assert!(!a.exists("/bin/bash"));
        assert!(a.exists("/usr/bin/../bin/dash"));
    }

    #[test]
    fn a_link_loop_does_not_hang() {
        let a = analyze(image(&[layer(&[("a", "->b"), ("b", "->a")])]).as_slice()).unwrap();
        assert!(!a.exists("/a"));
    }

    #[test]
    fn largest_files_are_sorted_and_capped_at_ten() {
        let contents: Vec<String> = (0..12).map(|i| "x".repeat(i + 1)).collect();
        let names: Vec<String> = (0..12).map(|i| format!("f{i:02}")).collect();
        let entries: Vec<(&str, &str)> = names
            .iter()
            .zip(&contents)
            .map(|(n, c)| (n.as_str(), c.as_str()))
            .collect();
        let a = analyze(image(&[layer(&entries)]).as_slice()).unwrap();
        assert_eq!(a.largest_files.len(), 10);
        assert_eq!(
            a.largest_files[0],
            PathSize {
                path: "/f11".into(),
                size_bytes: 12
            }
        );
        assert_eq!(a.file_count, 12);
    }

    #[test]
    fn an_archive_without_manifest_is_an_error() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        builder.append_data(&mut header, "x", io::empty()).unwrap();
        let err = analyze(builder.into_inner().unwrap().as_slice()).unwrap_err();
        assert!(err.to_string().contains("manifest.json"));
    }
}
