//! dive's two figures, `efficiencyScore` and `inefficientBytes`, computed as dive 0.13.1 computes
//! them (`dive/filetree/efficiency.go`, `file_tree.go`, `file_node.go`), so that they agree with
//! dive to the byte on every image.
//!
//! dive builds one tree per layer from the layer's tar entries and visits, layer by layer, the
//! leaves of each tree (files, links, empty directories, whiteouts; never a directory that has
//! children in that layer). Every visit adds a size to the visited path: the entry's header size,
//! or for a whiteout, the size of the deleted path in the layers below when that path was a
//! directory (the sum of its subtree), and 0 when it was anything else. The score is the sum over
//! paths of each path's smallest size over the sum of all sizes; the wasted bytes are the sum of
//! all sizes of every path visited more than once. Quirks kept on purpose, since they are dive's:
//! opaque-directory markers (`.wh..wh..opq`) are dropped and hide nothing; a whiteout whose
//! target does not exist below ends the visit of its layer (the rest of that layer counts for
//! nothing) and leaves its path with a smallest size of -1; a directory created implicitly (a
//! parent without an entry of its own) has size 0 and is no directory to a whiteout.

use std::collections::{BTreeMap, HashMap};

use crate::layer::Entry;

/// dive's figures for an image.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DiveFigures {
    pub efficiency: f64,
    pub wasted_bytes: u64,
    /// The paths counted in `wasted_bytes`: path, visits, cumulative size; most bytes first.
    pub inefficient: Vec<(String, u32, u64)>,
}

const WHITEOUT: &str = ".wh.";
const OPAQUE_PREFIX: &str = ".wh..wh..";

/// What dive keeps of a tar entry in a tree node.
#[derive(Debug, Clone, Copy, Default)]
struct Info {
    size: u64,
    is_dir: bool,
}

#[derive(Debug, Clone)]
struct Node {
    name: String,
    parent: usize,
    children: BTreeMap<String, usize>,
    info: Info,
}

