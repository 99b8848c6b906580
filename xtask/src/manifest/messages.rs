//! How the manifest's errors are worded: serde_yaml's messages taken apart and said again around
//! the field path, in the manifest's terms, with what the field allows; and the ranges of the
//! fields whose type alone does not say what is allowed, shared with validation.

use std::path::Path;

use yaml_rust2::ScanError;

use super::positions::{Pos, Spots};
use super::ManifestError;

/// A syntax error, located. serde_yaml is the parser the manifest is read with, so its word on a
/// syntax error comes first; yaml-rust2's (`scan`) is the fallback should the two ever disagree.
pub(super) fn syntax_error(file: &Path, text: &str, scan: &ScanError) -> ManifestError {
    // serde_yaml reads into a `Value`, which takes any shape, because it reports a syntax error
    // only after the events before it, and a wrong type among those would hide it.
    match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Err(err) => {
            let mut err = serde_error(file, &err, &Spots::default());
            err.message = format!("invalid YAML: {}", err.message);
            err
        }
        Ok(_) => ManifestError::at(
            file,
            Some(Pos::of(scan.marker())),
            format!("invalid YAML: {}", scan.info()),
        ),
    }
}

/// What a field allows, for the fields whose type alone does not say: the one place these
/// ranges are written down, for serde's messages and validation's alike.
pub(super) fn allowed(path: &str) -> Option<&'static str> {
    Some(match pattern(path).as_str() {
        "port" => "a port number from 1 to 65535",
        "probe[].status" => "an HTTP status from 100 to 599",
        "run.starts" => "a whole number of at least 1",
        "run.ready_timeout_secs" => "a whole number of seconds, at least 1",
        "run.load.requests" => "a whole number (0 turns the load off)",
        "run.load.concurrency" => "a whole number of at least 1",
        "budgets[].max_size.bytes"
        | "budgets[].max_compressed.bytes"
        | "budgets[].max_pushed_bytes.bytes" => "a size above 0, such as 3000000 or 3 MB",
        "budgets[].max_wasted_bytes.bytes" => "a size such as 0 or 10 kB",
        "budgets[].min_ratio.ratio" => "a number above 0",
        "budgets[].min_efficiency.ratio" => "a fraction above 0 and at most 1",
        "budgets[].max_layers.layers" => "a whole number of at least 1",
        "budgets[].max_overhead.ratio" => "a number of at least 1",
        "budgets[].max_stop_ms.ms" | "budgets[].max_deploy_ms.ms" => {
            "a whole number of milliseconds above 0"
        }
        "budgets[].max_components.components" => "a whole number of at least 1",
        "variants.*.tmpfs" => "a list of absolute paths, such as [/tmp]",
        "variants.*.tmpfs[]" => "an absolute path, such as /tmp",
        "recipes.*.suites" => "a list of Debian suites, such as [bookworm, bookworm-backports]",
        "recipes.*.suites[]" => "the name of a Debian suite, such as bookworm-backports",
        _ => return None,
    })
}

/// A field path with its indices and its user-chosen names left out, so that
/// `budgets[3].max_size.bytes` and `budgets[0].max_size.bytes` read the same.
fn pattern(path: &str) -> String {
    let mut segments: Vec<String> = path
        .split('.')
        .map(|segment| match segment.find('[') {
            Some(index) => format!("{}[]", &segment[..index]),
            None => segment.to_string(),
        })
        .collect();
    if segments.len() > 1 && matches!(segments[0].as_str(), "variants" | "recipes" | "bases") {
        segments[1] = "*".into();
    }
    segments.join(".")
}

/// How a scalar the user wrote is quoted back in a message.
pub(super) fn show(text: &str) -> String {
    if text.is_empty() {
        "an empty value".into()
    } else {
        format!("`{text}`")
    }
}

/// Splits "`name` rest" into the name between the backticks and the rest.
fn quoted(text: &str) -> Option<(String, String)> {
    text.strip_prefix('`')
        .and_then(|text| text.split_once('`'))
        .map(|(name, rest)| (name.to_string(), rest.to_string()))
}

