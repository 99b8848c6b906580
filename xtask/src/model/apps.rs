//! The app side of a report: which app an image or a check belongs to, which base images an
//! image was built on (the official one or a local stand-in, which must never pass for it), and
//! the apps one `compare` run covered.

use serde::{Deserialize, Serialize};

/// One app of a run: a manifest and its repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppReport {
    /// The name `--app` takes, e.g. `go`.
    pub name: String,
    /// The image repository, e.g. `webtest-go`.
    pub repository: String,
    /// The manifest, relative to the workspace root, e.g. `docker/go.yaml`.
    pub manifest: String,
}

/// A base image an image was built on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseUsed {
    /// The Dockerfile's build argument that names it, e.g. `ALPINE_IMAGE`; empty for a stage
    /// `FROM` a literal image such as `scratch`.
    pub arg: String,
    /// The image the build really used, e.g. `alpine:3.20.3` or `webtest-base/alpine:bookworm`.
    pub image: String,
    pub kind: BaseKind,
    /// The official image the manifest names for the argument, which a stand-in stands in for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub official: String,
    /// Its size as the engine reports it; 0 for `scratch` or an image not in the engine.
    #[serde(default)]
    pub size_bytes: u64,
}

/// Whether a base is the official image or a local stand-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BaseKind {
    /// The image the manifest names, present in the engine or pulled.
    Official,
    /// Assembled by `cargo xtask bases` from Debian packages: not the real thing.
    StandIn,
    /// `FROM scratch`: no base at all.
    Scratch,
}

impl BaseUsed {
    /// `alpine:3.20.3`, or `webtest-base/alpine:bookworm (stand-in for alpine:3.20.3)`.
    pub fn describe(&self) -> String {
        match self.kind {
            BaseKind::StandIn if !self.official.is_empty() => {
                format!("{} (stand-in for {})", self.image, self.official)
            }
            BaseKind::StandIn => format!("{} (stand-in)", self.image),
            _ => self.image.clone(),
        }
    }
}

/// The production image of an app, the one the cross-app table compares.
pub const PRODUCTION_VARIANT: &str = "multistage";
