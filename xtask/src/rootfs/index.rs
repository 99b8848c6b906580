//! The archive indices: deb822 parsing, the `Release` file and the `Packages` index.

use std::collections::{BTreeMap, HashMap};

use anyhow::{bail, Context, Result};

use super::version::{compare_versions, parse_relations};
use super::Source;

/// One deb822 paragraph (stanza): fields in file order, values borrowed from the text.
/// A multi-line value keeps its continuation lines verbatim (with their leading space),
/// which is what both `Release` checksum lists and control-file descriptions need.
#[derive(Debug, Default)]
pub struct Paragraph<'a> {
    pub fields: Vec<(&'a str, &'a str)>,
}

impl<'a> Paragraph<'a> {
    /// The value of a field; field names are case-insensitive.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// Splits deb822 text into paragraphs. Paragraphs are separated by blank lines, a field
/// is `Name: value`, and lines starting with a space or tab continue the previous field.
/// Comment lines (`#`) are allowed in control files and skipped.
pub fn parse_deb822(text: &str) -> Result<Vec<Paragraph<'_>>> {
    let mut paragraphs = Vec::new();
    let mut current = Paragraph::default();
    // Byte offsets of the value being collected: start of value, end of its last line.
    let mut open: Option<(&str, usize, usize)> = None;
    let mut offset = 0;
    fn close<'a>(
        text: &'a str,
        open: &mut Option<(&'a str, usize, usize)>,
        current: &mut Paragraph<'a>,
    ) {
        if let Some((name, start, end)) = open.take() {
            current.fields.push((name, &text[start..end.max(start)]));
        }
    }
    for (lineno, raw) in text.split_inclusive('\n').enumerate() {
        let line_start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            close(text, &mut open, &mut current);
            if !current.fields.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let Some(o) = open.as_mut() else {
                bail!("line {}: continuation line outside a field", lineno + 1);
            };
            o.2 = line_start + line.len();
            continue;
        }
        close(text, &mut open, &mut current);
        let Some(colon) = line.find(':') else {
            bail!("line {}: expected `Field: value`", lineno + 1);
        };
        let name = &text[line_start..line_start + colon];
        let value = &line[colon + 1..];
        let lead = value.len() - value.trim_start().len();
        let start = line_start + colon + 1 + lead;
        let end = line_start + line.trim_end().len();
        open = Some((name, start, end));
    }
    close(text, &mut open, &mut current);
    if !current.fields.is_empty() {
        paragraphs.push(current);
    }
    Ok(paragraphs)
}

/// What the module needs from a `Release` file.
#[derive(Debug, Default)]
pub struct Release {
    /// Path relative to `dists/<suite>/` → (SHA256 hex, size).
    pub sha256: BTreeMap<String, (String, u64)>,
    /// Whether files can be fetched by hash (`Acquire-By-Hash: yes`), which avoids reading
    /// an index the mirror replaced between our `Release` and `Packages` requests.
    pub by_hash: bool,
}

/// Parses a (clear-text, unsigned) `Release` file.
pub fn parse_release(text: &str) -> Result<Release> {
    let paragraphs = parse_deb822(text).context("parsing the release file")?;
    let Some(p) = paragraphs.first() else {
        bail!("empty release file");
    };
    let mut release = Release {
        by_hash: p
            .get("Acquire-By-Hash")
            .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
        ..Release::default()
    };
    let Some(list) = p.get("SHA256") else {
        bail!("release file has no SHA256 field");
    };
    for line in list.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            [] => {}
            [hash, size, path] => {
                let size = size
                    .parse()
                    .with_context(|| format!("bad size in release line `{line}`"))?;
                release
                    .sha256
                    .insert(path.to_string(), (hash.to_ascii_lowercase(), size));
            }
            _ => bail!("malformed SHA256 line in release file: `{line}`"),
        }
    }
    Ok(release)
}

/// One binary package of the index, with the fields the module uses. Relationship
/// fields are kept as text and parsed when the resolver visits the package.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub multi_arch: Option<String>,
    pub priority: Option<String>,
    pub essential: bool,
    pub depends: String,
    pub pre_depends: String,
    pub provides: String,
    pub replaces: String,
    pub breaks: String,
    pub conflicts: String,
    /// Path of the `.deb` relative to the mirror root.
    pub filename: String,
    pub size: u64,
    /// Lowercase hex SHA256 of the `.deb`.
    pub sha256: String,
}

