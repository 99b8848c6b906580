//! The manifest `docker/images.yaml`: its serde model, its validation, and the plan derived from
//! it. Unknown fields are errors, and every error names the file, the line, the column and the
//! field, so a typo fails loudly instead of silently turning a check off.
//!
//! serde_yaml deserialises the manifest but keeps no positions once a value is parsed, so the
//! text is also read as a stream of YAML events (with yaml-rust2), which gives every field path
//! its exact line and column for the errors that validation finds.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use indexmap::IndexMap;
use serde::{Deserialize, Deserializer};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::ScanError;

use crate::error::UsageError;

/// The label every image and container the tool creates carries; `clean` removes exactly these.
pub const LABEL: &str = "io.webtest.xtask";
/// Set on local base images to their own tag, so that `clean` can keep them unless asked.
pub const LABEL_BASE: &str = "io.webtest.xtask.base";
/// The digest of what a local base was made from, so that a changed recipe rebuilds it.
pub const LABEL_RECIPE: &str = "io.webtest.xtask.recipe";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    repository: String,
    #[serde(default = "default_context")]
    context: PathBuf,
    #[serde(default = "default_port")]
    port: u16,
    #[serde(default)]
    debian: Debian,
    #[serde(default)]
    bases: IndexMap<String, Base>,
    #[serde(default)]
    recipes: IndexMap<String, Recipe>,
    variants: IndexMap<String, Variant>,
    #[serde(default)]
    probe: Vec<Probe>,
    #[serde(default)]
    run: RunSettings,
    #[serde(default, with = "serde_yaml::with::singleton_map_recursive")]
    structure: Vec<StructureTest>,
    #[serde(default, with = "serde_yaml::with::singleton_map_recursive")]
    budgets: Vec<Budget>,
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
    /// suite otherwise, e.g. `webtest-base/rust:1.95.0`.
    pub image: String,
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
    fn kind(&self) -> &'static str {
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
}

impl Budget {
    /// The images a budget names, each with the field that names it, for validation.
    fn images(&self) -> Vec<(&'static str, &str)> {
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
            | Budget::MaxStopMs { image, .. } => vec![("image", image)],
        }
    }

    /// The key the budget is written under, for the field paths of messages.
    fn kind(&self) -> &'static str {
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
        }
    }

    /// The field holding the budget's limit and whether the limit makes sense, for the kinds
    /// where zero or a negative number would make the check meaningless or always fail.
    fn limit_ok(&self) -> Option<(&'static str, bool)> {
        match self {
            Budget::MaxSize { bytes, .. } | Budget::MaxCompressed { bytes, .. } => {
                Some(("bytes", bytes.0 > 0))
            }
            Budget::MinRatio { ratio, .. } => Some(("ratio", ratio.is_finite() && *ratio > 0.0)),
            Budget::MinEfficiency { ratio, .. } => Some(("ratio", *ratio > 0.0 && *ratio <= 1.0)),
            Budget::MaxLayers { layers, .. } => Some(("layers", *layers >= 1)),
            Budget::MaxOverhead { ratio, .. } => {
                Some(("ratio", ratio.is_finite() && *ratio >= 1.0))
            }
            Budget::MaxStopMs { ms, .. } => Some(("ms", *ms > 0)),
            // Zero wasted bytes is the project's own budget, and the others hold no number.
            Budget::Smaller { .. } | Budget::MaxWastedBytes { .. } | Budget::NonRoot { .. } => None,
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

/// The manifest, read and checked, with its paths resolved.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The file it was read from, for messages.
    pub path: PathBuf,
    pub repository: String,
    /// The build context, absolute.
    pub context: PathBuf,
    pub port: u16,
    pub debian: Debian,
    pub bases: IndexMap<String, Base>,
    pub recipes: IndexMap<String, Recipe>,
    pub variants: IndexMap<String, Variant>,
    pub probe: Vec<Probe>,
    pub run: RunSettings,
    pub structure: Vec<StructureTest>,
    pub budgets: Vec<Budget>,
}

impl Manifest {
    /// Reads and validates the manifest. Every error is a [`UsageError`] (exit code 2).
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            UsageError(format!(
                "cannot read the manifest {}: {err}",
                path.display()
            ))
        })?;
        Manifest::parse(path, &text).map_err(|err| anyhow::Error::new(UsageError(err.to_string())))
    }

    /// Parses and validates manifest text; `path` is used for the context and for messages.
    pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
        let file = path.to_path_buf();
        let spots = match Spots::read(text) {
            Ok(spots) => spots,
            Err(scan) => {
                // serde_yaml is the parser the manifest is read with, so its word on a syntax
                // error comes first; yaml-rust2's is the fallback should the two ever disagree.
                // It reads into a `Value`, which takes any shape, because serde_yaml reports a
                // syntax error only after the events before it, and a wrong type among those
                // would hide it.
                let err = match serde_yaml::from_str::<serde_yaml::Value>(text) {
                    Err(err) => {
                        let mut err = serde_error(&file, &err, &Spots::default());
                        err.message = format!("invalid YAML: {}", err.message);
                        err
                    }
                    Ok(_) => ManifestError::at(
                        &file,
                        Some(Pos::of(scan.marker())),
                        format!("invalid YAML: {}", scan.info()),
                    ),
                };
                return Err(err);
            }
        };
        let check = Check {
            file: &file,
            spots: &spots,
        };
        if let Some(duplicate) = &spots.duplicate {
            return Err(check.at(
                Some(duplicate.at),
                format!(
                    "{}: duplicate key, first at line {}; each key may appear only once",
                    duplicate.path, duplicate.first.line
                ),
            ));
        }
        if let Some(at) = spots.second_document {
            return Err(check.at(
                Some(at),
                "the manifest must be one YAML document; this `---` starts a second".into(),
            ));
        }
        match &spots.root {
            Some(Shape::Mapping) => {}
            None => {
                return Err(check.at(
                    Some(Pos::START),
                    "the manifest is empty; it needs at least `repository:` and `variants:`".into(),
                ))
            }
            Some(shape) => {
                return Err(check.at(
                    spots.value("").or(Some(Pos::START)),
                    format!(
                        "the manifest must be a mapping of fields such as `repository:` and `variants:`, not {}",
                        shape.describe()
                    ),
                ))
            }
        }
        let raw: Raw =
            serde_yaml::from_str(text).map_err(|err| serde_error(&file, &err, &spots))?;
        let context = check.validate(&raw, path)?;

        Ok(Manifest {
            path: file,
            repository: raw.repository,
            context,
            port: raw.port,
            debian: raw.debian,
            bases: raw.bases,
            recipes: raw.recipes,
            variants: raw.variants,
            probe: raw.probe,
            run: raw.run,
            structure: raw.structure,
            budgets: raw.budgets,
        })
    }

    /// `repository:variant`.
    pub fn tag(&self, variant: &str) -> String {
        format!("{}:{variant}", self.repository)
    }

    /// Checks that every name given on the command line is a variant of the manifest.
    pub fn select(&self, names: &[String]) -> Result<Vec<String>> {
        if names.is_empty() {
            return Ok(self.variants.keys().cloned().collect());
        }
        for name in names {
            if !self.variants.contains_key(name) {
                return Err(UsageError(format!(
                    "no variant `{name}` in {} (known: {})",
                    self.path.display(),
                    join_keys(&self.variants)
                ))
                .into());
            }
        }
        Ok(names.to_vec())
    }
}

