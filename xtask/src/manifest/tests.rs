//! Unit tests of the manifest: positions, wording, validation, and the table of bad manifests
//! that the binary refuses with exit code 2.

use std::path::{Path, PathBuf};

use yaml_rust2::parser::{Event, Parser};

use super::messages::strip_location;
use super::positions::{Pos, Shape, Spots};
use super::validate::valid_name;
use super::*;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("docker")
}

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse_located(text, &dir().join("images.yaml"))
}

/// The line, the column and the message of the error `text` gives.
fn fails(text: &str) -> (usize, usize, String) {
    let err = parse(text).expect_err("the manifest should be refused");
    (
        err.line.expect("a line"),
        err.column.expect("a column"),
        err.message,
    )
}

/// Asserts that `text` fails at `line`:`column` with a message that starts with `start`.
#[track_caller]
fn assert_fails(text: &str, line: usize, column: usize, start: &str) {
    let (l, c, message) = fails(text);
    assert!(
        message.starts_with(start),
        "message {message:?} does not start with {start:?}"
    );
    assert_eq!((l, c), (line, column), "{message}");
}

const MINIMAL: &str = "repository: webtest\nvariants:\n  simples: { dockerfile: docker/Dockerfile.simples, run: true }\n";

/// MINIMAL with `tail` appended, which therefore starts on line 4.
fn with(tail: &str) -> String {
    format!("{MINIMAL}{tail}")
}

#[test]
fn the_project_manifest_parses_and_names_existing_dockerfiles() {
    let path = dir().join("images.yaml");
    let manifest = Manifest::load(&path).unwrap();
    assert_eq!(manifest.repository, "webtest");
    for name in ["simples", "multistage", "target"] {
        assert!(
            manifest.variants.contains_key(name),
            "variant {name} missing"
        );
    }
    assert_eq!(
        manifest.variants["target"].target.as_deref(),
        Some("builder")
    );
    assert!(manifest.budgets.contains(&Budget::Smaller {
        image: "multistage".into(),
        than: "simples".into()
    }));
    for variant in manifest.variants.values() {
        assert!(manifest.context.join(&variant.dockerfile).is_file());
    }
}

#[test]
fn defaults_fill_what_is_left_out() {
    let m = parse(MINIMAL).unwrap();
    assert_eq!(m.port, 8080);
    assert_eq!(m.run.starts, 3);
    assert_eq!(m.run.load.requests, 2000);
    assert_eq!(m.debian.suite, "bookworm");
    assert_eq!(m.tag("simples"), "webtest:simples");
    assert!(m.variants["simples"].hardened, "hardened by default");
    let text = MINIMAL.replace("run: true", "run: true, hardened: false");
    assert!(!parse(&text).unwrap().variants["simples"].hardened);
}

#[test]
fn markers_count_columns_from_zero() {
    // yaml-rust2 documents its columns as 1-based; they are not, and Pos::of relies on it.
    let mut parser = Parser::new_from_str("key: value\n");
    let marker = std::iter::from_fn(|| parser.next_token().ok())
        .find(|(event, _)| matches!(event, Event::Scalar(text, ..) if text == "value"))
        .map(|(_, marker)| marker)
        .unwrap();
    assert_eq!((marker.line(), marker.col()), (1, 5));
    let pos = Pos::of(&marker);
    assert_eq!((pos.line, pos.column), (1, 6));
}

#[test]
fn spots_give_every_key_and_value_its_line_and_column() {
    let text = "\
repository: webtest
variants:
  simples: { dockerfile: docker/Dockerfile.simples, run: true }
  slim:
    dockerfile: docker/Dockerfile.multistage
budgets:
  - smaller: { image: slim, than: simples }
  - max_size: { image: slim, bytes: 3 MB }
probe:
- path: /
";
    let spots = Spots::read(text).unwrap();
    let at = |pos: Option<Pos>| pos.map(|pos| (pos.line, pos.column));
    assert_eq!(at(spots.value("")), Some((1, 1)));
    assert_eq!(at(spots.key("repository")), Some((1, 1)));
    assert_eq!(at(spots.value("repository")), Some((1, 13)));
    assert_eq!(at(spots.key("variants.simples")), Some((3, 3)));
    assert_eq!(at(spots.value("variants.simples")), Some((3, 12)));
    assert_eq!(at(spots.key("variants.simples.dockerfile")), Some((3, 14)));
    assert_eq!(
        at(spots.value("variants.simples.dockerfile")),
        Some((3, 26))
    );
    // A block mapping starts at its first key.
    assert_eq!(at(spots.value("variants.slim")), Some((5, 5)));
    assert_eq!(at(spots.value("variants.slim.dockerfile")), Some((5, 17)));
    assert_eq!(at(spots.value("budgets")), Some((7, 3)));
    assert_eq!(at(spots.value("budgets[1]")), Some((8, 5)));
    assert_eq!(at(spots.key("budgets[1].max_size")), Some((8, 5)));
    assert_eq!(at(spots.value("budgets[1].max_size.bytes")), Some((8, 37)));
    assert_eq!(spots.text("budgets[1].max_size.bytes"), Some("3 MB"));
    assert_eq!(at(spots.value("probe[0].path")), Some((10, 9)));
    // A field left out points at the nearest enclosing key that is written.
    let near = spots.near("budgets[1].max_size.ratio");
    assert_eq!((near.line, near.column), (8, 5));
    assert!(spots.duplicate.is_none());
    assert_eq!(spots.root, Some(Shape::Mapping));
}

