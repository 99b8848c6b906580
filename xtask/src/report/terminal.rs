//! The report as the terminal shows it: the summary table, a bar per image, and the checks.
//!
//! Color is used only when `Style::color` says so; otherwise the text holds no escape sequence
//! at all, so that it can be piped, logged or compared with a golden file.

use comfy_table::modifiers::UTF8_ROUND_CORNERS;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Attribute, Cell, CellAlignment, Color, Table};

use super::human::{human_bytes, printable, LogScale};
use super::{apps, checks_verdict, summary_row, Probes, Style, SUMMARY_HEADERS, SUMMARY_NUMERIC};
use crate::model::{Check, ImageReport, Report};

/// How many character cells the longest bar fills.
const BAR_CELLS: usize = 40;

/// Partial blocks by eighths of a cell, so that bars grow smoothly and the smallest image still
/// gets a visible sliver.
const EIGHTHS: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];

pub(super) const BOLD: &str = "1";
pub(super) const RED: &str = "31";
pub(super) const GREEN: &str = "32";
const CYAN: &str = "36";

pub fn render(report: &Report, style: Style) -> String {
    let mut out = String::new();
    out.push_str(&paint(
        style,
        BOLD,
        &format!("{} images", printable(&apps::subject(report))),
    ));
    out.push_str(&format!(" · engine {}\n", printable(&report.engine)));
    if apps::several(report) {
        // By app: a summary table each, then the production images side by side.
        for group in apps::groups(report) {
            out.push_str(&paint(
                style,
                BOLD,
                &format!(
                    "\napp {} · {}",
                    printable(group.app),
                    printable(&group.repository)
                ),
            ));
            out.push('\n');
            out.push_str(&summary_table(&group.images, style).to_string());
            out.push('\n');
        }
        out.push_str(&paint(style, BOLD, "\nproduction images across apps"));
        out.push('\n');
        out.push_str(&production_table(report, style).to_string());
        out.push_str("\n\n");
    } else {
        let images: Vec<&ImageReport> = report.images.iter().collect();
        out.push_str(&summary_table(&images, style).to_string());
        out.push_str("\n\n");
    }
    if super::shipping::shown(report) {
        out.push_str(&shipping_table(report, style).to_string());
        out.push('\n');
        out.push_str(super::shipping::NOTE);
        out.push_str("\n\n");
    }
    out.push_str(&size_bars(report, style));
    out.push_str(&super::edit_cost::terminal(report, style));
    let built_on = apps::built_on(report);
    if !built_on.is_empty() {
        out.push_str("bases (a stand-in is made from Debian packages where no registry answers; it is not the official image)\n");
        for line in built_on {
            out.push_str(&format!("  {}\n", printable(&line)));
        }
        out.push('\n');
    }
    if apps::several(report) {
        let groups = apps::groups(report);
        let width = name_width(&report.checks);
        for group in &groups {
            out.push_str(&paint(style, BOLD, &format!("checks of {}", group.app)));
            out.push('\n');
            out.push_str(&check_lines(&group.checks, width, style));
        }
        out.push_str(&verdict(&report.checks, style));
    } else {
        out.push_str(&checks(&report.checks, style));
    }
    out
}

