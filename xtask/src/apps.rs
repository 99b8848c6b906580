//! The apps of one `compare` run, side by side: which base images each image was built on
//! (official or a local stand-in, never confused), and the one report that the apps' reports
//! make together, every image and check marked with its app.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use crate::dockerfile::{self, BaseRef};
use crate::engine::Engine;
use crate::labels::LABEL_BASE;
use crate::manifest::{BuildArgs, Manifest};
use crate::model::{AppReport, BaseKind, BaseUsed, Report};

/// The app entry of a manifest, its path shown relative to `root`.
pub fn app_report(manifest: &Manifest, root: &std::path::Path) -> AppReport {
    AppReport {
        name: manifest.app.clone(),
        repository: manifest.repository.clone(),
        manifest: manifest
            .path
            .strip_prefix(root)
            .unwrap_or(&manifest.path)
            .display()
            .to_string(),
    }
}

/// The bases a variant's image was built on: its own stage's, and every one its build used.
///
/// `resolved` is what the build's base arguments resolved to, when this run built the images;
/// without it (`--no-build`), an official image present in the engine counts as used, and
/// otherwise the stand-in, by the newest tag of its repository. The image's own label
/// (`io.webtest.xtask.base`, which a stand-in gives every image built on it) has the last word
/// on its own stage's base.
pub async fn bases_used(
    engine: &Engine,
    manifest: &Manifest,
    variant: &str,
    labels: &BTreeMap<String, String>,
    resolved: Option<&BuildArgs>,
) -> Result<(Option<BaseUsed>, Vec<BaseUsed>)> {
    let spec = &manifest.variants[variant];
    let path = manifest.context.join(&spec.dockerfile);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let stages = dockerfile::bases(&text, spec.target.as_deref());
    let mut all = Vec::new();
    for base in &stages.all {
        all.push(used(engine, manifest, base, resolved).await?);
    }
    let own = match &stages.own {
        Some(base) => {
            let mut own = used(engine, manifest, base, resolved).await?;
            // Images built since the tool empties the base's own labels carry the label empty.
            if let Some(standin) = labels.get(LABEL_BASE).filter(|label| !label.is_empty()) {
                if own.kind != BaseKind::Scratch && own.image != *standin {
                    own.kind = BaseKind::StandIn;
                    own.image = standin.clone();
                    own.size_bytes = size_of(engine, standin).await?;
                }
            }
            // The list says the same as the image's own base.
            if let Some(entry) = all
                .iter_mut()
                .find(|b| b.arg == own.arg && !own.arg.is_empty())
            {
                *entry = own.clone();
            }
            Some(own)
        }
        None => None,
    };
    Ok((own, all))
}

/// What one base reference of a Dockerfile resolved to.
async fn used(
    engine: &Engine,
    manifest: &Manifest,
    base: &BaseRef,
    resolved: Option<&BuildArgs>,
) -> Result<BaseUsed> {
    let (arg, name) = match base {
        BaseRef::Literal(image) if image == "scratch" => {
            return Ok(BaseUsed {
                arg: String::new(),
                image: image.clone(),
                kind: BaseKind::Scratch,
                official: String::new(),
                size_bytes: 0,
            })
        }
        BaseRef::Literal(image) => {
            return Ok(BaseUsed {
                arg: String::new(),
                image: image.clone(),
                kind: BaseKind::Official,
                official: image.clone(),
                size_bytes: size_of(engine, image).await?,
            })
        }
        BaseRef::Arg(arg) => (arg.clone(), arg),
    };
    let Some(declared) = manifest.bases.get(name) else {
        // An argument the manifest does not manage: the Dockerfile's own default is used.
        return Ok(BaseUsed {
            arg,
            image: String::new(),
            kind: BaseKind::Official,
            official: String::new(),
            size_bytes: 0,
        });
    };
    let official = declared.image.clone();
    let standin = declared
        .offline
        .as_ref()
        .and_then(|recipe| manifest.recipes.get(recipe));
    let image = match (resolved.and_then(|args| args.get(name)), standin) {
        (Some(image), _) => image.clone(),
        (None, _) if engine.image(&official).await?.is_some() => official.clone(),
        // The recipe names a repository; its tag (the suites, a toolchain's version) is the
        // one the engine holds, the newest when it holds several.
        (None, Some(recipe)) => engine
            .newest_tag(&recipe.image)
            .await?
            .unwrap_or_else(|| recipe.image.clone()),
        (None, None) => official.clone(),
    };
    let kind = if image == official {
        BaseKind::Official
    } else {
        BaseKind::StandIn
    };
    Ok(BaseUsed {
        arg,
        size_bytes: size_of(engine, &image).await?,
        image,
        kind,
        official,
    })
}

/// The size of an image in the engine, 0 when it is not there.
async fn size_of(engine: &Engine, image: &str) -> Result<u64> {
    if image.is_empty() {
        return Ok(0);
    }
    Ok(engine.image(image).await?.map_or(0, |facts| facts.size))
}

/// One report of the apps' reports, in order: their images and checks, each marked with its app
/// already; `ok` when every check of every app holds. The first app names the repository.
pub fn merge(parts: Vec<(AppReport, Report)>) -> Option<Report> {
    let mut parts = parts.into_iter();
    let (first_app, mut report) = parts.next()?;
    report.apps = vec![first_app];
    for (app, part) in parts {
        report.images.extend(part.images);
        report.checks.extend(part.checks);
        report.apps.push(app);
    }
    report.ok = report.checks.iter().all(|check| check.ok);
    Some(report)
}

/// Marks every image and check of an app's report with the app's name.
pub fn mark(report: &mut Report, app: &str) {
    for image in &mut report.images {
        image.app = app.to_string();
    }
    for check in &mut report.checks {
        check.app = app.to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Check;

    fn report(repository: &str, ok: bool) -> Report {
        Report {
            schema: crate::model::SCHEMA,
            ok,
            repository: repository.into(),
            engine: "e".into(),
            engine_info: None,
            images: vec![],
            checks: vec![Check {
                name: "c".into(),
                ok,
                ..Check::default()
            }],
            apps: vec![],
        }
    }

    fn app(name: &str) -> AppReport {
        AppReport {
            name: name.into(),
            repository: format!("r-{name}"),
            manifest: format!("{name}.yaml"),
        }
    }

    #[test]
    fn the_merged_report_holds_every_app_and_fails_when_one_fails() {
        let mut go = report("webtest-go", false);
        mark(&mut go, "go");
        let merged = merge(vec![
            (app("rust"), report("webtest", true)),
            (app("go"), go),
        ])
        .unwrap();
        assert_eq!(merged.repository, "webtest");
        assert!(!merged.ok);
        assert_eq!(merged.checks.len(), 2);
        assert_eq!(merged.checks[1].app, "go");
        assert_eq!(merged.apps.len(), 2);
        assert!(merge(vec![]).is_none());
    }
}