impl Package {
    fn from_paragraph(p: &Paragraph<'_>) -> Result<Package> {
        let req = |name: &str| {
            p.get(name)
                .map(str::to_string)
                .with_context(|| format!("missing field {name}"))
        };
        let opt = |name: &str| p.get(name).unwrap_or("").to_string();
        let sha256 = req("SHA256")?.to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("malformed SHA256 `{sha256}`");
        }
        Ok(Package {
            name: req("Package")?,
            version: req("Version")?,
            architecture: req("Architecture")?,
            multi_arch: p.get("Multi-Arch").map(str::to_string),
            priority: p.get("Priority").map(str::to_string),
            essential: p
                .get("Essential")
                .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            depends: opt("Depends"),
            pre_depends: opt("Pre-Depends"),
            provides: opt("Provides"),
            replaces: opt("Replaces"),
            breaks: opt("Breaks"),
            conflicts: opt("Conflicts"),
            filename: req("Filename")?,
            size: req("Size")?.parse().context("malformed Size")?,
            sha256,
        })
    }

    /// The rank of the package's priority, lower is more important; used to choose among
    /// providers of a virtual package the way apt prefers important packages.
    pub fn priority_rank(&self) -> u8 {
        match self.priority.as_deref() {
            Some("required") => 0,
            Some("important") => 1,
            Some("standard") => 2,
            Some("optional") => 3,
            Some("extra") => 4,
            _ => 5,
        }
    }

    /// The name dpkg uses for the package's files under `/var/lib/dpkg/info`: `Multi-Arch:
    /// same` packages are qualified with their architecture (`libc6:amd64`).
    pub fn dpkg_name(&self) -> String {
        if self.multi_arch.as_deref() == Some("same") {
            format!("{}:{}", self.name, self.architecture)
        } else {
            self.name.clone()
        }
    }
}

/// The parsed `Packages` indices of all components of one [`Source`].
#[derive(Debug, Clone)]
pub struct Index {
    source: Source,
    packages: Vec<Package>,
    /// Package name → indices into `packages`, highest version first.
    by_name: HashMap<String, Vec<usize>>,
    /// Provided name → (providing package index, provided version), in index order.
    providers: HashMap<String, Vec<(usize, Option<String>)>>,
}

impl Index {
    /// Builds an index from the text of `Packages` files (one per component, in order).
    /// Packages of other architectures than the source's (and `all`) are ignored.
    pub fn from_packages_texts(source: Source, texts: &[&str]) -> Result<Index> {
        let mut packages = Vec::new();
        for text in texts {
            for (n, p) in parse_deb822(text)
                .context("parsing a packages index")?
                .iter()
                .enumerate()
            {
                let pkg = Package::from_paragraph(p).with_context(|| {
                    format!(
                        "packages index stanza {} ({})",
                        n + 1,
                        p.get("Package").unwrap_or("?")
                    )
                })?;
                if pkg.architecture == source.arch || pkg.architecture == "all" {
                    packages.push(pkg);
                }
            }
        }
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        let mut providers: HashMap<String, Vec<(usize, Option<String>)>> = HashMap::new();
        for (i, pkg) in packages.iter().enumerate() {
            by_name.entry(pkg.name.clone()).or_default().push(i);
            for group in parse_relations(&pkg.provides)
                .with_context(|| format!("Provides of {} {}", pkg.name, pkg.version))?
            {
                for dep in group {
                    let version = dep.constraint.map(|(_, v)| v);
                    providers.entry(dep.name).or_default().push((i, version));
                }
            }
        }
        for list in by_name.values_mut() {
            // Stable: equal versions keep index order, so the first component wins.
            list.sort_by(|&a, &b| compare_versions(&packages[b].version, &packages[a].version));
        }
        Ok(Index {
            source,
            packages,
            by_name,
            providers,
        })
    }