/// Validation of a deserialised manifest, with the positions of its fields for the messages.
struct Check<'a> {
    file: &'a Path,
    spots: &'a Spots,
}

impl Check<'_> {
    fn at(&self, pos: Option<Pos>, message: String) -> ManifestError {
        ManifestError::at(self.file, pos, message)
    }

    /// An error about the value at `path`, e.g. `budgets[1].max_size.bytes`.
    fn fail(&self, path: &str, message: impl fmt::Display) -> ManifestError {
        self.at(Some(self.spots.near(path)), format!("{path}: {message}"))
    }

    /// An error about the key at `path` itself, such as a variant's name.
    fn fail_key(&self, path: &str, message: impl fmt::Display) -> ManifestError {
        let pos = self
            .spots
            .key(path)
            .unwrap_or_else(|| self.spots.near(path));
        self.at(Some(pos), format!("{path}: {message}"))
    }

    /// A value out of its range: says what was written and what is allowed.
    fn not_allowed(&self, path: &str, value: impl fmt::Display) -> ManifestError {
        let shown = match self.spots.text(path) {
            Some(text) => show(text),
            None => format!("`{value}`"),
        };
        let allowed = allowed(path).unwrap_or("something else");
        self.fail(path, format!("{shown} is not allowed; expected {allowed}"))
    }

    /// Checks what serde cannot, in the order of the file, and returns the absolute context.
    fn validate(&self, raw: &Raw, path: &Path) -> Result<PathBuf, ManifestError> {
        if !valid_name(&raw.repository, true) {
            return Err(self.fail(
                "repository",
                format!(
                    "{} is not a valid image name; use lowercase letters, digits, `.`, `_`, `-` and `/`",
                    show(&raw.repository)
                ),
            ));
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let context = dir.join(&raw.context);
        let context = context.canonicalize().map_err(|err| {
            self.fail(
                "context",
                format!(
                    "`{}` (resolved to {}) cannot be opened: {err}",
                    raw.context.display(),
                    context.display()
                ),
            )
        })?;
        if raw.port == 0 {
            return Err(self.not_allowed("port", raw.port));
        }
        for (arg, base) in &raw.bases {
            if let Some(recipe) = &base.offline {
                if !raw.recipes.contains_key(recipe) {
                    return Err(self.fail(
                        &format!("bases.{arg}.offline"),
                        format!(
                            "no recipe `{recipe}` in `recipes` (known: {})",
                            join_keys(&raw.recipes)
                        ),
                    ));
                }
            }
        }
        for (name, recipe) in &raw.recipes {
            if recipe.packages.is_empty() && !recipe.required {
                return Err(self.fail(
                    &format!("recipes.{name}.packages"),
                    "a recipe needs packages or `required: true`",
                ));
            }
            if !valid_name(&recipe.image, true) {
                return Err(self.fail(
                    &format!("recipes.{name}.image"),
                    format!("`{}` is not a valid image name without a tag", recipe.image),
                ));
            }
        }
        if raw.variants.is_empty() {
            return Err(self.fail("variants", "at least one variant is needed"));
        }
        for (name, variant) in &raw.variants {
            let at = format!("variants.{name}");
            if !valid_name(name, false) {
                return Err(self.fail_key(
                    &at,
                    format!("`{name}` is not a valid tag; use lowercase letters, digits, `.`, `_` and `-`"),
                ));
            }
            if variant.dockerfile.trim().is_empty() {
                return Err(self.fail(
                    &format!("{at}.dockerfile"),
                    "empty; name a Dockerfile in the context, such as `docker/Dockerfile`",
                ));
            }
            let dockerfile = context.join(&variant.dockerfile);
            if dockerfile.is_dir() {
                return Err(self.fail(
                    &format!("{at}.dockerfile"),
                    format!(
                        "`{}` is a directory; name a Dockerfile in the context {}",
                        variant.dockerfile,
                        context.display()
                    ),
                ));
            }
            if !dockerfile.is_file() {
                return Err(self.fail(
                    &format!("{at}.dockerfile"),
                    format!(
                        "`{}` does not exist in the context {}",
                        variant.dockerfile,
                        context.display()
                    ),
                ));
            }
            if variant
                .target
                .as_deref()
                .is_some_and(|t| t.trim().is_empty())
            {
                return Err(self.fail(
                    &format!("{at}.target"),
                    "empty; name a build stage, or leave `target` out to build the last one",
                ));
            }
        }
        for (index, probe) in raw.probe.iter().enumerate() {
            if !probe.path.starts_with('/') {
                return Err(self.fail(
                    &format!("probe[{index}].path"),
                    format!("`{}` must start with `/`", probe.path),
                ));
            }
            if !(100..=599).contains(&probe.status) {
                return Err(self.not_allowed(&format!("probe[{index}].status"), probe.status));
            }
        }
        if raw.run.starts == 0 {
            return Err(self.not_allowed("run.starts", raw.run.starts));
        }
        if raw.run.ready_timeout_secs == 0 {
            return Err(self.not_allowed("run.ready_timeout_secs", raw.run.ready_timeout_secs));
        }
        if !raw.run.load.path.starts_with('/') {
            return Err(self.fail(
                "run.load.path",
                format!("`{}` must start with `/`", raw.run.load.path),
            ));
        }
        if raw.run.load.requests > 0 && raw.run.load.concurrency == 0 {
            return Err(self.not_allowed("run.load.concurrency", raw.run.load.concurrency));
        }
        let unknown = |path: &str, image: &str| {
            self.fail(
                path,
                format!("no variant `{image}` (known: {})", join_keys(&raw.variants)),
            )
        };
        for (index, test) in raw.structure.iter().enumerate() {
            let at = format!("structure[{index}].{}", test.kind());
            if !raw.variants.contains_key(test.image()) {
                return Err(unknown(&format!("{at}.image"), test.image()));
            }
            if let StructureTest::Command { run, .. } = test {
                if run.is_empty() {
                    return Err(self.fail(&format!("{at}.run"), "the command is empty"));
                }
            }
        }
        for (index, budget) in raw.budgets.iter().enumerate() {
            let at = format!("budgets[{index}].{}", budget.kind());
            for (field, image) in budget.images() {
                if !raw.variants.contains_key(image) {
                    return Err(unknown(&format!("{at}.{field}"), image));
                }
            }
            if let Some((field, false)) = budget.limit_ok() {
                let value = match budget {
                    Budget::MaxSize { bytes, .. } | Budget::MaxCompressed { bytes, .. } => {
                        bytes.0.to_string()
                    }
                    Budget::MinRatio { ratio, .. }
                    | Budget::MinEfficiency { ratio, .. }
                    | Budget::MaxOverhead { ratio, .. } => ratio.to_string(),
                    Budget::MaxLayers { layers, .. } => layers.to_string(),
                    Budget::MaxStopMs { ms, .. } => ms.to_string(),
                    _ => String::new(),
                };
                return Err(self.not_allowed(&format!("{at}.{field}"), value));
            }
        }
        Ok(context)
    }
}

