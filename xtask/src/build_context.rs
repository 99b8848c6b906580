//! The build context: a tar of the context directory that honours `.dockerignore` the way the
//! Docker CLI does, written the same way every time so that an unchanged tree hits the build
//! cache.
//!
//! The rules follow Docker's: patterns are matched against paths relative to the context, with
//! `*` and `?` not crossing `/` and `**` crossing any number of directories; a leading `/` is
//! dropped; a pattern that matches a directory excludes everything in it; `!` re-includes; the
//! last matching pattern wins.

use std::path::Path;

use anyhow::{Context, Result};
use globset::{GlobBuilder, GlobMatcher};

/// The compiled `.dockerignore` of a context.
pub struct Ignore {
    rules: Vec<(GlobMatcher, bool)>,
    /// The cleaned text of the `!` patterns, to decide which excluded directories to enter.
    exceptions: Vec<String>,
}

impl Ignore {
    /// Reads `<context>/.dockerignore`; a context without one excludes nothing.
    pub fn load(context: &Path) -> Result<Ignore> {
        let path = context.join(".dockerignore");
        match std::fs::read_to_string(&path) {
            Ok(text) => Ignore::parse(&text).with_context(|| format!("read {}", path.display())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Ignore {
                rules: Vec::new(),
                exceptions: Vec::new(),
            }),
            Err(err) => Err(err).with_context(|| format!("read {}", path.display())),
        }
    }

    pub fn parse(text: &str) -> Result<Ignore> {
        let mut rules = Vec::new();
        let mut exceptions = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negated, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let pattern = clean(pattern);
            if pattern.is_empty() {
                continue;
            }
            let glob = GlobBuilder::new(&pattern)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .with_context(|| format!("line {}: bad pattern `{line}`", index + 1))?;
            rules.push((glob.compile_matcher(), negated));
            if negated {
                exceptions.push(pattern);
            }
        }
        Ok(Ignore { rules, exceptions })
    }

    /// Whether a path (relative, `/`-separated) is left out of the context.
    pub fn excludes(&self, path: &str) -> bool {
        let mut excluded = false;
        for (glob, negated) in &self.rules {
            // A pattern that matches a parent directory matches everything inside it.
            let matched = ancestors(path).any(|candidate| glob.is_match(candidate));
            if matched {
                excluded = !negated;
            }
        }
        excluded
    }

    /// Whether an excluded directory may hold a path that an exception brings back, so that the
    /// walk must go into it. The Docker CLI decides it the same way: an exception pattern that
    /// starts with the directory's path.
    fn may_reinclude(&self, dir: &str) -> bool {
        let dir = format!("{dir}/");
        self.exceptions
            .iter()
            .any(|pattern| format!("{pattern}/").starts_with(&dir))
    }
}

/// `a/b/c` → `a/b/c`, `a/b`, `a`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let current = next?;
        next = current.rfind('/').map(|i| &current[..i]);
        Some(current)
    })
}

