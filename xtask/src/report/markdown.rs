//! The report as GitHub-flavoured Markdown: `report.md`, which CI also appends to
//! `$GITHUB_STEP_SUMMARY`.
//!
//! Strings from the images (build commands, labels, paths) are escaped where they could break a
//! table or turn into markup, so that no image can garble the report.

use std::fmt::Write as _;

use super::human::{human_bytes, millis, percent, ran_with, rate, thousands, truncate, yes_no};
use super::{apps, checks_verdict, summary_row, Probes, SUMMARY_HEADERS, SUMMARY_NUMERIC};
use crate::model::{ImageReport, Report, RunReport};

/// How many characters of a layer's command the layers table shows; the full command is in
/// `report.json`.
const CREATED_BY_CHARS: usize = 100;

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
        let cells = super::shipping::row(image);
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

/// Everything known about one image, folded away so that the summary stays short.
fn details(out: &mut String, image: &ImageReport, label: &str) {
    let run_note = match &image.run {
        None => "not run".to_string(),
        Some(run) if run.probes_ok => "probes ok".to_string(),
        Some(_) => "probes FAIL".to_string(),
    };
    let _ = writeln!(
        out,
        "<details><summary><b>{}</b> · {} · {} · {}</summary>\n",
        html(label),
        human_bytes(image.size_bytes),
        plural(image.layer_count as u64, "layer", "layers"),
        run_note,
    );
    let _ = writeln!(out, "- tag {} · id {}", code(&image.tag), code(&image.id));
    if let Some(base) = &image.base {
        let _ = writeln!(out, "- built on {}", text(&base.describe()));
    }
    let _ = writeln!(
        out,
        "- {} uncompressed, {} compressed; efficiency {}, {} wasted (dive), {} reclaimable; {}\n",
        human_bytes(image.size_bytes),
        human_bytes(image.compressed_bytes),
        percent(image.efficiency),
        human_bytes(image.wasted_bytes),
        human_bytes(image.reclaimable_bytes),
        plural(image.file_count, "file", "files"),
    );

    out.push_str(
        "#### Layers\n\nOldest first.\n\n| # | size | created by |\n| ---: | ---: | --- |\n",
    );
    for (index, layer) in image.layers.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            index + 1,
            human_bytes(layer.size_bytes),
            code_cell(&created_by(&layer.created_by)),
        );
    }
    out.push('\n');

    if !image.largest_files.is_empty() {
        out.push_str("#### Largest files\n\n| size | path |\n| ---: | --- |\n");
        for file in image.largest_files.iter().take(10) {
            let _ = writeln!(
                out,
                "| {} | {} |",
                human_bytes(file.size_bytes),
                code_cell(&file.path)
            );
        }
        out.push('\n');
    }

    let config = &image.config;
    out.push_str("#### Config\n\n");
    let user = if config.user.is_empty() {
        "(none: root)".to_string()
    } else {
        code(&config.user)
    };
    let _ = writeln!(out, "- user: {user}");
    let _ = writeln!(out, "- entrypoint: {}", words(&config.entrypoint));
    let _ = writeln!(out, "- cmd: {}", words(&config.cmd));
    let _ = writeln!(out, "- exposed ports: {}", list(&config.exposed_ports));
    let healthcheck = config.healthcheck.as_deref().map_or("none".into(), words);
    let _ = writeln!(out, "- healthcheck: {healthcheck}");
    // The labels get a table of their own after the list: a table nested in a list item depends
    // on its indentation, which some renderers read differently.
    if config.labels.is_empty() {
        out.push_str("- labels: none\n\n");
    } else {
        let _ = writeln!(
            out,
            "- labels: {}, below\n\n| label | value |\n| --- | --- |",
            config.labels.len()
        );
        for (key, value) in &config.labels {
            let _ = writeln!(out, "| {} | {} |", code_cell(key), text(value));
        }
        out.push('\n');
    }

    let posture = &image.posture;
    out.push_str("#### Posture\n\n");
    let _ = writeln!(out, "- runs as root: {}", yes_no(posture.runs_as_root));
    let _ = writeln!(out, "- shell: {}", yes_no(posture.has_shell));
    let _ = writeln!(
        out,
        "- package manager: {}\n",
        yes_no(posture.has_package_manager)
    );

    match &image.run {
        None => out.push_str("#### Run\n\nThis variant is built and measured, not run.\n\n"),
        Some(run) => run_details(out, run),
    }
    out.push_str("</details>\n\n");
}

fn run_details(out: &mut String, run: &RunReport) {
    out.push_str("#### Run\n\n");
    let samples: Vec<String> = run.ready_samples_ms.iter().map(u64::to_string).collect();
    let _ = writeln!(
        out,
        "- ready: {} ms (median of {})",
        thousands(run.ready_ms),
        if samples.is_empty() {
            "no samples".to_string()
        } else {
            samples.join(", ")
        }
    );
    let _ = writeln!(out, "- stop: {} ms", thousands(run.stop_ms));
    let _ = writeln!(out, "- ran with: {}", text(&ran_with(&run.security)));
    let _ = writeln!(out, "- memory idle: {}", human_bytes(run.memory_bytes));
    if let Some(bytes) = run.memory_after_load_bytes {
        let _ = writeln!(out, "- memory after load: {}", human_bytes(bytes));
    }
    out.push('\n');

    out.push_str("| | probe | expected | status | detail |\n| --- | --- | ---: | ---: | --- |\n");
    for probe in &run.probes {
        let status = probe
            .status
            .map_or("no answer".to_string(), |status| status.to_string());
        let _ = writeln!(
            out,
            "{}",
            row([
                mark(probe.ok).to_string(),
                code_cell(&probe.path),
                probe.expected_status.to_string(),
                status,
                text(&probe.detail),
            ])
        );
    }
    out.push('\n');

    if let Some(load) = &run.load {
        let _ = writeln!(
            out,
            "Load on {}: {} requests, {} at a time, in {} ms: {} req/s, p50 {} ms, \
             p99 {} ms, {} errors.\n",
            code(&load.path),
            thousands(load.requests),
            load.concurrency,
            millis(load.duration_ms),
            rate(load.requests_per_second),
            millis(load.p50_ms),
            millis(load.p99_ms),
            thousands(load.errors),
        );
    }
}

