//! Checks of the repository itself: the README's two commands are the ones CI runs, and every
//! command the README lists exists.

use crate::common::root;

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|err| panic!("read {path}: {err}"))
}

/// The lines of the README's shell code blocks.
fn readme_commands() -> Vec<String> {
    let readme = read("README.md");
    let mut inside = false;
    let mut commands = Vec::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            inside = line == "```sh";
            continue;
        }
        if inside {
            commands.push(line.trim().to_string());
        }
    }
    commands
}

#[test]
fn the_readme_gives_the_main_job_and_the_test_command() {
    let commands = readme_commands();
    assert!(
        commands.contains(&"cargo xtask compare".to_string()),
        "{commands:?}"
    );
    assert!(
        commands.contains(&"cargo test --locked --workspace".to_string()),
        "{commands:?}"
    );
}

#[test]
fn ci_runs_the_readme_test_command_and_the_workflow_runs_the_main_job() {
    const TEST_COMMAND: &str = "cargo test --locked --workspace";
    let readme = read("README.md");
    assert!(
        readme.contains(&format!("```sh\n{TEST_COMMAND}\n```")),
        "the README gives the test command"
    );
    let ci = read(".ci/run");
    assert!(
        // As written, or with its output kept in a log (`set -o pipefail` keeps its status).
        ci.lines().any(|l| {
            let l = l.trim();
            l == TEST_COMMAND || l.starts_with(&format!("{TEST_COMMAND} 2>&1 | tee "))
        }) && ci.contains("set -euo pipefail"),
        ".ci/run must run the README's test command"
    );
    let workflow = read(".github/workflows/ci.yml");
    for command in [
        "bash .ci/run",
        "cargo xtask build-images",
        "cargo xtask compare",
        "cargo xtask stress",
    ] {
        assert!(
            workflow.contains(&format!("run: {command}")),
            "the workflow does not run `{command}`"
        );
    }
    assert!(
        workflow.contains("on:")
            && workflow.contains("push:")
            && workflow.contains("pull_request:")
    );
}

#[test]
fn every_command_the_readme_lists_exists() {
    let readme = read("README.md");
    for command in [
        "bases",
        "build-images",
        "compare",
        "stress",
        "report",
        "clean",
    ] {
        assert!(
            readme.contains(&format!("cargo xtask {command}")),
            "the README does not list {command}"
        );
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args([command, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success(), "cargo xtask {command} --help fails");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("--manifest"),
            "{command} takes no --manifest"
        );
    }
}
