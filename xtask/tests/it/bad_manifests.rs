//! A bad manifest is refused before anything else happens: exit code 2, one line that names the
//! file, the line, the column and the field, and no attempt to reach the engine.
//!
//! The 28 bad manifests themselves are unit tests of `Manifest::parse` (in
//! `xtask/src/manifest/tests.rs`); this runs the real binary on one of them, through each command
//! that reads the manifest and then uses the engine, with `DOCKER_HOST` pointing at a socket that
//! does not exist. Had the binary reached for the engine first, it would say so and exit with 1;
//! the same run with the good manifest proves it.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::common::*;

/// The commands that read the manifest and then use the engine.
const COMMANDS: [&str; 3] = ["compare", "build-images", "bases"];

/// Runs `cargo xtask COMMAND --manifest PATH` against an engine socket that does not exist.
fn run_without_engine(command: &str, manifest: &Path, docker_host: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([command, "--manifest"])
        .arg(manifest)
        .current_dir(root())
        .env("DOCKER_HOST", docker_host)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_STEP_SUMMARY")
        .stdin(Stdio::null())
        .output()
        .expect("run the xtask binary")
}

#[test]
fn a_bad_manifest_exits_2_with_its_located_line_before_the_engine() {
    let dir = scratch("bad-manifests/port-zero");
    let socket = dir.join("no-engine.sock");
    assert!(!socket.exists(), "{} must not exist", socket.display());
    let docker_host = format!("unix://{}", socket.display());

    let bad = manifest_copy(&dir, |text| {
        assert_eq!(text.matches("port: 8080").count(), 1, "one `port: 8080`");
        text.replacen("port: 8080", "port: 0", 1)
    });
    let text = std::fs::read_to_string(&bad).unwrap();
    let line = text.lines().position(|l| l.starts_with("port: 0")).unwrap() + 1;
    let expected = format!(
        "error: {}:{line}:7: port: `0` is not allowed; expected a port number from 1 to 65535",
        bad.display()
    );
    for command in COMMANDS {
        let out = run_without_engine(command, &bad, &docker_host);
        let stderr = stderr(&out);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(out.status.code(), Some(2), "{command}: exit code\n{stderr}");
        assert_eq!(
            lines.len(),
            2,
            "{command}: one error line and one `next:`\n{stderr}"
        );
        assert!(lines[0].starts_with(&expected), "{command}: {stderr}");
        assert!(
            lines[1].starts_with("next: fix the manifest"),
            "{command}: {stderr}"
        );
        assert!(!stderr.contains("no-engine.sock"), "{command}: {stderr}");
    }

    // The control: with the good manifest the same run goes on to the engine and fails there,
    // naming the socket, so the runs above were refused before the engine was asked.
    let good = manifest_copy(&scratch("bad-manifests/good"), |text| text);
    let out = run_without_engine("build-images", &good, &docker_host);
    let stderr = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: cannot reach the Docker engine at {docker_host}"
        )),
        "{stderr}"
    );
}
