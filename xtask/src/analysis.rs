//! The image analysis as the xtask uses it: a thin adapter over the `image-analysis` crate, which
//! reads any `docker save` layout and computes dive's figures. This module decides where the
//! per-layer cache lives, feeds the crate the export stream of an image in the engine (through
//! `crate::engine`, the one place that talks to Docker), reads the config an archive file
//! carries, and turns an analysis into the image entry of `report.json`.
//!
//! Every analysis computes the compressed size (what a registry would store, which `compare`'s
//! `report.json` always carries) unless it is made by [`Analyses::without_compressed_size`], for
//! `analyze --no-compressed-size` and the benchmark against dive, which does not compute it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use image_analysis::{Analyzer, Options};
use serde::Deserialize;

pub use image_analysis::{Analysis, Node};

use crate::engine::{Engine, HistoryEntry, ImageFacts};
use crate::model::{ImageConfig, ImageReport, Layer, PathSize, Posture};

/// Whether layer results are taken from and kept in a cache between runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cache {
    /// The cache folder; every layer the cache knows is only drained and its digest checked.
    Use(PathBuf),
    /// Read every layer, keep nothing.
    Off,
}

impl Cache {
    /// `target/xtask/analysis-cache`, the one cache every command shares.
    pub fn under(out_dir: &Path) -> Cache {
        Cache::Use(out_dir.join("analysis-cache"))
    }
}

/// The analyser of one run: one pool of threads and one cache for every image, cheap to clone
/// into blocking tasks.
///
/// The cache has two tiers. The crate keeps every layer's figures by digest, so that an image
/// with a new top layer only reads that layer; but it still needs the export, which the engine
/// makes at some 100 MB/s, so an image the engine knows by an ID analysed before is taken whole
/// from `images-v2/<id>.json` (an ID names one content forever) and never exported.
#[derive(Clone)]
pub struct Analyses {
    analyzer: Arc<Analyzer>,
    /// Where whole analyses are kept by image ID, when the cache is used.
    images: Option<PathBuf>,
    /// Whether plain layers are deflated for the compressed size.
    compressed_size: bool,
}

impl Analyses {
    /// Analyses with every figure, the compressed size included.
    pub fn new(cache: &Cache) -> Result<Analyses> {
        Analyses::with(cache, true)
    }

    /// Analyses that do not deflate plain layers, most of a cold analysis's time: their
    /// compressed size, and the image's, is `None`. dive's figures and the rest are the same.
    pub fn without_compressed_size(cache: &Cache) -> Result<Analyses> {
        Analyses::with(cache, false)
    }

    fn with(cache: &Cache, compressed_size: bool) -> Result<Analyses> {
        let cache_dir = match cache {
            Cache::Use(dir) => Some(dir.clone()),
            Cache::Off => None,
        };
        let analyzer = Analyzer::new(Options {
            cache_dir: cache_dir.clone(),
            compressed_size,
            ..Options::default()
        })
        .context("start the image analysis")?;
        Ok(Analyses {
            analyzer: Arc::new(analyzer),
            images: cache_dir.map(|dir| dir.join("images-v2")),
            compressed_size,
        })
    }

    /// Analyses an image in the engine, known there by `id`: from the cache when this ID was
    /// analysed before (with the compressed size, when these analyses want it), otherwise from
    /// its export stream, read once as it arrives.
    pub async fn image(&self, engine: &Engine, name: &str, id: &str) -> Result<Analysis> {
        let file = self
            .images
            .as_ref()
            .map(|dir| dir.join(format!("{}.json", id.trim_start_matches("sha256:"))));
        if let Some(analysis) = file
            .as_deref()
            .and_then(remembered)
            .and_then(|kept| self.reuse(kept))
        {
            return Ok(analysis);
        }
        let (reader, pump) = read_ahead(engine.export(name));
        let analyzer = Arc::clone(&self.analyzer);
        let analysis = tokio::task::spawn_blocking(move || analyzer.analyze_stream(reader))
            .await
            .context("the analysis stopped");
        pump.abort();
        let analysis = analysis?.with_context(|| format!("analyse image {name}"))?;
        if let Some(file) = file {
            remember(&file, &analysis)?;
        }
        Ok(analysis)
    }

