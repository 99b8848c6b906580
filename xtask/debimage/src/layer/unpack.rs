//! Unpacking one package's `data.tar` into the [`Tree`], deciding conflicts on the way.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::deb::{normalize, Deb};

use super::docs::doc_excluded;
use super::tree::{Kind, Node, Tree, Unpacked};

impl Tree {
    /// Unpacks one package into the tree.
    pub(super) fn unpack(
        &mut self,
        index: usize,
        deb_path: &Path,
        drop_docs: bool,
    ) -> Result<Unpacked> {
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
}
