//! `cargo xtask clean` removes what the tool made for the manifest and nothing else: the
//! containers the tool started (found by a label only the tool sets when it creates one), the
//! images of the manifest's repository, and never a container a user started by hand nor another
//! repository's image. The test works in repositories of its own, so the images a user built
//! with `compare` (repository `webtest`) are still there after `cargo test`.

use crate::common::*;

/// A labelled image under `tag`, as the tool's builds make them, from the unrelated `base`.
fn labelled_image(base: &str, tag: &str) -> String {
    let container = docker(&["create", base, "/hello"]).trim().to_string();
    docker(&[
        "commit",
        "--change",
        "LABEL io.webtest.xtask=1",
        &container,
        tag,
    ]);
    docker(&["rm", &container]);
    docker(&["image", "inspect", "--format", "{{.Id}}", tag])
        .trim()
        .to_string()
}

#[test]
fn clean_removes_what_the_tool_made_for_the_manifest_and_nothing_else() {
    let _engine = engine();
    let unrelated = unrelated_image("webtest-test/unrelated:1");
    let ours = labelled_image("webtest-test/unrelated:1", "webtest-it-clean:simples");
    // Another repository's labelled image, such as the `webtest:slim` a user built.
    let theirs = labelled_image("webtest-test/unrelated:1", "webtest-it-other:slim");
    // A container a crashed run of the tool left behind: it carries the creation-only label.
    let leftover = docker(&[
        "create",
        "--label",
        "io.webtest.xtask.container=1",
        "webtest-test/unrelated:1",
        "/hello",
    ])
    .trim()
    .to_string();
    // A container a user started by hand from a labelled image: it inherits the image's
    // `io.webtest.xtask=1`, yet it is the user's. Removed with the test's images however the
    // test ends, so that a failure here leaves nothing for the next run to trip on.
    let by_hand = docker(&["run", "-d", "webtest-it-other:slim", "/hello"])
        .trim()
        .to_string();
    let _tidy = Tidy {
        containers: [leftover.clone(), by_hand.clone()],
        images: [
            "webtest-it-other:slim",
            "webtest-it-clean:simples",
            "webtest-test/unrelated:1",
        ],
    };
    // Every container the tool started goes, the leftover of this test and any that an earlier
    // run in this engine left (an engine that outlives its runs may hold some).
    let tool_started = docker(&[
        "ps",
        "-aq",
        "--filter",
        "label=io.webtest.xtask.container=1",
    ])
    .lines()
    .count();

    let dir = scratch("clean");
    let manifest = manifest_copy(&dir, |text| in_repository(&text, "webtest-it-clean"));
    let out = xtask(&["clean", "--manifest", manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "removed {tool_started} container(s) the tool started and 1 image(s) of webtest-it-clean"
        )),
        "{}",
        stderr(&out)
    );

    let containers = docker(&["ps", "-aq", "--no-trunc"]);
    assert!(
        !containers.contains(&leftover),
        "the tool's leftover container is still there"
    );
    assert!(
        containers.contains(&by_hand),
        "clean removed a container started by hand"
    );
    let images = docker(&["images", "-q", "--no-trunc"]);
    assert!(
        !images.contains(&ours),
        "the manifest's image is still there"
    );
    assert!(
        images.contains(&theirs),
        "clean removed another repository's image"
    );
    assert!(
        images.contains(&unrelated),
        "clean removed an unrelated image"
    );
}

/// The test's own containers and images, removed when the test ends, passed or failed.
struct Tidy {
    containers: [String; 2],
    images: [&'static str; 3],
}

impl Drop for Tidy {
    fn drop(&mut self) {
        for container in &self.containers {
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f", container])
                .output();
        }
        for image in self.images {
            let _ = std::process::Command::new("docker")
                .args(["rmi", image])
                .output();
        }
    }
}
