//! HTTP and the cache: the client, and files fetched into the cache only once verified.
//!
//! A cached file is hashed again before every use; one that does not match is deleted and
//! fetched again. Downloads go to a `<name>.partial-<pid>-<n>` file that is renamed into place
//! only once complete and verified, so an interrupted run never leaves a truncated file under
//! a final name (its partial files are removed by the next run once their process is gone).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// Attempts per file on network errors (not on hash mismatches, which are errors at once,
/// nor on HTTP client errors such as 404, which another attempt would not change).
const ATTEMPTS: u32 = 3;

/// The system CA bundle that [`http_client`] adds to its trust roots when present.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// An HTTP client for [`fetch_index`](crate::fetch_index) and [`download`](crate::download)
/// that trusts the system's CA bundle
/// in addition to the Mozilla roots built into reqwest's `rustls-tls`. Needed wherever a
/// TLS-inspecting proxy whose CA is only in the system store sits between the host and the
/// mirror (as in this project's sandbox, where plain `reqwest::Client::new()` fails with
/// `UnknownIssuer`).
pub fn http_client() -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("debimage/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30));
    if let Ok(pem) = std::fs::read(SYSTEM_CA_BUNDLE) {
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("parsing {SYSTEM_CA_BUNDLE}"))?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().context("building the HTTP client")
}

/// Whether `path` exists with the expected SHA256. A file that exists with another hash
/// is deleted, so that it is fetched again and never used.
pub(crate) async fn cached_ok(path: &Path, sha256: &str) -> Result<bool> {
    if !tokio::fs::try_exists(path).await.unwrap_or(false) {
        return Ok(false);
    }
    let p = path.to_path_buf();
    let actual = tokio::task::spawn_blocking(move || sha256_file(&p))
        .await
        .context("hashing task failed")??;
    if actual == sha256 {
        return Ok(true);
    }
    tokio::fs::remove_file(path)
        .await
        .with_context(|| format!("removing corrupted cache file {}", path.display()))?;
    Ok(false)
}

/// Makes `dest` a verified copy of the file with hash `sha256`: from the cache if intact,
/// else downloaded from the first of `urls` that answers. Returns the bytes downloaded.
pub(crate) async fn fetch_verified(
    client: &reqwest::Client,
    urls: &[String],
    dest: &Path,
    sha256: &str,
    size: Option<u64>,
    what: &str,
) -> Result<u64> {
    if cached_ok(dest, sha256)
        .await
        .with_context(|| format!("checking the cached {what}"))?
    {
        return Ok(0);
    }
    let mut last_error = None;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
        }
        for url in urls {
            match download_to(client, url, dest).await {
                Ok((partial, actual, n)) => {
                    // Verify before the rename, so that a bad file never gets the final name.
                    if actual != sha256 || size.is_some_and(|s| s != n) {
                        bail!(
                            "SHA256 mismatch for {what}: {url} gave {n} bytes with \
                             sha256 {actual}, the index says {sha256}{}",
                            size.map(|s| format!(" ({s} bytes)")).unwrap_or_default()
                        );
                    }
                    partial.persist().await?;
                    return Ok(n);
                }
                Err(e) => last_error = Some(e.context(format!("downloading {what} from {url}"))),
            }
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no URL for {what}")))
}

/// Streams `url` into a temporary file next to `dest`, returning that file (to be
/// persisted by the caller once verified), its SHA256 and its length. The temporary file
/// is removed if it is not persisted, including when this future is dropped.
async fn download_to(
    client: &reqwest::Client,
    url: &str,
    dest: &Path,
) -> Result<(PartialFile, String, u64)> {
    let partial = PartialFile::new(dest);
    let response = client
        .get(url)
        .send()
        .await
        .context("sending the request")?
        .error_for_status()
        .context("server answered with an error")?;
    let mut file = tokio::fs::File::create(&partial.path)
        .await
        .with_context(|| format!("creating {}", partial.path.display()))?;
    let mut hasher = Sha256::new();
    let mut n = 0u64;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.context("reading the response body")?;
        hasher.update(&chunk);
        n += chunk.len() as u64;
        file.write_all(&chunk)
            .await
            .with_context(|| format!("writing {}", partial.path.display()))?;
    }
    file.flush().await.context("flushing the download")?;
    file.sync_all().await.context("syncing the download")?;
    drop(file);
    Ok((partial, hex::encode(hasher.finalize()), n))
}

/// A temporary download file next to its destination, deleted on drop unless persisted.
pub(crate) struct PartialFile {
    path: PathBuf,
    dest: PathBuf,
    done: bool,
}

impl PartialFile {
    pub(crate) fn new(dest: &Path) -> PartialFile {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut name = dest.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".partial-{}-{n}", std::process::id()));
        PartialFile {
            path: dest.with_file_name(name),
            dest: dest.to_path_buf(),
            done: false,
        }
    }

    /// Where the data goes until it is persisted.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) async fn persist(mut self) -> Result<()> {
        tokio::fs::rename(&self.path, &self.dest)
            .await
            .with_context(|| format!("renaming into {}", self.dest.display()))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Removes `*.partial-<pid>-<n>` files whose process no longer runs (a killed run's
/// leftovers). Without `/proc` nothing is removed, since liveness cannot be told.
pub(crate) async fn remove_stale_partials(dir: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((_, tail)) = name.rsplit_once(".partial-") else {
            continue;
        };
        let pid = tail.split('-').next().unwrap_or("");
        if !pid.is_empty() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = tokio::fs::remove_file(entry.path()).await;
        }
    }
}

