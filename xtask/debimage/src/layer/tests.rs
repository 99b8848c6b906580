//! Tests of the layers: merged `/usr`, conflicts, hard links, documentation, directories.

use std::fs::File;
use std::io::Read;

use super::docs::doc_excluded;
use super::*;
use crate::deb::tests::{build_deb, tempdir, TestEntry};
use crate::package::Package;
use crate::source::Source;

fn pkg(name: &str, replaces: &str) -> Package {
    Package {
        name: name.into(),
        version: "1".into(),
        architecture: "amd64".into(),
        replaces: replaces.into(),
        ..Package::default()
    }
}

fn control(name: &str) -> String {
    format!("Package: {name}\nVersion: 1\nArchitecture: amd64\nDescription: test\n")
}

/// Two small packages exercising merged /usr, hard links, conflicts and Replaces.
fn fixture(dir: &Path, drop_docs: bool) -> (Resolution, Vec<PathBuf>) {
    let ca = control("alpha");
    let cb = control("beta");
    let a = build_deb(
        dir,
        "alpha",
        &[("control", ca.as_bytes()), ("md5sums", b"0  bin/tool\n")],
        &[
            TestEntry::Dir("bin", 0o755),
            TestEntry::File("bin/tool", 0o4755, b"tool"),
            TestEntry::Symlink("bin/alias", "tool"),
            TestEntry::HardLink("bin/tool2", "bin/tool"),
            TestEntry::Dir("lib", 0o755),
            TestEntry::Dir("lib/x86_64-linux-gnu", 0o755),
            TestEntry::File("lib/x86_64-linux-gnu/libz.so.1", 0o644, b"elf"),
            TestEntry::HardLink("lib/a-first-link", "lib/x86_64-linux-gnu/libz.so.1"),
            TestEntry::Dir("usr", 0o755),
            TestEntry::Dir("usr/share", 0o755),
            TestEntry::Dir("usr/share/doc", 0o755),
            TestEntry::Dir("usr/share/doc/alpha", 0o755),
            TestEntry::File("usr/share/doc/alpha/copyright", 0o644, b"(c)"),
            TestEntry::File("usr/share/doc/alpha/README", 0o644, b"read me"),
            TestEntry::File("etc/conflict", 0o644, b"alpha"),
            TestEntry::File("etc/same", 0o644, b"same"),
        ],
    );
    let b = build_deb(
        dir,
        "beta",
        &[("control", cb.as_bytes())],
        &[
            TestEntry::Dir("usr", 0o755),
            TestEntry::Dir("usr/bin", 0o775),
            TestEntry::File("usr/bin/other", 0o755, b"x"),
            TestEntry::File("etc/conflict", 0o644, b"beta"),
            TestEntry::File("etc/same", 0o644, b"same"),
            TestEntry::File("etc/replaced", 0o644, b"beta"),
        ],
    );
    let c = build_deb(
        dir,
        "gamma",
        &[("control", control("gamma").as_bytes())],
        &[TestEntry::File("etc/replaced", 0o600, b"gamma")],
    );
    let res = Resolution {
        name: "test".into(),
        packages: vec![pkg("alpha", ""), pkg("beta", ""), pkg("gamma", "beta")],
        notes: vec![],
        source: Source::default(),
        drop_docs,
        local_ca_certificates: vec![],
    };
    (res, vec![a, b, c])
}

fn entries(path: &Path) -> Vec<(String, char, u32, String)> {
    let mut archive = tar::Archive::new(File::open(path).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let link = e
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut data = String::new();
            if h.entry_type().is_file() {
                e.read_to_string(&mut data).unwrap();
            }
            let kind = match h.entry_type() {
                tar::EntryType::Directory => 'd',
                tar::EntryType::Symlink => 'l',
                tar::EntryType::Link => 'h',
                _ => 'f',
            };
            let path = e
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string();
            (
                path,
                kind,
                h.mode().unwrap(),
                if kind == 'f' { data } else { link },
            )
        })
        .collect()
}

