//! Reading one layer as the archive stores it: its compression found from its first bytes (gzip,
//! zstd or a plain tar), its digests, its gzip size when it is plain (and that size is wanted),
//! and its tar entries as dive and the merged filesystem need them. The result, a
//! [`LayerRecord`], is what the cache keeps.

use std::io::{self, Read};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::components::{self, Found};
use crate::gzip::{Budget, GzipSize, GzipTap};
use crate::model::Compression;

/// What a tar entry is, for the merged filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Kind {
    #[serde(rename = "f")]
    File,
    #[serde(rename = "d")]
    Dir,
    #[serde(rename = "s")]
    Symlink,
    #[serde(rename = "h")]
    HardLink,
    #[serde(rename = "o")]
    Other,
}

/// One tar entry of a layer, with the fields dive reads of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The name as Go's `path.Clean` leaves it (`usr/bin`, `/abs`, `../x`): dive's key.
    #[serde(rename = "p")]
    pub path: String,
    #[serde(rename = "k")]
    pub kind: Kind,
    /// The header's size, as Go's `tar.Header.Size` gives it.
    #[serde(rename = "s")]
    pub size: u64,
    /// Whether Go's `Header.FileInfo().IsDir()` holds: a directory type flag, or a directory
    /// mode on any type flag.
    #[serde(rename = "d", default, skip_serializing_if = "is_false")]
    pub dive_dir: bool,
    /// The target of a symbolic or hard link.
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// A regular file with an execute bit.
    #[serde(rename = "x", default, skip_serializing_if = "is_false")]
    pub executable: bool,
}

fn is_false(value: &bool) -> bool {
    !value
}

/// What reading one layer found: everything the figures need, so a cached record stands in
/// for reading the layer again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LayerRecord {
    /// `sha256:` of the layer's bytes as stored: the cache key.
    pub blob_digest: String,
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
    pub compression: Compression,
    pub blob_bytes: u64,
    pub tar_bytes: u64,
    /// The blob's size when it is compressed, the gzip size of the tar otherwise; `None` for a
    /// plain layer read without deflating it. A record without it never stands in for reading
    /// the layer when the size is wanted (see `Cache::get`).
    pub compressed_bytes: Option<u64>,
    pub entries: Vec<Entry>,
    /// What the layer's package databases and Go binaries hold, for the components.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub found: Vec<Found>,
}

/// A layer read to its end, whose gzip size may still be computing on the rayon scope.
pub(crate) struct PendingLayer {
    record: LayerRecord,
    gzip: Option<GzipSize>,
}

impl PendingLayer {
    /// The record, once the scope the layer was read in has ended.
    pub(crate) fn finish(mut self) -> LayerRecord {
        if let Some(gzip) = self.gzip {
            self.record.compressed_bytes = Some(gzip.get());
        }
        self.record
    }
}

/// What the first bytes of a blob say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sniffed {
    Layer(Compression),
    Json,
}

/// Tells a layer from a JSON document by its first bytes (up to 512: a tar header).
pub(crate) fn sniff(head: &[u8]) -> Sniffed {
    if head.starts_with(&[0x1f, 0x8b]) {
        return Sniffed::Layer(Compression::Gzip);
    }
    // A zstd frame, or a skippable frame (0x184D2A50 to 0x184D2A5F, little-endian) that
    // zstd:chunked layers may start with.
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (head.len() >= 4 && head[0] & 0xf0 == 0x50 && head[1..4] == [0x2a, 0x4d, 0x18])
    {
        return Sniffed::Layer(Compression::Zstd);
    }
    let is_tar = head.len() >= 262 && &head[257..262] == b"ustar";
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    if !is_tar && matches!(first, Some(b'{' | b'[')) {
        return Sniffed::Json;
    }
    Sniffed::Layer(Compression::None)
}

