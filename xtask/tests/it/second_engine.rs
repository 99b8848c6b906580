//! The tool against a second, real engine: Docker 26 with the containerd image store (what
//! Docker Desktop and fresh Docker 29 installs run), started beside the system engine by
//! [`fixture::SecondEngine`]. Reached over TCP with TLS through `DOCKER_HOST`,
//! `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`, and through contexts the docker CLI made; a
//! whole `compare` of the Go app's static variant runs there, and the OCI archive the engine
//! saves (gzip layers) gives the figures the engine gave.

mod certs;
mod fixture;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;
use fixture::SecondEngine;

/// The Go app's manifest, cut down to its static variant (one small image, quick to build) and
/// the one base it needs, in a repository of the tests' own.
fn go_manifest(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join("docker/go.yaml")).unwrap();
    let text = text
        .replacen("repository: webtest-go", "repository: webtest-it-e26", 1)
        .replacen("context: ..", &format!("context: {}", root().display()), 1);
    let section = |from: &str, to: &str| {
        let start = text
            .find(from)
            .unwrap_or_else(|| panic!("{from} in go.yaml"));
        let end = start
            + text[start..]
                .find(to)
                .unwrap_or_else(|| panic!("{to} in go.yaml"));
        text[start..end].to_string()
    };
    // Only the Go toolchain's base: the other bases serve variants left out here.
    let head = section("repository:", "  ALPINE_IMAGE:");
    let recipes = section("\nrecipes:", "\nvariants:");
    let probes = section("\nprobe:", "\nrun:");
    let manifest = format!(
        "{head}{recipes}
variants:
  scratch: {{ dockerfile: docker/go/Dockerfile.multistage, target: static, run: true }}
{probes}
run:
  starts: 1
  ready_timeout_secs: 30
  load: {{ path: /, requests: 200, concurrency: 4 }}

structure:
  - metadata: {{ image: scratch, exposed_ports: [\"8080/tcp\"], non_root: true, entrypoint: [\"/webtest\"], healthcheck: true }}
  - file: {{ image: scratch, path: /bin/sh, exists: false }}

budgets:
  - max_overhead: {{ image: scratch, path: /webtest, ratio: 1.01 }}
  - max_layers: {{ image: scratch, layers: 1 }}
  - non_root: {{ image: scratch }}
  - max_stop_ms: {{ image: scratch, ms: 1000 }}
"
    );
    let path = dir.join("go.yaml");
    std::fs::write(&path, manifest).unwrap();
    // The same recipes, so the same pins.
    std::fs::copy(root().join("docker/go.lock"), dir.join("go.lock")).unwrap();
    // The files the recipes put into the stand-ins, relative to the manifest's folder.
    std::fs::create_dir_all(dir.join("standins")).unwrap();
    for entry in std::fs::read_dir(root().join("docker/standins")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dir.join("standins").join(entry.file_name())).unwrap();
        }
    }
    path
}

/// `cargo xtask ARGS` with only the given engine variables: none inherited from the caller.
fn xtask_with(vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = xtask_command(args);
    for var in [
        "DOCKER_HOST",
        "DOCKER_CONTEXT",
        "DOCKER_TLS_VERIFY",
        "DOCKER_TLS",
        "DOCKER_CERT_PATH",
        "DOCKER_CONFIG",
    ] {
        command.env_remove(var);
    }
    command.envs(vars.iter().copied());
    run_logged(command)
}

/// The figures an analysis gives, whichever way the image was read.
fn figures(image: &Value) -> (Value, Value, Value) {
    (
        image["efficiency"].clone(),
        image["wasted_bytes"].clone(),
        image["file_count"].clone(),
    )
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{}\n{}", stdout(out), stderr(out));
    serde_json::from_str(&stdout(out)).expect("the output is JSON")
}

/// Whether the OCI archive keeps at least one layer gzip-compressed, and has the OCI layout.
fn oci_with_gzip_blobs(archive: &Path) -> bool {
    use std::io::Read;
    let mut tar = tar::Archive::new(std::fs::File::open(archive).unwrap());
    let (mut index, mut gzip) = (false, false);
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        index |= path == "index.json";
        if path.starts_with("blobs/sha256/") {
            let mut magic = [0u8; 2];
            if entry.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b] {
                gzip = true;
            }
        }
    }
    index && gzip
}

