//! The labels the tool puts on what it creates, and the one place their maps are made. Images
//! pass their labels on to the containers made from them, so containers get a label of their own
//! that no image carries: only that one tells a container the tool started from one a user
//! started by hand from the same image.

use std::collections::BTreeMap;

/// The label every image the tool builds or assembles carries; `clean` removes such images of
/// the manifest's repositories.
pub const LABEL: &str = "io.webtest.xtask";
/// Set on local base images to their own tag, so that `clean` can keep them unless asked.
pub const LABEL_BASE: &str = "io.webtest.xtask.base";
/// The digest of what a local base was made from, so that a changed recipe rebuilds it.
pub const LABEL_RECIPE: &str = "io.webtest.xtask.recipe";
/// The variant an image was built as.
pub const LABEL_VARIANT: &str = "io.webtest.xtask.variant";
/// The Rust crates the image's binary is built from (`name@version …`, the built package
/// first), for its SBOM; see `crates.rs`.
pub const LABEL_CRATES: &str = "io.webtest.xtask.crates";
/// Set only at container creation, never on an image: the containers the tool started.
pub const LABEL_CONTAINER: &str = "io.webtest.xtask.container";

/// The labels of an image the tool builds, with `extra` ones added.
pub fn image(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([(LABEL.to_string(), "1".to_string())]);
    labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    labels
}

/// Where a variant's image comes from, for its `org.opencontainers.image.*` labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    /// The commit built, or empty outside a git checkout.
    pub revision: String,
    /// The commit's time (RFC 3339), so that the label is the same for every build of it.
    pub created: String,
    /// Where the sources are (the checkout's `origin`), or empty.
    pub source: String,
    /// The app's version, or empty when the manifest names no `version_from`.
    pub version: String,
}

/// The labels of a variant's image: the project's, the variant's, and honest OCI labels of its
/// own. A stand-in base's tool labels are emptied, because labels are inherited and cannot be
/// deleted: an image built on a local base is not that base.
pub fn variant(
    tag: &str,
    variant: &str,
    description: &str,
    provenance: &Provenance,
) -> BTreeMap<String, String> {
    let mut labels = image(&[
        (LABEL_VARIANT, variant),
        (LABEL_BASE, ""),
        (LABEL_RECIPE, ""),
        ("org.opencontainers.image.title", tag),
        ("org.opencontainers.image.description", description),
    ]);
    for (key, value) in [
        ("org.opencontainers.image.revision", &provenance.revision),
        ("org.opencontainers.image.created", &provenance.created),
        ("org.opencontainers.image.source", &provenance.source),
        ("org.opencontainers.image.version", &provenance.version),
    ] {
        labels.insert(key.to_string(), value.clone());
    }
    labels
}

/// The version an app declares in `text`, read from the file `name`: a `Cargo.toml`'s
/// `[package] version`, a `package.json`'s `version`, or the whole (trimmed) text otherwise.
pub fn version_in(name: &str, text: &str) -> Option<String> {
    if name.ends_with("Cargo.toml") {
        let mut in_package = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                in_package = line == "[package]";
            } else if in_package {
                if let Some(value) = line.strip_prefix("version").map(str::trim_start) {
                    if let Some(value) = value.strip_prefix('=') {
                        return Some(value.trim().trim_matches('"').to_string());
                    }
                }
            }
        }
        None
    } else if name.ends_with("package.json") {
        let json: serde_json::Value = serde_json::from_str(text).ok()?;
        json["version"].as_str().map(str::to_string)
    } else {
        Some(text.trim().to_string()).filter(|v| !v.is_empty())
    }
}

/// The labels of a container the tool starts.
pub fn container() -> BTreeMap<String, String> {
    image(&[(LABEL_CONTAINER, "1")])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variant_names_itself_and_empties_its_bases_tool_labels() {
        let provenance = Provenance {
            revision: "abc".into(),
            created: "2026-11-30T07:00:00Z".into(),
            source: "https://example.com/webtest".into(),
            version: "0.1.0".into(),
        };
        let labels = variant("webtest:slim", "slim", "the slim one", &provenance);
        assert_eq!(labels["org.opencontainers.image.title"], "webtest:slim");
        assert_eq!(labels["org.opencontainers.image.version"], "0.1.0");
        assert_eq!(labels[LABEL_BASE], "");
        assert_eq!(labels[LABEL_RECIPE], "");
        assert_eq!(labels[LABEL_VARIANT], "slim");
        assert_eq!(labels[LABEL], "1");
    }

    #[test]
    fn versions_are_read_from_cargo_npm_and_plain_files() {
        let cargo =
            "[workspace]\nversion = \"9\"\n[package]\nname = \"webtest\"\nversion = \"0.1.0\"\n";
        assert_eq!(
            version_in("webtest/Cargo.toml", cargo).as_deref(),
            Some("0.1.0")
        );
        let npm = r#"{"name": "f", "version": "1.2.3"}"#;
        assert_eq!(version_in("package.json", npm).as_deref(), Some("1.2.3"));
        assert_eq!(version_in("VERSION", "0.4.0\n").as_deref(), Some("0.4.0"));
        assert_eq!(version_in("VERSION", "  \n"), None);
    }

    #[test]
    fn containers_carry_a_label_no_image_of_ours_has() {
        assert!(container().contains_key(LABEL_CONTAINER));
        assert!(!image(&[(LABEL_VARIANT, "simples")]).contains_key(LABEL_CONTAINER));
    }
}
