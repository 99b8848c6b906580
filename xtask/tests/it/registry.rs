//! The registry round trip of `compare` on the real engine: a registry started for the run (the
//! stand-in of Debian's docker-registry, since registry:2 cannot be pulled here), each variant
//! pushed, its bytes read off the registry's manifest, pulled back and started; the registry gone
//! afterwards, no registry-prefixed tag left; and a second run that pushes nothing. The SBOMs the
//! same run writes are validated against the published CycloneDX 1.5 schema.

use std::path::{Path, PathBuf};

use crate::common::*;

/// A manifest of the project's own with only `multistage` and `distroless`, in a repository of
/// the tests' own, its lock file beside it.
fn two_variants(dir: &Path) -> PathBuf {
    let manifest = manifest_copy(dir, |text| {
        let text = in_repository(&text, "webtest-it-registry");
        // The variants, and nothing after them: the structure tests and budgets name others.
        let start = text.find("\nvariants:").unwrap();
        let end = text.find("\n# Sent to every running variant").unwrap();
        let probe_on = &text[end..];
        let probe_end = probe_on
            .find("\n# In the style of container-structure-test")
            .unwrap();
        format!(
            "{}\nvariants:\n  multistage: {{ dockerfile: docker/Dockerfile.multistage, run: true }}\n  distroless: {{ dockerfile: docker/Dockerfile.multistage, target: distroless, run: true }}\n{}\n",
            &text[..start],
            &probe_on[..probe_end]
        )
        .replace("starts: 3", "starts: 1")
    });
    std::fs::copy(root().join("docker/images.lock"), dir.join("images.lock")).unwrap();
    manifest
}

/// Runs compare once for the tests of this module; the second run checks the cache.
fn first_run() -> (PathBuf, PathBuf, serde_json::Value, String) {
    static RUN: std::sync::OnceLock<(PathBuf, PathBuf, serde_json::Value, String)> =
        std::sync::OnceLock::new();
    RUN.get_or_init(|| {
        // Figures kept from an earlier run would spare the round trip this test is about.
        let _ = std::fs::remove_dir_all(root().join("target/xtask/transfer-cache"));
        // Registry tags of this test's repository that a killed earlier run left: the test
        // asserts that the run leaves none, so it starts from none.
        for tag in registry_tags() {
            docker(&["rmi", &tag]);
        }
        let dir = scratch("registry");
        let manifest = two_variants(&dir);
        let out_dir = dir.join("out");
        let out = xtask(&[
            "compare",
            "--manifest",
            manifest.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
            "--port",
            "0",
        ]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "compare failed:\n{err}");
        (manifest, out_dir.clone(), read_report(&out_dir), err)
    })
    .clone()
}

