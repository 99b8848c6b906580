//! The whole analysis on archives made here, in every layout the crate reads, from a file and
//! from a stream, with and without the cache.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::*;

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn hex_of(digest: &str) -> &str {
    &digest[7..]
}

/// A layer tar from `(path, contents)` pairs; a path ending in `/` is a directory and contents
/// starting with `->` make a symbolic link.
fn layer(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, contents) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o755);
        if path.ends_with('/') {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            builder
                .append_data(&mut header, path, std::io::empty())
                .unwrap();
        } else if let Some(target) = contents.strip_prefix("->") {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            builder.append_link(&mut header, path, target).unwrap();
        } else {
            header.set_size(contents.len() as u64);
            builder
                .append_data(&mut header, path, contents.as_bytes())
                .unwrap();
        }
    }
    builder.into_inner().unwrap()
}

/// Appends members to an archive, sorted by name as `docker save` writes them.
fn archive(mut members: Vec<(String, Member)>) -> Vec<u8> {
    members.sort_by(|a, b| a.0.cmp(&b.0));
    let mut builder = tar::Builder::new(Vec::new());
    for (name, member) in members {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        match member {
            Member::Data(bytes) => {
                header.set_size(bytes.len() as u64);
                builder
                    .append_data(&mut header, &name, bytes.as_slice())
                    .unwrap();
            }
            Member::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, &name, &target).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

enum Member {
    Data(Vec<u8>),
    Symlink(String),
}

fn config(layers: &[Vec<u8>]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha(l)).collect();
    json!({"architecture": "amd64", "os": "linux", "config": {},
           "rootfs": {"type": "layers", "diff_ids": diff_ids}})
    .to_string()
    .into_bytes()
}

/// Docker's layer IDs in the classic layout follow the chain below the layer, so the same lower
/// layers keep their member names from one image to the next.
fn chain_ids(layers: &[Vec<u8>]) -> Vec<String> {
    let mut chain = String::new();
    layers
        .iter()
        .map(|l| {
            chain = sha(format!("{chain} {}", sha(l)).as_bytes());
            hex_of(&chain).to_string()
        })
        .collect()
}

/// The layout of Docker before 25: `<id>/layer.tar`, `<config>.json`, `manifest.json`.
fn classic(layers: &[Vec<u8>]) -> Vec<u8> {
    classic_many(&[("x:y", layers)])
}

/// One classic archive of several images, their shared layers stored once, as `docker save A B`
/// writes it.
fn classic_many(images: &[(&str, &[Vec<u8>])]) -> Vec<u8> {
    let mut members: BTreeMap<String, Member> = BTreeMap::new();
    let mut items = Vec::new();
    for (tag, layers) in images {
        let config = config(layers);
        let config_name = format!("{}.json", hex_of(&sha(&config)));
        let mut names = Vec::new();
        for (id, layer) in chain_ids(layers).into_iter().zip(layers.iter()) {
            members.insert(format!("{id}/VERSION"), Member::Data(b"1.0".to_vec()));
            members.insert(format!("{id}/layer.tar"), Member::Data(layer.clone()));
            names.push(format!("{id}/layer.tar"));
        }
        items.push(json!({"Config": config_name, "RepoTags": [tag], "Layers": names}));
        members.insert(config_name, Member::Data(config));
    }
    members.insert(
        "manifest.json".into(),
        Member::Data(json!(items).to_string().into_bytes()),
    );
    archive(members.into_iter().collect())
}

/// The layout of skopeo's and podman's docker archives: `<diff id>.tar` with legacy links.
fn skopeo_docker(layers: &[Vec<u8>]) -> Vec<u8> {
    let config = config(layers);
    let config_name = format!("{}.json", hex_of(&sha(&config)));
    let mut members = Vec::new();
    let mut names = Vec::new();
    for (id, layer) in chain_ids(layers).into_iter().zip(layers) {
        let name = format!("{}.tar", hex_of(&sha(layer)));
        members.push((
            format!("{id}/layer.tar"),
            Member::Symlink(format!("../{name}")),
        ));
        members.push((name.clone(), Member::Data(layer.clone())));
        names.push(name);
    }
    let manifest = json!([{"Config": config_name, "RepoTags": ["x:y"], "Layers": names}]);
    members.push((config_name, Member::Data(config)));
    members.push((
        "manifest.json".into(),
        Member::Data(manifest.to_string().into_bytes()),
    ));
    archive(members)
}

#[derive(Clone, Copy)]
enum Stored {
    Plain,
    Gzip,
    Zstd,
}

/// The OCI layout: `index.json` → (an index →) a manifest → config and layers, optionally with
/// Docker's `manifest.json` beside it as Docker 25 writes.
fn oci(layers: &[Vec<u8>], stored: Stored, nested: bool, docker_manifest: bool) -> Vec<u8> {
    let mut members = Vec::new();
    let mut blob = |bytes: Vec<u8>| {
        let digest = sha(&bytes);
        let len = bytes.len();
        members.push((
            format!("blobs/sha256/{}", hex_of(&digest)),
            Member::Data(bytes),
        ));
        (digest, len)
    };
    let (layer_type, descriptors): (&str, Vec<(String, usize)>) = match stored {
        Stored::Plain => (
            "application/vnd.oci.image.layer.v1.tar",
            layers.iter().map(|l| blob(l.clone())).collect(),
        ),
        Stored::Gzip => (
            "application/vnd.oci.image.layer.v1.tar+gzip",
            layers
                .iter()
                .map(|l| {
                    let mut gz =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    gz.write_all(l).unwrap();
                    blob(gz.finish().unwrap())
                })
                .collect(),
        ),
        Stored::Zstd => (
            "application/vnd.oci.image.layer.v1.tar+zstd",
            layers
                .iter()
                .map(|l| blob(zstd::encode_all(l.as_slice(), 3).unwrap()))
                .collect(),
        ),
    };
    let (config_digest, config_len) = blob(config(layers));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_len},
        "layers": descriptors.iter().map(|(d, s)| json!({"mediaType": layer_type, "digest": d, "size": s})).collect::<Vec<_>>(),
    });
    let (manifest_digest, manifest_len) = blob(manifest.to_string().into_bytes());
    let mut top = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                         "digest": manifest_digest, "size": manifest_len});
    if nested {
        let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                           "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                          "digest": manifest_digest, "size": manifest_len,
                                          "platform": {"os": "linux", "architecture": "amd64"}}]});
        let (index_digest, index_len) = blob(index.to_string().into_bytes());
        top = json!({"mediaType": "application/vnd.oci.image.index.v1+json",
                     "digest": index_digest, "size": index_len});
    }
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [top]});
    members.push((
        "index.json".into(),
        Member::Data(index.to_string().into_bytes()),
    ));
    members.push((
        "oci-layout".into(),
        Member::Data(br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
    ));
    if docker_manifest {
        let names: Vec<String> = descriptors
            .iter()
            .map(|(d, _)| format!("blobs/sha256/{}", hex_of(d)))
            .collect();
        let manifest = json!([{"Config": format!("blobs/sha256/{}", hex_of(&config_digest)),
                               "RepoTags": ["x:y"], "Layers": names}]);
        members.push((
            "manifest.json".into(),
            Member::Data(manifest.to_string().into_bytes()),
        ));
    }
    archive(members)
}

