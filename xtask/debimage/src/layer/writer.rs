//! Writing layer tars: the tree in path order, with fixed metadata, through a temporary
//! file that is hashed on the way (the hash is the layer's `diff_id`).

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::tree::{Content, Kind, Tree};
use super::LayerFile;

impl Tree {
    /// Writes the tree as a tar to `out`, sorted by path.
    pub(super) fn write_tar(&mut self, out: &mut dyn Write) -> Result<()> {
        let mut builder = tar::Builder::new(out);
        let nodes = std::mem::take(&mut self.nodes);
        for (path, node) in &nodes {
            let mut header = header_for(node.mode, node.uid, node.gid, node.mtime);
            match &node.kind {
                Kind::Dir => {
                    header.set_entry_type(tar::EntryType::Directory);
                    builder.append_data(&mut header, format!("{path}/"), io::empty())
                }
                Kind::File(Content::Inline(data)) => {
                    header.set_size(data.len() as u64);
                    builder.append_data(&mut header, path, data.as_slice())
                }
                Kind::File(Content::Spool { offset, len }) => {
                    header.set_size(*len);
                    self.spool
                        .seek(SeekFrom::Start(*offset))
                        .context("seeking in the spool file")?;
                    builder.append_data(&mut header, path, (&mut self.spool).take(*len))
                }
                Kind::Symlink(target) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    builder.append_link(&mut header, path, target)
                }
                Kind::HardLink(target) => {
                    header.set_entry_type(tar::EntryType::Link);
                    builder.append_link(&mut header, path, target)
                }
            }
            .with_context(|| format!("writing /{path} to the layer"))?;
        }
        self.nodes = nodes;
        builder.finish().context("finishing the layer tar")?;
        Ok(())
    }
}

/// A GNU tar header with fixed metadata and no user or group names.
pub(super) fn header_for(mode: u32, uid: u64, gid: u64, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_mode(mode);
    header.set_uid(uid);
    header.set_gid(gid);
    header.set_mtime(mtime);
    header.set_size(0);
    header
}

/// A writer that hashes and counts what passes through it.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A file next to `out` that is removed on drop, for spools and unfinished outputs.
pub(super) struct TempPath(pub(super) PathBuf);

impl TempPath {
    pub(super) fn beside(out: &Path, what: &str) -> TempPath {
        let mut name = out.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{what}-{}", std::process::id()));
        TempPath(out.with_file_name(name))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes a layer tar to `out` through a temporary file, hashing it on the way.
pub(super) fn write_layer(
    out: &Path,
    notes: Vec<String>,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<LayerFile> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let partial = TempPath::beside(out, "partial");
    let file =
        File::create(&partial.0).with_context(|| format!("creating {}", partial.0.display()))?;
    let mut writer = HashingWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        len: 0,
    };
    write(&mut writer)?;
    writer.flush().context("flushing the layer")?;
    let HashingWriter {
        inner, hasher, len, ..
    } = writer;
    let file = inner
        .into_inner()
        .map_err(|e| e.into_error())
        .context("flushing the layer")?;
    file.sync_all().context("syncing the layer")?;
    std::fs::rename(&partial.0, out).with_context(|| format!("renaming into {}", out.display()))?;
    Ok(LayerFile {
        path: out.to_path_buf(),
        diff_id: format!("sha256:{}", hex::encode(hasher.finalize())),
        size: len,
        notes,
    })
}
