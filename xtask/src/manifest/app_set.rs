//! The apps one `compare` covers: the manifest given (`docker/images.yaml` by default, the Rust
//! app), then the manifests its `apps:` names, each read and checked like the first, so that a
//! bad one exits 2 before the engine is asked anything. `--app NAME` keeps one of them.

use std::path::Path;

use anyhow::Result;

use super::Manifest;
use crate::error::UsageError;

/// Every app of `primary` (itself first, then its `apps:` in order), or only the one named
/// `only`. Names and repositories must be unique across the set.
pub fn load_apps(primary: Manifest, only: Option<&str>) -> Result<Vec<Manifest>> {
    let mut apps = Vec::with_capacity(1 + primary.apps.len());
    let others = primary.apps.clone();
    apps.push(primary);
    for path in &others {
        // The other manifests' own `apps:` are not followed: one level is the whole set.
        apps.push(Manifest::load(path)?);
    }
    for (index, app) in apps.iter().enumerate() {
        for earlier in &apps[..index] {
            if earlier.app == app.app || earlier.repository == app.repository {
                return Err(UsageError(format!(
                    "{} and {} both declare the app `{}` or the repository `{}`; each app needs a name (`app:`) and a repository of its own",
                    shown(&earlier.path),
                    shown(&app.path),
                    app.app,
                    app.repository
                ))
                .into());
            }
        }
    }
    let Some(only) = only else {
        return Ok(apps);
    };
    let names: Vec<&str> = apps.iter().map(|app| app.app.as_str()).collect();
    let known = names.join(", ");
    match apps.into_iter().find(|app| app.app == only) {
        Some(app) => Ok(vec![app]),
        None => Err(UsageError(format!("no app `{only}` (known: {known})")).into()),
    }
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> Manifest {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        Manifest::load(&root.join("docker/images.yaml")).expect("the project manifest")
    }

    #[test]
    fn the_project_declares_three_apps_and_one_can_be_chosen() {
        let apps = load_apps(project(), None).unwrap();
        let names: Vec<&str> = apps.iter().map(|app| app.app.as_str()).collect();
        assert_eq!(names, ["rust", "go", "frontend"]);
        let repositories: Vec<&str> = apps.iter().map(|app| app.repository.as_str()).collect();
        assert_eq!(repositories, ["webtest", "webtest-go", "webtest-frontend"]);
        let go = load_apps(project(), Some("go")).unwrap();
        assert_eq!(go.len(), 1);
        assert_eq!(go[0].repository, "webtest-go");
        let err = load_apps(project(), Some("java")).unwrap_err();
        assert!(err.is::<UsageError>());
        assert_eq!(err.to_string(), "no app `java` (known: rust, go, frontend)");
    }

    #[test]
    fn two_apps_may_not_share_a_name() {
        let mut twice = project();
        twice.apps = vec![twice.path.clone()];
        let err = load_apps(twice, None).unwrap_err();
        assert!(err.to_string().contains("both declare the app `rust`"));
    }
}
