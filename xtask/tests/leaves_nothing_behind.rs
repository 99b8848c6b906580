//! `cargo xtask clean` removes every container and image with the project's label and nothing
//! else. This file runs after the others (cargo runs test binaries in name order), since it
//! removes the images they build; were the order different, they would only build again.

mod common;

use common::*;

fn labelled_images() -> Vec<String> {
    docker(&[
        "images",
        "-q",
        "--no-trunc",
        "--filter",
        "label=io.webtest.xtask=1",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

#[test]
fn clean_removes_the_projects_containers_and_images_and_nothing_else() {
    let _engine = engine();
    let unrelated = unrelated_image("webtest-test/unrelated:1");
    let labelled = labelled_images();
    let others_before: Vec<String> = docker(&["images", "-q", "--no-trunc"])
        .lines()
        .filter(|id| !labelled.iter().any(|l| l == id))
        .map(str::to_string)
        .collect();
    // A labelled container that is still there, as a crashed run might leave one. It is made
    // from the unrelated image: removing the container must not take the image with it.
    let leftover = docker(&[
        "create",
        "--label",
        "io.webtest.xtask=1",
        "webtest-test/unrelated:1",
        "/hello",
    ])
    .trim()
    .to_string();

    let out = xtask(&["clean"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    assert!(
        labelled_containers().is_empty(),
        "containers left: {:?}",
        labelled_containers()
    );
    assert!(
        !docker(&["ps", "-aq", "--no-trunc"]).contains(&leftover),
        "the leftover container is still there"
    );
    // Only the local bases keep the label, and each under its own tag.
    let left = docker(&[
        "images",
        "--filter",
        "label=io.webtest.xtask=1",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    for tag in left.lines() {
        assert!(tag.starts_with("webtest-base/"), "clean left {tag}");
    }
    let now = docker(&["images", "-q", "--no-trunc"]);
    for id in &others_before {
        assert!(
            now.contains(id.as_str()),
            "clean removed an image that is not the project's: {id}"
        );
    }
    assert!(now.contains(&unrelated));
    docker(&["rmi", "webtest-test/unrelated:1"]);
}
