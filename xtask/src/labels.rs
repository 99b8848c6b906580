//! The labels the tool puts on what it creates, and the one place their maps are made. Images
//! pass their labels on to the containers made from them, so containers get a label of their own
//! that no image carries: only that one tells a container the tool started from one a user
//! started by hand from the same image.

use std::collections::BTreeMap;

/// The label every image the tool builds or assembles carries; `clean` removes such images of
/// the manifest's repositories.
pub const LABEL: &str = "io.webtest.xtask";
/// Set on local base images to their own tag, so that `clean` can keep them unless asked.
pub const LABEL_BASE: &str = "io.webtest.xtask.base";
/// The digest of what a local base was made from, so that a changed recipe rebuilds it.
pub const LABEL_RECIPE: &str = "io.webtest.xtask.recipe";
/// The variant an image was built as.
pub const LABEL_VARIANT: &str = "io.webtest.xtask.variant";
/// The Rust crates the image's binary is built from (`name@version …`, the built package
/// first), for its SBOM; see `crates.rs`.
pub const LABEL_CRATES: &str = "io.webtest.xtask.crates";
/// Set only at container creation, never on an image: the containers the tool started.
pub const LABEL_CONTAINER: &str = "io.webtest.xtask.container";

/// The labels of an image the tool builds, with `extra` ones added.
pub fn image(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([(LABEL.to_string(), "1".to_string())]);
    labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    labels
}

/// The labels of a container the tool starts.
pub fn container() -> BTreeMap<String, String> {
    image(&[(LABEL_CONTAINER, "1")])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_carry_a_label_no_image_of_ours_has() {
        assert!(container().contains_key(LABEL_CONTAINER));
        assert!(!image(&[(LABEL_VARIANT, "simples")]).contains_key(LABEL_CONTAINER));
    }
}
