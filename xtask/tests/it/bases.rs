//! `cargo xtask bases` on the real engine and the real Debian mirror: a base assembled from
//! packages comes out the same every time, the package cache saves the download, a corrupted
//! cached package is fetched again rather than imported, the lock file beside the manifest pins
//! the packages (and says how to refresh it when the mirror moves on), and an index whose
//! signature does not verify is refused.

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

/// `cargo xtask bases --rebuild` with the test manifest and cache, and `extra` flags.
fn bases_with(manifest: &Path, cache: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "bases",
        "--rebuild",
        "--manifest",
        manifest.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    xtask(&args)
}

fn bases(manifest: &Path, cache: &Path) -> String {
    let out = bases_with(manifest, cache, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stderr(&out)
}

/// The `sha256:` values of a lock file's text.
fn locked_sums(lock: &str) -> Vec<String> {
    lock.lines()
        .filter_map(|line| line.trim().strip_prefix("sha256: "))
        .map(str::to_string)
        .collect()
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
    assert!(
        cold.contains("signature verified"),
        "the index is verified:\n{cold}"
    );
    // With no lock file, the first run writes one beside the manifest, pinning the very
    // packages it downloaded.
    let lock = std::fs::read_to_string(dir.join("images.lock")).expect("the lock is written");
    let sums = locked_sums(&lock);
    assert_eq!(sums.len(), 4, "{lock}");
    for sum in &sums {
        assert!(
            cache.join("debs").join(format!("{sum}.deb")).is_file(),
            "{sum}"
        );
    }
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

#[test]
fn the_lock_pins_the_packages_and_a_version_the_mirror_no_longer_serves_says_to_update() {
    let _engine = engine();
    let dir = scratch("bases-lock");
    let manifest = manifest(&dir);
    let cache = dir.join("cache");
    let lock_path = dir.join("images.lock");
    bases(&manifest, &cache);
    let built = identity();
    let lock = std::fs::read_to_string(&lock_path).unwrap();

    // An update against the same index changes nothing.
    let log = bases(&manifest, &cache);
    assert!(
        log.contains("4 packages, as") && log.contains("images.lock pins them"),
        "{log}"
    );
    let out = bases_with(&manifest, &cache, &["--update"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 recipes, 4 packages pinned, unchanged"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&lock_path).unwrap(), lock);
    assert_eq!(identity(), built, "the same lock gives the same image");

    // A locked version that the signed index no longer lists, as after a point release.
    let version = lock
        .lines()
        .skip_while(|line| !line.contains("name: netbase"))
        .find_map(|line| line.trim().strip_prefix("version: "))
        .expect("netbase is locked")
        .to_string();
    let gone = lock.replacen(&format!("version: {version}"), "version: 0.0-withdrawn", 1);
    std::fs::write(&lock_path, &gone).unwrap();
    let out = bases_with(&manifest, &cache, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the lock pins netbase 0.0-withdrawn, which the signed index of bookworm no longer lists")
            && err.contains("cargo xtask bases --update --manifest"),
        "{err}"
    );

    // A recipe changed since the lock was made is told apart, with the same way out.
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&lock_path, &lock).unwrap();
    std::fs::write(&manifest, text.replace("tzdata, ", "")).unwrap();
    let out = bases_with(&manifest, &cache, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("was made for packages [base-files, netbase, tzdata, ca-certificates]")
            && err.contains("--update"),
        "{err}"
    );

    // `--update` makes the lock afresh, and the image follows it.
    std::fs::write(&manifest, text).unwrap();
    std::fs::write(&lock_path, &gone).unwrap();
    let out = bases_with(&manifest, &cache, &["--update"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        // YAML quotes a version that looks like a number, such as '6.4'.
        stderr(&out).contains(&format!(
            "netbase 0.0-withdrawn -> {}",
            version.trim_matches('\'')
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&lock_path).unwrap(), lock);
    assert_eq!(identity(), built);
    docker(&["rmi", TAG]);
}

#[test]
fn an_index_whose_signature_does_not_verify_is_refused() {
    let _engine = engine();
    let dir = scratch("bases-tampered");
    let manifest = manifest(&dir);
    let cache = dir.join("cache");
    bases(&manifest, &cache);

    // Change one hex digit of a checksum in the signed text of the InRelease the run kept: the
    // index it vouches for would be another one.
    let in_release = cache.join("index").join("bookworm.InRelease");
    let mut bytes = std::fs::read(&in_release).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let listed = text
        .find("main/binary-amd64/Packages.xz")
        .expect("the index is listed");
    // The line is ` <checksum> <size> <path>`: its first digit follows the leading space.
    let at = text[..listed].rfind('\n').unwrap() + 2;
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&in_release, &bytes).unwrap();

    // Nothing listens on port 9, so the kept copy is what is verified, and refused.
    let out = bases_with(
        &manifest,
        &cache,
        &["--mirror", "http://127.0.0.1:9/debian"],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("does not match the file, so it was changed after it was signed")
            && err.contains("refused")
            && err.contains("another Debian mirror"),
        "{err}"
    );
    assert!(
        !err.contains("downloading"),
        "nothing from a refused index is used:\n{err}"
    );
    docker(&["rmi", TAG]);
}
