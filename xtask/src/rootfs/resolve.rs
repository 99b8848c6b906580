//! Dependency resolution: the package set of a [`Recipe`].
//!
//! The resolver is deliberately simple and deterministic, like the ones of distroless and
//! apko rather than apt's: it walks `Pre-Depends` and `Depends` breadth first from the
//! roots, never backtracks, and for each group of alternatives keeps the first one already
//! satisfied by a chosen package, or else chooses the first satisfiable alternative (with
//! the exception of [`PREFERRED`] packages, chosen first when they are an alternative). A real
//! package is preferred to a provider of a virtual name; among providers, the most
//! important priority and then the name decide. `Recommends` and `Suggests` are ignored
//! (like `--no-install-recommends`), and `Conflicts`/`Breaks` among the chosen packages are
//! reported as notes, not resolved.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use anyhow::{bail, Context, Result};

use super::index::{Index, Package};
use super::version::{format_group, parse_relations, Dep};
use super::{Recipe, Resolution};

/// Alternatives chosen over the first one of their group. The layout is always merged
/// `/usr`, which is exactly what `usr-is-merged` declares; debootstrap installs it for the
/// same reason. Its alternative, `usrmerge` (first in `init-system-helpers`'
/// `usrmerge | usr-is-merged`), converts a split system and would pull in perl.
const PREFERRED: &[&str] = &["usr-is-merged"];

/// Resolves the package set of `recipe` against `index`; the result is sorted by name.
pub fn resolve(index: &Index, recipe: &Recipe) -> Result<Resolution> {
    let excluded: BTreeSet<&str> = recipe.exclude.iter().map(String::as_str).collect();
    let mut state = State {
        index,
        excluded: &excluded,
        chosen: BTreeMap::new(),
        queue: VecDeque::new(),
        notes: Vec::new(),
    };

    let mut roots: Vec<&str> = recipe.packages.iter().map(String::as_str).collect();
    if recipe.required {
        let required: BTreeSet<&str> = index
            .packages()
            .iter()
            .filter(|p| p.priority.as_deref() == Some("required"))
            .map(|p| p.name.as_str())
            .collect();
        roots.extend(required);
    }
    for root in roots {
        if excluded.contains(root) {
            if recipe.packages.iter().any(|p| p == root) {
                bail!(
                    "package `{root}` is both a root and excluded in recipe `{}`",
                    recipe.name
                );
            }
            state
                .notes
                .push(format!("required package {root} excluded"));
            continue;
        }
        let dep = Dep {
            name: root.to_string(),
            arch: None,
            constraint: None,
        };
        if state.satisfied(&dep) {
            continue;
        }
        let Some(pkg) = state.candidate(&dep) else {
            bail!(
                "package `{root}` not found in the index (recipe `{}`)",
                recipe.name
            );
        };
        state.choose(pkg);
    }

    if recipe.dependencies {
        while let Some(pkg) = state.queue.pop_front() {
            for (field, text) in [("Pre-Depends", &pkg.pre_depends), ("Depends", &pkg.depends)] {
                let groups = parse_relations(text)
                    .with_context(|| format!("{field} of {} {}", pkg.name, pkg.version))?;
                for group in groups {
                    state.satisfy(pkg, field, &group)?;
                }
            }
        }
    }

    state.report_conflicts()?;
    let State { chosen, notes, .. } = state;
    Ok(Resolution {
        name: recipe.name.clone(),
        packages: chosen.into_values().cloned().collect(),
        notes,
        source: index.source().clone(),
        drop_docs: recipe.drop_docs,
        local_ca_certificates: recipe.local_ca_certificates.clone(),
    })
}

struct State<'a> {
    index: &'a Index,
    excluded: &'a BTreeSet<&'a str>,
    chosen: BTreeMap<&'a str, &'a Package>,
    queue: VecDeque<&'a Package>,
    notes: Vec<String>,
}

impl<'a> State<'a> {
    fn choose(&mut self, pkg: &'a Package) {
        if self.chosen.insert(&pkg.name, pkg).is_none() {
            self.queue.push_back(pkg);
        }
    }

    /// Whether a chosen package satisfies `dep`, by name and version or through `Provides`.
    fn satisfied(&self, dep: &Dep) -> bool {
        if let Some(p) = self.chosen.get(dep.name.as_str()) {
            if dep.accepts(Some(&p.version)) {
                return true;
            }
        }
        self.index
            .providers(&dep.name)
            .any(|(p, v)| self.chosen.get(p.name.as_str()) == Some(&p) && dep.accepts(v))
    }

