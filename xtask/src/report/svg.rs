//! The image sizes as a self-contained SVG chart: one horizontal bar per image on a log scale,
//! with a thinner bar for the compressed size.
//!
//! The chart uses only inline attributes and a generic font family, with no stylesheet, script
//! or external font, so that it renders the same in a browser, on GitHub and in `rsvg-convert`.

use std::fmt::Write as _;

use super::human::{decade_label, human_bytes, LogScale};
use crate::model::Report;

const WIDTH: f64 = 760.0;
const MARGIN: f64 = 20.0;
/// Room right of the longest bar for its size label.
const VALUE_ROOM: f64 = 110.0;
const TITLE_Y: f64 = 32.0;
const LEGEND_Y: f64 = 56.0;
const PLOT_TOP: f64 = 80.0;
const ROW: f64 = 46.0;
const BAR_HEIGHT: f64 = 18.0;
const COMPRESSED_HEIGHT: f64 = 8.0;
const BAR_GAP: f64 = 3.0;
/// The narrowest bar drawn for a non-zero size, so that no image disappears.
const MIN_BAR: f64 = 2.0;

const INK: &str = "#1f2328";
const MUTED: &str = "#57606a";
const GRID: &str = "#d0d7de";
const AXIS: &str = "#8c959f";
const SIZE_FILL: &str = "#1f6feb";
const COMPRESSED_FILL: &str = "#8cc4ff";

pub fn render(report: &Report) -> String {
    let title = format!("{} image sizes (log scale)", super::apps::subject(report));
    let scale = LogScale::fit(
        report
            .images
            .iter()
            .flat_map(|image| [image.size_bytes, image.compressed_bytes]),
    );
    let rows = report.images.len().max(1) as f64;
    let plot_bottom = PLOT_TOP + rows * ROW;
    // The name column is as wide as the longest name needs, at roughly 7.5 px per character of
    // 13 px sans-serif, so that short names leave more room for the bars.
    let longest_name = report
        .images
        .iter()
        .map(|image| super::apps::label(report, image).chars().count())
        .max()
        .unwrap_or(0) as f64;
    let name_room = (longest_name * 7.5 + 14.0).clamp(70.0, 220.0);
    let x0 = MARGIN + name_room;
    let bar_room = WIDTH - MARGIN - VALUE_ROOM - x0;
    // Time to deploy, drawn under the sizes when the report has it.
    let (deploy, deploy_height) =
        super::shipping::svg_panel(report, plot_bottom + 56.0, x0, bar_room);
    let height = plot_bottom + 56.0 + deploy_height;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-labelledby="title desc" font-family="sans-serif">"#,
        w = num(WIDTH),
        h = num(height),
    );
    let _ = writeln!(out, r#"<title id="title">{}</title>"#, xml(&title));
    let description: Vec<String> = report
        .images
        .iter()
        .map(|image| {
            format!(
                "{}: {} ({} compressed)",
                super::apps::label(report, image),
                human_bytes(image.size_bytes),
                human_bytes(image.compressed_bytes)
            )
        })
        .collect();
    let _ = writeln!(
        out,
        r#"<desc id="desc">{}</desc>"#,
        xml(&description.join("; "))
    );
    // A white background keeps the chart readable where it is shown on a dark page.
    let _ = writeln!(
        out,
        r##"<rect x="0" y="0" width="{}" height="{}" fill="#ffffff"/>"##,
        num(WIDTH),
        num(height)
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" font-size="18" font-weight="bold" fill="{INK}">{}</text>"#,
        num(MARGIN),
        num(TITLE_Y),
        xml(&title)
    );
    legend(&mut out);

    let Some(scale) = scale else {
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" font-size="13" fill="{MUTED}">no images to show</text>"#,
            num(MARGIN),
            num(PLOT_TOP + 24.0)
        );
        out.push_str("</svg>\n");
        return out;
    };

    let x_at = |fraction: f64| x0 + fraction * bar_room;

    let decades = scale.decades();
    // Labels such as "100 kB" need about 45 px; when the decades lie closer than that, every
    // other one is labelled, counted from the largest so that the big figures keep theirs.
    let spacing = match decades.as_slice() {
        [(_, first), (_, second), ..] => (second - first) * bar_room,
        _ => f64::INFINITY,
    };
    let label_every = if spacing < 48.0 { 2 } else { 1 };
    let last = decades.len().saturating_sub(1);
    for (index, &(exponent, fraction)) in decades.iter().enumerate() {
        let x = x_at(fraction);
        let _ = writeln!(
            out,
            r#"<line x1="{x}" y1="{y1}" x2="{x}" y2="{y2}" stroke="{GRID}" stroke-width="1"/>"#,
            x = num(x),
            y1 = num(PLOT_TOP - 6.0),
            y2 = num(plot_bottom),
        );
        if (last - index) % label_every == 0 {
            let _ = writeln!(
                out,
                r#"<text x="{}" y="{}" font-size="11" fill="{MUTED}" text-anchor="middle">{}</text>"#,
                num(x),
                num(plot_bottom + 16.0),
                xml(&decade_label(exponent))
            );
        }
    }
    let _ = writeln!(
        out,
        r#"<line x1="{x}" y1="{y1}" x2="{x}" y2="{y2}" stroke="{AXIS}" stroke-width="1"/>"#,
        x = num(x0),
        y1 = num(PLOT_TOP - 6.0),
        y2 = num(plot_bottom),
    );

    for (index, image) in report.images.iter().enumerate() {
        let top = PLOT_TOP + index as f64 * ROW + 4.0;
        let size_width = bar_width(&scale, image.size_bytes, bar_room);
        let compressed_width = bar_width(&scale, image.compressed_bytes, bar_room);
        let compressed_top = top + BAR_HEIGHT + BAR_GAP;
        let middle = top + (BAR_HEIGHT + BAR_GAP + COMPRESSED_HEIGHT) / 2.0;
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" font-size="13" fill="{INK}" text-anchor="end">{}</text>"#,
            num(x0 - 10.0),
            num(middle + 4.5),
            xml(&super::apps::label(report, image))
        );
        let size = human_bytes(image.size_bytes);
        let compressed = human_bytes(image.compressed_bytes);
        let _ = writeln!(
            out,
            r#"<rect x="{}" y="{}" width="{}" height="{}" rx="2" fill="{SIZE_FILL}"><title>{}</title></rect>"#,
            num(x0),
            num(top),
            num(size_width),
            num(BAR_HEIGHT),
            xml(&format!("{}: {size}", super::apps::label(report, image)))
        );
        let _ = writeln!(
            out,
            r#"<rect x="{}" y="{}" width="{}" height="{}" rx="1.5" fill="{COMPRESSED_FILL}"><title>{}</title></rect>"#,
            num(x0),
            num(compressed_top),
            num(compressed_width),
            num(COMPRESSED_HEIGHT),
            xml(&format!(
                "{}: {compressed} compressed",
                super::apps::label(report, image)
            ))
        );
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" font-size="12" font-weight="bold" fill="{INK}">{}</text>"#,
            num(x0 + size_width + 6.0),
            num(top + BAR_HEIGHT / 2.0 + 4.0),
            xml(&size)
        );
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" font-size="10" fill="{MUTED}">{}</text>"#,
            num(x0 + compressed_width + 6.0),
            num(compressed_top + COMPRESSED_HEIGHT / 2.0 + 3.5),
            xml(&format!("{compressed} compressed"))
        );
    }

    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" font-size="11" fill="{MUTED}">{}</text>"#,
        num(MARGIN),
        num(plot_bottom + 40.0),
        xml(&format!(
            "Log scale: bars start at {} and each gridline is 10x the one before.",
            scale.start_label()
        ))
    );
    out.push_str(&deploy);
    out.push_str("</svg>\n");
    out
}

