//! `cargo xtask report` renders the Markdown and the chart again from a `report.json`, without
//! the engine: it works even with `DOCKER_HOST` pointing nowhere.

use crate::common::*;

#[test]
fn report_renders_markdown_and_svg_from_report_json_without_the_engine() {
    let dir = scratch("render");
    let testdata = root().join("xtask/src/report/testdata");
    std::fs::copy(testdata.join("report.json"), dir.join("report.json")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "report",
            "--input",
            dir.join("report.json").to_str().unwrap(),
        ])
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let markdown = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert_eq!(
        markdown,
        std::fs::read_to_string(testdata.join("report.md")).unwrap()
    );
    let svg = std::fs::read_to_string(dir.join("sizes.svg")).unwrap();
    assert_eq!(
        svg,
        std::fs::read_to_string(testdata.join("sizes.svg")).unwrap()
    );
    assert!(stdout(&out).contains("1 of 11 checks failed"));
}

#[test]
fn a_missing_report_is_a_usage_error_that_says_what_to_run() {
    let dir = scratch("render-missing");
    let out = xtask(&[
        "report",
        "--input",
        dir.join("report.json").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("run `cargo xtask compare` first"),
        "{}",
        stderr(&out)
    );
}