/// Docker cleans patterns like Go's `filepath.Clean` and drops a leading `/`.
fn clean(pattern: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// Writes the context as an uncompressed tar, sorted by path, with owners and timestamps fixed
/// so that the same tree always gives the same bytes.
///
/// `.dockerignore` and the paths in `always` (the Dockerfiles) go in even when `.dockerignore`
/// leaves them out, as the Docker CLI sends them: the engine needs the Dockerfile to build, and
/// it drops both from the context again when `.dockerignore` excludes them, so that `COPY . .`
/// does not see them.
pub fn tar(context: &Path, always: &[&str]) -> Result<Vec<u8>> {
    tar_with(context, always, None)
}

/// Whether the context's `.dockerignore` leaves `path` out: then the engine reads it as the
/// Dockerfile and drops it from what `COPY` sees, so its text is no part of any cache key.
pub fn excludes(context: &Path, path: &str) -> Result<bool> {
    Ok(Ignore::load(context)?.excludes(&clean(path)))
}

/// [`tar`], with the file at `replaced.0` (one of `always`) holding `replaced.1` instead of what
/// is on disk: the Dockerfile with the tool's labels in it.
pub fn tar_with(
    context: &Path,
    always: &[&str],
    replaced: Option<(&str, &[u8])>,
) -> Result<Vec<u8>> {
    let ignore = Ignore::load(context)?;
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let mut walk = walkdir::WalkDir::new(context)
        .sort_by_file_name()
        .min_depth(1)
        .into_iter();
    while let Some(entry) = walk.next() {
        let entry = entry.with_context(|| format!("walk the context {}", context.display()))?;
        let relative = entry
            .path()
            .strip_prefix(context)
            .expect("walkdir stays inside the root");
        let name = relative.to_string_lossy().replace('\\', "/");
        let is_dir = entry.file_type().is_dir();
        let needed = name == ".dockerignore" || always.iter().any(|path| clean(path) == name);
        if ignore.excludes(&name) && !needed {
            // An excluded directory is still walked when an exception may bring back something
            // inside it (`*` then `!webtest/src`), as the Docker CLI does.
            let holds_needed = always
                .iter()
                .any(|path| clean(path).starts_with(&format!("{name}/")));
            if is_dir && !ignore.may_reinclude(&name) && !holds_needed {
                walk.skip_current_dir();
            }
            continue;
        }
        let metadata = entry
            .path()
            .symlink_metadata()
            .with_context(|| format!("stat {}", entry.path().display()))?;
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(&metadata, tar::HeaderMode::Deterministic);
        header.set_mtime(0);
        if is_dir {
            builder.append_data(&mut header, format!("{name}/"), std::io::empty())?;
        } else if entry.file_type().is_symlink() {
            let target = std::fs::read_link(entry.path())?;
            builder.append_link(&mut header, &name, target)?;
        } else if let Some((_, text)) = replaced.filter(|(path, _)| clean(path) == name) {
            header.set_size(text.len() as u64);
            builder.append_data(&mut header, &name, text)?;
        } else {
            let file = std::fs::File::open(entry.path())
                .with_context(|| format!("read {}", entry.path().display()))?;
            builder.append_data(&mut header, &name, file)?;
        }
    }
    builder.into_inner().context("finish the context tar")
}

/// The paths a context tar holds, for tests and for messages.
#[cfg(test)]
fn names(tar: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_follow_docker_rules() {
        let ignore =
            Ignore::parse("# comment\n*\n!webtest/src\n!Cargo.toml\n/target\n**/*.bak\n").unwrap();
        assert!(ignore.excludes("README.md"));
        assert!(ignore.excludes("webtest"));
        assert!(ignore.excludes("webtest/Cargo.toml"));
        assert!(!ignore.excludes("webtest/src"));
        assert!(!ignore.excludes("webtest/src/main.rs"));
        assert!(ignore.excludes("webtest/src/old.bak"));
        assert!(!ignore.excludes("Cargo.toml"));
        assert!(ignore.excludes("target/debug/x"));
        assert!(ignore.may_reinclude("webtest"));
        assert!(!ignore.may_reinclude("target"));
    }

    #[test]
    fn star_does_not_cross_directories_but_double_star_does() {
        let ignore = Ignore::parse("docs/*.md\n**/secret\n").unwrap();
        assert!(ignore.excludes("docs/a.md"));
        assert!(!ignore.excludes("docs/sub/a.md"));
        assert!(ignore.excludes("a/b/secret"));
        assert!(ignore.excludes("secret"));
    }

    #[test]
    fn patterns_are_cleaned() {
        assert_eq!(clean("/target/"), "target");
        assert_eq!(clean("./a//b/../c"), "a/c");
    }

    #[test]
    fn the_project_context_holds_only_what_the_images_need() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let tar = tar(root, &["docker/Dockerfile.simples"]).unwrap();
        let names = names(&tar);
        for needed in [
            "Cargo.toml",
            "Cargo.lock",
            "webtest/Cargo.toml",
            "webtest/src/main.rs",
            "xtask/Cargo.toml",
            "docker/Dockerfile.simples",
        ] {
            assert!(
                names.iter().any(|n| n == needed),
                "{needed} missing from {names:?}"
            );
        }
        for name in &names {
            assert!(
                !name.starts_with("target")
                    && !name.starts_with(".git/")
                    && !name.starts_with("xtask/src"),
                "{name} is in the context"
            );
        }
        // The same tree gives the same bytes, so the build cache sees no change.
        assert_eq!(
            tar,
            super::tar(root, &["docker/Dockerfile.simples"]).unwrap()
        );
        assert!(!names.iter().any(|n| n == "docker/images.yaml"));
    }
}