/// A table row from cells that are already escaped.
fn row(cells: impl IntoIterator<Item = String>) -> String {
    let mut out = String::from("|");
    for cell in cells {
        out.push(' ');
        out.push_str(if cell.is_empty() { " " } else { &cell });
        out.push_str(" |");
    }
    out
}

/// A count with its noun, singular for one: "1 layer", "9 layers", "31,245 files".
fn plural(count: u64, one: &str, many: &str) -> String {
    format!(
        "{} {}",
        thousands(count),
        if count == 1 { one } else { many }
    )
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "✅"
    } else {
        "❌"
    }
}

fn capitalize(sentence: &str) -> String {
    let mut chars = sentence.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A layer's command without the `#(nop)` noise of the classic builder, on one line, cut short.
fn created_by(command: &str) -> String {
    let command = command.trim();
    let command = command
        .strip_prefix("/bin/sh -c #(nop)")
        .unwrap_or(command)
        .trim();
    let one_line = command.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        return "-".to_string();
    }
    truncate(&one_line, CREATED_BY_CHARS)
}

/// Arguments such as an entrypoint, as code, or "none".
fn words(items: &[String]) -> String {
    if items.is_empty() {
        return "none".to_string();
    }
    let quoted: Vec<String> = items.iter().map(|item| format!("{item:?}")).collect();
    code(&format!("[{}]", quoted.join(", ")))
}

/// Names such as ports, each as code, or "none".
fn list(items: &[String]) -> String {
    if items.is_empty() {
        return "none".to_string();
    }
    items
        .iter()
        .map(|item| code(item))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Text that shows as written in a paragraph or a table cell.
///
/// Pipes would end a cell and newlines a row; backslashes, backticks, emphasis and link
/// characters would turn into markup; `<` before a letter would open an HTML tag.
pub(super) fn text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' | '|' | '`' | '*' | '_' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '<' if chars
                .peek()
                .is_some_and(|&next| next.is_ascii_alphabetic() || "/!?".contains(next)) =>
            {
                out.push_str("&lt;");
            }
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push_str("<br>");
                }
            }
            '\n' => out.push_str("<br>"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A code span outside a table.
pub(super) fn code(raw: &str) -> String {
    code_span(raw, false)
}

/// A code span inside a table cell, where a pipe must be escaped even within code.
pub(super) fn code_cell(raw: &str) -> String {
    code_span(raw, true)
}

/// A code span that shows `raw` verbatim on one line, however many backticks it holds.
fn code_span(raw: &str, in_table: bool) -> String {
    let one_line: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.trim().is_empty() {
        return "-".to_string();
    }
    // The fence must be longer than any run of backticks inside, and a space must separate it
    // from a backtick at either end; CommonMark strips one such space on each side.
    let mut longest = 0;
    let mut current = 0;
    for c in one_line.chars() {
        current = if c == '`' { current + 1 } else { 0 };
        longest = longest.max(current);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if one_line.starts_with(['`', ' ']) || one_line.ends_with(['`', ' ']) {
        " "
    } else {
        ""
    };
    // GFM splits table cells on unescaped pipes before it parses code spans, so a pipe in a
    // cell needs its backslash even inside code; the backslash does not show.
    let body = if in_table {
        one_line.replace('|', "\\|")
    } else {
        one_line
    };
    format!("{fence}{pad}{body}{pad}{fence}")
}

/// Text inside an HTML element, such as `<summary>`.
fn html(raw: &str) -> String {
    raw.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A string inside a Mermaid double-quoted label, which has no escape for the quote itself.
fn mermaid_label(raw: &str) -> String {
    raw.chars()
        .map(|c| match c {
            '"' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
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
    fn text_escapes_what_breaks_a_table() {
        assert_eq!(text("a|b"), "a\\|b");
        assert_eq!(text("line1\nline2"), "line1<br>line2");
        assert_eq!(text("line1\r\nline2"), "line1<br>line2");
        assert_eq!(text("1.42 MB <= 3.00 MB"), "1.42 MB <= 3.00 MB");
        assert_eq!(text("<script>"), "&lt;script>");
        assert_eq!(text("max_size *x*"), "max\\_size \\*x\\*");
        assert_eq!(text("a\\b"), "a\\\\b");
    }

    #[test]
    fn code_spans_survive_backticks_and_pipes() {
        assert_eq!(code("ls"), "`ls`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x`"), "`` `x` ``");
        assert_eq!(code_cell("a | b"), "`a \\| b`");
        assert_eq!(code("a | b"), "`a | b`");
        assert_eq!(code("two\nlines"), "`two lines`");
        assert_eq!(code(""), "-");
    }

    #[test]
    fn created_by_drops_nop_and_cuts_long_commands() {
        assert_eq!(
            created_by("/bin/sh -c #(nop)  CMD [\"/webtest\"]"),
            "CMD [\"/webtest\"]"
        );
        assert_eq!(created_by("RUN a \\\n\t&& b"), "RUN a \\ && b");
        assert_eq!(created_by(""), "-");
        let long = "x".repeat(300);
        assert_eq!(created_by(&long).chars().count(), CREATED_BY_CHARS);
    }

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
