//! The per-layer cache: what reading a layer found, kept in a directory the caller chooses and
//! keyed by the layer's digest as stored (the diff ID of a plain tar, the blob digest of a
//! compressed one), so that after a source edit only the new layers are read.
//!
//! Beside the records, the cache remembers which archive member (name and size) held which layer.
//! A streamed `docker save` in the classic layout names layers `<id>/layer.tar` and lists their
//! digests only at its end, after the layers; the name a layer had last time says, before its
//! bytes arrive, that it can be drained (and its digest checked) instead of read. Files are
//! written whole and then renamed into place, so that concurrent analyses never read half a file.
//!
//! A plain layer read without its gzip size (`Options::compressed_size` off) is kept without it;
//! an analysis that wants the size takes such a record for a miss, reads the layer again and
//! keeps the whole record in its place. A whole record serves either kind of analysis.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::layer::LayerRecord;

/// The cache's format: bump it when a record's meaning changes (gzip level included).
/// 2: entries say whether they are executable, records keep what the components need. (A
/// record's `compressed_bytes` may be null since, for a layer read without its gzip size: an
/// older reader fails to parse such a record and takes it for a miss, so the format stays.)
/// 3: the gzip size is libdeflate's at level 3 in blocks of 1 MiB (see `gzip`), no longer zlib's
/// at level 6 primed with a dictionary.
const FORMAT: &str = "image-analysis-v3-libdeflate3";

pub(crate) struct Cache {
    layers: PathBuf,
    names: PathBuf,
}

/// `sha256:<64 hex digits>`, the only keys the cache takes (they become file names).
pub(crate) fn is_sha256(key: &str) -> bool {
    key.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

impl Cache {
    pub(crate) fn open(root: &Path) -> Result<Self> {
        let base = root.join(FORMAT);
        let layers = base.join("layers");
        let names = base.join("names");
        for dir in [&layers, &names] {
            fs::create_dir_all(dir)
                .with_context(|| format!("create the cache directory {}", dir.display()))?;
        }
        Ok(Cache { layers, names })
    }

    fn record_path(&self, key: &str) -> Option<PathBuf> {
        is_sha256(key).then(|| self.layers.join(key.replace(':', "-") + ".json"))
    }

    fn name_path(&self, member: &str, size: u64) -> PathBuf {
        let mut hasher = Sha256::new();
        hasher.update(member.as_bytes());
        hasher.update([0]);
        hasher.update(size.to_le_bytes());
        self.names.join(hex::encode(hasher.finalize()))
    }

    /// The record of a layer; a missing or unreadable one is a miss, and so is one without the
    /// compressed size when `with_compressed_size` asks for it.
    pub(crate) fn get(&self, key: &str, with_compressed_size: bool) -> Option<LayerRecord> {
        let path = self.record_path(key)?;
        let text = fs::read(path).ok()?;
        let record: LayerRecord = serde_json::from_slice(&text).ok()?;
        let complete = record.compressed_bytes.is_some() || !with_compressed_size;
        (record.blob_digest == key && complete).then_some(record)
    }

    pub(crate) fn put(&self, record: &LayerRecord) -> Result<()> {
        let Some(path) = self.record_path(&record.blob_digest) else {
            return Ok(());
        };
        let text = serde_json::to_vec(record).context("serialise a layer record")?;
        write_atomically(&self.layers, &path, &text)
    }

    /// The layer that the member of this name and size held when last seen.
    pub(crate) fn name(&self, member: &str, size: u64) -> Option<String> {
        let key = fs::read_to_string(self.name_path(member, size)).ok()?;
        is_sha256(&key).then_some(key)
    }

    pub(crate) fn set_name(&self, member: &str, size: u64, key: &str) -> Result<()> {
        if !is_sha256(key) || self.name(member, size).as_deref() == Some(key) {
            return Ok(());
        }
        write_atomically(&self.names, &self.name_path(member, size), key.as_bytes())
    }
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("create a file in {}", dir.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("write {}", path.display()))?;
    file.persist(path)
        .with_context(|| format!("move a file to {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{Entry, Kind};
    use crate::model::Compression;

    fn record(key: &str) -> LayerRecord {
        LayerRecord {
            blob_digest: key.into(),
            diff_id: key.into(),
            compression: Compression::None,
            blob_bytes: 2048,
            tar_bytes: 2048,
            compressed_bytes: Some(100),
            entries: vec![Entry {
                path: "etc/hostname".into(),
                kind: Kind::File,
                size: 8,
                dive_dir: false,
                link: None,
                executable: false,
            }],
            found: Vec::new(),
        }
    }

    #[test]
    fn records_and_names_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let key = format!("sha256:{}", "ab".repeat(32));
        assert!(cache.get(&key, true).is_none());
        cache.put(&record(&key)).unwrap();
        assert_eq!(cache.get(&key, true), Some(record(&key)));
        assert_eq!(cache.get(&key, false), Some(record(&key)));
        assert_eq!(cache.name("x/layer.tar", 2048), None);
        cache.set_name("x/layer.tar", 2048, &key).unwrap();
        assert_eq!(cache.name("x/layer.tar", 2048), Some(key.clone()));
        // The same name with another size is another member.
        assert_eq!(cache.name("x/layer.tar", 4096), None);
    }

    #[test]
    fn keys_that_are_no_sha256_digest_are_never_file_names() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        for key in ["sha256:../../etc/passwd", "sha512:00", "", "sha256:ABCD"] {
            cache.put(&record(key)).unwrap();
            assert!(cache.get(key, false).is_none());
        }
        assert_eq!(fs::read_dir(&cache.layers).unwrap().count(), 0);
    }

    #[test]
    fn a_damaged_record_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let key = format!("sha256:{}", "cd".repeat(32));
        fs::write(cache.record_path(&key).unwrap(), b"{\"blob_digest\":").unwrap();
        assert!(cache.get(&key, false).is_none());
    }

    #[test]
    fn a_record_without_the_compressed_size_serves_only_who_does_not_want_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let key = format!("sha256:{}", "ef".repeat(32));
        let partial = LayerRecord {
            compressed_bytes: None,
            ..record(&key)
        };
        cache.put(&partial).unwrap();
        assert_eq!(cache.get(&key, false), Some(partial));
        assert_eq!(cache.get(&key, true), None);
        // The whole record, once kept, serves both.
        cache.put(&record(&key)).unwrap();
        assert_eq!(cache.get(&key, true), Some(record(&key)));
        assert_eq!(cache.get(&key, false), Some(record(&key)));
    }

    #[test]
    fn a_record_of_before_the_size_could_be_absent_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let key = format!("sha256:{}", "01".repeat(32));
        let text = format!(
            "{{\"blob_digest\":\"{key}\",\"diff_id\":\"{key}\",\"compression\":\"none\",\
             \"blob_bytes\":2048,\"tar_bytes\":2048,\"compressed_bytes\":100,\
             \"entries\":[{{\"p\":\"etc/hostname\",\"k\":\"f\",\"s\":8}}]}}"
        );
        fs::write(cache.record_path(&key).unwrap(), text).unwrap();
        assert_eq!(cache.get(&key, true), Some(record(&key)));
    }
}
