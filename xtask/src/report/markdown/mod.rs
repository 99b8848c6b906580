//! The report as GitHub-flavoured Markdown: `report.md`, which CI also appends to
//! `$GITHUB_STEP_SUMMARY`.
//!
//! The sections live here; one image's folded details are in `details`, and turning strings into
//! Markdown that shows them as written (escaping, code spans, table rows) is in `markup`, so that
//! no image can garble the report.

use std::fmt::Write as _;

use super::{apps, checks_verdict, summary_row, Probes, SUMMARY_HEADERS, SUMMARY_NUMERIC};
use crate::model::{ImageReport, Report};

mod details;
mod markup;

use details::details;
use markup::{capitalize, mark, mermaid_label, row};
pub(super) use markup::{code, code_cell, text};

pub fn render(report: &Report, svg_name: Option<&str>) -> String {
    let mut out = String::new();
    let (ok, verdict) = checks_verdict(&report.checks);
    let _ = writeln!(out, "# {} images\n", text(&apps::subject(report)));
    let _ = writeln!(
        out,
        "{} **{}** · engine {}\n",
        mark(ok),
        capitalize(&verdict),
        code(&report.engine),
    );
    if apps::several(report) {
        out.push_str("## Summary\n\n");
        for group in apps::groups(report) {
            let _ = writeln!(
                out,
                "### App {} · {}\n",
                code(group.app),
                code(&group.repository)
            );
            summary_table(&mut out, &group.images);
        }
        production(&mut out, report);
    } else {
        out.push_str("## Summary\n\n");
        summary_table(&mut out, &report.images.iter().collect::<Vec<_>>());
    }
    shipping(&mut out, report);
    sizes(&mut out, report, svg_name);
    bases(&mut out, report);
    out.push_str(&super::edit_cost::markdown(report));
    checks(&mut out, report);
    if !report.images.is_empty() {
        out.push_str("## Images\n\n");
        for image in &report.images {
            details(&mut out, image, &apps::label(report, image));
        }
    }
    out
}

/// The production image of every app side by side.
fn production(out: &mut String, report: &Report) {
    out.push_str("## Production images across apps\n\n");
    let _ = writeln!(
        out,
        "{}",
        row(apps::PRODUCTION_HEADERS.iter().map(|h| h.to_string()))
    );
    let _ = writeln!(
        out,
        "{}",
        row(apps::PRODUCTION_NUMERIC
            .iter()
            .map(|&numeric| if numeric { "---:" } else { "---" }.to_string()))
    );
    for cells in apps::production_rows(report) {
        let cells = cells.iter().enumerate().map(|(index, cell)| {
            if index < 2 {
                code_cell(cell)
            } else {
                text(cell)
            }
        });
        let _ = writeln!(out, "{}", row(cells));
    }
    out.push('\n');
}

/// What every image was built on, when the report says.
fn bases(out: &mut String, report: &Report) {
    let lines = apps::built_on(report);
    if lines.is_empty() {
        return;
    }
    out.push_str(
        "## Bases\n\nA stand-in is assembled from Debian packages where no registry answers; \
         it is not the official image, and its figures are not the official image's.\n\n",
    );
    for line in lines {
        let _ = writeln!(out, "- {}", text(&line));
    }
    out.push('\n');
}

fn summary_table(out: &mut String, images: &[&ImageReport]) {
    let _ = writeln!(
        out,
        "{}",
        row(SUMMARY_HEADERS.iter().map(|h| h.to_string()))
    );
    let _ = writeln!(
        out,
        "{}",
        row(SUMMARY_NUMERIC
            .iter()
            .map(|&numeric| if numeric { "---:" } else { "---" }.to_string()))
    );
    for image in images {
        let (cells, probes) = summary_row(image);
        let cells = cells.iter().enumerate().map(|(index, cell)| {
            match (index == super::PROBES_COLUMN, probes) {
                (true, Probes::Ok) => format!("{} ok", mark(true)),
                (true, Probes::Failed) => format!("{} **FAIL**", mark(false)),
                // The variant and tag are names, shown as code so that they read as such.
                _ if index < 2 => code_cell(cell),
                _ => text(cell),
            }
        });
        let _ = writeln!(out, "{}", row(cells));
    }
    out.push('\n');
}

