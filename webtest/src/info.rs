//! What the service says about itself: name, version, build variant, revision and host name.
//!
//! All of it is gathered once at startup, because none of it changes while the process runs
//! and the handlers should not touch the file system or the environment per request.

use std::path::Path;

/// The facts that `/` and `/info` report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppInfo {
    /// The package name, `webtest`.
    pub name: String,
    /// The package version, e.g. `0.1.0`.
    pub version: String,
    /// Which image variant this is (from `WEBTEST_VARIANT`), if the image says.
    pub variant: Option<String>,
    /// The source revision the binary was built from, if known.
    pub revision: Option<String>,
    /// The host name; inside Docker this is the container id.
    pub hostname: String,
}

impl AppInfo {
    /// Gathers the facts from the environment of the running process.
    ///
    /// `WEBTEST_REVISION` is looked up at run time first, so that an image can stamp it with
    /// `ENV`, and then at compile time, so that a build argument passed to `cargo build` sticks.
    pub fn from_env() -> Self {
        AppInfo {
            name: crate::NAME.to_owned(),
            version: crate::VERSION.to_owned(),
            variant: non_empty(std::env::var("WEBTEST_VARIANT").ok()),
            revision: non_empty(std::env::var("WEBTEST_REVISION").ok())
                .or_else(|| non_empty(option_env!("WEBTEST_REVISION").map(str::to_owned))),
            hostname: hostname(),
        }
    }

    /// The plain-text greeting that `GET /` answers with.
    pub fn greeting(&self) -> String {
        format!(
            "Hello from {} {} on {}\n",
            self.name, self.version, self.hostname
        )
    }

    /// The JSON document that `GET /info` answers with.
    ///
    /// It is assembled field by field so that the keys keep this documented order: a
    /// `serde_json::Value` sorts them, unless its `preserve_order` feature pulls in `indexmap`.
    pub fn to_json(&self) -> String {
        // Serialising a string, or an optional one, to JSON cannot fail.
        let text = |value: &str| serde_json::to_string(value).unwrap_or_default();
        let opt = |value: &Option<String>| value.as_deref().map_or_else(|| "null".into(), text);
        format!(
            r#"{{"name":{},"version":{},"variant":{},"revision":{},"hostname":{}}}"#,
            text(&self.name),
            text(&self.version),
            opt(&self.variant),
            opt(&self.revision),
            text(&self.hostname),
        )
    }
}

/// Treats an empty value like a missing one, since `ENV X=` in a Dockerfile means "not set".
fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// The host name of the machine or container, or `unknown`.
///
/// The kernel's own record comes first because it is always right, even in an image `FROM
/// scratch` that has no `/etc/hostname`; the `HOSTNAME` variable comes last because shells set
/// it but Docker does not pass it to a process started without one.
pub fn hostname() -> String {
    hostname_from(
        &[
            Path::new("/proc/sys/kernel/hostname"),
            Path::new("/etc/hostname"),
        ],
        std::env::var("HOSTNAME").ok(),
    )
}

/// The first non-empty, trimmed name among `files` and then `env`, else `unknown`.
pub fn hostname_from(files: &[&Path], env: Option<String>) -> String {
    files
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .chain(env)
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostname_prefers_files_then_env_then_unknown() {
        let dir = std::env::temp_dir().join(format!("webtest-hostname-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty");
        let named = dir.join("named");
        std::fs::write(&empty, "\n").unwrap();
        std::fs::write(&named, "box42\n").unwrap();
        let missing = dir.join("missing");

        let env = || Some("from-env".to_owned());
        assert_eq!(hostname_from(&[&missing, &empty, &named], env()), "box42");
        assert_eq!(hostname_from(&[&missing, &empty], env()), "from-env");
        assert_eq!(hostname_from(&[&missing], Some(" ".to_owned())), "unknown");
        assert_eq!(hostname_from(&[], None), "unknown");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn greeting_and_json_name_everything() {
        let info = AppInfo {
            name: "webtest".into(),
            version: "0.1.0".into(),
            variant: None,
            revision: Some("abc123".into()),
            hostname: "3f2a1b9c0d1e".into(),
        };
        assert_eq!(
            info.greeting(),
            "Hello from webtest 0.1.0 on 3f2a1b9c0d1e\n"
        );
        assert_eq!(
            info.to_json(),
            r#"{"name":"webtest","version":"0.1.0","variant":null,"revision":"abc123","hostname":"3f2a1b9c0d1e"}"#
        );
        let odd = AppInfo {
            hostname: "a\"b\\c".into(),
            ..info
        };
        let parsed: serde_json::Value = serde_json::from_str(&odd.to_json()).unwrap();
        assert_eq!(parsed["hostname"], "a\"b\\c");
    }

    #[test]
    fn empty_values_count_as_missing() {
        assert_eq!(non_empty(Some(String::new())), None);
        assert_eq!(non_empty(Some("x".into())), Some("x".into()));
        assert_eq!(non_empty(None), None);
    }
}
