//! `cargo xtask analyze IMAGE|ARCHIVE`: the image analysis alone, as dive's `--source
//! docker-archive` gives it. An archive file (any `docker save` layout) is read without the
//! engine, which is not even connected to; an image name is exported from the engine. The JSON
//! is the image entry `compare` writes to `report.json`, without the run; with
//! `--no-compressed-size` its `compressed_bytes` is null, for plain layers are not deflated.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::analysis::{self, Analyses, Cache};
use crate::ctx::Ctx;
use crate::engine::Engine;
use crate::error::UsageError;
use crate::model::ImageReport;
use crate::report;
use crate::report::progress::Progress;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// An image in the engine (`webtest:multistage`), or a `docker save` archive file in any
    /// layout (classic; OCI with plain, gzip or zstd layers), relative to the workspace root or
    /// absolute. An existing file is taken for an archive and needs no engine.
    #[arg(value_name = "IMAGE|ARCHIVE")]
    pub source: String,
    /// What goes to standard output: the figures for people, or the image entry of report.json.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Read every layer again (and export the image again), neither taking nor keeping results
    /// in target/xtask/analysis-cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Do not deflate plain layers for what a registry would store, most of a cold analysis's
    /// time: the compressed size is then not computed (null in the JSON); every other figure is
    /// the same.
    #[arg(long)]
    pub no_compressed_size: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

/// Where the image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A `docker save` archive file, read without the engine.
    Archive(PathBuf),
    /// An image in the engine, by name or ID.
    Image(String),
}

/// What one `analyze` run does, decided from the flags before any I/O but a look at the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub source: Source,
    pub format: Format,
    pub cache: Cache,
    /// Whether the compressed size is computed.
    pub compressed_size: bool,
}

impl Plan {
    pub fn new(ctx: &Ctx, args: Args) -> Result<Plan> {
        let path = ctx.root.join(&args.source);
        let source = if path.is_file() {
            Source::Archive(path)
        } else if looks_like_a_path(&args.source) {
            return Err(UsageError(format!(
                "there is no archive {}: give an image name or the path of a `docker save` archive",
                path.display()
            ))
            .into());
        } else {
            Source::Image(args.source)
        };
        let cache = if args.no_cache {
            Cache::Off
        } else {
            Cache::under(&ctx.out_dir())
        };
        Ok(Plan {
            source,
            format: args.format,
            cache,
            compressed_size: !args.no_compressed_size,
        })
    }
}

/// A name no image can have: a path that starts at the root or the current folder, or names a
/// tar file. Docker's image names are lowercase and never end in `.tar`.
fn looks_like_a_path(source: &str) -> bool {
    source.starts_with('/')
        || source.starts_with("./")
        || source.starts_with("../")
        || [".tar", ".tar.gz", ".tgz", ".tar.zst"]
            .iter()
            .any(|ext| source.ends_with(ext))
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let plan = Plan::new(ctx, args)?;
    let analyses = if plan.compressed_size {
        Analyses::new(&plan.cache)?
    } else {
        Analyses::without_compressed_size(&plan.cache)?
    };
    let progress = Progress::new(ctx.style);
    let (image, analysis) = match &plan.source {
        Source::Archive(path) => {
            let phase = progress.phase(&format!("analyse {}", path.display()));
            let analysis = analyses.archive(path).await?;
            phase.finish(&format!("analysed {}", path.display()));
            let (facts, history) = analysis::archive_facts(path, &analysis)?;
            let tag = analysis
                .tags
                .first()
                .cloned()
                .unwrap_or_else(|| file_name(path));
            let image = analysis::image_report(variant(&tag), &tag, &facts, &history, &analysis);
            (image, analysis)
        }
        Source::Image(name) => {
            let engine = Engine::connect().await?;
            let facts = engine
                .image(name)
                .await?
                .with_context(|| format!("there is no image {name} in the engine"))?;
            let history = engine.history(name).await?;
            let phase = progress.phase(&format!("analyse {name}: export and read the layers"));
            let analysis = analyses.image(&engine, name, &facts.id).await?;
            phase.finish(&format!("analysed {name}"));
            let image = analysis::image_report(variant(name), name, &facts, &history, &analysis);
            (image, analysis)
        }
    };
    match plan.format {
        Format::Table => print!("{}", report::analysis(&image, &analysis, ctx.style)),
        Format::Json if analysis.compressed_bytes.is_none() => {
            print!("{}", without_compressed_size(&image)?)
        }
        Format::Json => print!("{}", report::image_json(&image)),
    }
    Ok(())
}

/// The image entry as `report::image_json` writes it, with `compressed_bytes` null: the entry's
/// number stands for nothing when the analysis did not compute the size.
fn without_compressed_size(image: &ImageReport) -> Result<String> {
    let mut entry = serde_json::to_value(image).context("serialise the image entry")?;
    entry["compressed_bytes"] = serde_json::Value::Null;
    let mut text = serde_json::to_string_pretty(&entry).context("serialise the image entry")?;
    text.push('\n');
    Ok(text)
}

/// The variant of a tag as `compare` names it: what follows the last colon of the name.
fn variant(tag: &str) -> &str {
    let name = tag.rsplit('/').next().unwrap_or(tag);
    name.rsplit_once(':').map_or("latest", |(_, tag)| tag)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variant_is_the_tag() {
        assert_eq!(variant("webtest:multistage"), "multistage");
        assert_eq!(variant("localhost:5000/webtest"), "latest");
        assert_eq!(variant("webtest-base/rust:1.95.0"), "1.95.0");
    }

    #[test]
    fn the_entry_without_the_compressed_size_is_the_entry_with_null_there() {
        let layers = [crate::analysis::tests::layer(&[("a", "0123")])];
        let archive = crate::analysis::tests::image(&layers);
        let analysis = crate::analysis::analyze(archive.as_slice()).unwrap();
        let facts = crate::engine::ImageFacts {
            id: analysis.config_digest.clone(),
            size: analysis.size_bytes,
            layers: analysis.layers.iter().map(|l| l.diff_id.clone()).collect(),
            labels: Default::default(),
            user: "10001".into(),
            entrypoint: Vec::new(),
            cmd: vec!["/x".into()],
            exposed_ports: Vec::new(),
            healthcheck: None,
        };
        let image = analysis::image_report("y", "x:y", &facts, &[], &analysis);
        let full: serde_json::Value = serde_json::from_str(&report::image_json(&image)).unwrap();
        let text = without_compressed_size(&image).unwrap();
        assert!(text.ends_with("}\n"));
        let mut light: serde_json::Value = serde_json::from_str(&text).unwrap();
        // The field is there, null, and everything else is as compare writes it.
        assert!(light["compressed_bytes"].is_null());
        assert!(full["compressed_bytes"].as_u64().unwrap() > 0);
        light["compressed_bytes"] = full["compressed_bytes"].clone();
        assert_eq!(light, full);
    }

    #[test]
    fn paths_are_told_from_image_names() {
        assert!(looks_like_a_path("target/x/image.tar"));
        assert!(looks_like_a_path("./image"));
        assert!(looks_like_a_path("/tmp/image"));
        assert!(!looks_like_a_path("webtest:multistage"));
        assert!(!looks_like_a_path("webtest-base/rust:1.95.0"));
    }
}