/// What a field allows, for the fields whose type alone does not say: the one place these
/// ranges are written down, for serde's messages and validation's alike.
fn allowed(path: &str) -> Option<&'static str> {
    Some(match pattern(path).as_str() {
        "port" => "a port number from 1 to 65535",
        "probe[].status" => "an HTTP status from 100 to 599",
        "run.starts" => "a whole number of at least 1",
        "run.ready_timeout_secs" => "a whole number of seconds, at least 1",
        "run.load.requests" => "a whole number (0 turns the load off)",
        "run.load.concurrency" => "a whole number of at least 1",
        "budgets[].max_size.bytes" | "budgets[].max_compressed.bytes" => {
            "a size above 0, such as 3000000 or 3 MB"
        }
        "budgets[].max_wasted_bytes.bytes" => "a size such as 0 or 10 kB",
        "budgets[].min_ratio.ratio" => "a number above 0",
        "budgets[].min_efficiency.ratio" => "a fraction above 0 and at most 1",
        "budgets[].max_layers.layers" => "a whole number of at least 1",
        "budgets[].max_overhead.ratio" => "a number of at least 1",
        "budgets[].max_stop_ms.ms" => "a whole number of milliseconds above 0",
        _ => return None,
    })
}

/// A field path with its indices and its user-chosen names left out, so that
/// `budgets[3].max_size.bytes` and `budgets[0].max_size.bytes` read the same.
fn pattern(path: &str) -> String {
    let mut segments: Vec<String> = path
        .split('.')
        .map(|segment| match segment.find('[') {
            Some(index) => format!("{}[]", &segment[..index]),
            None => segment.to_string(),
        })
        .collect();
    if segments.len() > 1 && matches!(segments[0].as_str(), "variants" | "recipes" | "bases") {
        segments[1] = "*".into();
    }
    segments.join(".")
}

/// How a scalar the user wrote is quoted back in a message.
fn show(text: &str) -> String {
    if text.is_empty() {
        "an empty value".into()
    } else {
        format!("`{text}`")
    }
}

/// Splits "`name` rest" into the name between the backticks and the rest.
fn quoted(text: &str) -> Option<(String, String)> {
    text.strip_prefix('`')
        .and_then(|text| text.split_once('`'))
        .map(|(name, rest)| (name.to_string(), rest.to_string()))
}

/// serde's words for a type, in the manifest's terms.
fn plain(expected: &str) -> &str {
    match expected {
        "u16" => "a whole number from 0 to 65535",
        "u32" | "u64" | "usize" => "a whole number of 0 or more",
        "i64" => "a whole number",
        "f64" => "a number",
        "a boolean" => "true or false",
        "a string" => "text",
        "a sequence" => "a list",
        "a map" => "a mapping",
        other if other.starts_with("struct ") => "a mapping",
        other => other,
    }
}

