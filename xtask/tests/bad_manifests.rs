//! Bad manifests are refused before anything else happens: exit code 2, one line that names the
//! file, the line, the column and the field, and not a single connection to the engine.
//!
//! Each case is the project's own `docker/images.yaml` with one small edit (or a whole text, for
//! shapes no edit reaches), run through the built binary with `DOCKER_HOST` pointing at a
//! listener of the test's own. The listener accepts no connection unless the binary tried to reach
//! the engine, so these tests need no engine and prove that none was contacted.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The commands that read the manifest and then use the engine, taken in turn by the cases so
/// that each of them is shown to check the manifest first.
const COMMANDS: [&str; 3] = ["compare", "build-images", "bases"];

/// How long one run may take. A bad manifest is refused in milliseconds; a run that reaches for
/// the engine instead is cut off here rather than waiting out the client's own timeout.
const DEADLINE: Duration = Duration::from_secs(60);

/// One bad manifest.
struct Case {
    name: &'static str,
    /// The manifest's text: the project's own with `(old, new)` replaced, each exactly once, or
    /// a whole text of its own.
    text: Text,
    /// Where the error must point: a text that occurs once in the bad manifest, with `^` in
    /// front of the exact character. Written as text rather than numbers so that the project's
    /// manifest can change without breaking the cases that do not touch the changed lines.
    at: &'static str,
    /// What the message must start with, right after the position: the field path (or, for the
    /// document as a whole, the start of the sentence) and what is wrong.
    says: &'static str,
}

