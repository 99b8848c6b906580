//! Whatever goes wrong, the user learns why in one line and the engine is left as it was: an
//! engine that cannot be reached, a compile error, a base that cannot be had, a host port that
//! another program holds, a container that never gets ready or exits at once, a signal in the
//! middle of a run, two runs at once, and a secret next to the sources. Every test here drives
//! the real engine and compares what it holds before and after.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

/// A port on 127.0.0.1 that nothing listens on: bound, read and released.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Makes sure `webtest-it:multistage` exists; the build cache makes this take seconds when the
/// engine tests ran before.
fn ensure_multistage() {
    let out = xtask(&["build-images", "--variant", "multistage"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn an_engine_that_cannot_be_reached_is_one_line_naming_the_endpoint_within_seconds() {
    let _engine = engine();
    let before = snapshot();
    let dir = scratch("unreachable");
    // A socket file that nobody listens on: bound once, then the listener is gone.
    let stale = dir.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let endpoints = [
        format!("unix://{}", dir.join("missing.sock").display()),
        format!("unix://{}", stale.display()),
        format!("tcp://127.0.0.1:{}", closed_port()),
    ];
    for endpoint in &endpoints {
        for command in ["compare", "build-images", "clean"] {
            let started = Instant::now();
            let mut run = xtask_command(&[command]);
            run.env("DOCKER_HOST", endpoint);
            let out = run_logged(run);
            let took = started.elapsed();
            eprintln!("{command} against {endpoint}: failed in {took:?}");
            assert_eq!(out.status.code(), Some(1), "{command} {endpoint}");
            let err = stderr(&out);
            let lines: Vec<&str> = err.lines().collect();
            assert_eq!(lines.len(), 2, "one line of error, one of advice: {err}");
            assert!(
                lines[0].starts_with(&format!(
                    "error: cannot reach the Docker engine at {endpoint}: "
                )),
                "{err}"
            );
            assert!(
                lines[1].starts_with("next: start the Docker daemon"),
                "{err}"
            );
            // Not a timing of the tool: a bound that tells a fast failure from a hang.
            assert!(
                took < Duration::from_secs(30),
                "{command} hung for {took:?}"
            );
        }
    }
    assert_nothing_left(&before);
}

/// A copy of what the project's build context holds, for builds of changed sources.
fn copy_project(dir: &Path) -> PathBuf {
    let copy = dir.join("project");
    for entry in walk(
        &root(),
        &[
            "Cargo.toml",
            "Cargo.lock",
            ".dockerignore",
            "webtest",
            "docker",
            "xtask/Cargo.toml",
            "xtask/debimage/Cargo.toml",
            "xtask/image-analysis/Cargo.toml",
        ],
    ) {
        let to = copy.join(entry.strip_prefix(root()).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &to).unwrap();
    }
    copy
}

/// The files under the named paths of `root`.
fn walk(root: &Path, names: &[&str]) -> Vec<PathBuf> {
    fn visit(path: &Path, out: &mut Vec<PathBuf>) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                visit(&entry.unwrap().path(), out);
            }
        } else {
            out.push(path.to_path_buf());
        }
    }
    let mut out = Vec::new();
    for name in names {
        visit(&root.join(name), &mut out);
    }
    out
}

/// The project's manifest with the context at `context`, the test's own `repository` (so that
/// neither the project's tags nor another test's are touched: a rebuild removes the images it
/// superseded, which another test's build might be about to take from the cache), and only the
/// listed variants.
fn manifest_for(dir: &Path, repository: &str, context: &Path, variants: &str) -> PathBuf {
    manifest_copy(dir, |text| {
        let text = in_repository(&text, repository);
        let head = &text[..text.find("\nvariants:").unwrap()];
        format!("{head}\nvariants:\n{variants}").replacen(
            &format!("context: {}", root().display()),
            &format!("context: {}", context.display()),
            1,
        )
    })
}