    /// The source the index was read from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// All packages, in index order.
    pub fn packages(&self) -> &[Package] {
        &self.packages
    }

    /// The highest version of a package, if the index has it.
    pub fn get(&self, name: &str) -> Option<&Package> {
        self.by_name
            .get(name)
            .and_then(|v| v.first())
            .map(|&i| &self.packages[i])
    }

    /// All versions of a package, highest first.
    pub(crate) fn versions(&self, name: &str) -> impl Iterator<Item = &Package> {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .map(|&i| &self.packages[i])
    }

    /// Packages that provide `name`, with the version they provide.
    pub(crate) fn providers(&self, name: &str) -> impl Iterator<Item = (&Package, Option<&str>)> {
        self.providers
            .get(name)
            .into_iter()
            .flatten()
            .map(|(i, v)| (&self.packages[*i], v.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_paragraphs_and_continuations() {
        let text = "Package: a\nVersion: 1.0\nDescription: short\n long line\n .\n more\n\n\n\
                    # comment\nPackage: b\r\nDepends: x,\n y\nversion:2\n";
        let ps = parse_deb822(text).unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("package"), Some("a"));
        assert_eq!(
            ps[0].get("Description"),
            Some("short\n long line\n .\n more")
        );
        assert_eq!(ps[1].get("Package"), Some("b"));
        assert_eq!(ps[1].get("Depends"), Some("x,\n y"));
        assert_eq!(ps[1].get("Version"), Some("2"));
        assert!(parse_deb822(" orphan\n").is_err());
        assert!(parse_deb822("no colon\n").is_err());
        assert!(parse_deb822("").unwrap().is_empty());
    }

    #[test]
    fn release_sha256_list() {
        let text = "Origin: Debian\nAcquire-By-Hash: yes\nMD5Sum:\n 0ed6 1 main/x\nSHA256:\n \
                    9E0B5AAB  8790396 main/binary-amd64/Packages.xz\n 6777ea16 12084798 \
                    main/binary-amd64/Packages.gz\n";
        let r = parse_release(text).unwrap();
        assert!(r.by_hash);
        assert_eq!(
            r.sha256.get("main/binary-amd64/Packages.xz"),
            Some(&("9e0b5aab".to_string(), 8790396))
        );
        assert_eq!(r.sha256.len(), 2);
        assert!(parse_release("Origin: x\n").is_err());
    }

    #[test]
    fn packages_index_fields() {
        let sha = "ab".repeat(32);
        let text = format!(
            "Package: libc6\nVersion: 2.36-9\nArchitecture: amd64\nMulti-Arch: same\n\
             Priority: optional\nDepends: libgcc-s1\nProvides: libc6-x (= 1.0), foo\n\
             Filename: pool/main/g/glibc/libc6.deb\nSize: 10\nSHA256: {sha}\n\n\
             Package: libc6\nVersion: 2.36-9+deb12u1\nArchitecture: amd64\nEssential: yes\n\
             Filename: pool/x.deb\nSize: 11\nSHA256: {sha}\n\n\
             Package: other\nVersion: 1\nArchitecture: arm64\nFilename: f\nSize: 1\nSHA256: {sha}\n"
        );
        let index = Index::from_packages_texts(Source::default(), &[&text]).unwrap();
        assert_eq!(index.packages().len(), 2);
        let best = index.get("libc6").unwrap();
        assert_eq!(best.version, "2.36-9+deb12u1");
        assert!(best.essential);
        assert_eq!(index.versions("libc6").count(), 2);
        let provs: Vec<_> = index
            .providers("libc6-x")
            .map(|(p, v)| (p.version.as_str(), v))
            .collect();
        assert_eq!(provs, vec![("2.36-9", Some("1.0"))]);
        assert_eq!(index.providers("foo").next().unwrap().1, None);
        assert!(index.get("other").is_none());
        assert_eq!(
            index.versions("libc6").last().unwrap().dpkg_name(),
            "libc6:amd64"
        );
        let bad = "Package: x\nVersion: 1\nArchitecture: all\nFilename: f\nSize: 1\nSHA256: zz\n";
        assert!(Index::from_packages_texts(Source::default(), &[bad]).is_err());
    }
}