#[test]
fn an_unknown_field_names_the_line_the_column_and_the_field() {
    let text = "repository: webtest\nvariants:\n  simples: { dockerfile: docker/Dockerfile.simples, runn: true }\n";
    let err = parse(text).unwrap_err();
    assert_eq!((err.line, err.column), (Some(3), Some(53)));
    assert!(
        err.message
            .starts_with("variants.simples.runn: unknown field, expected one of `dockerfile`"),
        "{}",
        err.message
    );
    assert!(err
        .to_string()
        .starts_with(&format!("{}:3:53: ", dir().join("images.yaml").display())));
}

#[test]
fn an_unknown_budget_kind_is_an_error() {
    let text = with("budgets:\n  - max_sise: { image: simples, bytes: 1 }\n");
    assert_fails(
        &text,
        5,
        5,
        "budgets[0].max_sise: unknown kind, expected one of `smaller`",
    );
}

#[test]
fn a_budget_naming_an_unknown_variant_is_located() {
    let text = with("budgets:\n  - max_size: { image: simples, bytes: 1 }\n  - max_size: { image: nope, bytes: 1 }\n");
    assert_fails(
        &text,
        6,
        24,
        "budgets[1].max_size.image: no variant `nope` (known: simples)",
    );
    let text = with("budgets:\n  - smaller: { image: simples, than: nope }\n");
    assert_fails(&text, 5, 38, "budgets[0].smaller.than: no variant `nope`");
}

#[test]
fn a_structure_test_naming_an_unknown_variant_is_located() {
    let text = with("structure:\n  - file: { image: simples, path: /x, exists: true }\n  - file: { image: nope, path: /x, exists: true }\n");
    assert_fails(&text, 6, 20, "structure[1].file.image: no variant `nope`");
}

#[test]
fn a_missing_dockerfile_or_a_directory_is_an_error() {
    let text = "repository: webtest\nvariants:\n  simples: { dockerfile: docker/Nope }\n";
    assert_fails(
        text,
        3,
        26,
        "variants.simples.dockerfile: `docker/Nope` does not exist",
    );
    let text = "repository: webtest\nvariants:\n  simples: { dockerfile: docker }\n";
    assert_fails(
        text,
        3,
        26,
        "variants.simples.dockerfile: `docker` is a directory",
    );
}

#[test]
fn an_empty_target_is_an_error() {
    let text = MINIMAL.replace("run: true", "target: '', run: true");
    assert_fails(&text, 3, 61, "variants.simples.target: empty;");
}

#[test]
fn a_base_with_an_unknown_recipe_is_an_error() {
    let text = with("bases:\n  RUST_IMAGE: { image: rust:1, offline: nope }\n");
    assert_fails(&text, 5, 41, "bases.RUST_IMAGE.offline: no recipe `nope`");
}

/// A recipe at line 5 (`recipes:` at line 4) whose `suites:` line (line 7) is `suites`.
fn with_suites(suites: &str) -> String {
    with(&format!(
        "recipes:\n  go:\n    image: webtest-base/go\n    suites: {suites}\n    packages: [golang-1.23-go]\n"
    ))
}

#[test]
fn a_recipe_may_name_its_own_suites() {
    let m = parse(&with_suites("[bookworm, bookworm-backports]")).unwrap();
    assert_eq!(
        m.recipes["go"].suites.as_deref(),
        Some(&["bookworm".to_string(), "bookworm-backports".to_string()][..])
    );
    // Written out in block style, and one suite alone, are as good.
    let m = parse(&with_suites("\n      - trixie\n      - trixie-backports")).unwrap();
    assert_eq!(
        m.recipes["go"].suites,
        Some(vec!["trixie".into(), "trixie-backports".into()])
    );
    let m = parse(&with_suites("[sid]")).unwrap();
    assert_eq!(m.recipes["go"].suites, Some(vec!["sid".into()]));
    // Left out, the recipe takes `debian.suite`, and says nothing of its own.
    let text = with("recipes:\n  go: { image: webtest-base/go, packages: [dash] }\n");
    let m = parse(&text).unwrap();
    assert_eq!(m.recipes["go"].suites, None);
    assert_eq!(m.debian.suite, "bookworm");
    // The Go app's toolchain takes Go 1.23 from bookworm-backports.
    let go = Manifest::load(&dir().join("go.yaml")).unwrap();
    let toolchain = &go.recipes["go-toolchain"];
    assert_eq!(
        toolchain.suites,
        Some(vec!["bookworm".into(), "bookworm-backports".into()])
    );
    assert!(toolchain.packages.contains(&"golang-1.23-go".to_string()));
    assert!(toolchain
        .env
        .iter()
        .any(|e| e.starts_with("PATH=") && e.contains(":/usr/lib/go-1.23/bin:")));
}

