//! The manifest's serde model: every section and field as written in `docker/images.yaml`,
//! with its defaults. Unknown fields are refused by `deny_unknown_fields`, so that a typo fails
//! instead of silently turning a check off. Nothing here checks values against each other; that
//! is `validate`'s job.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer};

/// The manifest as written, before validation and before its paths are resolved.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Raw {
    /// The app's name, which `compare --app` takes (default: the repository).
    pub(super) app: Option<String>,
    /// Other apps' manifests, relative to this file, that `compare` covers too.
    #[serde(default)]
    pub(super) apps: Vec<PathBuf>,
    pub(super) repository: String,
    #[serde(default = "default_context")]
    pub(super) context: PathBuf,
    #[serde(default = "default_port")]
    pub(super) port: u16,
    /// What the images are, for their `org.opencontainers.image.description`.
    #[serde(default)]
    pub(super) description: Option<String>,
    /// The file the app's version is read from (a `Cargo.toml`, a `package.json`, or a file
    /// that holds the version alone), relative to the context.
    #[serde(default)]
    pub(super) version_from: Option<PathBuf>,
    #[serde(default)]
    pub(super) debian: Debian,
    #[serde(default)]
    pub(super) bases: IndexMap<String, Base>,
    #[serde(default)]
    pub(super) recipes: IndexMap<String, Recipe>,
    /// The registry `compare` pushes to and pulls from; see [`Base`].
    #[serde(default)]
    pub(super) registry: Option<Base>,
    pub(super) variants: IndexMap<String, Variant>,
    #[serde(default)]
    pub(super) probe: Vec<Probe>,
    #[serde(default)]
    pub(super) run: RunSettings,
    #[serde(default, with = "serde_yaml::with::singleton_map_recursive")]
    pub(super) structure: Vec<StructureTest>,
    #[serde(default, with = "serde_yaml::with::singleton_map_recursive")]
    pub(super) budgets: Vec<Budget>,
    #[serde(default)]
    pub(super) edit: Option<PathBuf>,
}

fn default_context() -> PathBuf {
    PathBuf::from("..")
}

fn default_port() -> u16 {
    8080
}

/// Where the packages of the local bases come from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Debian {
    #[serde(default = "default_mirror")]
    pub mirror: String,
    #[serde(default = "default_suite")]
    pub suite: String,
    #[serde(default = "default_arch")]
    pub arch: String,
    #[serde(default = "default_components")]
    pub components: Vec<String>,
}

fn default_mirror() -> String {
    "https://deb.debian.org/debian".into()
}
fn default_suite() -> String {
    "bookworm".into()
}
fn default_arch() -> String {
    "amd64".into()
}
fn default_components() -> Vec<String> {
    vec!["main".into()]
}

impl Default for Debian {
    fn default() -> Self {
        Debian {
            mirror: default_mirror(),
            suite: default_suite(),
            arch: default_arch(),
            components: default_components(),
        }
    }
}

/// A build argument of the Dockerfiles that names a base image.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Base {
    /// The official image, used when it is present locally or can be pulled.
    pub image: String,
    /// The recipe of the local stand-in built when the image cannot be had.
    pub offline: Option<String>,
}

