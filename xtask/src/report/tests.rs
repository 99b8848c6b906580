//! Golden and property tests of the renderings, on the hand-written report in `testdata/`.
//!
//! The golden files pin every byte of `terminal.txt` (color off), `report.md` and `sizes.svg`.
//! When a rendering changes on purpose, rewrite them with
//!
//! ```text
//! UPDATE_GOLDEN=1 cargo test -p xtask report::
//! ```
//!
//! and review the diff of `testdata/` like any other change.

use std::path::{Path, PathBuf};

use super::*;
use crate::model::{Check, Report};

/// The style of files, pipes and golden files: no escape sequences at all.
const PLAIN: Style = Style { color: false };

/// The folder of the golden files, found from this source file's path.
///
/// `file!()` is absolute when the crate is built through a `#[path]` attribute with an absolute
/// path, and relative to the workspace root in a normal build, while tests run in the package's
/// folder; trying the package folder and its parent covers both.
fn testdata() -> PathBuf {
    let relative = Path::new(file!())
        .parent()
        .expect("a source file lives in a folder")
        .join("testdata");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        relative.clone(),
        manifest.join(&relative),
        manifest
            .parent()
            .map_or(relative.clone(), |p| p.join(&relative)),
    ]
    .into_iter()
    .find(|dir| dir.join("report.json").is_file())
    .unwrap_or_else(|| panic!("no testdata/report.json near {}", relative.display()))
}

fn example() -> Report {
    let text = std::fs::read_to_string(testdata().join("report.json")).expect("read report.json");
    serde_json::from_str(&text).expect("report.json matches the model")
}

/// Compares `actual` with the golden file `name`, or rewrites the file when UPDATE_GOLDEN=1.
fn golden(name: &str, actual: &str) {
    let path = testdata().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|value| value == "1") {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    if expected != actual {
        // The first differing line says more than two walls of text side by side.
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the rendering at line {}:\n  expected: {:?}\n  actual:   {:?}\n\
             rerun with UPDATE_GOLDEN=1 if the change is intended",
            path.display(),
            line + 1,
            expected.lines().nth(line).unwrap_or("<end of file>"),
            actual.lines().nth(line).unwrap_or("<end of file>"),
        );
    }
}

#[test]
fn terminal_matches_golden() {
    golden("terminal.txt", &terminal(&example(), PLAIN));
}

#[test]
fn markdown_matches_golden() {
    golden("report.md", &markdown(&example(), Some("sizes.svg")));
}

#[test]
fn svg_matches_golden() {
    golden("sizes.svg", &svg(&example()));
}

#[test]
fn json_round_trips_with_trailing_newline() {
    let report = example();
    let text = json(&report);
    assert!(text.ends_with("}\n"));
    assert!(text.contains("\n  \"images\": ["), "pretty-printed");
    let back: Report = serde_json::from_str(&text).unwrap();
    assert_eq!(back, report);
}

#[test]
fn no_escape_sequence_without_color() {
    let mut report = example();
    // Even text that carries an escape sequence of its own must not reach the terminal raw.
    report.checks[0].detail = "\x1b[31mred\x1b[0m".to_string();
    report.images[0].variant = "evil\x1b]0;title\x07".to_string();
    let text = terminal(&report, PLAIN);
    assert!(!text.contains('\x1b'), "{text}");
    assert!(!text.contains('\x07'), "{text}");
    assert!(text.contains("PASS"));
    assert!(text.contains("FAIL"));
    assert!(!text.contains('✓') && !text.contains('✗'));
}

#[test]
fn color_marks_checks_with_symbols() {
    let text = terminal(&example(), Style { color: true });
    assert!(text.contains('\x1b'));
    assert!(text.contains('✓') && text.contains('✗'));
    assert!(text.contains("1 of 11 checks failed"));
}

#[test]
fn terminal_shows_every_image_and_verdict() {
    let report = example();
    let text = terminal(&report, PLAIN);
    for image in &report.images {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("│ {} ", image.variant))),
            "{}",
            image.variant
        );
    }
    assert!(text.contains("log scale"));
    assert!(text.ends_with("1 of 11 checks failed\n"));
    // The target variant is only built, so its run columns say so.
    let target_row = text.lines().find(|l| l.starts_with("│ target ")).unwrap();
    let cells: Vec<&str> = target_row
        .trim_matches('│')
        .split('┆')
        .map(str::trim)
        .collect();
    assert_eq!(cells.len(), SUMMARY_HEADERS.len(), "{target_row}");
    assert_eq!(cells[9..], ["-"; 6], "{target_row}");
}