/// The key to the two bar colors, under the title.
fn legend(out: &mut String) {
    let entries = [
        (SIZE_FILL, BAR_HEIGHT * 0.6, "uncompressed size"),
        (
            COMPRESSED_FILL,
            COMPRESSED_HEIGHT,
            "compressed (gzip of docker save)",
        ),
    ];
    let mut x = MARGIN;
    for (fill, height, label) in entries {
        let _ = writeln!(
            out,
            r#"<rect x="{}" y="{}" width="16" height="{}" rx="1.5" fill="{fill}"/>"#,
            num(x),
            num(LEGEND_Y - 4.0 - height / 2.0),
            num(height)
        );
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" font-size="12" fill="{MUTED}">{}</text>"#,
            num(x + 22.0),
            num(LEGEND_Y),
            xml(label)
        );
        // About 6.5 px per character of 12 px sans-serif, plus a gap before the next entry.
        x += 22.0 + label.chars().count() as f64 * 6.5 + 24.0;
    }
}

/// The width of the bar for `bytes`, never thinner than `MIN_BAR` unless it is zero.
fn bar_width(scale: &LogScale, bytes: u64, room: f64) -> f64 {
    if bytes == 0 {
        return 0.0;
    }
    (scale.fraction(bytes) * room).max(MIN_BAR)
}

/// A coordinate with one decimal at most, so that the output is short and deterministic.
fn num(value: f64) -> String {
    let fixed = format!("{value:.1}");
    match fixed.strip_suffix(".0") {
        Some(whole) => whole.to_string(),
        None => fixed,
    }
}

/// Text safe inside an XML element or a double-quoted attribute.
///
/// Control characters other than tab and newline are not allowed in XML 1.0 at all, so they
/// are replaced rather than escaped.
pub(super) fn xml(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_and_controls() {
        assert_eq!(
            xml(r#"a<b>&"c"'d'"#),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;"
        );
        assert_eq!(xml("x\u{1b}y"), "x\u{fffd}y");
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(num(20.0), "20");
        assert_eq!(num(20.04), "20");
        assert_eq!(num(20.5), "20.5");
    }

    #[test]
    fn smallest_bar_is_visible() {
        let scale = LogScale::fit([1_000_000, 1_000_000_000]).unwrap();
        assert!(bar_width(&scale, 1_000_000, 500.0) >= MIN_BAR);
        assert_eq!(bar_width(&scale, 0, 500.0), 0.0);
    }
}
