//! The merged filesystem, as a container sees it: the layers stacked lowest first, whiteouts
//! deleting what lies below, opaque directories hiding it. From it come the file count and the
//! largest files, and beside it the bytes that deleting the duplicates would save.
//!
//! `hidden_bytes` are the bytes of regular files stored in the layers and not visible in the
//! merged filesystem.
//!
//! `reclaimable_bytes` counts, like dive, every path that appears in a layer (files, links,
//! whiteouts; not directories) as a copy with a size, a whiteout's size being that of what it
//! deletes; of a path with several copies, all but the smallest could be saved.

use std::collections::{BTreeMap, HashMap};

use crate::layer::{Entry, Kind};
use crate::model::{Node, PathSize};

/// What the merged filesystem says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Merged {
    pub fs: BTreeMap<String, Node>,
    pub reclaimable_bytes: u64,
    pub hidden_bytes: u64,
    pub file_count: u64,
    pub largest_files: Vec<PathSize>,
}

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// `/usr/./bin/` → `usr/bin`.
fn normalize(path: &str) -> String {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
}

fn node_of(entry: &Entry) -> Node {
    let link = || entry.link.clone().unwrap_or_default();
    match entry.kind {
        Kind::File => Node::File { size: entry.size },
        Kind::Dir => Node::Dir,
        Kind::Symlink => Node::Symlink { target: link() },
        Kind::HardLink => Node::Link {
            target: normalize(&link()),
        },
        Kind::Other => Node::Other,
    }
}

fn size_of(node: Option<&Node>) -> u64 {
    match node {
        Some(Node::File { size }) => *size,
        _ => 0,
    }
}

/// Removes every path under `dir` and returns the bytes of the files removed.
fn remove_under(fs: &mut BTreeMap<String, Node>, dir: &str) -> u64 {
    let prefix = format!("{dir}/");
    let doomed: Vec<String> = fs
        .range(prefix.clone()..)
        .take_while(|(path, _)| path.starts_with(&prefix))
        .map(|(path, _)| path.clone())
        .collect();
    doomed
        .iter()
        .map(|path| size_of(fs.remove(path).as_ref()))
        .sum()
}