#[test]
fn a_compile_error_fails_the_build_with_exit_1_the_step_and_the_compilers_message() {
    let _engine = engine();
    ensure_multistage();
    let dir = scratch("compile-error");
    let copy = copy_project(&dir);
    let app = copy.join("webtest/src/app.rs");
    let mut source = std::fs::read_to_string(&app).unwrap();
    source.push_str("\npub fn broken() -> u32 {\n    \"not a number\"\n}\n");
    std::fs::write(&app, source).unwrap();
    let manifest = manifest_for(
        &dir,
        "webtest-it-broken",
        &copy,
        "  multistage: { dockerfile: docker/Dockerfile.multistage }\n",
    );
    let before = snapshot();
    let out = xtask(&["build-images", "--manifest", manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(first_line(&err), "error: build image multistage");
    let failed = err
        .lines()
        .find(|l| {
            l.starts_with("  caused by: build of webtest-it-broken:multistage failed at step ")
        })
        .unwrap_or_else(|| panic!("the failing step is named: {err}"));
    assert!(failed.contains("cargo build --release"), "{failed}");
    assert!(err.contains("error[E0308]: mismatched types"), "{err}");
    assert!(err.contains("webtest/src/app.rs"), "{err}");
    assert!(
        err.contains("next: fix what the failing step reports"),
        "{err}"
    );
    assert_nothing_left(&before);
}

#[test]
fn a_base_that_cannot_be_had_says_what_to_do() {
    let _engine = engine();
    let dir = scratch("missing-base");
    // No recipe: the image is not in the engine and no registry can be reached.
    let no_recipe = manifest_copy(&dir, |text| {
        text.replacen(
            "    image: rust:1.95-slim-bookworm\n    offline: rust-toolchain\n",
            "    image: webtest-test/no-such-image:1\n",
            1,
        )
    });
    let before = snapshot();
    let out = xtask(&["bases", "--manifest", no_recipe.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        first_line(&err).starts_with(
            "error: base RUST_IMAGE: webtest-test/no-such-image:1 is not in the engine and cannot be pulled ("
        ) && first_line(&err).ends_with("and the manifest gives it no `offline` recipe"),
        "{err}"
    );
    assert!(
        err.contains("next: make a registry reachable, or load webtest-test/no-such-image:1 with `docker load`, or give bases.RUST_IMAGE an `offline:` recipe"),
        "{err}"
    );
    assert!(!err.contains("caused by"), "one line: {err}");
    assert_nothing_left(&before);

    // A recipe, but the stand-in cannot be made: the mirror does not answer and nothing is
    // cached.
    let stand_in = dir.join("stand-in");
    std::fs::create_dir_all(&stand_in).unwrap();
    let unmakeable = manifest_copy(&stand_in, |text| {
        text.replacen(
            "    image: webtest-base/rust\n",
            "    image: webtest-test/rust\n",
            1,
        )
    });
    let mirror = format!("http://127.0.0.1:{}/debian", closed_port());
    let cache = dir.join("cache");
    let out = xtask(&[
        "bases",
        "--manifest",
        unmakeable.to_str().unwrap(),
        "--mirror",
        &mirror,
        "--cache",
        cache.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        first_line(&err).starts_with(
            "error: base RUST_IMAGE: rust:1.95-slim-bookworm cannot be pulled, and its local stand-in `rust-toolchain` cannot be made: "
        ),
        "{err}"
    );
    assert!(
        err.contains(&format!("next: make the Debian mirror {mirror} reachable")),
        "{err}"
    );
    assert!(!err.contains("caused by"), "one line: {err}");
    assert_nothing_left(&before);
}

/// Another program on a port: it answers every connection with its own greeting.
struct OtherProgram {
    port: u16,
    served: Arc<AtomicUsize>,
}

impl OtherProgram {
    fn start() -> OtherProgram {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = Arc::new(AtomicUsize::new(0));
        let count = served.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\nconnection: close\r\n\r\nother program",
                );
                count.fetch_add(1, Ordering::SeqCst);
            }
        });
        OtherProgram { port, served }
    }

    fn answers(&self) -> bool {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer.ends_with("other program")
    }
}

