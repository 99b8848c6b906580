//! What every command gets: where the project is, a shell rooted there, how to talk to people,
//! and the manifest's path. Made once by `run` before any command starts.

use std::path::{Path, PathBuf};

use crate::manifest::Manifest;
use crate::report::Style;

/// The context every command takes instead of a handful of parameters.
pub struct Ctx {
    /// The workspace root: every relative path on the command line is taken from here.
    pub root: PathBuf,
    pub sh: xshell::Shell,
    pub style: Style,
    /// `--manifest`, absolute.
    pub manifest_path: PathBuf,
}

impl Ctx {
    /// The context of a run from `root`, with the manifest given on the command line.
    pub fn new(root: PathBuf, manifest: &Path, style: Style) -> anyhow::Result<Ctx> {
        let sh = xshell::Shell::new()?;
        sh.change_dir(&root);
        Ok(Ctx {
            manifest_path: root.join(manifest),
            root,
            sh,
            style,
        })
    }

    /// Reads and checks the manifest. `run` calls this before it connects to the engine, so a
    /// bad manifest is reported without a single call to the engine.
    pub fn manifest(&self) -> anyhow::Result<Manifest> {
        Manifest::load(&self.manifest_path)
    }

    /// `target/xtask`, where reports and caches go.
    pub fn out_dir(&self) -> PathBuf {
        self.root.join("target").join("xtask")
    }

    /// A path given on the command line, taken from the workspace root like `--manifest`, or
    /// `default` when none was given.
    pub fn path_or(&self, given: Option<&Path>, default: PathBuf) -> PathBuf {
        given.map_or(default, |path| self.root.join(path))
    }
}

/// The workspace root, found from this crate's own manifest so that `cargo xtask` works from any
/// directory inside the project.
pub fn project_root() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    dir.parent().unwrap_or(dir).to_path_buf()
}
