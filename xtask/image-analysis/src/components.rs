//! What a vulnerability scanner would look at in an image: the OS packages its package
//! databases record (dpkg's `status`, distroless' `status.d/`, apk's `installed`), the Go modules
//! a Go binary carries in its build info, and how many executables there are.
//!
//! While a layer is read, the files that matter are kept in its record (`Found`): the text of a
//! package database, the module list of a Go binary. The image's components are then taken from
//! the layer that last wrote each such path, when the merged filesystem still shows it.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};

use serde::{Deserialize, Serialize};

use crate::model::{Components, GoModule, Node, Package, PackageDb};

/// What a file found in a layer holds, kept in the layer's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Found {
    #[serde(rename = "dpkg")]
    Dpkg { path: String, text: String },
    #[serde(rename = "apk")]
    Apk { path: String, text: String },
    #[serde(rename = "go")]
    Go { path: String, modinfo: String },
}

impl Found {
    fn path(&self) -> &str {
        match self {
            Found::Dpkg { path, .. } | Found::Apk { path, .. } | Found::Go { path, .. } => path,
        }
    }
}

/// The largest package database read: far beyond any real one, a bound on memory.
const MAX_DB_BYTES: u64 = 64 << 20;

/// How a file of interest is read: its path and its bytes in, what it holds out.
pub(crate) type Take = fn(String, &mut dyn Read) -> io::Result<Option<Found>>;

/// What to do with a regular file of a layer, from its path (normalised, relative).
pub(crate) fn wanted(path: &str, executable: bool) -> Option<Take> {
    let path = path.trim_start_matches('/');
    if path == "var/lib/dpkg/status"
        || path
            .strip_prefix("var/lib/dpkg/status.d/")
            .is_some_and(|name| !name.contains('/') && !name.ends_with(".md5sums"))
    {
        Some(|path, reader| {
            Ok(Some(Found::Dpkg {
                path,
                text: read_text(reader)?,
            }))
        })
    } else if path == "lib/apk/db/installed" {
        Some(|path, reader| {
            Ok(Some(Found::Apk {
                path,
                text: read_text(reader)?,
            }))
        })
    } else if executable {
        Some(|path, reader| Ok(go_modinfo(reader)?.map(|modinfo| Found::Go { path, modinfo })))
    } else {
        None
    }
}

fn read_text(reader: &mut dyn Read) -> io::Result<String> {
    let mut bytes = Vec::new();
    reader.take(MAX_DB_BYTES).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Where the build info of a Go binary starts (`debug/buildinfo`'s `buildInfoMagic`).
const GO_MAGIC: &[u8] = b"\xff Go buildinf:";
/// The header after which the inline strings follow.
const GO_HEADER: usize = 32;
/// How much of the binary after the magic is kept: the version and the module list.
const GO_TAIL: usize = 256 << 10;

/// The module list of a Go binary (Go 1.18 and newer, which store it inline), read as the
/// bytes stream past; `None` for anything else.
pub(crate) fn go_modinfo(reader: &mut dyn Read) -> io::Result<Option<String>> {
    let mut head = [0u8; 4];
    if reader.read_exact(&mut head).is_err() || head != *b"\x7fELF" {
        return Ok(None);
    }
    let mut window: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 256 << 10];
    let mut found: Option<Vec<u8>> = None;
    loop {
        let n = reader.read(&mut chunk)?;
        if let Some(tail) = found.as_mut() {
            tail.extend_from_slice(&chunk[..n]);
            if n == 0 || tail.len() >= GO_TAIL {
                break;
            }
            continue;
        }
        if n == 0 {
            break;
        }
        window.extend_from_slice(&chunk[..n]);
        if let Some(at) = find(&window, GO_MAGIC) {
            found = Some(window.split_off(at));
            if found.as_ref().is_some_and(|t| t.len() >= GO_TAIL) {
                break;
            }
        } else {
            // Keep only what could begin the magic across the chunk boundary.
            let keep = window.len().min(GO_MAGIC.len() - 1);
            window.drain(..window.len() - keep);
        }
    }
    // The rest of the file is left for the tar reader to skip.
    Ok(found.and_then(|tail| parse_buildinfo(&tail)))
}

/// Where `needle` first occurs in `haystack`. Every executable of an image passes through here
/// (a toolchain's hundreds of megabytes of shared objects among them), and `cargo xtask` builds
/// this crate unoptimised, so it looks at one byte per needle length where it can (Horspool):
/// the byte under the window's end says how far the needle can move.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let Some((&last, rest)) = needle.split_last() else {
        return Some(0);
    };
    let mut shift = [needle.len(); 256];
    for (i, &byte) in rest.iter().enumerate() {
        shift[usize::from(byte)] = rest.len() - i;
    }
    let mut at = 0;
    while let Some(&end) = haystack.get(at + rest.len()) {
        if end == last && haystack[at..at + rest.len()] == *rest {
            return Some(at);
        }
        at += shift[usize::from(end)];
    }
    None
}

