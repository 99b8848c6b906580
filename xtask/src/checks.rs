//! The checks: the manifest's budgets (in the style of dive's CI rules) and structure tests (in
//! the style of container-structure-test), evaluated against measured figures. Pure logic: the
//! figures come in, `Check`s come out, each naming the image, the figure and the bound.

use std::collections::HashMap;

use crate::analysis::Analysis;
use crate::manifest::{Budget, StructureTest};
use crate::model::{Check, ImageReport};
use crate::report::{human_bytes, ran_with};

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

/// Whether a config's `User` means root: empty, `root`, `0`, with or without a group.
pub fn is_root(user: &str) -> bool {
    crate::model::is_root(user)
}

/// Every budget of the manifest, in order.
pub fn budgets(budgets: &[Budget], inputs: &Inputs) -> Vec<Check> {
    budgets.iter().map(|b| budget(b, inputs)).collect()
}

fn missing(name: String, image: &str) -> Check {
    Check {
        name,
        ok: false,
        detail: format!("no figures for {image}: it was not built or could not be measured"),
    }
}

fn check(name: String, ok: bool, detail: String) -> Check {
    Check { name, ok, detail }
}

fn budget(budget: &Budget, inputs: &Inputs) -> Check {
    match budget {
        Budget::Smaller { image, than } => {
            let name = format!("smaller {image} < {than}");
            let (Some(a), Some(b)) = (inputs.image(image), inputs.image(than)) else {
                return missing(name, &format!("{image} or {than}"));
            };
            let ratio = b.size_bytes as f64 / a.size_bytes.max(1) as f64;
            let detail = format!(
                "{image} {} vs {than} {} ({ratio:.1}x smaller)",
                human_bytes(a.size_bytes),
                human_bytes(b.size_bytes)
            );
            check(name, a.size_bytes < b.size_bytes, detail)
        }
        Budget::MinRatio { image, than, ratio } => {
            let name = format!("min_ratio {than} / {image}");
            let (Some(a), Some(b)) = (inputs.image(image), inputs.image(than)) else {
                return missing(name, &format!("{image} or {than}"));
            };
            let actual = b.size_bytes as f64 / a.size_bytes.max(1) as f64;
            check(
                name,
                actual >= *ratio,
                format!(
                    "{than} is {actual:.1}x the size of {image}; the budget asks at least {ratio}x"
                ),
            )
        }
        Budget::MaxSize { image, bytes } => {
            bytes_budget("max_size", image, inputs, |i| i.size_bytes, bytes.0, "size")
        }
        Budget::MaxCompressed { image, bytes } => bytes_budget(
            "max_compressed",
            image,
            inputs,
            |i| i.compressed_bytes,
            bytes.0,
            "compressed size",
        ),
        Budget::MaxWastedBytes { image, bytes } => bytes_budget(
            "max_wasted_bytes",
            image,
            inputs,
            |i| i.wasted_bytes,
            bytes.0,
            "wasted space",
        ),
        Budget::MinEfficiency { image, ratio } => {
            let name = format!("min_efficiency {image}");
            let Some(i) = inputs.image(image) else {
                return missing(name, image);
            };
            let detail = format!(
                "{image} efficiency {:.2} % (bound >= {:.2} %)",
                i.efficiency * 100.0,
                ratio * 100.0
            );
            check(name, i.efficiency >= *ratio, detail)
        }
        Budget::MaxLayers { image, layers } => {
            let name = format!("max_layers {image}");
            let Some(i) = inputs.image(image) else {
                return missing(name, image);
            };
            check(
                name,
                i.layer_count <= *layers,
                format!("{image} has {} layer(s) (bound <= {layers})", i.layer_count),
            )
        }
        Budget::NonRoot { image } => {
            let name = format!("non_root {image}");
            let Some(i) = inputs.image(image) else {
                return missing(name, image);
            };
            let user = if i.config.user.is_empty() {
                "root (no USER)"
            } else {
                i.config.user.as_str()
            };
            check(
                name,
                !i.posture.runs_as_root,
                format!("{image} runs as {user}"),
            )
        }
        Budget::MaxStopMs { image, ms } => {
            let name = format!("max_stop_ms {image}");
            let Some(i) = inputs.image(image) else {
                return missing(name, image);
            };
            let Some(run) = &i.run else {
                return check(
                    name,
                    false,
                    format!("{image} did not run, so its stop time is unknown"),
                );
            };
            let detail = format!("{image} stopped in {} ms (bound <= {ms} ms)", run.stop_ms);
            check(name, run.stop_ms <= *ms, detail)
        }
        Budget::MaxOverhead { image, path, ratio } => {
            let name = format!("max_overhead {image} {path}");
            let (Some(i), Some(fs)) = (inputs.image(image), inputs.analyses.get(image)) else {
                return missing(name, image);
            };
            let Some(size) = fs
                .resolve(path)
                .and_then(|p| fs.fs.get(p.trim_start_matches('/')))
                .and_then(|n| match n {
                    crate::analysis::Node::File { size } => Some(*size),
                    _ => None,
                })
            else {
                return check(name, false, format!("{image} has no file {path}"));
            };
            let actual = i.size_bytes as f64 / size.max(1) as f64;
            let detail = format!(
                "{image} is {} for a {path} of {}: {actual:.3}x (bound <= {ratio}x)",
                human_bytes(i.size_bytes),
                human_bytes(size)
            );
            check(name, actual <= *ratio, detail)
        }
    }
}