/// serde's words for a type, in the manifest's terms.
fn plain(expected: &str) -> &str {
    match expected {
        "u16" => "a whole number from 0 to 65535",
        "u32" | "u64" | "usize" => "a whole number of 0 or more",
        "i64" => "a whole number",
        "f64" => "a number",
        "a boolean" => "true or false",
        "a string" => "text",
        "a sequence" => "a list",
        "a map" => "a mapping",
        other if other.starts_with("struct ") => "a mapping",
        other => other,
    }
}

/// Turns a serde_yaml error into a located message that names the field and says what is
/// allowed. serde_yaml writes `path: message at line L column C`; the position is kept apart,
/// and the common messages are reworded around the field path.
pub(super) fn serde_error(file: &Path, err: &serde_yaml::Error, spots: &Spots) -> ManifestError {
    let pos = match err.location() {
        Some(location) => Some(Pos {
            line: location.line(),
            column: location.column(),
            index: location.index(),
        }),
        None => spots.value(""),
    };
    let message = strip_location(&err.to_string());
    let (path, rest) = match message.split_once(": ") {
        Some((path, rest))
            if spots.has(path)
                || (!path.is_empty()
                    && path
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-[]".contains(c))) =>
        {
            (path, rest)
        }
        _ => ("", message.as_str()),
    };
    let join = |field: &str| {
        if path.is_empty() {
            field.to_string()
        } else {
            format!("{path}.{field}")
        }
    };
    let reworded = if let Some((field, _)) = rest.strip_prefix("missing field ").and_then(quoted) {
        Some(format!("{}: missing, and it is required", join(&field)))
    } else if let Some((field, expected)) = rest.strip_prefix("unknown field ").and_then(quoted) {
        Some(format!("{}: unknown field{expected}", join(&field)))
    } else if let Some((name, expected)) = rest.strip_prefix("unknown variant ").and_then(quoted) {
        // serde says "variant" for an enum's case, which here reads like an image variant: a
        // key is a kind of budget or test, a scalar is a value of a field such as `dpkg`.
        if spots.key(&join(&name)).is_some() {
            Some(format!("{}: unknown kind{expected}", join(&name)))
        } else {
            Some(format!(
                "{path}: `{name}` is not allowed{}",
                expected.replacen(", expected", "; expected", 1)
            ))
        }
    } else if rest == "deserializing from YAML containing more than one document is not supported" {
        Some("the manifest must be one YAML document, without `---` between parts".into())
    } else if rest == "invalid value: map, expected map with a single key" {
        Some(format!(
            "{path}: an item must hold exactly one key, its kind, such as `- max_size: {{ ... }}`"
        ))
    } else if let Some((got, expected)) = rest
        .strip_prefix("invalid type: ")
        .or_else(|| rest.strip_prefix("invalid value: "))
        .and_then(|detail| detail.split_once(", expected "))
    {
        let shown = match spots.text(path) {
            Some(text) => show(text),
            None => match got {
                "sequence" => "a list".into(),
                "map" => "a mapping".into(),
                other => other.into(),
            },
        };
        let expected = allowed(path).unwrap_or_else(|| plain(expected));
        let field = if path.is_empty() {
            "the manifest"
        } else {
            path
        };
        Some(format!(
            "{field}: {shown} is not allowed; expected {expected}"
        ))
    } else {
        None
    };
    ManifestError::at(file, pos, reworded.unwrap_or(message))
}

/// serde_yaml writes " at line L column C" into its messages, at the end and, for syntax errors,
/// also in the middle; the position is already in front.
pub(super) fn strip_location(message: &str) -> String {
    const AT: &str = " at line ";
    let digits =
        |text: &str| text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let mut message = message.to_string();
    while let Some(start) = message.find(AT) {
        let tail = &message[start + AT.len()..];
        let mut end = digits(tail);
        if end == 0 {
            break;
        }
        if let Some(column) = tail[end..].strip_prefix(" column ") {
            end += " column ".len() + digits(column);
        }
        message = format!("{}{}", &message[..start], &tail[end..]);
    }
    message
}
