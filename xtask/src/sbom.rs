//! The SBOM of each image, as a CycloneDX 1.5 JSON document under `target/xtask/sbom/`: the OS
//! packages its package databases record, the Go modules its Go binaries carry, and the Rust
//! crates its binary is built from (the image's `io.webtest.xtask.crates` label, written at
//! build time from `Cargo.lock`), each with its package URL; and, as a property, how many
//! executables it holds. The report keeps the counts.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::analysis::Analysis;
use crate::labels::LABEL_CRATES;
use crate::model::Components;

/// What the SBOM of one image is made from.
pub struct Subject<'a> {
    /// `webtest:multistage`.
    pub tag: &'a str,
    /// `sha256:…`.
    pub id: &'a str,
    pub labels: &'a std::collections::BTreeMap<String, String>,
    pub analysis: &'a Analysis,
}

/// One component of the document: its kind, name, version and package URL.
struct Item {
    kind: &'static str,
    name: String,
    version: String,
    purl: String,
}

/// Writes the image's SBOM into `dir` and returns the counts for the report; `shown` is the
/// file's path as the report names it.
pub fn write(dir: &Path, root: &Path, subject: &Subject) -> Result<Components> {
    let (document, counts) = document(subject);
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let file: PathBuf = dir.join(format!("{}.cdx.json", subject.tag.replace([':', '/'], "-")));
    let text = serde_json::to_string_pretty(&document)? + "\n";
    std::fs::write(&file, text).with_context(|| format!("write {}", file.display()))?;
    Ok(Components {
        sbom: file
            .strip_prefix(root)
            .unwrap_or(&file)
            .to_string_lossy()
            .into_owned(),
        ..counts
    })
}

/// The CycloneDX document and the counts it holds.
pub fn document(subject: &Subject) -> (Value, Components) {
    let components = &subject.analysis.components;
    let mut items = Vec::new();
    for package in &components.packages {
        let (kind, namespace) = match package.db {
            image_analysis::PackageDb::Dpkg => ("deb", "debian"),
            image_analysis::PackageDb::Apk => ("apk", "alpine"),
        };
        let arch = package
            .arch
            .as_deref()
            .map_or(String::new(), |a| format!("?arch={}", encode(a)));
        items.push(Item {
            kind: "library",
            name: package.name.clone(),
            version: package.version.clone(),
            purl: format!(
                "pkg:{kind}/{namespace}/{}@{}{arch}",
                encode(&package.name),
                encode(&package.version)
            ),
        });
    }
    let packages = items.len();
    let crates = subject
        .labels
        .get(LABEL_CRATES)
        .map(|value| crate::crates::parse_label(value))
        .unwrap_or_default();
    for (index, (name, version)) in crates.iter().enumerate() {
        items.push(Item {
            // The first is the package the Dockerfile builds: the application itself.
            kind: if index == 0 { "application" } else { "library" },
            name: name.clone(),
            version: version.clone(),
            purl: format!("pkg:cargo/{}@{}", encode(name), encode(version)),
        });
    }
    for module in &components.go_modules {
        let path: Vec<String> = module.path.split('/').map(encode).collect();
        items.push(Item {
            kind: if module.main {
                "application"
            } else {
                "library"
            },
            name: module.path.clone(),
            version: module.version.clone(),
            purl: format!("pkg:golang/{}@{}", path.join("/"), encode(&module.version)),
        });
    }
    // A module two binaries carry, or a package listed twice, is one component.
    let mut seen = BTreeSet::new();
    items.retain(|item| seen.insert(item.purl.clone()));
    let applications = items.iter().filter(|i| i.kind == "application").count();
    let dependencies = items.len() - packages - applications;
    let counts = Components {
        packages,
        dependencies,
        executables: components.executables,
        total: packages + dependencies,
        sbom: String::new(),
    };
    let id_hex = subject.id.trim_start_matches("sha256:");
    let (name, version) = subject
        .tag
        .rsplit_once(':')
        .unwrap_or((subject.tag, "latest"));
    let document = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial_number(subject.id, subject.tag),
        "version": 1,
        "metadata": {
            "tools": {
                "components": [{
                    "type": "application",
                    "name": "webtest xtask",
                    "version": env!("CARGO_PKG_VERSION"),
                }]
            },
            "component": {
                "type": "container",
                "bom-ref": subject.tag,
                "name": name,
                "version": version,
                "hashes": if id_hex.len() == 64 {
                    json!([{ "alg": "SHA-256", "content": id_hex }])
                } else {
                    json!([])
                },
            },
            "properties": [
                { "name": "webtest:image-id", "value": subject.id },
                { "name": "webtest:executables", "value": components.executables.to_string() },
            ],
        },
        "components": items.iter().map(|item| json!({
            "type": item.kind,
            "bom-ref": item.purl,
            "name": item.name,
            "version": item.version,
            "purl": item.purl,
        })).collect::<Vec<_>>(),
    });
    (document, counts)
}

/// A stable RFC 4122 URN made from the image: the same image gets the same serial number.
fn serial_number(id: &str, tag: &str) -> String {
    let hash = Sha256::digest(format!("{id}\n{tag}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x50; // version 5: name-based
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // the RFC 4122 variant
    let hex = hex::encode(bytes);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Percent-encodes a package URL segment: everything but letters, digits and `.-_~`.
fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b".-_~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_urls_encode_epochs_and_pluses() {
        assert_eq!(encode("1:2.3+dfsg-1"), "1%3A2.3%2Bdfsg-1");
        assert_eq!(encode("axum"), "axum");
    }

    #[test]
    fn the_serial_number_is_a_stable_version_5_uuid() {
        let a = serial_number("sha256:1", "w:m");
        assert_eq!(a, serial_number("sha256:1", "w:m"));
        assert_ne!(a, serial_number("sha256:2", "w:m"));
        let hex = a.trim_start_matches("urn:uuid:");
        assert_eq!(hex.len(), 36);
        assert_eq!(&hex[14..15], "5");
        assert!("89ab".contains(&hex[19..20]));
    }
}