    /// The package to install for `dep`, if there is one: the highest version of the real
    /// package that satisfies it (unless another version is already chosen), else the best
    /// provider.
    fn candidate(&self, dep: &Dep) -> Option<&'a Package> {
        let usable = |p: &Package| {
            !self.excluded.contains(p.name.as_str())
                && self.chosen.get(p.name.as_str()).is_none_or(|c| *c == p)
        };
        if let Some(p) = self
            .index
            .versions(&dep.name)
            .find(|p| usable(p) && dep.accepts(Some(&p.version)))
        {
            return Some(p);
        }
        self.index
            .providers(&dep.name)
            .filter(|(p, v)| usable(p) && dep.accepts(*v))
            .map(|(p, _)| p)
            .min_by(|a, b| {
                (a.priority_rank(), &a.name)
                    .cmp(&(b.priority_rank(), &b.name))
                    .then_with(|| super::compare_versions(&b.version, &a.version))
            })
    }

    /// Makes sure one alternative of `group` (a dependency of `pkg`) is installed.
    fn satisfy(&mut self, pkg: &Package, field: &str, group: &[Dep]) -> Result<()> {
        let allowed = |d: &&Dep| !self.excluded.contains(d.name.as_str());
        if group.iter().filter(allowed).any(|d| self.satisfied(d)) {
            return Ok(());
        }
        let preferred = group
            .iter()
            .filter(|d| PREFERRED.contains(&d.name.as_str()));
        let others = group
            .iter()
            .filter(|d| !PREFERRED.contains(&d.name.as_str()));
        for dep in preferred.chain(others).filter(allowed) {
            if let Some(choice) = self.candidate(dep) {
                self.choose(choice);
                return Ok(());
            }
        }
        // The excluded packages that would have satisfied the group, by name or Provides.
        let mut cut = BTreeSet::new();
        for dep in group {
            let real = self
                .index
                .versions(&dep.name)
                .map(|p| (p, Some(p.version.as_str())));
            for (p, v) in real.chain(self.index.providers(&dep.name)) {
                if self.excluded.contains(p.name.as_str()) && dep.accepts(v) {
                    cut.insert(p.name.as_str());
                }
            }
        }
        if !cut.is_empty() {
            self.notes.push(format!(
                "{} {}: {field} `{}` cut (excluded: {})",
                pkg.name,
                pkg.version,
                format_group(group),
                cut.into_iter().collect::<Vec<_>>().join(", ")
            ));
            return Ok(());
        }
        let why = group
            .iter()
            .map(|d| match self.chosen.get(d.name.as_str()) {
                Some(c) => format!("{} {} is already chosen", c.name, c.version),
                None => match self.index.get(&d.name) {
                    Some(p) => format!("the index has {} {}", p.name, p.version),
                    None => format!("no package provides {}", d.name),
                },
            })
            .collect::<Vec<_>>()
            .join("; ");
        bail!(
            "unsatisfiable dependency of package `{}` {}: {field} `{}` ({why})",
            pkg.name,
            pkg.version,
            format_group(group)
        )
    }

    /// Notes `Conflicts` and `Breaks` among the chosen packages.
    fn report_conflicts(&mut self) -> Result<()> {
        let mut notes = Vec::new();
        for pkg in self.chosen.values() {
            for (field, text) in [("Conflicts", &pkg.conflicts), ("Breaks", &pkg.breaks)] {
                let groups = parse_relations(text)
                    .with_context(|| format!("{field} of {} {}", pkg.name, pkg.version))?;
                for dep in groups.iter().flatten() {
                    let hit = match self.chosen.get(dep.name.as_str()) {
                        Some(other) if other.name != pkg.name => dep
                            .accepts(Some(&other.version))
                            .then(|| other.name.clone()),
                        _ => None,
                    };
                    let hit = hit.or_else(|| {
                        self.index
                            .providers(&dep.name)
                            .find(|(p, v)| {
                                p.name != pkg.name
                                    && self.chosen.get(p.name.as_str()) == Some(p)
                                    && dep.accepts(*v)
                            })
                            .map(|(p, _)| p.name.clone())
                    });
                    if let Some(other) = hit {
                        notes.push(format!(
                            "{} {field} `{dep}`, satisfied by {other}",
                            pkg.name
                        ));
                    }
                }
            }
        }
        self.notes.extend(notes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Source;
    use super::*;

    fn index(stanzas: &[&str]) -> Index {
        let sha = "0".repeat(64);
        let text: String = stanzas
            .iter()
            .map(|s| {
                let name = s.lines().next().unwrap().trim_start_matches("Package: ");
                format!(
                    "{s}\nArchitecture: amd64\nFilename: pool/{name}.deb\nSize: 100\nSHA256: {sha}\n\n"
                )
            })
            .collect();
        Index::from_packages_texts(Source::default(), &[&text]).unwrap()
    }

    fn recipe(packages: &[&str]) -> Recipe {
        Recipe {
            name: "test".into(),
            packages: packages.iter().map(|s| s.to_string()).collect(),
            dependencies: true,
            ..Recipe::default()
        }
    }

    fn names(r: &Resolution) -> Vec<String> {
        r.packages
            .iter()
            .map(|p| format!("{}={}", p.name, p.version))
            .collect()
    }

    fn sample() -> Index {
        index(&[
            "Package: app\nVersion: 1.0\nDepends: libc (>= 2.0), mta | exim, awk, old (<< 2)\nPre-Depends: base",
            "Package: libc\nVersion: 2.1\nPriority: required\nDepends: libgcc-s1 | libgcc1",
            "Package: libc\nVersion: 1.9",
            "Package: libgcc1\nVersion: 1",
            "Package: libgcc-s1\nVersion: 12\nBreaks: libc (<< 2.1)",
            "Package: postfix\nVersion: 3\nProvides: mta\nPriority: optional",
            "Package: exim\nVersion: 4\nProvides: mta\nPriority: standard",
            "Package: mawk\nVersion: 1.3\nProvides: awk\nPriority: required",
            "Package: gawk\nVersion: 5\nProvides: awk\nPriority: optional",
            "Package: old\nVersion: 3\nProvides: old (= 1.5)",
            "Package: base\nVersion: 1\nPriority: required\nConflicts: gawk",
            "Package: needy\nVersion: 1\nDepends: libc (>= 3)",
            "Package: picky\nVersion: 1\nDepends: libc (= 1.9)",
        ])
    }

    #[test]
    fn closure_with_alternatives_provides_and_versions() {
        let idx = sample();
        let r = resolve(&idx, &recipe(&["app"])).unwrap();
        // `mta | exim`: the virtual mta's best provider is exim (standard beats optional);
        // `awk` goes to mawk (required); `old (<< 2)` is met by old's versioned Provides.
        assert_eq!(
            names(&r),
            [
                "app=1.0",
                "base=1",
                "exim=4",
                "libc=2.1",
                "libgcc-s1=12",
                "mawk=1.3",
                "old=3"
            ]
        );
        assert!(r.notes.is_empty(), "{:?}", r.notes);
        // The same input gives the same output.
        assert_eq!(names(&resolve(&idx, &recipe(&["app"])).unwrap()), names(&r));
    }

    #[test]
    fn prefers_an_alternative_already_chosen() {
        let idx = sample();
        // libgcc1 is a root, so `libgcc-s1 | libgcc1` is already satisfied by it.
        let r = resolve(&idx, &recipe(&["libgcc1", "libc"])).unwrap();
        assert_eq!(names(&r), ["libc=2.1", "libgcc1=1"]);
        // gawk chosen first satisfies `awk`, and base's Conflicts is reported.
        let r = resolve(&idx, &recipe(&["gawk", "app"])).unwrap();
        assert!(names(&r).contains(&"gawk=5".to_string()));
        assert!(!names(&r).contains(&"mawk=1.3".to_string()));
        assert_eq!(r.notes, ["base Conflicts `gawk`, satisfied by gawk"]);
    }

    #[test]
    fn version_constraints_pick_older_versions() {
        let idx = sample();
        let r = resolve(&idx, &recipe(&["picky"])).unwrap();
        assert_eq!(names(&r), ["libc=1.9", "picky=1"]);
    }

    #[test]
    fn unsatisfiable_constraint_names_package_and_dependency() {
        let idx = sample();
        let err = resolve(&idx, &recipe(&["needy"])).unwrap_err().to_string();
        assert!(err.contains("`needy`"), "{err}");
        assert!(err.contains("libc (>= 3)"), "{err}");
        let err = resolve(&idx, &recipe(&["picky", "needy"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("libc 1.9 is already chosen"), "{err}");
        let err = resolve(&idx, &recipe(&["nope"])).unwrap_err().to_string();
        assert!(err.contains("`nope` not found"), "{err}");
    }

    #[test]
    fn exclusions_cut_edges_and_are_reported() {
        let idx = sample();
        let mut rec = recipe(&["app"]);
        rec.exclude = vec!["exim".into(), "postfix".into(), "base".into()];
        let r = resolve(&idx, &rec).unwrap();
        assert!(!names(&r).iter().any(|n| n.starts_with("exim")));
        assert!(!names(&r).iter().any(|n| n.starts_with("base")));
        assert_eq!(
            r.notes,
            [
                "app 1.0: Pre-Depends `base` cut (excluded: base)",
                "app 1.0: Depends `mta | exim` cut (excluded: exim, postfix)"
            ]
        );
        rec.packages.push("base".into());
        assert!(resolve(&idx, &rec).is_err());
    }

    #[test]
    fn usr_is_merged_is_preferred() {
        let idx = index(&[
            "Package: init-system-helpers\nVersion: 1\nPre-Depends: usrmerge | usr-is-merged",
            "Package: usrmerge\nVersion: 1\nDepends: perl",
            "Package: usr-is-merged\nVersion: 1",
            "Package: perl\nVersion: 1",
        ]);
        let r = resolve(&idx, &recipe(&["init-system-helpers"])).unwrap();
        assert_eq!(names(&r), ["init-system-helpers=1", "usr-is-merged=1"]);
    }

    #[test]
    fn no_dependencies_and_required() {
        let idx = sample();
        let mut rec = recipe(&["app"]);
        rec.dependencies = false;
        assert_eq!(names(&resolve(&idx, &rec).unwrap()), ["app=1.0"]);
        let rec = Recipe {
            required: true,
            dependencies: true,
            ..Recipe::default()
        };
        let r = resolve(&idx, &rec).unwrap();
        assert_eq!(
            names(&r),
            ["base=1", "libc=2.1", "libgcc-s1=12", "mawk=1.3"]
        );
    }
}