/// Layers with something of everything: an overwrite, a deleted file, a deleted directory, an
/// opaque directory, links.
fn churn() -> Vec<Vec<u8>> {
    vec![
        layer(&[
            ("bin", "->usr/bin"),
            ("usr/", ""),
            ("usr/bin/", ""),
            ("usr/bin/dash", "#!dash"),
            ("usr/bin/sh", "->dash"),
            ("etc/", ""),
            ("etc/big", &"b".repeat(5000)),
            ("tmp/", ""),
            ("tmp/cache/", ""),
            ("tmp/cache/a", &"a".repeat(700)),
            ("opt/", ""),
            ("opt/old", "old"),
        ]),
        layer(&[
            ("etc/", ""),
            ("etc/big", &"c".repeat(1200)),
            ("tmp/", ""),
            ("tmp/.wh.cache", ""),
            ("opt/", ""),
            ("opt/.wh..wh..opq", ""),
            ("opt/new", "new!"),
        ]),
        layer(&[
            ("etc/", ""),
            ("etc/.wh.big", ""),
            ("srv/", ""),
            ("srv/app", &"x".repeat(900)),
        ]),
    ]
}

fn analyzer(cache: Option<&std::path::Path>) -> Analyzer {
    Analyzer::new(Options {
        cache_dir: cache.map(|p| p.to_path_buf()),
        threads: 2,
        ..Options::default()
    })
    .unwrap()
}

