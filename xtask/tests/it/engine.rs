//! `cargo xtask compare` end to end on the real engine: the bases, the builds, the runs, the
//! probes, the report, and the checks that fail when they should.

use crate::common::*;

/// The first test to need the full report runs compare; the others read what it wrote.
fn full_run() -> (std::path::PathBuf, serde_json::Value) {
    static REPORT: std::sync::OnceLock<(std::path::PathBuf, serde_json::Value)> =
        std::sync::OnceLock::new();
    REPORT
        .get_or_init(|| {
            let out_dir = scratch("compare");
            let out = xtask(&["compare", "--out", out_dir.to_str().unwrap()]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "compare failed:\n{}\n{}",
                stdout(&out),
                stderr(&out)
            );
            (out_dir.clone(), read_report(&out_dir))
        })
        .clone()
}

#[test]
fn compare_builds_runs_and_proves_that_multistage_is_smaller() {
    let _engine = engine();
    let (_, report) = full_run();
    assert_eq!(report["ok"], true, "{report:#}");
    for variant in ["simples", "multistage", "target"] {
        let image = image(&report, variant);
        assert_eq!(image["tag"], format!("{TEST_REPOSITORY}:{variant}"));
        assert!(image["size_bytes"].as_u64().unwrap() > 0);
    }
    let simples = image(&report, "simples");
    let multistage = image(&report, "multistage");
    let (small, big) = (
        multistage["size_bytes"].as_u64().unwrap(),
        simples["size_bytes"].as_u64().unwrap(),
    );
    assert!(
        small < big,
        "multistage {small} B is not smaller than simples {big} B"
    );
    for image in [simples, multistage] {
        assert_eq!(image["run"]["probes_ok"], true, "{image:#}");
    }
    assert!(
        image(&report, "target")["run"].is_null(),
        "target does not run"
    );
    assert!(
        labelled_containers().is_empty(),
        "compare left containers: {:?}",
        labelled_containers()
    );
}

#[test]
fn the_multistage_image_is_little_more_than_its_binary_and_stops_at_once() {
    let _engine = engine();
    let (_, report) = full_run();
    let multistage = image(&report, "multistage");
    let size = multistage["size_bytes"].as_u64().unwrap();
    let binary = &multistage["largest_files"][0];
    assert_eq!(binary["path"], "/webtest");
    let binary = binary["size_bytes"].as_u64().unwrap();
    assert!(
        size as f64 <= 1.05 * binary as f64,
        "image {size} B, binary {binary} B"
    );
    assert!(size < 3_000_000, "image {size} B");
    assert_eq!(multistage["efficiency"], 1.0);
    assert_eq!(multistage["wasted_bytes"], 0);
    assert_eq!(multistage["posture"]["has_shell"], false);
    assert_eq!(multistage["posture"]["runs_as_root"], false);
    // The stop time is a budget of the benchmark (the report prints the figure and checks the
    // bound), not a timing taken by the test itself.
    let stop = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "max_stop_ms multistage")
        .expect("the manifest budgets the stop time");
    assert_eq!(stop["ok"], true, "{stop}");
    let simples = image(&report, "simples");
    assert_eq!(simples["posture"]["has_shell"], true);
    assert_eq!(simples["posture"]["runs_as_root"], true);
}

#[test]
fn the_multistage_container_runs_hardened_on_loopback_and_passes_its_probes_that_way() {
    let _engine = engine();
    let (_, report) = full_run();
    let run = &image(&report, "multistage")["run"];
    // As the engine reported the running container, not as the tool asked for it.
    let security = &run["security"];
    assert_eq!(security["read_only_rootfs"], true, "{security}");
    assert_eq!(
        security["cap_drop"],
        serde_json::json!(["ALL"]),
        "{security}"
    );
    assert_eq!(security["no_new_privileges"], true, "{security}");
    assert_eq!(security["user"], "65532:65532", "{security}");
    assert_eq!(
        security["published"],
        serde_json::json!(["127.0.0.1:8080"]),
        "{security}"
    );
    assert_eq!(run["probes_ok"], true);
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "hardened multistage")
        .expect("a hardening check");
    assert_eq!(check["ok"], true, "{check}");
}

