//! `cargo xtask compare` over every app on the real engine: the Rust service, the Go webtest and
//! the front-end, each built on its official base or a local stand-in (made by `bases` with no
//! hand step), run, probed and checked, in one report that says which app and which base every
//! image belongs to; and `--app` choosing one of them, an unknown one refused before the engine.

use std::path::{Path, PathBuf};

use crate::common::*;

/// The apps, the tests' own repositories, and the build argument of the base their production
/// image is built on (none for Rust: `scratch`).
const APPS: [(&str, &str, &str); 3] = [
    ("rust", TEST_REPOSITORY, ""),
    ("go", "webtest-it-go", "ALPINE_IMAGE"),
    ("frontend", "webtest-it-frontend", "NGINX_IMAGE"),
];

/// The project's three manifests copied into `dir`, each building into a test repository of its
/// own (so that the images a user built are left alone), the first naming the other two.
fn apps_manifest(dir: &Path) -> PathBuf {
    for (file, repository) in [("go", "webtest-it-go"), ("frontend", "webtest-it-frontend")] {
        let docker = root().join("docker");
        let text = std::fs::read_to_string(docker.join(format!("{file}.yaml"))).unwrap();
        let text: String = text
            .replacen("context: ..", &format!("context: {}", root().display()), 1)
            .lines()
            .map(|line| match line.strip_prefix("repository:") {
                Some(_) => format!("repository: {repository}\n"),
                None => format!("{line}\n"),
            })
            .collect();
        std::fs::write(dir.join(format!("{file}.yaml")), text).unwrap();
        // The recipes' files (the alpine stand-in's `apk`) are relative to the manifest.
        std::fs::create_dir_all(dir.join("standins")).unwrap();
        std::fs::copy(docker.join("standins/apk"), dir.join("standins/apk")).unwrap();
        std::fs::copy(
            docker.join(format!("{file}.lock")),
            dir.join(format!("{file}.lock")),
        )
        .unwrap();
    }
    manifest_copy(dir, |text| text + "apps: [go.yaml, frontend.yaml]\n")
}

fn images_of<'a>(report: &'a serde_json::Value, app: &str) -> Vec<&'a serde_json::Value> {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|image| image["app"] == app)
        .collect()
}

fn variant<'a>(images: &[&'a serde_json::Value], name: &str) -> &'a serde_json::Value {
    images
        .iter()
        .find(|image| image["variant"] == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn one_compare_builds_runs_and_checks_every_app() {
    let _engine = engine();
    let out_dir = scratch("apps");
    let manifest = apps_manifest(&out_dir);
    let out = xtask(&[
        "compare",
        "--manifest",
        manifest.to_str().unwrap(),
        // One start per variant and no registry round trip: the starts' statistics and the
        // round trip have tests of their own, and CI's time goes to the three apps' builds.
        "--starts",
        "1",
        "--no-registry",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "compare failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let report = read_report(&out_dir);
    assert_eq!(report["ok"], true);
    assert_eq!(
        report["repository"], TEST_REPOSITORY,
        "the first app names the report"
    );
    let apps: Vec<&str> = report["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|app| app["name"].as_str().unwrap())
        .collect();
    assert_eq!(apps, ["rust", "go", "frontend"]);
    for (app, repository, production_base) in APPS {
        let images = images_of(&report, app);
        for name in ["simples", "multistage", "target"] {
            let image = variant(&images, name);
            assert_eq!(image["tag"], format!("{repository}:{name}"));
            // Each image says what it was built on: the official image or a stand-in.
            let base = &image["base"];
            assert!(
                ["official", "stand-in", "scratch"].contains(&base["kind"].as_str().unwrap()),
                "{app} {name}: {base}"
            );
            if base["kind"] == "stand-in" {
                assert!(
                    base["image"].as_str().unwrap().starts_with("webtest-base/"),
                    "a stand-in never takes an official name: {base}"
                );
                assert_ne!(base["image"], base["official"]);
            }
        }
        let simples = variant(&images, "simples");
        let multistage = variant(&images, "multistage");
        assert!(
            multistage["size_bytes"].as_u64() < simples["size_bytes"].as_u64(),
            "{app}: multistage is not smaller than simples"
        );
        for image in [simples, multistage] {
            assert_eq!(image["run"]["probes_ok"], true, "{app}: {image:#}");
        }
        assert!(variant(&images, "target")["run"].is_null());
        // Every production image runs hardened, as the engine reports it; the front-end's nginx
        // writes its pid file and temp files to the one tmpfs its manifest gives, at /tmp.
        let security = &multistage["run"]["security"];
        assert_eq!(security["read_only_rootfs"], true, "{app}: {security}");
        let tmpfs: &[&str] = if app == "frontend" { &["/tmp"] } else { &[] };
        assert_eq!(
            security["tmpfs"],
            serde_json::json!(tmpfs),
            "{app}: {security}"
        );
        assert_eq!(multistage["base"]["arg"], production_base, "{app}");
        // Every check of the app is marked with it, and they all hold.
        let checks: Vec<&serde_json::Value> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|check| check["app"] == app)
            .collect();
        assert!(
            checks
                .iter()
                .any(|c| c["name"] == "smaller multistage < simples"),
            "{app}"
        );
        assert!(
            checks.iter().any(|c| c["name"] == "hardened multistage"),
            "{app}"
        );
        assert!(checks.iter().all(|c| c["ok"] == true), "{app}: {checks:#?}");
    }
    // The terminal and the Markdown group by app and compare the production images.
    let table = stdout(&out);
    for heading in [
        "app rust · webtest-it",
        "app go · webtest-it-go",
        "production images across apps",
    ] {
        assert!(table.contains(heading), "no `{heading}` in:\n{table}");
    }
    let markdown = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(markdown.contains("## Production images across apps"));
    assert!(markdown.contains("### App `frontend` · `webtest-it-frontend`"));
    assert!(labelled_containers().is_empty());

    // `--app` chooses one app: only its images are measured, and its repository names the
    // report. The images are the ones just built, so nothing is built again.
    let go_dir = out_dir.join("go");
    let out = xtask(&[
        "compare",
        "--manifest",
        manifest.to_str().unwrap(),
        "--app",
        "go",
        "--no-build",
        "--starts",
        "1",
        "--no-registry",
        "--out",
        go_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = read_report(&go_dir);
    let apps: Vec<&str> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|image| image["app"].as_str().unwrap())
        .collect();
    assert!(
        !apps.is_empty() && apps.iter().all(|app| *app == "go"),
        "{apps:?}"
    );
    assert_eq!(report["repository"], "webtest-it-go");
    assert!(labelled_containers().is_empty());
}

#[test]
fn an_unknown_app_is_a_usage_error_before_the_engine() {
    let out_dir = scratch("apps-unknown");
    let manifest = apps_manifest(&out_dir);
    // An engine that cannot answer: the error comes from reading the manifests, before it.
    let mut command = xtask_command(&[
        "compare",
        "--manifest",
        manifest.to_str().unwrap(),
        "--app",
        "java",
    ]);
    command.env("DOCKER_HOST", "tcp://127.0.0.1:1");
    let out = run_logged(command);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        first_line(&stderr(&out)),
        "error: no app `java` (known: rust, go, frontend)"
    );
}
