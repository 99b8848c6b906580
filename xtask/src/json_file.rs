//! The tool's own JSON files on disk (caches, build records, reports): read one back, or write
//! one so that no reader ever sees half of it.

use std::path::Path;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;

/// The value `path` holds; `None` when there is no such file or it does not read as a `T` (an
/// entry an older version wrote, which the caller makes again rather than failing on).
pub fn read<T: DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes `bytes` to `path`, creating its folder: whole to a side file first and then renamed,
/// so that an interrupted run never leaves half a file and concurrent runs may share one. The
/// side file is named by the process, so that two processes never write the same one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("a file lies in a folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.partial", std::process::id()));
    let partial = dir.join(name);
    std::fs::write(&partial, bytes).with_context(|| format!("write {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_value_reads_back_and_no_side_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep/er/entry.json");
        assert_eq!(read::<Vec<u32>>(&path), None);
        write_atomically(&path, b"[1,2]").unwrap();
        assert_eq!(read::<Vec<u32>>(&path), Some(vec![1, 2]));
        assert_eq!(read::<String>(&path), None, "another shape is a miss");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["entry.json"]);
    }
}