/// The module list from the bytes that start with the magic: inline strings only (flag 2).
fn parse_buildinfo(data: &[u8]) -> Option<String> {
    if data.len() < GO_HEADER || data[15] & 2 == 0 {
        return None;
    }
    let mut rest = &data[GO_HEADER..];
    let _version = read_string(&mut rest)?;
    let modinfo = read_string(&mut rest)?;
    // cmd/go wraps the list in 16-byte sentinels, as debug/buildinfo strips them.
    if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        Some(String::from_utf8_lossy(&modinfo[16..modinfo.len() - 16]).into_owned())
    } else {
        None
    }
}

fn read_string<'a>(data: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (mut len, mut shift, mut used) = (0usize, 0u32, 0usize);
    for &byte in data.iter() {
        used += 1;
        len |= ((byte & 0x7f) as usize) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 35 {
            return None;
        }
    }
    let string = data.get(used..used + len)?;
    *data = &data[used + len..];
    Some(string)
}

/// The modules of a module list (`mod` and `dep` lines; a `=>` replacement replaces the line
/// before it).
pub(crate) fn parse_modinfo(modinfo: &str, binary: &str) -> Vec<GoModule> {
    let mut modules: Vec<GoModule> = Vec::new();
    for line in modinfo.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            [kind @ ("mod" | "dep"), path, version, ..] => modules.push(GoModule {
                path: path.to_string(),
                version: version.to_string(),
                binary: binary.to_string(),
                main: *kind == "mod",
            }),
            ["=>", path, version, ..] => {
                if let Some(last) = modules.last_mut() {
                    last.path = path.to_string();
                    last.version = version.to_string();
                }
            }
            _ => {}
        }
    }
    modules
}

/// The installed packages of a dpkg `status` file or one `status.d` file. A `status.d` entry
/// has no `Status` field (it lists installed packages only).
pub(crate) fn parse_dpkg(text: &str) -> Vec<Package> {
    text.split("\n\n")
        .filter_map(|stanza| {
            let field = |name: &str| {
                stanza.lines().find_map(|line| {
                    line.strip_prefix(name)
                        .and_then(|rest| rest.strip_prefix(':'))
                        .map(|value| value.trim().to_string())
                })
            };
            let installed = field("Status").is_none_or(|s| s.ends_with(" installed"));
            Some(Package {
                name: field("Package").filter(|_| installed)?,
                version: field("Version").unwrap_or_default(),
                arch: field("Architecture"),
                db: PackageDb::Dpkg,
            })
        })
        .collect()
}

/// The packages of apk's `installed` database (`P:` name, `V:` version, `A:` arch).
pub(crate) fn parse_apk(text: &str) -> Vec<Package> {
    text.split("\n\n")
        .filter_map(|stanza| {
            let field = |key: &str| {
                stanza
                    .lines()
                    .find_map(|line| line.strip_prefix(key).map(str::to_string))
            };
            Some(Package {
                name: field("P:")?,
                version: field("V:").unwrap_or_default(),
                arch: field("A:"),
                db: PackageDb::Apk,
            })
        })
        .collect()
}

/// One layer as the components need it: its regular files (path, executable) and what was
/// found in them.
pub(crate) struct LayerFiles<'a> {
    pub files: Vec<(&'a str, bool)>,
    pub found: &'a [Found],
}

