//! The figures of one `compare` run: what `report.json` holds and what every rendering reads.
//!
//! These types are the report's contract (DESIGN.md section 4): fields may be added, but the ones
//! named there (`ok`, `images[].variant`, `tag`, `size_bytes`, `run.ready_ms`, `run.stop_ms`,
//! `run.memory_bytes`, `run.probes_ok`, `checks[].name`, `ok`, `detail`) keep their names and
//! meaning. Nothing here does I/O, so the renderers can be tested on a report written by hand.

pub mod apps;
pub mod bench;
pub mod stress;
mod transfer;

pub use transfer::{Components, Transfer};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use apps::{AppReport, BaseKind, BaseUsed, PRODUCTION_VARIANT};

/// The version of the report's shape; bumped only for a change that is not backward compatible.
pub const SCHEMA: u32 = 1;

/// Everything one `compare` run measured and checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: u32,
    /// True when every check holds.
    pub ok: bool,
    /// The image repository, e.g. `webtest`.
    pub repository: String,
    /// The engine the figures come from, e.g. `20.10.24+dfsg1 (API 1.41, overlay2)`.
    pub engine: String,
    /// The same engine, field by field (absent from older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_info: Option<EngineInfo>,
    /// One entry per variant, in manifest order.
    pub images: Vec<ImageReport>,
    pub checks: Vec<Check>,
    /// The apps the run covered, in the order of the images (absent from older reports, which
    /// hold one app).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<AppReport>,
}

/// What the engine said it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineInfo {
    /// `26.1.5`.
    pub version: String,
    /// `1.45`.
    pub api_version: String,
    /// `graphdriver` (the engine's own layer store) or `containerd` (the containerd image
    /// store).
    pub image_store: String,
    /// The graph driver (`overlay2`) or the containerd snapshotter (`overlayfs`).
    pub storage_driver: String,
    pub os: String,
    pub arch: String,
    /// Where the tool connected and why there: `tcp://127.0.0.1:2376 (TLS, from DOCKER_HOST)`.
    pub endpoint: String,
}

/// The static figures of one image and, when the variant runs, its run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageReport {
    /// The app the image belongs to, e.g. `rust` or `go` (empty in older reports).
    #[serde(default)]
    pub app: String,
    pub variant: String,
    /// `repository:variant`.
    pub tag: String,
    /// The image ID (`sha256:…`).
    pub id: String,
    /// Uncompressed size as the engine reports it (`docker image inspect`'s `Size`).
    pub size_bytes: u64,
    /// What moving the image costs: what a registry stores for it, every layer as its
    /// compressed blob (gzip as Docker pushes a plain layer, within 1 % of Go's level 6; the
    /// blob itself when the engine keeps it compressed), plus the config and the manifest.
    pub compressed_bytes: u64,
    pub layer_count: usize,
    /// Oldest first, as `docker history` lists them bottom-up.
    pub layers: Vec<Layer>,
    /// dive's efficiency score (`efficiencyScore`) in 0..=1: over every path of every layer, the
    /// smallest copy of each path over all its copies; 1 means no byte is stored twice.
    pub efficiency: f64,
    /// dive's wasted bytes (`inefficientBytes`): every copy, the smallest included, of every path
    /// that occurs in more than one layer.
    pub wasted_bytes: u64,
    /// What deleting the duplicates would save: of every path stored in more than one layer, all
    /// copies but the smallest (a whiteout counting as the size of what it deletes). Absent from
    /// older reports.
    #[serde(default)]
    pub reclaimable_bytes: u64,
    /// Bytes of regular files that the layers store and the merged filesystem does not show
    /// (overwritten or deleted, a directory deleted whole included): what squashing the layers
    /// would save. Absent from older reports.
    #[serde(default)]
    pub hidden_bytes: u64,
    /// Regular files in the merged filesystem.
    pub file_count: u64,
    /// The ten largest regular files of the merged filesystem, largest first.
    pub largest_files: Vec<PathSize>,
    pub config: ImageConfig,
    pub posture: Posture,
    /// Present when the variant has `run: true`.
    pub run: Option<RunReport>,
    /// The base of the image's own (last) stage: what it was built on, official or stand-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseUsed>,
    /// Every base its build used, the build stages' included, in the Dockerfile's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bases: Vec<BaseUsed>,
    /// What a one-line source change costs to rebuild; present after `compare --edit-cost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_cost: Option<EditCost>,
    /// The registry round trip; absent with `--no-registry` and in older reports.
    #[serde(default)]
    pub transfer: Option<Transfer>,
    /// What the image holds for a scanner; absent from older reports.
    #[serde(default)]
    pub components: Option<Components>,
}