#[test]
fn smallest_image_gets_a_visible_bar() {
    let report = example();
    let text = terminal(&report, PLAIN);
    let bar_line = text
        .lines()
        .find(|l| l.starts_with("multistage ") && l.ends_with("1.42 MB"))
        .expect("a bar line for multistage");
    assert!(
        bar_line.contains(['█', '▏', '▎', '▍', '▌', '▋', '▊', '▉']),
        "{bar_line}"
    );
    let simples = text
        .lines()
        .find(|l| l.starts_with("simples ") && l.ends_with("1.05 GB"))
        .unwrap();
    assert!(simples.matches('█').count() > bar_line.matches('█').count() * 5);
}

#[test]
fn all_checks_holding_reads_so() {
    let mut report = example();
    for check in &mut report.checks {
        check.ok = true;
    }
    assert!(terminal(&report, PLAIN).ends_with("all 11 checks hold\n"));
    assert!(markdown(&report, None).contains("All 11 checks hold"));
}

#[test]
fn failing_probes_show_as_fail() {
    let mut report = example();
    let run = report.images[1].run.as_mut().unwrap();
    run.probes_ok = false;
    run.probes[0].ok = false;
    run.probes[0].status = None;
    run.probes[0].detail = "connection refused".to_string();
    let text = terminal(&report, PLAIN);
    let row = text
        .lines()
        .find(|l| l.starts_with("│ multistage "))
        .unwrap();
    assert!(row.contains("FAIL"), "{row}");
    let md = markdown(&report, None);
    assert!(md.contains("❌ **FAIL**"));
    assert!(md.contains("no answer"));
}

#[test]
fn markdown_escapes_pipes_and_newlines_in_cells() {
    let mut report = example();
    report.checks.push(Check {
        name: "odd | name".to_string(),
        ok: false,
        detail: "first line\nsecond | line".to_string(),
        ..Check::default()
    });
    let md = markdown(&report, None);
    let row = md
        .lines()
        .find(|l| l.contains("odd"))
        .expect("a row for the odd check");
    assert_eq!(
        row,
        "| ❌ | `odd \\| name` | first line<br>second \\| line |"
    );
    // Every row of the checks table keeps its three cells.
    let unescaped_pipes = row.replace("\\|", "").matches('|').count();
    assert_eq!(unescaped_pipes, 4);
}

#[test]
fn markdown_has_chart_image_and_details() {
    let report = example();
    let md = markdown(&report, Some("sizes.svg"));
    assert!(md.contains("![sizes](sizes.svg)"));
    assert!(md.contains("```mermaid\nxychart-beta\n"));
    assert!(md.contains("y-axis \"MB\""));
    assert_eq!(md.matches("<details>").count(), report.images.len());
    assert_eq!(md.matches("</details>").count(), report.images.len());
    assert!(!markdown(&report, None).contains("![sizes]"));
}

