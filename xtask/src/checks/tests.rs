//! The checks' unit tests: every budget kind against the figure it bounds, the structure
//! tests, and the words the report gives each finding.

use super::*;
use crate::manifest::ByteSize;
use crate::model::{ImageConfig, Posture};

fn image(variant: &str, size: u64) -> ImageReport {
    ImageReport {
        app: String::new(),
        variant: variant.into(),
        tag: format!("webtest:{variant}"),
        id: "sha256:0".into(),
        size_bytes: size,
        compressed_bytes: size / 2,
        layer_count: 1,
        layers: vec![],
        efficiency: 1.0,
        wasted_bytes: 0,
        reclaimable_bytes: 0,
        hidden_bytes: 0,
        file_count: 1,
        largest_files: vec![],
        config: ImageConfig {
            user: "65532:65532".into(),
            entrypoint: vec!["/webtest".into()],
            exposed_ports: vec!["8080/tcp".into()],
            ..Default::default()
        },
        posture: Posture::default(),
        run: None,
        base: None,
        bases: Vec::new(),
        edit_cost: None,
        transfer: None,
        components: None,
    }
}

fn eval(budget: Budget, images: &[ImageReport]) -> Check {
    let analyses = HashMap::new();
    let commands = HashMap::new();
    worded(super::budget(
        &budget,
        &Inputs {
            images,
            analyses: &analyses,
            commands: &commands,
        },
    ))
}

/// The check with its words, as the report shows it.
fn worded(mut check: Check) -> Check {
    check.detail = crate::report::describe(&check);
    check
}

#[test]
fn budgets_carry_the_figure_the_bound_and_the_unit() {
    let c = eval(
        Budget::MaxSize {
            image: "multistage".into(),
            bytes: ByteSize(1_000_000),
        },
        &[image("multistage", 1_500_000)],
    );
    assert!(!c.ok);
    assert_eq!(c.image, "multistage");
    assert_eq!(c.measured, Some(1_500_000.0));
    assert_eq!(c.bound, Some(1_000_000.0));
    assert_eq!(c.unit, Some(Unit::Bytes));
}

#[test]
fn smaller_holds_when_multistage_is_smaller() {
    let images = [
        image("multistage", 1_500_000),
        image("simples", 1_200_000_000),
    ];
    let c = eval(
        Budget::Smaller {
            image: "multistage".into(),
            than: "simples".into(),
        },
        &images,
    );
    assert!(c.ok, "{c:?}");
    assert_eq!(c.name, "smaller multistage < simples");
    assert!(
        c.detail.contains("1.50 MB") && c.detail.contains("800.0x"),
        "{}",
        c.detail
    );
    let c = eval(
        Budget::Smaller {
            image: "simples".into(),
            than: "multistage".into(),
        },
        &images,
    );
    assert!(!c.ok);
}

#[test]
fn a_failing_budget_names_the_figure_the_bound_and_the_image() {
    let images = [image("multistage", 1_500_000)];
    let c = eval(
        Budget::MaxSize {
            image: "multistage".into(),
            bytes: ByteSize(1_000_000),
        },
        &images,
    );
    assert!(!c.ok);
    assert_eq!(c.name, "max_size multistage");
    assert!(
        c.detail.contains("multistage")
            && c.detail.contains("1.50 MB")
            && c.detail.contains("1.00 MB"),
        "{}",
        c.detail
    );
}

#[test]
fn every_budget_kind_compares_the_right_figure() {
    let mut m = image("multistage", 1_000);
    m.efficiency = 0.5;
    m.wasted_bytes = 10;
    m.layer_count = 3;
    let s = image("simples", 100_000);
    let images = [m, s];
    assert!(
        eval(
            Budget::MinRatio {
                image: "multistage".into(),
                than: "simples".into(),
                ratio: 100.0
            },
            &images
        )
        .ok
    );
    assert!(
        !eval(
            Budget::MinRatio {
                image: "multistage".into(),
                than: "simples".into(),
                ratio: 101.0
            },
            &images
        )
        .ok
    );
    assert!(
        eval(
            Budget::MaxCompressed {
                image: "multistage".into(),
                bytes: ByteSize(500)
            },
            &images
        )
        .ok
    );
    assert!(
        !eval(
            Budget::MaxCompressed {
                image: "multistage".into(),
                bytes: ByteSize(499)
            },
            &images
        )
        .ok
    );
    assert!(
        !eval(
            Budget::MinEfficiency {
                image: "multistage".into(),
                ratio: 0.9
            },
            &images
        )
        .ok
    );
    assert!(
        eval(
            Budget::MaxWastedBytes {
                image: "multistage".into(),
                bytes: ByteSize(10)
            },
            &images
        )
        .ok
    );
    assert!(
        !eval(
            Budget::MaxWastedBytes {
                image: "multistage".into(),
                bytes: ByteSize(9)
            },
            &images
        )
        .ok
    );
    assert!(
        !eval(
            Budget::MaxLayers {
                image: "multistage".into(),
                layers: 2
            },
            &images
        )
        .ok
    );
    assert!(
        eval(
            Budget::NonRoot {
                image: "multistage".into()
            },
            &images
        )
        .ok
    );
    assert!(
        !eval(
            Budget::MaxSize {
                image: "nope".into(),
                bytes: ByteSize(1)
            },
            &images
        )
        .ok
    );
}

