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
mod tests;
