//! The network side of the pipeline: the signed index of a [`Source`], and the packages.
//!
//! Cache layout under the caller's cache directory:
//!
//! * `index/<suite>.InRelease`: the last `InRelease` of each suite that verified. It is used
//!   only when the mirror cannot be reached, and verified again then, like a fresh one.
//! * `index/<sha256>-Packages.xz`: an index, named by the SHA256 that a verified `InRelease`
//!   lists for it.
//! * `debs/<sha256>.deb`: a package, named by the SHA256 that the index lists for it.
//!
//! Every cached file is checked again before each use (see [`crate::http`]).

use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};

use crate::deb::decompress_named;
use crate::http::{
    cached_ok, fetch_verified, get_bytes, is_unreachable, remove_stale_partials, PartialFile,
};
use crate::index::{Index, SuiteInfo};
use crate::release::{parse_release, Release};
use crate::signature::{Keyring, Verified};
use crate::source::{Resolution, Source};
use crate::{Event, Fetched};

/// Number of `.deb` downloads in flight at once.
const PARALLEL_DOWNLOADS: usize = 8;

/// Reads the signed index of every suite of `source` and parses it into an [`Index`].
///
/// For each suite, `InRelease` is fetched and verified against `keyring` (a failure is a
/// [`TrustError`](crate::TrustError) in the error chain); then the `Packages` index of each
/// component is taken from the cache or fetched, and checked against the SHA256 of the
/// verified text. `InRelease` is fetched on every call (it is small, and it is what tells
/// whether the indices changed); only when the mirror cannot be reached at all is the cached
/// copy used, after [`Event::MirrorUnreachable`], and verified again.
///
/// Events: [`Event::MirrorUnreachable`] (when it happens) and one [`Event::IndexVerified`] per
/// suite.
pub async fn fetch_index(
    client: &reqwest::Client,
    source: &Source,
    keyring: &Keyring,
    cache: &Path,
    on: &(dyn Fn(Event) + Sync),
) -> Result<Index> {
    if source.suites.is_empty() {
        bail!("the source names no suite");
    }
    let dir = cache.join("index");
    tokio::fs::create_dir_all(&dir)
        .await
        .with_context(|| format!("create {}", dir.display()))?;
    remove_stale_partials(&dir).await;
    let now = Utc::now();
    let mut suites = Vec::new();
    for suite in &source.suites {
        let (release, verified) =
            fetch_release(client, source, suite, keyring, &dir, now, on).await?;
        let texts = fetch_packages(client, source, suite, &release, &dir).await?;
        suites.push((SuiteInfo::new(suite, &release, verified.signed_by), texts));
    }
    let source = source.clone();
    tokio::task::spawn_blocking(move || Index::new(source, suites))
        .await
        .context("index parsing task failed")?
}

/// The verified `Release` of one suite: fetched, or with the mirror unreachable, cached.
async fn fetch_release(
    client: &reqwest::Client,
    source: &Source,
    suite: &str,
    keyring: &Keyring,
    dir: &Path,
    now: DateTime<Utc>,
    on: &(dyn Fn(Event) + Sync),
) -> Result<(Release, Verified)> {
    let url = format!("{}/dists/{suite}/InRelease", source.mirror_url());
    let cached = dir.join(format!("{}.InRelease", suite.replace('/', "_")));
    let (bytes, from_cache) = match get_bytes(client, &url).await {
        Ok(bytes) => (bytes, false),
        Err(err) if is_unreachable(&err) && cached.is_file() => {
            on(Event::MirrorUnreachable {
                url: url.clone(),
                error: format!("{err:#}").replace('\n', " "),
            });
            let bytes = tokio::fs::read(&cached)
                .await
                .with_context(|| format!("read {}", cached.display()))?;
            (bytes, true)
        }
        Err(err) => return Err(err.context(format!("fetch {url}"))),
    };
    // Errors name the cached copy when that is what failed, since that is what to delete.
    let what = if from_cache {
        format!("{url} (the cached copy {})", cached.display())
    } else {
        url.clone()
    };
    let verified = keyring.verify(&bytes, &what, now)?;
    let release = parse_release(&verified.text).with_context(|| format!("parse {what}"))?;
    release.check(suite, &what, now)?;
    on(Event::IndexVerified {
        suite: suite.to_string(),
        signed_by: verified.signed_by.clone(),
        from_cache,
    });
    if !from_cache {
        // Only a file that verified is kept, and it replaces the old one in one rename.
        let partial = PartialFile::new(&cached);
        tokio::fs::write(partial.path(), &bytes)
            .await
            .with_context(|| format!("write {}", partial.path().display()))?;
        partial.persist().await?;
    }
    Ok((release, verified))
}

