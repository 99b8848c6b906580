//! What serde cannot check: the shape of the document, names that follow Docker's rules, paths
//! that exist, references between sections (a budget naming a variant, a base naming a recipe)
//! and limits that make sense. Each error points at the field it is about.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use indexmap::IndexMap;

use super::messages::{allowed, show};
use super::positions::{Pos, Shape, Spots};
use super::schema::{Budget, Raw, StructureTest, Variant};
use super::ManifestError;

/// Validation of a deserialised manifest, with the positions of its fields for the messages.
pub(super) struct Check<'a> {
    pub(super) file: &'a Path,
    pub(super) spots: &'a Spots,
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

    /// Refuses what is not one YAML mapping, and keys written twice, before serde reads it:
    /// serde_yaml would let a duplicate pass silently for a map (the last one wins) and report
    /// the others without a position.
    pub(super) fn document(&self) -> Result<(), ManifestError> {
        let spots = self.spots;
        if let Some(duplicate) = &spots.duplicate {
            return Err(self.at(
                Some(duplicate.at),
                format!(
                    "{}: duplicate key, first at line {}; each key may appear only once",
                    duplicate.path, duplicate.first.line
                ),
            ));
        }
        if let Some(at) = spots.second_document {
            return Err(self.at(
                Some(at),
                "the manifest must be one YAML document; this `---` starts a second".into(),
            ));
        }
        match &spots.root {
            Some(Shape::Mapping) => Ok(()),
            None => Err(self.at(
                Some(Pos::START),
                "the manifest is empty; it needs at least `repository:` and `variants:`".into(),
            )),
            Some(shape) => Err(self.at(
                spots.value("").or(Some(Pos::START)),
                format!(
                    "the manifest must be a mapping of fields such as `repository:` and `variants:`, not {}",
                    shape.describe()
                ),
            )),
        }
    }

    /// Checks what serde cannot, in the order of the file, and returns the absolute context.
    pub(super) fn validate(&self, raw: &Raw, path: &Path) -> Result<PathBuf, ManifestError> {
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
        if let Some(app) = raw.app.as_deref().filter(|app| !valid_name(app, false)) {
            return Err(self.fail(
                "app",
                format!("`{app}` is not a valid app name; use lowercase letters, digits, `.`, `_` and `-`"),
            ));
        }
        for (index, app) in raw.apps.iter().enumerate() {
            if !dir.join(app).is_file() {
                return Err(self.fail(
                    &format!("apps[{index}]"),
                    format!(
                        "`{}` (resolved to {}) is not a manifest file; paths are relative to this one",
                        app.display(),
                        dir.join(app).display()
                    ),
                ));
            }
        }
        if raw.port == 0 {
            return Err(self.not_allowed("port", raw.port));
        }
        let registry = raw
            .registry
            .iter()
            .map(|base| ("registry.offline".to_string(), base));
        let bases = raw
            .bases
            .iter()
            .map(|(arg, base)| (format!("bases.{arg}.offline"), base))
            .chain(registry);
        for (field, base) in bases {
            if let Some(recipe) = &base.offline {
                if !raw.recipes.contains_key(recipe) {
                    return Err(self.fail(
                        &field,
                        format!(
                            "no recipe `{recipe}` in `recipes` (known: {})",
                            join_keys(&raw.recipes)
                        ),
                    ));
                }
            }
        }
        if !valid_suite(&raw.debian.suite) {
            return Err(self.fail("debian.suite", not_a_suite(&raw.debian.suite)));
        }
        for (name, recipe) in &raw.recipes {
            if let Some(suites) = &recipe.suites {
                self.suites(name, suites)?;
            }
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
            if let Err((field, message)) = super::additions::check(recipe, dir) {
                return Err(self.fail(&format!("recipes.{name}.{field}"), message));
            }
        }
        if raw.variants.is_empty() {
            return Err(self.fail("variants", "at least one variant is needed"));
        }
        if let Some(file) = &raw.version_from {
            if !context.join(file).is_file() {
                return Err(self.fail(
                    "version_from",
                    format!(
                        "`{}` is not a file in the context {}",
                        file.display(),
                        context.display()
                    ),
                ));
            }
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
            self.tmpfs(&at, variant)?;
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
                    Budget::MaxSize { bytes, .. }
                    | Budget::MaxCompressed { bytes, .. }
                    | Budget::MaxPushedBytes { bytes, .. } => bytes.0.to_string(),
                    Budget::MinRatio { ratio, .. }
                    | Budget::MinEfficiency { ratio, .. }
                    | Budget::MaxOverhead { ratio, .. } => ratio.to_string(),
                    Budget::MaxLayers { layers, .. } => layers.to_string(),
                    Budget::MaxStopMs { ms, .. } | Budget::MaxDeployMs { ms, .. } => ms.to_string(),
                    Budget::MaxComponents { components, .. } => components.to_string(),
                    _ => String::new(),
                };
                return Err(self.not_allowed(&format!("{at}.{field}"), value));
            }
        }
        Ok(context)
    }
}

