//! Reading `.deb` files: the `ar` container, its compressed `control.tar` and `data.tar`.
//!
//! A `.deb` is an `ar` archive (deb(5)) whose members are `debian-binary` ("2.0\n"),
//! `control.tar[.gz|.xz|.zst]` and `data.tar[.gz|.xz|.zst]`. The `ar` format is a
//! 8-byte magic followed by 60-byte member headers, each member padded to an even size;
//! it is small enough to read here rather than through another crate.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

const AR_MAGIC: &[u8; 8] = b"!<arch>\n";

/// One member of an `ar` archive.
#[derive(Debug, Clone)]
struct Member {
    name: String,
    offset: u64,
    size: u64,
}

/// An opened `.deb` file.
pub struct Deb {
    path: PathBuf,
    file: File,
    members: Vec<Member>,
}

/// The files of a package's `control.tar`, by name (`control`, `md5sums`, `conffiles`,
/// `postinst`, …).
pub type ControlFiles = BTreeMap<String, Vec<u8>>;

impl Deb {
    /// Opens a `.deb` and reads its member table.
    pub fn open(path: &Path) -> Result<Deb> {
        let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let members = read_members(&mut file)
            .with_context(|| format!("reading the ar archive {}", path.display()))?;
        let mut deb = Deb {
            path: path.to_path_buf(),
            file,
            members,
        };
        let mut version = String::new();
        deb.member_reader("debian-binary")?
            .read_to_string(&mut version)
            .context("reading debian-binary")?;
        if !version.starts_with("2.") {
            bail!(
                "{}: unsupported deb format version `{}`",
                deb.path.display(),
                version.trim()
            );
        }
        Ok(deb)
    }

    /// A reader over the raw bytes of the member named exactly `name`.
    fn member_reader(&mut self, name: &str) -> Result<io::Take<&mut File>> {
        let Some(m) = self.members.iter().find(|m| m.name == name).cloned() else {
            bail!("{}: no `{name}` member", self.path.display());
        };
        self.file
            .seek(SeekFrom::Start(m.offset))
            .with_context(|| format!("seeking to {name} in {}", self.path.display()))?;
        Ok((&mut self.file).take(m.size))
    }

    /// A decompressing reader over the tar member whose name starts with `stem`
    /// (`control.tar` or `data.tar`).
    fn tar_reader(&mut self, stem: &str) -> Result<Box<dyn Read + '_>> {
        let Some(name) = self
            .members
            .iter()
            .map(|m| m.name.clone())
            .find(|n| n == stem || n.starts_with(&format!("{stem}.")))
        else {
            bail!("{}: no {stem} member", self.path.display());
        };
        let raw = BufReader::with_capacity(1 << 16, self.member_reader(&name)?);
        decompressor(&name, raw)
    }

    /// Reads every regular file of `control.tar`.
    pub fn control_files(&mut self) -> Result<ControlFiles> {
        let path = self.path.clone();
        let reader = self.tar_reader("control.tar")?;
        let mut archive = tar::Archive::new(reader);
        let mut files = ControlFiles::new();
        for entry in archive
            .entries()
            .with_context(|| format!("reading control.tar of {}", path.display()))?
        {
            let mut entry =
                entry.with_context(|| format!("reading control.tar of {}", path.display()))?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = normalize(&entry.path_bytes());
            let mut data = Vec::new();
            entry
                .read_to_end(&mut data)
                .with_context(|| format!("reading {name} of {}", path.display()))?;
            files.insert(name, data);
        }
        Ok(files)
    }

    /// The `data.tar` of the package, decompressed, as a tar archive.
    pub fn data(&mut self) -> Result<tar::Archive<Box<dyn Read + '_>>> {
        Ok(tar::Archive::new(self.tar_reader("data.tar")?))
    }
}

/// Wraps `raw` in the decompressor that the member name's extension calls for.
fn decompressor<'a, R: Read + 'a>(name: &str, raw: R) -> Result<Box<dyn Read + 'a>> {
    Ok(match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("tar") => Box::new(raw),
        Some("xz") => Box::new(liblzma::read::XzDecoder::new_multi_decoder(raw)),
        Some("gz") => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        Some("zst") => Box::new(
            ruzstd::decoding::StreamingDecoder::new(raw)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| format!("opening zstd member {name}"))?,
        ),
        _ => bail!("unsupported compression of member `{name}`"),
    })
}

/// Decompresses a whole in-memory file according to its name's extension (`.xz`, `.gz`,
/// or none); used for the `Packages` index.
pub fn decompress_named(name: &str, data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let reader: Box<dyn Read> = match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("xz") => Box::new(liblzma::read::XzDecoder::new_multi_decoder(data)),
        Some("gz") => Box::new(flate2::read::MultiGzDecoder::new(data)),
        _ => Box::new(data),
    };
    let mut reader = reader;
    reader
        .read_to_end(&mut out)
        .with_context(|| format!("decompressing {name}"))?;
    Ok(out)
}

/// Normalises a tar member path of a package to a path relative to the root, without
/// `./`, leading or trailing slashes: `./usr/bin/` → `usr/bin`, `./` → ``.
pub fn normalize(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let mut s: &str = &s;
    loop {
        if let Some(rest) = s.strip_prefix("./") {
            s = rest;
        } else if let Some(rest) = s.strip_prefix('/') {
            s = rest;
        } else {
            break;
        }
    }
    let s = s.trim_end_matches('/');
    if s == "." {
        String::new()
    } else {
        s.to_string()
    }
}