/// How the tool assembles a local base image from Debian packages.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// The local repository name; the tag is the Rust version for a toolchain recipe and the
    /// suites otherwise, e.g. `webtest-base/rust:1.95.0` or `webtest-base/go:bookworm-backports`
    /// (see `suites`).
    pub image: String,
    /// The Debian suites the recipe's packages come from, merged as apt merges the lines of
    /// its `sources.list`, e.g. `[bookworm, bookworm-backports]`; left out: the manifest's
    /// `debian.suite` alone. Each suite keeps apt's default priority (backports'
    /// is 100), so a package comes from backports only when bookworm has none of that name,
    /// or when the recipe writes it `name/suite`. The base is tagged with the suites: the
    /// first, then each other without the first's name in front (`bookworm-backports`).
    /// (Left out of the recipe's digest when left out of the recipe, so that the bases of
    /// recipes without it are not made again.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suites: Option<Vec<String>>,
    #[serde(default)]
    pub packages: Vec<String>,
    /// Resolve the closure of `Depends` and `Pre-Depends` (the default), or take exactly the
    /// listed packages, as distroless does.
    #[serde(default = "yes")]
    pub dependencies: bool,
    /// Add every package of priority `required`, as debootstrap's minbase variant does.
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Leave out documentation, manual pages and translations (each package's copyright
    /// stays), as the official `-slim` images do.
    #[serde(default = "yes")]
    pub drop_docs: bool,
    /// Also trust the certificate authorities the host trusts (its `SSL_CERT_FILE`, or
    /// `/etc/ssl/certs/ca-certificates.crt`), appended to Debian's bundle. A builder behind a
    /// TLS-inspecting proxy needs the proxy's CA to reach crates.io; the stand-in already
    /// mirrors the host's toolchain, so it mirrors the host's trust too.
    #[serde(default)]
    pub host_ca_certificates: bool,
    /// Where the host's Rust toolchain (`rustc --print sysroot`: `bin/` and `lib/`) goes in
    /// the image, as a layer of its own, e.g. `usr/local`.
    pub toolchain: Option<String>,
    /// How the image records its packages.
    #[serde(default)]
    pub dpkg: DpkgDb,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub cmd: Vec<String>,
    pub user: Option<String>,
    /// Symbolic links added once the packages are unpacked, absolute path → target, such as
    /// `/bin/sh: busybox` for a static busybox's applets. A path that a package ships is an
    /// error: a link never replaces anything. (Left out of the recipe's digest when empty, so
    /// that the bases of recipes without it are not made again.)
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub links: BTreeMap<String, String>,
    /// Files from the manifest's folder, added like `links`; the digest of each file's content
    /// is part of the recipe's, so that editing the file makes the base again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<RecipeFile>,
}

/// One file of a recipe's `files`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeFile {
    /// Where it goes in the image, absolute, e.g. `/sbin/apk`.
    pub path: String,
    /// Where it is read from, relative to the manifest's folder, e.g. `standins/apk`.
    pub from: PathBuf,
    /// Permission bits in octal, as a string: `"0755"`.
    #[serde(default = "file_mode")]
    pub mode: String,
    #[serde(default)]
    pub uid: u64,
    #[serde(default)]
    pub gid: u64,
}

impl RecipeFile {
    /// The permission bits of `mode`, when it is octal and no more than `7777`.
    pub fn mode_bits(&self) -> Option<u32> {
        u32::from_str_radix(&self.mode, 8)
            .ok()
            .filter(|bits| *bits <= 0o7777)
    }
}

fn file_mode() -> String {
    "0644".into()
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DpkgDb {
    /// `/var/lib/dpkg/status`, so that `dpkg -l` works.
    #[default]
    Full,
    /// `/var/lib/dpkg/status.d/<package>`, as distroless records packages without dpkg.
    StatusD,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Relative to the context, as `docker build -f` takes it.
    pub dockerfile: String,
    /// A build stage to stop at, as `docker build --target` does.
    pub target: Option<String>,
    /// Whether `compare` starts the image and probes it.
    #[serde(default)]
    pub run: bool,
    /// Whether `compare` runs the container hardened: read-only root filesystem, every
    /// capability dropped, no-new-privileges. Default true.
    #[serde(default = "yes")]
    pub hardened: bool,
    /// The folders a hardened run may write in after all: each an absolute path, mounted as a
    /// tmpfs of its own (`rw,nosuid,nodev,noexec`, 16 MB at most) over the read-only root
    /// filesystem, such as nginx's `/tmp` for its pid file and temp paths. Default none.
    #[serde(default)]
    pub tmpfs: Vec<String>,
}

/// One HTTP request `compare` sends to every running variant.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub path: String,
    #[serde(default = "default_status")]
    pub status: u16,
    pub body_contains: Option<String>,
}

fn default_status() -> u16 {
    200
}

/// How `compare` runs each variant.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSettings {
    /// How many times each variant is started; the ready time is their median.
    #[serde(default = "default_starts")]
    pub starts: u32,
    /// How long a container may take to answer `GET /healthz` with 200.
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout_secs: u64,
    #[serde(default)]
    pub load: Load,
}

fn default_starts() -> u32 {
    3
}
fn default_ready_timeout() -> u64 {
    30
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            starts: default_starts(),
            ready_timeout_secs: default_ready_timeout(),
            load: Load::default(),
        }
    }
}

/// A short burst of requests that shows throughput and latency; `requests: 0` turns it off.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    #[serde(default = "default_load_path")]
    pub path: String,
    #[serde(default = "default_requests")]
    pub requests: u64,
    #[serde(default = "default_concurrency")]
    pub concurrency: u64,
}