#[test]
fn a_host_port_held_by_another_program_is_a_clear_error_and_the_program_is_untouched() {
    let _engine = engine();
    let other = OtherProgram::start();
    assert!(other.answers());
    let before = snapshot();
    let port = other.port.to_string();
    let out = xtask(&["compare", "--no-build", "--port", &port]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(
        first_line(&err),
        format!("error: port {port} on 127.0.0.1 is already in use by another program")
    );
    assert!(err.contains("--port 0 takes any free one"), "{err}");
    assert!(other.answers(), "the other program still answers");
    assert_eq!(
        other.served.load(Ordering::SeqCst),
        2,
        "nobody else talked to it"
    );
    assert_nothing_left(&before);
}

/// A manifest of images made from the multistage image with a broken setting: one listens on
/// another port (never ready), one refuses its `PORT` and exits at once.
fn broken_services(dir: &Path, ready_timeout_secs: u64) -> PathBuf {
    std::fs::write(
        dir.join("Dockerfile.neverready"),
        "FROM webtest-it:multistage\nENV PORT=9090\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("Dockerfile.exits"),
        "FROM webtest-it:multistage\nENV PORT=not-a-port\n",
    )
    .unwrap();
    let path = dir.join("images.yaml");
    std::fs::write(
        &path,
        format!(
            "repository: webtest-test\ncontext: .\nvariants:\n  neverready: {{ dockerfile: Dockerfile.neverready, run: true }}\n  exits: {{ dockerfile: Dockerfile.exits, run: true }}\nprobe:\n  - {{ path: /healthz, status: 200 }}\nrun:\n  starts: 1\n  ready_timeout_secs: {ready_timeout_secs}\n  load: {{ requests: 0 }}\n"
        ),
    )
    .unwrap();
    path
}

fn remove_test_images() {
    for tag in ["webtest-test:neverready", "webtest-test:exits"] {
        let _ = std::process::Command::new("docker")
            .args(["rmi", "-f", tag])
            .output();
    }
}

#[test]
fn a_container_that_never_gets_ready_or_exits_at_once_shows_its_logs_and_is_removed() {
    let _engine = engine();
    ensure_multistage();
    let before = snapshot();
    let dir = scratch("broken-services");
    let manifest = broken_services(&dir, 3);
    let out = xtask(&[
        "compare",
        "--manifest",
        manifest.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "the run checks fail");
    let err = stderr(&out);
    assert!(
        err.contains("FAILED: run webtest-test:neverready failed: GET http://127.0.0.1:8080/healthz did not answer 200 within 3 s"),
        "{err}"
    );
    assert!(
        err.contains("--- the logs of webtest-test:neverready")
            && err.contains("listening on 0.0.0.0:9090"),
        "its logs are shown: {err}"
    );
    assert!(
        err.contains("FAILED: run webtest-test:exits failed: the container exited with code 2"),
        "{err}"
    );
    assert!(
        err.contains("--- the logs of webtest-test:exits") && err.contains("PORT: invalid port"),
        "its logs are shown: {err}"
    );
    let report = read_report(&dir);
    let check = |name: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no check {name}: {report:#}"))
            .clone()
    };
    assert_eq!(check("run neverready")["ok"], false);
    assert_eq!(check("run exits")["ok"], false);
    assert!(
        check("run exits")["detail"]
            .as_str()
            .unwrap()
            .contains("its last log line: webtest: PORT: invalid port"),
        "{report:#}"
    );
    remove_test_images();
    assert_nothing_left(&before);
}

/// Starts `compare --no-build` on `manifest` in the background, its output captured.
fn spawn_compare(manifest: &Path, out: &Path) -> std::process::Child {
    xtask_command(&[
        "compare",
        "--no-build",
        "--manifest",
        manifest.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .stderr(Stdio::piped())
    .stdout(Stdio::piped())
    .spawn()
    .unwrap()
}

/// Waits until a container with the project's label runs, as a run's container does.
fn wait_for_labelled_container(timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !running_labelled_containers().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no container of the run appeared within {timeout:?}");
}

#[test]
fn sigint_or_sigterm_during_a_run_removes_its_container_before_the_process_exits() {
    let _engine = engine();
    ensure_multistage();
    let dir = scratch("signals");
    let manifest = broken_services(&dir, 120);
    // Another program's container: it must survive both signals.
    let bystander = Bystander::create("signals");
    let before = snapshot();
    // Built once beforehand, so that the signal finds a container running, not a build.
    let built = xtask(&["build-images", "--manifest", manifest.to_str().unwrap()]);
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let child = spawn_compare(&manifest, &dir);
        // The never-ready container waits up to 120 s: the signal comes while it runs.
        wait_for_labelled_container(Duration::from_secs(60));
        let sent = std::process::Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let out = child.wait_with_output().unwrap();
        // Asked at once after the exit: the containers were removed before it.
        let left = labelled_containers();
        let err = stderr(&out);
        eprintln!("--- SIG{signal}: exit {:?}\n{err}", out.status.code());
        assert_eq!(out.status.code(), Some(code), "{err}");
        assert!(
            err.contains(&format!(
                "error: interrupted by SIG{signal}; the containers this run started are removed"
            )),
            "{err}"
        );
        assert!(
            left.is_empty(),
            "containers left after SIG{signal}: {left:?}"
        );
    }
    remove_test_images();
    assert_nothing_left(&before);
    assert!(bystander.exists(), "the other container was touched");
}

/// `compare` builds the apps at once: an interrupt must remove what every one of those builds
/// made, not only the last one's. App one builds a quick variant and then a slow one, so that
/// one of its builds ends, and another starts, while app two's build has made an image.
#[test]
fn sigint_during_the_builds_of_two_apps_removes_what_both_made() {
    let _engine = engine();
    let dir = scratch("interrupted-apps");
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    // A step no earlier run has cached: each build makes an image before its RUN step.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mut manifests = Vec::new();
    for (at, name, variants) in [
        (&dir, "one", &["a-quick", "b-slow"][..]),
        (&other, "two", &["b-slow"][..]),
    ] {
        let mut listed = String::new();
        for variant in variants {
            let run = if variant.ends_with("slow") {
                "RUN echo the step runs && sleep 120\n"
            } else {
                ""
            };
            let file = at.join(format!("Dockerfile.{variant}"));
            std::fs::write(
                &file,
                format!(
                    "ARG RUST_IMAGE\nFROM ${{RUST_IMAGE}}\nLABEL io.webtest.xtask=1\n\
                     ENV WEBTEST_NONCE={nonce}-{name}-{variant}\n{run}"
                ),
            )
            .unwrap();
            let dockerfile = file.strip_prefix(root()).unwrap().to_path_buf();
            listed.push_str(&format!(
                "  {variant}: {{ dockerfile: {} }}\n",
                dockerfile.display()
            ));
        }
        let manifest = manifest_for(
            at,
            &format!("webtest-it-interrupted-{name}"),
            &root(),
            &listed,
        );
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(
            &manifest,
            text.replacen("\napp: rust", &format!("\napp: {name}"), 1),
        )
        .unwrap();
        manifests.push(manifest);
    }
    let text = std::fs::read_to_string(&manifests[0]).unwrap();
    std::fs::write(
        &manifests[0],
        format!("{text}apps: [{}]\n", manifests[1].display()),
    )
    .unwrap();
    let bases = xtask(&["bases", "--manifest", manifests[0].to_str().unwrap()]);
    assert_eq!(bases.status.code(), Some(0), "{}", stderr(&bases));
    let before = snapshot();
    let mut child = xtask_command(&[
        "compare",
        "--no-registry",
        "--manifest",
        manifests[0].to_str().unwrap(),
    ])
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    // Both builds' RUN steps run at once: two containers that were not in the snapshot.
    interrupt_when_running(&mut child, &before, 2);
    // App one's quick variant was built before the interrupt and stays, as a finished build
    // does; once its repository is cleaned, nothing the run made may be left.
    for manifest in &manifests {
        let clean = xtask(&["clean", "--manifest", manifest.to_str().unwrap()]);
        assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    }
    assert_nothing_left(&before);
}

#[test]
fn sigint_during_a_build_removes_the_step_container_and_the_images_the_build_made() {
    let _engine = engine();
    let dir = scratch("interrupted-build");
    std::fs::write(
        dir.join("Dockerfile"),
        "ARG RUST_IMAGE\nFROM ${RUST_IMAGE}\nLABEL io.webtest.xtask=1\nRUN echo the step runs && sleep 120\n",
    )
    .unwrap();
    let dockerfile = dir.strip_prefix(root()).unwrap().join("Dockerfile");
    let manifest = manifest_for(
        &dir,
        "webtest-it-interrupted",
        &root(),
        &format!("  slow: {{ dockerfile: {} }}\n", dockerfile.display()),
    );
    // The bases first, so that the snapshot holds them and the build starts at once.
    let bases = xtask(&["bases", "--manifest", manifest.to_str().unwrap()]);
    assert_eq!(bases.status.code(), Some(0), "{}", stderr(&bases));
    let before = snapshot();
    let mut child = xtask_command(&[
        "build-images",
        "--no-cache",
        "--manifest",
        manifest.to_str().unwrap(),
    ])
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    // The step's own output does not reach a log, but its container does reach the engine.
    interrupt_when_running(&mut child, &before, 1);
    assert_nothing_left(&before);
}

/// Waits until `count` running containers that the snapshot lacks exist (the RUN steps of the
/// builds under way: containers the engine held before, stopped ones included, are not
/// counted), then sends `child` SIGINT and checks that it says so and exits 130.
fn interrupt_when_running(child: &mut std::process::Child, before: &Snapshot, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let running = || {
        docker(&["ps", "-q", "--no-trunc", "--filter", "status=running"])
            .lines()
            .filter(|id| !before.containers.iter().any(|old| old == id))
            .count()
    };
    while running() < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(running(), count, "the RUN steps never ran");
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    eprintln!("{err}");
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("error: interrupted by SIGINT"), "{err}");
}

#[test]
fn two_compares_at_once_take_turns_and_both_succeed() {
    let _engine = engine();
    ensure_multistage();
    let dir = scratch("two-at-once");
    // Only the multistage image `ensure_multistage` built, under the tests' repository.
    let manifest = manifest_for(
        &dir,
        TEST_REPOSITORY,
        &root(),
        "  multistage: { dockerfile: docker/Dockerfile.multistage, run: true }\n",
    );
    let text = std::fs::read_to_string(&manifest).unwrap();
    let keep: Vec<&str> = text
        .lines()
        .take_while(|l| !l.starts_with("variants:"))
        .collect();
    std::fs::write(
        &manifest,
        format!(
            "{}\nvariants:\n  multistage: {{ dockerfile: docker/Dockerfile.multistage, run: true }}\nprobe:\n  - {{ path: /healthz, status: 200 }}\nrun:\n  starts: 2\n  load: {{ requests: 500, concurrency: 8 }}\n",
            keep.join("\n")
        ),
    )
    .unwrap();
    let before = snapshot();
    let first = spawn_compare(&manifest, &dir.join("first"));
    let second = spawn_compare(&manifest, &dir.join("second"));
    let outs = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ];
    let mut waited = 0;
    for (name, out) in ["first", "second"].iter().zip(&outs) {
        let err = stderr(out);
        eprintln!("--- {name}: exit {:?}\n{err}", out.status.code());
        assert_eq!(out.status.code(), Some(0), "{name}: {err}");
        assert_eq!(read_report(&dir.join(name))["ok"], true);
        if err.contains("waiting for cargo xtask compare (pid ") {
            waited += 1;
        }
    }
    assert_eq!(waited, 1, "exactly one of the two waited for the other");
    assert_nothing_left(&before);
}

/// A TCP proxy in front of the engine's socket that records every byte the client sends.
fn recording_proxy() -> (u16, Arc<Mutex<Vec<u8>>>) {
    let socket = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|host| host.strip_prefix("unix://").map(str::to_string))
        .unwrap_or_else(|| "/var/run/docker.sock".to_string());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let sink = recorded.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let mut engine = std::os::unix::net::UnixStream::connect(&socket).unwrap();
            let mut client_back = client.try_clone().unwrap();
            let mut engine_back = engine.try_clone().unwrap();
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut engine_back, &mut client_back);
            });
            let sink = sink.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 64 * 1024];
                loop {
                    match client.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            sink.lock().unwrap().extend_from_slice(&buf[..n]);
                            if engine.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = engine.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (port, recorded)
}