#[test]
fn layer_is_reproducible_and_merged_usr() {
    let dir = tempdir("layer");
    let (res, debs) = fixture(&dir, false);
    let one = write_rootfs_layer(&res, &debs, &dir.join("one.tar"), DpkgDb::Full).unwrap();
    let two = write_rootfs_layer(&res, &debs, &dir.join("two.tar"), DpkgDb::Full).unwrap();
    assert_eq!(one.diff_id, two.diff_id);
    assert_eq!(
        std::fs::read(&one.path).unwrap(),
        std::fs::read(&two.path).unwrap()
    );
    assert_eq!(one.size, std::fs::metadata(&one.path).unwrap().len());
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("spool") || n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let e = entries(&one.path);
    let find = |p: &str| {
        e.iter()
            .find(|x| x.0 == p)
            .cloned()
            .unwrap_or_else(|| panic!("no {p}"))
    };
    // Sorted, each path once.
    let paths: Vec<&String> = e.iter().map(|x| &x.0).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(paths, sorted);
    // Merged /usr: aliases at the root, package paths moved, modes kept.
    assert_eq!(find("bin"), ("bin".into(), 'l', 0o777, "usr/bin".into()));
    assert_eq!(find("lib64").3, "usr/lib64");
    assert_eq!(find("usr/lib64").1, 'd');
    assert_eq!(
        find("usr/bin/tool"),
        ("usr/bin/tool".into(), 'f', 0o4755, "tool".into())
    );
    assert_eq!(find("usr/bin/alias").3, "tool");
    assert!(!e
        .iter()
        .any(|x| x.0.starts_with("bin/") || x.0.starts_with("lib/")));
    // The directory keeps its first declaration (alpha's /bin, 0755).
    assert_eq!(find("usr/bin").2, 0o755);
    assert!(
        one.notes.iter().any(|n| n.contains("directory /usr/bin")),
        "{:?}",
        one.notes
    );
    // Hard links: target rewritten, and the content sits at the first path.
    assert_eq!(
        find("usr/bin/tool2"),
        ("usr/bin/tool2".into(), 'h', 0o4755, "usr/bin/tool".into())
    );
    assert_eq!(find("usr/lib/a-first-link").1, 'f');
    assert_eq!(find("usr/lib/a-first-link").3, "elf");
    assert_eq!(
        find("usr/lib/x86_64-linux-gnu/libz.so.1").3,
        "usr/lib/a-first-link"
    );
    // Conflicts: alpha keeps its file, gamma replaces beta's, identical files merge.
    assert_eq!(find("etc/conflict").3, "alpha");
    assert_eq!(find("etc/replaced").3, "gamma");
    assert_eq!(find("etc/replaced").2, 0o600);
    assert!(one
        .notes
        .iter()
        .any(|n| n.contains("/etc/conflict: file conflict between alpha and beta")));
    assert!(one
        .notes
        .iter()
        .any(|n| n.contains("/etc/replaced: gamma replaces")));
    assert!(!one.notes.iter().any(|n| n.contains("/etc/same")));
    // Generated entries and the dpkg database.
    assert_eq!(find("tmp").2, 0o1777);
    assert!(find("etc/passwd").3.contains("nonroot:x:65532:65532"));
    let status = find("var/lib/dpkg/status").3;
    assert!(
        status.starts_with("Package: alpha\nStatus: install ok installed\n"),
        "{status}"
    );
    assert!(status.contains("\n\nPackage: beta\nStatus: install ok installed\n"));
    let list = find("var/lib/dpkg/info/alpha.list").3;
    assert!(list.starts_with("/.\n/bin\n/bin/tool\n"), "{list}");
    assert_eq!(find("var/lib/dpkg/info/alpha.md5sums").3, "0  bin/tool\n");
    assert_eq!(find("var/lib/dpkg/available").3, "");
    assert!(find("usr/share/doc/alpha/README").3 == "read me");
}

#[test]
fn drop_docs_keeps_copyright() {
    let dir = tempdir("docs");
    let (res, debs) = fixture(&dir, true);
    let layer = write_rootfs_layer(&res, &debs, &dir.join("l.tar"), DpkgDb::StatusD).unwrap();
    let e = entries(&layer.path);
    let has = |p: &str| e.iter().any(|x| x.0 == p);
    assert!(has("usr/share/doc/alpha/copyright"));
    assert!(has("usr/share/doc/alpha"));
    assert!(!has("usr/share/doc/alpha/README"));
    assert!(has("var/lib/dpkg/status.d/alpha"));
    assert!(!has("var/lib/dpkg/status"));
    assert!(doc_excluded("usr/share/man/man1/x.1.gz"));
    assert!(doc_excluded("usr/share/doc/libgcc-s1"));
    assert!(!doc_excluded("usr/share/man"));
    assert!(!doc_excluded("usr/share/doc/a/copyright"));
    assert!(!doc_excluded("usr/share/lintian/profiles/x"));
    assert!(doc_excluded("usr/share/lintian/overrides/x"));
}