/// The rebuild of a variant after one line was appended to a source file (in a copy of the build
/// context; the tree itself is never touched), from a warm build cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditCost {
    /// The changed file, relative to the build context.
    pub file: String,
    /// How long the rebuild took, the context's upload included.
    pub rebuild_ms: u64,
    /// The steps that make something (all but `FROM` and the `ARG`s before it).
    pub steps: usize,
    /// How many of them came from the build cache.
    pub cached_steps: usize,
    /// The instructions that ran again, in build order.
    pub rebuilt: Vec<String>,
}

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    pub size_bytes: u64,
    /// The instruction that made the layer, as `docker history --no-trunc` shows it.
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathSize {
    pub path: String,
    pub size_bytes: u64,
}

/// What the image's config says about how it runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// Empty means root.
    pub user: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// Such as `8080/tcp`, sorted.
    pub exposed_ports: Vec<String>,
    /// The healthcheck's test, e.g. `["CMD", "/webtest", "healthcheck"]`, when there is one.
    pub healthcheck: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
}

/// Whether a config's `User` means root: empty, `root`, `0`, with or without a group.
pub fn is_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or("");
    name.is_empty() || name == "root" || name == "0"
}

/// Security-relevant facts read off the image's config and files.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Posture {
    pub runs_as_root: bool,
    /// A `/bin/sh` (or another well-known shell) is present.
    pub has_shell: bool,
    /// `dpkg`, `apt`, `apk` or another package manager is present.
    pub has_package_manager: bool,
}

/// What starting, probing, loading and stopping one variant measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Median of `ready_samples_ms`: from `start` until `GET /healthz` answered 200.
    pub ready_ms: u64,
    pub ready_samples_ms: Vec<u64>,
    /// How long `docker stop` took.
    pub stop_ms: u64,
    /// Memory in use when idle after start (one-shot stats, page cache excluded).
    pub memory_bytes: u64,
    /// Memory in use right after the load.
    pub memory_after_load_bytes: Option<u64>,
    /// True when every probe passed.
    pub probes_ok: bool,
    pub probes: Vec<ProbeResult>,
    pub load: Option<LoadReport>,
    /// How the container really ran, as the engine reports it (absent from older reports).
    #[serde(default)]
    pub security: RunSecurity,
    /// True when the figures come from an earlier run of the same image ID with the same
    /// settings (`compare --fresh` runs it again).
    #[serde(default)]
    pub cached: bool,
}

/// The security settings a container ran with, read back from the engine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSecurity {
    pub read_only_rootfs: bool,
    /// Capabilities dropped, e.g. `["ALL"]`.
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    /// The user the process ran as; empty means root.
    pub user: String,
    /// Where its port was published, e.g. `["127.0.0.1:8080"]`.
    pub published: Vec<String>,
    /// The paths mounted as a tmpfs, where it could write beside a read-only root, e.g.
    /// `["/tmp"]` (absent from older reports).
    #[serde(default)]
    pub tmpfs: Vec<String>,
}

impl RunSecurity {
    /// Read-only root, no capabilities, no privilege escalation.
    pub fn hardened(&self) -> bool {
        self.read_only_rootfs
            && self.cap_drop.iter().any(|c| c.eq_ignore_ascii_case("ALL"))
            && self.no_new_privileges
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub path: String,
    pub expected_status: u16,
    /// None when no HTTP answer came.
    pub status: Option<u16>,
    pub ok: bool,
    /// Why it failed, or empty.
    pub detail: String,
}

/// A short burst of requests against `127.0.0.1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub path: String,
    pub requests: u64,
    pub concurrency: u64,
    pub errors: u64,
    pub duration_ms: f64,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// One check: a budget, a structure test or the multistage-is-smaller rule. The checks fill in
/// what was measured, the bound and the unit; the rendering layer writes `detail` from them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Check {
    /// The app the check is about, e.g. `go` (empty in older reports).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app: String,
    /// Stable and readable, e.g. `max_size multistage` or `smaller multistage < simples`.
    pub name: String,
    pub ok: bool,
    /// The figure, the bound and the image in words, e.g. `1.42 MB <= 3.00 MB`.
    pub detail: String,
    /// The image the check is about.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// The figure measured, in `unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<f64>,
    /// The bound it is held to, in `unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
    /// Everything the words need; not part of `report.json`, which carries `detail` instead.
    #[serde(skip)]
    pub finding: Finding,
}

