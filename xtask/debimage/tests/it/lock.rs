//! The lock file with the real bookworm index: a base built twice from the lock has the same
//! layer digest as the fresh resolution, and a locked version the index no longer lists is a
//! `LockError` that says so.

use debimage::{
    download, resolve, resolve_locked, write_rootfs_layer, DpkgDb, Lock, LockEntry, LockError,
    Recipe, Resolution,
};

use crate::support::{cache, client, debian, index_with_events, TempDir};

fn recipe() -> Recipe {
    Recipe {
        name: "shell".into(),
        packages: vec!["dash".into(), "base-files".into()],
        dependencies: true,
        drop_docs: true,
        ..Recipe::default()
    }
}

/// The layer digest of a resolution.
async fn layer(res: &Resolution, out: &std::path::Path) -> String {
    let fetched = download(&client(), res, &cache(), &|_| {}).await.unwrap();
    let res = res.clone();
    let out = out.to_path_buf();
    tokio::task::spawn_blocking(move || {
        write_rootfs_layer(&res, &fetched.debs, &out, DpkgDb::Full).unwrap()
    })
    .await
    .unwrap()
    .diff_id
}

#[tokio::test]
async fn building_twice_from_the_lock_gives_the_same_layer_as_resolving() {
    let dir = TempDir::new("lock");
    let (index, _) = index_with_events(&debian(&["bookworm"]), &cache())
        .await
        .unwrap();
    let fresh = resolve(&index, &recipe()).unwrap();
    assert!(fresh.packages.iter().any(|p| p.name == "libc6"));

    let mut lock = Lock::default();
    lock.recipes
        .insert("shell".into(), LockEntry::new(&recipe(), &fresh));
    let path = dir.join("images.lock");
    lock.write(&path, "the packages of each base").unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("- name: libc6\n"), "{text}");
    assert!(
        !text.contains("deb.debian.org"),
        "the mirror is not pinned: {text}"
    );

    let read = Lock::read(&path).unwrap().unwrap();
    let entry = read.entry("shell").unwrap();
    let one = resolve_locked(&index, &recipe(), entry).unwrap();
    let two = resolve_locked(&index, &recipe(), entry).unwrap();
    assert_eq!(one.packages, fresh.packages);
    let digest_one = layer(&one, &dir.join("one.tar")).await;
    let digest_two = layer(&two, &dir.join("two.tar")).await;
    let digest_fresh = layer(&fresh, &dir.join("fresh.tar")).await;
    assert_eq!(digest_one, digest_two);
    assert_eq!(digest_one, digest_fresh);
    assert_eq!(
        std::fs::read(dir.join("one.tar")).unwrap(),
        std::fs::read(dir.join("two.tar")).unwrap()
    );
}

#[tokio::test]
async fn a_locked_version_the_index_no_longer_lists_is_a_clear_error() {
    let (index, _) = index_with_events(&debian(&["bookworm"]), &cache())
        .await
        .unwrap();
    let fresh = resolve(&index, &recipe()).unwrap();
    let mut entry = LockEntry::new(&recipe(), &fresh);
    let libc = entry
        .packages
        .iter_mut()
        .find(|p| p.name == "libc6")
        .unwrap();
    let current = libc.version.clone();
    // bookworm's first libc, replaced by the point releases since.
    libc.version = "2.36-9".into();
    let err = resolve_locked(&index, &recipe(), &entry).unwrap_err();
    assert!(matches!(err, LockError::NotServed { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "recipe `shell`: the lock pins libc6 2.36-9, which the signed index of bookworm no \
             longer lists (it has {current}): the lock is out of date"
        )
    );

    // A recipe that changed since the lock was made is told apart from a stale index.
    let mut more = recipe();
    more.packages.push("bash".into());
    let entry = LockEntry::new(&recipe(), &fresh);
    let err = resolve_locked(&index, &more, &entry).unwrap_err();
    assert!(matches!(err, LockError::Mismatch { .. }), "{err}");
    assert!(
        err.to_string().contains("packages [dash, base-files]"),
        "{err}"
    );
}
