//! The round trip's figures kept by image ID (an ID names one content forever) and by registry,
//! under `target/xtask/transfer-cache`, so that a `compare` with nothing changed pushes nothing.

use std::path::Path;

use anyhow::Result;

use crate::figure_cache::FigureCache;
use crate::model::Transfer;

pub struct TransferCache(FigureCache<Transfer>);

impl TransferCache {
    /// The cache under `out_dir`; with `fresh` (`--fresh`) it serves nothing.
    pub fn under(out_dir: &Path, fresh: bool) -> TransferCache {
        // `v1`: bumped when the meaning of a figure changes, so that older entries are measured
        // again.
        TransferCache(FigureCache::under(out_dir, "transfer-cache", "v1").fresh(fresh))
    }

    fn key(id: &str, registry: &str) -> String {
        format!("{id}\n{registry}")
    }

    /// The figures of this image through this registry, marked as cached; `None` when there
    /// are none or they do not read.
    pub fn get(&self, id: &str, registry: &str) -> Option<Transfer> {
        let transfer = self.0.get(&Self::key(id, registry))?;
        Some(Transfer {
            cached: true,
            ..transfer
        })
    }

    pub fn put(&self, id: &str, registry: &str, transfer: &Transfer) -> Result<()> {
        self.0.put(&Self::key(id, registry), transfer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_kept_by_image_and_registry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TransferCache::under(dir.path(), false);
        assert!(cache.get("sha256:a", "own").is_none());
        let transfer = Transfer {
            pushed_bytes: 5,
            ..Transfer::default()
        };
        cache.put("sha256:a", "own", &transfer).unwrap();
        let back = cache.get("sha256:a", "own").unwrap();
        assert!(back.cached);
        assert_eq!(back.pushed_bytes, 5);
        assert!(cache.get("sha256:a", "existing r:5000").is_none());
        assert!(cache.get("sha256:b", "own").is_none());
    }
}
