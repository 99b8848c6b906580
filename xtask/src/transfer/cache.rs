//! The round trip's figures kept by image ID (an ID names one content forever) and by registry,
//! under `target/xtask/transfer-cache`, so that a `compare` with nothing changed pushes nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::model::Transfer;

/// Bumped when the meaning of a figure changes, so that older entries are measured again.
const FORMAT: &str = "v1";

pub struct TransferCache {
    dir: PathBuf,
}

impl TransferCache {
    pub fn under(out_dir: &Path) -> TransferCache {
        TransferCache {
            dir: out_dir.join("transfer-cache").join(FORMAT),
        }
    }

    fn file(&self, id: &str, registry: &str) -> PathBuf {
        let key = Sha256::digest(format!("{id}\n{registry}").as_bytes());
        self.dir.join(format!("{}.json", hex::encode(key)))
    }

    /// The figures of this image through this registry, marked as cached; `None` when there
    /// are none or they do not read.
    pub fn get(&self, id: &str, registry: &str) -> Option<Transfer> {
        let bytes = std::fs::read(self.file(id, registry)).ok()?;
        let transfer: Transfer = serde_json::from_slice(&bytes).ok()?;
        Some(Transfer {
            cached: true,
            ..transfer
        })
    }

    pub fn put(&self, id: &str, registry: &str, transfer: &Transfer) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("create {}", self.dir.display()))?;
        let file = self.file(id, registry);
        // Written whole and then renamed, so that an interrupted run never leaves half an entry.
        let partial = file.with_extension(format!("{}.partial", std::process::id()));
        std::fs::write(&partial, serde_json::to_vec(transfer)?)
            .with_context(|| format!("write {}", partial.display()))?;
        std::fs::rename(&partial, &file).with_context(|| format!("write {}", file.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_kept_by_image_and_registry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TransferCache::under(dir.path());
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