#[test]
fn a_docker_26_engine_with_the_containerd_store_over_tls_and_contexts() {
    let _engine = engine();
    let started = Instant::now();
    let e26 = SecondEngine::up();
    let up = started.elapsed();
    let version = e26.docker(&[
        "version",
        "--format",
        "{{.Server.Version}} {{.Server.APIVersion}}",
    ]);
    assert!(version.starts_with("26."), "{version}");
    let status = e26.docker(&["info", "--format", "{{json .DriverStatus}}"]);
    assert!(status.contains("io.containerd.snapshotter"), "{status}");

    let dir = scratch("second-engine");
    let manifest = go_manifest(&dir);
    let manifest = manifest.to_str().unwrap();
    let tcp = e26.tcp_host();
    let client: &'static str = e26.certs.client.to_str().unwrap().to_string().leak();
    let tls = |cert_path: &'static str| -> [(&str, &str); 3] {
        [
            ("DOCKER_HOST", tcp.as_str()),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", cert_path),
        ]
    };

    // A whole compare over TLS: bases made there, the build, the analysis, the run, the checks.
    let out_dir = dir.join("report");
    let compare_started = Instant::now();
    let out = xtask_with(
        &tls(client),
        &[
            "compare",
            "--manifest",
            manifest,
            "--out",
            out_dir.to_str().unwrap(),
            "--port",
            "0",
        ],
    );
    let compare_took = compare_started.elapsed();
    assert_eq!(
        out.status.code(),
        Some(0),
        "compare on the second engine failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let report = read_report(&out_dir);
    assert_eq!(report["ok"], true, "{report:#}");
    let info = &report["engine_info"];
    assert_eq!(info["image_store"], "containerd", "{info:#}");
    assert!(
        info["version"].as_str().unwrap().starts_with("26."),
        "{info:#}"
    );
    assert_eq!(info["api_version"], "1.45", "{info:#}");
    assert!(
        info["endpoint"].as_str().unwrap().contains(&tcp),
        "{info:#}"
    );
    assert!(
        report["engine"].as_str().unwrap().contains("containerd"),
        "{report:#}"
    );
    let scratch_image = image(&report, "scratch").clone();
    assert_eq!(scratch_image["run"]["probes_ok"], true, "{scratch_image:#}");

    // A client certificate the engine does not trust: one line naming the endpoint, at once.
    let stranger: &'static str = e26.certs.stranger.to_str().unwrap().to_string().leak();
    let refused_started = Instant::now();
    let out = xtask_with(
        &tls(stranger),
        &["analyze", "webtest-it-e26:scratch", "--format", "json"],
    );
    let refused_in = refused_started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let error_lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(error_lines.len(), 1, "{err}");
    assert!(!err.contains("caused by"), "{err}");
    assert!(error_lines[0].contains(&tcp), "{err}");
    assert!(
        refused_in < Duration::from_secs(2),
        "a refused client certificate took {} ms",
        refused_in.as_millis()
    );

    // The analysis of an image built there: the engine saves the OCI layout with gzip layers,
    // and the archive, read without any engine, gives the figures the engine's export gave.
    let archive = dir.join("scratch-oci.tar");
    e26.docker(&[
        "save",
        "-o",
        archive.to_str().unwrap(),
        "webtest-it-e26:scratch",
    ]);
    assert!(
        oci_with_gzip_blobs(&archive),
        "the containerd store saves the OCI layout with gzip layers"
    );
    let from_archive = json(&xtask_with(
        &[("DOCKER_HOST", "unix:///nonexistent/no-engine-needed.sock")],
        &["analyze", archive.to_str().unwrap(), "--format", "json"],
    ));
    assert_eq!(figures(&from_archive), figures(&scratch_image));

    // Contexts made by the docker CLI: DOCKER_CONTEXT, then the configuration's current one.
    let config = dir.join("docker-config");
    let config = config.to_str().unwrap();
    let context_cli = |args: &[&str]| {
        let out = Command::new("docker")
            .env("DOCKER_CONFIG", config)
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .args(args)
            .output()
            .expect("run docker context");
        assert!(
            out.status.success(),
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let docker_endpoint =
        format!("host={tcp},ca={client}/ca.pem,cert={client}/cert.pem,key={client}/key.pem");
    context_cli(&["context", "create", "e26", "--docker", &docker_endpoint]);
    let nowhere = "unix:///tmp/webtest-e26/nowhere.sock";
    context_cli(&[
        "context",
        "create",
        "nowhere",
        "--docker",
        &format!("host={nowhere}"),
    ]);
    let by_context = json(&xtask_with(
        &[("DOCKER_CONFIG", config), ("DOCKER_CONTEXT", "e26")],
        &["analyze", "webtest-it-e26:scratch", "--format", "json"],
    ));
    assert_eq!(figures(&by_context), figures(&scratch_image));
    context_cli(&["context", "use", "e26"]);
    let by_current = json(&xtask_with(
        &[("DOCKER_CONFIG", config)],
        &["analyze", "webtest-it-e26:scratch", "--format", "json"],
    ));
    assert_eq!(figures(&by_current), figures(&scratch_image));
    let out = xtask_with(
        &[("DOCKER_CONFIG", config), ("DOCKER_CONTEXT", "nowhere")],
        &["analyze", "webtest-it-e26:scratch"],
    );
    assert_eq!(out.status.code(), Some(1));
    let line = first_line(&stderr(&out)).to_string();
    assert!(line.contains("the context `nowhere`"), "{line}");
    assert!(line.contains(nowhere), "{line}");

    eprintln!(
        "--- second engine: up in {} ms, compare over TLS in {} s, refused certificate in {} ms",
        up.as_millis(),
        compare_took.as_secs(),
        refused_in.as_millis()
    );
    drop(e26);
    assert!(
        !Path::new("/tmp/webtest-e26/docker.sock").exists(),
        "the second engine's socket is gone"
    );
}
