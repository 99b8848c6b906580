//! The two ways an archive arrives: a file on disk, whose members are found by their headers and
//! read where they lie (in parallel, and only the layers the cache lacks), and a stream read once
//! from its first byte to its last (the Engine API's export), whose layers are read as they pass
//! unless the cache already knows them.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::cache::{is_sha256, Cache};
use crate::gzip::Budget;
use crate::layer::{peek, read_layer, sniff, LayerRecord, PendingLayer, Sniffed};
use crate::layout::{member_digest, Members};
use crate::model::Compression;

/// The largest JSON member read into memory (configs, manifests, indexes are kilobytes).
const MAX_JSON: u64 = 64 << 20;
/// Links followed from one member name before giving up.
const MAX_LINK_HOPS: usize = 16;

/// `./blobs//sha256/x` → `blobs/sha256/x`.
pub(crate) fn member_name(raw: &[u8]) -> String {
    let raw = String::from_utf8_lossy(raw);
    let cleaned = path_clean::clean(raw.as_ref());
    cleaned
        .to_string_lossy()
        .trim_start_matches('/')
        .to_string()
}

/// Where a link member points, as a member name: symbolic links are relative to their own
/// directory, hard links to the archive's root.
fn link_target(member: &str, target: &[u8], symbolic: bool) -> String {
    let target = String::from_utf8_lossy(target);
    if symbolic && !target.starts_with('/') {
        let dir = member.rsplit_once('/').map_or("", |(dir, _)| dir);
        member_name(format!("{dir}/{target}").as_bytes())
    } else {
        member_name(target.as_bytes())
    }
}

fn follow<'a>(links: &'a HashMap<String, String>, mut name: &'a str) -> &'a str {
    for _ in 0..MAX_LINK_HOPS {
        match links.get(name) {
            Some(target) => name = target,
            None => break,
        }
    }
    name
}

/// An archive file: every member's place, found by reading the headers and seeking past data.
pub(crate) struct FileArchive {
    path: PathBuf,
    file: File,
    regions: HashMap<String, (u64, u64)>,
    links: HashMap<String, String>,
}

impl FileArchive {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).with_context(|| format!("open {}", path.display()))?;
        let mut regions = HashMap::new();
        let mut links = HashMap::new();
        {
            let mut archive = tar::Archive::new(&file);
            let entries = archive
                .entries_with_seek()
                .with_context(|| format!("read the image archive {}", path.display()))?;
            for entry in entries {
                let entry =
                    entry.with_context(|| format!("read the image archive {}", path.display()))?;
                let name = member_name(&entry.path_bytes());
                match entry.header().entry_type() {
                    tar::EntryType::Regular | tar::EntryType::Continuous => {
                        regions.insert(name, (entry.raw_file_position(), entry.size()));
                    }
                    kind @ (tar::EntryType::Symlink | tar::EntryType::Link) => {
                        let target = entry.link_name_bytes().unwrap_or_default();
                        let target = link_target(&name, &target, kind.is_symlink());
                        links.insert(name, target);
                    }
                    _ => {}
                }
            }
        }
        Ok(FileArchive {
            path: path.to_path_buf(),
            file,
            regions,
            links,
        })
    }

    /// The offset and length of a member's data, through links.
    pub(crate) fn region(&self, name: &str) -> Option<(u64, u64)> {
        self.regions.get(follow(&self.links, name)).copied()
    }

    /// The member a name stands for, through links.
    pub(crate) fn resolve_link<'a>(&'a self, name: &'a str) -> &'a str {
        follow(&self.links, name)
    }

    /// A reader of a member's data, on a file handle of its own (for reading in parallel).
    pub(crate) fn open_region(&self, (offset, len): (u64, u64)) -> Result<io::Take<File>> {
        let mut file =
            File::open(&self.path).with_context(|| format!("open {}", self.path.display()))?;
        file.seek(SeekFrom::Start(offset))
            .with_context(|| format!("seek in {}", self.path.display()))?;
        Ok(file.take(len))
    }

    /// The first bytes of a member.
    pub(crate) fn head(&mut self, (offset, len): (u64, u64), want: usize) -> Result<Vec<u8>> {
        let mut head = Vec::new();
        self.file.seek(SeekFrom::Start(offset))?;
        (&mut self.file)
            .take(len.min(want as u64))
            .read_to_end(&mut head)
            .with_context(|| format!("read {}", self.path.display()))?;
        Ok(head)
    }
}

impl Members for FileArchive {
    fn has(&self, name: &str) -> bool {
        self.region(name).is_some()
    }

    fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        let Some(region) = self.region(name) else {
            return Ok(None);
        };
        if region.1 > MAX_JSON {
            bail!(
                "the archive member {name} is too large for metadata ({} bytes)",
                region.1
            );
        }
        self.head(region, region.1 as usize).map(Some)
    }
}

/// A layer met in a stream.
pub(crate) enum Met {
    Read(Box<PendingLayer>),
    Cached(Box<LayerRecord>),
    /// Not a layer after all (or a broken one): an error only if the image uses it.
    Failed(String),
}

/// What one pass over a stream found.
#[derive(Default)]
pub(crate) struct Stream {
    pub json: HashMap<String, Vec<u8>>,
    pub links: HashMap<String, String>,
    /// Member name → its size and what it held.
    pub layers: HashMap<String, (u64, Met)>,
}

impl Members for Stream {
    fn has(&self, name: &str) -> bool {
        let name = follow(&self.links, name);
        self.json.contains_key(name) || self.layers.contains_key(name)
    }

    fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.json.get(follow(&self.links, name)).cloned())
    }
}

impl Stream {
    pub(crate) fn resolve_link<'a>(&'a self, name: &'a str) -> &'a str {
        follow(&self.links, name)
    }
}

/// Members that may hold a layer: OCI blobs, and the classic layout's `.tar` files.
fn may_be_layer(name: &str) -> bool {
    name.starts_with("blobs/") || name.ends_with(".tar")
}

/// A name that claims the stored layer's digest: an OCI blob's name (`blobs/sha256/<hex>`), or,
/// for a plain layer, a `<hex>.tar` member as skopeo's and podman's docker archives name them by
/// their diff ID.
fn named_digest(name: &str, compression: Compression) -> Option<String> {
    if let Some(digest) = member_digest(name) {
        return Some(digest);
    }
    let hex = name.strip_suffix(".tar")?;
    let digest = format!("sha256:{hex}");
    (compression == Compression::None && is_sha256(&digest)).then_some(digest)
}

/// Reads a `docker save` stream to its end: JSON members are kept, layers are read on `scope`
/// (a plain one deflated within `gzip`'s budget, or not at all when it is `None`), or drained and
/// checked when the cache already holds them (with the compressed size, if `gzip` wants it).
pub(crate) fn read_stream<'s>(
    reader: impl Read,
    scope: &rayon::Scope<'s>,
    gzip: Option<&Budget>,
    cache: Option<&Cache>,
) -> Result<Stream> {
    let mut found = Stream::default();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().context("read the image archive")? {
        let mut entry = entry.context("read the image archive")?;
        let name = member_name(&entry.path_bytes());
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry.link_name_bytes().unwrap_or_default();
            found
                .links
                .insert(name.clone(), link_target(&name, &target, kind.is_symlink()));
            continue;
        }
        if !kind.is_file() && kind != tar::EntryType::Continuous {
            continue;
        }
        let size = entry.size();
        if !may_be_layer(&name) {
            if name.ends_with(".json") && !name.contains('/') && size <= MAX_JSON {
                let mut bytes = Vec::with_capacity(size as usize);
                entry
                    .read_to_end(&mut bytes)
                    .with_context(|| format!("read {name}"))?;
                found.json.insert(name, bytes);
            }
            continue;
        }
        let (head, mut rest) = peek(&mut entry, 512).with_context(|| format!("read {name}"))?;
        let compression = match sniff(&head) {
            Sniffed::Json if size <= MAX_JSON => {
                let mut bytes = head;
                rest.read_to_end(&mut bytes)
                    .with_context(|| format!("read {name}"))?;
                found.json.insert(name, bytes);
                continue;
            }
            Sniffed::Json => Compression::None,
            Sniffed::Layer(compression) => compression,
        };
        let known = cache.and_then(|cache| {
            let key = named_digest(&name, compression).or_else(|| cache.name(&name, size))?;
            cache.get(&key, gzip.is_some())
        });
        let met = match known {
            Some(record) => {
                let mut hasher = Sha256::new();
                hasher.update(&head);
                io::copy(&mut rest, &mut HashWriter(&mut hasher))
                    .with_context(|| format!("read {name}"))?;
                let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
                if digest != record.blob_digest {
                    bail!(
                        "the archive member {name} holds {digest}, not the layer {} that its name \
                         held before; analyse it without the cache",
                        record.blob_digest
                    );
                }
                Met::Cached(Box::new(record))
            }
            None => match read_layer(io::Cursor::new(head).chain(rest), scope, gzip) {
                Ok(pending) => Met::Read(Box::new(pending)),
                Err(err) => Met::Failed(format!("{err:#}")),
            },
        };
        found.layers.insert(name, (size, met));
    }
    // Whatever follows the archive's end-of-archive blocks is read too, so the producer (the
    // engine's export) is never cut off.
    io::copy(&mut archive.into_inner(), &mut io::sink())
        .context("read the rest of the image archive")?;
    Ok(found)
}

/// Feeds written bytes to a hasher.
struct HashWriter<'a>(&'a mut Sha256);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_are_normalised() {
        assert_eq!(member_name(b"./manifest.json"), "manifest.json");
        assert_eq!(member_name(b"/blobs//sha256/ab"), "blobs/sha256/ab");
    }

    #[test]
    fn links_resolve_relative_to_their_directory() {
        assert_eq!(link_target("abc/layer.tar", b"../d.tar", true), "d.tar");
        assert_eq!(link_target("abc/layer.tar", b"/d.tar", true), "d.tar");
        assert_eq!(
            link_target("abc/layer.tar", b"def/layer.tar", false),
            "def/layer.tar"
        );
        let links = HashMap::from([
            ("a".to_string(), "b".to_string()),
            ("b".to_string(), "c".to_string()),
            ("x".to_string(), "x".to_string()),
        ]);
        assert_eq!(follow(&links, "a"), "c");
        // A loop ends somewhere rather than never.
        assert_eq!(follow(&links, "x"), "x");
    }

    #[test]
    fn names_claim_digests_only_where_they_are_digests() {
        let hex = "ab".repeat(32);
        assert_eq!(
            named_digest(&format!("blobs/sha256/{hex}"), Compression::Gzip),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(
            named_digest(&format!("{hex}.tar"), Compression::None),
            Some(format!("sha256:{hex}"))
        );
        // A compressed `<hex>.tar` is named by its diff ID, which is not its blob's digest.
        assert_eq!(named_digest(&format!("{hex}.tar"), Compression::Gzip), None);
        assert_eq!(named_digest("abc/layer.tar", Compression::None), None);
    }
}
