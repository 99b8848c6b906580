//! Figures kept by what they were measured from, so that a `compare` with nothing changed
//! measures nothing twice: the registry round trip, the runs and the structure tests' commands
//! each keep theirs here, one JSON file per entry under `target/xtask/<kind>/<format>/`.
//!
//! A key names everything a figure depends on: always an image ID (an ID names one content
//! forever), and whatever else the measurement took (the registry, the engine, the probes,
//! the number of starts). The file is named by the key's SHA-256, so a key of any length or
//! character makes a valid file name. A cache made [`FigureCache::fresh`] (`--fresh`) serves
//! nothing, so everything is measured again, and keeps what is measured.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::json_file;

/// One kind of figure, of type `T`, kept by key.
pub struct FigureCache<T> {
    dir: PathBuf,
    /// Whether nothing is served (`--fresh`); entries are still written.
    fresh: bool,
    kind: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> FigureCache<T> {
    /// The cache of `kind` under `out_dir` (`target/xtask`). `format` is bumped when the
    /// meaning of a figure changes, so that older entries are measured again.
    pub fn under(out_dir: &Path, kind: &str, format: &str) -> Self {
        FigureCache {
            dir: out_dir.join(kind).join(format),
            fresh: false,
            kind: PhantomData,
        }
    }

    /// With `fresh`, the cache serves nothing, so every figure is measured again, and keeps the
    /// new figures for the next run: what `--fresh` asks of every kind of figure.
    pub fn fresh(self, fresh: bool) -> Self {
        FigureCache { fresh, ..self }
    }

    fn file(&self, key: &str) -> PathBuf {
        let digest = Sha256::digest(key.as_bytes());
        self.dir.join(format!("{}.json", hex::encode(digest)))
    }

    /// The figures kept under `key`; `None` when there are none or they do not read (an entry
    /// of an older shape is measured again, not an error), and always when the cache is fresh.
    pub fn get(&self, key: &str) -> Option<T> {
        if self.fresh {
            return None;
        }
        json_file::read(&self.file(key))
    }

    pub fn put(&self, key: &str, figures: &T) -> Result<()> {
        json_file::write_atomically(&self.file(key), &serde_json::to_vec(figures)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_come_back_under_their_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let cache: FigureCache<Vec<u64>> = FigureCache::under(dir.path(), "runs", "v1");
        assert!(cache.get("sha256:a starts 3").is_none());
        cache.put("sha256:a starts 3", &vec![1, 2, 3]).unwrap();
        assert_eq!(cache.get("sha256:a starts 3"), Some(vec![1, 2, 3]));
        assert!(cache.get("sha256:a starts 1").is_none());
        let other: FigureCache<Vec<u64>> = FigureCache::under(dir.path(), "runs", "v2");
        assert!(other.get("sha256:a starts 3").is_none(), "another format");
    }

    #[test]
    fn a_fresh_cache_serves_nothing_and_keeps_what_it_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let fresh: FigureCache<Vec<u64>> = FigureCache::under(dir.path(), "runs", "v1").fresh(true);
        let kept: FigureCache<Vec<u64>> = FigureCache::under(dir.path(), "runs", "v1");
        kept.put("k", &vec![1]).unwrap();
        assert!(fresh.get("k").is_none());
        fresh.put("k", &vec![2]).unwrap();
        assert!(fresh.get("k").is_none());
        assert_eq!(kept.get("k"), Some(vec![2]));
    }

    #[test]
    fn an_entry_that_does_not_read_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache: FigureCache<Vec<u64>> = FigureCache::under(dir.path(), "runs", "v1");
        cache.put("k", &vec![1]).unwrap();
        std::fs::write(cache.file("k"), b"{not json").unwrap();
        assert!(cache.get("k").is_none());
        let strings: FigureCache<String> = FigureCache::under(dir.path(), "runs", "v1");
        cache.put("k", &vec![1]).unwrap();
        assert!(strings.get("k").is_none(), "another shape");
    }
}
