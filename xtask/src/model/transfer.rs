//! What moving an image costs (a push to a registry and the pull back, and how long until a
//! container of it answers) and what it holds for a scanner to look at (its components). Both
//! are figures of one image in `report.json`; nothing here does I/O.

use serde::{Deserialize, Serialize};

/// One image's registry round trip: pushed, pulled back, started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    /// What the registry stores for the image, from its own manifest: the manifest, the config
    /// blob and every layer blob. The image's `compressed_bytes` is this figure when the round
    /// trip took the image: the same parts the analysis counts, as a registry stores them.
    pub pushed_bytes: u64,
    /// From the push request until the registry answered with the digest.
    pub push_ms: u64,
    /// The pull through the engine, after the registry-prefixed tag was removed: only the
    /// layers the engine did not hold move (see `shared_layers`).
    pub pull_ms: u64,
    /// Downloading, and checking the digest of, every blob the pull did not move because the
    /// engine still held it: what a pull into an engine without the image would also move.
    pub fetch_ms: u64,
    /// From the request to create a container of the pulled image until `GET /healthz`
    /// answered 200; absent for a variant that does not run.
    pub start_ms: Option<u64>,
    /// Time to deploy: `pull_ms + fetch_ms + start_ms`; absent for a variant that does not run.
    pub deploy_ms: Option<u64>,
    /// The manifest digest: the push's, the registry's and the pull's, checked equal.
    pub digest: String,
    /// Where it was pushed, e.g. `127.0.0.1:41234/webtest:multistage`.
    pub reference: String,
    /// The image's layers.
    pub layers: usize,
    /// Layers the engine uploaded; the others the registry already held (a base shared with a
    /// variant pushed before).
    pub pushed_layers: usize,
    /// Blob digests of the layers the pull did not download because the engine held them
    /// (under the image's own tag, or another image's): shared, not transferred.
    pub shared_layers: Vec<String>,
    /// Bytes the pull itself downloaded (layers not shared).
    pub pulled_bytes: u64,
    /// True when the figures come from the cache of an earlier run of the same image ID.
    #[serde(default)]
    pub cached: bool,
}

/// What an image holds that a vulnerability scanner would look at.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Components {
    /// OS packages: dpkg's `status` or `status.d`, apk's database.
    pub packages: usize,
    /// Language-level dependencies of the application: crates, Go modules.
    pub dependencies: usize,
    /// Regular files with an execute bit in the merged filesystem.
    pub executables: u64,
    /// `packages + dependencies`: what `max_components` bounds.
    pub total: usize,
    /// The SBOM written for the image (CycloneDX 1.5 JSON), relative to the workspace root.
    pub sbom: String,
}
