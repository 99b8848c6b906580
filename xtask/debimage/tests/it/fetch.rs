//! Fetching from the real mirror: the signed bookworm index, a small package set downloaded
//! and then served from the cache, and corrupted cache files fetched again.

use std::sync::Mutex;

use debimage::{download, resolve, sha256_file, Event, Recipe};

use crate::support::{cache, client, debian, index_with_events, TempDir};

#[tokio::test]
async fn the_real_bookworm_index_is_verified_and_packages_come_from_the_cache_the_second_time() {
    let cache = cache();
    let (index, events) = index_with_events(&debian(&["bookworm"]), &cache)
        .await
        .unwrap();
    assert!(
        index.packages().len() > 50_000,
        "{}",
        index.packages().len()
    );
    let libc = index.get("libc6").unwrap();
    assert!(libc.version.starts_with("2.36-"), "{}", libc.version);
    assert_eq!(libc.suite, "bookworm");
    let suite = &index.suites()[0];
    assert_eq!(suite.codename.as_deref(), Some("bookworm"));
    assert_eq!(suite.priority, 500);
    // bookworm is signed by the bookworm archive key and its stable release key (and the
    // trixie archive key, these days).
    let Some(Event::IndexVerified { signed_by, .. }) = events.last() else {
        panic!("{events:?}");
    };
    for key in [
        "B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8",
        "4D64FEC119C2029067D6E791F8D2585B8783D481",
    ] {
        assert!(signed_by.iter().any(|k| k == key), "{signed_by:?}");
    }

    let recipe = Recipe {
        name: "net-test".into(),
        packages: vec!["base-files".into(), "netbase".into()],
        ..Recipe::default()
    };
    let res = resolve(&index, &recipe).unwrap();
    assert_eq!(res.packages.len(), 2);
    let client = client();
    let events = Mutex::new(Vec::new());
    let on = |e: Event| events.lock().unwrap().push(e);
    let first = download(&client, &res, &cache, &on).await.unwrap();
    let second = download(&client, &res, &cache, &on).await.unwrap();
    assert_eq!((second.from_cache, second.bytes_downloaded), (2, 0));
    assert_eq!(first.debs, second.debs);
    for (deb, pkg) in second.debs.iter().zip(&res.packages) {
        assert_eq!(sha256_file(deb).unwrap(), pkg.sha256);
    }
    let events = events.into_inner().unwrap();
    assert!(matches!(
        events.last(),
        Some(Event::Extracting { packages: 2 })
    ));
}

#[tokio::test]
async fn corrupted_cache_files_are_fetched_again_from_the_mirror() {
    let dir = TempDir::new("corrupt");
    let source = debian(&["bookworm-updates"]);
    let (index, _) = index_with_events(&source, &dir).await.unwrap();

    // A cached index with one byte changed is deleted and fetched again.
    let indexes: Vec<_> = std::fs::read_dir(dir.join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("-Packages.xz"))
        .collect();
    assert_eq!(indexes.len(), 1, "{indexes:?}");
    let mut bytes = std::fs::read(&indexes[0]).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&indexes[0], bytes).unwrap();
    let (again, _) = index_with_events(&source, &dir).await.unwrap();
    assert_eq!(again.packages(), index.packages());
    let name = indexes[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        sha256_file(&indexes[0]).unwrap(),
        name.trim_end_matches("-Packages.xz")
    );

    // A cached package likewise.
    let main = debian(&["bookworm"]);
    let (index, _) = index_with_events(&main, &cache()).await.unwrap();
    let recipe = Recipe {
        name: "one".into(),
        packages: vec!["netbase".into()],
        ..Recipe::default()
    };
    let res = resolve(&index, &recipe).unwrap();
    let client = client();
    let first = download(&client, &res, &dir, &|_| {}).await.unwrap();
    assert_eq!(first.bytes_downloaded, res.packages[0].size);
    std::fs::write(&first.debs[0], b"not the package").unwrap();
    let second = download(&client, &res, &dir, &|_| {}).await.unwrap();
    assert_eq!(
        (second.from_cache, second.bytes_downloaded),
        (0, res.packages[0].size)
    );
    assert_eq!(
        sha256_file(&second.debs[0]).unwrap(),
        res.packages[0].sha256
    );
}
