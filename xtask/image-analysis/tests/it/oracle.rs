//! dive 0.13.1 as the oracle: on every archive, our `efficiency` is dive's `efficiencyScore` (to
//! 1e-4), our `wasted_bytes` its `inefficientBytes` and our `size_bytes` its `sizeBytes` (to the
//! byte), from a file and from a stream alike.

use std::path::Path;

use crate::layers;
use crate::support::{self, TestImage};

/// Compares dive and us on an archive file, reading it as a file and as a stream.
fn agree(case: &str, archive: &Path) -> image_analysis::Analysis {
    let dive = support::dive(archive);
    let analyzer = support::analyzer(None);
    let from_file = analyzer.analyze_file(archive).unwrap();
    support::assert_agrees(case, &from_file, dive);
    let file = std::fs::File::open(archive).unwrap();
    let from_stream = analyzer
        .analyze_stream(std::io::BufReader::new(file))
        .unwrap();
    assert_eq!(
        from_file, from_stream,
        "{case}: the file and the stream differ"
    );
    from_file
}

#[test]
fn hand_made_archives_agree_with_dive_before_and_after_the_engine() {
    support::require_dive();
    support::require_engine();
    let dir = tempfile::tempdir().unwrap();
    for (case, layers) in [
        ("edge-cases", layers::edge_cases()),
        ("whiteout-of-nothing", layers::whiteout_of_nothing()),
    ] {
        let name = TestImage::name_for(case);
        let archive = support::classic_archive(&layers, &name);
        let path = dir.path().join(format!("{case}.tar"));
        std::fs::write(&path, &archive).unwrap();
        let ours = agree(&format!("{case} (hand-made)"), &path);
        // dive's quirk: the whiteout of nothing hides the overwrite after it, so dive sees no
        // waste there, only a score below 1 (the path's smallest size is -1).
        assert!(ours.efficiency < 1.0, "{case}: the case wastes nothing");
        // The engine keeps a loaded layer's tar byte for byte: the same figures come back.
        let image = support::load(&archive, name);
        let saved = support::save(&image.name, dir.path());
        let again = agree(&format!("{case} (loaded and saved)"), &saved);
        assert_eq!(again.efficiency, ours.efficiency, "{case}");
        assert_eq!(again.wasted_bytes, ours.wasted_bytes, "{case}");
        assert_eq!(again.fs, ours.fs, "{case}");
    }
}

#[test]
fn images_built_by_the_engine_agree_with_dive() {
    support::require_dive();
    support::require_engine();
    let dir = tempfile::tempdir().unwrap();
    let base = support::shell_base("oracle");
    let churn = support::build(
        "oracle-churn",
        &churn_dockerfile(&base.name),
        &[
            ("data/a.bin", vec![7; 120_000]),
            ("data/b.bin", vec![9; 80_000]),
        ],
    );
    let copies = support::build(
        "oracle-copies",
        "FROM scratch\n\
         COPY data/a.bin /data/f\n\
         COPY data/b.bin /data/f\n\
         COPY data/ /data/\n\
         COPY data/b.bin /other/f\n",
        &[
            ("data/a.bin", vec![1; 50_000]),
            ("data/b.bin", vec![2; 90_000]),
        ],
    );
    for image in [&churn, &copies] {
        let saved = support::save(&image.name, dir.path());
        let ours = agree(&image.name, &saved);
        assert!(
            ours.wasted_bytes > 0,
            "{}: the image wastes nothing",
            image.name
        );
        assert!(
            ours.reclaimable_bytes <= ours.wasted_bytes,
            "{}",
            image.name
        );
    }
}

/// Steps that make waste the usual ways: a file written and deleted later, a cache directory
/// deleted, a directory replaced, a file copied in and then changed.
pub fn churn_dockerfile(base: &str) -> String {
    format!(
        "FROM {base}\n\
         RUN mkdir -p /var/cache/build/sub /opt/app /srv && \
             head -c 300000 /dev/urandom > /var/cache/build/blob && \
             head -c 5000 /dev/zero > /var/cache/build/sub/zeros && \
             head -c 2000 /dev/urandom > /opt/app/old && \
             head -c 70000 /dev/urandom > /srv/tmp.bin\n\
         COPY data/a.bin /srv/a.bin\n\
         RUN rm -rf /var/cache/build && rm /srv/tmp.bin && \
             rm -rf /opt/app && mkdir /opt/app && head -c 900 /dev/urandom > /opt/app/new\n\
         COPY data/b.bin /srv/a.bin\n\
         RUN chmod 600 /srv/a.bin && touch /bin/cat\n"
    )
}

#[test]
fn the_bases_and_the_project_images_agree_with_dive_when_present() {
    support::require_dive();
    support::require_engine();
    let dir = tempfile::tempdir().unwrap();
    let candidates = [
        "webtest-base/distroless-static:bookworm",
        "webtest-base/debian-slim:bookworm",
        "webtest:multistage",
        "webtest:simples",
        "webtest:target",
    ];
    let mut compared = Vec::new();
    for name in candidates {
        // These images belong to the project, not to this test: they may be absent, or be
        // removed by a concurrent `cargo xtask clean` between the look and the save.
        if !support::image_exists(name) {
            println!("{name}: not in the engine, not compared");
            continue;
        }
        let Some(saved) = support::try_save(name, dir.path()) else {
            println!("{name}: gone before it could be saved, not compared");
            continue;
        };
        agree(name, &saved);
        std::fs::remove_file(saved).unwrap();
        compared.push(name);
    }
    println!("compared with dive: {compared:?}");
}