enum Text {
    Edit(&'static [(&'static str, &'static str)]),
    Whole(&'static str),
}

use Text::{Edit, Whole};

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "port-zero",
            text: Edit(&[("port: 8080", "port: 0")]),
            at: "port: ^0 ",
            says: "port: `0` is not allowed; expected a port number from 1 to 65535",
        },
        Case {
            name: "port-out-of-range",
            text: Edit(&[("port: 8080", "port: 70000")]),
            at: "port: ^70000",
            says: "port: `70000` is not allowed; expected a port number from 1 to 65535",
        },
        Case {
            name: "port-not-a-number",
            text: Edit(&[("port: 8080", "port: eighty")]),
            at: "port: ^eighty",
            says: "port: `eighty` is not allowed; expected a port number",
        },
        Case {
            name: "duplicate-field",
            text: Edit(&[("port: 8080", "port: 8080\nport: 8081")]),
            at: "^port: 8081",
            says: "port: duplicate key, first at line ",
        },
        Case {
            name: "duplicate-variant",
            text: Edit(&[(
                "  target:     {",
                "  simples:    { dockerfile: docker/Dockerfile.multistage }\n  target:     {",
            )]),
            at: "^simples:    { dockerfile: docker/Dockerfile.multistage }",
            says: "variants.simples: duplicate key, first at line ",
        },
        Case {
            name: "empty-file",
            text: Whole(""),
            at: "^",
            says: "the manifest is empty;",
        },
        Case {
            name: "not-a-mapping",
            text: Whole("# the variants, as a list\n- simples\n- multistage\n"),
            at: "^- simples",
            says: "the manifest must be a mapping of fields",
        },
        Case {
            name: "syntax-error",
            text: Edit(&[("{ path: /missing, status: 404 }", "{ path: /missing, status: 404")]),
            // The plain scalar `404` runs on over the blank line into `run`, so the parser
            // notices the unclosed mapping only at the colon after it.
            at: "run^:\n",
            says: "invalid YAML: did not find expected ',' or '}'",
        },
        Case {
            name: "missing-repository",
            text: Edit(&[(
                "repository: webtest          # image name; tags are the variant names\n",
                "",
            )]),
            at: "^context: /",
            says: "repository: missing, and it is required",
        },
        Case {
            name: "unknown-field",
            text: Edit(&[("host_ca_certificates: true", "host_ca_certificate: true")]),
            at: "^host_ca_certificate: true",
            says: "recipes.rust-toolchain.host_ca_certificate: unknown field, expected one of",
        },
        Case {
            name: "run-not-a-boolean",
            text: Edit(&[("target: builder, run: false", "target: builder, run: yes please")]),
            at: "run: ^yes please",
            says: "variants.target.run: `yes please` is not allowed; expected true or false",
        },
        Case {
            name: "dockerfile-is-a-directory",
            text: Edit(&[(
                "{ dockerfile: docker/Dockerfile.simples,",
                "{ dockerfile: docker,",
            )]),
            at: "dockerfile: ^docker,",
            says: "variants.simples.dockerfile: `docker` is a directory",
        },
        Case {
            name: "dockerfile-missing",
            text: Edit(&[(
                "{ dockerfile: docker/Dockerfile.simples,",
                "{ dockerfile: docker/Dockerfile.nope,",
            )]),
            at: "dockerfile: ^docker/Dockerfile.nope",
            says: "variants.simples.dockerfile: `docker/Dockerfile.nope` does not exist",
        },
        Case {
            name: "empty-target",
            text: Edit(&[("target: slim,", "target: '',")]),
            at: "target: ^'',",
            says: "variants.slim.target: empty;",
        },
        Case {
            name: "empty-variants",
            text: Edit(&[
                ("variants:\n", "variants: {}\n"),
                ("  simples:    { dockerfile: docker/Dockerfile.simples,    run: true }\n", ""),
                ("  multistage: { dockerfile: docker/Dockerfile.multistage, run: true }\n", ""),
                ("  target:     { dockerfile: docker/Dockerfile.multistage, target: builder, run: false }\n", ""),
                ("  slim:       { dockerfile: docker/Dockerfile.multistage, target: slim, run: true }\n", ""),
                ("  distroless: { dockerfile: docker/Dockerfile.multistage, target: distroless, run: true }\n", ""),
            ]),
            at: "variants: ^{}",
            says: "variants: at least one variant is needed",
        },
        Case {
            name: "probe-status",
            text: Edit(&[("status: 404", "status: 600")]),
            at: "status: ^600",
            says: "probe[3].status: `600` is not allowed; expected an HTTP status from 100 to 599",
        },
        Case {
            name: "starts-negative",
            text: Edit(&[("starts: 3 ", "starts: -1 ")]),
            at: "starts: ^-1",
            says: "run.starts: `-1` is not allowed; expected a whole number of at least 1",
        },
        Case {
            name: "ready-timeout-zero",
            text: Edit(&[("ready_timeout_secs: 30", "ready_timeout_secs: 0")]),
            at: "ready_timeout_secs: ^0",
            says: "run.ready_timeout_secs: `0` is not allowed;",
        },
        Case {
            name: "concurrency-zero",
            text: Edit(&[("concurrency: 16", "concurrency: 0")]),
            at: "concurrency: ^0",
            says: "run.load.concurrency: `0` is not allowed; expected a whole number of at least 1",
        },
        Case {
            name: "structure-unknown-variant",
            text: Edit(&[("command: { image: slim,", "command: { image: slm,")]),
            at: "image: ^slm,",
            says: "structure[7].command.image: no variant `slm` (known: simples, multistage, target, slim, distroless)",
        },
        Case {
            name: "budget-unknown-variant",
            text: Edit(&[("non_root: { image: distroless }", "non_root: { image: distroles }")]),
            at: "image: ^distroles }",
            says: "budgets[9].non_root.image: no variant `distroles`",
        },
        Case {
            name: "max-size-zero",
            text: Edit(&[("bytes: 3 MB", "bytes: 0 MB")]),
            at: "bytes: ^0 MB",
            says: "budgets[2].max_size.bytes: `0 MB` is not allowed; expected a size above 0",
        },
        Case {
            name: "max-compressed-negative",
            text: Edit(&[("bytes: 2 MB", "bytes: -1")]),
            at: "bytes: ^-1",
            says: "budgets[4].max_compressed.bytes: `-1` is not allowed; expected a size above 0",
        },
        Case {
            name: "min-ratio-zero",
            text: Edit(&[("ratio: 100", "ratio: 0")]),
            at: "than: simples, ratio: ^0",
            says: "budgets[1].min_ratio.ratio: `0` is not allowed; expected a number above 0",
        },
        Case {
            name: "min-efficiency-above-one",
            text: Edit(&[("ratio: 0.99", "ratio: 1.5")]),
            at: "ratio: ^1.5",
            says: "budgets[6].min_efficiency.ratio: `1.5` is not allowed; expected a fraction above 0 and at most 1",
        },
        Case {
            name: "max-layers-zero",
            text: Edit(&[("layers: 1 }", "layers: 0 }")]),
            at: "layers: ^0 }",
            says: "budgets[5].max_layers.layers: `0` is not allowed; expected a whole number of at least 1",
        },
        Case {
            name: "max-overhead-below-one",
            text: Edit(&[("ratio: 1.05", "ratio: 0.5")]),
            at: "ratio: ^0.5",
            says: "budgets[3].max_overhead.ratio: `0.5` is not allowed; expected a number of at least 1",
        },
        Case {
            name: "max-stop-ms-zero",
            text: Edit(&[("ms: 1000", "ms: 0")]),
            at: "ms: ^0 }",
            says: "budgets[10].max_stop_ms.ms: `0` is not allowed;",
        },
    ]
}