fn default_load_path() -> String {
    "/".into()
}
fn default_requests() -> u64 {
    2000
}
fn default_concurrency() -> u64 {
    16
}

impl Default for Load {
    fn default() -> Self {
        Load {
            path: default_load_path(),
            requests: default_requests(),
            concurrency: default_concurrency(),
        }
    }
}

/// Tests in the style of container-structure-test.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StructureTest {
    /// Facts of the image's config; each field that is set is checked.
    Metadata {
        image: String,
        exposed_ports: Option<Vec<String>>,
        non_root: Option<bool>,
        entrypoint: Option<Vec<String>>,
        healthcheck: Option<bool>,
    },
    /// A path exists (or does not) in the image's merged filesystem.
    File {
        image: String,
        path: String,
        exists: bool,
    },
    /// A command run in a container of the image exits with `exit_code`, and its output holds
    /// `output_contains` when that is set.
    Command {
        image: String,
        run: Vec<String>,
        #[serde(default)]
        exit_code: i64,
        output_contains: Option<String>,
    },
}

impl StructureTest {
    pub fn image(&self) -> &str {
        match self {
            StructureTest::Metadata { image, .. }
            | StructureTest::File { image, .. }
            | StructureTest::Command { image, .. } => image,
        }
    }

    /// The key the test is written under, for the field paths of messages.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            StructureTest::Metadata { .. } => "metadata",
            StructureTest::File { .. } => "file",
            StructureTest::Command { .. } => "command",
        }
    }
}

/// Rules an image must keep, in the style of dive's CI rules.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Budget {
    Smaller {
        image: String,
        than: String,
    },
    MaxSize {
        image: String,
        bytes: ByteSize,
    },
    MaxCompressed {
        image: String,
        bytes: ByteSize,
    },
    /// `than`'s size over `image`'s size is at least `ratio`.
    MinRatio {
        image: String,
        than: String,
        ratio: f64,
    },
    /// dive's efficiency, as a fraction in 0..=1.
    MinEfficiency {
        image: String,
        ratio: f64,
    },
    MaxWastedBytes {
        image: String,
        bytes: ByteSize,
    },
    MaxLayers {
        image: String,
        layers: usize,
    },
    NonRoot {
        image: String,
    },
    /// The image is at most `ratio` times the size of the file at `path` inside it: proof that
    /// the image holds little beyond that file.
    MaxOverhead {
        image: String,
        path: String,
        ratio: f64,
    },
    /// `docker stop` of a running variant takes at most `ms` milliseconds (the median of the
    /// starts): a service that ignores SIGTERM as PID 1 waits out the 10 s grace period.
    MaxStopMs {
        image: String,
        ms: u64,
    },
    /// The image is no larger than the base its own stage was built on (official or stand-in,
    /// as the report says), plus what is at `path` in it (a file, or every file below a
    /// directory), plus `slack`: no build tool, source or cache came along.
    MaxOverBase {
        image: String,
        path: String,
        slack: ByteSize,
    },
    /// What the registry stores for the image after a push, counted from its manifest.
    MaxPushedBytes {
        image: String,
        bytes: ByteSize,
    },
    /// Time to deploy: the pull, plus the blobs it did not need to move, plus the start until
    /// `/healthz` answers.
    MaxDeployMs {
        image: String,
        ms: u64,
    },
    /// OS packages plus the application's dependencies, as the image's SBOM lists them.
    MaxComponents {
        image: String,
        components: usize,
    },
}

impl Budget {
    /// The images a budget names, each with the field that names it, for validation.
    pub(super) fn images(&self) -> Vec<(&'static str, &str)> {
        match self {
            Budget::Smaller { image, than } | Budget::MinRatio { image, than, .. } => {
                vec![("image", image), ("than", than)]
            }
            Budget::MaxSize { image, .. }
            | Budget::MaxCompressed { image, .. }
            | Budget::MinEfficiency { image, .. }
            | Budget::MaxWastedBytes { image, .. }
            | Budget::MaxLayers { image, .. }
            | Budget::NonRoot { image }
            | Budget::MaxOverhead { image, .. }
            | Budget::MaxStopMs { image, .. }
            | Budget::MaxOverBase { image, .. }
            | Budget::MaxPushedBytes { image, .. }
            | Budget::MaxDeployMs { image, .. }
            | Budget::MaxComponents { image, .. } => vec![("image", image)],
        }
    }

