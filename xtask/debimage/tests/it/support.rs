//! Shared helpers: the download cache, scratch folders, a static file server on 127.0.0.1,
//! and local copies of real mirror files.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use debimage::{Event, Index, Keyring, Source};

/// The cache shared by the tests that use the real mirror, kept between runs.
pub fn cache() -> PathBuf {
    std::env::var_os("DEBIMAGE_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("debimage-test-cache"))
}

pub fn client() -> reqwest::Client {
    debimage::http_client().unwrap()
}

/// A source of the real mirror with these suites.
pub fn debian(suites: &[&str]) -> Source {
    Source {
        suites: suites.iter().map(|s| s.to_string()).collect(),
        ..Source::default()
    }
}

/// The index of `source`, fetched with the Debian keyring into `cache`, and the events
/// it reported.
pub async fn index_with_events(
    source: &Source,
    cache: &Path,
) -> anyhow::Result<(Index, Vec<Event>)> {
    let events = Mutex::new(Vec::new());
    let on = |e: Event| events.lock().unwrap().push(e);
    let index = debimage::fetch_index(&client(), source, &Keyring::debian(), cache, &on).await?;
    Ok((index, events.into_inner().unwrap()))
}

/// A fresh, empty scratch folder for one test, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("debimage-it-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Serves the files under `root` on a free port of 127.0.0.1 for as long as the test's
/// runtime lives, and returns the base URL.
pub async fn serve_dir(root: &Path) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback_service(tower_http::services::ServeDir::new(root));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Copies the real `InRelease` of `suite` and its `main/binary-amd64/Packages.xz` from
/// deb.debian.org into a mirror tree under `root` (no by-hash folder: the copy serves the
/// plain names), and returns the `InRelease` bytes.
pub async fn copy_suite(suite: &str, root: &Path) -> Vec<u8> {
    let client = client();
    let get = |url: String| {
        let client = client.clone();
        async move {
            let response = client
                .get(&url)
                .send()
                .await
                .unwrap()
                .error_for_status()
                .unwrap();
            response.bytes().await.unwrap().to_vec()
        }
    };
    let base = format!("https://deb.debian.org/debian/dists/{suite}");
    let in_release = get(format!("{base}/InRelease")).await;
    // The copy must be consistent: the index whose hash this very InRelease lists.
    let verified = Keyring::debian()
        .verify(&in_release, "the copy", chrono::Utc::now())
        .unwrap();
    let release = debimage::release::parse_release(&verified.text).unwrap();
    let (sha256, _) = &release.sha256["main/binary-amd64/Packages.xz"];
    let packages = get(format!("{base}/main/binary-amd64/by-hash/SHA256/{sha256}")).await;
    let dists = root.join("dists").join(suite);
    std::fs::create_dir_all(dists.join("main/binary-amd64")).unwrap();
    std::fs::write(dists.join("InRelease"), &in_release).unwrap();
    std::fs::write(dists.join("main/binary-amd64/Packages.xz"), packages).unwrap();
    in_release
}
