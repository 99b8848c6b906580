//! What each variant's last build was made of, kept under `target/xtask/builds/`, so that a
//! rebuild can remove the images it superseded. With the classic builder a rebuilt variant's old
//! image loses its tag and stays as an untagged `<none>` image, with the step images of its
//! stages (a `simples` one holds a whole 1 GB build): a day of edits would fill the disk. The
//! images the new build still uses (the cache of unchanged steps) and those another variant's
//! record holds are never removed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::ids::short_id;
use crate::json_file;

/// One variant's last build.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The image the tag names.
    pub id: String,
    /// Its step images, and those of the stages it was built from.
    pub images: Vec<String>,
}

impl Record {
    /// Every image of the record, the tagged one included, as short IDs.
    fn all(&self) -> impl Iterator<Item = String> + '_ {
        self.images
            .iter()
            .chain(std::iter::once(&self.id))
            .map(|id| short_id(id).to_string())
    }
}

/// The records of one output directory.
pub struct Records {
    dir: PathBuf,
}

impl Records {
    /// The records under `out` (normally `target/xtask`).
    pub fn new(out: &Path) -> Records {
        Records {
            dir: out.join("builds"),
        }
    }

    fn path(&self, tag: &str) -> PathBuf {
        self.dir
            .join(format!("{}.json", tag.replace(['/', ':'], "_")))
    }

    /// The last build of `tag`, if one was recorded.
    pub fn read(&self, tag: &str) -> Option<Record> {
        json_file::read(&self.path(tag))
    }

    /// Records `record` as the last build of `tag`, atomically.
    pub fn write(&self, tag: &str, record: &Record) -> Result<()> {
        json_file::write_atomically(&self.path(tag), &serde_json::to_vec_pretty(record)?)
    }

    /// Every image some record other than `tag`'s holds.
    fn held_by_others(&self, tag: &str) -> BTreeSet<String> {
        let mine = self.path(tag);
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return BTreeSet::new();
        };
        entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path != &mine && path.extension().is_some_and(|e| e == "json"))
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .filter_map(|text| serde_json::from_str::<Record>(&text).ok())
            .flat_map(|record| record.all().collect::<Vec<_>>())
            .collect()
    }

    /// The images `new` supersedes for `tag`, newest first: those of the last build that the
    /// new one does not use and no other variant's record holds.
    pub fn superseded(&self, tag: &str, new: &Record) -> Vec<String> {
        let Some(old) = self.read(tag) else {
            return Vec::new();
        };
        superseded(&old, new, &self.held_by_others(tag))
    }
}

/// The images of `old` that neither `new` nor `held` has, newest first (each step image is the
/// parent of the next, so the newest must go first).
pub fn superseded(old: &Record, new: &Record, held: &BTreeSet<String>) -> Vec<String> {
    let keep: BTreeSet<String> = new.all().chain(held.iter().cloned()).collect();
    let mut gone: Vec<String> = old.all().filter(|id| !keep.contains(id)).collect();
    gone.dedup();
    gone.reverse();
    gone
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, images: &[&str]) -> Record {
        Record {
            id: id.into(),
            images: images.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn only_what_the_new_build_and_the_others_do_not_use_goes_newest_first() {
        // The dependency layer `deps` stays (the new build took it from the cache); the old
        // source and build steps and the old image go; `shared` is another variant's.
        let old = record(
            "sha256:old000000000aaaa",
            &[
                "deps00000000",
                "src000000000",
                "bin000000000",
                "shared000000",
            ],
        );
        let new = record(
            "sha256:new000000000aaaa",
            &["deps00000000", "src111111111", "bin111111111"],
        );
        let held = BTreeSet::from(["shared000000".to_string()]);
        assert_eq!(
            superseded(&old, &new, &held),
            ["old000000000", "bin000000000", "src000000000"]
        );
    }

    #[test]
    fn an_unchanged_build_supersedes_nothing() {
        let same = record("sha256:abc000000000", &["deps00000000"]);
        assert!(superseded(&same, &same, &BTreeSet::new()).is_empty());
    }

    #[test]
    fn records_are_written_and_read_back() {
        let dir = std::env::temp_dir().join(format!("xtask-records-{}", std::process::id()));
        let records = Records::new(&dir);
        let r = record("sha256:abc000000000", &["deps00000000"]);
        records.write("webtest:simples", &r).unwrap();
        assert_eq!(records.read("webtest:simples"), Some(r.clone()));
        let newer = record("sha256:def000000000", &["deps00000000"]);
        assert_eq!(
            records.superseded("webtest:simples", &newer),
            ["abc000000000"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
