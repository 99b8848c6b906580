//! Several suites with the real indexes: a Go toolchain from bookworm-backports, everything
//! else from bookworm.

use debimage::{compare_versions, resolve, Recipe, Resolution};

use crate::support::{cache, debian, index_with_events};

const BACKPORTS: &str = "bookworm-backports";

fn recipe(packages: &[&str]) -> Recipe {
    Recipe {
        name: "go".into(),
        packages: packages.iter().map(|s| s.to_string()).collect(),
        dependencies: true,
        ..Recipe::default()
    }
}

fn suite_of<'a>(res: &'a Resolution, name: &str) -> &'a str {
    &res.packages.iter().find(|p| p.name == name).unwrap().suite
}

#[tokio::test]
async fn a_go_toolchain_comes_from_backports_and_everything_else_from_bookworm() {
    let (index, _) = index_with_events(&debian(&["bookworm", BACKPORTS]), &cache())
        .await
        .unwrap();
    // Backports is `NotAutomatic` with `ButAutomaticUpgrades`, as its signed Release says.
    assert_eq!(index.suite(BACKPORTS).unwrap().priority, 100);
    assert_eq!(index.suite("bookworm").unwrap().priority, 500);

    // The newest Go toolchain of backports (golang-1.23-go when this was written).
    let go = index
        .packages()
        .iter()
        .filter(|p| p.suite == BACKPORTS)
        .filter(|p| {
            p.name
                .strip_prefix("golang-1.")
                .and_then(|r| r.strip_suffix("-go"))
                .is_some_and(|minor| minor.parse::<u32>().is_ok())
        })
        .max_by(|a, b| compare_versions(&a.version, &b.version))
        .expect("bookworm-backports has a golang-1.x-go");
    assert!(go.version.contains("~bpo12"), "{}", go.version);
    let minor: u32 = go.name["golang-1.".len()..go.name.len() - 3]
        .parse()
        .unwrap();
    assert!(minor >= 21, "{}", go.name);
    // bookworm itself has no such toolchain.
    assert!(index.versions(&go.name).all(|p| p.suite == BACKPORTS));

    let res = resolve(&index, &recipe(&[&go.name, "ca-certificates"])).unwrap();
    let src = format!("golang-1.{minor}-src");
    assert_eq!(suite_of(&res, &go.name), BACKPORTS);
    assert_eq!(suite_of(&res, &src), BACKPORTS);
    for p in &res.packages {
        if p.name != go.name && p.name != src {
            assert_eq!(p.suite, "bookworm", "{} {}", p.name, p.version);
        }
    }

    // `golang-go` is bookworm's 1.19 unless asked for from backports.
    let res = resolve(&index, &recipe(&["golang-go"])).unwrap();
    assert_eq!(suite_of(&res, "golang-go"), "bookworm");
    assert!(res.packages.iter().any(|p| p.name == "golang-1.19-go"));
    let res = resolve(&index, &recipe(&["golang-go/bookworm-backports"])).unwrap();
    assert_eq!(suite_of(&res, "golang-go"), BACKPORTS);
    assert!(res.packages.iter().all(|p| p.name != "golang-1.19-go"));
    assert_eq!(suite_of(&res, "golang-src"), BACKPORTS);

    // `-t bookworm-backports`: every package backports has comes from it.
    let mut targeted = recipe(&["golang-go"]);
    targeted.target_release = Some(BACKPORTS.into());
    let res = resolve(&index, &targeted).unwrap();
    for p in &res.packages {
        let in_backports = index.versions(&p.name).any(|v| v.suite == BACKPORTS);
        assert_eq!(
            p.suite == BACKPORTS,
            in_backports,
            "{} {}",
            p.name,
            p.version
        );
    }
}