/// An analyser that does not deflate plain layers for their compressed size.
fn analyzer_without_compressed_size(cache: Option<&std::path::Path>) -> Analyzer {
    Analyzer::new(Options {
        cache_dir: cache.map(|p| p.to_path_buf()),
        threads: 2,
        compressed_size: false,
        ..Options::default()
    })
    .unwrap()
}

/// An analysis with every compressed size taken out, to compare the rest.
fn without_compressed_sizes(a: &Analysis) -> Analysis {
    let mut a = a.clone();
    a.compressed_bytes = None;
    for layer in &mut a.layers {
        layer.compressed_bytes = None;
    }
    a
}

fn from_file(analyzer: &Analyzer, bytes: &[u8]) -> Analysis {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    analyzer.analyze_file(file.path()).unwrap()
}

/// The figures that do not depend on how the layers are stored.
fn figures(a: &Analysis) -> (f64, u64, u64, u64, u64, Vec<String>, Vec<PathSize>) {
    (
        a.efficiency,
        a.wasted_bytes,
        a.reclaimable_bytes,
        a.file_count,
        a.size_bytes,
        a.layers.iter().map(|l| l.diff_id.clone()).collect(),
        a.largest_files.clone(),
    )
}

#[test]
fn every_layout_and_source_gives_the_same_figures() {
    let layers = churn();
    let analyzer = analyzer(None);
    let reference = from_file(&analyzer, &classic(&layers));
    assert_eq!(reference.layout, Layout::Classic);
    assert_eq!(reference.layers.len(), 3);
    let archives = [
        ("skopeo docker", skopeo_docker(&layers)),
        ("oci plain", oci(&layers, Stored::Plain, false, false)),
        ("oci gzip", oci(&layers, Stored::Gzip, false, false)),
        ("oci zstd nested", oci(&layers, Stored::Zstd, true, false)),
        ("docker 25", oci(&layers, Stored::Plain, false, true)),
        ("containerd store", oci(&layers, Stored::Gzip, true, true)),
    ];
    for (name, bytes) in archives
        .iter()
        .chain([("classic", classic(&layers))].iter())
    {
        let file = from_file(&analyzer, bytes);
        let stream = analyzer.analyze_stream(bytes.as_slice()).unwrap();
        assert_eq!(figures(&file), figures(&reference), "{name} from a file");
        assert_eq!(file, stream, "{name}: the file and the stream differ");
        assert_eq!(file.fs, reference.fs, "{name}");
    }
}

#[test]
fn the_figures_are_dives_and_ours() {
    let a = from_file(&analyzer(None), &classic(&churn()));
    // dive: /etc/big 5000 + 1200 + 0 (its whiteout deletes a file), /tmp/cache 700 (the
    // whiteout of a directory) beside /tmp/cache/a 700; the opaque marker hides nothing, so
    // /opt/old counts once.
    assert_eq!(a.wasted_bytes, 6200);
    assert_eq!(
        a.wasted_paths,
        vec![WastedPath {
            path: "/etc/big".into(),
            copies: 3,
            size_bytes: 6200
        }]
    );
    // Ours: /etc/big could give back 5000 + 1200 of its three copies (5000, 1200, and 1200
    // for the whiteout that deleted it).
    assert_eq!(a.reclaimable_bytes, 6200);
    // Hidden: /etc/big's three copies (5000 + 1200), /tmp/cache/a (700), /opt/old (3).
    assert_eq!(a.hidden_bytes, 6903);
    assert!(!a.exists("/etc/big"));
    assert!(!a.exists("/tmp/cache"));
    assert!(!a.exists("/opt/old"));
    assert!(a.exists("/opt/new"));
    assert_eq!(a.resolve("/bin/sh").as_deref(), Some("/usr/bin/dash"));
    assert!(a.has_shell());
    assert!(!a.has_package_manager());
    assert_eq!(a.file_count, 3);
}

