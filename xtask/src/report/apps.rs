//! What the renderings of a report of several apps share: the images grouped by app, the name
//! of an image across apps (`go multistage`), the title, and the cross-app table of the
//! production images. A report of one app (or an older report, whose images name no app)
//! renders as it always did.

use super::human::{human_bytes, rate, thousands};
use crate::model::{BaseUsed, Check, ImageReport, Report, PRODUCTION_VARIANT};

/// The images of one app, in report order.
pub(super) struct Group<'a> {
    /// The app's name; empty in an older report.
    pub app: &'a str,
    /// Its repository, e.g. `webtest-go`.
    pub repository: String,
    pub images: Vec<&'a ImageReport>,
    pub checks: Vec<&'a Check>,
}

/// The images and checks by app, in the order the apps first appear.
pub(super) fn groups(report: &Report) -> Vec<Group<'_>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    for image in &report.images {
        match groups.iter_mut().find(|group| group.app == image.app) {
            Some(group) => group.images.push(image),
            None => groups.push(Group {
                app: &image.app,
                repository: repository(report, image),
                images: vec![image],
                checks: Vec::new(),
            }),
        }
    }
    for check in &report.checks {
        if let Some(group) = groups.iter_mut().find(|group| group.app == check.app) {
            group.checks.push(check);
        } else if let Some(first) = groups.first_mut() {
            // A check of no known app (an older report's) goes with the first.
            first.checks.push(check);
        }
    }
    groups
}

/// The repository of an image: what its tag says before the variant.
fn repository(report: &Report, image: &ImageReport) -> String {
    report
        .apps
        .iter()
        .find(|app| app.name == image.app)
        .map(|app| app.repository.clone())
        .or_else(|| {
            image
                .tag
                .rsplit_once(':')
                .map(|(repository, _)| repository.to_string())
        })
        .unwrap_or_else(|| report.repository.clone())
}

/// Whether the report holds more than one app, and is therefore rendered by app.
pub(super) fn several(report: &Report) -> bool {
    report
        .images
        .iter()
        .any(|image| image.app != report.images[0].app)
}

/// The title's subject: `webtest` for one app, `webtest, webtest-go and webtest-frontend` for
/// several.
pub(super) fn subject(report: &Report) -> String {
    if !several(report) {
        return report.repository.clone();
    }
    let names: Vec<String> = groups(report)
        .into_iter()
        .map(|group| group.repository)
        .collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// An image's name in a list that mixes apps: `go multistage`; just the variant otherwise.
pub(super) fn label(report: &Report, image: &ImageReport) -> String {
    if several(report) && !image.app.is_empty() {
        format!("{} {}", image.app, image.variant)
    } else {
        image.variant.clone()
    }
}

/// The columns of the cross-app table.
pub(super) const PRODUCTION_HEADERS: [&str; 9] = [
    "app",
    "image",
    "base",
    "size",
    "compressed",
    "ready ms",
    "stop ms",
    "memory",
    "req/s",
];

/// Which of them hold figures.
pub(super) const PRODUCTION_NUMERIC: [bool; 9] =
    [false, false, false, true, true, true, true, true, true];

/// One row per app: its production image (`multistage`) with the figures people compare across
/// apps. Empty for a report of one app.
pub(super) fn production_rows(report: &Report) -> Vec<[String; 9]> {
    if !several(report) {
        return Vec::new();
    }
    groups(report)
        .iter()
        .filter_map(|group| {
            let image = group
                .images
                .iter()
                .find(|image| image.variant == PRODUCTION_VARIANT)?;
            let run = image.run.as_ref();
            let load = run.and_then(|run| run.load.as_ref());
            let absent = || super::ABSENT.to_string();
            Some([
                group.app.to_string(),
                image.tag.clone(),
                image.base.as_ref().map_or_else(absent, short_base),
                human_bytes(image.size_bytes),
                human_bytes(image.compressed_bytes),
                run.map_or_else(absent, |run| thousands(run.ready_ms)),
                run.map_or_else(absent, |run| thousands(run.stop_ms)),
                run.map_or_else(absent, |run| human_bytes(run.memory_bytes)),
                load.map_or_else(absent, |load| rate(load.requests_per_second)),
            ])
        })
        .collect()
}

/// A base in a table cell: the image, and `(stand-in)` when it is one.
pub(super) fn short_base(base: &BaseUsed) -> String {
    match base.kind {
        crate::model::BaseKind::StandIn => format!("{} (stand-in)", base.image),
        _ => base.image.clone(),
    }
}

/// One line per image that says what it was built on, e.g. `go multistage: built on
/// webtest-base/alpine:bookworm (stand-in for alpine:3.20.3)`; empty when no image says.
pub(super) fn built_on(report: &Report) -> Vec<String> {
    report
        .images
        .iter()
        .filter_map(|image| {
            let base = image.base.as_ref()?;
            let others: Vec<String> = image
                .bases
                .iter()
                .filter(|other| *other != base)
                .map(BaseUsed::describe)
                .collect();
            let mut line = format!("{}: built on {}", label(report, image), base.describe());
            if !others.is_empty() {
                line.push_str(&format!("; its build stages on {}", others.join(", ")));
            }
            Some(line)
        })
        .collect()
}