    /// A whole analysis kept before, as these analyses would make it: `None` when it lacks the
    /// compressed size they want (it was made without), and without that size when they do not
    /// want it (as the crate does with a cached layer, so that what an analysis says does not
    /// depend on the run before it).
    fn reuse(&self, mut kept: Analysis) -> Option<Analysis> {
        if self.compressed_size && kept.compressed_bytes.is_none() {
            return None;
        }
        for layer in &mut kept.layers {
            layer.cached = true;
        }
        Some(if self.compressed_size {
            kept
        } else {
            kept.without_compressed_size()
        })
    }

    /// Analyses the first image of a `docker save` archive file, without the engine.
    pub async fn archive(&self, path: &Path) -> Result<Analysis> {
        let analyzer = Arc::clone(&self.analyzer);
        let file = path.to_path_buf();
        tokio::task::spawn_blocking(move || analyzer.analyze_file(&file))
            .await
            .context("the analysis stopped")?
            .with_context(|| format!("analyse the archive {}", path.display()))
    }
}

/// How much of an export is read ahead of the analysis: 256 chunks of 256 KiB, 64 MiB at most.
const AHEAD_CHUNKS: usize = 256;
const CHUNK_BYTES: usize = 256 * 1024;

/// The export as a blocking reader, read from the engine by a task of its own into memory ahead
/// of the analysis. The engine writes the export as the reader takes it: read in step with the
/// analysis, every moment the analysis spends on a layer (hashing it, walking its files) would
/// stall the export too, and an image's analysis would take the export's time plus its own
/// (about a second more for `target`'s 1.25 GB). The task ends when the export does, or when the
/// reader is dropped; the caller aborts it once the analysis is over.
fn read_ahead(
    mut export: impl tokio::io::AsyncRead + Send + Unpin + 'static,
) -> (AheadReader, tokio::task::JoinHandle<()>) {
    use tokio::io::AsyncReadExt;
    let (chunks, rx) = tokio::sync::mpsc::channel(AHEAD_CHUNKS);
    let pump = tokio::spawn(async move {
        loop {
            let mut chunk = Vec::with_capacity(CHUNK_BYTES);
            let read = (&mut export)
                .take(CHUNK_BYTES as u64)
                .read_to_end(&mut chunk)
                .await;
            match read {
                Ok(0) => break,
                Ok(_) => {
                    // A reader that is gone wants no more.
                    if chunks.send(Ok(chunk)).await.is_err() {
                        break;
                    }
                }
                Err(err) => {
                    let _ = chunks.send(Err(err)).await;
                    break;
                }
            }
        }
    });
    let reader = AheadReader {
        rx,
        chunk: Vec::new(),
        at: 0,
    };
    (reader, pump)
}