/// The registry round trip and the components, when the report has them.
fn shipping(out: &mut String, report: &Report) {
    if !super::shipping::shown(report) {
        return;
    }
    out.push_str("## Shipping\n\n");
    let headers = super::shipping::HEADERS;
    let _ = writeln!(out, "{}", row(headers.iter().map(|h| h.to_string())));
    let _ = writeln!(
        out,
        "{}",
        row((0..headers.len()).map(|i| if i == 0 { "---" } else { "---:" }.to_string()))
    );
    for image in &report.images {
        let cells = super::shipping::row(report, image);
        let cells = cells.iter().enumerate().map(|(index, cell)| {
            if index == 0 {
                code_cell(cell)
            } else {
                text(cell)
            }
        });
        let _ = writeln!(out, "{}", row(cells));
    }
    let _ = writeln!(out, "\n{}\n", super::shipping::NOTE);
}

/// The log-scale SVG, when there is one, and a linear Mermaid chart that GitHub draws inline.
fn sizes(out: &mut String, report: &Report, svg_name: Option<&str>) {
    if report.images.is_empty() {
        return;
    }
    out.push_str("## Sizes\n\n");
    if let Some(name) = svg_name {
        // Spaces and parentheses would end the link target early, so they are percent-encoded.
        let target = name
            .replace('%', "%25")
            .replace(' ', "%20")
            .replace('(', "%28")
            .replace(')', "%29");
        let _ = writeln!(out, "![sizes]({target})\n");
    }
    out.push_str(
        "Uncompressed sizes in MB on a **linear** scale: the small images are slivers \
         next to the large ones",
    );
    if svg_name.is_some() {
        out.push_str("; the chart above uses a log scale");
    }
    out.push_str(".\n\n");
    let megabytes: Vec<f64> = report
        .images
        .iter()
        .map(|image| image.size_bytes as f64 / 1e6)
        .collect();
    let top = nice_ceiling(megabytes.iter().copied().fold(0.0, f64::max));
    let labels: Vec<String> = report
        .images
        .iter()
        .map(|image| format!("\"{}\"", mermaid_label(&apps::label(report, image))))
        .collect();
    let values: Vec<String> = megabytes.iter().map(|mb| format!("{mb:.2}")).collect();
    out.push_str("```mermaid\nxychart-beta\n");
    let _ = writeln!(
        out,
        "    title \"{} image sizes (MB, linear scale)\"",
        mermaid_label(&apps::subject(report))
    );
    let _ = writeln!(out, "    x-axis [{}]", labels.join(", "));
    let _ = writeln!(out, "    y-axis \"MB\" 0 --> {top}");
    let _ = writeln!(out, "    bar [{}]", values.join(", "));
    out.push_str("```\n\n");
}

fn checks(out: &mut String, report: &Report) {
    out.push_str("## Checks\n\n");
    if report.checks.is_empty() {
        out.push_str("No checks were run.\n\n");
        return;
    }
    let several = apps::several(report);
    if several {
        out.push_str("| | app | check | detail |\n| --- | --- | --- | --- |\n");
    } else {
        out.push_str("| | check | detail |\n| --- | --- | --- |\n");
    }
    for check in &report.checks {
        let mut cells = vec![mark(check.ok).to_string()];
        if several {
            cells.push(code_cell(&check.app));
        }
        cells.push(code_cell(&check.name));
        cells.push(text(&check.detail));
        let _ = writeln!(out, "{}", row(cells));
    }
    let (ok, verdict) = checks_verdict(&report.checks);
    let _ = writeln!(out, "\n{} {}.\n", mark(ok), capitalize(&verdict));
}

/// The smallest round figure at or above `value`, for the top of an axis: a few steps per decade,
/// so that the tallest bar fills most of the chart.
fn nice_ceiling(value: f64) -> String {
    if value.is_nan() || value <= 0.0 {
        return "1".to_string();
    }
    let mut step = 10f64.powf(value.log10().floor());
    for factor in [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0] {
        if step * factor >= value {
            step *= factor;
            break;
        }
    }
    // Three decimals hide the float noise of steps such as 0.1 * 1.2 and still show any top
    // that a small image would need; trailing zeros say nothing.
    let fixed = format!("{step:.3}");
    fixed
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(1050.2), "1200");
        assert_eq!(nice_ceiling(80.0), "80");
        assert_eq!(nice_ceiling(81.0), "100");
        assert_eq!(nice_ceiling(150.0), "150");
        assert_eq!(nice_ceiling(0.5), "0.5");
        assert_eq!(nice_ceiling(0.0), "1");
    }
}
