//! The manifest `docker/images.yaml`: its serde model, its validation, and the plan derived from
//! it. Unknown fields are errors, and every error names the file, the line and the field, so a
//! typo fails loudly instead of silently turning a check off.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use indexmap::IndexMap;
use serde::{Deserialize, Deserializer};

use crate::UsageError;

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
    /// The images a budget names, for validation.
    fn images(&self) -> Vec<&str> {
        match self {
            Budget::Smaller { image, than } | Budget::MinRatio { image, than, .. } => {
                vec![image, than]
            }
            Budget::MaxSize { image, .. }
            | Budget::MaxCompressed { image, .. }
            | Budget::MinEfficiency { image, .. }
            | Budget::MaxWastedBytes { image, .. }
            | Budget::MaxLayers { image, .. }
            | Budget::NonRoot { image }
            | Budget::MaxOverhead { image, .. }
            | Budget::MaxStopMs { image, .. } => vec![image],
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

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Number(u64),
            Text(String),
        }
        match Either::deserialize(deserializer)? {
            Either::Number(n) => Ok(ByteSize(n)),
            Either::Text(t) => ByteSize::parse(&t).map_err(serde::de::Error::custom),
        }
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
        let raw: Raw = serde_yaml::from_str(text).map_err(|err| ManifestError {
            file: file.clone(),
            line: err.location().map(|l| l.line()),
            message: strip_location(&err.to_string()),
        })?;
        let fail = |needle: &str, message: String| ManifestError {
            file: file.clone(),
            line: locate(text, needle),
            message,
        };

        if !valid_name(&raw.repository, true) {
            return Err(fail("repository:", format!("repository: `{}` is not a valid image name (lowercase letters, digits, `.`, `_`, `-`, `/`)", raw.repository)));
        }
        if raw.variants.is_empty() {
            return Err(fail(
                "variants:",
                "variants: at least one variant is needed".into(),
            ));
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let context = dir.join(&raw.context);
        let context = context.canonicalize().map_err(|err| {
            fail(
                "context:",
                format!(
                    "context: `{}` (resolved to {}) cannot be opened: {err}",
                    raw.context.display(),
                    context.display()
                ),
            )
        })?;
        for (name, variant) in &raw.variants {
            if !valid_name(name, false) {
                return Err(fail(&format!("{name}:"), format!("variants.{name}: `{name}` is not a valid tag (lowercase letters, digits, `.`, `_`, `-`)")));
            }
            if !context.join(&variant.dockerfile).is_file() {
                return Err(fail(
                    &variant.dockerfile,
                    format!(
                        "variants.{name}.dockerfile: `{}` does not exist in the context {}",
                        variant.dockerfile,
                        context.display()
                    ),
                ));
            }
        }
        for (arg, base) in &raw.bases {
            if let Some(recipe) = &base.offline {
                if !raw.recipes.contains_key(recipe) {
                    return Err(fail(
                        &format!("offline: {recipe}"),
                        format!(
                            "bases.{arg}.offline: no recipe `{recipe}` in `recipes` (known: {})",
                            join_keys(&raw.recipes)
                        ),
                    ));
                }
            }
        }
        for (name, recipe) in &raw.recipes {
            if recipe.packages.is_empty() && !recipe.required {
                return Err(fail(
                    &format!("{name}:"),
                    format!("recipes.{name}.packages: a recipe needs packages or `required: true`"),
                ));
            }
            if !valid_name(&recipe.image, true) {
                return Err(fail(
                    &recipe.image,
                    format!(
                        "recipes.{name}.image: `{}` is not a valid image name without a tag",
                        recipe.image
                    ),
                ));
            }
        }
        let known = |image: &str| raw.variants.contains_key(image);
        for (index, budget) in raw.budgets.iter().enumerate() {
            for image in budget.images() {
                if !known(image) {
                    return Err(fail(
                        &format!("image: {image}"),
                        format!(
                            "budgets[{index}]: no variant `{image}` (known: {})",
                            join_keys(&raw.variants)
                        ),
                    )
                    .at_nth(text, "budgets:", &format!(": {image}")));
                }
            }
        }
        for (index, test) in raw.structure.iter().enumerate() {
            if !known(test.image()) {
                let image = test.image();
                return Err(fail(
                    &format!("image: {image}"),
                    format!(
                        "structure[{index}]: no variant `{image}` (known: {})",
                        join_keys(&raw.variants)
                    ),
                )
                .at_nth(text, "structure:", &format!(": {image}")));
            }
            if let StructureTest::Command { run, .. } = test {
                if run.is_empty() {
                    return Err(fail(
                        "run: []",
                        format!("structure[{index}].command.run: the command is empty"),
                    ));
                }
            }
        }
        for (index, probe) in raw.probe.iter().enumerate() {
            if !probe.path.starts_with('/') {
                return Err(fail(
                    &probe.path,
                    format!("probe[{index}].path: `{}` must start with `/`", probe.path),
                ));
            }
        }
        if raw.run.starts == 0 {
            return Err(fail("starts:", "run.starts: must be at least 1".into()));
        }
        if raw.run.load.requests > 0 && raw.run.load.concurrency == 0 {
            return Err(fail(
                "concurrency:",
                "run.load.concurrency: must be at least 1".into(),
            ));
        }

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

/// A manifest that cannot be used: the file, the line when known, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl ManifestError {
    /// Points the error at the `n`th-or-later line holding `needle` inside `section`, when the
    /// plain search found nothing better. Used for references that can appear several times.
    fn at_nth(mut self, text: &str, section: &str, needle: &str) -> Self {
        if let Some(line) = locate_in_section(text, section, needle) {
            self.line = Some(line);
        }
        self
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ManifestError {}

/// serde_yaml appends " at line L column C" to its messages; the line is already in front.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}

/// The 1-based number of the first line that holds `needle`. serde_yaml keeps no positions
/// once a value is parsed, so errors found by validation are located by searching the text.
fn locate(text: &str, needle: &str) -> Option<usize> {
    text.lines()
        .position(|line| line.contains(needle))
        .map(|index| index + 1)
}

/// Like [`locate`], but only within the top-level `section` (up to the next top-level key).
fn locate_in_section(text: &str, section: &str, needle: &str) -> Option<usize> {
    let mut inside = false;
    for (index, line) in text.lines().enumerate() {
        let top_level = !line.starts_with([' ', '\t', '#', '-']) && !line.trim().is_empty();
        if top_level {
            inside = line.starts_with(section);
        } else if inside && line.contains(needle) {
            return Some(index + 1);
        }
    }
    None
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

    const MINIMAL: &str = "repository: webtest\nvariants:\n  simples: { dockerfile: docker/Dockerfile.simples, run: true }\n";

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
    }

    #[test]
    fn an_unknown_field_names_the_line_and_the_field() {
        let text = "repository: webtest\nvariants:\n  simples: { dockerfile: docker/Dockerfile.simples, runn: true }\n";
        let err = parse(text).unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(
            err.message
                .contains("variants.simples: unknown field `runn`"),
            "{}",
            err.message
        );
        assert!(err
            .to_string()
            .starts_with(&format!("{}:3: ", dir().join("images.yaml").display())));
    }

    #[test]
    fn an_unknown_budget_kind_is_an_error() {
        let text = format!("{MINIMAL}budgets:\n  - max_sise: {{ image: simples, bytes: 1 }}\n");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.line, Some(5));
        assert!(
            err.message.contains("unknown variant `max_sise`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_budget_naming_an_unknown_variant_is_located() {
        let text = format!("{MINIMAL}budgets:\n  - max_size: {{ image: simples, bytes: 1 }}\n  - max_size: {{ image: nope, bytes: 1 }}\n");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.line, Some(6), "{err}");
        assert!(
            err.message.contains("budgets[1]: no variant `nope`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_missing_dockerfile_is_an_error() {
        let text = "repository: webtest\nvariants:\n  simples: { dockerfile: docker/Nope }\n";
        let err = parse(text).unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("does not exist"), "{}", err.message);
    }

    #[test]
    fn a_base_with_an_unknown_recipe_is_an_error() {
        let text = format!("{MINIMAL}bases:\n  RUST_IMAGE: {{ image: rust:1, offline: nope }}\n");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.line, Some(5));
        assert!(err.message.contains("no recipe `nope`"));
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
        let text = format!("{MINIMAL}budgets:\n  - max_size: {{ image: simples, bytes: 3 MB }}\n");
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
    }

    #[test]
    fn selecting_an_unknown_variant_is_a_usage_error() {
        let m = parse(MINIMAL).unwrap();
        assert_eq!(m.select(&[]).unwrap(), vec!["simples".to_string()]);
        let err = m.select(&["nope".into()]).unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some());
    }
}
