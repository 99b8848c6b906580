//! One image, every layout: the engine's classic `docker save`, skopeo's docker archive (layers
//! named by diff ID, legacy links), and skopeo's OCI archives with gzip layers (what the
//! containerd image store keeps) and zstd layers. The figures are the same from each; only the
//! stored form of the layers differs.

use image_analysis::{Analysis, Compression, Layout};

use crate::oracle::churn_dockerfile;
use crate::support;

/// What must not depend on how the layers are stored.
fn figures(a: &Analysis) -> (f64, u64, u64, u64, u64, Vec<String>) {
    (
        a.efficiency,
        a.wasted_bytes,
        a.reclaimable_bytes,
        a.file_count,
        a.size_bytes,
        a.layers.iter().map(|l| l.diff_id.clone()).collect(),
    )
}

#[test]
fn skopeo_archives_give_the_figures_of_the_classic_save() {
    support::require_dive();
    support::require_skopeo();
    support::require_engine();
    let dir = tempfile::tempdir().unwrap();
    let base = support::shell_base("layouts");
    let image = support::build(
        "layouts-churn",
        &churn_dockerfile(&base.name),
        &[
            ("data/a.bin", vec![3; 100_000]),
            ("data/b.bin", vec![4; 60_000]),
        ],
    );
    let analyzer = support::analyzer(None);
    let classic_path = support::save(&image.name, dir.path());
    let classic = analyzer.analyze_file(&classic_path).unwrap();
    let dive = support::dive(&classic_path);
    support::assert_agrees("classic save", &classic, dive);
    assert_eq!(classic.layout, Layout::Classic);

    let daemon = format!("docker-daemon:{}", image.name);
    let gzip = dir.path().join("oci-gzip.tar");
    let zstd = dir.path().join("oci-zstd.tar");
    let docker = dir.path().join("docker-archive.tar");
    support::skopeo_copy(&daemon, &format!("oci-archive:{}", gzip.display()), &[]);
    support::skopeo_copy(
        &daemon,
        &format!("oci-archive:{}", zstd.display()),
        &["--dest-compress-format", "zstd"],
    );
    support::skopeo_copy(
        &daemon,
        &format!("docker-archive:{}:{}", docker.display(), image.name),
        &[],
    );
    for (case, path, layout, compression) in [
        (
            "skopeo oci-archive (gzip)",
            &gzip,
            Layout::Oci,
            Compression::Gzip,
        ),
        (
            "skopeo oci-archive (zstd)",
            &zstd,
            Layout::Oci,
            Compression::Zstd,
        ),
        (
            "skopeo docker-archive",
            &docker,
            Layout::Classic,
            Compression::None,
        ),
    ] {
        let ours = analyzer.analyze_file(path).unwrap();
        println!(
            "{case}: efficiency {} wasted {} reclaimable {} files {} compressed {:?} (classic {:?})",
            ours.efficiency,
            ours.wasted_bytes,
            ours.reclaimable_bytes,
            ours.file_count,
            ours.compressed_bytes,
            classic.compressed_bytes
        );
        assert_eq!(ours.layout, layout, "{case}");
        assert!(
            ours.layers.iter().all(|l| l.compression == compression),
            "{case}: {:?}",
            ours.layers
        );
        assert_eq!(figures(&ours), figures(&classic), "{case}");
        assert_eq!(ours.fs, classic.fs, "{case}");
        let file = std::fs::File::open(path).unwrap();
        let streamed = analyzer
            .analyze_stream(std::io::BufReader::new(file))
            .unwrap();
        assert_eq!(streamed, ours, "{case}: the file and the stream differ");
        // What a registry stores is within a few percent whoever compressed the layers.
        let ratio =
            ours.compressed_bytes.unwrap() as f64 / classic.compressed_bytes.unwrap() as f64;
        if compression != Compression::Zstd {
            assert!((0.9..1.1).contains(&ratio), "{case}: {ratio}");
        }
    }
    // dive reads skopeo's docker archive too, and says the same.
    support::assert_agrees(
        "skopeo docker-archive (dive)",
        &classic,
        support::dive(&docker),
    );
}