#[test]
fn dir_layer_is_reproducible() {
    let dir = tempdir("dirlayer");
    let src = dir.join("toolchain");
    std::fs::create_dir_all(src.join("bin")).unwrap();
    std::fs::create_dir_all(src.join("lib/rustlib")).unwrap();
    std::fs::create_dir_all(src.join("share")).unwrap();
    std::fs::write(src.join("bin/rustc"), b"rustc").unwrap();
    std::fs::write(src.join("lib/rustlib/std.rlib"), b"std").unwrap();
    std::fs::write(src.join("share/doc"), b"doc").unwrap();
    std::fs::hard_link(src.join("bin/rustc"), src.join("bin/rustdoc")).unwrap();
    std::os::unix::fs::symlink("rustc", src.join("bin/rc")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        src.join("bin/rustc"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let one = write_dir_layer(&src, &["lib", "bin"], "/usr/local/", &dir.join("a.tar")).unwrap();
    let two = write_dir_layer(&src, &["bin", "lib"], "usr/local", &dir.join("b.tar")).unwrap();
    assert_eq!(one.diff_id, two.diff_id);
    let e = entries(&one.path);
    let names: Vec<&str> = e.iter().map(|x| x.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "usr",
            "usr/local",
            "usr/local/bin",
            "usr/local/bin/rc",
            "usr/local/bin/rustc",
            "usr/local/bin/rustdoc",
            "usr/local/lib",
            "usr/local/lib/rustlib",
            "usr/local/lib/rustlib/std.rlib"
        ]
    );
    assert_eq!(e[4].2, 0o755);
    assert_eq!(e[5].1, 'h');
    assert_eq!(e[5].3, "usr/local/bin/rustc");
    assert_eq!(e[3].3, "rustc");
    let mut archive = tar::Archive::new(File::open(&one.path).unwrap());
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let h = entry.header();
        assert_eq!(
            (h.uid().unwrap(), h.gid().unwrap(), h.mtime().unwrap()),
            (0, 0, 0)
        );
        assert_eq!(h.username().unwrap(), Some(""));
    }
}

#[test]
fn additions_go_through_merged_usr_and_never_replace_anything() {
    let dir = tempdir("additions");
    let (res, debs) = fixture(&dir, false);
    let script = dir.join("apk");
    std::fs::write(&script, "#!/bin/sh\necho not alpine\n").unwrap();
    let additions = Additions {
        links: [
            ("/bin/sh".to_string(), "tool".to_string()),
            ("/usr/local/bin/wget".to_string(), "/bin/tool".to_string()),
        ]
        .into(),
        files: vec![AddedFile {
            path: "/sbin/apk".into(),
            source: script.clone(),
            mode: 0o755,
            uid: 0,
            gid: 0,
        }],
    };
    let out = dir.join("added.tar");
    let layer = write_rootfs_layer_with(&res, &debs, &out, DpkgDb::StatusD, &additions).unwrap();
    let e = entries(&layer.path);
    let find = |p: &str| e.iter().find(|x| x.0 == p).cloned();
    // Written where the alias leads, never through the alias itself.
    assert_eq!(
        find("usr/bin/sh"),
        Some(("usr/bin/sh".into(), 'l', 0o777, "tool".into()))
    );
    assert_eq!(find("usr/local/bin/wget").unwrap().3, "/bin/tool");
    assert_eq!(find("usr/local/bin").unwrap().1, 'd');
    assert_eq!(
        find("usr/sbin/apk"),
        Some((
            "usr/sbin/apk".into(),
            'f',
            0o755,
            "#!/bin/sh\necho not alpine\n".into()
        ))
    );
    assert!(find("bin/sh").is_none() && find("sbin/apk").is_none());
    assert_eq!(find("bin").unwrap().3, "usr/bin");
    // The same additions give the same bytes.
    let again = write_rootfs_layer_with(
        &res,
        &debs,
        &dir.join("again.tar"),
        DpkgDb::StatusD,
        &additions,
    )
    .unwrap();
    assert_eq!(layer.diff_id, again.diff_id);

    let refused = |links: &[(&str, &str)]| {
        let additions = Additions {
            links: links
                .iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect(),
            files: vec![],
        };
        format!(
            "{:#}",
            write_rootfs_layer_with(&res, &debs, &dir.join("x.tar"), DpkgDb::StatusD, &additions)
                .unwrap_err()
        )
    };
    // A package's file, through the alias or not.
    assert!(refused(&[("/bin/tool", "x")]).contains("from package alpha"));
    assert!(refused(&[("/usr/bin/tool", "x")]).contains("already in the image"));
    // An effect's file.
    assert!(refused(&[("/etc/passwd", "x")]).contains("maintainer-script effects"));
    assert!(refused(&[("/bin", "x")]).contains("merged-/usr alias"));
    assert!(refused(&[("/etc/same/x", "y")]).contains("not a directory"));
    assert!(refused(&[("bin/sh", "x")]).contains("not an absolute path"));
    assert!(refused(&[("/usr/../etc/x", "x")]).contains("plain absolute path"));
    // Two additions at one place: `/bin/x` and `/usr/bin/x` are the same file.
    assert!(refused(&[("/bin/x", "a"), ("/usr/bin/x", "b")]).contains("both"));
}