/// Turns a serde_yaml error into a located message that names the field and says what is
/// allowed. serde_yaml writes `path: message at line L column C`; the position is kept apart,
/// and the common messages are reworded around the field path.
fn serde_error(file: &Path, err: &serde_yaml::Error, spots: &Spots) -> ManifestError {
    let pos = match err.location() {
        Some(location) => Some(Pos {
            line: location.line(),
            column: location.column(),
            index: location.index(),
        }),
        None => spots.value(""),
    };
    let message = strip_location(&err.to_string());
    let (path, rest) = match message.split_once(": ") {
        Some((path, rest))
            if spots.fields.contains_key(path)
                || (!path.is_empty()
                    && path
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-[]".contains(c))) =>
        {
            (path, rest)
        }
        _ => ("", message.as_str()),
    };
    let join = |field: &str| {
        if path.is_empty() {
            field.to_string()
        } else {
            format!("{path}.{field}")
        }
    };
    let reworded = if let Some((field, _)) = rest.strip_prefix("missing field ").and_then(quoted) {
        Some(format!("{}: missing, and it is required", join(&field)))
    } else if let Some((field, expected)) = rest.strip_prefix("unknown field ").and_then(quoted) {
        Some(format!("{}: unknown field{expected}", join(&field)))
    } else if let Some((name, expected)) = rest.strip_prefix("unknown variant ").and_then(quoted) {
        // serde says "variant" for an enum's case, which here reads like an image variant: a
        // key is a kind of budget or test, a scalar is a value of a field such as `dpkg`.
        if spots.key(&join(&name)).is_some() {
            Some(format!("{}: unknown kind{expected}", join(&name)))
        } else {
            Some(format!(
                "{path}: `{name}` is not allowed{}",
                expected.replacen(", expected", "; expected", 1)
            ))
        }
    } else if rest == "deserializing from YAML containing more than one document is not supported" {
        Some("the manifest must be one YAML document, without `---` between parts".into())
    } else if rest == "invalid value: map, expected map with a single key" {
        Some(format!(
            "{path}: an item must hold exactly one key, its kind, such as `- max_size: {{ ... }}`"
        ))
    } else if let Some((got, expected)) = rest
        .strip_prefix("invalid type: ")
        .or_else(|| rest.strip_prefix("invalid value: "))
        .and_then(|detail| detail.split_once(", expected "))
    {
        let shown = match spots.text(path) {
            Some(text) => show(text),
            None => match got {
                "sequence" => "a list".into(),
                "map" => "a mapping".into(),
                other => other.into(),
            },
        };
        let expected = allowed(path).unwrap_or_else(|| plain(expected));
        let field = if path.is_empty() {
            "the manifest"
        } else {
            path
        };
        Some(format!(
            "{field}: {shown} is not allowed; expected {expected}"
        ))
    } else {
        None
    };
    ManifestError::at(file, pos, reworded.unwrap_or(message))
}

/// A manifest that cannot be used: the file, the line and column when known, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub file: PathBuf,
    /// 1-based.
    pub line: Option<usize>,
    /// 1-based, in characters.
    pub column: Option<usize>,
    pub message: String,
}

impl ManifestError {
    fn at(file: &Path, pos: Option<Pos>, message: String) -> ManifestError {
        ManifestError {
            file: file.to_path_buf(),
            line: pos.map(|pos| pos.line),
            column: pos.map(|pos| pos.column),
            message,
        }
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "{file}:{line}:{column}: {}", self.message),
            (Some(line), None) => write!(f, "{file}:{line}: {}", self.message),
            _ => write!(f, "{file}: {}", self.message),
        }
    }
}

impl std::error::Error for ManifestError {}

/// serde_yaml writes " at line L column C" into its messages, at the end and, for syntax errors,
/// also in the middle; the position is already in front.
fn strip_location(message: &str) -> String {
    const AT: &str = " at line ";
    let digits =
        |text: &str| text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let mut message = message.to_string();
    while let Some(start) = message.find(AT) {
        let tail = &message[start + AT.len()..];
        let mut end = digits(tail);
        if end == 0 {
            break;
        }
        if let Some(column) = tail[end..].strip_prefix(" column ") {
            end += " column ".len() + digits(column);
        }
        message = format!("{}{}", &message[..start], &tail[end..]);
    }
    message
}

/// A place in the manifest's text, 1-based as editors and compilers count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    line: usize,
    column: usize,
    /// The byte offset, to tell which of two places comes first.
    index: usize,
}

impl Pos {
    const START: Pos = Pos {
        line: 1,
        column: 1,
        index: 0,
    };

    /// yaml-rust2's markers count lines from 1 but columns from 0 (its documentation says 1;
    /// the test `markers_count_columns_from_zero` pins what it does).
    fn of(marker: &Marker) -> Pos {
        Pos {
            line: marker.line(),
            column: marker.col() + 1,
            index: marker.index(),
        }
    }
}

/// What the top of the document is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    Mapping,
    Sequence,
    Scalar(String),
    Alias,
}

impl Shape {
    fn describe(&self) -> String {
        match self {
            Shape::Mapping => "a mapping".into(),
            Shape::Sequence => "a list".into(),
            Shape::Scalar(text) if text.chars().count() > 40 => {
                format!(
                    "the text `{}...`",
                    text.chars().take(40).collect::<String>()
                )
            }
            Shape::Scalar(text) => format!("the text `{text}`"),
            Shape::Alias => "an alias".into(),
        }
    }
}

/// Where one field is: its key, its value, and the value's text when it is a scalar.
#[derive(Debug, Default, Clone)]
struct Spot {
    key: Option<Pos>,
    value: Option<Pos>,
    text: Option<String>,
}

/// A key written twice in one mapping.
#[derive(Debug, Clone)]
struct Duplicate {
    path: String,
    at: Pos,
    first: Pos,
}

/// The position of every field of a YAML document, by field path in serde_yaml's notation:
/// `port`, `variants.simples.dockerfile`, `budgets[1].max_size.bytes`. The root is `""`.
#[derive(Debug, Default)]
struct Spots {
    fields: HashMap<String, Spot>,
    /// The shape of the document's top node, or `None` when the document is empty.
    root: Option<Shape>,
    /// The first key written twice in a mapping, which serde_yaml would let pass silently for
    /// a map (the last one wins) and report without a position for a struct.
    duplicate: Option<Duplicate>,
    /// The `---` of a second document, which serde_yaml refuses without saying where it is.
    second_document: Option<Pos>,
}

/// An open collection during the walk over the events.
enum Frame {
    Mapping {
        path: String,
        /// The key whose value comes next, or `None` when a key comes next.
        key: Option<String>,
        /// The keys seen so far and where, to find duplicates.
        seen: HashMap<String, Pos>,
        fresh: bool,
    },
    Sequence {
        path: String,
        next: usize,
        fresh: bool,
    },
}