/// The body of `url`, with retries on network errors and server errors.
pub(crate) async fn get_bytes(client: &reqwest::Client, url: &str) -> Result<Vec<u8>> {
    let mut last_error = None;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
        }
        let result = async {
            let response = client.get(url).send().await?.error_for_status()?;
            Ok::<_, reqwest::Error>(response.bytes().await?.to_vec())
        }
        .await;
        match result {
            Ok(bytes) => return Ok(bytes),
            Err(e) if e.status().is_some_and(|s| s.is_client_error()) => return Err(e.into()),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.map_or_else(|| anyhow::anyhow!("no attempt"), anyhow::Error::from))
}

/// Whether an error of [`get_bytes`] means that the server could not be reached at all (no
/// connection, or no answer in time), rather than that it answered with an error.
pub(crate) fn is_unreachable(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<reqwest::Error>())
        .any(|e| e.is_connect() || e.is_timeout())
}

/// Lowercase hex SHA256 of a file, read in blocks.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deb::tests::tempdir;
    use crate::package::Package;
    use crate::source::{Resolution, Source};
    use crate::{download, Event};
    use std::sync::Mutex;

    #[tokio::test]
    async fn corrupted_cache_file_is_deleted_not_used() {
        let dir = tempdir("cache");
        let good = b"package bytes";
        let sha = hex::encode(Sha256::digest(good));
        let path = dir.join(format!("{sha}.deb"));
        std::fs::write(&path, good).unwrap();
        assert!(cached_ok(&path, &sha).await.unwrap());
        std::fs::write(&path, b"package bytez").unwrap();
        assert!(!cached_ok(&path, &sha).await.unwrap());
        assert!(!path.exists(), "a corrupted cache file must be deleted");
        assert!(!cached_ok(&path, &sha).await.unwrap());
        // A corrupted file is not served either when the network is unreachable: the
        // download is attempted (and fails) instead.
        std::fs::write(&path, b"corrupt").unwrap();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let err = fetch_verified(
            &client,
            &["http://127.0.0.1:9/x".into()],
            &path,
            &sha,
            None,
            "t",
        )
        .await
        .unwrap_err();
        assert!(format!("{err:#}").contains("downloading t"), "{err:#}");
        assert!(!path.exists());
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert!(leftovers.is_empty(), "no partial file may remain");
    }

    /// Serves `body` to every request on a loopback port, for as long as the test runs.
    async fn serve(body: &'static [u8]) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(move || async move { body });
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn downloads_are_verified_before_they_get_their_name() {
        let dir = tempdir("verify");
        let body: &'static [u8] = b"the real package";
        let sha = hex::encode(Sha256::digest(body));
        let client = reqwest::Client::builder().no_proxy().build().unwrap();

        let base = serve(body).await;
        let dest = dir.join("bad.deb");
        let wrong = "0".repeat(64);
        let err = fetch_verified(
            &client,
            &[format!("{base}/x")],
            &dest,
            &wrong,
            None,
            "package foo 1.0",
        )
        .await
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("SHA256 mismatch for package foo 1.0"),
            "{err:#}"
        );
        assert!(!dest.exists());

        let base = serve(body).await;
        let package = Package {
            name: "foo".into(),
            version: "1.0".into(),
            filename: "pool/f/foo.deb".into(),
            size: body.len() as u64,
            sha256: sha.clone(),
            ..Default::default()
        };
        let res = Resolution {
            name: "t".into(),
            packages: vec![package],
            notes: vec![],
            source: Source {
                mirror: base,
                ..Source::default()
            },
            drop_docs: false,
            local_ca_certificates: vec![],
        };
        let events = Mutex::new(Vec::new());
        let on = |e: Event| events.lock().unwrap().push(e);
        let fetched = download(&client, &res, &dir, &on).await.unwrap();
        assert_eq!(fetched.bytes_downloaded, body.len() as u64);
        assert_eq!(std::fs::read(&fetched.debs[0]).unwrap(), body);
        assert_eq!(
            events.into_inner().unwrap(),
            vec![
                Event::Resolved {
                    packages: 1,
                    download_bytes: 16,
                    cached: 0
                },
                Event::Downloaded {
                    name: "foo".into(),
                    bytes: 16
                },
                Event::Extracting { packages: 1 },
            ]
        );
        // Served from the cache now, after re-verification.
        let again = download(&client, &res, &dir, &|_| {}).await.unwrap();
        assert_eq!((again.from_cache, again.bytes_downloaded), (1, 0));
        let names: Vec<String> = std::fs::read_dir(dir.join("debs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [format!("{sha}.deb")]);
    }

    #[tokio::test]
    async fn stale_partials_are_removed() {
        let dir = tempdir("partials");
        let stale = dir.join("x.deb.partial-999999999-0");
        let live = dir.join(format!("x.deb.partial-{}-0", std::process::id()));
        std::fs::write(&stale, b"").unwrap();
        std::fs::write(&live, b"").unwrap();
        remove_stale_partials(&dir).await;
        assert!(!stale.exists());
        assert!(live.exists());
    }
}
