//! The checks: the manifest's budgets (in the style of dive's CI rules) and structure tests (in
//! the style of container-structure-test), evaluated against measured figures. Pure logic: the
//! figures come in, `Check`s come out, each with what was measured, the bound, the unit and
//! whether it holds. Words are the rendering layer's (`report::describe`).

use std::collections::HashMap;

use crate::analysis::Analysis;
use crate::manifest::{Budget, StructureTest};
use crate::model::{Aspect, AspectKind, ByteFigure, Check, Finding, ImageReport, Unit};

pub use crate::model::is_root;

/// How a structure test's command ended: its exit code and output, or why it could not run.
pub type CommandOutcome = Result<(i64, String), String>;

/// What the checks read.
pub struct Inputs<'a> {
    pub images: &'a [ImageReport],
    /// Each variant's filesystem, for file tests and overhead budgets.
    pub analyses: &'a HashMap<String, Analysis>,
    /// The outcome of each `command` structure test, by its index in the manifest.
    pub commands: &'a HashMap<usize, CommandOutcome>,
}

impl Inputs<'_> {
    fn image(&self, variant: &str) -> Option<&ImageReport> {
        self.images.iter().find(|i| i.variant == variant)
    }
}

/// Every budget of the manifest, in order.
pub fn budgets(budgets: &[Budget], inputs: &Inputs) -> Vec<Check> {
    budgets.iter().map(|b| budget(b, inputs)).collect()
}

fn missing(name: String, image: &str) -> Check {
    check(
        name,
        image,
        false,
        Finding::Missing {
            what: image.to_string(),
        },
    )
}

fn check(name: String, image: &str, ok: bool, finding: Finding) -> Check {
    Check {
        name,
        ok,
        image: image.to_string(),
        finding,
        ..Check::default()
    }
}

/// A check with a figure, its bound and their unit.
fn measured(mut check: Check, measured: f64, bound: f64, unit: Unit) -> Check {
    check.measured = Some(measured);
    check.bound = Some(bound);
    check.unit = Some(unit);
    check
}