/// The decompressed `Packages` index of each component of one suite, each checked against
/// the SHA256 of the verified `Release`.
async fn fetch_packages(
    client: &reqwest::Client,
    source: &Source,
    suite: &str,
    release: &Release,
    dir: &Path,
) -> Result<Vec<String>> {
    let base = format!("{}/dists/{suite}", source.mirror_url());
    let mut texts = Vec::new();
    for component in &source.components {
        let stem = format!("{component}/binary-{}/Packages", source.arch);
        let Some((name, (sha256, size))) = [".xz", ".gz", ""].iter().find_map(|ext| {
            let name = format!("{stem}{ext}");
            release.sha256.get(&name).map(|v| (name, v.clone()))
        }) else {
            bail!("{base}/InRelease lists no {stem} index");
        };
        let ext = name
            .rsplit_once('/')
            .map_or("", |(_, f)| f)
            .trim_start_matches("Packages");
        let dest = dir.join(format!("{sha256}-Packages{ext}"));
        let mut urls = Vec::new();
        if release.by_hash {
            let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
            urls.push(format!("{base}/{dir}/by-hash/SHA256/{sha256}"));
        }
        urls.push(format!("{base}/{name}"));
        let what = format!("{suite} {name}");
        fetch_verified(client, &urls, &dest, &sha256, Some(size), &what).await?;
        let data = tokio::fs::read(&dest)
            .await
            .with_context(|| format!("read {}", dest.display()))?;
        let text = tokio::task::spawn_blocking(move || decompress_named(&name, &data))
            .await
            .context("decompression task failed")??;
        texts.push(String::from_utf8(text).with_context(|| format!("{what} is not UTF-8"))?);
    }
    Ok(texts)
}

/// Downloads the `.deb` files of a resolution from its source's mirror into the cache (in
/// parallel), verifying each against the index's SHA256, and returns their paths in the
/// resolution's order.
///
/// Events: one [`Event::Resolved`] once the cache has been checked, one
/// [`Event::Downloaded`] per package fetched from the network, and a final
/// [`Event::Extracting`].
pub async fn download(
    client: &reqwest::Client,
    res: &Resolution,
    cache: &Path,
    on: &(dyn Fn(Event) + Sync),
) -> Result<Fetched> {
    let dir = cache.join("debs");
    tokio::fs::create_dir_all(&dir)
        .await
        .with_context(|| format!("create {}", dir.display()))?;
    remove_stale_partials(&dir).await;

    let mut debs = Vec::new();
    let mut missing = Vec::new();
    let mut from_cache = 0;
    for pkg in &res.packages {
        let path = dir.join(format!("{}.deb", pkg.sha256));
        if cached_ok(&path, &pkg.sha256)
            .await
            .with_context(|| format!("check the cached {}", pkg.name))?
        {
            from_cache += 1;
        } else {
            missing.push((pkg, path.clone()));
        }
        debs.push(path);
    }
    on(Event::Resolved {
        packages: res.packages.len(),
        download_bytes: missing.iter().map(|(p, _)| p.size).sum(),
        cached: from_cache,
    });

    let mirror = res.source.mirror_url();
    let bytes_downloaded = futures_util::stream::iter(missing)
        .map(|(pkg, path)| async move {
            let url = format!("{mirror}/{}", pkg.filename);
            let what = format!("package {} {}", pkg.name, pkg.version);
            let bytes =
                fetch_verified(client, &[url], &path, &pkg.sha256, Some(pkg.size), &what).await?;
            on(Event::Downloaded {
                name: pkg.name.clone(),
                bytes,
            });
            Ok::<u64, anyhow::Error>(bytes)
        })
        .buffer_unordered(PARALLEL_DOWNLOADS)
        .try_fold(0u64, |sum, n| async move { Ok(sum + n) })
        .await?;

    on(Event::Extracting {
        packages: res.packages.len(),
    });
    Ok(Fetched {
        debs,
        bytes_downloaded,
        from_cache,
    })
}
