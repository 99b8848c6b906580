//! What an image costs to ship and what it exposes, as the renderers show it: a table of the
//! registry round trip and the components (terminal and Markdown), and the SVG panel of deploy
//! times drawn under the sizes. Reports without these figures render exactly as before.

use std::fmt::Write as _;

use super::human::{human_bytes, thousands};
use crate::model::{ImageReport, Report};

/// The columns of the shipping table.
pub(super) const HEADERS: [&str; 10] = [
    "variant",
    "pushed",
    "push ms",
    "pull ms",
    "fetch ms",
    "deploy ms",
    "shared layers",
    "packages",
    "deps",
    "executables",
];

const ABSENT: &str = "-";

/// Whether any image has a round trip or components to show.
pub(super) fn shown(report: &Report) -> bool {
    report
        .images
        .iter()
        .any(|i| i.transfer.is_some() || i.components.is_some())
}

/// One row of the shipping table, in the order of [`HEADERS`]; the image is named with its app
/// when the report has several.
pub(super) fn row(report: &Report, image: &ImageReport) -> [String; 10] {
    let t = image.transfer.as_ref();
    let c = image.components.as_ref();
    let or_absent = |value: Option<String>| value.unwrap_or_else(|| ABSENT.to_string());
    [
        super::apps::label(report, image),
        or_absent(t.map(|t| human_bytes(t.pushed_bytes))),
        or_absent(t.map(|t| thousands(t.push_ms))),
        or_absent(t.map(|t| thousands(t.pull_ms))),
        or_absent(t.map(|t| thousands(t.fetch_ms))),
        or_absent(t.and_then(|t| t.deploy_ms).map(thousands)),
        or_absent(t.map(|t| format!("{} of {}", t.shared_layers.len(), t.layers))),
        or_absent(c.map(|c| c.packages.to_string())),
        or_absent(c.map(|c| c.dependencies.to_string())),
        or_absent(c.map(|c| thousands(c.executables))),
    ]
}

/// The sentence under the table that says what the times mean.
pub(super) const NOTE: &str = "push: to the registry until it answered with the digest; pull: \
    through the engine, which skips the layers it holds (shared); fetch: those shared blobs \
    downloaded from the registry and checked; deploy = pull + fetch + start until /healthz \
    answers 200.";

const ROW: f64 = 26.0;
const BAR: f64 = 16.0;
const FILL: &str = "#2da44e";

/// The deploy-time panel of the SVG, drawn from `top`: a linear bar per image that has a
/// deploy time, with the bars starting at `x0` and at most `room` wide. Returns the SVG and
/// its height; nothing when no image has a deploy time.
pub(super) fn svg_panel(report: &Report, top: f64, x0: f64, room: f64) -> (String, f64) {
    let times: Vec<(&str, u64)> = report
        .images
        .iter()
        .filter_map(|i| Some((i.variant.as_str(), i.transfer.as_ref()?.deploy_ms?)))
        .collect();
    let Some(longest) = times.iter().map(|(_, ms)| *ms).max() else {
        return (String::new(), 0.0);
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<text x="20" y="{}" font-size="15" font-weight="bold" fill="#1f2328">time to deploy (pull + start until /healthz answers; linear)</text>"##,
        top + 16.0
    );
    for (index, (variant, ms)) in times.iter().enumerate() {
        let y = top + 30.0 + index as f64 * ROW;
        let width = (*ms as f64 / longest.max(1) as f64 * room).max(2.0);
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="13" fill="#1f2328" text-anchor="end">{}</text>"##,
            x0 - 10.0,
            y + BAR / 2.0 + 4.5,
            super::svg::xml(variant)
        );
        let _ = writeln!(
            out,
            r#"<rect x="{x0:.1}" y="{y:.1}" width="{width:.1}" height="{BAR:.1}" rx="2" fill="{FILL}"><title>{}: {ms} ms</title></rect>"#,
            super::svg::xml(variant)
        );
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" font-weight="bold" fill="#1f2328">{} ms</text>"##,
            x0 + width + 6.0,
            y + BAR / 2.0 + 4.0,
            thousands(*ms)
        );
    }
    let height = 30.0 + times.len() as f64 * ROW + 10.0;
    (out, height)
}
