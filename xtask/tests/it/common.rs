//! What the integration tests share: running `cargo xtask` as a user would, asking the engine
//! through the docker CLI (independently of the xtask's own engine code), and temporary
//! manifests. These tests drive the real engine; when it cannot be reached they fail and say why.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// Tests in one binary run on threads; the ones that use the engine take turns, because they
/// share tags and the host port.
static ENGINE: Mutex<()> = Mutex::new(());

/// One test's turn on the engine: held while the test runs, and on its end the time it held the
/// engine is added to `target/xtask-tests/durations.tsv`, which `.ci/run` prints slowest first,
/// so that a CI run that grows says which test grew.
pub struct Turn {
    _guard: MutexGuard<'static, ()>,
    started: Instant,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let test = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string();
        let line = format!("{:.1}\t{test}\n", self.started.elapsed().as_secs_f64());
        let path = root().join("target/xtask-tests/durations.tsv");
        let _ = std::fs::create_dir_all(path.parent().unwrap());
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            let _ = file.write_all(line.as_bytes());
        }
    }
}

/// Takes the engine for one test, after checking that it answers.
pub fn engine() -> Turn {
    let guard = ENGINE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let out = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output();
    match out {
        Ok(out) if out.status.success() => {
            there_before();
            Turn {
                _guard: guard,
                started: Instant::now(),
            }
        }
        Ok(out) => panic!(
            "these tests need a running Docker engine, and `docker version` fails: {}\nstart the daemon (or set DOCKER_HOST) and run the tests again",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(err) => panic!("these tests need the docker CLI and a running engine: {err}"),
    }
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs `cargo xtask ARGS` (the built binary) from the project root, colours off.
pub fn xtask(args: &[&str]) -> Output {
    run_logged(xtask_command(args))
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs the docker CLI and returns its standard output; panics with its error otherwise.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The repositories the tests build into or import test images under; a container made from
/// one of their images is the tests' own.
const TEST_REPOSITORY_PREFIXES: [&str; 2] = ["webtest-it", "webtest-test/"];

/// The labelled containers that were in the engine before these tests first took it, decided
/// once: a user's run of the tool, or what an earlier test run that was killed left behind.
/// They are not this run's doing, so "nothing left behind" is asked of the others only; an
/// engine that outlives its test runs (a CI machine's) would otherwise fail every such test
/// for good after one bad run. Before deciding, the containers an earlier test run made from
/// the tests' own images and left stopped are removed, and what remains is said.
fn there_before() -> &'static [String] {
    static THERE: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    THERE.get_or_init(|| {
        let listed = docker(&[
            "ps",
            "-a",
            "--no-trunc",
            "--filter",
            "label=io.webtest.xtask=1",
            "--format",
            "{{.ID}}\t{{.Image}}\t{{.State}}",
        ]);
        let mut kept = Vec::new();
        for line in listed.lines() {
            let mut fields = line.split('\t');
            let (id, image, state) = (
                fields.next().unwrap_or(""),
                fields.next().unwrap_or(""),
                fields.next().unwrap_or(""),
            );
            let tests_own = TEST_REPOSITORY_PREFIXES
                .iter()
                .any(|prefix| image.starts_with(prefix));
            if tests_own && state != "running" {
                say(&format!(
                    "tests: removing {id:.12} ({image}, {state}), left by an earlier test run"
                ));
                let _ = Command::new("docker").args(["rm", "-f", id]).output();
            } else {
                kept.push(id.to_string());
            }
        }
        if !kept.is_empty() {
            say(&format!(
                "tests: {} labelled container(s) were in the engine before the tests and are left alone: {}",
                kept.len(),
                kept.iter().map(|id| &id[..12.min(id.len())]).collect::<Vec<_>>().join(" ")
            ));
        }
        kept
    })
}

/// Writes a line to the test binary's standard error past the harness's capture, so that it
/// shows in CI's log whether the test passes or not.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Labelled containers, running or not, that were not there before the tests: what a test left.
pub fn labelled_containers() -> Vec<String> {
    new_containers(&[
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        "label=io.webtest.xtask=1",
    ])
}

/// Labelled containers running now that were not there before the tests.
pub fn running_labelled_containers() -> Vec<String> {
    new_containers(&[
        "ps",
        "-q",
        "--no-trunc",
        "--filter",
        "label=io.webtest.xtask=1",
    ])
}

/// The containers `docker ARGS` lists (IDs in full, one a line), less the labelled ones that
/// were there before the tests.
pub fn new_containers(args: &[&str]) -> Vec<String> {
    let before = there_before();
    docker(args)
        .lines()
        .filter(|id| !before.iter().any(|old| old == id))
        .map(str::to_string)
        .collect()
}

/// A fresh directory under target/, for one test's files.
pub fn scratch(name: &str) -> PathBuf {
    let dir = root().join("target").join("xtask-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The repository the tests build into, so that the images a user built (`webtest:*`) are
/// neither replaced nor removed by `cargo test`. The build cache makes the tests' builds of an
/// unchanged tree take seconds.
pub const TEST_REPOSITORY: &str = "webtest-it";

/// The project's manifest, rewritten to live in `dir`: the context made absolute, the tests' own
/// repository, its lock file beside it, the other apps left out (a copy is the Rust app alone),
/// and `edit` applied to the text.
pub fn manifest_copy(dir: &Path, edit: impl FnOnce(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(root().join("docker/images.yaml")).unwrap();
    let text = text.replacen("context: ..", &format!("context: {}", root().display()), 1);
    let text: String = text
        .lines()
        .filter(|line| !line.starts_with("apps:"))
        .map(|line| match line.strip_prefix("repository:") {
            Some(_) => format!("repository: {TEST_REPOSITORY}\n"),
            None => format!("{line}\n"),
        })
        .collect();
    assert!(
        text.contains(TEST_REPOSITORY),
        "the manifest names no repository"
    );
    std::fs::copy(root().join("docker/images.lock"), dir.join("images.lock")).unwrap();
    let path = dir.join("images.yaml");
    std::fs::write(&path, edit(text)).unwrap();
    path
}

/// A manifest copy's text moved from [`TEST_REPOSITORY`] into `repository`, for a test whose
/// images must not meet the other tests' ones; panics when the text names no test repository,
/// so that a changed manifest cannot make two tests share tags unnoticed.
pub fn in_repository(text: &str, repository: &str) -> String {
    let from = format!("repository: {TEST_REPOSITORY}\n");
    assert!(
        text.contains(&from),
        "the manifest copy names no {TEST_REPOSITORY}"
    );
    text.replacen(&from, &format!("repository: {repository}\n"), 1)
}

/// The manifest every command of the tests uses unless it names one: the project's, building
/// into [`TEST_REPOSITORY`].
pub fn test_manifest() -> &'static Path {
    static MANIFEST: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    MANIFEST.get_or_init(|| manifest_copy(&scratch("it-manifest"), |text| text))
}

/// The report a run wrote.
pub fn read_report(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json was written");
    serde_json::from_str(&text).expect("report.json parses")
}

/// The image entry of one variant in a report.
pub fn image<'a>(report: &'a serde_json::Value, variant: &str) -> &'a serde_json::Value {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["variant"] == variant)
        .unwrap_or_else(|| panic!("no {variant} in the report"))
}

/// The `cargo xtask ARGS` command as [`xtask`] runs it, to add variables or spawn it.
pub fn xtask_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.args(args);
    if !args.contains(&"--manifest") {
        command.arg("--manifest").arg(test_manifest());
    }
    command
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_STEP_SUMMARY");
    command
}

/// Runs a prepared command and logs how it ended, as [`xtask`] does.
pub fn run_logged(mut command: Command) -> Output {
    let out = command.output().expect("run the xtask binary");
    let args: Vec<String> = command
        .get_args()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    eprintln!(
        "--- xtask {} exited {:?}",
        args.join(" "),
        out.status.code()
    );
    eprintln!("--- stderr:\n{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Everything in the engine, for "nothing left behind": every container (running or not) and
/// every image, intermediate ones included.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub containers: Vec<String>,
    pub images: Vec<String>,
}

pub fn snapshot() -> Snapshot {
    let sorted = |text: String| {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    Snapshot {
        containers: sorted(docker(&["ps", "-aq", "--no-trunc"])),
        images: sorted(docker(&["images", "-aq", "--no-trunc"])),
    }
}

/// Asserts that the engine holds exactly what it held before.
pub fn assert_nothing_left(before: &Snapshot) {
    let after = snapshot();
    let new_containers = not_in(&after.containers, &before.containers);
    let new_images = not_in(&after.images, &before.images);
    assert!(
        new_containers.is_empty(),
        "containers left behind: {new_containers:?}"
    );
    assert!(new_images.is_empty(), "images left behind: {new_images:?}");
    let gone = not_in(&before.images, &after.images);
    assert!(gone.is_empty(), "images that were there are gone: {gone:?}");
    let gone = not_in(&before.containers, &after.containers);
    assert!(
        gone.is_empty(),
        "containers that were there are gone: {gone:?}"
    );
}

/// The items of `these` that `those` lacks.
fn not_in<'a>(these: &'a [String], those: &[String]) -> Vec<&'a String> {
    these.iter().filter(|item| !those.contains(item)).collect()
}

/// The first line of standard error, where the error is.
pub fn first_line(text: &str) -> &str {
    text.lines().find(|l| l.starts_with("error")).unwrap_or("")
}

/// An image that is not the project's (one small file, no label), imported under `tag`; returns
/// its ID.
pub fn unrelated_image(tag: &str) -> String {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(5);
    header.set_mode(0o755);
    builder
        .append_data(&mut header, "hello", &b"hello"[..])
        .unwrap();
    let archive = scratch(&tag.replace(['/', ':'], "-")).join("rootfs.tar");
    std::fs::write(&archive, builder.into_inner().unwrap()).unwrap();
    docker(&["import", archive.to_str().unwrap(), tag]);
    docker(&["image", "inspect", "--format", "{{.Id}}", tag])
        .trim()
        .to_string()
}

/// A container that is not the project's: made from an image of its own with no label (every
/// project image carries the label, and a container inherits its image's labels), so that a
/// test can show the tool leaves it alone. Removed, with its image, when dropped.
pub struct Bystander {
    pub id: String,
    image: String,
}

impl Bystander {
    pub fn create(name: &str) -> Bystander {
        let image = format!("webtest-test/bystander-{name}:1");
        unrelated_image(&image);
        let id = docker(&["create", &image, "/hello"]).trim().to_string();
        Bystander { id, image }
    }

    pub fn exists(&self) -> bool {
        docker(&["ps", "-aq", "--no-trunc"]).contains(&self.id)
    }
}

impl Drop for Bystander {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.id]).output();
        let _ = Command::new("docker").args(["rmi", &self.image]).output();
    }
}
