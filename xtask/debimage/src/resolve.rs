//! Dependency resolution: the package set of a [`Recipe`].
//!
//! Which version of a package is a candidate follows the suites' priorities (see
//! [`index`](crate::index)); within that, the rules below.
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

use crate::index::Index;
use crate::package::Package;
use crate::source::{Recipe, Resolution};
use crate::version::{compare_versions, format_group, parse_relations, Dep};

/// Alternatives chosen over the first one of their group. The layout is always merged
/// `/usr`, which is exactly what `usr-is-merged` declares; debootstrap installs it for the
/// same reason. Its alternative, `usrmerge` (first in `init-system-helpers`'
/// `usrmerge | usr-is-merged`), converts a split system and would pull in perl.
const PREFERRED: &[&str] = &["usr-is-merged"];

/// Resolves the package set of `recipe` against `index`; the result is sorted by name.
pub fn resolve(index: &Index, recipe: &Recipe) -> Result<Resolution> {
    let excluded: BTreeSet<&str> = recipe.exclude.iter().map(String::as_str).collect();
    if let Some(target) = &recipe.target_release {
        if index.suite(target).is_none() {
            bail!(
                "recipe `{}`: target release `{target}` is not a suite of the source ({})",
                recipe.name,
                index.source().suites.join(", ")
            );
        }
    }
    let mut state = State {
        index,
        target: recipe.target_release.as_deref(),
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
        // `name/suite` takes the root from that suite, as `apt-get install name/suite` does.
        let (root, suite) = match root.split_once('/') {
            Some((name, suite)) => (name, Some(suite)),
            None => (root, None),
        };
        if let Some(suite) = suite {
            if index.suite(suite).is_none() {
                bail!(
                    "package `{root}/{suite}` of recipe `{}`: `{suite}` is not a suite of the source ({})",
                    recipe.name,
                    index.source().suites.join(", ")
                );
            }
        }
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
        if let Some(suite) = suite {
            let Some(pkg) = index
                .versions(root)
                .find(|p| index.suite(suite).is_some_and(|s| s.name == p.suite))
            else {
                bail!(
                    "package `{root}` not found in suite {suite} (recipe `{}`)",
                    recipe.name
                );
            };
            if let Some(other) = state.chosen.get(root).filter(|c| **c != pkg) {
                bail!(
                    "recipe `{}` asks for {root} from {suite} ({}) and from {} ({})",
                    recipe.name,
                    pkg.version,
                    other.suite,
                    other.version
                );
            }
            state.choose(pkg);
            continue;
        }
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
    /// The recipe's target release, preferred over every other suite.
    target: Option<&'a str>,
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

    /// The package to install for `dep`, if there is one: the version of the real package of
    /// the highest suite priority, and among those the highest version, that satisfies it
    /// (unless another version is already chosen); else the best provider.
    fn candidate(&self, dep: &Dep) -> Option<&'a Package> {
        let usable = |p: &Package| {
            !self.excluded.contains(p.name.as_str())
                && self.chosen.get(p.name.as_str()).is_none_or(|c| *c == p)
        };
        let priority = |p: &Package| self.index.priority(p, self.target);
        // `versions` is highest first, and `min_by_key` keeps the first of equal keys.
        if let Some(p) = self
            .index
            .versions(&dep.name)
            .filter(|p| usable(p) && dep.accepts(Some(&p.version)))
            .min_by_key(|p| -priority(p))
        {
            return Some(p);
        }
        self.index
            .providers(&dep.name)
            .filter(|(p, v)| usable(p) && dep.accepts(*v))
            .map(|(p, _)| p)
            .min_by(|a, b| {
                (-priority(a), a.priority_rank(), &a.name)
                    .cmp(&(-priority(b), b.priority_rank(), &b.name))
                    .then_with(|| compare_versions(&b.version, &a.version))
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
    use super::*;
    use crate::index::SuiteInfo;
    use crate::source::Source;

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

    /// `stable` (500) and `stable-backports` (100), shaped like bookworm and its backports.
    fn two_suites() -> Index {
        let sha = "0".repeat(64);
        let text = |stanzas: &[&str]| -> String {
            stanzas
                .iter()
                .map(|s| format!("{s}\nArchitecture: amd64\nFilename: pool/x.deb\nSize: 1\nSHA256: {sha}\n\n"))
                .collect()
        };
        let suite = |name: &str, priority| SuiteInfo {
            name: name.into(),
            suite: None,
            codename: Some(name.into()),
            date: None,
            priority,
            signed_by: vec![],
        };
        let main = text(&[
            "Package: golang-go\nVersion: 2:1.19~1\nDepends: golang-1.19-go",
            "Package: golang-1.19-go\nVersion: 1.19.8-2",
            "Package: libc\nVersion: 2.36-9",
            "Package: tool\nVersion: 1.0-1\nDepends: libc",
        ]);
        let backports = text(&[
            "Package: golang-go\nVersion: 2:1.23~2~bpo12+1\nDepends: golang-1.23-go",
            "Package: golang-1.23-go\nVersion: 1.23.5-1~bpo12+1\nDepends: golang-1.23-src (>= 1.23.5-1~bpo12+1), libc (>= 2.36)",
            "Package: golang-1.23-src\nVersion: 1.23.5-1~bpo12+1",
            "Package: libc\nVersion: 2.40-1~bpo12+1",
            "Package: tool\nVersion: 2.0-1~bpo12+1\nDepends: libc (>= 2.40)",
            "Package: needs-new-libc\nVersion: 1\nDepends: libc (>= 2.40)",
        ]);
        let source = Source {
            suites: vec!["stable".into(), "stable-backports".into()],
            ..Source::default()
        };
        Index::new(
            source,
            vec![
                (suite("stable", 500), vec![main]),
                (suite("stable-backports", 100), vec![backports]),
            ],
        )
        .unwrap()
    }

    fn from(r: &Resolution) -> Vec<String> {
        r.packages
            .iter()
            .map(|p| format!("{}={} {}", p.name, p.version, p.suite))
            .collect()
    }

    #[test]
    fn backports_only_where_nothing_else_provides_or_where_asked() {
        let idx = two_suites();
        assert_eq!(idx.get("libc").unwrap().version, "2.36-9");
        // A package only backports has comes from there; everything else from stable.
        let r = resolve(&idx, &recipe(&["golang-1.23-go", "tool"])).unwrap();
        assert_eq!(
            from(&r),
            [
                "golang-1.23-go=1.23.5-1~bpo12+1 stable-backports",
                "golang-1.23-src=1.23.5-1~bpo12+1 stable-backports",
                "libc=2.36-9 stable",
                "tool=1.0-1 stable",
            ]
        );
        // Without a pin the metapackage stays at stable's version.
        let r = resolve(&idx, &recipe(&["golang-go"])).unwrap();
        assert_eq!(from(&r)[0], "golang-1.19-go=1.19.8-2 stable");
        // `name/suite` takes that root from that suite, its dependencies as usual.
        let r = resolve(&idx, &recipe(&["golang-go/stable-backports"])).unwrap();
        assert_eq!(
            from(&r),
            [
                "golang-1.23-go=1.23.5-1~bpo12+1 stable-backports",
                "golang-1.23-src=1.23.5-1~bpo12+1 stable-backports",
                "golang-go=2:1.23~2~bpo12+1 stable-backports",
                "libc=2.36-9 stable",
            ]
        );
        // A versioned dependency that only backports meets falls back to backports.
        let r = resolve(&idx, &recipe(&["needs-new-libc"])).unwrap();
        assert!(from(&r).contains(&"libc=2.40-1~bpo12+1 stable-backports".to_string()));
    }

    #[test]
    fn a_target_release_prefers_every_package_it_has() {
        let idx = two_suites();
        let mut rec = recipe(&["tool", "golang-go"]);
        rec.target_release = Some("stable-backports".into());
        let r = resolve(&idx, &rec).unwrap();
        assert!(
            r.packages.iter().all(|p| p.suite == "stable-backports"),
            "{:?}",
            from(&r)
        );
        assert!(from(&r).contains(&"tool=2.0-1~bpo12+1 stable-backports".to_string()));

        rec.target_release = Some("sid".into());
        let err = resolve(&idx, &rec).unwrap_err().to_string();
        assert!(err.contains("target release `sid` is not a suite"), "{err}");
        let err = resolve(&idx, &recipe(&["tool/sid"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`sid` is not a suite of the source"), "{err}");
        let err = resolve(&idx, &recipe(&["golang-1.19-go/stable-backports"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not found in suite stable-backports"), "{err}");
    }
}