impl Frame {
    /// The collection's path, and whether no child has been seen yet (which clears the flag).
    fn first_child(&mut self) -> (&str, bool) {
        match self {
            Frame::Mapping { path, fresh, .. } | Frame::Sequence { path, fresh, .. } => {
                (path, std::mem::replace(fresh, false))
            }
        }
    }
}

impl Spots {
    /// Walks the first document of `text` and notes where every key and value is.
    fn read(text: &str) -> Result<Spots, ScanError> {
        let mut spots = Spots::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut parser = Parser::new_from_str(text);
        loop {
            let (event, marker) = parser.next_token()?;
            let pos = Pos::of(&marker);
            match event {
                Event::StreamEnd => break,
                // The manifest is one document: only where a second one starts is of interest.
                Event::DocumentEnd => {
                    if let Ok((Event::DocumentStart, marker)) = parser.next_token() {
                        spots.second_document = Some(Pos::of(&marker));
                    }
                    break;
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                Event::Scalar(..)
                | Event::Alias(..)
                | Event::MappingStart(..)
                | Event::SequenceStart(..) => spots.node(&mut stack, event, pos),
                Event::Nothing | Event::StreamStart | Event::DocumentStart => {}
            }
        }
        Ok(spots)
    }

    /// Notes one node, a key or a value, and opens a frame for a collection.
    fn node(&mut self, stack: &mut Vec<Frame>, event: Event, pos: Pos) {
        let text = match &event {
            Event::Scalar(text, ..) => Some(text.clone()),
            _ => None,
        };
        if let Some(parent) = stack.last_mut() {
            // yaml-rust2 marks a block collection after its first key (where the value
            // starts), so a collection starts where its first child does when that is earlier.
            let (path, first) = parent.first_child();
            if first {
                let spot = self.fields.entry(path.to_string()).or_default();
                if spot.value.is_none_or(|value| pos.index < value.index) {
                    spot.value = Some(pos);
                }
            }
        }
        let path = match stack.last_mut() {
            None => {
                self.root = Some(match &event {
                    Event::MappingStart(..) => Shape::Mapping,
                    Event::SequenceStart(..) => Shape::Sequence,
                    Event::Alias(..) => Shape::Alias,
                    _ => match text.as_deref() {
                        // A document of only comments, or of a bare null, holds nothing.
                        None | Some("" | "~" | "null" | "Null" | "NULL") => {
                            self.root = None;
                            return;
                        }
                        Some(text) => Shape::Scalar(text.to_string()),
                    },
                });
                String::new()
            }
            Some(Frame::Sequence { path, next, .. }) => {
                *next += 1;
                format!("{path}[{}]", *next - 1)
            }
            Some(Frame::Mapping {
                path, key, seen, ..
            }) => match key.take() {
                Some(key) => join_path(path, &key),
                None => {
                    // A key. One that is itself a collection cannot name a field; it is
                    // walked under a placeholder so that its own nodes stay balanced.
                    let name = text.clone().unwrap_or_else(|| "?".into());
                    let full = join_path(path, &name);
                    match seen.get(&name) {
                        Some(&first) if self.duplicate.is_none() => {
                            self.duplicate = Some(Duplicate {
                                path: full.clone(),
                                at: pos,
                                first,
                            });
                        }
                        Some(_) => {}
                        None => {
                            seen.insert(name.clone(), pos);
                            self.fields.entry(full.clone()).or_default().key = Some(pos);
                        }
                    }
                    *key = Some(name);
                    self.open(stack, &event, format!("{full}?"));
                    return;
                }
            },
        };
        let spot = self.fields.entry(path.clone()).or_default();
        // A value left empty (`target:`) is marked where the next token starts, often on a
        // later line; its key is the place to point at.
        let empty =
            matches!(&event, Event::Scalar(text, TScalarStyle::Plain, ..) if text.is_empty());
        spot.value = match (empty, spot.key) {
            (true, Some(key)) => Some(key),
            _ => Some(pos),
        };
        spot.text = text;
        self.open(stack, &event, path);
    }

    fn open(&self, stack: &mut Vec<Frame>, event: &Event, path: String) {
        match event {
            Event::MappingStart(..) => stack.push(Frame::Mapping {
                path,
                key: None,
                seen: HashMap::new(),
                fresh: true,
            }),
            Event::SequenceStart(..) => stack.push(Frame::Sequence {
                path,
                next: 0,
                fresh: true,
            }),
            _ => {}
        }
    }

    fn value(&self, path: &str) -> Option<Pos> {
        self.fields.get(path).and_then(|spot| spot.value)
    }

    fn key(&self, path: &str) -> Option<Pos> {
        self.fields.get(path).and_then(|spot| spot.key)
    }

    fn text(&self, path: &str) -> Option<&str> {
        self.fields.get(path).and_then(|spot| spot.text.as_deref())
    }

    /// Where to point for `path`: its value, or for a field left out (and so defaulted), the
    /// key of the nearest enclosing field that is written, or the top of the document.
    fn near(&self, path: &str) -> Pos {
        if let Some(pos) = self.value(path) {
            return pos;
        }
        let mut path = path;
        while let Some(index) = path.rfind(['.', '[']) {
            path = &path[..index];
            if let Some(pos) = self.key(path).or_else(|| self.value(path)) {
                return pos;
            }
        }
        self.value("").unwrap_or(Pos::START)
    }
}

fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn join_keys<V>(map: &IndexMap<String, V>) -> String {
    map.keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Docker's rules for a repository (`with_slash`) or a tag, kept to the lowercase subset.
fn valid_name(name: &str, with_slash: bool) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || matches!(c, '.' | '_' | '-')
                || (with_slash && c == '/')
        })
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
}

