//! `cargo xtask report`: renders `report.md` and `sizes.svg` again from the last `report.json`,
//! without the engine; and the one function that writes a report's files, which `compare` uses
//! too.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::ctx::Ctx;
use crate::error::UsageError;
use crate::model::Report;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The report to render, relative to the workspace root (default: target/xtask/report.json).
    #[arg(long, value_name = "PATH")]
    pub input: Option<PathBuf>,
}

/// The files a report was written to.
pub struct Written {
    pub json: PathBuf,
    pub markdown: PathBuf,
    pub svg: PathBuf,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let input = ctx.path_or(args.input.as_deref(), ctx.out_dir().join("report.json"));
    let text = std::fs::read_to_string(&input).map_err(|err| {
        UsageError(format!(
            "cannot read {}: {err} (run `cargo xtask compare` first to make it)",
            input.display()
        ))
    })?;
    let report: Report = serde_json::from_str(&text).map_err(|err| {
        UsageError(format!(
            "{}:{}: not a report: {err}",
            input.display(),
            err.line()
        ))
    })?;
    let dir = input.parent().unwrap_or(Path::new("."));
    let written = write(dir, &report)?;
    print!("{}", crate::report::terminal(&report, ctx.style));
    eprintln!(
        "rendered {} and {}",
        written.markdown.display(),
        written.svg.display()
    );
    Ok(())
}

/// Writes `report.json`, `report.md` and `sizes.svg` into `dir`, and appends the Markdown to
/// `$GITHUB_STEP_SUMMARY` when that is set (as it is in a GitHub Actions step).
pub fn write(dir: &Path, report: &Report) -> Result<Written> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let written = Written {
        json: dir.join("report.json"),
        markdown: dir.join("report.md"),
        svg: dir.join("sizes.svg"),
    };
    let markdown = crate::report::markdown(report, Some("sizes.svg"));
    write_file(&written.json, &crate::report::json(report))?;
    write_file(&written.markdown, &markdown)?;
    write_file(&written.svg, &crate::report::svg(report))?;
    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty()) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary)
            .with_context(|| {
                format!(
                    "open GITHUB_STEP_SUMMARY {}",
                    PathBuf::from(&summary).display()
                )
            })?;
        // The chart file is not where the summary is shown, so the summary goes without it.
        let summary_markdown = crate::report::markdown(report, None);
        file.write_all(summary_markdown.as_bytes())
            .context("append to GITHUB_STEP_SUMMARY")?;
    }
    Ok(written)
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
}
