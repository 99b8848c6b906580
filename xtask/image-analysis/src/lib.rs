//! What a container image holds, read from a `docker save` archive in any of its layouts (the
//! classic `<id>/layer.tar` one, the OCI one with plain, gzip or zstd layers), from a file or
//! from a stream: dive's `efficiency` and `wasted_bytes` exactly as dive 0.13.1 computes them,
//! the bytes deleting the duplicates would save, what a registry would store, the merged
//! filesystem, and every layer's figures.
//!
//! What a registry would store needs every plain layer deflated at Docker's level, which costs
//! most of a cold analysis; [`Options::compressed_size`] turns it off, and the compressed sizes
//! of plain layers (and so of the image) are then `None`.
//!
//! Layers are read in parallel and their results are cached by digest in a directory the caller
//! chooses, so that after a source edit only the new layers are read. The crate knows nothing of
//! the engine: give it an archive path or the bytes of an export.
//!
//! ```no_run
//! use image_analysis::{Analyzer, Options};
//!
//! let analyzer = Analyzer::new(Options {
//!     cache_dir: Some("target/xtask/analysis-cache".into()),
//!     ..Options::default()
//! })?;
//! let analysis = analyzer.analyze_file("image.tar".as_ref())?;
//! println!("{} wasted, efficiency {}", analysis.wasted_bytes, analysis.efficiency);
//! # anyhow::Ok(())
//! ```

mod cache;
mod components;
mod dive;
mod gzip;
mod layer;
mod layout;
mod merge;
mod model;
mod source;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

pub use model::{
    Analysis, Components, Compression, GoModule, Layer, Layout, Node, Package, PackageDb, PathSize,
    WastedPath,
};

use cache::Cache;
use gzip::Budget;
use layer::{LayerRecord, Sniffed};
use layout::Image;
use source::{FileArchive, Met};

/// How to analyse.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the per-layer results are kept between runs; `None` reads every layer every time.
    pub cache_dir: Option<PathBuf>,
    /// Threads that read, decompress and compress layers; 0 takes one per core.
    pub threads: usize,
    /// How many of the largest files to list.
    pub largest_files: usize,
    /// How many of dive's inefficient paths to list.
    pub wasted_paths: usize,
    /// Whether plain layers are deflated for what a registry would store. Off, they are not
    /// deflated at all, and a plain layer's `compressed_bytes` (and the image's, when it has a
    /// plain layer) is `None`, even when the cache knows it; a layer stored compressed keeps its
    /// blob's size, which costs nothing.
    pub compressed_size: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cache_dir: None,
            threads: 0,
            largest_files: 10,
            wasted_paths: 10,
            compressed_size: true,
        }
    }
}

/// A layer the cache lacks: where it lies and the digest it should have.
struct Wanted {
    key: Option<String>,
    region: (u64, u64),
}

/// Analyses images; holds the threads and the cache, so one analyser serves many images.
pub struct Analyzer {
    pool: rayon::ThreadPool,
    threads: usize,
    cache: Option<Cache>,
    options: Options,
}