fn budget(budget: &Budget, inputs: &Inputs) -> Check {
    match budget {
        Budget::Smaller { image, than } => {
            let name = format!("smaller {image} < {than}");
            let (Some(a), Some(b)) = (inputs.image(image), inputs.image(than)) else {
                return missing(name, &format!("{image} or {than}"));
            };
            let finding = Finding::Smaller {
                than: than.clone(),
                size: a.size_bytes,
                than_size: b.size_bytes,
            };
            let ok = a.size_bytes < b.size_bytes;
            measured(
                check(name, image, ok, finding),
                a.size_bytes as f64,
                b.size_bytes as f64,
                Unit::Bytes,
            )
        }
        Budget::MinRatio { image, than, ratio } => {
            let name = format!("min_ratio {than} / {image}");
            let (Some(a), Some(b)) = (inputs.image(image), inputs.image(than)) else {
                return missing(name, &format!("{image} or {than}"));
            };
            let actual = b.size_bytes as f64 / a.size_bytes.max(1) as f64;
            let finding = Finding::MinRatio {
                than: than.clone(),
                actual,
                ratio: *ratio,
            };
            measured(
                check(name, image, actual >= *ratio, finding),
                actual,
                *ratio,
                Unit::Ratio,
            )
        }
        Budget::MaxSize { image, bytes } => {
            bytes_budget("max_size", image, inputs, ByteFigure::Size, bytes.0)
        }
        Budget::MaxCompressed { image, bytes } => bytes_budget(
            "max_compressed",
            image,
            inputs,
            ByteFigure::Compressed,
            bytes.0,
        ),
        Budget::MaxWastedBytes { image, bytes } => bytes_budget(
            "max_wasted_bytes",
            image,
            inputs,
            ByteFigure::Wasted,
            bytes.0,
        ),
        Budget::MinEfficiency { image, ratio } => {
            let name = format!("min_efficiency {image}");
            let Some(i) = inputs.image(image) else {
                return missing(name, image);
            };
            let finding = Finding::MinEfficiency {
                value: i.efficiency,
                bound: *ratio,
            };
            measured(
                check(name, image, i.efficiency >= *ratio, finding),
                i.efficiency,
                *ratio,
                Unit::Fraction,
            )
        }
        Budget::MaxLayers { image, layers } => {
            let name = format!("max_layers {image}");
            let Some(i) = inputs.image(image) else {
                return missing(name, image);
            };
            let finding = Finding::MaxLayers {
                value: i.layer_count,
                bound: *layers,
            };
            measured(
                check(name, image, i.layer_count <= *layers, finding),
                i.layer_count as f64,
                *layers as f64,
                Unit::Layers,
            )
        }
        Budget::NonRoot { image } => {
            let name = format!("non_root {image}");
            let Some(i) = inputs.image(image) else {
                return missing(name, image);
            };
            let finding = Finding::User {
                user: i.config.user.clone(),
            };
            check(name, image, !i.posture.runs_as_root, finding)
        }
        Budget::MaxStopMs { image, ms } => {
            let name = format!("max_stop_ms {image}");
            let Some(i) = inputs.image(image) else {
                return missing(name, image);
            };
            let value = i.run.as_ref().map(|run| run.stop_ms);
            let ok = value.is_some_and(|v| v <= *ms);
            let c = check(name, image, ok, Finding::StopMs { value, bound: *ms });
            match value {
                Some(v) => measured(c, v as f64, *ms as f64, Unit::Milliseconds),
                None => c,
            }
        }
        Budget::MaxOverBase { image, path, slack } => {
            let name = format!("max_over_base {image} {path}");
            let (Some(i), Some(fs)) = (inputs.image(image), inputs.analyses.get(image)) else {
                return missing(name, image);
            };
            let files = bytes_at(fs, path);
            let base = i
                .base
                .as_ref()
                .filter(|base| base.size_bytes > 0 || base.kind == crate::model::BaseKind::Scratch)
                .map(|base| (base.describe(), base.size_bytes));
            let finding = Finding::OverBase {
                base: base.clone(),
                path: path.clone(),
                files,
                size: i.size_bytes,
                slack: slack.0,
            };
            let (Some((_, base_size)), Some(files)) = (base, files) else {
                return check(name, image, false, finding);
            };
            let bound = base_size + files + slack.0;
            measured(
                check(name, image, i.size_bytes <= bound, finding),
                i.size_bytes as f64,
                bound as f64,
                Unit::Bytes,
            )
        }
        Budget::MaxPushedBytes { image, bytes } => bytes_budget(
            "max_pushed_bytes",
            image,
            inputs,
            ByteFigure::Pushed,
            bytes.0,
        ),
        Budget::MaxDeployMs { image, ms } => {
            let name = format!("max_deploy_ms {image}");
            let Some(i) = inputs.image(image) else {
                return missing(name, image);
            };
            let Some(transfer) = &i.transfer else {
                return check(name, image, false, Finding::NoTransfer);
            };
            let value = transfer.deploy_ms;
            let ok = value.is_some_and(|v| v <= *ms);
            let c = check(name, image, ok, Finding::DeployMs { value, bound: *ms });
            match value {
                Some(v) => measured(c, v as f64, *ms as f64, Unit::Milliseconds),
                None => c,
            }
        }
        Budget::MaxComponents { image, components } => {
            let name = format!("max_components {image}");
            let Some(i) = inputs.image(image) else {
                return missing(name, image);
            };
            let value = i.components.as_ref().map(|c| c.total);
            let ok = value.is_some_and(|v| v <= *components);
            let finding = Finding::Components {
                value,
                bound: *components,
            };
            let c = check(name, image, ok, finding);
            match value {
                Some(v) => measured(c, v as f64, *components as f64, Unit::Count),
                None => c,
            }
        }
        Budget::MaxOverhead { image, path, ratio } => {
            let name = format!("max_overhead {image} {path}");
            let (Some(i), Some(fs)) = (inputs.image(image), inputs.analyses.get(image)) else {
                return missing(name, image);
            };
            let file = fs
                .resolve(path)
                .and_then(|p| fs.fs.get(p.trim_start_matches('/')))
                .and_then(|n| match n {
                    crate::analysis::Node::File { size } => Some(*size),
                    _ => None,
                });
            let finding = Finding::Overhead {
                path: path.clone(),
                size: i.size_bytes,
                file,
                ratio: *ratio,
            };
            let Some(size) = file else {
                return check(name, image, false, finding);
            };
            let actual = i.size_bytes as f64 / size.max(1) as f64;
            measured(
                check(name, image, actual <= *ratio, finding),
                actual,
                *ratio,
                Unit::Ratio,
            )
        }
    }
}

fn bytes_budget(kind: &str, image: &str, inputs: &Inputs, figure: ByteFigure, bound: u64) -> Check {
    let name = format!("{kind} {image}");
    let Some(i) = inputs.image(image) else {
        return missing(name, image);
    };
    let value = match figure {
        ByteFigure::Size => i.size_bytes,
        ByteFigure::Compressed => i.compressed_bytes,
        ByteFigure::Wasted => i.wasted_bytes,
        ByteFigure::Pushed => match &i.transfer {
            Some(transfer) => transfer.pushed_bytes,
            None => return check(name, image, false, Finding::NoTransfer),
        },
    };
    let finding = Finding::Bytes {
        figure,
        value,
        bound,
    };
    measured(
        check(name, image, value <= bound, finding),
        value as f64,
        bound as f64,
        Unit::Bytes,
    )
}

/// Every structure test of the manifest, in order.
pub fn structure(tests: &[StructureTest], inputs: &Inputs) -> Vec<Check> {
    tests
        .iter()
        .enumerate()
        .map(|(index, test)| structure_test(index, test, inputs))
        .collect()
}