/// Reads the first bytes of a reader without losing them.
pub(crate) fn peek<R: Read>(mut reader: R, want: usize) -> io::Result<(Vec<u8>, R)> {
    let mut head = Vec::with_capacity(want);
    (&mut reader).take(want as u64).read_to_end(&mut head)?;
    Ok((head, reader))
}

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R> Hashing<R> {
    fn new(inner: R) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    fn digest(self) -> (String, u64) {
        (
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.count,
        )
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Reads a stored layer (its bytes from the first) to the end. A plain one is deflated on
/// `scope` within `gzip`'s budget for its gzip size, or, when `gzip` is `None`, not at all (and
/// its record has no compressed size).
pub(crate) fn read_layer<'s>(
    stored: impl Read,
    scope: &rayon::Scope<'s>,
    gzip: Option<&Budget>,
) -> Result<PendingLayer> {
    let (head, rest) = peek(stored, 512).context("read the layer's first bytes")?;
    let compression = match sniff(&head) {
        Sniffed::Layer(compression) => compression,
        Sniffed::Json => bail!("the blob is a JSON document, not a layer"),
    };
    let mut blob = Hashing::new(io::BufReader::with_capacity(
        256 << 10,
        io::Cursor::new(head).chain(rest),
    ));
    let ((entries, found), diff_id, tar_bytes, gzip) = match compression {
        Compression::None => match gzip {
            Some(budget) => {
                let mut tap = GzipTap::new(&mut blob, scope, budget.clone());
                let entries = read_entries(&mut tap)?;
                (entries, None, None, Some(tap.finish()))
            }
            None => (read_entries(&mut blob)?, None, None, None),
        },
        Compression::Gzip => {
            let mut tar = Hashing::new(flate2::read::MultiGzDecoder::new(&mut blob));
            let entries = read_entries(&mut tar).context("decompress the gzip layer")?;
            let (diff_id, tar_bytes) = tar.digest();
            (entries, Some(diff_id), Some(tar_bytes), None)
        }
        Compression::Zstd => {
            let decoder =
                zstd::stream::read::Decoder::new(&mut blob).context("start reading zstd")?;
            let mut tar = Hashing::new(decoder);
            let entries = read_entries(&mut tar).context("decompress the zstd layer")?;
            let (diff_id, tar_bytes) = tar.digest();
            (entries, Some(diff_id), Some(tar_bytes), None)
        }
    };
    // Whatever follows the tar's end (padding, more compressed members) is part of the blob.
    io::copy(&mut blob, &mut io::sink()).context("read the rest of the layer")?;
    let (blob_digest, blob_bytes) = blob.digest();
    Ok(PendingLayer {
        record: LayerRecord {
            diff_id: diff_id.unwrap_or_else(|| blob_digest.clone()),
            tar_bytes: tar_bytes.unwrap_or(blob_bytes),
            blob_digest,
            compression,
            blob_bytes,
            // A compressed blob is what the registry stores; a plain one's gzip size, if it is
            // computed, is set when the scope has ended (`PendingLayer::finish`).
            compressed_bytes: (compression != Compression::None).then_some(blob_bytes),
            entries,
            found,
        },
        gzip,
    })
}

/// The entries of a layer tar, reading it to its very end (past the end-of-archive blocks) so
/// that digests and sizes cover every byte.
fn read_entries(reader: &mut impl Read) -> Result<(Vec<Entry>, Vec<Found>)> {
    let mut entries = Vec::new();
    let mut found = Vec::new();
    {
        let mut archive = tar::Archive::new(&mut *reader);
        for entry in archive.entries().context("read the layer tar")? {
            let mut entry = entry.context("read the layer tar")?;
            if let Some(read) = to_entry(&entry).context("read a layer tar header")? {
                // A package database or a Go binary is read for the components as it passes.
                if read.kind == Kind::File {
                    if let Some(take) = components::wanted(&read.path, read.executable) {
                        let what = take(read.path.clone(), &mut entry)
                            .with_context(|| format!("read {} in the layer", read.path))?;
                        found.extend(what);
                    }
                }
                entries.push(read);
            }
        }
    }
    io::copy(reader, &mut io::sink()).context("read the layer tar's end")?;
    Ok((entries, found))
}

fn to_entry<R: Read>(entry: &tar::Entry<'_, R>) -> Result<Option<Entry>> {
    let header = entry.header();
    let flag = header.entry_type().as_byte();
    // Extended and global headers only describe other entries; Go's reader folds the first in
    // and hands out the second, which dive then rejects: neither is a path of the layer.
    if matches!(flag, b'x' | b'g' | b'L' | b'K' | b'X') {
        return Ok(None);
    }
    let raw = entry.path_bytes();
    let raw = String::from_utf8_lossy(&raw);
    let path = path_clean::clean(raw.as_ref())
        .to_string_lossy()
        .into_owned();
    if path == "." {
        return Ok(None);
    }
    // Go's reader turns an old-style regular entry whose name ends in `/` into a directory.
    let flag = if matches!(flag, b'0' | 0) && raw.ends_with('/') {
        b'5'
    } else {
        flag
    };
    let mode = header.mode().unwrap_or(0);
    let kind = match flag {
        b'0' | 0 | b'7' => Kind::File,
        b'5' => Kind::Dir,
        b'2' => Kind::Symlink,
        b'1' => Kind::HardLink,
        _ => Kind::Other,
    };
    let link = match kind {
        Kind::Symlink | Kind::HardLink => Some(
            entry
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default(),
        ),
        _ => None,
    };
    Ok(Some(Entry {
        path,
        kind,
        size: entry.size(),
        dive_dir: flag == b'5' || mode & 0o170000 == 0o040000,
        link,
        executable: kind == Kind::File && mode & 0o111 != 0,
    }))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o644);
            header.set_size(data.len() as u64);
            builder.append_data(&mut header, path, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn read(stored: &[u8]) -> LayerRecord {
        read_with(stored, Some(&Budget::new(2)))
    }

    fn read_with(stored: &[u8], gzip: Option<&Budget>) -> LayerRecord {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let pending = pool.in_place_scope(|scope| read_layer(stored, scope, gzip));
        pending.unwrap().finish()
    }

    fn sha(data: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(data)))
    }

    #[test]
    fn a_plain_layer_is_its_own_diff_id_and_gets_a_gzip_size() {
        let tar = tar_of(&[("./etc/hostname", b"webtest\n"), ("usr/bin/", b"")]);
        let record = read(&tar);
        assert_eq!(record.compression, Compression::None);
        assert_eq!(record.blob_digest, sha(&tar));
        assert_eq!(record.diff_id, sha(&tar));
        assert_eq!(record.tar_bytes, tar.len() as u64);
        let compressed = record.compressed_bytes.unwrap();
        assert!(compressed > 18 && compressed < tar.len() as u64);
        assert_eq!(record.entries[0].path, "etc/hostname");
        assert_eq!(record.entries[0].size, 8);
        // An old-style entry whose name ends in a slash is a directory, as Go reads it.
        assert_eq!(record.entries[1].kind, Kind::Dir);
        assert!(record.entries[1].dive_dir);
    }

    #[test]
    fn a_plain_layer_read_without_gzip_has_no_compressed_size_and_the_same_rest() {
        let tar = tar_of(&[("etc/hostname", b"webtest\n"), ("bin/sh", &[7u8; 3000])]);
        let with = read(&tar);
        let without = read_with(&tar, None);
        assert_eq!(without.compressed_bytes, None);
        assert_eq!(
            LayerRecord {
                compressed_bytes: with.compressed_bytes,
                ..without
            },
            with
        );
    }

    #[test]
    fn gzip_and_zstd_layers_are_found_by_their_magic_bytes() {
        let tar = tar_of(&[("a", b"0123456789")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(tar.as_slice(), 3).unwrap();
        for (stored, compression) in [(gz, Compression::Gzip), (zst, Compression::Zstd)] {
            let record = read(&stored);
            assert_eq!(record.compression, compression);
            assert_eq!(record.diff_id, sha(&tar));
            assert_eq!(record.blob_digest, sha(&stored));
            assert_eq!(record.tar_bytes, tar.len() as u64);
            assert_eq!(record.blob_bytes, stored.len() as u64);
            // A compressed blob is what the registry stores, whether gzip sizes are wanted or
            // not.
            assert_eq!(record.compressed_bytes, Some(stored.len() as u64));
            assert_eq!(read_with(&stored, None), record);
            assert_eq!(record.entries.len(), 1);
        }
    }

    #[test]
    fn json_is_told_from_a_tar_whose_first_name_starts_with_a_brace() {
        assert_eq!(sniff(b" {\"schemaVersion\": 2}"), Sniffed::Json);
        let tar = tar_of(&[("{weird}", b"x")]);
        assert_eq!(sniff(&tar[..512]), Sniffed::Layer(Compression::None));
        // An empty layer is 1024 zero bytes.
        assert_eq!(sniff(&[0; 512]), Sniffed::Layer(Compression::None));
    }

    #[test]
    fn links_keep_their_targets_and_directory_modes_count_as_directories() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        builder.append_link(&mut header, "bin", "usr/bin").unwrap();
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Link);
        header.set_size(0);
        builder
            .append_link(&mut header, "usr/bin/b", "usr/bin/a")
            .unwrap();
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o040755);
        header.set_size(0);
        builder
            .append_data(&mut header, "odd", io::empty())
            .unwrap();
        let record = read(&builder.into_inner().unwrap());
        assert_eq!(record.entries[0].kind, Kind::Symlink);
        assert_eq!(record.entries[0].link.as_deref(), Some("usr/bin"));
        assert_eq!(record.entries[1].kind, Kind::HardLink);
        assert_eq!(record.entries[1].link.as_deref(), Some("usr/bin/a"));
        assert_eq!(record.entries[2].kind, Kind::File);
        assert!(record.entries[2].dive_dir);
    }

    #[test]
    fn a_truncated_layer_is_an_error() {
        let tar = tar_of(&[("a", &[7u8; 4000])]);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let result = pool.in_place_scope(|scope| {
            read_layer(&tar[..1500], scope, Some(&Budget::new(1))).map(|_| ())
        });
        assert!(result.is_err());
    }
}