/// The image's components from its layers (lowest first), each given as its regular files
/// (path, executable) and what was found in it: each found file counts when the layer that
/// found it is the last to write its path and the merged filesystem still has it.
pub(crate) fn collect(layers: &[LayerFiles], fs: &BTreeMap<String, Node>) -> Components {
    let normal = |path: &str| {
        path.trim_start_matches("./")
            .trim_start_matches('/')
            .to_string()
    };
    // The last layer to write each regular file, and whether that copy is executable.
    let mut writer: HashMap<String, (usize, bool)> = HashMap::new();
    for (index, layer) in layers.iter().enumerate() {
        for (path, executable) in &layer.files {
            writer.insert(normal(path), (index, *executable));
        }
    }
    let mut packages = Vec::new();
    let mut go_modules = Vec::new();
    for (index, layer) in layers.iter().enumerate() {
        for item in layer.found {
            let path = normal(item.path());
            let current = writer.get(&path).map(|(layer, _)| *layer) == Some(index)
                && matches!(fs.get(&path), Some(Node::File { .. }));
            if !current {
                continue;
            }
            match item {
                Found::Dpkg { text, .. } => packages.extend(parse_dpkg(text)),
                Found::Apk { text, .. } => packages.extend(parse_apk(text)),
                Found::Go { modinfo, .. } => {
                    go_modules.extend(parse_modinfo(modinfo, &format!("/{path}")))
                }
            }
        }
    }
    packages.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    packages.dedup();
    let executables = fs
        .iter()
        .filter(|(path, node)| {
            matches!(node, Node::File { .. }) && writer.get(path.as_str()).is_some_and(|(_, x)| *x)
        })
        .count() as u64;
    Components {
        packages,
        go_modules,
        executables,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_status_lists_installed_packages_only() {
        let text =
            "Package: a\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n\n\
                    Package: b\nStatus: deinstall ok config-files\nVersion: 2\n\n\
                    Package: c\nVersion: 3\n";
        let names: Vec<_> = parse_dpkg(text).into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["a", "c"]);
    }

    #[test]
    fn apk_stanzas_give_name_version_and_arch() {
        let text = "C:Q1x=\nP:busybox\nV:1.36.1-r29\nA:x86_64\n\nP:musl\nV:1.2.5-r0\n";
        let packages = parse_apk(text);
        assert_eq!(packages.len(), 2);
        assert_eq!(packages[0].version, "1.36.1-r29");
        assert_eq!(packages[0].arch.as_deref(), Some("x86_64"));
    }

    #[test]
    fn find_gives_the_first_occurrence_as_a_plain_search_does() {
        let plain = |haystack: &[u8], needle: &[u8]| {
            haystack.windows(needle.len()).position(|w| w == needle)
        };
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut noise = |len: usize| -> Vec<u8> {
            (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    // Bytes of the magic, often, so that near misses abound.
                    GO_MAGIC[(state % 20) as usize % GO_MAGIC.len()] ^ (state >> 40) as u8 & 1
                })
                .collect()
        };
        for len in [0, 1, 13, 14, 15, 100, 5000] {
            for at in [0, 1, 7, 50, 4000] {
                let mut haystack = noise(len);
                if at + GO_MAGIC.len() <= haystack.len() {
                    haystack[at..at + GO_MAGIC.len()].copy_from_slice(GO_MAGIC);
                }
                assert_eq!(
                    find(&haystack, GO_MAGIC),
                    plain(&haystack, GO_MAGIC),
                    "{len} {at}"
                );
            }
        }
        assert_eq!(find(b"aab", b"ab"), Some(1));
        assert_eq!(find(b"abab", b"bab"), Some(1));
        assert_eq!(find(b"xyz", b""), Some(0));
        assert_eq!(find(b"ab", b"abc"), None);
    }

    #[test]
    fn go_build_info_is_read_from_the_inline_strings() {
        let modinfo = "path\texample.com/app\nmod\texample.com/app\t(devel)\t\n\
                       dep\tgolang.org/x/net\tv0.7.0\th1:x=\n=>\tgolang.org/x/net\tv0.8.0\th1:y=\n";
        let wrapped = [&[b'0'; 16][..], modinfo.as_bytes(), &[b'1'; 16][..]].concat();
        let mut binary = b"\x7fELF padding".to_vec();
        binary.extend_from_slice(GO_MAGIC);
        binary.push(8); // pointer size
        binary.push(2); // inline strings
        binary.resize(binary.len() + 16, 0);
        binary.push(6);
        binary.extend_from_slice(b"go1.19");
        // A length over 127 takes two varint bytes.
        binary.push((wrapped.len() as u8 & 0x7f) | 0x80);
        binary.push((wrapped.len() >> 7) as u8);
        binary.extend_from_slice(&wrapped);
        binary.extend_from_slice(&[0; 100]);
        let found = go_modinfo(&mut binary.as_slice()).unwrap().unwrap();
        let modules = parse_modinfo(&found, "/app");
        assert_eq!(modules.len(), 2);
        assert!(modules[0].main);
        assert_eq!(modules[1].path, "golang.org/x/net");
        assert_eq!(modules[1].version, "v0.8.0");
        assert!(go_modinfo(&mut &b"#!/bin/sh\n"[..]).unwrap().is_none());
    }
}