#[test]
fn compressed_bytes_are_the_blobs_or_the_gzip_of_the_tar_plus_config_and_manifest() {
    let layers = churn();
    let analyzer = analyzer(None);
    let plain = from_file(&analyzer, &classic(&layers));
    for layer in &plain.layers {
        assert_eq!(layer.compression, Compression::None);
        assert_eq!(layer.blob_bytes, layer.tar_bytes);
        assert!(
            layer.compressed_bytes.unwrap() < layer.tar_bytes / 2,
            "{layer:?}"
        );
    }
    let config_len = config(&layers).len() as u64;
    let layers_sum: u64 = plain
        .layers
        .iter()
        .map(|l| l.compressed_bytes.unwrap())
        .sum();
    assert_eq!(plain.compressed_bytes, Some(layers_sum + config_len));
    let zstd = from_file(&analyzer, &oci(&layers, Stored::Zstd, false, false));
    assert!(zstd.manifest_digest.is_some());
    for layer in &zstd.layers {
        assert_eq!(layer.compression, Compression::Zstd);
        assert_eq!(layer.compressed_bytes, Some(layer.blob_bytes));
        assert_eq!(
            layer.media_type,
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
    }
    let blobs: u64 = zstd.layers.iter().map(|l| l.blob_bytes).sum();
    assert!(zstd.compressed_bytes.unwrap() > blobs + config_len);
    assert_eq!(plain.config_digest, zstd.config_digest);
}

#[test]
fn a_warm_cache_reads_only_the_new_layers_from_a_file_and_from_a_stream() {
    let dir = tempfile::tempdir().unwrap();
    let cold = analyzer(None);
    for make in [classic as fn(&[Vec<u8>]) -> Vec<u8>, |l: &[Vec<u8>]| {
        oci(l, Stored::Gzip, false, true)
    }] {
        let mut layers = churn();
        let first = make(&layers);
        let warm = analyzer(Some(dir.path()));
        let a = from_file(&warm, &first);
        assert!(a.layers.iter().all(|l| !l.cached));
        let b = from_file(&warm, &first);
        assert!(b.layers.iter().all(|l| l.cached));
        assert_eq!(figures(&a), figures(&b));
        // A source edit: the same lower layers under a new top.
        layers[2] = layer(&[("srv/", ""), ("srv/app", &"y".repeat(901))]);
        let edited = make(&layers);
        let c = from_file(&warm, &edited);
        let read: Vec<bool> = c.layers.iter().map(|l| l.cached).collect();
        assert_eq!(read, [true, true, false]);
        assert_eq!(figures(&c), figures(&from_file(&cold, &edited)));
        // A stream knows the lower layers by their names from the run before.
        let s = warm.analyze_stream(edited.as_slice()).unwrap();
        assert!(s.layers.iter().all(|l| l.cached), "{:?}", s.layers);
        layers[2] = layer(&[("srv/", ""), ("srv/app", &"z".repeat(902))]);
        let again = make(&layers);
        let s = warm.analyze_stream(again.as_slice()).unwrap();
        let read: Vec<bool> = s.layers.iter().map(|l| l.cached).collect();
        assert_eq!(read, [true, true, false]);
        assert_eq!(figures(&s), figures(&from_file(&cold, &again)));
    }
}

#[test]
fn a_member_that_no_longer_holds_what_its_name_held_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let warm = analyzer(Some(dir.path()));
    let layers = churn();
    warm.analyze_stream(classic(&layers).as_slice()).unwrap();
    // The same member names and sizes, other bytes: not what a real engine writes.
    let mut forged = layers.clone();
    let last = forged[2].len();
    forged[2][last - 1100] ^= 1;
    let mut archive = classic(&layers);
    let at = archive
        .windows(layers[2].len())
        .position(|w| w == layers[2].as_slice())
        .unwrap();
    archive[at..at + last].copy_from_slice(&forged[2]);
    let err = warm.analyze_stream(archive.as_slice()).unwrap_err();
    assert!(format!("{err:#}").contains("without the cache"), "{err:#}");
}

