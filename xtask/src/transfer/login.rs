//! The login for a registry the user names, read from the user's docker config
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`), as `docker login` wrote it.
//! Credential helpers (`credsStore`, `credHelpers`) are not run: only `auths` entries are read.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::engine::Login;

#[derive(Deserialize, Default)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, Auth>,
}

#[derive(Deserialize, Default)]
struct Auth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

fn config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json")),
    }
}

/// The login the docker config holds for `host` (`HOST:PORT`), if any.
pub fn for_host(host: &str) -> Result<Option<Login>> {
    let Some(path) = config_path() else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("read {}", path.display())),
    };
    let config: DockerConfig =
        serde_json::from_str(&text).with_context(|| format!("read {}", path.display()))?;
    Ok(from_config(config, host))
}

fn from_config(config: DockerConfig, host: &str) -> Option<Login> {
    // `docker login` keys an entry by the host, sometimes with a scheme in front.
    let (server, auth) = config.auths.into_iter().find(|(key, _)| {
        key.trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            == host
    })?;
    Some(Login {
        server,
        username: auth.username,
        password: auth.password,
        auth: auth.auth,
        identity_token: auth.identitytoken,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_found_by_its_host_with_or_without_a_scheme() {
        let config: DockerConfig = serde_json::from_str(
            r#"{"auths":{"https://reg.example:5000":{"auth":"dTpw"},"other:1":{}}}"#,
        )
        .unwrap();
        let login = from_config(config, "reg.example:5000").unwrap();
        assert_eq!(login.auth.as_deref(), Some("dTpw"));
        assert_eq!(login.server, "https://reg.example:5000");
        let none: DockerConfig = serde_json::from_str("{}").unwrap();
        assert!(from_config(none, "reg.example:5000").is_none());
    }
}