/// The tags of this test's repository in a registry (`127.0.0.1:PORT/webtest-it-registry…`).
fn registry_tags() -> Vec<String> {
    docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .lines()
        .filter(|line| line.starts_with("127.0.0.1:") && line.contains("/webtest-it-registry"))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_variant_goes_through_a_registry_started_for_the_run_and_removed_after() {
    let _engine = engine();
    let (manifest, out_dir, report, err) = first_run();
    assert!(
        err.contains("registry: webtest-base/registry:bookworm on 127.0.0.1:")
            && err.contains("read-only, no capabilities, user 65534:65534"),
        "{err}"
    );
    let multistage = image(&report, "multistage");
    let transfer = &multistage["transfer"];
    let pushed = transfer["pushed_bytes"].as_u64().unwrap();
    let compressed = multistage["compressed_bytes"].as_u64().unwrap();
    // The compressed size of an image the registry took is what the registry stores for it:
    // its layers, config and manifest, from the registry's own manifest.
    assert_eq!(compressed, pushed);
    // Without a registry, the size is our deflate of the plain layers at Docker's level (with
    // the archive's config and manifest); the registry stores what the engine's Go gzip made of
    // the same bytes (measured: 773,697 B against 785,118 B pushed).
    let tag = multistage["tag"].as_str().unwrap();
    let analyzed = xtask(&["analyze", tag, "--format", "json", "--no-cache"]);
    assert_eq!(analyzed.status.code(), Some(0), "{}", stderr(&analyzed));
    let analyzed: serde_json::Value = serde_json::from_str(&stdout(&analyzed)).unwrap();
    let deflated = analyzed["compressed_bytes"].as_u64().unwrap();
    let off = (pushed as f64 - deflated as f64).abs() / pushed as f64;
    assert!(
        off <= 0.03,
        "our deflate {deflated} B is {:.1} % off the {pushed} B the registry stores",
        off * 100.0
    );
    let digest = transfer["digest"].as_str().unwrap();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{transfer:#}"
    );
    assert!(
        transfer["reference"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{transfer:#}"
    );
    // The engine held the layers under the variant's own tag: reported shared, never hidden.
    assert_eq!(transfer["layers"], 1);
    assert_eq!(transfer["shared_layers"].as_array().unwrap().len(), 1);
    assert_eq!(transfer["cached"], false);
    for field in ["push_ms", "pull_ms", "fetch_ms", "start_ms", "deploy_ms"] {
        assert!(transfer[field].is_u64(), "{field}: {transfer:#}");
    }
    let deploy = transfer["deploy_ms"].as_u64().unwrap();
    let parts = ["pull_ms", "fetch_ms", "start_ms"]
        .iter()
        .map(|f| transfer[*f].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(deploy, parts, "{transfer:#}");
    let distroless = &image(&report, "distroless")["transfer"];
    assert!(distroless["pushed_bytes"].as_u64().unwrap() > pushed);

    // Nothing of the round trip is left: no container of the registry or of the deploy, no tag.
    assert!(
        labelled_containers().is_empty(),
        "left: {:?}",
        labelled_containers()
    );
    assert!(
        new_containers(&[
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            "ancestor=webtest-base/registry:bookworm"
        ])
        .is_empty(),
        "the registry's container is still there"
    );
    assert_eq!(registry_tags(), Vec::<String>::new());
    assert_eq!(
        docker(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            "webtest-it-registry:multistage"
        ])
        .trim(),
        multistage["id"].as_str().unwrap(),
        "the variant's own tag is kept"
    );

    // Nothing changed: nothing is pushed, no registry is started, the figures come back.
    let again = xtask(&[
        "compare",
        "--manifest",
        manifest.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--port",
        "0",
        "--no-build",
    ]);
    let err = stderr(&again);
    assert_eq!(again.status.code(), Some(0), "{err}");
    assert!(err.contains("figures from the cache"), "{err}");
    assert!(!err.contains("push and pull"), "{err}");
    let report = read_report(&out_dir);
    let cached = &image(&report, "multistage")["transfer"];
    assert_eq!(cached["cached"], true);
    assert_eq!(cached["digest"], digest);
    assert_eq!(cached["pushed_bytes"], pushed);

    // --no-registry skips the round trip, and a budget that needs it says so.
    let out = xtask(&[
        "compare",
        "--manifest",
        manifest.to_str().unwrap(),
        "--out",
        out_dir.join("skip").to_str().unwrap(),
        "--port",
        "0",
        "--no-build",
        "--no-registry",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = read_report(&out_dir.join("skip"));
    assert!(image(&report, "multistage")["transfer"].is_null());
    assert!(labelled_containers().is_empty());
}

/// The CycloneDX 1.5 schema, as its authors publish it (vendored with its licence), with the
/// two schemas it refers to.
fn cyclonedx_validator() -> jsonschema::Validator {
    let dir = root().join("xtask/tests/it/schemas/cyclonedx-1.5");
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
    };
    let base = "http://cyclonedx.org/schema/";
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .with_resource(
            format!("{base}spdx.SNAPSHOT.schema.json"),
            jsonschema::Resource::from_contents(read("spdx.SNAPSHOT.schema.json")).unwrap(),
        )
        .with_resource(
            format!("{base}jsf-0.82.SNAPSHOT.schema.json"),
            jsonschema::Resource::from_contents(read("jsf-0.82.SNAPSHOT.schema.json")).unwrap(),
        )
        .should_validate_formats(true)
        .build(&read("bom-1.5.SNAPSHOT.schema.json"))
        .expect("the CycloneDX schema compiles")
}

#[test]
fn the_sboms_are_valid_cyclonedx_and_the_scratch_image_lists_its_crates() {
    let _engine = engine();
    let (_, out_dir, report, _) = first_run();
    let validator = cyclonedx_validator();
    let sboms: Vec<PathBuf> = std::fs::read_dir(out_dir.join("sbom"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(sboms.len(), 2, "{sboms:?}");
    for sbom in &sboms {
        let document: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(sbom).unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&document)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", sbom.display());
    }
    // The validator does refuse what the format forbids.
    let mut broken: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sboms[0]).unwrap()).unwrap();
    broken["components"][0]["type"] = "no-such-type".into();
    assert!(!validator.is_valid(&broken));

    let read = |variant: &str| -> serde_json::Value {
        let entry = image(&report, variant);
        let path = root().join(entry["components"]["sbom"].as_str().unwrap());
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let purls = |document: &serde_json::Value| -> Vec<String> {
        document["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["purl"].as_str().unwrap().to_string())
            .collect()
    };
    // Scratch: no package database, but the service's crates, the service itself first.
    let multistage = read("multistage");
    let crates = purls(&multistage);
    assert!(crates[0].starts_with("pkg:cargo/webtest@"), "{crates:?}");
    for dependency in ["axum", "tokio", "hyper"] {
        assert!(
            crates
                .iter()
                .any(|p| p.starts_with(&format!("pkg:cargo/{dependency}@"))),
            "no {dependency} in {crates:?}"
        );
    }
    let counts = &image(&report, "multistage")["components"];
    assert_eq!(counts["packages"], 0, "{counts:#}");
    assert_eq!(counts["executables"], 1, "{counts:#}");
    assert_eq!(
        counts["dependencies"].as_u64().unwrap() as usize,
        crates.len() - 1
    );
    // Distroless: its status.d packages, the same crates.
    let distroless = purls(&read("distroless"));
    for package in ["base-files", "netbase", "tzdata", "ca-certificates"] {
        assert!(
            distroless
                .iter()
                .any(|p| p.starts_with(&format!("pkg:deb/debian/{package}@"))),
            "no {package} in {distroless:?}"
        );
    }
    assert_eq!(image(&report, "distroless")["components"]["packages"], 4);
}