#[test]
fn suites_that_name_no_suite_are_errors_that_point_at_the_suite() {
    assert_fails(
        &with_suites("[]"),
        7,
        13,
        "recipes.go.suites: an empty list; name at least one suite",
    );
    assert_fails(
        &with_suites("[bookworm, Bookworm-Backports]"),
        7,
        24,
        "recipes.go.suites[1]: `Bookworm-Backports` is not a Debian suite; use lowercase letters",
    );
    assert_fails(
        &with_suites("[bookworm, bookworm/updates]"),
        7,
        24,
        "recipes.go.suites[1]: `bookworm/updates` is not a Debian suite",
    );
    assert_fails(
        &with_suites("[bookworm, '']"),
        7,
        24,
        "recipes.go.suites[1]: an empty value is not a Debian suite",
    );
    assert_fails(
        &with_suites("\n      - bookworm\n      - -backports"),
        9,
        9,
        "recipes.go.suites[1]: `-backports` is not a Debian suite",
    );
    assert_fails(
        &with_suites("[bookworm, bookworm-backports, bookworm]"),
        7,
        44,
        "recipes.go.suites[2]: `bookworm` is named twice (first as recipes.go.suites[0]); name each suite once",
    );
    // As the binary prints it: the file, the line, the column and the field, on one line.
    let path = dir().join("images.yaml");
    let err = Manifest::parse(&with_suites("[bookworm, Bookworm]"), &path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:7:24: recipes.go.suites[1]: `Bookworm` is not a Debian suite; use lowercase \
             letters, digits, `.`, `_` and `-`, such as `bookworm` or `bookworm-backports`",
            path.display()
        )
    );
    assert!(err.downcast_ref::<UsageError>().is_some(), "exit code 2");
    assert_fails(
        &with("debian: { suite: 'bookworm backports' }\n"),
        4,
        18,
        "debian.suite: `bookworm backports` is not a Debian suite",
    );
}

#[test]
fn suites_of_the_wrong_type_say_what_is_allowed() {
    assert_fails(
        &with_suites("bookworm-backports"),
        7,
        13,
        "recipes.go.suites: `bookworm-backports` is not allowed; expected a list of Debian suites, such as [bookworm, bookworm-backports]",
    );
    assert_fails(
        &with_suites("[bookworm, { backports: true }]"),
        7,
        24,
        "recipes.go.suites[1]: a mapping is not allowed; expected the name of a Debian suite",
    );
    assert_fails(
        &with("recipes:\n  go: { image: webtest-base/go, packages: [dash], suite: bookworm }\n"),
        5,
        51,
        "recipes.go.suite: unknown field",
    );
}

/// MINIMAL with `fields` added to its one variant, e.g. `tmpfs: [/tmp]`.
fn with_variant_fields(fields: &str) -> String {
    MINIMAL.replace("run: true }", &format!("run: true, {fields} }}"))
}

/// Asserts that `text` fails where `at` points (see [`position`]) with a message that starts
/// with `start`.
#[track_caller]
fn assert_fails_at(text: &str, at: &str, start: &str) {
    let (line, column) = position(text, at).unwrap();
    assert_fails(text, line, column, start);
}

#[test]
fn a_variant_may_give_a_hardened_run_tmpfs_paths() {
    let m = parse(MINIMAL).unwrap();
    assert!(m.variants["simples"].tmpfs.is_empty(), "none by default");
    let m = parse(&with_variant_fields("tmpfs: [/tmp, /var/cache/nginx]")).unwrap();
    assert_eq!(m.variants["simples"].tmpfs, ["/tmp", "/var/cache/nginx"]);
    assert!(m.variants["simples"].hardened);
    // As a block list, and with `hardened: true` written out.
    let text = MINIMAL.replace(
        "  simples: { dockerfile: docker/Dockerfile.simples, run: true }\n",
        "  simples:\n    dockerfile: docker/Dockerfile.simples\n    run: true\n    hardened: true\n    tmpfs:\n      - /run\n",
    );
    assert_eq!(parse(&text).unwrap().variants["simples"].tmpfs, ["/run"]);
    // An empty list is the same as none.
    let m = parse(&with_variant_fields("tmpfs: []")).unwrap();
    assert!(m.variants["simples"].tmpfs.is_empty());
    // The front-end's nginx runs hardened, writing only to its tmpfs at /tmp.
    let frontend = Manifest::load(&dir().join("frontend.yaml")).unwrap();
    let multistage = &frontend.variants["multistage"];
    assert!(multistage.run && multistage.hardened);
    assert_eq!(multistage.tmpfs, ["/tmp"]);
}