/// The requests in a recorded HTTP/1.1 client stream: the request line and the body.
fn requests(mut stream: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(end) = stream.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&stream[..end]).into_owned();
        stream = &stream[end + 4..];
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (key, value) = l.split_once(':')?;
                key.eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_string())
            })
        };
        let mut body = Vec::new();
        if let Some(length) = header("content-length") {
            let length: usize = length.parse().unwrap();
            body.extend_from_slice(&stream[..length]);
            stream = &stream[length..];
        } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                let line_end = stream.windows(2).position(|w| w == b"\r\n").unwrap();
                let size =
                    usize::from_str_radix(String::from_utf8_lossy(&stream[..line_end]).trim(), 16)
                        .unwrap();
                stream = &stream[line_end + 2..];
                body.extend_from_slice(&stream[..size]);
                stream = &stream[size + 2..];
                if size == 0 {
                    break;
                }
            }
        }
        out.push((head.lines().next().unwrap_or("").to_string(), body));
    }
    out
}

/// `%7B%22a%22...` → `{"a"...`, enough for a query string.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn a_secret_beside_the_sources_never_reaches_the_engine_nor_do_build_args_or_labels_leak_one() {
    let _engine = engine();
    ensure_multistage();
    let dir = scratch("secrets");
    let copy = copy_project(&dir);
    let manifest = manifest_for(
        &dir,
        "webtest-it-secrets",
        &copy,
        "  multistage: { dockerfile: docker/Dockerfile.multistage }\n",
    );
    // The copy's image first, without the secrets: the build with them must then take every
    // step from the cache, since nothing the image is made from changed.
    let clean = xtask(&["build-images", "--manifest", manifest.to_str().unwrap()]);
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    let secret = "hunter2-webtest-fake-secret-4f1c";
    // Secrets where people leave them: beside the manifests and inside an allowed directory.
    for path in [
        ".env",
        "secret.txt",
        "webtest/.env",
        "webtest/src/.env",
        "webtest/src/server.key",
        "webtest/src/server.pem",
        "webtest/src/.env.production",
    ] {
        std::fs::write(copy.join(path), format!("TOKEN={secret}\n")).unwrap();
    }
    let (port, recorded) = recording_proxy();
    let mut build = xtask_command(&["build-images", "--manifest", manifest.to_str().unwrap()]);
    build
        .env("DOCKER_HOST", format!("tcp://127.0.0.1:{port}"))
        .env("WEBTEST_TOKEN", secret)
        .env("AWS_SECRET_ACCESS_KEY", secret);
    let out = run_logged(build);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("up to date, every step from the cache"),
        "the secrets changed nothing the image is made from: {}",
        stderr(&out)
    );

    let stream = recorded.lock().unwrap().clone();
    assert!(
        !stream.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the secret reached the engine"
    );
    let requests = requests(&stream);
    let (line, body) = requests
        .iter()
        .find(|(line, _)| line.starts_with("POST ") && line.contains("/build?"))
        .expect("a build request went through the proxy");
    // What the engine was given: the context tar, the build arguments and the labels.
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(&body[..]);
    for entry in archive.entries().unwrap() {
        names.push(entry.unwrap().path().unwrap().display().to_string());
    }
    for expected in [
        "Cargo.toml",
        "Cargo.lock",
        "webtest/src/main.rs",
        "docker/Dockerfile.multistage",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    for name in &names {
        assert!(
            !(name.contains(".env")
                || name.ends_with(".key")
                || name.ends_with(".pem")
                || name.contains("secret")),
            "{name} was sent to the engine"
        );
    }
    let query = percent_decode(line.split_once('?').unwrap().1.split(' ').next().unwrap());
    let param = |key: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .map(|v| serde_json::from_str::<serde_json::Value>(v).unwrap())
            .unwrap_or_default()
    };
    let build_args: Vec<String> = param("buildargs")
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for arg in &build_args {
        assert!(
            ["RUST_IMAGE", "SLIM_IMAGE", "DISTROLESS_IMAGE", "REVISION"].contains(&arg.as_str()),
            "unexpected build argument {arg}"
        );
    }
    // The labels: through the API, or (the tool's way when the context leaves the Dockerfile
    // out of what COPY sees) as one LABEL instruction at the end of the Dockerfile sent.
    let mut archive = tar::Archive::new(&body[..]);
    let sent = archive
        .entries()
        .unwrap()
        .map(|entry| entry.unwrap())
        .find(|entry| entry.path().unwrap().to_str() == Some("docker/Dockerfile.multistage"))
        .map(|mut entry| {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            text
        })
        .unwrap();
    let instruction = sent
        .rsplit_once("\nLABEL \"")
        .map(|(_, rest)| format!("\"{rest}"))
        .expect("the Dockerfile sent ends with the tool's LABEL");
    let mut labels: Vec<String> = instruction
        .split("\"=\"")
        .filter_map(|part| part.rsplit_once('"').map(|(_, key)| key.to_string()))
        .filter(|key| {
            !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
        })
        .collect();
    if let Some(api) = param("labels").as_object() {
        labels.extend(api.keys().cloned());
    }
    assert!(labels.len() > 5, "{labels:?}");
    for label in &labels {
        // The project's own labels, and the OCI labels the tool sets on every variant.
        assert!(
            label.starts_with("io.webtest.xtask") || label.starts_with("org.opencontainers.image."),
            "unexpected label {label}"
        );
    }
    remove_repository(&manifest);
}

