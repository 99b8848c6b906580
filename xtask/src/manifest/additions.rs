//! The checks of a recipe's additions (`links` and `files`) that serde cannot make: absolute
//! plain paths, non-empty targets, an octal mode, a file that exists beside the manifest.
//! Whether a path is already taken by a package is only known when the packages are unpacked,
//! so `debimage` checks that.

use std::path::Path;

use super::schema::Recipe;

/// The field of the recipe that is wrong (e.g. `links./bin/sh` or `files[0].mode`) and why.
pub(super) fn check(recipe: &Recipe, dir: &Path) -> Result<(), (String, String)> {
    for (path, target) in &recipe.links {
        let at = format!("links.{path}");
        plain_absolute(path).map_err(|why| (at.clone(), why))?;
        if target.trim().is_empty() {
            return Err((at, "the link's target is empty".into()));
        }
    }
    for (index, file) in recipe.files.iter().enumerate() {
        let at = |field: &str| format!("files[{index}].{field}");
        plain_absolute(&file.path).map_err(|why| (at("path"), why))?;
        if recipe.links.contains_key(&file.path) {
            return Err((at("path"), format!("`{}` is also a link", file.path)));
        }
        if file.mode_bits().is_none() {
            return Err((
                at("mode"),
                format!(
                    "`{}` is not a mode; write the permission bits in octal, quoted, such as \"0755\"",
                    file.mode
                ),
            ));
        }
        let from = dir.join(&file.from);
        if !from.is_file() {
            return Err((
                at("from"),
                format!(
                    "`{}` (resolved to {}) is not a file; `from` is relative to the manifest's folder",
                    file.from.display(),
                    from.display()
                ),
            ));
        }
    }
    Ok(())
}

/// An absolute path without empty, `.` or `..` parts, and not the root itself.
fn plain_absolute(path: &str) -> Result<(), String> {
    let plain = path.strip_prefix('/').is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..")
    });
    if plain {
        Ok(())
    } else {
        Err(format!(
            "`{path}` is not a plain absolute path, such as `/bin/sh`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::RecipeFile;

    fn recipe(links: &[(&str, &str)], files: Vec<RecipeFile>) -> Recipe {
        let text = "image: webtest-base/x\npackages: [busybox-static]\n";
        let mut recipe: Recipe = serde_yaml::from_str(text).unwrap();
        recipe.links = links
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        recipe.files = files;
        recipe
    }

    fn file(path: &str, from: &str, mode: &str) -> RecipeFile {
        RecipeFile {
            path: path.into(),
            from: from.into(),
            mode: mode.into(),
            uid: 0,
            gid: 0,
        }
    }

    #[test]
    fn links_and_files_need_plain_paths_a_mode_and_a_file() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(
            check(&recipe(&[("/bin/sh", "busybox")], vec![]), dir),
            Ok(())
        );
        assert_eq!(
            check(
                &recipe(&[], vec![file("/sbin/x", "Cargo.toml", "0755")]),
                dir
            ),
            Ok(())
        );
        let field = |r: Recipe| check(&r, dir).unwrap_err().0;
        assert_eq!(
            field(recipe(&[("bin/sh", "busybox")], vec![])),
            "links.bin/sh"
        );
        assert_eq!(
            field(recipe(&[("/bin/../sh", "x")], vec![])),
            "links./bin/../sh"
        );
        assert_eq!(field(recipe(&[("/bin/sh", " ")], vec![])), "links./bin/sh");
        assert_eq!(
            field(recipe(&[], vec![file("/x", "Cargo.toml", "755x")])),
            "files[0].mode"
        );
        assert_eq!(
            field(recipe(&[], vec![file("/x", "Cargo.toml", "17777")])),
            "files[0].mode"
        );
        assert_eq!(
            field(recipe(&[], vec![file("/x", "no-such-file", "0644")])),
            "files[0].from"
        );
        assert_eq!(
            field(recipe(
                &[("/x", "y")],
                vec![file("/x", "Cargo.toml", "0644")]
            )),
            "files[0].path"
        );
    }

    #[test]
    fn a_recipe_without_additions_keeps_its_digest_input() {
        let json = serde_json::to_string(&recipe(&[], vec![])).unwrap();
        assert!(!json.contains("links") && !json.contains("files"), "{json}");
    }
}