#[test]
fn the_stop_time_budget_reads_the_run() {
    let mut m = image("multistage", 1_000);
    let budget = Budget::MaxStopMs {
        image: "multistage".into(),
        ms: 1000,
    };
    let c = eval(budget.clone(), std::slice::from_ref(&m));
    assert!(!c.ok && c.detail.contains("did not run"), "{c:?}");
    m.run = Some(crate::model::RunReport {
        ready_ms: 200,
        ready_samples_ms: vec![200],
        stop_ms: 130,
        memory_bytes: 1,
        memory_after_load_bytes: None,
        probes_ok: true,
        probes: vec![],
        load: None,
        security: Default::default(),
        cached: false,
    });
    let c = eval(budget, std::slice::from_ref(&m));
    assert!(
        c.ok && c.detail == "multistage stopped in 130 ms (bound <= 1000 ms)",
        "{c:?}"
    );
    m.run.as_mut().unwrap().stop_ms = 10_000;
    assert!(
        !eval(
            Budget::MaxStopMs {
                image: "multistage".into(),
                ms: 1000
            },
            &[m]
        )
        .ok
    );
}

#[test]
fn the_shipping_budgets_read_the_round_trip_and_the_components() {
    let mut m = image("multistage", 1_000);
    let pushed = Budget::MaxPushedBytes {
        image: "multistage".into(),
        bytes: ByteSize(1_000_000),
    };
    let deploy = Budget::MaxDeployMs {
        image: "multistage".into(),
        ms: 1000,
    };
    let components = Budget::MaxComponents {
        image: "multistage".into(),
        components: 100,
    };
    // Without the round trip (--no-registry) or the SBOM, the budgets cannot hold.
    let c = eval(pushed.clone(), std::slice::from_ref(&m));
    assert!(!c.ok && c.detail.contains("was not pushed"), "{c:?}");
    assert!(!eval(deploy.clone(), std::slice::from_ref(&m)).ok);
    assert!(!eval(components.clone(), std::slice::from_ref(&m)).ok);
    m.transfer = Some(crate::model::Transfer {
        pushed_bytes: 780_546,
        deploy_ms: Some(377),
        ..Default::default()
    });
    m.components = Some(crate::model::Components {
        dependencies: 80,
        total: 80,
        ..Default::default()
    });
    let c = eval(pushed, std::slice::from_ref(&m));
    assert!(
        c.ok && c.detail.contains("pushed to the registry 781 kB"),
        "{c:?}"
    );
    assert_eq!((c.measured, c.unit), (Some(780_546.0), Some(Unit::Bytes)));
    let c = eval(deploy.clone(), std::slice::from_ref(&m));
    assert!(
        c.ok && c.detail.starts_with("multistage deployed in 377 ms"),
        "{c:?}"
    );
    let c = eval(components, std::slice::from_ref(&m));
    assert!(
        c.ok && c.detail == "multistage holds 80 component(s) (bound <= 100)",
        "{c:?}"
    );
    m.transfer.as_mut().unwrap().deploy_ms = None;
    let c = eval(deploy, &[m]);
    assert!(!c.ok && c.detail.contains("does not run"), "{c:?}");
}

#[test]
fn root_is_recognised_in_every_spelling() {
    for user in ["", "root", "0", "0:0", "root:root"] {
        assert!(is_root(user), "{user}");
    }
    for user in ["65532", "65532:65532", "nonroot", "1000:0"] {
        assert!(!is_root(user), "{user}");
    }
}