fn structure_test(index: usize, test: &StructureTest, inputs: &Inputs) -> Check {
    match test {
        StructureTest::Metadata {
            image,
            exposed_ports,
            non_root,
            entrypoint,
            healthcheck,
        } => {
            let name = format!("metadata {image}");
            let Some(i) = inputs.image(image) else {
                return missing(name, image);
            };
            let mut aspects = Vec::new();
            if let Some(ports) = exposed_ports {
                let mut expected = ports.clone();
                expected.sort();
                aspects.push(Aspect {
                    ok: expected == i.config.exposed_ports,
                    kind: AspectKind::ExposedPorts {
                        found: i.config.exposed_ports.clone(),
                        expected,
                    },
                });
            }
            if let Some(want) = non_root {
                aspects.push(Aspect {
                    ok: *want != i.posture.runs_as_root,
                    kind: AspectKind::NonRoot {
                        user: i.config.user.clone(),
                        expected: *want,
                    },
                });
            }
            if let Some(want) = entrypoint {
                aspects.push(Aspect {
                    ok: *want == i.config.entrypoint,
                    kind: AspectKind::Entrypoint {
                        found: i.config.entrypoint.clone(),
                        expected: want.clone(),
                    },
                });
            }
            if let Some(want) = healthcheck {
                aspects.push(Aspect {
                    ok: *want == i.config.healthcheck.is_some(),
                    kind: AspectKind::Healthcheck {
                        found: i.config.healthcheck.clone(),
                        expected: *want,
                    },
                });
            }
            let ok = aspects.iter().all(|a| a.ok);
            check(name, image, ok, Finding::Metadata { aspects })
        }
        StructureTest::File {
            image,
            path,
            exists,
        } => {
            let name = format!(
                "file {image} {path} {}",
                if *exists { "exists" } else { "absent" }
            );
            let Some(fs) = inputs.analyses.get(image) else {
                return missing(name, image);
            };
            let found = fs.resolve(path);
            let ok = found.is_some() == *exists;
            let finding = Finding::File {
                path: path.clone(),
                found,
            };
            check(name, image, ok, finding)
        }
        StructureTest::Command {
            image,
            run,
            exit_code,
            output_contains,
        } => {
            let name = format!("command {image} {}", run.join(" "));
            let Some(outcome) = inputs.commands.get(&index) else {
                return missing(name, image);
            };
            let ok = match outcome {
                Err(_) => false,
                Ok((code, output)) => {
                    code == exit_code
                        && output_contains
                            .as_ref()
                            .is_none_or(|needle| output.contains(needle.as_str()))
                }
            };
            let finding = Finding::Command {
                outcome: outcome.clone(),
                exit_code: *exit_code,
                output_contains: output_contains.clone(),
            };
            check(name, image, ok, finding)
        }
    }
}

/// One check per running variant: every probe answered as the manifest says.
pub fn probes(images: &[ImageReport]) -> Vec<Check> {
    images
        .iter()
        .filter_map(|image| {
            let run = image.run.as_ref()?;
            let failed = run
                .probes
                .iter()
                .filter(|p| !p.ok)
                .map(|p| (p.path.clone(), p.detail.clone()))
                .collect();
            let finding = Finding::Probes {
                count: run.probes.len(),
                failed,
            };
            let name = format!("probes {}", image.variant);
            Some(check(name, &image.variant, run.probes_ok, finding))
        })
        .collect()
}

/// Every variant meant to run hardened did, as the engine reports it, and answered its probes
/// that way: proof that the image needs no writable root, no capability and no escalation.
pub fn hardening(images: &[ImageReport], hardened: &dyn Fn(&str) -> bool) -> Vec<Check> {
    images
        .iter()
        .filter(|image| hardened(&image.variant))
        .filter_map(|image| {
            let run = image.run.as_ref()?;
            let finding = Finding::Hardened {
                security: run.security.clone(),
                probes_ok: run.probes_ok,
            };
            let name = format!("hardened {}", image.variant);
            let ok = run.security.hardened() && run.probes_ok;
            Some(check(name, &image.variant, ok, finding))
        })
        .collect()
}

/// The bytes of the regular files at `path` in an image: the file itself, or every file below
/// it when it is a directory; `None` when nothing is there.
fn bytes_at(fs: &crate::analysis::Analysis, path: &str) -> Option<u64> {
    use crate::analysis::Node;
    // A directory that a layer implies but never lists has no entry of its own, so a path that
    // does not resolve is still looked for as a directory.
    let resolved = fs
        .resolve(path)
        .unwrap_or_else(|| path.trim_start_matches('/').to_string());
    let key = resolved.trim_start_matches('/');
    match fs.fs.get(key) {
        Some(Node::File { size }) => Some(*size),
        Some(Node::Dir) | None => {
            let prefix = format!("{key}/");
            let below: Vec<u64> = fs
                .fs
                .range(prefix.clone()..)
                .take_while(|(p, _)| p.starts_with(&prefix))
                .map(|(_, node)| match node {
                    Node::File { size } => *size,
                    _ => 0,
                })
                .collect();
            let is_dir = matches!(fs.fs.get(key), Some(Node::Dir));
            (is_dir || !below.is_empty()).then(|| below.iter().sum())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
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
        let fs =
            crate::analysis::analyze(archive(&[layer(&[("webtest", "0123456789")])]).as_slice())
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
        let fs =
            crate::analysis::analyze(archive(&[layer(&[("webtest", "0123456789")])]).as_slice())
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
}

#[cfg(test)]
mod over_base_tests {
    use super::*;
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