#[test]
fn svg_escapes_text_and_is_self_contained() {
    let mut report = example();
    report.repository = "web<test> & \"co\"".to_string();
    report.images[0].variant = "a<b".to_string();
    let text = svg(&report);
    assert!(text.contains("web&lt;test&gt; &amp; &quot;co&quot; image sizes (log scale)"));
    assert!(text.contains(">a&lt;b<"));
    assert!(!text.contains("a<b"));
    for external in ["<script", "<style", "href=", "@import", "url("] {
        assert!(!text.contains(external), "{external}");
    }
    assert!(text.contains(r#"font-family="sans-serif""#));
}

#[test]
fn svg_has_a_bar_per_image_and_decade_gridlines() {
    let report = example();
    let text = svg(&report);
    assert_eq!(
        text.matches(r##"fill="#1f6feb"><title>"##).count(),
        report.images.len()
    );
    for label in [">1 MB<", ">10 MB<", ">100 MB<", ">1 GB<"] {
        assert!(text.contains(label), "{label}");
    }
}

#[test]
fn empty_report_renders() {
    let report = Report {
        schema: crate::model::SCHEMA,
        ok: true,
        repository: "webtest".to_string(),
        engine: "test".to_string(),
        engine_info: None,
        images: Vec::new(),
        checks: Vec::new(),
        apps: Vec::new(),
    };
    assert!(terminal(&report, PLAIN).ends_with("no checks were run\n"));
    assert!(markdown(&report, None).contains("No checks were run."));
    assert!(svg(&report).contains("no images to show"));
}

#[test]
fn style_detect_obeys_no_color() {
    // Whether stdout is a terminal depends on how the tests are run, so only the NO_COLOR half
    // of the rule is certain here: a non-empty value turns color off.
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
    assert!(!(no_color && Style::detect().color));
}

/// A report of every app (`testdata/apps/report.json`, written by a real `compare` of the
/// Rust, Go and front-end apps), whose renderings group by app.
fn apps_example() -> Report {
    let text = std::fs::read_to_string(testdata().join("apps").join("report.json"))
        .expect("read apps/report.json");
    serde_json::from_str(&text).expect("apps/report.json matches the model")
}

#[test]
fn the_renderings_of_several_apps_match_golden() {
    let report = apps_example();
    golden("apps/terminal.txt", &terminal(&report, PLAIN));
    golden("apps/report.md", &markdown(&report, Some("sizes.svg")));
    golden("apps/sizes.svg", &svg(&report));
}

#[test]
fn several_apps_are_grouped_and_their_production_images_compared() {
    let report = apps_example();
    let text = terminal(&report, PLAIN);
    let rust = text
        .find("app rust · webtest")
        .expect("the Rust app's table");
    let go = text
        .find("app go · webtest-go")
        .expect("the Go app's table");
    let across = text
        .find("production images across apps")
        .expect("the cross-app table");
    assert!(rust < go && go < across, "{text}");
    // One row per app in the cross-app table, each naming its production image.
    for tag in [
        "webtest:multistage",
        "webtest-go:multistage",
        "webtest-frontend:multistage",
    ] {
        assert!(text[across..].contains(tag), "{tag}");
    }
    // A stand-in says so wherever its name appears.
    assert!(text.contains("(stand-in for alpine:3.20.3)"), "{text}");
    assert!(svg(&report).contains(">go multistage<"));
    let json = json(&report);
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
}

#[test]
fn edit_cost_shows_only_when_measured_and_lists_the_working_steps() {
    let mut report = example();
    assert!(!terminal(&report, Style { color: false }).contains("Edit cost"));
    assert!(!markdown(&report, None).contains("Edit cost"));
    report.images[0].edit_cost = Some(crate::model::EditCost {
        file: "webtest/src/main.rs".into(),
        rebuild_ms: 61_234,
        steps: 9,
        cached_steps: 2,
        rebuilt: vec![
            "COPY . .".into(),
            "RUN cargo build --release".into(),
            "ENV WEBTEST_VARIANT=simples".into(),
        ],
    });
    let text = terminal(&report, Style { color: false });
    assert!(text.contains("Edit cost: rebuild after one line appended to webtest/src/main.rs"));
    assert!(text.contains("61.2 s") && text.contains("2/9"), "{text}");
    assert!(text.contains("RUN cargo build --release"));
    assert!(!text.contains("ENV WEBTEST_VARIANT=simples"));
    let md = markdown(&report, None);
    assert!(md.contains("## Edit cost"), "{md}");
    assert!(md.contains("| 61.2 s | 2/9 |"), "{md}");
    // The field round-trips, and a report without it keeps its old JSON.
    let json = crate::report::json(&report);
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    assert!(!crate::report::json(&example()).contains("edit_cost"));
}

#[test]
fn edit_costs_of_several_apps_name_each_app_and_its_changed_file() {
    let mut report = apps_example();
    let cost = |file: &str, ms| crate::model::EditCost {
        file: file.into(),
        rebuild_ms: ms,
        steps: 9,
        cached_steps: 2,
        rebuilt: vec!["COPY . .".into()],
    };
    for image in report.images.iter_mut() {
        match (image.app.as_str(), image.variant.as_str()) {
            ("rust", "multistage") => image.edit_cost = Some(cost("webtest/src/main.rs", 32_400)),
            ("go", "multistage") => image.edit_cost = Some(cost("webtest-go/main.go", 68_200)),
            _ => {}
        }
    }
    let text = terminal(&report, PLAIN);
    assert!(
        text.contains(
            "Edit cost: rebuild after one line appended to webtest/src/main.rs (rust), \
             webtest-go/main.go (go)"
        ),
        "{text}"
    );
    assert!(text.contains("rust multistage ┆  32.4 s"), "{text}");
    assert!(text.contains("go multistage   ┆  68.2 s"), "{text}");
    let md = markdown(&report, None);
    assert!(
        md.contains("`webtest/src/main.rs` (rust), `webtest-go/main.go` (go)"),
        "{md}"
    );
    assert!(md.contains("| go multistage | 68.2 s | 2/9 |"), "{md}");
}

#[test]
fn an_interrupt_says_the_containers_are_removed_unless_removing_them_failed() {
    use crate::error::Interrupted;
    let signal = || Interrupted {
        signal: "SIGINT",
        number: 2,
    };
    let clean = anyhow::Error::from(signal());
    assert_eq!(
        failure(&clean, PLAIN),
        "error: interrupted by SIGINT; the containers this run started are removed\n"
    );
    let failed = anyhow::anyhow!("removal of container 3f2a is already in progress")
        .context("remove container 3f2a")
        .context("remove the containers this run started")
        .context(signal());
    assert_eq!(crate::error::exit_code(&failed), 130);
    assert_eq!(
        failure(&failed, PLAIN),
        "error: interrupted by SIGINT; removing what this run started failed\n\
         \x20 caused by: remove the containers this run started\n\
         \x20 caused by: remove container 3f2a\n\
         \x20 caused by: removal of container 3f2a is already in progress\n\
         next: `cargo xtask clean` removes what the project left in the engine\n"
    );
}