/// The build arguments the Dockerfiles get: each base's argument name and the image to use.
pub type BuildArgs = BTreeMap<String, String>;

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .join("docker")
    }

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(&dir().join("images.yaml"), text)
    }

    /// The line, the column and the message of the error `text` gives.
    fn fails(text: &str) -> (usize, usize, String) {
        let err = parse(text).expect_err("the manifest should be refused");
        (
            err.line.expect("a line"),
            err.column.expect("a column"),
            err.message,
        )
    }

    /// Asserts that `text` fails at `line`:`column` with a message that starts with `start`.
    #[track_caller]
    fn assert_fails(text: &str, line: usize, column: usize, start: &str) {
        let (l, c, message) = fails(text);
        assert!(
            message.starts_with(start),
            "message {message:?} does not start with {start:?}"
        );
        assert_eq!((l, c), (line, column), "{message}");
    }

    const MINIMAL: &str = "repository: webtest\nvariants:\n  simples: { dockerfile: docker/Dockerfile.simples, run: true }\n";

    /// MINIMAL with `tail` appended, which therefore starts on line 4.
    fn with(tail: &str) -> String {
        format!("{MINIMAL}{tail}")
    }

    #[test]
    fn the_project_manifest_parses_and_names_existing_dockerfiles() {
        let path = dir().join("images.yaml");
        let manifest = Manifest::load(&path).unwrap();
        assert_eq!(manifest.repository, "webtest");
        for name in ["simples", "multistage", "target"] {
            assert!(
                manifest.variants.contains_key(name),
                "variant {name} missing"
            );
        }
        assert_eq!(
            manifest.variants["target"].target.as_deref(),
            Some("builder")
        );
        assert!(manifest.budgets.contains(&Budget::Smaller {
            image: "multistage".into(),
            than: "simples".into()
        }));
        for variant in manifest.variants.values() {
            assert!(manifest.context.join(&variant.dockerfile).is_file());
        }
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let m = parse(MINIMAL).unwrap();
        assert_eq!(m.port, 8080);
        assert_eq!(m.run.starts, 3);
        assert_eq!(m.run.load.requests, 2000);
        assert_eq!(m.debian.suite, "bookworm");
        assert_eq!(m.tag("simples"), "webtest:simples");
        assert!(m.variants["simples"].hardened, "hardened by default");
        let text = MINIMAL.replace("run: true", "run: true, hardened: false");
        assert!(!parse(&text).unwrap().variants["simples"].hardened);
    }

    #[test]
    fn markers_count_columns_from_zero() {
        // yaml-rust2 documents its columns as 1-based; they are not, and Pos::of relies on it.
        let mut parser = Parser::new_from_str("key: value\n");
        let marker = std::iter::from_fn(|| parser.next_token().ok())
            .find(|(event, _)| matches!(event, Event::Scalar(text, ..) if text == "value"))
            .map(|(_, marker)| marker)
            .unwrap();
        assert_eq!((marker.line(), marker.col()), (1, 5));
        let pos = Pos::of(&marker);
        assert_eq!((pos.line, pos.column), (1, 6));
    }

    #[test]
    fn spots_give_every_key_and_value_its_line_and_column() {
        let text = "\
repository: webtest
variants:
  simples: { dockerfile: docker/Dockerfile.simples, run: true }
  slim:
    dockerfile: docker/Dockerfile.multistage
budgets:
  - smaller: { image: slim, than: simples }
  - max_size: { image: slim, bytes: 3 MB }
probe:
- path: /
";
        let spots = Spots::read(text).unwrap();
        let at = |pos: Option<Pos>| pos.map(|pos| (pos.line, pos.column));
        assert_eq!(at(spots.value("")), Some((1, 1)));
        assert_eq!(at(spots.key("repository")), Some((1, 1)));
        assert_eq!(at(spots.value("repository")), Some((1, 13)));
        assert_eq!(at(spots.key("variants.simples")), Some((3, 3)));
        assert_eq!(at(spots.value("variants.simples")), Some((3, 12)));
        assert_eq!(at(spots.key("variants.simples.dockerfile")), Some((3, 14)));
        assert_eq!(
            at(spots.value("variants.simples.dockerfile")),
            Some((3, 26))
        );
        // A block mapping starts at its first key.
        assert_eq!(at(spots.value("variants.slim")), Some((5, 5)));
        assert_eq!(at(spots.value("variants.slim.dockerfile")), Some((5, 17)));
        assert_eq!(at(spots.value("budgets")), Some((7, 3)));
        assert_eq!(at(spots.value("budgets[1]")), Some((8, 5)));
        assert_eq!(at(spots.key("budgets[1].max_size")), Some((8, 5)));
        assert_eq!(at(spots.value("budgets[1].max_size.bytes")), Some((8, 37)));
        assert_eq!(spots.text("budgets[1].max_size.bytes"), Some("3 MB"));
        assert_eq!(at(spots.value("probe[0].path")), Some((10, 9)));
        // A field left out points at the nearest enclosing key that is written.
        let near = spots.near("budgets[1].max_size.ratio");
        assert_eq!((near.line, near.column), (8, 5));
        assert!(spots.duplicate.is_none());
        assert_eq!(spots.root, Some(Shape::Mapping));
    }

    #[test]
    fn an_unknown_field_names_the_line_the_column_and_the_field() {
        let text = "repository: webtest\nvariants:\n  simples: { dockerfile: docker/Dockerfile.simples, runn: true }\n";
        let err = parse(text).unwrap_err();
        assert_eq!((err.line, err.column), (Some(3), Some(53)));
        assert!(
            err.message
                .starts_with("variants.simples.runn: unknown field, expected one of `dockerfile`"),
            "{}",
            err.message
        );
        assert!(err
            .to_string()
            .starts_with(&format!("{}:3:53: ", dir().join("images.yaml").display())));
    }

    #[test]
    fn an_unknown_budget_kind_is_an_error() {
        let text = with("budgets:\n  - max_sise: { image: simples, bytes: 1 }\n");
        assert_fails(
            &text,
            5,
            5,
            "budgets[0].max_sise: unknown kind, expected one of `smaller`",
        );
    }

    #[test]
    fn a_budget_naming_an_unknown_variant_is_located() {
        let text = with("budgets:\n  - max_size: { image: simples, bytes: 1 }\n  - max_size: { image: nope, bytes: 1 }\n");
        assert_fails(
            &text,
            6,
            24,
            "budgets[1].max_size.image: no variant `nope` (known: simples)",
        );
        let text = with("budgets:\n  - smaller: { image: simples, than: nope }\n");
        assert_fails(&text, 5, 38, "budgets[0].smaller.than: no variant `nope`");
    }

    #[test]
    fn a_structure_test_naming_an_unknown_variant_is_located() {
        let text = with("structure:\n  - file: { image: simples, path: /x, exists: true }\n  - file: { image: nope, path: /x, exists: true }\n");
        assert_fails(&text, 6, 20, "structure[1].file.image: no variant `nope`");
    }

    #[test]
    fn a_missing_dockerfile_or_a_directory_is_an_error() {
        let text = "repository: webtest\nvariants:\n  simples: { dockerfile: docker/Nope }\n";
        assert_fails(
            text,
            3,
            26,
            "variants.simples.dockerfile: `docker/Nope` does not exist",
        );
        let text = "repository: webtest\nvariants:\n  simples: { dockerfile: docker }\n";
        assert_fails(
            text,
            3,
            26,
            "variants.simples.dockerfile: `docker` is a directory",
        );
    }

    #[test]
    fn an_empty_target_is_an_error() {
        let text = MINIMAL.replace("run: true", "target: '', run: true");
        assert_fails(&text, 3, 61, "variants.simples.target: empty;");
    }

    #[test]
    fn a_base_with_an_unknown_recipe_is_an_error() {
        let text = with("bases:\n  RUST_IMAGE: { image: rust:1, offline: nope }\n");
        assert_fails(&text, 5, 41, "bases.RUST_IMAGE.offline: no recipe `nope`");
    }

    #[test]
    fn duplicate_keys_are_errors_wherever_they_are() {
        let text = with("  simples: { dockerfile: docker/Dockerfile.multistage }\n");
        assert_fails(
            &text,
            4,
            3,
            "variants.simples: duplicate key, first at line 3;",
        );
        let text = with("port: 80\nport: 81\n");
        assert_fails(&text, 5, 1, "port: duplicate key, first at line 4;");
        let text = MINIMAL.replace("run: true", "run: true, run: false");
        assert_fails(
            &text,
            3,
            64,
            "variants.simples.run: duplicate key, first at line 3;",
        );
    }

    #[test]
    fn ports_are_from_1_to_65535() {
        let expected = "expected a port number from 1 to 65535";
        for (port, message) in [
            ("0", "port: `0` is not allowed;"),
            ("70000", "port: `70000` is not allowed;"),
            ("-1", "port: `-1` is not allowed;"),
            ("eighty", "port: `eighty` is not allowed;"),
        ] {
            let (line, column, text) = fails(&with(&format!("port: {port}\n")));
            assert_eq!((line, column), (4, 7), "{text}");
            assert!(text.starts_with(message), "{text}");
            assert!(text.ends_with(expected), "{text}");
        }
    }

    #[test]
    fn probe_statuses_are_http_statuses() {
        for status in ["0", "99", "600"] {
            let text = with(&format!("probe:\n  - {{ path: /, status: {status} }}\n"));
            assert_fails(
                &text,
                5,
                24,
                &format!("probe[0].status: `{status}` is not allowed; expected an HTTP status from 100 to 599"),
            );
        }
        let text = with("probe:\n  - { path: /, status: 599 }\n  - { path: /, status: 100 }\n");
        assert!(parse(&text).is_ok());
    }

    #[test]
    fn budget_limits_that_make_no_sense_are_errors() {
        // Each budget on line 5, with its limit at column 36 (`min_ratio` also names `than`).
        for (budget, path, value) in [
            (
                "max_size: { image: simples, bytes: 0 }",
                "max_size.bytes",
                "0",
            ),
            (
                "max_size: { image: simples, bytes: 0 MB }",
                "max_size.bytes",
                "0 MB",
            ),
            (
                "max_compressed: { image: simples, bytes: 0 }",
                "max_compressed.bytes",
                "0",
            ),
            (
                "min_ratio: { image: simples, than: simples, ratio: 0 }",
                "min_ratio.ratio",
                "0",
            ),
            (
                "min_ratio: { image: simples, than: simples, ratio: .inf }",
                "min_ratio.ratio",
                ".inf",
            ),
            (
                "min_efficiency: { image: simples, ratio: 0 }",
                "min_efficiency.ratio",
                "0",
            ),
            (
                "min_efficiency: { image: simples, ratio: 1.5 }",
                "min_efficiency.ratio",
                "1.5",
            ),
            (
                "max_layers: { image: simples, layers: 0 }",
                "max_layers.layers",
                "0",
            ),
            (
                "max_overhead: { image: simples, path: /x, ratio: 0.5 }",
                "max_overhead.ratio",
                "0.5",
            ),
            (
                "max_stop_ms: { image: simples, ms: 0 }",
                "max_stop_ms.ms",
                "0",
            ),
        ] {
            let text = with(&format!("budgets:\n  - {budget}\n"));
            let column = budget.rfind(": ").unwrap() + 7;
            let start = format!("budgets[0].{path}: `{value}` is not allowed; expected ");
            assert_fails(&text, 5, column, &start);
        }
        // Zero wasted bytes is the project's own budget, and the top of each range is allowed.
        for budget in [
            "max_wasted_bytes: { image: simples, bytes: 0 }",
            "min_efficiency: { image: simples, ratio: 1 }",
            "max_overhead: { image: simples, path: /x, ratio: 1 }",
            "max_layers: { image: simples, layers: 1 }",
        ] {
            let text = with(&format!("budgets:\n  - {budget}\n"));
            assert!(parse(&text).is_ok(), "{budget}: {:?}", parse(&text).err());
        }
    }

    #[test]
    fn a_negative_size_is_located_and_explained() {
        let text = with("budgets:\n  - max_size: { image: simples, bytes: -1 }\n");
        assert_fails(
            &text,
            5,
            40,
            "budgets[0].max_size.bytes: `-1` is not allowed; expected a size above 0",
        );
        let text = with("budgets:\n  - max_size: { image: simples, bytes: 3 parsecs }\n");
        assert_fails(
            &text,
            5,
            40,
            "budgets[0].max_size.bytes: unknown size unit `parsecs`",
        );
    }

    #[test]
    fn empty_manifests_and_other_shapes_are_errors() {
        for text in ["", "\n\n", "# nothing yet\n", "~\n"] {
            assert_fails(text, 1, 1, "the manifest is empty;");
        }
        assert_fails(
            "\n- repository: webtest\n",
            2,
            1,
            "the manifest must be a mapping of fields such as `repository:` and `variants:`, not a list",
        );
        assert_fails("webtest\n", 1, 1, "the manifest must be a mapping");
    }

    #[test]
    fn a_missing_field_is_named() {
        assert_fails(
            "# the images\nvariants:\n  simples: { dockerfile: docker/Dockerfile.simples }\n",
            2,
            1,
            "repository: missing, and it is required",
        );
        assert_fails(
            "repository: webtest\nvariants:\n  simples: { run: true }\n",
            3,
            12,
            "variants.simples.dockerfile: missing, and it is required",
        );
    }

    #[test]
    fn a_wrong_type_names_the_value_and_what_is_allowed() {
        let text = MINIMAL.replace("run: true", "run: yes please");
        assert_fails(
            &text,
            3,
            58,
            "variants.simples.run: `yes please` is not allowed; expected true or false",
        );
        assert_fails(
            &with("run:\n  starts: -1\n"),
            5,
            11,
            "run.starts: `-1` is not allowed; expected a whole number of at least 1",
        );
        assert_fails(
            &with("probe: { path: / }\n"),
            4,
            8,
            "probe: a mapping is not allowed; expected a list",
        );
    }

    #[test]
    fn run_settings_must_make_sense() {
        assert_fails(
            &with("run:\n  starts: 0\n"),
            5,
            11,
            "run.starts: `0` is not allowed",
        );
        assert_fails(
            &with("run:\n  ready_timeout_secs: 0\n"),
            5,
            23,
            "run.ready_timeout_secs: `0` is not allowed; expected a whole number of seconds, at least 1",
        );
        assert_fails(
            &with("run:\n  load: { requests: 10, concurrency: 0 }\n"),
            5,
            38,
            "run.load.concurrency: `0` is not allowed; expected a whole number of at least 1",
        );
        // No load, so no concurrency is needed.
        assert!(parse(&with("run:\n  load: { requests: 0, concurrency: 0 }\n")).is_ok());
    }

    #[test]
    fn a_syntax_error_is_located() {
        // libyaml notices the missing node where the next line starts.
        assert_fails(
            &with("probe: [\n"),
            5,
            1,
            "invalid YAML: did not find expected node content",
        );
        assert_fails(
            &with("\tport: 1\n"),
            4,
            1,
            "invalid YAML: found character that cannot start any token",
        );
    }

    #[test]
    fn a_second_document_is_located() {
        assert_fails(
            &with("---\nport: 80\n"),
            4,
            1,
            "the manifest must be one YAML document;",
        );
    }

    #[test]
    fn an_empty_value_points_at_its_key() {
        let text = MINIMAL.replace("repository: webtest", "repository:");
        assert_fails(
            &text,
            1,
            1,
            "repository: an empty value is not a valid image name",
        );
        let text = "repository: webtest\nvariants:\n  simples:\n    dockerfile:\n";
        assert_fails(
            text,
            4,
            5,
            "variants.simples.dockerfile: empty; name a Dockerfile",
        );
    }

    #[test]
    fn serde_positions_are_taken_out_of_its_messages() {
        assert_eq!(strip_location("port: bad at line 4 column 7"), "port: bad");
        assert_eq!(
            strip_location("did not find expected ',' at line 7 column 1, while parsing"),
            "did not find expected ',', while parsing"
        );
        assert_eq!(
            strip_location("found ':' at line 3 column 14, while scanning at line 3 column 26"),
            "found ':', while scanning"
        );
        assert_eq!(strip_location("nothing to strip"), "nothing to strip");
    }

    #[test]
    fn errors_display_file_line_and_column_when_known() {
        let err = |line, column| ManifestError {
            file: PathBuf::from("images.yaml"),
            line,
            column,
            message: "port: bad".into(),
        };
        assert_eq!(
            err(Some(4), Some(7)).to_string(),
            "images.yaml:4:7: port: bad"
        );
        assert_eq!(err(Some(4), None).to_string(), "images.yaml:4: port: bad");
        assert_eq!(err(None, None).to_string(), "images.yaml: port: bad");
    }

    #[test]
    fn sizes_take_units() {
        assert_eq!(ByteSize::parse("3000000"), Ok(ByteSize(3_000_000)));
        assert_eq!(ByteSize::parse("3 MB"), Ok(ByteSize(3_000_000)));
        assert_eq!(ByteSize::parse("2.5MiB"), Ok(ByteSize(2_621_440)));
        assert_eq!(ByteSize::parse("1 GB"), Ok(ByteSize(1_000_000_000)));
        assert!(ByteSize::parse("3 parsecs")
            .unwrap_err()
            .contains("unknown size unit"));
        assert!(ByteSize::parse("lots").is_err());
        let text = with("budgets:\n  - max_size: { image: simples, bytes: 3 MB }\n");
        assert_eq!(
            parse(&text).unwrap().budgets,
            vec![Budget::MaxSize {
                image: "simples".into(),
                bytes: ByteSize(3_000_000)
            }]
        );
    }

    #[test]
    fn names_follow_docker_rules() {
        assert!(valid_name("webtest", true));
        assert!(valid_name("webtest-base/rust", true));
        assert!(!valid_name("WebTest", true));
        assert!(!valid_name("a/b", false));
        assert!(!valid_name("-x", false));
        assert!(!valid_name("", false));
        let text = MINIMAL.replace("simples:", "Simples:");
        assert_fails(
            &text,
            3,
            3,
            "variants.Simples: `Simples` is not a valid tag",
        );
    }

    #[test]
    fn selecting_an_unknown_variant_is_a_usage_error() {
        let m = parse(MINIMAL).unwrap();
        assert_eq!(m.select(&[]).unwrap(), vec!["simples".to_string()]);
        let err = m.select(&["nope".into()]).unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some());
    }
}