/// Removes a test repository's images, the stage ends its builds named included, with the
/// tool's own `clean`, so that an engine that outlives the test run (a CI machine's) does not
/// gather them run after run.
fn remove_repository(manifest: &Path) {
    let out = xtask(&["clean", "--manifest", manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A build's record, as `build-images` keeps it under target/xtask/builds.
fn build_record_path(tag: &str) -> PathBuf {
    root()
        .join("target/xtask/builds")
        .join(format!("{}.json", tag.replace(['/', ':'], "_")))
}

fn build_record(tag: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(build_record_path(tag)).unwrap()).unwrap()
}

/// The images the build records of every tag but `tag` hold: the cache other variants use.
fn held_by_other_records(tag: &str) -> Vec<String> {
    let mine = format!("{}.json", tag.replace(['/', ':'], "_"));
    std::fs::read_dir(root().join("target/xtask/builds"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.file_name().unwrap().to_string_lossy() != mine)
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .flat_map(|path| {
            let record = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            record_images(&record)
        })
        .collect()
}

fn record_images(record: &serde_json::Value) -> Vec<String> {
    record["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_string())
        .chain([record["id"].as_str().unwrap()[7..19].to_string()])
        .collect()
}

#[test]
fn a_rebuild_after_an_edit_removes_what_it_superseded_and_keeps_the_dependency_cache() {
    let _engine = engine();
    ensure_multistage();
    let dir = scratch("edits");
    let copy = copy_project(&dir);
    let manifest = manifest_for(
        &dir,
        "webtest-it-edits",
        &copy,
        "  multistage: { dockerfile: docker/Dockerfile.multistage }\n",
    );
    let tag = "webtest-it-edits:multistage";
    let build = || {
        let out = xtask(&["build-images", "--manifest", manifest.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stderr(&out)
    };
    // The copy starts different from the project: were it the same, its first build would be
    // the project's own images, which another record holds, and the first edit would supersede
    // nothing that could go.
    let app = copy.join("webtest/src/app.rs");
    let mut source = std::fs::read_to_string(&app).unwrap();
    source.push_str("// the tests' own copy\n");
    std::fs::write(&app, source).unwrap();
    build();
    // The third edit finds no record of the build before it, as a fresh checkout on an engine
    // that outlives it does: the engine's pruning must remove the same images.
    for edit in 1..=3 {
        let before = record_images(&build_record(tag));
        if edit == 3 {
            std::fs::remove_file(build_record_path(tag)).unwrap();
        }
        let mut source = std::fs::read_to_string(&app).unwrap();
        source.push_str(&format!("// edit {edit}\n"));
        std::fs::write(&app, source).unwrap();
        let err = build();
        let after = record_images(&build_record(tag));
        // The dependency layer (built before the sources are copied) came from the cache.
        assert!(
            before.iter().any(|id| after.contains(id)),
            "edit {edit} reused no step image: {before:?} then {after:?}"
        );
        assert!(err.contains("removed "), "edit {edit}: {err}");
        // What the last build made and nothing uses any more: neither this build nor another
        // variant's (whose cache this copy of the project shares).
        let held = held_by_other_records(tag);
        for id in before
            .iter()
            .filter(|id| !after.contains(id) && !held.contains(id))
        {
            let gone = std::process::Command::new("docker")
                .args(["image", "inspect", id])
                .output()
                .unwrap();
            assert!(
                !gone.status.success(),
                "edit {edit} left the superseded image {id} behind"
            );
        }
        // The stage the image copies its binary from (`test`) is named, not left untagged.
        let untagged = docker(&[
            "images",
            "-q",
            "--filter",
            "dangling=true",
            "--filter",
            "label=io.webtest.xtask=1",
        ]);
        let test_stage = docker(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            "webtest-it-edits:multistage-stage-test",
        ]);
        assert!(
            !untagged.lines().any(|id| test_stage.trim().contains(id)),
            "edit {edit}: the test stage's image is untagged"
        );
    }
    remove_repository(&manifest);
}