#[test]
fn a_blob_that_is_not_what_the_manifest_says_is_an_error() {
    let layers = churn();
    let mut bytes = oci(&layers, Stored::Plain, false, false);
    let at = bytes
        .windows(layers[1].len())
        .position(|w| w == layers[1].as_slice())
        .unwrap();
    bytes[at + 1024 + 100] ^= 1;
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(&bytes).unwrap();
    let err = analyzer(None).analyze_file(file.path()).unwrap_err();
    assert!(format!("{err:#}").contains("as the image says"), "{err:#}");
    let err = analyzer(None).analyze_stream(bytes.as_slice()).unwrap_err();
    assert!(format!("{err:#}").contains("diff ID"), "{err:#}");
}

#[test]
fn an_archive_without_a_manifest_or_without_a_layer_is_an_error() {
    let err = analyzer(None)
        .analyze_stream(archive(vec![("x".into(), Member::Data(vec![]))]).as_slice())
        .unwrap_err();
    assert!(format!("{err:#}").contains("manifest.json"), "{err:#}");
    let layers = churn();
    let config = config(&layers);
    let config_name = format!("{}.json", hex_of(&sha(&config)));
    let manifest =
        json!([{"Config": config_name, "Layers": ["a/layer.tar", "b/layer.tar", "c/layer.tar"]}]);
    let bytes = archive(vec![
        (config_name, Member::Data(config)),
        (
            "manifest.json".into(),
            Member::Data(manifest.to_string().into_bytes()),
        ),
        ("a/layer.tar".into(), Member::Data(layers[0].clone())),
    ]);
    let err = analyzer(None).analyze_stream(bytes.as_slice()).unwrap_err();
    assert!(
        format!("{err:#}").contains("lacks the layer b/layer.tar"),
        "{err:#}"
    );
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(&bytes).unwrap();
    let err = analyzer(None).analyze_file(file.path()).unwrap_err();
    assert!(
        format!("{err:#}").contains("lacks the layer b/layer.tar"),
        "{err:#}"
    );
}

#[test]
fn the_analysis_serialises_and_comes_back() {
    let a = from_file(&analyzer(None), &oci(&churn(), Stored::Gzip, true, false));
    let text = serde_json::to_string(&a).unwrap();
    let back: Analysis = serde_json::from_str(&text).unwrap();
    assert_eq!(back, a);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    for field in [
        "compressed_bytes",
        "efficiency",
        "wasted_bytes",
        "reclaimable_bytes",
        "file_count",
        "largest_files",
        "fs",
        "layers",
        "config_digest",
    ] {
        assert!(value.get(field).is_some(), "{field}");
    }
    assert_eq!(value["layers"][0]["compression"], "gzip");
}

#[test]
fn every_image_of_an_archive_is_analysed_with_its_shared_layers_read_once() {
    let base = churn();
    let mut other = churn();
    other[2] = layer(&[("srv/", ""), ("srv/other", &"o".repeat(4000))]);
    let both = classic_many(&[("a:1", &base), ("b:2", &other)]);
    let analyzer = analyzer(None);
    let alone = [
        from_file(&analyzer, &classic(&base)),
        from_file(&analyzer, &classic(&other)),
    ];
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(&both).unwrap();
    let all = analyzer.analyze_file_all(file.path()).unwrap();
    let streamed = analyzer.analyze_stream_all(both.as_slice()).unwrap();
    assert_eq!(all, streamed);
    assert_eq!(all.len(), 2);
    for (one, alone) in all.iter().zip(&alone) {
        assert_eq!(figures(one), figures(alone));
        assert_eq!(one.compressed_bytes, alone.compressed_bytes);
    }
    assert_eq!(all[0].tags, ["a:1"]);
    assert_eq!(all[1].tags, ["b:2"]);
    // The single-image calls give the first image.
    assert_eq!(analyzer.analyze_file(file.path()).unwrap(), all[0]);
    assert_eq!(analyzer.analyze_stream(both.as_slice()).unwrap(), all[0]);
}