#[test]
fn sizes_and_layers_in_the_report_equal_what_the_engine_says() {
    let _engine = engine();
    let (_, report) = full_run();
    for image in report["images"].as_array().unwrap() {
        let tag = image["tag"].as_str().unwrap();
        let size: u64 = docker(&["image", "inspect", "--format", "{{.Size}}", tag])
            .trim()
            .parse()
            .unwrap();
        assert_eq!(image["size_bytes"].as_u64().unwrap(), size, "{tag}");
        let layers: u64 = docker(&[
            "image",
            "inspect",
            "--format",
            "{{len .RootFS.Layers}}",
            tag,
        ])
        .trim()
        .parse()
        .unwrap();
        assert_eq!(image["layer_count"].as_u64().unwrap(), layers, "{tag}");
        // `docker history` lists the newest first, the report the oldest first.
        let history = docker(&[
            "history",
            "--human=false",
            "--no-trunc",
            "--format",
            "{{.Size}}",
            tag,
        ]);
        let mut sizes: Vec<u64> = history.lines().map(|l| l.trim().parse().unwrap()).collect();
        sizes.reverse();
        let reported: Vec<u64> = image["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["size_bytes"].as_u64().unwrap())
            .collect();
        assert_eq!(reported, sizes, "{tag}");
        assert_eq!(
            reported.iter().sum::<u64>(),
            size,
            "{tag}: the layers add up to the size"
        );
    }
}

#[test]
fn a_second_compare_rebuilds_nothing() {
    let _engine = engine();
    full_run();
    let out_dir = scratch("compare-again");
    let out = xtask(&[
        "compare",
        "--out",
        out_dir.to_str().unwrap(),
        "--starts",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let log = stderr(&out);
    for variant in ["simples", "multistage", "target"] {
        assert!(
            log.contains(&format!("built {TEST_REPOSITORY}:{variant}"))
                && log.contains("up to date, every step from the cache"),
            "{log}"
        );
    }
    assert!(
        !log.contains("steps from the cache"),
        "a step was rebuilt:\n{log}"
    );
}

/// The tool's containers the engine created between two instants (Unix seconds), by image.
fn containers_created(since: u64, until: u64) -> Vec<String> {
    docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
        "--filter",
        "type=container",
        "--filter",
        "event=create",
        "--filter",
        "label=io.webtest.xtask.container=1",
        "--format",
        "{{.Actor.Attributes.image}}",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn a_compare_with_nothing_changed_starts_no_container_and_fresh_runs_every_variant_again() {
    let _engine = engine();
    let (_, first) = full_run();
    let running: Vec<String> = first["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| !i["run"].is_null())
        .map(|i| i["variant"].as_str().unwrap().to_string())
        .collect();
    assert!(running.len() >= 2, "{running:?}");
    let compare = |name: &str, fresh: bool| {
        let dir = scratch(name);
        let mut args = vec!["compare", "--no-build", "--no-registry"];
        args.extend(["--out", dir.to_str().unwrap()]);
        if fresh {
            args.push("--fresh");
        }
        // The engine's event times are whole seconds: what ran before is a second past, and
        // what this run starts shows before the second after it ends.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let since = unix_now();
        let out = xtask(&args);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let created = containers_created(since, unix_now());
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        (read_report(&dir), stderr(&out), created)
    };

    // Same images, same settings: the runs' and the commands' figures come back, nothing starts.
    let (again, log, created) = compare("compare-unchanged", false);
    assert!(
        created.is_empty(),
        "containers were started: {created:?}\n{log}"
    );
    for variant in &running {
        let run = &image(&again, variant)["run"];
        let before = &image(&first, variant)["run"];
        assert_eq!(run["cached"], true, "{variant}");
        assert_eq!(
            run["ready_samples_ms"], before["ready_samples_ms"],
            "{variant}"
        );
        assert_eq!(run["probes"], before["probes"], "{variant}");
        assert!(
            log.contains(&format!(
                "run {TEST_REPOSITORY}:{variant}: unchanged image, figures from the cache"
            )),
            "{log}"
        );
    }
    assert!(log.contains("outcome from the cache"), "{log}");
    assert_eq!(again["ok"], true);

    // --fresh starts every running variant again, and every structure test's command.
    let (fresh, log, created) = compare("compare-fresh", true);
    for variant in &running {
        assert_eq!(image(&fresh, variant)["run"]["cached"], false, "{variant}");
        let tag = format!("{TEST_REPOSITORY}:{variant}");
        assert!(
            created.contains(&tag),
            "{tag} was not started: {created:?}\n{log}"
        );
    }
    assert!(!log.contains("unchanged image"), "{log}");
    assert!(labelled_containers().is_empty());
}

#[test]
fn a_budget_set_too_tight_fails_with_exit_1_naming_the_budget_the_figure_and_the_bound() {
    let _engine = engine();
    full_run();
    let dir = scratch("tight");
    let manifest = manifest_copy(&dir, |text| {
        text.replace(
            "max_size: { image: multistage, bytes: 3 MB }",
            "max_size: { image: multistage, bytes: 1 kB }",
        )
    });
    let out = xtask(&[
        "compare",
        "--no-build",
        "--starts",
        "1",
        "--manifest",
        manifest.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let table = stdout(&out);
    let line = table
        .lines()
        .find(|l| l.contains("FAIL max_size multistage"))
        .unwrap_or_else(|| panic!("no failing budget in:\n{table}"));
    assert!(
        line.contains("1.00 kB") && line.contains("MB"),
        "the line names the figure and the bound: {line}"
    );
    let report = read_report(&dir);
    assert_eq!(report["ok"], false);
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "max_size multistage")
        .unwrap();
    assert_eq!(check["ok"], false);
    assert!(labelled_containers().is_empty());
}

#[test]
fn a_bad_manifest_exits_2_naming_the_file_the_line_and_the_field() {
    let _engine = engine();
    let dir = scratch("bad-manifest");
    let manifest = manifest_copy(&dir, |text| {
        text.replace(
            "  simples:    { dockerfile: docker/Dockerfile.simples,    run: true }",
            "  simples:    { dockerfile: docker/Dockerfile.simples,    runs: true }",
        )
    });
    let line = std::fs::read_to_string(&manifest)
        .unwrap()
        .lines()
        .position(|l| l.contains("runs: true"))
        .unwrap()
        + 1;
    let out = xtask(&["compare", "--manifest", manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}:{line}:", manifest.display())),
        "{err}"
    );
    assert!(
        err.contains("variants.simples.runs: unknown field"),
        "{err}"
    );
}

#[test]
fn a_failing_build_shows_the_failing_step_and_its_output() {
    let _engine = engine();
    let dir = scratch("failing-build");
    std::fs::write(
        dir.join("Dockerfile"),
        "ARG RUST_IMAGE\nFROM ${RUST_IMAGE}\nRUN echo compiling && echo 'error: this step fails on purpose' >&2 && exit 3\n",
    )
    .unwrap();
    let dockerfile = dir.strip_prefix(root()).unwrap().join("Dockerfile");
    // The project's bases, and one variant whose build fails.
    let manifest = manifest_copy(&dir, |text| {
        let text = in_repository(&text, "webtest-test");
        let bases_only = &text[..text.find("\nvariants:").unwrap()];
        format!(
            "{bases_only}\nvariants:\n  broken: {{ dockerfile: {} }}\n",
            dockerfile.display()
        )
    });
    let out = xtask(&["build-images", "--manifest", manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("build of webtest-test:broken failed at step 3/"),
        "{err}"
    );
    assert!(err.contains("RUN echo compiling"), "{err}");
    assert!(err.contains("returned a non-zero code: 3"), "{err}");
    assert!(
        err.contains("compiling\n") && err.contains("error: this step fails on purpose"),
        "the step's output is shown: {err}"
    );
    assert!(err.contains("next:"), "{err}");
    assert!(
        labelled_containers().is_empty(),
        "a failed build left its container"
    );
}

#[test]
fn every_variant_carries_oci_labels_of_its_own_and_none_of_its_bases_tool_labels() {
    let _engine = engine();
    let (_, report) = full_run();
    let version = std::fs::read_to_string(root().join("webtest/Cargo.toml"))
        .unwrap()
        .lines()
        .find_map(|line| {
            line.strip_prefix("version = ")
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap();
    for entry in report["images"].as_array().unwrap() {
        let tag = entry["tag"].as_str().unwrap();
        let labels: serde_json::Value = serde_json::from_str(&docker(&[
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            tag,
        ]))
        .unwrap();
        assert_eq!(labels["org.opencontainers.image.title"], tag, "{labels:#}");
        assert_eq!(labels["org.opencontainers.image.version"], version.as_str());
        assert!(
            labels["org.opencontainers.image.created"]
                .as_str()
                .is_some_and(|created| created.starts_with("20")),
            "{tag}: {labels:#}"
        );
        // The stand-in's own tool labels are emptied: this image is not a base.
        assert_eq!(labels["io.webtest.xtask.base"], "", "{tag}: {labels:#}");
        assert_eq!(labels["io.webtest.xtask.recipe"], "", "{tag}: {labels:#}");
        assert!(
            !labels["org.opencontainers.image.description"]
                .as_str()
                .unwrap_or("")
                .contains("stand-in"),
            "{tag}: {labels:#}"
        );
    }
}
