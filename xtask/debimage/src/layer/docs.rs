//! The documentation filter of [`Recipe::drop_docs`](crate::Recipe::drop_docs): dpkg's
//! `path-exclude` and `path-include` globs, as the official slim images set them.

/// Paths dropped by [`Recipe::drop_docs`](crate::Recipe::drop_docs), as dpkg
/// `path-exclude` globs (where `*` also matches `/`), and the ones kept back.
pub(crate) const DOC_EXCLUDES: &[&str] = &[
    "/usr/share/doc/*",
    "/usr/share/groff/*",
    "/usr/share/info/*",
    "/usr/share/linda/*",
    "/usr/share/lintian/overrides/*",
    "/usr/share/locale/*",
    "/usr/share/man/*",
];
pub(crate) const DOC_INCLUDES: &[&str] = &["/usr/share/doc/*/copyright"];

/// Whether `drop_docs` removes `path` (relative to the root), with dpkg's glob semantics
/// for the patterns of [`DOC_EXCLUDES`] and [`DOC_INCLUDES`].
pub(crate) fn doc_excluded(path: &str) -> bool {
    let abs = format!("/{path}");
    let matches = |pattern: &str| glob_match(pattern, &abs);
    DOC_EXCLUDES.iter().any(|p| matches(p)) && !DOC_INCLUDES.iter().any(|p| matches(p))
}

/// `fnmatch` without `FNM_PATHNAME` for patterns whose only wildcard is `*`.
fn glob_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            if !tail.contains('*') {
                return rest.len() >= tail.len() && rest.ends_with(tail);
            }
            (0..=rest.len())
                .filter(|&i| rest.is_char_boundary(i))
                .any(|i| glob_match(tail, &rest[i..]))
        }
    }
}