    /// The key the budget is written under, for the field paths of messages.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Budget::Smaller { .. } => "smaller",
            Budget::MaxSize { .. } => "max_size",
            Budget::MaxCompressed { .. } => "max_compressed",
            Budget::MinRatio { .. } => "min_ratio",
            Budget::MinEfficiency { .. } => "min_efficiency",
            Budget::MaxWastedBytes { .. } => "max_wasted_bytes",
            Budget::MaxLayers { .. } => "max_layers",
            Budget::NonRoot { .. } => "non_root",
            Budget::MaxOverhead { .. } => "max_overhead",
            Budget::MaxStopMs { .. } => "max_stop_ms",
            Budget::MaxOverBase { .. } => "max_over_base",
            Budget::MaxPushedBytes { .. } => "max_pushed_bytes",
            Budget::MaxDeployMs { .. } => "max_deploy_ms",
            Budget::MaxComponents { .. } => "max_components",
        }
    }

    /// The field holding the budget's limit and whether the limit makes sense, for the kinds
    /// where zero or a negative number would make the check meaningless or always fail.
    pub(super) fn limit_ok(&self) -> Option<(&'static str, bool)> {
        match self {
            Budget::MaxSize { bytes, .. }
            | Budget::MaxCompressed { bytes, .. }
            | Budget::MaxPushedBytes { bytes, .. } => Some(("bytes", bytes.0 > 0)),
            Budget::MinRatio { ratio, .. } => Some(("ratio", ratio.is_finite() && *ratio > 0.0)),
            Budget::MinEfficiency { ratio, .. } => Some(("ratio", *ratio > 0.0 && *ratio <= 1.0)),
            Budget::MaxLayers { layers, .. } => Some(("layers", *layers >= 1)),
            Budget::MaxOverhead { ratio, .. } => {
                Some(("ratio", ratio.is_finite() && *ratio >= 1.0))
            }
            Budget::MaxStopMs { ms, .. } | Budget::MaxDeployMs { ms, .. } => Some(("ms", *ms > 0)),
            Budget::MaxComponents { components, .. } => Some(("components", *components >= 1)),
            // Zero wasted bytes is the project's own budget, and the others hold no number.
            // A slack of zero is a fair bound: the image is its base and the path, nothing else.
            Budget::Smaller { .. }
            | Budget::MaxWastedBytes { .. }
            | Budget::NonRoot { .. }
            | Budget::MaxOverBase { .. } => None,
        }
    }
}

/// A size in bytes, written as a number or with a unit: `3000000`, `3 MB`, `2.5MiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn parse(text: &str) -> Result<ByteSize, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: f64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a size such as 3000000 or 3 MB"))?;
        let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kb" | "k" => 1_000,
            "mb" | "m" => 1_000_000,
            "gb" | "g" => 1_000_000_000,
            "kib" => 1 << 10,
            "mib" => 1 << 20,
            "gib" => 1 << 30,
            other => {
                return Err(format!(
                    "unknown size unit `{other}` in `{text}` (use B, kB, MB, GB, KiB, MiB or GiB)"
                ))
            }
        };
        Ok(ByteSize((number * factor as f64).round() as u64))
    }
}

/// What a size may be, for serde's messages.
const A_SIZE: &str = "a size such as 3000000 or 3 MB";

impl<'de> Deserialize<'de> for ByteSize {
    // A visitor rather than an untagged enum: serde's message for an untagged enum that matches
    // nothing ("data did not match any variant") says neither what was wrong nor what is allowed.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, Unexpected, Visitor};

        struct Size;

        impl Visitor<'_> for Size {
            type Value = ByteSize;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(A_SIZE)
            }

            fn visit_u64<E: Error>(self, n: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(n))
            }

            fn visit_i64<E: Error>(self, n: i64) -> Result<ByteSize, E> {
                u64::try_from(n)
                    .map(ByteSize)
                    .map_err(|_| E::invalid_value(Unexpected::Signed(n), &self))
            }

            fn visit_f64<E: Error>(self, n: f64) -> Result<ByteSize, E> {
                if n.is_finite() && n >= 0.0 {
                    Ok(ByteSize(n.round() as u64))
                } else {
                    Err(E::invalid_value(Unexpected::Float(n), &self))
                }
            }

            fn visit_str<E: Error>(self, text: &str) -> Result<ByteSize, E> {
                ByteSize::parse(text).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(Size)
    }
}

/// The build arguments the Dockerfiles get: each base's argument name and the image to use.
pub type BuildArgs = BTreeMap<String, String>;