impl Check<'_> {
    /// A recipe's own `suites`: at least one, each a suite's name, none twice.
    fn suites(&self, recipe: &str, suites: &[String]) -> Result<(), ManifestError> {
        let at = format!("recipes.{recipe}.suites");
        if suites.is_empty() {
            return Err(self.fail(
                &at,
                "an empty list; name at least one suite, such as [bookworm, bookworm-backports], \
                 or leave `suites` out to take `debian.suite`",
            ));
        }
        for (index, suite) in suites.iter().enumerate() {
            let field = format!("{at}[{index}]");
            if !valid_suite(suite) {
                return Err(self.fail(&field, not_a_suite(suite)));
            }
            if let Some(first) = suites[..index].iter().position(|s| s == suite) {
                return Err(self.fail(
                    &field,
                    format!(
                        "`{suite}` is named twice (first as {at}[{first}]); name each suite once"
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl Check<'_> {
    /// A variant's `tmpfs`: only for a variant that runs hardened (any other has a writable
    /// root filesystem, or is never started), each an absolute path below `/` without `..`,
    /// none twice.
    fn tmpfs(&self, at: &str, variant: &Variant) -> Result<(), ManifestError> {
        if variant.tmpfs.is_empty() {
            return Ok(());
        }
        let field = format!("{at}.tmpfs");
        if !variant.run {
            return Err(self.fail(
                &field,
                "a tmpfs is mounted only when the variant runs, and this one has `run: false`; \
                 leave `tmpfs` out",
            ));
        }
        if !variant.hardened {
            return Err(self.fail(
                &field,
                "a tmpfs is mounted only in a hardened run, and this variant has `hardened: \
                 false` (its root filesystem is writable); leave `tmpfs` out, or run it hardened",
            ));
        }
        for (index, path) in variant.tmpfs.iter().enumerate() {
            let item = format!("{field}[{index}]");
            if !path.starts_with('/') {
                return Err(self.fail(
                    &item,
                    format!(
                        "{} is not an absolute path; write it from the root, such as /tmp",
                        show(path)
                    ),
                ));
            }
            let parts = Path::new(path).components();
            if parts.clone().any(|part| part == Component::ParentDir) {
                return Err(self.fail(
                    &item,
                    format!("`{path}` holds a `..`; name the folder itself, such as /tmp"),
                ));
            }
            if parts.clone().all(|part| part == Component::RootDir) {
                return Err(self.fail(
                    &item,
                    format!(
                        "`{path}` is the root filesystem itself, which stays read-only; name a \
                         folder below it, such as /tmp"
                    ),
                ));
            }
            // `/tmp`, `/tmp/` and `//tmp/.` are one folder, as the engine would mount it.
            let same = |other: &String| Path::new(other).components().eq(parts.clone());
            if let Some(first) = variant.tmpfs[..index].iter().position(same) {
                return Err(self.fail(
                    &item,
                    format!(
                        "`{path}` is named twice (first as {field}[{first}]); name each path once"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Why `suite` cannot name a Debian suite.
fn not_a_suite(suite: &str) -> String {
    format!(
        "{} is not a Debian suite; use lowercase letters, digits, `.`, `_` and `-`, such as `bookworm` or `bookworm-backports`",
        show(suite)
    )
}

/// A Debian suite or codename as it appears under `dists/`, kept to what an image tag may
/// also hold (a base is tagged with its suites): lowercase letters, digits, `.`, `_` and `-`,
/// starting with a letter or a digit.
pub(super) fn valid_suite(suite: &str) -> bool {
    !suite.is_empty()
        && suite.len() <= 64
        && suite
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        && suite
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
}

pub(super) fn join_keys<V>(map: &IndexMap<String, V>) -> String {
    map.keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Docker's rules for a repository (`with_slash`) or a tag, kept to the lowercase subset.
pub(super) fn valid_name(name: &str, with_slash: bool) -> bool {
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
