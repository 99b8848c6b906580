//! The trust chain with real files: a copy of bookworm-updates served on 127.0.0.1 is
//! accepted as it is and refused once one byte is changed, in the text or in the signature;
//! a validly signed file of another suite is refused; and a cached `InRelease`, used when
//! the mirror cannot be reached, is verified again.

use debimage::{Event, TrustError};

use crate::support::{copy_suite, debian, index_with_events, serve_dir, TempDir};

const SUITE: &str = "bookworm-updates";

/// The error of a fetch that must fail, as a `TrustError`.
fn trust_error(result: anyhow::Result<impl std::fmt::Debug>) -> TrustError {
    let err = result.unwrap_err();
    let Some(trust) = err.downcast_ref::<TrustError>() else {
        panic!("not a TrustError: {err:#}");
    };
    assert_eq!(err.to_string().lines().count(), 1, "{err}");
    trust.clone()
}

#[tokio::test]
async fn a_copy_of_the_mirror_is_accepted_and_refused_once_one_byte_changes() {
    let dir = TempDir::new("tamper");
    let mirror = dir.join("mirror");
    let original = copy_suite(SUITE, &mirror).await;
    let base = serve_dir(&mirror).await;
    let mut source = debian(&[SUITE]);
    source.mirror = format!("{base}/");

    // The untampered copy, over plain http, is accepted: its signature is what vouches.
    let (index, events) = index_with_events(&source, &dir.join("cache"))
        .await
        .unwrap();
    assert!(!index.packages().is_empty());
    let Some(Event::IndexVerified {
        suite,
        signed_by,
        from_cache: false,
    }) = events.last()
    else {
        panic!("{events:?}");
    };
    assert_eq!(suite, SUITE);
    assert!(!signed_by.is_empty());

    // One byte of the text: a digit of the SHA256 the index is checked against.
    let text = String::from_utf8(original.clone()).unwrap();
    let section = text.find("\nSHA256:\n").unwrap();
    let line = text[section..]
        .lines()
        .find(|l| l.ends_with(" main/binary-amd64/Packages.xz"))
        .unwrap();
    let start = section
        + text[section..].find(line).unwrap()
        + line.find(|c: char| c.is_ascii_hexdigit()).unwrap();
    let mut tampered = original.clone();
    tampered[start] = if tampered[start] == b'0' { b'1' } else { b'0' };
    assert_eq!(
        tampered
            .iter()
            .zip(&original)
            .filter(|(a, b)| a != b)
            .count(),
        1
    );
    let in_release = mirror.join("dists").join(SUITE).join("InRelease");
    std::fs::write(&in_release, &tampered).unwrap();
    let err = trust_error(index_with_events(&source, &dir.join("cache2")).await);
    assert!(matches!(err, TrustError::BadSignature { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "{base}/dists/{SUITE}/InRelease: the signature by "
        )),
        "{message}"
    );

    // One byte of the signature block: that signature no longer counts. Debian signs with two
    // keys, so the other one may still vouch for the (unchanged) text; if not, it is refused.
    let mut tampered = original.clone();
    let sig = text.find("-----BEGIN PGP SIGNATURE-----").unwrap();
    let at = sig + text[sig..].find("\n\n").unwrap() + 40;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&in_release, &tampered).unwrap();
    match index_with_events(&source, &dir.join("cache3")).await {
        Ok((_, events)) => {
            let Some(Event::IndexVerified {
                signed_by: fewer, ..
            }) = events.last()
            else {
                panic!("{events:?}");
            };
            assert!(fewer.len() < signed_by.len(), "{fewer:?} of {signed_by:?}");
        }
        Err(err) => {
            let err = trust_error(Err::<(), _>(err));
            assert!(
                matches!(
                    err,
                    TrustError::BadSignature { .. } | TrustError::NotSigned { .. }
                ),
                "{err}"
            );
        }
    }

    // No signature at all: the plain text of the file.
    let plain = text[text.find("\n\n").unwrap() + 2..sig].to_string();
    std::fs::write(&in_release, plain).unwrap();
    let err = trust_error(index_with_events(&source, &dir.join("cache4")).await);
    assert!(matches!(err, TrustError::NotSigned { .. }), "{err}");

    // Nothing refused was cached.
    for cache in ["cache2", "cache4"] {
        let cached = dir
            .join(cache)
            .join("index")
            .join(format!("{SUITE}.InRelease"));
        assert!(!cached.exists(), "{}", cached.display());
    }
}

#[tokio::test]
async fn a_signed_file_of_another_suite_is_refused() {
    let dir = TempDir::new("wrong-suite");
    let mirror = dir.join("mirror");
    copy_suite(SUITE, &mirror).await;
    std::fs::rename(
        mirror.join("dists").join(SUITE),
        mirror.join("dists/bookworm"),
    )
    .unwrap();
    let base = serve_dir(&mirror).await;
    let mut source = debian(&["bookworm"]);
    source.mirror = base;
    let err = trust_error(index_with_events(&source, &dir.join("cache")).await);
    assert!(matches!(err, TrustError::WrongSuite { .. }), "{err}");
    assert!(err.to_string().contains("not of bookworm"), "{err}");
}

#[tokio::test]
async fn a_cached_in_release_is_verified_again_when_the_mirror_is_unreachable() {
    let dir = TempDir::new("cached");
    let mirror = dir.join("mirror");
    copy_suite(SUITE, &mirror).await;
    let cache = dir.join("cache");
    let mut source = debian(&[SUITE]);
    source.mirror = serve_dir(&mirror).await;
    let (fresh, _) = index_with_events(&source, &cache).await.unwrap();

    // Nothing listens on port 9 (discard): the cached copies serve, and say so.
    source.mirror = "http://127.0.0.1:9/debian".into();
    let (cached, events) = index_with_events(&source, &cache).await.unwrap();
    assert_eq!(cached.packages(), fresh.packages());
    assert!(
        matches!(&events[0], Event::MirrorUnreachable { url, .. } if url.starts_with("http://127.0.0.1:9/")),
        "{events:?}"
    );
    assert!(
        matches!(
            &events[1],
            Event::IndexVerified {
                from_cache: true,
                ..
            }
        ),
        "{events:?}"
    );

    // A cached copy changed since is refused like a fresh one, and named.
    let path = cache.join("index").join(format!("{SUITE}.InRelease"));
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(7).position(|w| w == b"Suite: ").unwrap() + 7;
    bytes[at] = b'X';
    std::fs::write(&path, bytes).unwrap();
    let err = trust_error(index_with_events(&source, &cache).await);
    assert!(matches!(err, TrustError::BadSignature { .. }), "{err}");
    assert!(err.to_string().contains("the cached copy"), "{err}");

    // Without a cached copy, an unreachable mirror is an error that names the URL.
    std::fs::remove_file(&path).unwrap();
    let err = index_with_events(&source, &cache).await.unwrap_err();
    assert!(
        format!("{err:#}").starts_with(&format!(
            "fetch http://127.0.0.1:9/debian/dists/{SUITE}/InRelease"
        )),
        "{err:#}"
    );
}