#[test]
fn tmpfs_paths_that_make_no_sense_are_errors_that_point_at_the_path() {
    assert_fails_at(
        &with_variant_fields("tmpfs: [/tmp, tmp]"),
        "/tmp, ^tmp]",
        "variants.simples.tmpfs[1]: `tmp` is not an absolute path; write it from the root, such as /tmp",
    );
    assert_fails_at(
        &with_variant_fields("tmpfs: ['']"),
        "^'']",
        "variants.simples.tmpfs[0]: an empty value is not an absolute path",
    );
    assert_fails_at(
        &with_variant_fields("tmpfs: [/]"),
        "[^/]",
        "variants.simples.tmpfs[0]: `/` is the root filesystem itself, which stays read-only; \
         name a folder below it, such as /tmp",
    );
    assert_fails_at(
        &with_variant_fields("tmpfs: [/., /tmp]"),
        "^/.,",
        "variants.simples.tmpfs[0]: `/.` is the root filesystem itself",
    );
    assert_fails_at(
        &with_variant_fields("tmpfs: [/tmp/../etc]"),
        "^/tmp/../etc",
        "variants.simples.tmpfs[0]: `/tmp/../etc` holds a `..`; name the folder itself, such as /tmp",
    );
    assert_fails_at(
        &with_variant_fields("tmpfs: [/tmp, /run, /tmp]"),
        "/run, ^/tmp",
        "variants.simples.tmpfs[2]: `/tmp` is named twice (first as variants.simples.tmpfs[0]); \
         name each path once",
    );
    // A trailing slash names the same folder.
    assert_fails_at(
        &with_variant_fields("tmpfs: [/tmp, /tmp/]"),
        "^/tmp/]",
        "variants.simples.tmpfs[1]: `/tmp/` is named twice (first as variants.simples.tmpfs[0])",
    );
    // As the binary prints it: the file, the line, the column and the field, on one line.
    let path = dir().join("images.yaml");
    let err = Manifest::parse(&with_variant_fields("tmpfs: [tmp]"), &path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:3:72: variants.simples.tmpfs[0]: `tmp` is not an absolute path; write it from \
             the root, such as /tmp",
            path.display()
        )
    );
    assert!(err.downcast_ref::<UsageError>().is_some(), "exit code 2");
}

#[test]
fn tmpfs_is_only_for_a_variant_that_runs_hardened() {
    assert_fails_at(
        &with_variant_fields("hardened: false, tmpfs: [/tmp]"),
        "tmpfs: ^[/tmp]",
        "variants.simples.tmpfs: a tmpfs is mounted only in a hardened run, and this variant \
         has `hardened: false` (its root filesystem is writable)",
    );
    let text = with_variant_fields("tmpfs: [/tmp]").replace("run: true", "run: false");
    assert_fails_at(
        &text,
        "tmpfs: ^[/tmp]",
        "variants.simples.tmpfs: a tmpfs is mounted only when the variant runs, and this one has \
         `run: false`",
    );
}

#[test]
fn tmpfs_of_the_wrong_type_says_what_is_allowed() {
    assert_fails_at(
        &with_variant_fields("tmpfs: /tmp"),
        "tmpfs: ^/tmp",
        "variants.simples.tmpfs: `/tmp` is not allowed; expected a list of absolute paths, such as [/tmp]",
    );
    assert_fails_at(
        &with_variant_fields("tmpfs: [{ path: /tmp }]"),
        "[^{ path",
        "variants.simples.tmpfs[0]: a mapping is not allowed; expected an absolute path, such as /tmp",
    );
    assert_fails_at(
        &with_variant_fields("tmpfs: [/tmp], tmpfs_size: 16m"),
        "^tmpfs_size",
        "variants.simples.tmpfs_size: unknown field",
    );
}

#[test]
fn duplicate_keys_are_errors_wherever_they_are() {
    let text = with("  simples: { dockerfile: docker/Dockerfile.multistage }\n");
    assert_fails(
        &text,
        4,
        3,
        "variants.simples: duplicate key, first at line 3;",
    );
    let text = with("port: 80\nport: 81\n");
    assert_fails(&text, 5, 1, "port: duplicate key, first at line 4;");
    let text = MINIMAL.replace("run: true", "run: true, run: false");
    assert_fails(
        &text,
        3,
        64,
        "variants.simples.run: duplicate key, first at line 3;",
    );
}

#[test]
fn ports_are_from_1_to_65535() {
    let expected = "expected a port number from 1 to 65535";
    for (port, message) in [
        ("0", "port: `0` is not allowed;"),
        ("70000", "port: `70000` is not allowed;"),
        ("-1", "port: `-1` is not allowed;"),
        ("eighty", "port: `eighty` is not allowed;"),
    ] {
        let (line, column, text) = fails(&with(&format!("port: {port}\n")));
        assert_eq!((line, column), (4, 7), "{text}");
        assert!(text.starts_with(message), "{text}");
        assert!(text.ends_with(expected), "{text}");
    }
}

#[test]
fn probe_statuses_are_http_statuses() {
    for status in ["0", "99", "600"] {
        let text = with(&format!("probe:\n  - {{ path: /, status: {status} }}\n"));
        assert_fails(
            &text,
            5,
            24,
            &format!("probe[0].status: `{status}` is not allowed; expected an HTTP status from 100 to 599"),
        );
    }
    let text = with("probe:\n  - { path: /, status: 599 }\n  - { path: /, status: 100 }\n");
    assert!(parse(&text).is_ok());
}

