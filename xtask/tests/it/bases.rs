//! `cargo xtask bases` on the real engine and the real Debian mirror: a base assembled from
//! packages comes out the same every time, the package cache saves the download, and a corrupted
//! cached package is fetched again rather than imported.

use std::path::{Path, PathBuf};

use crate::common::*;

const TAG: &str = "webtest-test/distroless:bookworm";

/// A manifest with one base: the distroless recipe under a test image name, so that the
/// project's own base is left alone.
fn manifest(dir: &Path) -> PathBuf {
    let path = dir.join("images.yaml");
    let text = format!(
        "repository: webtest-test\ncontext: {root}\nbases:\n  DISTROLESS_IMAGE:\n    image: gcr.io/distroless/static-debian12\n    offline: distroless\nrecipes:\n  distroless:\n    image: webtest-test/distroless\n    packages: [base-files, netbase, tzdata, ca-certificates]\n    dependencies: false\n    dpkg: status-d\nvariants:\n  multistage: {{ dockerfile: docker/Dockerfile.multistage }}\n",
        root = root().display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn identity() -> String {
    docker(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}} {{json .RootFS.Layers}}",
        TAG,
    ])
    .trim()
    .to_string()
}

fn bases(manifest: &Path, cache: &Path) -> String {
    let out = xtask(&[
        "bases",
        "--rebuild",
        "--manifest",
        manifest.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stderr(&out)
}

fn sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

#[test]
fn a_base_built_twice_from_the_same_index_has_the_same_digest_and_the_second_downloads_nothing() {
    let _engine = engine();
    let dir = scratch("bases-twice");
    let manifest = manifest(&dir);
    let cache = dir.join("cache");

    let cold = bases(&manifest, &cache);
    let first = identity();
    assert!(
        cold.contains("4 packages,") && !cold.contains(", 0 B downloaded"),
        "the cold run downloads:\n{cold}"
    );
    let warm = bases(&manifest, &cache);
    let second = identity();
    assert!(
        warm.contains("0 B downloaded, 4 from the cache"),
        "the warm run downloads nothing:\n{warm}"
    );
    assert_eq!(
        first, second,
        "the same index and recipe give the same image and layers"
    );
    docker(&["rmi", TAG]);
}

#[test]
fn a_corrupted_cached_package_is_fetched_again_and_never_imported() {
    let _engine = engine();
    let dir = scratch("bases-corrupt");
    let manifest = manifest(&dir);
    let cache = dir.join("cache");
    bases(&manifest, &cache);
    let good = identity();

    // Corrupt one cached package: its name is the SHA256 its content must have.
    let debs: Vec<PathBuf> = std::fs::read_dir(cache.join("debs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(debs.len(), 4, "{debs:?}");
    let victim = &debs[0];
    let mut bytes = std::fs::read(victim).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(victim, &bytes).unwrap();
    assert_ne!(
        format!("{}.deb", sha256(victim)),
        victim.file_name().unwrap().to_str().unwrap()
    );

    let log = bases(&manifest, &cache);
    assert!(
        log.contains("3 from the cache"),
        "the corrupted package is not taken from the cache:\n{log}"
    );
    assert_eq!(
        format!("{}.deb", sha256(victim)),
        victim.file_name().unwrap().to_str().unwrap(),
        "the package was fetched again"
    );
    assert_eq!(
        identity(),
        good,
        "the image is the same as from intact packages"
    );
    docker(&["rmi", TAG]);
}