/// The reading end of [`read_ahead`].
struct AheadReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for AheadReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.chunk.len() {
            match self.rx.blocking_recv() {
                Some(chunk) => {
                    self.chunk = chunk?;
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A whole analysis kept before; `None` when there is none or it does not read (another
/// version wrote it), so that it is made again.
fn remembered(file: &Path) -> Option<Analysis> {
    crate::json_file::read(file)
}

fn remember(file: &Path, analysis: &Analysis) -> Result<()> {
    crate::json_file::write_atomically(file, &serde_json::to_vec(analysis)?)
}

/// Analyses a `docker save` stream with no cache: what the unit tests of the checks use.
#[cfg(test)]
pub fn analyze(reader: impl Read) -> Result<Analysis> {
    image_analysis::analyze_stream(reader, &Options::default())
}

/// The image entry of `report.json`: what the engine (or the archive) says of the image, and
/// what its analysis found. The run is left to the caller.
///
/// `report.json` always carries the compressed size, and every analysis but those of
/// [`Analyses::without_compressed_size`] has it. Of one of those, the entry's `compressed_bytes`
/// is 0 until the caller sets it: `compare` sets the bytes the registry stores for the image, its
/// `pushed_bytes` (it analyses an image the registry took without deflating), and
/// `analyze --no-compressed-size` writes it as null and shows the size as not computed.
pub fn image_report(
    variant: &str,
    tag: &str,
    facts: &ImageFacts,
    history: &[HistoryEntry],
    analysis: &Analysis,
) -> ImageReport {
    ImageReport {
        app: String::new(),
        variant: variant.to_string(),
        tag: tag.to_string(),
        id: facts.id.clone(),
        size_bytes: facts.size,
        compressed_bytes: analysis.compressed_bytes.unwrap_or_default(),
        layer_count: facts.layers.len(),
        layers: history
            .iter()
            .map(|h| Layer {
                size_bytes: h.size,
                created_by: h.created_by.clone(),
            })
            .collect(),
        efficiency: analysis.efficiency,
        wasted_bytes: analysis.wasted_bytes,
        reclaimable_bytes: analysis.reclaimable_bytes,
        hidden_bytes: analysis.hidden_bytes,
        file_count: analysis.file_count,
        largest_files: largest_files(analysis),
        config: ImageConfig {
            user: facts.user.clone(),
            entrypoint: facts.entrypoint.clone(),
            cmd: facts.cmd.clone(),
            exposed_ports: facts.exposed_ports.clone(),
            healthcheck: facts.healthcheck.clone(),
            labels: facts.labels.clone(),
        },
        posture: Posture {
            runs_as_root: crate::model::is_root(&facts.user),
            has_shell: analysis.has_shell(),
            has_package_manager: analysis.has_package_manager(),
        },
        run: None,
        base: None,
        bases: Vec::new(),
        edit_cost: None,
        transfer: None,
        components: None,
    }
}

/// The report's ten largest files.
pub fn largest_files(analysis: &Analysis) -> Vec<PathSize> {
    analysis
        .largest_files
        .iter()
        .take(10)
        .map(|file| PathSize {
            path: file.path.clone(),
            size_bytes: file.size_bytes,
        })
        .collect()
}

/// What `docker image inspect` and `docker history` would say of the image of an archive file,
/// read from the config blob the archive carries: the image ID is the config's digest, the size
/// is dive's (the sum of the layers' entries), and each history entry that made a layer gets that
/// layer's size.
pub fn archive_facts(path: &Path, analysis: &Analysis) -> Result<(ImageFacts, Vec<HistoryEntry>)> {
    let config = read_config(path, &analysis.config_digest)?;
    let config: Config = serde_json::from_slice(&config)
        .with_context(|| format!("parse the image config {}", analysis.config_digest))?;
    let run = config.config.unwrap_or_default();
    let mut exposed_ports: Vec<String> =
        run.exposed_ports.unwrap_or_default().into_keys().collect();
    exposed_ports.sort();
    let facts = ImageFacts {
        id: analysis.config_digest.clone(),
        size: analysis.size_bytes,
        layers: analysis.layers.iter().map(|l| l.diff_id.clone()).collect(),
        labels: run.labels.unwrap_or_default(),
        user: run.user.unwrap_or_default(),
        entrypoint: run.entrypoint.unwrap_or_default(),
        cmd: run.cmd.unwrap_or_default(),
        exposed_ports,
        healthcheck: run
            .healthcheck
            .and_then(|h| h.test)
            .filter(|test| test.first().map(String::as_str) != Some("NONE")),
    };
    let mut sizes = analysis.layers.iter().map(|l| l.size_bytes);
    let history = config
        .history
        .into_iter()
        .map(|h| HistoryEntry {
            size: if h.empty_layer {
                0
            } else {
                sizes.next().unwrap_or(0)
            },
            created_by: h.created_by,
        })
        .collect();
    Ok((facts, history))
}

/// The bytes of the config blob `digest` in an archive file: `blobs/sha256/<hex>` in the OCI
/// layout, `<hex>.json` in the classic one.
fn read_config(path: &Path, digest: &str) -> Result<Vec<u8>> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let wanted = [format!("blobs/sha256/{hex}"), format!("{hex}.json")];
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut archive = tar::Archive::new(file);
    // Seeking skips the layers instead of reading them.
    for entry in archive
        .entries_with_seek()
        .with_context(|| format!("read {}", path.display()))?
    {
        let mut entry = entry.with_context(|| format!("read {}", path.display()))?;
        let name = entry.path()?.to_string_lossy().into_owned();
        if wanted.iter().any(|w| name.trim_start_matches("./") == w) {
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .with_context(|| format!("read {name} in {}", path.display()))?;
            return Ok(bytes);
        }
    }
    bail!("{} lacks the image config {digest}", path.display())
}

/// The parts of an image config (the OCI image spec's, which Docker's extends) the report uses.
#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    config: Option<RunConfig>,
    #[serde(default)]
    history: Vec<History>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RunConfig {
    user: Option<String>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    exposed_ports: Option<std::collections::BTreeMap<String, serde_json::Value>>,
    labels: Option<std::collections::BTreeMap<String, String>>,
    healthcheck: Option<Healthcheck>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Healthcheck {
    test: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct History {
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    empty_layer: bool,
}

#[cfg(test)]
pub mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    /// A layer tar from `(path, contents)` pairs; a path ending in `/` is a directory and a
    /// content starting with `->` makes a symbolic link.
    pub fn layer(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, contents) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o755);
            if path.ends_with('/') {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                builder
                    .append_data(&mut header, path, std::io::empty())
                    .unwrap();
            } else if let Some(target) = contents.strip_prefix("->") {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            } else {
                header.set_size(contents.len() as u64);
                builder
                    .append_data(&mut header, path, contents.as_bytes())
                    .unwrap();
            }
        }
        builder.into_inner().unwrap()
    }

    /// A classic `docker save` archive of the given layers, with a config that lists their diff
    /// IDs and a history, and manifest.json last as the engine writes it.
    pub fn image(layers: &[Vec<u8>]) -> Vec<u8> {
        let sha = |bytes: &[u8]| hex::encode(Sha256::digest(bytes));
        let diff_ids: Vec<String> = layers
            .iter()
            .map(|l| format!("sha256:{}", sha(l)))
            .collect();
        let history: Vec<serde_json::Value> = (0..layers.len())
            .map(|i| serde_json::json!({ "created_by": format!("layer {i}") }))
            .chain([serde_json::json!({ "created_by": "CMD [\"/x\"]", "empty_layer": true })])
            .collect();
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": { "User": "10001", "Cmd": ["/x"], "ExposedPorts": { "8080/tcp": {} } },
            "history": history,
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
        })
        .to_string();
        let config_name = format!("{}.json", sha(config.as_bytes()));
        let mut builder = tar::Builder::new(Vec::new());
        let mut append = |name: &str, bytes: &[u8]| {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            builder.append_data(&mut header, name, bytes).unwrap();
        };
        let mut names = Vec::new();
        for (index, layer) in layers.iter().enumerate() {
            let name = format!("{index:064}/layer.tar");
            append(&name, layer);
            names.push(name);
        }
        append(&config_name, config.as_bytes());
        let manifest = serde_json::json!([
            { "Config": config_name, "RepoTags": ["x:y"], "Layers": names }
        ])
        .to_string();
        append("manifest.json", manifest.as_bytes());
        builder.into_inner().unwrap()
    }

    #[test]
    fn the_figures_are_dives_and_the_duplicates_beside_them() {
        let base = layer(&[("etc/", ""), ("etc/big", "0123456789"), ("etc/keep", "abc")]);
        let top = layer(&[("etc/big", "01234")]);
        let a = analyze(image(&[base, top]).as_slice()).unwrap();
        // dive counts every copy of a path stored twice; deleting the duplicates saves the larger.
        assert_eq!(a.wasted_bytes, 15);
        assert_eq!(a.reclaimable_bytes, 10);
        // The smallest copies 5 + 3 over all copies 10 + 5 + 3.
        assert!((a.efficiency - 8.0 / 18.0).abs() < 1e-9);
        assert_eq!(a.file_count, 2);
    }

    /// A classic archive of two small layers in a directory of its own, for the tests that
    /// read one from a file; returns the directory (to remove) and the archive.
    fn two_layer_archive(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("xtask-analysis-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("image.tar");
        std::fs::write(
            &path,
            image(&[layer(&[("a", "0123")]), layer(&[("b", "01")])]),
        )
        .unwrap();
        (dir, path)
    }

    #[test]
    fn an_archive_file_gives_the_config_and_history_the_engine_would() {
        let (dir, path) = two_layer_archive("full");
        let analyses = Analyses::new(&Cache::Off).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let analysis = runtime.block_on(analyses.archive(&path)).unwrap();
        let (facts, history) = archive_facts(&path, &analysis).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(facts.id, analysis.config_digest);
        assert_eq!(facts.size, 6);
        assert_eq!(facts.user, "10001");
        assert_eq!(facts.exposed_ports, vec!["8080/tcp".to_string()]);
        let sizes: Vec<u64> = history.iter().map(|h| h.size).collect();
        assert_eq!(sizes, vec![4, 2, 0]);
        let report = image_report("y", "x:y", &facts, &history, &analysis);
        assert!(!report.posture.runs_as_root);
        assert_eq!(report.layer_count, 2);
        assert_eq!(report.layers[2].created_by, "CMD [\"/x\"]");
        assert_eq!(Some(report.compressed_bytes), analysis.compressed_bytes);
        assert!(report.compressed_bytes > 0);
    }

    #[test]
    fn without_the_compressed_size_it_is_absent_and_a_kept_analysis_serves_accordingly() {
        let (dir, path) = two_layer_archive("light");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let full = Analyses::new(&Cache::Off).unwrap();
        let light = Analyses::without_compressed_size(&Cache::Off).unwrap();
        let with = runtime.block_on(full.archive(&path)).unwrap();
        let without = runtime.block_on(light.archive(&path)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(with.compressed_bytes.is_some());
        assert_eq!(without.compressed_bytes, None);
        assert!(without.layers.iter().all(|l| l.compressed_bytes.is_none()));
        assert_eq!(
            (without.efficiency, without.wasted_bytes, &without.fs),
            (with.efficiency, with.wasted_bytes, &with.fs)
        );
        // A whole analysis kept without the size never stands in for one that wants it; one
        // kept with it serves both, each as it asked.
        assert_eq!(full.reuse(without.clone()), None);
        let reused = light.reuse(without.clone()).unwrap();
        assert_eq!(reused.compressed_bytes, None);
        assert!(reused.layers.iter().all(|l| l.cached));
        assert_eq!(
            full.reuse(with.clone()).unwrap().compressed_bytes,
            with.compressed_bytes
        );
        let reused = light.reuse(with.clone()).unwrap();
        assert_eq!(reused.compressed_bytes, None);
        assert!(reused.layers.iter().all(|l| l.compressed_bytes.is_none()));
    }

    #[test]
    fn an_export_read_ahead_arrives_whole_and_in_order_and_its_error_is_the_readers() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        // More than the chunks held ahead, so that the pump waits for the reader.
        let bytes: Vec<u8> = (0..(AHEAD_CHUNKS + 3) * CHUNK_BYTES + 17)
            .map(|i| (i % 251) as u8)
            .collect();
        let source: &'static [u8] = Box::leak(bytes.clone().into_boxed_slice());
        let read = runtime.block_on(async {
            let (mut reader, pump) = read_ahead(source);
            let read = tokio::task::spawn_blocking(move || {
                let mut read = Vec::new();
                reader.read_to_end(&mut read).map(|_| read)
            })
            .await
            .unwrap();
            pump.await.unwrap();
            read
        });
        assert!(read.unwrap() == bytes, "the bytes differ");

        // An export that breaks off: the reader gets the chunks read whole, then the error.
        struct Broken(usize);
        impl tokio::io::AsyncRead for Broken {
            fn poll_read(
                mut self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                if self.0 == 0 {
                    return std::task::Poll::Ready(Err(std::io::Error::other("connection reset")));
                }
                let n = self.0.min(buf.remaining());
                buf.put_slice(&vec![7; n]);
                self.0 -= n;
                std::task::Poll::Ready(Ok(()))
            }
        }
        let err = runtime.block_on(async {
            let (mut reader, _pump) = read_ahead(Broken(3 * CHUNK_BYTES + 5));
            tokio::task::spawn_blocking(move || {
                let mut read = Vec::new();
                let err = reader.read_to_end(&mut read).unwrap_err();
                (read.len(), err.to_string())
            })
            .await
            .unwrap()
        });
        assert_eq!(err, (3 * CHUNK_BYTES, "connection reset".to_string()));
    }
}