#[test]
fn budget_limits_that_make_no_sense_are_errors() {
    // Each budget on line 5, with its limit at column 36 (`min_ratio` also names `than`).
    for (budget, path, value) in [
        (
            "max_size: { image: simples, bytes: 0 }",
            "max_size.bytes",
            "0",
        ),
        (
            "max_size: { image: simples, bytes: 0 MB }",
            "max_size.bytes",
            "0 MB",
        ),
        (
            "max_compressed: { image: simples, bytes: 0 }",
            "max_compressed.bytes",
            "0",
        ),
        (
            "min_ratio: { image: simples, than: simples, ratio: 0 }",
            "min_ratio.ratio",
            "0",
        ),
        (
            "min_ratio: { image: simples, than: simples, ratio: .inf }",
            "min_ratio.ratio",
            ".inf",
        ),
        (
            "min_efficiency: { image: simples, ratio: 0 }",
            "min_efficiency.ratio",
            "0",
        ),
        (
            "min_efficiency: { image: simples, ratio: 1.5 }",
            "min_efficiency.ratio",
            "1.5",
        ),
        (
            "max_layers: { image: simples, layers: 0 }",
            "max_layers.layers",
            "0",
        ),
        (
            "max_overhead: { image: simples, path: /x, ratio: 0.5 }",
            "max_overhead.ratio",
            "0.5",
        ),
        (
            "max_stop_ms: { image: simples, ms: 0 }",
            "max_stop_ms.ms",
            "0",
        ),
        (
            "max_pushed_bytes: { image: simples, bytes: 0 }",
            "max_pushed_bytes.bytes",
            "0",
        ),
        (
            "max_deploy_ms: { image: simples, ms: 0 }",
            "max_deploy_ms.ms",
            "0",
        ),
        (
            "max_components: { image: simples, components: 0 }",
            "max_components.components",
            "0",
        ),
    ] {
        let text = with(&format!("budgets:\n  - {budget}\n"));
        let column = budget.rfind(": ").unwrap() + 7;
        let start = format!("budgets[0].{path}: `{value}` is not allowed; expected ");
        assert_fails(&text, 5, column, &start);
    }
    // Zero wasted bytes is the project's own budget, and the top of each range is allowed.
    for budget in [
        "max_wasted_bytes: { image: simples, bytes: 0 }",
        "min_efficiency: { image: simples, ratio: 1 }",
        "max_overhead: { image: simples, path: /x, ratio: 1 }",
        "max_layers: { image: simples, layers: 1 }",
    ] {
        let text = with(&format!("budgets:\n  - {budget}\n"));
        assert!(parse(&text).is_ok(), "{budget}: {:?}", parse(&text).err());
    }
}

#[test]
fn a_negative_size_is_located_and_explained() {
    let text = with("budgets:\n  - max_size: { image: simples, bytes: -1 }\n");
    assert_fails(
        &text,
        5,
        40,
        "budgets[0].max_size.bytes: `-1` is not allowed; expected a size above 0",
    );
    let text = with("budgets:\n  - max_size: { image: simples, bytes: 3 parsecs }\n");
    assert_fails(
        &text,
        5,
        40,
        "budgets[0].max_size.bytes: unknown size unit `parsecs`",
    );
}

#[test]
fn empty_manifests_and_other_shapes_are_errors() {
    for text in ["", "\n\n", "# nothing yet\n", "~\n"] {
        assert_fails(text, 1, 1, "the manifest is empty;");
    }
    assert_fails(
        "\n- repository: webtest\n",
        2,
        1,
        "the manifest must be a mapping of fields such as `repository:` and `variants:`, not a list",
    );
    assert_fails("webtest\n", 1, 1, "the manifest must be a mapping");
}

#[test]
fn a_missing_field_is_named() {
    assert_fails(
        "# the images\nvariants:\n  simples: { dockerfile: docker/Dockerfile.simples }\n",
        2,
        1,
        "repository: missing, and it is required",
    );
    assert_fails(
        "repository: webtest\nvariants:\n  simples: { run: true }\n",
        3,
        12,
        "variants.simples.dockerfile: missing, and it is required",
    );
}

#[test]
fn a_wrong_type_names_the_value_and_what_is_allowed() {
    let text = MINIMAL.replace("run: true", "run: yes please");
    assert_fails(
        &text,
        3,
        58,
        "variants.simples.run: `yes please` is not allowed; expected true or false",
    );
    assert_fails(
        &with("run:\n  starts: -1\n"),
        5,
        11,
        "run.starts: `-1` is not allowed; expected a whole number of at least 1",
    );
    assert_fails(
        &with("probe: { path: / }\n"),
        4,
        8,
        "probe: a mapping is not allowed; expected a list",
    );
}

#[test]
fn run_settings_must_make_sense() {
    assert_fails(
        &with("run:\n  starts: 0\n"),
        5,
        11,
        "run.starts: `0` is not allowed",
    );
    assert_fails(
        &with("run:\n  ready_timeout_secs: 0\n"),
        5,
        23,
        "run.ready_timeout_secs: `0` is not allowed; expected a whole number of seconds, at least 1",
    );
    assert_fails(
        &with("run:\n  load: { requests: 10, concurrency: 0 }\n"),
        5,
        38,
        "run.load.concurrency: `0` is not allowed; expected a whole number of at least 1",
    );
    // No load, so no concurrency is needed.
    assert!(parse(&with("run:\n  load: { requests: 0, concurrency: 0 }\n")).is_ok());
}