/// dive's `FileTree`: nodes in an arena, the root at 0; removed nodes stay in the arena, unlinked.
#[derive(Debug, Clone)]
struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    fn new() -> Self {
        Tree {
            nodes: vec![Node {
                name: String::new(),
                parent: 0,
                children: BTreeMap::new(),
                info: Info::default(),
            }],
        }
    }

    /// dive's `NewFileTree` plus `AddPath` for every entry, in tar order.
    fn from_layer(entries: &[Entry]) -> Self {
        let mut tree = Tree::new();
        for entry in entries {
            // The entry's path is already as Go's `path.Clean` leaves it, which `AddPath` would
            // do again to no effect.
            if entry.path == "." {
                continue;
            }
            let names: Vec<&str> = entry.path.trim_matches('/').split('/').collect();
            tree.add_names(
                &names,
                Info {
                    size: entry.size,
                    is_dir: entry.dive_dir,
                },
            );
        }
        tree
    }

    /// dive's `AddPath`: the path cleaned, then [`Tree::add_names`].
    fn add_path(&mut self, path: &str, info: Info) {
        let cleaned = path_clean::clean(path).to_string_lossy().into_owned();
        if cleaned == "." {
            return;
        }
        let names: Vec<&str> = cleaned.trim_matches('/').split('/').collect();
        self.add_names(&names, info);
    }

    /// The rest of dive's `AddPath`: missing parents are made with an empty payload; the payload
    /// goes to the last name only; a name under an opaque marker is dropped.
    fn add_names(&mut self, names: &[&str], info: Info) {
        let mut node = 0;
        for (index, name) in names.iter().enumerate() {
            if name.is_empty() {
                continue;
            }
            node = match self.nodes[node].children.get(*name) {
                Some(&child) => child,
                None => {
                    if name.starts_with(OPAQUE_PREFIX) {
                        return;
                    }
                    let child = self.nodes.len();
                    self.nodes.push(Node {
                        name: name.to_string(),
                        parent: node,
                        children: BTreeMap::new(),
                        info: Info::default(),
                    });
                    self.nodes[node].children.insert(name.to_string(), child);
                    child
                }
            };
            if index == names.len() - 1 {
                self.nodes[node].info = info;
            }
        }
    }

    /// dive's `GetNode`.
    fn get(&self, path: &str) -> Option<usize> {
        self.get_names(path.trim_matches('/').split('/'))
    }

    fn get_names<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Option<usize> {
        let mut node = 0;
        for name in names {
            if name.is_empty() {
                continue;
            }
            node = *self.nodes[node].children.get(name)?;
        }
        Some(node)
    }

    /// dive's `RemovePath`: the node and everything under it leave the tree.
    fn remove_path(&mut self, path: &str) {
        let node = self.get(path);
        self.unlink(node);
    }

    fn unlink(&mut self, node: Option<usize>) {
        if let Some(node) = node {
            if node != 0 {
                let parent = self.nodes[node].parent;
                let name = self.nodes[node].name.clone();
                self.nodes[parent].children.remove(&name);
            }
        }
    }

    /// dive's `FileNode.Path`: the names from the root, the node's own without a whiteout
    /// prefix.
    fn path(&self, node: usize) -> String {
        let mut names = Vec::new();
        let mut current = node;
        while current != 0 {
            let name = &self.nodes[current].name;
            names.push(if current == node {
                name.strip_prefix(WHITEOUT).unwrap_or(name)
            } else {
                name.as_str()
            });
            current = self.nodes[current].parent;
        }
        names.reverse();
        format!("/{}", names.join("/")).replace("//", "/")
    }

    fn is_whiteout(&self, node: usize) -> bool {
        self.nodes[node].name.starts_with(WHITEOUT)
    }

    /// dive's `VisitDepthChildFirst` from the root: children by name, each before its parent,
    /// the root itself never.
    fn post_order(&self) -> Vec<usize> {
        let mut order = Vec::with_capacity(self.nodes.len());
        self.post_order_from(0, &mut order);
        order.pop();
        order
    }

    fn post_order_from(&self, node: usize, order: &mut Vec<usize>) {
        for &child in self.nodes[node].children.values() {
            self.post_order_from(child, order);
        }
        order.push(node);
    }

    /// The sizes of a node and of everything under it.
    fn subtree_size(&self, node: usize) -> u64 {
        let mut order = Vec::new();
        self.post_order_from(node, &mut order);
        order.iter().map(|&n| self.nodes[n].info.size).sum()
    }

    /// dive's `Stack`: the upper tree's nodes, children first, delete (whiteouts) or overwrite.
    fn stack(&mut self, upper: &Tree) {
        self.stack_from(upper, 0, &mut Vec::new());
    }

    /// Stacks the upper tree's `node`, whose names from the root are `names`, after its
    /// children. dive joins the names into a path and cleans it again; that changes nothing but
    /// for names `.` and `..` (from tar names such as `../x`), which take dive's way.
    fn stack_from<'u>(&mut self, upper: &'u Tree, node: usize, names: &mut Vec<&'u str>) {
        for (name, &child) in &upper.nodes[node].children {
            names.push(name);
            self.stack_from(upper, child, names);
            names.pop();
        }
        if node == 0 {
            return;
        }
        let whiteout = upper.is_whiteout(node);
        if names.iter().any(|name| matches!(*name, "." | "..")) {
            let path = upper.path(node);
            if whiteout {
                self.remove_path(&path);
            } else {
                self.add_path(&path, upper.nodes[node].info);
            }
        } else if whiteout {
            let (own, parents) = names
                .split_last()
                .expect("a node below the root has a name");
            let target = own.strip_prefix(WHITEOUT).unwrap_or(own);
            let found = self.get_names(parents.iter().copied().chain([target]));
            self.unlink(found);
        } else {
            self.add_names(names, upper.nodes[node].info);
        }
    }
}