#[test]
fn without_the_compressed_size_plain_layers_have_none_and_every_other_figure_is_the_same() {
    let layers = churn();
    let on = analyzer(None);
    let off = analyzer_without_compressed_size(None);
    for (name, bytes) in [
        ("classic", classic(&layers)),
        ("oci plain", oci(&layers, Stored::Plain, false, false)),
        ("docker 25", oci(&layers, Stored::Plain, false, true)),
    ] {
        let full = from_file(&on, &bytes);
        let file = from_file(&off, &bytes);
        let stream = off.analyze_stream(bytes.as_slice()).unwrap();
        assert_eq!(file, stream, "{name}: the file and the stream differ");
        // Absent, not zero: the image's and every plain layer's.
        assert_eq!(file.compressed_bytes, None, "{name}");
        assert!(
            file.layers.iter().all(|l| l.compressed_bytes.is_none()),
            "{name}"
        );
        assert!(full.compressed_bytes.is_some(), "{name}");
        // dive's figures, and everything else, are those of the full analysis.
        assert_eq!(
            (file.efficiency, file.wasted_bytes, &file.wasted_paths),
            (full.efficiency, full.wasted_bytes, &full.wasted_paths),
            "{name}"
        );
        assert_eq!(file, without_compressed_sizes(&full), "{name}");
        assert_eq!(file, full.clone().without_compressed_size(), "{name}");
        // The absent size is written as null and reads back as absent.
        let value = serde_json::to_value(&file).unwrap();
        assert!(value["compressed_bytes"].is_null(), "{name}");
        assert!(value["layers"][0]["compressed_bytes"].is_null(), "{name}");
        assert_eq!(serde_json::from_value::<Analysis>(value).unwrap(), file);
    }
    // A layer stored compressed keeps its blob's size: that costs nothing.
    for stored in [Stored::Gzip, Stored::Zstd] {
        let bytes = oci(&layers, stored, false, false);
        let full = from_file(&on, &bytes);
        let light = from_file(&off, &bytes);
        assert!(light.compressed_bytes.is_some());
        assert_eq!(light, full);
        assert_eq!(full.clone().without_compressed_size(), full);
    }
}

#[test]
fn a_cache_filled_without_the_compressed_size_gives_the_real_one_when_it_is_wanted() {
    let layers = churn();
    let cold = from_file(&analyzer(None), &classic(&layers));
    for stream in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let analyse = |analyzer: &Analyzer, bytes: &[u8]| {
            if stream {
                analyzer.analyze_stream(bytes).unwrap()
            } else {
                from_file(analyzer, bytes)
            }
        };
        let off = analyzer_without_compressed_size(Some(dir.path()));
        let on = analyzer(Some(dir.path()));
        let bytes = classic(&layers);
        // A file's run leaves the member names a stream needs to know its layers.
        from_file(&off, &bytes);
        let light = analyse(&off, &bytes);
        assert!(light.layers.iter().all(|l| l.cached));
        assert_eq!(light.compressed_bytes, None);
        // The records lack the size: the layers are read again, deflated this time.
        let full = analyse(&on, &bytes);
        assert!(full.layers.iter().all(|l| !l.cached), "{:?}", full.layers);
        assert_eq!(
            full.compressed_bytes, cold.compressed_bytes,
            "stream: {stream}"
        );
        let sizes = |a: &Analysis| -> Vec<Option<u64>> {
            a.layers.iter().map(|l| l.compressed_bytes).collect()
        };
        assert_eq!(sizes(&full), sizes(&cold));
        assert!(sizes(&full).iter().all(|size| size.is_some()));
        // Now the whole records serve both, and each still says what it was asked.
        let again = analyse(&on, &bytes);
        assert!(again.layers.iter().all(|l| l.cached));
        assert_eq!(again.compressed_bytes, cold.compressed_bytes);
        let light = analyse(&off, &bytes);
        assert!(light.layers.iter().all(|l| l.cached));
        assert_eq!(light.compressed_bytes, None);
        assert!(light.layers.iter().all(|l| l.compressed_bytes.is_none()));
    }
}