#[test]
fn a_syntax_error_is_located() {
    // libyaml notices the missing node where the next line starts.
    assert_fails(
        &with("probe: [\n"),
        5,
        1,
        "invalid YAML: did not find expected node content",
    );
    assert_fails(
        &with("\tport: 1\n"),
        4,
        1,
        "invalid YAML: found character that cannot start any token",
    );
}

#[test]
fn a_second_document_is_located() {
    assert_fails(
        &with("---\nport: 80\n"),
        4,
        1,
        "the manifest must be one YAML document;",
    );
}

#[test]
fn an_empty_value_points_at_its_key() {
    let text = MINIMAL.replace("repository: webtest", "repository:");
    assert_fails(
        &text,
        1,
        1,
        "repository: an empty value is not a valid image name",
    );
    let text = "repository: webtest\nvariants:\n  simples:\n    dockerfile:\n";
    assert_fails(
        text,
        4,
        5,
        "variants.simples.dockerfile: empty; name a Dockerfile",
    );
}

#[test]
fn serde_positions_are_taken_out_of_its_messages() {
    assert_eq!(strip_location("port: bad at line 4 column 7"), "port: bad");
    assert_eq!(
        strip_location("did not find expected ',' at line 7 column 1, while parsing"),
        "did not find expected ',', while parsing"
    );
    assert_eq!(
        strip_location("found ':' at line 3 column 14, while scanning at line 3 column 26"),
        "found ':', while scanning"
    );
    assert_eq!(strip_location("nothing to strip"), "nothing to strip");
}

#[test]
fn errors_display_file_line_and_column_when_known() {
    let err = |line, column| ManifestError {
        file: PathBuf::from("images.yaml"),
        line,
        column,
        message: "port: bad".into(),
    };
    assert_eq!(
        err(Some(4), Some(7)).to_string(),
        "images.yaml:4:7: port: bad"
    );
    assert_eq!(err(Some(4), None).to_string(), "images.yaml:4: port: bad");
    assert_eq!(err(None, None).to_string(), "images.yaml: port: bad");
}

#[test]
fn sizes_take_units() {
    assert_eq!(ByteSize::parse("3000000"), Ok(ByteSize(3_000_000)));
    assert_eq!(ByteSize::parse("3 MB"), Ok(ByteSize(3_000_000)));
    assert_eq!(ByteSize::parse("2.5MiB"), Ok(ByteSize(2_621_440)));
    assert_eq!(ByteSize::parse("1 GB"), Ok(ByteSize(1_000_000_000)));
    assert!(ByteSize::parse("3 parsecs")
        .unwrap_err()
        .contains("unknown size unit"));
    assert!(ByteSize::parse("lots").is_err());
    let text = with("budgets:\n  - max_size: { image: simples, bytes: 3 MB }\n");
    assert_eq!(
        parse(&text).unwrap().budgets,
        vec![Budget::MaxSize {
            image: "simples".into(),
            bytes: ByteSize(3_000_000)
        }]
    );
}

#[test]
fn names_follow_docker_rules() {
    assert!(valid_name("webtest", true));
    assert!(valid_name("webtest-base/rust", true));
    assert!(!valid_name("WebTest", true));
    assert!(!valid_name("a/b", false));
    assert!(!valid_name("-x", false));
    assert!(!valid_name("", false));
    let text = MINIMAL.replace("simples:", "Simples:");
    assert_fails(
        &text,
        3,
        3,
        "variants.Simples: `Simples` is not a valid tag",
    );
}

#[test]
fn selecting_an_unknown_variant_is_a_usage_error() {
    let m = parse(MINIMAL).unwrap();
    assert_eq!(m.select(&[]).unwrap(), vec!["simples".to_string()]);
    let err = m.select(&["nope".into()]).unwrap_err();
    assert!(err.downcast_ref::<UsageError>().is_some());
}

// The bad manifests the binary refuses with exit code 2. Each case is the project's own
// `docker/images.yaml` with one small edit (or a whole text, for shapes no edit reaches), parsed
// as if it were that file. `xtask/tests/bad_manifests.rs` runs the binary on one of them, to show
// that the refusal comes before the engine and becomes exit code 2.

/// One bad manifest.
struct Case {
    name: &'static str,
    /// The manifest's text: the project's own with `(old, new)` replaced, each exactly once, or
    /// a whole text of its own.
    text: Text,
    /// Where the error must point: a text that occurs once in the bad manifest, with `^` in
    /// front of the exact character. Written as text rather than numbers so that the project's
    /// manifest can change without breaking the cases that do not touch the changed lines.
    at: &'static str,
    /// What the message must start with, right after the position: the field path (or, for the
    /// document as a whole, the start of the sentence) and what is wrong.
    says: &'static str,
}

