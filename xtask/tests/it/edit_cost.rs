//! `compare --edit-cost`: every variant is rebuilt from a copy of the context with one line
//! appended to the manifest's `edit:` file; the multistage variant takes its dependency layer
//! from the cache while `simples` compiles everything again; the user's tree is not touched, and
//! the edited builds leave nothing in the engine. It works in a repository of its own.

use crate::common::*;

#[test]
fn edit_cost_rebuilds_every_variant_from_an_edited_context_and_leaves_nothing_behind() {
    let _engine = engine();
    let dir = scratch("edit-cost");
    // simples and multistage, the two the lesson compares, and nothing after the run settings
    // (the structure tests and budgets name the other variants).
    let manifest = manifest_copy(&dir, |text| {
        let text = in_repository(&text, "webtest-it-edit");
        let text = &text[..text
            .find("\n# In the style of container-structure-test")
            .unwrap()];
        text.lines()
            .filter(|line| {
                !["  target:", "  slim:", "  distroless:"]
                    .iter()
                    .any(|variant| line.starts_with(variant))
            })
            .map(|line| format!("{line}\n"))
            .collect()
    });
    let manifest = manifest.to_str().unwrap();
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    // The normal images first: the edit cost is measured from their build cache.
    let built = xtask(&["--manifest", manifest, "build-images"]);
    assert!(built.status.success(), "{}", stderr(&built));
    let source = root().join("webtest/src/main.rs");
    let before_source = std::fs::read(&source).unwrap();
    let before = snapshot();

    let run = xtask(&[
        "--manifest",
        manifest,
        "compare",
        "--no-build",
        "--edit-cost",
        // The edit cost alone: one start, no registry round trip (both have tests of their own).
        "--starts",
        "1",
        "--no-registry",
        "--port",
        "0",
        "--out",
        out,
    ]);
    let text = stdout(&run);
    let report = read_report(std::path::Path::new(out));
    assert_nothing_left(&before);
    assert_eq!(std::fs::read(&source).unwrap(), before_source);
    assert!(text.contains("Edit cost: rebuild after one line appended to webtest/src/main.rs"));

    let simples = &image(&report, "simples")["edit_cost"];
    let multistage = &image(&report, "multistage")["edit_cost"];
    let rebuilt = |cost: &serde_json::Value| -> Vec<String> {
        cost["rebuilt"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    // simples copies everything at once, so its compile step runs again from scratch.
    assert!(
        rebuilt(simples).iter().any(|s| s == "COPY . ."),
        "{simples}"
    );
    assert!(rebuilt(simples).iter().any(|s| s.contains("cargo build")));
    // multistage keeps the dependency layer: its stub build comes from the cache.
    let ms = rebuilt(multistage);
    assert!(
        ms.iter().any(|s| s == "COPY webtest/src webtest/src"),
        "{multistage}"
    );
    assert!(
        !ms.iter().any(|s| s.contains("echo 'fn main() {}'")),
        "{multistage}"
    );
    assert!(multistage["cached_steps"].as_u64().unwrap() > 0);
    assert!(multistage["rebuild_ms"].as_u64().unwrap() > 0);
    assert_eq!(multistage["file"], "webtest/src/main.rs");

    let cleaned = xtask(&["--manifest", manifest, "clean"]);
    assert!(cleaned.status.success(), "{}", stderr(&cleaned));
}

#[test]
fn edit_cost_without_an_edit_file_is_a_usage_error_before_the_engine() {
    let dir = scratch("edit-cost-usage");
    let manifest = manifest_copy(&dir, |text| {
        text.lines()
            .filter(|l| !l.starts_with("edit:"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let run = xtask_command(&[
        "--manifest",
        manifest.to_str().unwrap(),
        "compare",
        "--edit-cost",
    ])
    // No engine answers here: the error must come before the engine is needed.
    .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    .output()
    .unwrap();
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("--edit-cost needs the source file"),
        "{}",
        stderr(&run)
    );
}