/// Stacks the layers (lowest first) and keeps `largest` of the largest files.
pub(crate) fn merge(layers: &[&[Entry]], largest: usize) -> Merged {
    let mut fs: BTreeMap<String, Node> = BTreeMap::new();
    // path → (sum of all copies, smallest copy, copies)
    let mut seen: HashMap<String, (u64, u64, u32)> = HashMap::new();
    // The bytes of every regular file every layer stores.
    let mut stored = 0u64;
    let mut record = |path: &str, size: u64| {
        let slot = seen.entry(path.to_string()).or_insert((0, u64::MAX, 0));
        slot.0 += size;
        slot.1 = slot.1.min(size);
        slot.2 += 1;
    };
    for layer in layers {
        let entries: Vec<(String, &Entry)> = layer
            .iter()
            .map(|entry| (normalize(&entry.path), entry))
            .filter(|(path, _)| !path.is_empty())
            .collect();
        // Whiteouts delete from the layers below, so they apply before the layer's own files.
        for (path, _) in &entries {
            let (dir, base) = match path.rsplit_once('/') {
                Some((dir, base)) => (Some(dir), base),
                None => (None, path.as_str()),
            };
            if base == OPAQUE {
                match dir {
                    Some(dir) => {
                        remove_under(&mut fs, dir);
                    }
                    None => fs.clear(),
                }
            } else if let Some(name) = base.strip_prefix(WHITEOUT) {
                let target = match dir {
                    Some(dir) => format!("{dir}/{name}"),
                    None => name.to_string(),
                };
                let size = size_of(fs.remove(&target).as_ref()) + remove_under(&mut fs, &target);
                record(&target, size);
            }
        }
        for (path, entry) in &entries {
            if path.rsplit('/').next().unwrap_or("").starts_with(WHITEOUT) {
                continue;
            }
            let node = node_of(entry);
            if let Node::File { size } = node {
                stored += size;
            }
            if node != Node::Dir {
                record(path, size_of(Some(&node)));
            }
            fs.insert(path.clone(), node);
        }
    }
    let reclaimable_bytes = seen
        .values()
        .filter(|(_, _, copies)| *copies > 1)
        .map(|(total, smallest, _)| total - smallest)
        .sum();
    let file_count = fs
        .values()
        .filter(|node| matches!(node, Node::File { .. } | Node::Link { .. }))
        .count() as u64;
    let visible: u64 = fs.values().map(|node| size_of(Some(node))).sum();
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
    files.sort_by(|a, b| {
        b.size_bytes
            .cmp(&a.size_bytes)
            .then_with(|| a.path.cmp(&b.path))
    });
    files.truncate(largest);
    Merged {
        fs,
        reclaimable_bytes,
        hidden_bytes: stored - visible,
        file_count,
        largest_files: files,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: Kind, size: u64, link: Option<&str>) -> Entry {
        Entry {
            path: path.into(),
            kind,
            size,
            dive_dir: kind == Kind::Dir,
            link: link.map(str::to_string),
            executable: false,
        }
    }

    fn file(path: &str, size: u64) -> Entry {
        entry(path, Kind::File, size, None)
    }

    fn dir(path: &str) -> Entry {
        entry(path, Kind::Dir, 0, None)
    }

    fn run(layers: &[Vec<Entry>]) -> Merged {
        let refs: Vec<&[Entry]> = layers.iter().map(Vec::as_slice).collect();
        merge(&refs, 10)
    }

    #[test]
    fn a_path_in_two_layers_can_give_back_all_but_its_smallest_copy() {
        let m = run(&[
            vec![dir("etc"), file("etc/big", 10), file("etc/keep", 3)],
            vec![file("etc/big", 5)],
        ]);
        assert_eq!(m.reclaimable_bytes, 10);
        assert_eq!(m.hidden_bytes, 10);
        assert_eq!(m.fs.get("etc/big"), Some(&Node::File { size: 5 }));
        assert_eq!(m.file_count, 2);
    }

    #[test]
    fn a_whiteout_deletes_and_counts_as_a_copy_the_size_of_what_it_deleted() {
        let m = run(&[
            vec![
                dir("tmp"),
                dir("tmp/cache"),
                file("tmp/cache/a", 10),
                file("tmp/cache/b", 5),
            ],
            vec![file("tmp/.wh.cache", 0)],
        ]);
        assert!(!m.fs.contains_key("tmp/cache/a"));
        assert!(m.fs.contains_key("tmp"));
        assert_eq!(m.file_count, 0);
        // tmp/cache: one copy of 15 bytes (the whiteout); a and b once each.
        assert_eq!(m.reclaimable_bytes, 0);
        // Yet the layers carry the 15 bytes that nobody sees.
        assert_eq!(m.hidden_bytes, 15);
        // A deleted file saves its size: it need not have been stored at all.
        let m = run(&[vec![file("junk", 7)], vec![file(".wh.junk", 0)]]);
        assert_eq!(m.reclaimable_bytes, 7);
    }

    #[test]
    fn an_opaque_directory_hides_what_lies_below() {
        let m = run(&[
            vec![dir("d"), file("d/old", 1)],
            vec![dir("d"), file("d/.wh..wh..opq", 0), file("d/new", 1)],
        ]);
        assert!(!m.fs.contains_key("d/old"));
        assert!(m.fs.contains_key("d/new"));
        assert!(!m.fs.contains_key("d/.wh..wh..opq"));
    }

    #[test]
    fn names_are_normalised_and_links_kept() {
        let m = run(&[vec![
            dir("./usr/"),
            file("/usr/bin/dash", 2),
            entry("usr/bin/sh", Kind::Symlink, 0, Some("dash")),
            entry("usr/bin/sh2", Kind::HardLink, 0, Some("./usr/bin/dash")),
        ]]);
        assert_eq!(m.fs.get("usr"), Some(&Node::Dir));
        assert_eq!(
            m.fs.get("usr/bin/sh2"),
            Some(&Node::Link {
                target: "usr/bin/dash".into()
            })
        );
        assert_eq!(m.file_count, 2);
    }

    #[test]
    fn largest_files_are_sorted_and_capped() {
        let layer: Vec<Entry> = (0..12).map(|i| file(&format!("f{i:02}"), i + 1)).collect();
        let m = run(&[layer]);
        assert_eq!(m.largest_files.len(), 10);
        assert_eq!(
            m.largest_files[0],
            PathSize {
                path: "/f11".into(),
                size_bytes: 12
            }
        );
        assert_eq!(m.file_count, 12);
    }
}