#[test]
fn structure_tests_read_config_files_and_commands() {
    use crate::analysis::tests::{image as archive, layer};
    let fs = crate::analysis::analyze(archive(&[layer(&[("webtest", "0123456789")])]).as_slice())
        .unwrap();
    let images = [image("multistage", 10)];
    let analyses = HashMap::from([("multistage".to_string(), fs)]);
    let commands = HashMap::from([
        (3, Ok((0, "cargo 1.95.0\n".to_string()))),
        (4, Err("not ready".to_string())),
    ]);
    let inputs = Inputs {
        images: &images,
        analyses: &analyses,
        commands: &commands,
    };
    let tests = [
        StructureTest::Metadata {
            image: "multistage".into(),
            exposed_ports: Some(vec!["8080/tcp".into()]),
            non_root: Some(true),
            entrypoint: Some(vec!["/webtest".into()]),
            healthcheck: Some(false),
        },
        StructureTest::File {
            image: "multistage".into(),
            path: "/webtest".into(),
            exists: true,
        },
        StructureTest::File {
            image: "multistage".into(),
            path: "/bin/sh".into(),
            exists: false,
        },
        StructureTest::Command {
            image: "multistage".into(),
            run: vec!["cargo".into()],
            exit_code: 0,
            output_contains: Some("cargo".into()),
        },
        StructureTest::Command {
            image: "multistage".into(),
            run: vec!["x".into()],
            exit_code: 0,
            output_contains: None,
        },
    ];
    let checks: Vec<Check> = structure(&tests, &inputs).into_iter().map(worded).collect();
    let oks: Vec<bool> = checks.iter().map(|c| c.ok).collect();
    assert_eq!(oks, [true, true, true, true, false], "{checks:#?}");
    assert_eq!(checks[2].name, "file multistage /bin/sh absent");
    let wrong: Vec<Check> = structure(
        &[StructureTest::Metadata {
            image: "multistage".into(),
            exposed_ports: Some(vec!["80/tcp".into()]),
            non_root: None,
            entrypoint: None,
            healthcheck: None,
        }],
        &inputs,
    )
    .into_iter()
    .map(worded)
    .collect();
    assert!(
        !wrong[0].ok && wrong[0].detail.contains("expected [\"80/tcp\"]"),
        "{:?}",
        wrong[0]
    );
}

#[test]
fn overhead_compares_the_image_with_a_file_inside_it() {
    use crate::analysis::tests::{image as archive, layer};
    let fs = crate::analysis::analyze(archive(&[layer(&[("webtest", "0123456789")])]).as_slice())
        .unwrap();
    let images = [image("multistage", 10)];
    let analyses = HashMap::from([("multistage".to_string(), fs)]);
    let commands = HashMap::new();
    let inputs = Inputs {
        images: &images,
        analyses: &analyses,
        commands: &commands,
    };
    let ok = super::budget(
        &Budget::MaxOverhead {
            image: "multistage".into(),
            path: "/webtest".into(),
            ratio: 1.05,
        },
        &inputs,
    );
    assert!(ok.ok, "{ok:?}");
    let absent = worded(super::budget(
        &Budget::MaxOverhead {
            image: "multistage".into(),
            path: "/nope".into(),
            ratio: 1.05,
        },
        &inputs,
    ));
    assert!(!absent.ok && absent.detail.contains("no file /nope"));
}

mod over_base_tests {
    use super::super::*;
    use crate::manifest::ByteSize;
    use crate::model::{BaseKind, BaseUsed, ImageConfig, Posture};

    fn image(size: u64, base: Option<u64>) -> ImageReport {
        ImageReport {
            app: "go".into(),
            variant: "multistage".into(),
            tag: "webtest-go:multistage".into(),
            id: "sha256:0".into(),
            size_bytes: size,
            compressed_bytes: size,
            layer_count: 2,
            layers: vec![],
            efficiency: 1.0,
            wasted_bytes: 0,
            reclaimable_bytes: 0,
            hidden_bytes: 0,
            file_count: 2,
            largest_files: vec![],
            config: ImageConfig::default(),
            posture: Posture::default(),
            run: None,
            base: base.map(|size_bytes| BaseUsed {
                arg: "ALPINE_IMAGE".into(),
                image: "webtest-base/alpine:bookworm".into(),
                kind: BaseKind::StandIn,
                official: "alpine:3.20.3".into(),
                size_bytes,
            }),
            bases: vec![],
            edit_cost: None,
            transfer: None,
            components: None,
        }
    }

    fn eval(size: u64, base: Option<u64>, path: &str) -> Check {
        use crate::analysis::tests::{image as archive, layer};
        let fs = crate::analysis::analyze(
            archive(&[layer(&[("app/webtest", "0123456789"), ("app/doc", "abc")])]).as_slice(),
        )
        .unwrap();
        let images = [image(size, base)];
        let analyses = HashMap::from([("multistage".to_string(), fs)]);
        let commands = HashMap::new();
        let inputs = Inputs {
            images: &images,
            analyses: &analyses,
            commands: &commands,
        };
        let mut check = super::budget(
            &Budget::MaxOverBase {
                image: "multistage".into(),
                path: path.into(),
                slack: ByteSize(5),
            },
            &inputs,
        );
        check.detail = crate::report::describe(&check);
        check
    }

    #[test]
    fn an_image_may_hold_its_base_the_path_and_the_slack_and_nothing_more() {
        // A file: 100 + 10 + 5.
        assert!(eval(115, Some(100), "/app/webtest").ok);
        assert!(!eval(116, Some(100), "/app/webtest").ok);
        // A directory counts every file below it: 100 + 13 + 5.
        let dir = eval(118, Some(100), "/app");
        assert!(dir.ok, "{dir:?}");
        assert_eq!(dir.bound, Some(118.0));
        assert!(
            dir.detail.contains("stand-in for alpine:3.20.3"),
            "{}",
            dir.detail
        );
        assert!(!eval(110, Some(100), "/nope").ok);
        assert!(!eval(110, None, "/app/webtest").ok);
    }
}
