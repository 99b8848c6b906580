//! The Rust crates an image's binary is built from, carried by the image as a label: the
//! package the Dockerfile builds (`cargo build … -p NAME`), and the closure of its normal
//! dependencies as `cargo metadata` resolves them from the workspace's `Cargo.lock`. A `FROM
//! scratch` image has no package database, so without this its SBOM would list nothing of what
//! its one binary is made of.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;
use xshell::cmd;

use crate::ctx::Ctx;

/// The package a Dockerfile builds: the `-p NAME` (or `--package NAME`) of a `cargo build`.
pub fn built_package(dockerfile: &str) -> Option<String> {
    let words: Vec<&str> = dockerfile
        .split(|c: char| c.is_whitespace() || c == '\\')
        .filter(|w| !w.is_empty())
        .collect();
    let build = words
        .windows(2)
        .position(|w| w[0] == "cargo" && w[1] == "build")?;
    let rest = &words[build + 2..];
    rest.iter()
        .take_while(|w| !["&&", ";", "RUN"].contains(w))
        .enumerate()
        .find_map(|(i, w)| {
            if *w == "-p" || *w == "--package" {
                rest.get(i + 1).map(|name| name.to_string())
            } else {
                w.strip_prefix("--package=").map(str::to_string)
            }
        })
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<MetaPackage>,
    resolve: Resolve,
}

#[derive(Deserialize)]
struct MetaPackage {
    id: String,
    name: String,
    version: String,
    source: Option<String>,
}

#[derive(Deserialize)]
struct Resolve {
    nodes: Vec<Node>,
}

#[derive(Deserialize)]
struct Node {
    id: String,
    deps: Vec<Dep>,
}

#[derive(Deserialize)]
struct Dep {
    pkg: String,
    dep_kinds: Vec<DepKind>,
}

#[derive(Deserialize)]
struct DepKind {
    /// `null` for a normal dependency, `"dev"` or `"build"` otherwise.
    kind: Option<String>,
}

/// `name@version` of every crate `package` links in (itself first), from the workspace at
/// `context`, for Linux on the host's architecture, without the network.
pub fn locked_crates(ctx: &Ctx, context: &Path, package: &str) -> Result<Vec<String>> {
    let sh = &ctx.sh;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = context.join("Cargo.toml");
    let arch = std::env::consts::ARCH;
    let platform = format!("{arch}-unknown-linux-gnu");
    let json = cmd!(
        sh,
        "{cargo} metadata --format-version 1 --locked --offline --manifest-path {manifest} --filter-platform {platform}"
    )
    .quiet()
    .ignore_stderr()
    .read()
    .context("ask cargo metadata for the locked dependencies")?;
    let metadata: Metadata = serde_json::from_str(&json).context("read cargo metadata")?;
    closure(&metadata, package)
}

fn closure(metadata: &Metadata, package: &str) -> Result<Vec<String>> {
    let packages: HashMap<&str, &MetaPackage> = metadata
        .packages
        .iter()
        .map(|p| (p.id.as_str(), p))
        .collect();
    let nodes: HashMap<&str, &Node> = metadata
        .resolve
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), n))
        .collect();
    let root = metadata
        .packages
        .iter()
        .find(|p| p.name == package && p.source.is_none())
        .with_context(|| format!("the workspace has no package {package}"))?;
    let mut seen = BTreeSet::new();
    let mut todo = vec![root.id.as_str()];
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dep in nodes.get(id).map_or(&[][..], |n| n.deps.as_slice()) {
            if dep.dep_kinds.iter().any(|k| k.kind.is_none()) {
                todo.push(&dep.pkg);
            }
        }
    }
    let name = |id: &str| {
        let p = packages[id];
        format!("{}@{}", p.name, p.version)
    };
    let mut crates: Vec<String> = seen
        .iter()
        .filter(|id| **id != root.id)
        .map(|id| name(id))
        .collect();
    crates.sort();
    crates.insert(0, name(&root.id));
    Ok(crates)
}

/// The label's value: `name@version` words, the built package first.
pub fn label_value(crates: &[String]) -> String {
    crates.join(" ")
}

/// `(name, version)` pairs of a label's value.
pub fn parse_label(value: &str) -> Vec<(String, String)> {
    value
        .split_whitespace()
        .filter_map(|word| {
            let (name, version) = word.rsplit_once('@')?;
            Some((name.to_string(), version.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_package_is_read_off_the_cargo_build_line() {
        let dockerfile = "RUN cargo fetch\nRUN triple=x \\\n && cargo build --release --locked -p webtest --target \"$triple\" \\\n && cargo test -p other";
        assert_eq!(built_package(dockerfile).as_deref(), Some("webtest"));
        assert_eq!(
            built_package("RUN cargo build --package=app").as_deref(),
            Some("app")
        );
        assert_eq!(built_package("RUN go build ./..."), None);
    }

    #[test]
    fn only_normal_dependencies_are_followed() {
        let metadata: Metadata = serde_json::from_str(
            r#"{"packages":[
                {"id":"app","name":"app","version":"0.1.0","source":null},
                {"id":"a","name":"a","version":"1.0.0","source":"registry"},
                {"id":"b","name":"b","version":"2.0.0","source":"registry"},
                {"id":"t","name":"t","version":"3.0.0","source":"registry"}],
              "resolve":{"nodes":[
                {"id":"app","deps":[{"pkg":"a","dep_kinds":[{"kind":null}]},{"pkg":"t","dep_kinds":[{"kind":"dev"}]}]},
                {"id":"a","deps":[{"pkg":"b","dep_kinds":[{"kind":null}]}]},
                {"id":"b","deps":[]},{"id":"t","deps":[]}]}}"#,
        )
        .unwrap();
        let crates = closure(&metadata, "app").unwrap();
        assert_eq!(crates, ["app@0.1.0", "a@1.0.0", "b@2.0.0"]);
        let label = label_value(&crates);
        assert_eq!(
            parse_label(&label)[2],
            ("b".to_string(), "2.0.0".to_string())
        );
    }
}