fn read_members(file: &mut File) -> Result<Vec<Member>> {
    let len = file.metadata()?.len();
    let mut reader = BufReader::new(&mut *file);
    let mut magic = [0u8; 8];
    reader.read_exact(&mut magic).context("reading ar magic")?;
    if &magic != AR_MAGIC {
        bail!("not an ar archive");
    }
    let mut offset = 8u64;
    let mut members = Vec::new();
    while offset < len {
        let mut header = [0u8; 60];
        reader
            .read_exact(&mut header)
            .with_context(|| format!("reading ar header at offset {offset}"))?;
        if &header[58..60] != b"`\n" {
            bail!("bad ar header at offset {offset}");
        }
        let field = |a: usize, b: usize| String::from_utf8_lossy(&header[a..b]).trim().to_string();
        // GNU ar terminates names with `/`; BSD-style long names (`#1/…`) are not used by
        // dpkg-deb.
        let name = field(0, 16).trim_end_matches('/').to_string();
        let size: u64 = field(48, 58)
            .parse()
            .with_context(|| format!("bad ar member size at offset {offset}"))?;
        let data = offset + 60;
        if data + size > len {
            bail!("ar member `{name}` is truncated");
        }
        members.push(Member {
            name,
            offset: data,
            size,
        });
        offset = data + size + (size % 2);
        reader.seek(SeekFrom::Start(offset))?;
    }
    Ok(members)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// One entry of a test package's data.tar.
    pub enum TestEntry<'a> {
        Dir(&'a str, u32),
        File(&'a str, u32, &'a [u8]),
        Symlink(&'a str, &'a str),
        HardLink(&'a str, &'a str),
    }

    /// Builds a `.deb` the way dpkg-deb does (xz data, gz control) for tests.
    pub fn build_deb(
        dir: &Path,
        name: &str,
        control: &[(&str, &[u8])],
        data: &[TestEntry],
    ) -> PathBuf {
        let mut ctl = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        ));
        for (file, content) in control {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(content.len() as u64);
            ctl.append_data(&mut h, format!("./{file}"), *content)
                .unwrap();
        }
        let ctl = ctl.into_inner().unwrap().finish().unwrap();

        let mut tarb = tar::Builder::new(Vec::new());
        for e in data {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(1_600_000_000);
            h.set_size(0);
            h.set_uid(0);
            h.set_gid(0);
            match e {
                TestEntry::Dir(p, mode) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(*mode);
                    tarb.append_data(&mut h, format!("./{p}/"), io::empty())
                        .unwrap();
                }
                TestEntry::File(p, mode, content) => {
                    h.set_mode(*mode);
                    h.set_size(content.len() as u64);
                    tarb.append_data(&mut h, format!("./{p}"), *content)
                        .unwrap();
                }
                TestEntry::Symlink(p, target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    tarb.append_link(&mut h, format!("./{p}"), target).unwrap();
                }
                TestEntry::HardLink(p, target) => {
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_mode(0o644);
                    tarb.append_link(&mut h, format!("./{p}"), format!("./{target}"))
                        .unwrap();
                }
            }
        }
        let data_tar = tarb.into_inner().unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(&data_tar).unwrap();
        let data_xz = xz.finish().unwrap();

        let path = dir.join(format!("{name}.deb"));
        let mut out = File::create(&path).unwrap();
        out.write_all(AR_MAGIC).unwrap();
        for (member, content) in [
            ("debian-binary", b"2.0\n".as_slice()),
            ("control.tar.gz", &ctl),
            ("data.tar.xz", &data_xz),
        ] {
            writeln!(
                out,
                "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`",
                member,
                0,
                0,
                0,
                "100644",
                content.len()
            )
            .unwrap();
            out.write_all(content).unwrap();
            if content.len() % 2 == 1 {
                out.write_all(b"\n").unwrap();
            }
        }
        path
    }

    #[test]
    fn reads_members_control_and_data() {
        let dir = tempdir("deb");
        let path = build_deb(
            &dir,
            "t",
            &[("control", b"Package: t\n"), ("md5sums", b"x  y\n")],
            &[
                TestEntry::Dir("usr", 0o755),
                TestEntry::File("usr/x", 0o755, b"abc"),
            ],
        );
        let mut deb = Deb::open(&path).unwrap();
        let ctl = deb.control_files().unwrap();
        assert_eq!(ctl["control"], b"Package: t\n");
        assert_eq!(ctl.len(), 2);
        let mut data = deb.data().unwrap();
        let paths: Vec<String> = data
            .entries()
            .unwrap()
            .map(|e| normalize(&e.unwrap().path_bytes()))
            .collect();
        assert_eq!(paths, ["usr", "usr/x"]);
        std::fs::write(dir.join("bad.deb"), b"!<arch>\nshort").unwrap();
        assert!(Deb::open(&dir.join("bad.deb")).is_err());
    }

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize(b"./usr/bin/"), "usr/bin");
        assert_eq!(normalize(b"./"), "");
        assert_eq!(normalize(b"."), "");
        assert_eq!(normalize(b"/etc/x"), "etc/x");
        assert_eq!(normalize(b"bin/sh"), "bin/sh");
    }

    /// A fresh, empty scratch directory for one test, removed when dropped.
    pub struct TestDir(PathBuf);

    impl std::ops::Deref for TestDir {
        type Target = Path;

        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl AsRef<Path> for TestDir {
        fn as_ref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    pub fn tempdir(name: &str) -> TestDir {
        let dir = std::env::temp_dir().join(format!("debimage-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TestDir(dir)
    }
}