impl Analyzer {
    pub fn new(options: Options) -> Result<Self> {
        let threads = match options.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("image-analysis-{i}"))
            .build()
            .context("start the analysis threads")?;
        let cache = options.cache_dir.as_deref().map(Cache::open).transpose()?;
        Ok(Analyzer {
            pool,
            threads,
            cache,
            options,
        })
    }

    /// Analyses the image in a `docker save` archive on disk (any layout; of an archive of
    /// several images, the first). Only the layers the cache lacks are read, each where it lies
    /// in the file, several at once.
    pub fn analyze_file(&self, path: &Path) -> Result<Analysis> {
        first(self.file_images(path, 1)?)
    }

    /// Analyses every image of a `docker save` archive on disk, in the order the archive lists
    /// them; a layer the images share is read once.
    pub fn analyze_file_all(&self, path: &Path) -> Result<Vec<Analysis>> {
        self.file_images(path, usize::MAX)
    }

    /// Analyses the image in a `docker save` stream (any layout; of several images, the first),
    /// reading it once to its end, as the Engine API's export gives it. Layers the cache knows
    /// are drained and checked against their digest rather than read.
    pub fn analyze_stream(&self, reader: impl Read) -> Result<Analysis> {
        first(self.stream_images(reader, 1)?)
    }

    /// Analyses every image of a `docker save` stream: one export of several images (the
    /// Engine API's `GET /images/get?names=a&names=b`) carries the layers they share once.
    pub fn analyze_stream_all(&self, reader: impl Read) -> Result<Vec<Analysis>> {
        self.stream_images(reader, usize::MAX)
    }

    fn file_images(&self, path: &Path, limit: usize) -> Result<Vec<Analysis>> {
        let mut archive = FileArchive::open(path)?;
        let images = layout::resolve(&mut archive, limit)
            .with_context(|| format!("find the image in {}", path.display()))?;
        // Member → its record and whether it came from the cache.
        let mut known: HashMap<String, (LayerRecord, bool)> = HashMap::new();
        // Member → what to read there.
        let mut wanted: HashMap<String, Wanted> = HashMap::new();
        for layer in images.iter().flat_map(|image| &image.layers) {
            let member = archive.resolve_link(&layer.member).to_string();
            if known.contains_key(&member) || wanted.contains_key(&member) {
                continue;
            }
            let region = archive
                .region(&member)
                .with_context(|| format!("the image archive lacks the layer {}", layer.member))?;
            // The key is the digest of the layer as stored: the manifest's blob digest, or for a
            // plain layer of the classic layout, its diff ID.
            let key = match &layer.blob_digest {
                Some(digest) => Some(digest.clone()),
                None => {
                    let head = archive.head(region, 512)?;
                    (layer::sniff(&head) == Sniffed::Layer(Compression::None))
                        .then(|| layer.diff_id.clone())
                }
            };
            let cached = key
                .as_deref()
                .and_then(|k| self.cache.as_ref()?.get(k, self.options.compressed_size));
            match cached {
                Some(record) => {
                    known.insert(member, (record, true));
                }
                None => {
                    wanted.insert(member, Wanted { key, region });
                }
            }
        }
        let mut todo: Vec<(String, Wanted)> = wanted.into_iter().collect();
        // The largest first, so that a big layer does not start last and run alone.
        todo.sort_by_key(|(_, wanted)| std::cmp::Reverse(wanted.region.1));
        let budget = self.gzip_budget();
        let results = Mutex::new(Vec::new());
        self.pool.scope(|scope| {
            for (member, wanted) in &todo {
                let (archive, budget, results) = (&archive, budget.as_ref(), &results);
                scope.spawn(move |scope| {
                    let read = archive
                        .open_region(wanted.region)
                        .and_then(|reader| layer::read_layer(reader, scope, budget))
                        .with_context(|| format!("read the layer {member}"));
                    results
                        .lock()
                        .expect("no thread panics holding the lock")
                        .push((member, wanted, read));
                });
            }
        });
        for (member, wanted, read) in results.into_inner().expect("no thread panicked") {
            let record = read?.finish();
            if let Some(key) = &wanted.key {
                if *key != record.blob_digest {
                    bail!(
                        "the layer {member} holds {}, not {key} as the image says",
                        record.blob_digest
                    );
                }
            }
            self.remember(&record)?;
            known.insert(member.clone(), (record, false));
        }
        if let Some(cache) = &self.cache {
            // A stream of these images later knows their layers by these names.
            for (member, (record, _)) in &known {
                if let Some((_, len)) = archive.region(member) {
                    cache.set_name(member, len, &record.blob_digest)?;
                }
            }
        }
        images
            .iter()
            .map(|image| {
                let records = image
                    .layers
                    .iter()
                    .map(|layer| known[archive.resolve_link(&layer.member)].clone())
                    .collect();
                self.assemble(image, records)
            })
            .collect()
    }

    fn stream_images(&self, reader: impl Read, limit: usize) -> Result<Vec<Analysis>> {
        let budget = self.gzip_budget();
        let mut stream = self.pool.in_place_scope(|scope| {
            source::read_stream(reader, scope, budget.as_ref(), self.cache.as_ref())
        })?;
        let images =
            layout::resolve(&mut stream, limit).context("find the image in the archive")?;
        let mut known: HashMap<String, (LayerRecord, bool)> = HashMap::new();
        for layer in images.iter().flat_map(|image| &image.layers) {
            let member = stream.resolve_link(&layer.member).to_string();
            if known.contains_key(&member) {
                continue;
            }
            let (size, met) = stream
                .layers
                .remove(&member)
                .with_context(|| format!("the image archive lacks the layer {}", layer.member))?;
            let (record, cached) = match met {
                Met::Cached(record) => (*record, true),
                Met::Read(pending) => (pending.finish(), false),
                Met::Failed(err) => bail!("read the layer {}: {err}", layer.member),
            };
            if let Some(cache) = &self.cache {
                if !cached {
                    cache.put(&record)?;
                }
                cache.set_name(&member, size, &record.blob_digest)?;
            }
            known.insert(member, (record, cached));
        }
        images
            .iter()
            .map(|image| {
                let records = image
                    .layers
                    .iter()
                    .map(|layer| known[stream.resolve_link(&layer.member)].clone())
                    .collect();
                self.assemble(image, records)
            })
            .collect()
    }

    /// The budget of the blocks deflated for plain layers' gzip sizes; `None` when the sizes are
    /// not wanted and nothing is deflated.
    fn gzip_budget(&self) -> Option<Budget> {
        self.options
            .compressed_size
            .then(|| Budget::new(self.threads))
    }

    fn remember(&self, record: &LayerRecord) -> Result<()> {
        match &self.cache {
            Some(cache) => cache.put(record),
            None => Ok(()),
        }
    }

    /// The image's figures from its layers' records, lowest layer first.
    fn assemble(&self, image: &Image, records: Vec<(LayerRecord, bool)>) -> Result<Analysis> {
        for (layer, (record, _)) in image.layers.iter().zip(&records) {
            if layer.diff_id != record.diff_id {
                bail!(
                    "the layer {} has the diff ID {}, but the image config lists {}",
                    layer.member,
                    record.diff_id,
                    layer.diff_id
                );
            }
        }
        let entries: Vec<&[layer::Entry]> =
            records.iter().map(|(r, _)| r.entries.as_slice()).collect();
        let (dive, merged) = self.pool.join(
            || dive::figures(&entries),
            || merge::merge(&entries, self.options.largest_files),
        );
        let found: Vec<components::LayerFiles> = records
            .iter()
            .map(|(r, _)| components::LayerFiles {
                files: r
                    .entries
                    .iter()
                    .filter(|e| e.kind == layer::Kind::File)
                    .map(|e| (e.path.as_str(), e.executable))
                    .collect(),
                found: r.found.as_slice(),
            })
            .collect();
        let components = components::collect(&found, &merged.fs);
        let layers: Vec<Layer> = image
            .layers
            .iter()
            .zip(&records)
            .map(|(layer, (record, cached))| Layer {
                diff_id: record.diff_id.clone(),
                blob_digest: record.blob_digest.clone(),
                media_type: layer.media_type.clone(),
                compression: record.compression,
                tar_bytes: record.tar_bytes,
                blob_bytes: record.blob_bytes,
                // Off, a plain layer's size is absent even when its cached record has it, so
                // that what an analysis says does not depend on what ran before it.
                compressed_bytes: record.compressed_bytes.filter(|_| {
                    self.options.compressed_size || record.compression != Compression::None
                }),
                size_bytes: record.entries.iter().map(|e| e.size).sum(),
                entries: record.entries.len() as u64,
                cached: *cached,
            })
            .collect();
        Ok(Analysis {
            layout: image.layout,
            tags: image.tags.clone(),
            config_digest: image.config_digest.clone(),
            manifest_digest: image.manifest_digest.clone(),
            size_bytes: layers.iter().map(|l| l.size_bytes).sum(),
            compressed_bytes: layers
                .iter()
                .map(|l| l.compressed_bytes)
                .sum::<Option<u64>>()
                .map(|sum| sum + image.config_bytes + image.manifest_bytes),
            efficiency: dive.efficiency,
            wasted_bytes: dive.wasted_bytes,
            reclaimable_bytes: merged.reclaimable_bytes,
            hidden_bytes: merged.hidden_bytes,
            file_count: merged.file_count,
            largest_files: merged.largest_files,
            wasted_paths: dive
                .inefficient
                .into_iter()
                .take(self.options.wasted_paths)
                .map(|(path, copies, size_bytes)| WastedPath {
                    path,
                    copies,
                    size_bytes,
                })
                .collect(),
            layers,
            components,
            fs: merged.fs,
        })
    }
}

fn first(mut analyses: Vec<Analysis>) -> Result<Analysis> {
    if analyses.is_empty() {
        bail!("the image archive holds no image");
    }
    Ok(analyses.swap_remove(0))
}

/// An analyser is shared between threads (say, in an `Arc` across `spawn_blocking` calls).
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<Analyzer>();
};

/// Analyses an archive file with the given options (a new analyser each call).
pub fn analyze_file(path: &Path, options: &Options) -> Result<Analysis> {
    Analyzer::new(options.clone())?.analyze_file(path)
}

/// Analyses a `docker save` stream with the given options (a new analyser each call).
pub fn analyze_stream(reader: impl Read, options: &Options) -> Result<Analysis> {
    Analyzer::new(options.clone())?.analyze_stream(reader)
}

#[cfg(test)]
mod tests;
