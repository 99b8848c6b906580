//! A check's finding in words: what `Check::detail` says, written from the figures the checks
//! measured (the checks themselves never format a number).

use super::human::{human_bytes, ran_with};
use crate::model::{AspectKind, ByteFigure, Check, Finding};

/// Writes the `detail` of every check that has a finding to describe.
pub fn describe_all(checks: &mut [Check]) {
    for check in checks {
        if check.finding != Finding::Described {
            check.detail = describe(check);
        }
    }
}

/// The words of one check's finding, naming the image, the figure and the bound.
pub fn describe(check: &Check) -> String {
    let image = &check.image;
    match &check.finding {
        Finding::Described => check.detail.clone(),
        Finding::Missing { what } => {
            format!("no figures for {what}: it was not built or could not be measured")
        }
        Finding::Smaller {
            than,
            size,
            than_size,
        } => {
            let ratio = *than_size as f64 / (*size).max(1) as f64;
            format!(
                "{image} {} vs {than} {} ({ratio:.1}x smaller)",
                human_bytes(*size),
                human_bytes(*than_size)
            )
        }
        Finding::MinRatio {
            than,
            actual,
            ratio,
        } => {
            format!("{than} is {actual:.1}x the size of {image}; the budget asks at least {ratio}x")
        }
        Finding::Bytes {
            figure,
            value,
            bound,
        } => {
            let what = match figure {
                ByteFigure::Size => "size",
                ByteFigure::Compressed => "compressed size",
                ByteFigure::Wasted => "wasted space",
                ByteFigure::Pushed => "pushed to the registry",
            };
            format!(
                "{image} {what} {} ({value} B), bound <= {} ({bound} B)",
                human_bytes(*value),
                human_bytes(*bound)
            )
        }
        Finding::MinEfficiency { value, bound } => format!(
            "{image} efficiency {:.2} % (bound >= {:.2} %)",
            value * 100.0,
            bound * 100.0
        ),
        Finding::MaxLayers { value, bound } => {
            format!("{image} has {value} layer(s) (bound <= {bound})")
        }
        Finding::User { user } => {
            let user = if user.is_empty() {
                "root (no USER)"
            } else {
                user
            };
            format!("{image} runs as {user}")
        }
        Finding::StopMs { value, bound } => match value {
            Some(ms) => format!("{image} stopped in {ms} ms (bound <= {bound} ms)"),
            None => format!("{image} did not run, so its stop time is unknown"),
        },
        Finding::OverBase {
            base,
            path,
            files,
            size,
            slack,
        } => match (base, files) {
            (Some((base, base_size)), Some(files)) => format!(
                "{image} is {} for a base of {} ({base}), {path} of {} and {} slack: bound <= {}",
                human_bytes(*size),
                human_bytes(*base_size),
                human_bytes(*files),
                human_bytes(*slack),
                human_bytes(base_size + files + slack)
            ),
            (None, _) => format!("{image}: the size of the base it was built on is unknown"),
            (_, None) => format!("{image} has nothing at {path}"),
        },
        Finding::DeployMs { value, bound } => match value {
            Some(ms) => format!(
                "{image} deployed in {ms} ms: pulled, its blobs fetched, started and answering \
                 /healthz (bound <= {bound} ms)"
            ),
            None => format!("{image} does not run, so its time to deploy is unknown"),
        },
        Finding::NoTransfer => format!(
            "{image} was not pushed (the registry round trip was skipped), so this budget cannot be checked"
        ),
        Finding::Components { value, bound } => match value {
            Some(n) => format!("{image} holds {n} component(s) (bound <= {bound})"),
            None => format!("{image}'s components were not counted"),
        },
        Finding::Overhead {
            path,
            size,
            file,
            ratio,
        } => match file {
            Some(file) => {
                let actual = *size as f64 / (*file).max(1) as f64;
                format!(
                    "{image} is {} for a {path} of {}: {actual:.3}x (bound <= {ratio}x)",
                    human_bytes(*size),
                    human_bytes(*file)
                )
            }
            None => format!("{image} has no file {path}"),
        },
        Finding::Metadata { aspects } => {
            let words = |kind: &AspectKind, ok: bool| match kind {
                AspectKind::ExposedPorts { found, expected } => {
                    let line = format!("exposed ports {found:?}");
                    if ok {
                        line
                    } else {
                        format!("{line}, expected {expected:?}")
                    }
                }
                AspectKind::NonRoot { user, expected } => {
                    let line = format!("user `{user}`");
                    if ok {
                        line
                    } else {
                        format!("{line}, expected non_root: {expected}")
                    }
                }
                AspectKind::Entrypoint { found, expected } => {
                    let line = format!("entrypoint {found:?}");
                    if ok {
                        line
                    } else {
                        format!("{line}, expected {expected:?}")
                    }
                }
                AspectKind::Healthcheck { found, expected } => {
                    let line = match found {
                        Some(test) => format!("healthcheck `{}`", test.join(" ")),
                        None => "no healthcheck".to_string(),
                    };
                    if ok {
                        line
                    } else {
                        format!("{line}, expected present: {expected}")
                    }
                }
            };
            // A failing test names only what is wrong; a passing one, everything it saw.
            let all_ok = aspects.iter().all(|a| a.ok);
            aspects
                .iter()
                .filter(|a| all_ok || !a.ok)
                .map(|a| words(&a.kind, a.ok))
                .collect::<Vec<_>>()
                .join("; ")
        }
        Finding::File { path, found } => match found {
            Some(real) if real == path => format!("{path} is in {image}"),
            Some(real) => format!("{path} is in {image} (as {real})"),
            None => format!("{path} is not in {image}"),
        },
        Finding::Command {
            outcome,
            exit_code,
            output_contains,
        } => match outcome {
            Err(why) => why.clone(),
            Ok((code, output)) => {
                let first = output.lines().next().unwrap_or("").trim();
                let mut detail = format!("exit {code} (expected {exit_code}), output `{first}`");
                if let Some(needle) = output_contains {
                    if !output.contains(needle.as_str()) {
                        detail.push_str(&format!(", expected it to contain `{needle}`"));
                    }
                }
                detail
            }
        },
        Finding::Probes { count, failed } => {
            if failed.is_empty() {
                format!("{count} probes answered as expected")
            } else {
                let failed: Vec<String> = failed
                    .iter()
                    .map(|(path, why)| format!("{path} ({why})"))
                    .collect();
                format!("failed: {}", failed.join(", "))
            }
        }
        Finding::Hardened {
            security,
            probes_ok,
        } => format!(
            "{}; probes {}",
            ran_with(security),
            if *probes_ok { "passed" } else { "FAILED" }
        ),
    }
}
