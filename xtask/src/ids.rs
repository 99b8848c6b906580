//! Short forms of the engine's identifiers, as the docker CLI shows them.

/// The first twelve hex digits of an image or layer ID, without its `sha256:` prefix.
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_drop_the_algorithm_and_keep_twelve_digits() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
    }
}