/// The 1-based line and column of the `^` in `at`, found in `text`, where `at` without its
/// caret must occur exactly once.
fn position(text: &str, at: &str) -> (usize, usize) {
    let caret = at.find('^').expect("`at` marks the place with ^");
    let needle = at.replacen('^', "", 1);
    let start = if needle.is_empty() {
        0
    } else {
        assert_eq!(
            text.matches(&needle).count(),
            1,
            "`{needle}` must occur exactly once in the bad manifest"
        );
        text.find(&needle).unwrap()
    };
    let offset = start + caret;
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap().chars().count() + 1;
    (line, column)
}

/// Writes the case's manifest into a scratch directory of its own and returns its path.
fn write(case: &Case) -> std::path::PathBuf {
    let dir = scratch(&format!("bad-manifests/{}", case.name));
    match &case.text {
        Edit(edits) => manifest_copy(&dir, |mut text| {
            for (old, new) in *edits {
                assert_eq!(
                    text.matches(old).count(),
                    1,
                    "{}: `{old}` must occur exactly once in docker/images.yaml",
                    case.name
                );
                text = text.replacen(old, new, 1);
            }
            text
        }),
        Whole(text) => {
            let path = dir.join("images.yaml");
            std::fs::write(&path, text).unwrap();
            path
        }
    }
}

/// Runs `cargo xtask COMMAND --manifest PATH` with the engine pointed at a listener of the
/// test's own, and returns what it printed and how many connections reached the listener.
fn run_without_engine(command: &str, manifest: &Path) -> (Output, usize) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port on 127.0.0.1");
    listener
        .set_nonblocking(true)
        .expect("make the listener non-blocking");
    let port = listener.local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([command, "--manifest"])
        .arg(manifest)
        .current_dir(root())
        .env("DOCKER_HOST", format!("tcp://127.0.0.1:{port}"))
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_STEP_SUMMARY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the xtask binary");
    // Connections are taken while the binary runs and dropped at once, so that a binary which
    // does reach for the engine fails quickly instead of waiting for an answer that never comes.
    let mut connections = 0;
    let started = Instant::now();
    let status = loop {
        while let Ok((stream, _)) = listener.accept() {
            connections += 1;
            drop(stream);
        }
        if let Some(status) = child.try_wait().expect("wait for the xtask binary") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            break child.wait().expect("wait for the killed xtask binary");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    while let Ok((_, _)) = listener.accept() {
        connections += 1;
    }
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    (
        Output {
            status,
            stdout,
            stderr,
        },
        connections,
    )
}

/// What is wrong with one case's run, or nothing.
fn check(case: &Case, command: &str) -> Result<String, String> {
    let path = write(case);
    let text = std::fs::read_to_string(&path).unwrap();
    let (line, column) = position(&text, case.at);
    let (out, connections) = run_without_engine(command, &path);
    let stderr = stderr(&out);
    let first = stderr.lines().next().unwrap_or("").to_string();
    let expected = format!("error: {}:{line}:{column}: {}", path.display(), case.says);
    let mut problems = Vec::new();
    if out.status.code() != Some(2) {
        problems.push(format!("exit code {:?}, not 2", out.status.code()));
    }
    if connections > 0 {
        problems.push(format!(
            "the engine was contacted ({connections} connections)"
        ));
    }
    if !first.starts_with(&expected) {
        problems.push(format!("the first line is not `{expected}...`"));
    }
    let rest: Vec<&str> = stderr.lines().skip(1).collect();
    if stderr.contains("caused by") || rest.len() != 1 || !rest[0].starts_with("next: ") {
        problems.push("stderr is not one error line and one `next:` line".into());
    }
    if problems.is_empty() {
        Ok(first)
    } else {
        Err(format!(
            "{} ({command}): {}\n--- stderr:\n{stderr}",
            case.name,
            problems.join("; ")
        ))
    }
}

#[test]
fn every_bad_manifest_is_one_located_line_and_exit_code_2_without_the_engine() {
    let cases = cases();
    assert!(cases.len() >= 18, "keep at least 18 bad manifests");
    let mut failures = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let command = COMMANDS[index % COMMANDS.len()];
        match check(case, command) {
            Ok(line) => eprintln!("ok {} ({command}): {line}", case.name),
            Err(failure) => failures.push(failure),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad manifests were not refused as they should be:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn the_project_manifest_itself_is_accepted() {
    // The cases above are edits of the project's manifest: they prove something only while the
    // manifest itself is fine. `report` reads no manifest, so this runs the real parser through a
    // command that fails later, at the engine, and checks that it got that far.
    let dir = scratch("bad-manifests/good");
    let path = manifest_copy(&dir, |text| text);
    let (out, connections) = run_without_engine("build-images", &path);
    assert!(
        connections > 0,
        "with a good manifest the binary goes on to the engine:\n{}",
        stderr(&out)
    );
    assert_ne!(out.status.code(), Some(2), "{}", stderr(&out));
}