/// The unit of a check's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Bytes,
    /// A ratio of two sizes ("x").
    Ratio,
    /// A share between 0 and 1.
    Fraction,
    Layers,
    Milliseconds,
    /// A number of things, such as components.
    Count,
}

/// What a check found, as data: the rendering layer turns it into `Check::detail`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Finding {
    /// Already in words (a check read back from `report.json`).
    #[default]
    Described,
    /// The image has no figures: it was not built or could not be measured.
    Missing {
        what: String,
    },
    /// `image` is smaller than `than`.
    Smaller {
        than: String,
        size: u64,
        than_size: u64,
    },
    /// `than` is `actual` times the size of the image; the budget asks `ratio`.
    MinRatio {
        than: String,
        actual: f64,
        ratio: f64,
    },
    /// A byte figure against its bound.
    Bytes {
        figure: ByteFigure,
        value: u64,
        bound: u64,
    },
    MinEfficiency {
        value: f64,
        bound: f64,
    },
    MaxLayers {
        value: usize,
        bound: usize,
    },
    /// The configured user (empty: none, so root).
    User {
        user: String,
    },
    /// How long the stop took, when the image ran.
    StopMs {
        value: Option<u64>,
        bound: u64,
    },
    /// Time to deploy, when the image went through a registry and runs.
    DeployMs {
        value: Option<u64>,
        bound: u64,
    },
    /// A figure that needs the registry round trip, which did not happen (`--no-registry`).
    NoTransfer,
    /// The image's components (packages and dependencies), when they were counted.
    Components {
        value: Option<usize>,
        bound: usize,
    },
    /// The image's size against one file in it, when the file is there.
    Overhead {
        path: String,
        size: u64,
        file: Option<u64>,
        ratio: f64,
    },
    /// The metadata aspects a structure test looked at.
    Metadata {
        aspects: Vec<Aspect>,
    },
    /// Where a path was found (`Some(real)` after links), or not.
    File {
        path: String,
        found: Option<String>,
    },
    /// How a structure test's command ended.
    Command {
        outcome: Result<(i64, String), String>,
        exit_code: i64,
        output_contains: Option<String>,
    },
    /// The probes of one running variant: how many, and the failed ones with why.
    Probes {
        count: usize,
        failed: Vec<(String, String)>,
    },
    /// The image against its base plus what is at `path` in it, when both are known.
    OverBase {
        /// The base as words (`alpine:3.20.3`, or the stand-in's name) and its size.
        base: Option<(String, u64)>,
        path: String,
        /// The bytes of the files at `path`.
        files: Option<u64>,
        size: u64,
        slack: u64,
    },
    /// How a variant meant to run hardened ran.
    Hardened {
        security: RunSecurity,
        probes_ok: bool,
    },
}

/// Which byte figure a byte budget bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteFigure {
    Size,
    Compressed,
    Wasted,
    /// What the registry stores after a push.
    Pushed,
}

/// One aspect of an image's configuration that a metadata test compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Aspect {
    pub ok: bool,
    pub kind: AspectKind,
}

/// What a metadata aspect found and expected.
#[derive(Debug, Clone, PartialEq)]
pub enum AspectKind {
    ExposedPorts {
        found: Vec<String>,
        expected: Vec<String>,
    },
    NonRoot {
        user: String,
        expected: bool,
    },
    Entrypoint {
        found: Vec<String>,
        expected: Vec<String>,
    },
    Healthcheck {
        found: Option<Vec<String>>,
        expected: bool,
    },
}