enum Text {
    Edit(&'static [(&'static str, &'static str)]),
    Whole(&'static str),
}

use Text::{Edit, Whole};

/// The 28 bad manifests, each named so that a failure says which.
fn bad_manifests() -> Vec<Case> {
    vec![
        Case {
            name: "port-zero",
            text: Edit(&[("port: 8080", "port: 0")]),
            at: "port: ^0 ",
            says: "port: `0` is not allowed; expected a port number from 1 to 65535",
        },
        Case {
            name: "port-out-of-range",
            text: Edit(&[("port: 8080", "port: 70000")]),
            at: "port: ^70000",
            says: "port: `70000` is not allowed; expected a port number from 1 to 65535",
        },
        Case {
            name: "port-not-a-number",
            text: Edit(&[("port: 8080", "port: eighty")]),
            at: "port: ^eighty",
            says: "port: `eighty` is not allowed; expected a port number",
        },
        Case {
            name: "duplicate-field",
            text: Edit(&[("port: 8080", "port: 8080\nport: 8081")]),
            at: "^port: 8081",
            says: "port: duplicate key, first at line ",
        },
        Case {
            name: "duplicate-variant",
            text: Edit(&[(
                "  target:     {",
                "  simples:    { dockerfile: docker/Dockerfile.multistage }\n  target:     {",
            )]),
            at: "^simples:    { dockerfile: docker/Dockerfile.multistage }",
            says: "variants.simples: duplicate key, first at line ",
        },
        Case {
            name: "empty-file",
            text: Whole(""),
            at: "^",
            says: "the manifest is empty;",
        },
        Case {
            name: "not-a-mapping",
            text: Whole("# the variants, as a list\n- simples\n- multistage\n"),
            at: "^- simples",
            says: "the manifest must be a mapping of fields",
        },
        Case {
            name: "syntax-error",
            text: Edit(&[("{ path: /missing, status: 404 }", "{ path: /missing, status: 404")]),
            // The plain scalar `404` runs on over the blank line into `run`, so the parser
            // notices the unclosed mapping only at the colon after it.
            at: "run^:\n",
            says: "invalid YAML: did not find expected ',' or '}'",
        },
        Case {
            name: "missing-repository",
            text: Edit(&[(
                "repository: webtest          # image name; tags are the variant names\n",
                "",
            )]),
            at: "^context: ..",
            says: "repository: missing, and it is required",
        },
        Case {
            name: "unknown-field",
            text: Edit(&[("host_ca_certificates: true", "host_ca_certificate: true")]),
            at: "^host_ca_certificate: true",
            says: "recipes.rust-toolchain.host_ca_certificate: unknown field, expected one of",
        },
        Case {
            name: "run-not-a-boolean",
            text: Edit(&[("target: builder, run: false", "target: builder, run: yes please")]),
            at: "run: ^yes please",
            says: "variants.target.run: `yes please` is not allowed; expected true or false",
        },
        Case {
            name: "dockerfile-is-a-directory",
            text: Edit(&[(
                "{ dockerfile: docker/Dockerfile.simples,",
                "{ dockerfile: docker,",
            )]),
            at: "dockerfile: ^docker,",
            says: "variants.simples.dockerfile: `docker` is a directory",
        },
        Case {
            name: "dockerfile-missing",
            text: Edit(&[(
                "{ dockerfile: docker/Dockerfile.simples,",
                "{ dockerfile: docker/Dockerfile.nope,",
            )]),
            at: "dockerfile: ^docker/Dockerfile.nope",
            says: "variants.simples.dockerfile: `docker/Dockerfile.nope` does not exist",
        },
        Case {
            name: "empty-target",
            text: Edit(&[("target: slim,", "target: '',")]),
            at: "target: ^'',",
            says: "variants.slim.target: empty;",
        },
        Case {
            name: "empty-variants",
            text: Edit(&[
                ("variants:\n", "variants: {}\n"),
                ("  simples:    { dockerfile: docker/Dockerfile.simples,    run: true }\n", ""),
                ("  multistage: { dockerfile: docker/Dockerfile.multistage, run: true }\n", ""),
                ("  target:     { dockerfile: docker/Dockerfile.multistage, target: builder, run: false }\n", ""),
                ("  slim:       { dockerfile: docker/Dockerfile.multistage, target: slim, run: true }\n", ""),
                ("  distroless: { dockerfile: docker/Dockerfile.multistage, target: distroless, run: true }\n", ""),
            ]),
            at: "variants: ^{}",
            says: "variants: at least one variant is needed",
        },
        Case {
            name: "probe-status",
            text: Edit(&[("status: 404", "status: 600")]),
            at: "status: ^600",
            says: "probe[3].status: `600` is not allowed; expected an HTTP status from 100 to 599",
        },
        Case {
            name: "starts-negative",
            text: Edit(&[("starts: 3 ", "starts: -1 ")]),
            at: "starts: ^-1",
            says: "run.starts: `-1` is not allowed; expected a whole number of at least 1",
        },
        Case {
            name: "ready-timeout-zero",
            text: Edit(&[("ready_timeout_secs: 30", "ready_timeout_secs: 0")]),
            at: "ready_timeout_secs: ^0",
            says: "run.ready_timeout_secs: `0` is not allowed;",
        },
        Case {
            name: "concurrency-zero",
            text: Edit(&[("concurrency: 16", "concurrency: 0")]),
            at: "concurrency: ^0",
            says: "run.load.concurrency: `0` is not allowed; expected a whole number of at least 1",
        },
        Case {
            name: "structure-unknown-variant",
            text: Edit(&[("command: { image: slim,", "command: { image: slm,")]),
            at: "image: ^slm,",
            says: "structure[7].command.image: no variant `slm` (known: simples, multistage, target, slim, distroless)",
        },
        Case {
            name: "budget-unknown-variant",
            text: Edit(&[("non_root: { image: distroless }", "non_root: { image: distroles }")]),
            at: "image: ^distroles }",
            says: "budgets[9].non_root.image: no variant `distroles`",
        },
        Case {
            name: "max-size-zero",
            text: Edit(&[("bytes: 3 MB", "bytes: 0 MB")]),
            at: "bytes: ^0 MB",
            says: "budgets[2].max_size.bytes: `0 MB` is not allowed; expected a size above 0",
        },
        Case {
            name: "max-compressed-negative",
            text: Edit(&[("bytes: 2 MB", "bytes: -1")]),
            at: "bytes: ^-1",
            says: "budgets[4].max_compressed.bytes: `-1` is not allowed; expected a size above 0",
        },
        Case {
            name: "min-ratio-zero",
            text: Edit(&[("ratio: 100", "ratio: 0")]),
            at: "than: simples, ratio: ^0",
            says: "budgets[1].min_ratio.ratio: `0` is not allowed; expected a number above 0",
        },
        Case {
            name: "min-efficiency-above-one",
            text: Edit(&[("ratio: 0.99", "ratio: 1.5")]),
            at: "ratio: ^1.5",
            says: "budgets[6].min_efficiency.ratio: `1.5` is not allowed; expected a fraction above 0 and at most 1",
        },
        Case {
            name: "max-layers-zero",
            text: Edit(&[("layers: 1 }", "layers: 0 }")]),
            at: "layers: ^0 }",
            says: "budgets[5].max_layers.layers: `0` is not allowed; expected a whole number of at least 1",
        },
        Case {
            name: "max-overhead-below-one",
            text: Edit(&[("ratio: 1.05", "ratio: 0.5")]),
            at: "ratio: ^0.5",
            says: "budgets[3].max_overhead.ratio: `0.5` is not allowed; expected a number of at least 1",
        },
        Case {
            name: "max-stop-ms-zero",
            text: Edit(&[("ms: 1000", "ms: 0")]),
            at: "ms: ^0 }",
            says: "budgets[10].max_stop_ms.ms: `0` is not allowed;",
        },
    ]
}

/// The 1-based line and column of the `^` in `at`, found in `text`, where `at` without its
/// caret must occur exactly once.
fn position(text: &str, at: &str) -> Result<(usize, usize), String> {
    let caret = at.find('^').ok_or("`at` marks the place with ^")?;
    let needle = at.replacen('^', "", 1);
    let start = if needle.is_empty() {
        0
    } else {
        if text.matches(&needle).count() != 1 {
            return Err(format!(
                "`{needle}` must occur exactly once in the bad manifest"
            ));
        }
        text.find(&needle).unwrap_or(0)
    };
    let offset = start + caret;
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    Ok((line, column))
}

/// The case's manifest text: the project's own, edited, or a text of its own.
fn text_of(case: &Case) -> Result<String, String> {
    match &case.text {
        Whole(text) => Ok(text.to_string()),
        Edit(edits) => {
            let mut text = std::fs::read_to_string(dir().join("images.yaml"))
                .map_err(|err| format!("read docker/images.yaml: {err}"))?;
            for (old, new) in *edits {
                if text.matches(old).count() != 1 {
                    return Err(format!(
                        "`{old}` must occur exactly once in docker/images.yaml"
                    ));
                }
                text = text.replacen(old, new, 1);
            }
            Ok(text)
        }
    }
}

/// What is wrong with how one case is refused, or nothing.
fn refusal(case: &Case) -> Result<(), String> {
    let path = dir().join("images.yaml");
    let text = text_of(case)?;
    let (line, column) = position(&text, case.at)?;
    let err = match Manifest::parse(&text, &path) {
        Ok(_) => return Err("the manifest was accepted".into()),
        Err(err) => err,
    };
    let mut problems = Vec::new();
    // A `UsageError` is what makes the binary exit with 2 rather than 1.
    if err.downcast_ref::<UsageError>().is_none() {
        problems.push("the error is not a UsageError (exit code 2)".to_string());
    }
    // One line, with no `caused by:` below it.
    if err.chain().count() != 1 {
        problems.push(format!("the error has a chain: {err:#}"));
    }
    let message = err.to_string();
    let expected = format!("{}:{line}:{column}: {}", path.display(), case.says);
    if !message.starts_with(&expected) {
        problems.push(format!("the message does not start with `{expected}`"));
    }
    if message.contains('\n') {
        problems.push("the message is more than one line".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\n  got: {message}", problems.join("; ")))
    }
}

#[test]
fn every_bad_manifest_is_refused_with_one_located_line_and_a_usage_error() {
    let cases = bad_manifests();
    assert_eq!(cases.len(), 28, "keep the 28 bad manifests");
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(problem) = refusal(case) {
            failures.push(format!("{}: {problem}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad manifests were not refused as they should be:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