/// dive's `EfficiencyData` of one path.
struct PathData {
    cumulative: u64,
    smallest: i64,
    visits: u32,
}

/// dive's `Efficiency` over the layers' entries, lowest layer first.
pub(crate) fn figures(layers: &[&[Entry]]) -> DiveFigures {
    let mut paths: HashMap<String, PathData> = HashMap::new();
    let mut inefficient: Vec<String> = Vec::new();
    // What the layers below the current one stack to: dive's `StackTreeRange(trees, 0, i-1)`,
    // kept up to date rather than stacked again for every whiteout.
    let mut below: Option<Tree> = None;
    for entries in layers {
        let tree = Tree::from_layer(entries);
        // For the first layer dive's range is empty and the "stack" is a copy of the layer
        // itself, its whiteouts not applied.
        let stacked = below.as_ref().unwrap_or(&tree);
        for node in tree.post_order() {
            if !tree.nodes[node].children.is_empty() {
                continue;
            }
            let path = tree.path(node);
            let data = paths.entry(path.clone()).or_insert(PathData {
                cumulative: 0,
                smallest: -1,
                visits: 0,
            });
            let size = if tree.is_whiteout(node) {
                let Some(previous) = stacked.get(&path) else {
                    // dive's visitor returns the error, which ends this layer's visit.
                    break;
                };
                if stacked.nodes[previous].info.is_dir {
                    stacked.subtree_size(previous)
                } else {
                    0
                }
            } else {
                tree.nodes[node].info.size
            };
            data.cumulative += size;
            if data.smallest < 0 || (size as i64) < data.smallest {
                data.smallest = size as i64;
            }
            data.visits += 1;
            if data.visits == 2 {
                inefficient.push(path);
            }
        }
        match below.as_mut() {
            Some(below) => below.stack(&tree),
            // dive stacks the first layer onto a copy of itself, which only changes the copy
            // where the layer has whiteouts; without any, the layer itself is that stack.
            None if tree.nodes.iter().any(|n| n.name.starts_with(WHITEOUT)) => {
                let mut stacked = tree.clone();
                stacked.stack(&tree);
                below = Some(stacked);
            }
            None => below = Some(tree),
        }
    }
    let smallest: i64 = paths.values().map(|d| d.smallest).sum();
    let discovered: u64 = paths.values().map(|d| d.cumulative).sum();
    let efficiency = if discovered == 0 {
        1.0
    } else {
        smallest as f64 / discovered as f64
    };
    let mut inefficient: Vec<(String, u32, u64)> = inefficient
        .into_iter()
        .map(|path| {
            let data = &paths[&path];
            (path, data.visits, data.cumulative)
        })
        .collect();
    inefficient.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    DiveFigures {
        efficiency,
        wasted_bytes: inefficient.iter().map(|(_, _, size)| size).sum(),
        inefficient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::Kind;

    fn file(path: &str, size: u64) -> Entry {
        Entry {
            path: path.into(),
            kind: Kind::File,
            size,
            dive_dir: false,
            link: None,
            executable: false,
        }
    }

    fn dir(path: &str) -> Entry {
        Entry {
            path: path.into(),
            kind: Kind::Dir,
            size: 0,
            dive_dir: true,
            link: None,
            executable: false,
        }
    }

    fn run(layers: &[Vec<Entry>]) -> DiveFigures {
        let refs: Vec<&[Entry]> = layers.iter().map(Vec::as_slice).collect();
        figures(&refs)
    }

    #[test]
    fn one_layer_wastes_nothing() {
        let f = run(&[vec![dir("etc"), file("etc/a", 10), file("etc/b", 5)]]);
        assert_eq!(f.efficiency, 1.0);
        assert_eq!(f.wasted_bytes, 0);
    }

    #[test]
    fn an_overwritten_file_wastes_every_copy() {
        let f = run(&[
            vec![dir("etc"), file("etc/big", 10), file("etc/keep", 3)],
            vec![dir("etc"), file("etc/big", 5)],
        ]);
        // dive counts both copies as wasted (issue 684), 10 + 5.
        assert_eq!(f.wasted_bytes, 15);
        // smallest copies 5 + 3 over all copies 10 + 5 + 3.
        assert_eq!(f.efficiency, 8.0 / 18.0);
        assert_eq!(f.inefficient, vec![("/etc/big".to_string(), 2, 15)]);
    }

    #[test]
    fn a_deleted_file_counts_zero_for_its_whiteout() {
        let f = run(&[
            vec![dir("tmp"), file("tmp/junk", 100), file("tmp/keep", 100)],
            vec![dir("tmp"), file("tmp/.wh.junk", 0)],
        ]);
        assert_eq!(f.wasted_bytes, 100);
        assert_eq!(f.efficiency, 100.0 / 200.0);
    }

    #[test]
    fn a_deleted_directory_counts_its_subtree_for_its_whiteout() {
        let f = run(&[
            vec![dir("d"), dir("d/sub"), file("d/sub/a", 10), file("d/b", 5)],
            vec![file(".wh.d", 0)],
        ]);
        // /d/sub/a and /d/b once each (15); /d visited once by the whiteout (15).
        assert_eq!(f.wasted_bytes, 0);
        assert_eq!(f.efficiency, 30.0 / 30.0);
    }

    #[test]
    fn an_opaque_marker_hides_nothing() {
        let f = run(&[
            vec![dir("d"), file("d/old", 4)],
            vec![dir("d"), file("d/.wh..wh..opq", 0), file("d/new", 6)],
        ]);
        assert_eq!(f.wasted_bytes, 0);
        assert_eq!(f.efficiency, 1.0);
    }

    #[test]
    fn a_whiteout_of_nothing_ends_its_layer_and_leaves_minus_one() {
        let f = run(&[
            vec![file("a", 10)],
            // Visited by name: `.wh.ghost` first, then `zz`, which is never reached.
            vec![file(".wh.ghost", 0), file("zz", 7)],
        ]);
        // Paths: /a (10, 10), /ghost (0, -1). /zz is never visited.
        assert_eq!(f.efficiency, 9.0 / 10.0);
        assert_eq!(f.wasted_bytes, 0);
    }

    #[test]
    fn an_implicit_parent_is_no_directory_to_a_whiteout() {
        let f = run(&[
            // `d` only appears as a parent: dive gives it an empty payload.
            vec![file("d/a", 10)],
            vec![file(".wh.d", 0)],
        ]);
        // /d/a once (10), /d once with size 0.
        assert_eq!(f.efficiency, 1.0);
        assert_eq!(f.wasted_bytes, 0);
    }

    #[test]
    fn empty_directories_are_leaves_and_directories_with_children_are_not() {
        let f = run(&[
            vec![dir("empty"), dir("full"), file("full/x", 1)],
            vec![dir("empty")],
        ]);
        assert_eq!(f.inefficient, vec![("/empty".to_string(), 2, 0)]);
        assert_eq!(f.wasted_bytes, 0);
    }

    #[test]
    fn the_stack_below_follows_earlier_deletions() {
        let f = run(&[
            vec![dir("d"), file("d/a", 10)],
            vec![file(".wh.d", 0)],
            vec![dir("d"), file("d/b", 3)],
            vec![file(".wh.d", 0)],
        ]);
        // The second whiteout deletes the new /d: its subtree is /d (0) and /d/b (3).
        // /d: 10 + 3 over visits; /d/a: 10; /d/b: 3.
        assert_eq!(f.inefficient, vec![("/d".to_string(), 2, 13)]);
        assert_eq!(f.wasted_bytes, 13);
        assert_eq!(f.efficiency, (10.0 + 3.0 + 3.0) / (13.0 + 10.0 + 3.0));
    }

    #[test]
    fn an_empty_image_is_fully_efficient() {
        assert_eq!(run(&[]).efficiency, 1.0);
        assert_eq!(run(&[vec![]]).efficiency, 1.0);
    }
}
