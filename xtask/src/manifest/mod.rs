//! The manifest `docker/images.yaml`: read, checked, and handed to the rest of xtask as a
//! [`Manifest`]. Unknown fields are errors, and every error names the file, the line, the column
//! and the field, so a typo fails loudly instead of silently turning a check off.
//!
//! serde_yaml deserialises the manifest but keeps no positions once a value is parsed, so the
//! text is also read as a stream of YAML events (with yaml-rust2), which gives every field path
//! its exact line and column for the errors that validation finds. The work is split by job:
//! `schema` is the serde model, `positions` the event walker, `validate` what serde cannot check,
//! and `messages` the rewording of serde_yaml's errors around the field path.

mod additions;
mod app_set;
mod messages;
mod positions;
mod schema;
#[cfg(test)]
mod tests;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use indexmap::IndexMap;

use crate::error::UsageError;

use messages::{serde_error, syntax_error};
use positions::{Pos, Spots};
use schema::Raw;
use validate::{join_keys, Check};

// The whole serde model is public, also the parts no other module names yet, so that the type
// of every field of a `Manifest` can be named.
pub use schema::*;

pub use app_set::load_apps;

/// The manifest, read and checked, with its paths resolved.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The file it was read from, for messages.
    pub path: PathBuf,
    /// The app's name, which `compare --app` takes, e.g. `rust`.
    pub app: String,
    /// The other apps' manifests that `compare` covers too, absolute.
    pub apps: Vec<PathBuf>,
    pub repository: String,
    /// The build context, absolute.
    pub context: PathBuf,
    pub port: u16,
    pub description: Option<String>,
    /// `version_from`, absolute: the file the images' version label is read from.
    pub version_from: Option<PathBuf>,
    pub debian: Debian,
    pub bases: IndexMap<String, Base>,
    pub recipes: IndexMap<String, Recipe>,
    /// The registry image `compare` starts for the push and pull round trip: the official one
    /// when it is present or can be pulled, else the local stand-in its `offline` recipe makes.
    pub registry: Option<Base>,
    pub variants: IndexMap<String, Variant>,
    pub probe: Vec<Probe>,
    pub run: RunSettings,
    pub structure: Vec<StructureTest>,
    pub budgets: Vec<Budget>,
    /// The source file that `compare --edit-cost` appends one line to, relative to the context.
    pub edit: Option<PathBuf>,
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
        Manifest::parse(&text, path)
    }

    /// Parses and validates manifest text without reading it from a file; `path` is where the
    /// text is said to come from, for the context and for messages. Every error is a
    /// [`UsageError`] (exit code 2) that starts with `file:line:column:`.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest> {
        Manifest::parse_located(text, path)
            .map_err(|err| anyhow::Error::new(UsageError(err.to_string())))
    }

    /// [`Manifest::parse`] with the error's parts kept apart, for the tests of positions.
    fn parse_located(text: &str, path: &Path) -> Result<Manifest, ManifestError> {
        let file = path.to_path_buf();
        let spots = match Spots::read(text) {
            Ok(spots) => spots,
            Err(scan) => return Err(syntax_error(&file, text, &scan)),
        };
        let check = Check {
            file: &file,
            spots: &spots,
        };
        check.document()?;
        let raw: Raw =
            serde_yaml::from_str(text).map_err(|err| serde_error(&file, &err, &spots))?;
        let context = check.validate(&raw, path)?;
        let version_from = raw.version_from.map(|file| context.join(file));

        let dir = path.parent().unwrap_or(Path::new("."));
        Ok(Manifest {
            path: file,
            app: raw.app.unwrap_or_else(|| raw.repository.clone()),
            apps: raw.apps.iter().map(|app| dir.join(app)).collect(),
            repository: raw.repository,
            context,
            port: raw.port,
            description: raw.description,
            version_from,
            debian: raw.debian,
            bases: raw.bases,
            recipes: raw.recipes,
            registry: raw.registry,
            variants: raw.variants,
            probe: raw.probe,
            run: raw.run,
            structure: raw.structure,
            budgets: raw.budgets,
            edit: raw.edit,
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