/// The production image of every app, side by side.
fn production_table(report: &Report, style: Style) -> Table {
    let mut table = table(style);
    table.set_header(apps::PRODUCTION_HEADERS.iter().map(|header| {
        let cell = Cell::new(header.replace(" ms", "\nms"));
        if style.color {
            cell.add_attribute(Attribute::Bold)
        } else {
            cell
        }
    }));
    for row in apps::production_rows(report) {
        table.add_row(row.iter().map(|text| Cell::new(printable(text))));
    }
    for (index, numeric) in apps::PRODUCTION_NUMERIC.iter().enumerate() {
        if let (true, Some(column)) = (*numeric, table.column_mut(index)) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// An empty table in the look of every table on the terminal, styled only when color is on.
pub(super) fn table(style: Style) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .apply_modifier(UTF8_ROUND_CORNERS);
    // comfy-table decides by itself whether to style, from whether stdout is a terminal; the
    // decision made in main overrides that both ways, so that NO_COLOR and the tests are obeyed.
    if style.color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table
}

/// The summary as a comfy-table table, styled only when color is on.
fn summary_table(images: &[&ImageReport], style: Style) -> Table {
    let mut table = table(style);
    // The table has many columns, so a header with a unit such as "ready ms" takes two lines
    // to keep the columns as narrow as their figures.
    table.set_header(SUMMARY_HEADERS.iter().map(|header| {
        let cell = Cell::new(header.replace(" ms", "\nms"));
        if style.color {
            cell.add_attribute(Attribute::Bold)
        } else {
            cell
        }
    }));
    for image in images {
        let (cells, probes) = summary_row(image);
        table.add_row(cells.iter().enumerate().map(|(index, text)| {
            let cell = Cell::new(printable(text));
            match (style.color, index == super::PROBES_COLUMN, probes) {
                (true, true, Probes::Ok) => cell.fg(Color::Green),
                (true, true, Probes::Failed) => cell.fg(Color::Red).add_attribute(Attribute::Bold),
                _ => cell,
            }
        }));
    }
    for (index, numeric) in SUMMARY_NUMERIC.iter().enumerate() {
        if let (true, Some(column)) = (*numeric, table.column_mut(index)) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// What shipping each image costs: the registry round trip and the components.
fn shipping_table(report: &Report, style: Style) -> Table {
    let mut table = table(style);
    table.set_header(
        super::shipping::HEADERS
            .iter()
            .map(|header| Cell::new(header.replace(" ms", "\nms"))),
    );
    for image in &report.images {
        table.add_row(
            super::shipping::row(report, image)
                .iter()
                .map(|text| Cell::new(printable(text))),
        );
    }
    for index in 1..super::shipping::HEADERS.len() {
        if let Some(column) = table.column_mut(index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// One bar per image on a log scale, with a caption that says so.
fn size_bars(report: &Report, style: Style) -> String {
    let Some(scale) = LogScale::fit(report.images.iter().map(|image| image.size_bytes)) else {
        return String::new();
    };
    let sizes = report.images.iter().map(|image| image.size_bytes);
    let largest = sizes.clone().max().unwrap_or(0);
    let smallest = sizes.filter(|&size| size > 0).min().unwrap_or(1);
    let mut out = format!(
        "sizes on a log scale: bars start at {}, so equal lengths are equal ratios; \
         the largest image is {}x the smallest\n",
        scale.start_label(),
        ratio(largest, smallest),
    );
    let width = report
        .images
        .iter()
        .map(|image| printable(&apps::label(report, image)).chars().count())
        .max()
        .unwrap_or(0);
    for image in &report.images {
        let variant = printable(&apps::label(report, image));
        let pad = width - variant.chars().count();
        let bar = bar(scale.fraction(image.size_bytes), image.size_bytes > 0);
        out.push_str(&format!(
            "{variant}{}  {} {}\n",
            " ".repeat(pad),
            paint(style, CYAN, &bar),
            human_bytes(image.size_bytes),
        ));
    }
    out.push('\n');
    out
}

/// How many times `smallest` fits in `largest`, rounded, for the caption.
fn ratio(largest: u64, smallest: u64) -> String {
    super::human::thousands((largest as f64 / smallest.max(1) as f64).round() as u64)
}

/// A bar of `fraction` of `BAR_CELLS` in eighths of a cell; at least one eighth when `visible`.
fn bar(fraction: f64, visible: bool) -> String {
    let mut eighths = (fraction * (BAR_CELLS * 8) as f64).round() as usize;
    if visible {
        eighths = eighths.max(1);
    }
    let mut out = "█".repeat(eighths / 8);
    out.push_str(EIGHTHS[eighths % 8]);
    out
}

/// The checks, one per line, and the verdict; `stress` shows its verdicts the same way.
pub(super) fn checks(checks: &[Check], style: Style) -> String {
    let all: Vec<&Check> = checks.iter().collect();
    let mut out = check_lines(&all, name_width(checks), style);
    out.push_str(&verdict(checks, style));
    out
}

/// How wide the longest check name is.
fn name_width(checks: &[Check]) -> usize {
    checks
        .iter()
        .map(|check| printable(&check.name).chars().count())
        .max()
        .unwrap_or(0)
}

/// The verdict line under the checks.
fn verdict(checks: &[Check], style: Style) -> String {
    let (ok, verdict) = checks_verdict(checks);
    let mut out = paint(style, if ok { GREEN } else { RED }, &verdict);
    out.push('\n');
    out
}

/// One line per check, names padded to `width`.
fn check_lines(checks: &[&Check], width: usize, style: Style) -> String {
    let mut out = String::new();
    for check in checks {
        // Without color the markers are plain ASCII words, which survive any log viewer and
        // can be searched for; with color the symbols carry the meaning.
        let marker = match (style.color, check.ok) {
            (true, true) => paint(style, GREEN, "✓"),
            (true, false) => paint(style, RED, "✗"),
            (false, true) => "PASS".to_string(),
            (false, false) => "FAIL".to_string(),
        };
        let name = printable(&check.name);
        let pad = " ".repeat(width - name.chars().count());
        let name = if check.ok {
            name
        } else {
            paint(style, RED, &name)
        };
        out.push_str(&format!(
            "{marker} {name}{pad}  {}\n",
            printable(&check.detail)
        ));
    }
    out
}

/// The text wrapped in an ANSI SGR sequence when color is on, and unchanged otherwise.
pub(super) fn paint(style: Style, code: &str, text: &str) -> String {
    if style.color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Style = Style { color: false };

    #[test]
    fn bars_grow_in_eighths_and_never_vanish() {
        assert_eq!(bar(0.0, true), "▏");
        assert_eq!(bar(0.0, false), "");
        assert_eq!(bar(1.0, true), "█".repeat(BAR_CELLS));
        assert_eq!(bar(0.5, true), "█".repeat(BAR_CELLS / 2));
        assert_eq!(bar(1.5 / BAR_CELLS as f64, true), "█▌");
    }

    #[test]
    fn paint_is_identity_without_color() {
        assert_eq!(paint(PLAIN, RED, "x"), "x");
        assert_eq!(paint(Style { color: true }, RED, "x"), "\x1b[31mx\x1b[0m");
    }
}