fn bytes_budget(
    kind: &str,
    image: &str,
    inputs: &Inputs,
    figure: impl Fn(&ImageReport) -> u64,
    bound: u64,
    what: &str,
) -> Check {
    let name = format!("{kind} {image}");
    let Some(i) = inputs.image(image) else {
        return missing(name, image);
    };
    let value = figure(i);
    let detail = format!(
        "{image} {what} {} ({value} B), bound <= {} ({bound} B)",
        human_bytes(value),
        human_bytes(bound)
    );
    check(name, value <= bound, detail)
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
            let mut wrong = Vec::new();
            let mut fine = Vec::new();
            if let Some(ports) = exposed_ports {
                let mut want = ports.clone();
                want.sort();
                let line = format!("exposed ports {:?}", i.config.exposed_ports);
                if want == i.config.exposed_ports {
                    fine.push(line)
                } else {
                    wrong.push(format!("{line}, expected {want:?}"))
                }
            }
            if let Some(want) = non_root {
                let line = format!("user `{}`", i.config.user);
                if *want != i.posture.runs_as_root {
                    fine.push(line)
                } else {
                    wrong.push(format!("{line}, expected non_root: {want}"))
                }
            }
            if let Some(want) = entrypoint {
                let line = format!("entrypoint {:?}", i.config.entrypoint);
                if *want == i.config.entrypoint {
                    fine.push(line)
                } else {
                    wrong.push(format!("{line}, expected {want:?}"))
                }
            }
            if let Some(want) = healthcheck {
                let line = match &i.config.healthcheck {
                    Some(test) => format!("healthcheck `{}`", test.join(" ")),
                    None => "no healthcheck".to_string(),
                };
                if *want == i.config.healthcheck.is_some() {
                    fine.push(line)
                } else {
                    wrong.push(format!("{line}, expected present: {want}"))
                }
            }
            if wrong.is_empty() {
                check(name, true, fine.join("; "))
            } else {
                check(name, false, wrong.join("; "))
            }
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
            let detail = match &found {
                Some(real) if real == path => format!("{path} is in {image}"),
                Some(real) => format!("{path} is in {image} (as {real})"),
                None => format!("{path} is not in {image}"),
            };
            check(name, found.is_some() == *exists, detail)
        }
        StructureTest::Command {
            image,
            run,
            exit_code,
            output_contains,
        } => {
            let name = format!("command {image} {}", run.join(" "));
            match inputs.commands.get(&index) {
                None => missing(name, image),
                Some(Err(why)) => check(name, false, why.clone()),
                Some(Ok((code, output))) => {
                    let first = output.lines().next().unwrap_or("").trim();
                    let mut ok = code == exit_code;
                    let mut detail =
                        format!("exit {code} (expected {exit_code}), output `{first}`");
                    if let Some(needle) = output_contains {
                        if !output.contains(needle.as_str()) {
                            ok = false;
                            detail.push_str(&format!(", expected it to contain `{needle}`"));
                        }
                    }
                    check(name, ok, detail)
                }
            }
        }
    }
}

/// One check per running variant: every probe answered as the manifest says.
pub fn probes(images: &[ImageReport]) -> Vec<Check> {
    images
        .iter()
        .filter_map(|image| {
            let run = image.run.as_ref()?;
            let failed: Vec<String> = run
                .probes
                .iter()
                .filter(|p| !p.ok)
                .map(|p| format!("{} ({})", p.path, p.detail))
                .collect();
            let detail = if failed.is_empty() {
                format!("{} probes answered as expected", run.probes.len())
            } else {
                format!("failed: {}", failed.join(", "))
            };
            Some(check(
                format!("probes {}", image.variant),
                run.probes_ok,
                detail,
            ))
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
            let detail = format!(
                "{}; probes {}",
                ran_with(&run.security),
                if run.probes_ok { "passed" } else { "FAILED" }
            );
            Some(check(
                format!("hardened {}", image.variant),
                run.security.hardened() && run.probes_ok,
                detail,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ByteSize;
    use crate::model::{ImageConfig, Posture};

    fn image(variant: &str, size: u64) -> ImageReport {
        ImageReport {
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
        }
    }

    fn eval(budget: Budget, images: &[ImageReport]) -> Check {
        let analyses = HashMap::new();
        let commands = HashMap::new();
        super::budget(
            &budget,
            &Inputs {
                images,
                analyses: &analyses,
                commands: &commands,
            },
        )
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
        let checks = structure(&tests, &inputs);
        let oks: Vec<bool> = checks.iter().map(|c| c.ok).collect();
        assert_eq!(oks, [true, true, true, true, false], "{checks:#?}");
        assert_eq!(checks[2].name, "file multistage /bin/sh absent");
        let wrong = structure(
            &[StructureTest::Metadata {
                image: "multistage".into(),
                exposed_ports: Some(vec!["80/tcp".into()]),
                non_root: None,
                entrypoint: None,
                healthcheck: None,
            }],
            &inputs,
        );
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
        let absent = super::budget(
            &Budget::MaxOverhead {
                image: "multistage".into(),
                path: "/nope".into(),
                ratio: 1.05,
            },
            &inputs,
        );
        assert!(!absent.ok && absent.detail.contains("no file /nope"));
    }
}
