//! The client for an [`Endpoint`] (unix socket, plain tcp, TLS with the docker CLI's files, or
//! ssh), what to tell people when it cannot be reached, and what the engine says it is: its
//! version, API version and image store.

use anyhow::{Context, Result};
use bollard::{Docker, API_DEFAULT_VERSION};

use super::endpoint::{Endpoint, Source};
use super::Engine;

/// How long one request may take, in seconds: bollard's own default. Connecting is bounded
/// separately (see `CONNECT_TIMEOUT`).
const REQUEST_TIMEOUT: u64 = 120;

/// The client for `endpoint`, or why none can be made, in words that complete "cannot reach the
/// Docker engine at …: ".
pub(super) fn client(endpoint: &Endpoint) -> Result<Docker, String> {
    let host = endpoint.host.as_str();
    let made = if let Some(tls) = &endpoint.tls {
        // The CA is what the engine's certificate is checked against: without it there is no
        // TLS worth the name. A client certificate is sent when both of its files are there.
        if !tls.ca.exists() {
            return Err(format!(
                "the CA certificate {} is missing",
                tls.ca.display()
            ));
        }
        if tls.cert.exists() != tls.key.exists() {
            let missing = if tls.cert.exists() {
                &tls.key
            } else {
                &tls.cert
            };
            return Err(format!("{} is missing", missing.display()));
        }
        let addr = host.replacen("https://", "tcp://", 1);
        Docker::connect_with_ssl(
            &addr,
            &tls.key,
            &tls.cert,
            &tls.ca,
            REQUEST_TIMEOUT,
            API_DEFAULT_VERSION,
        )
    } else if host.starts_with("unix://") {
        Docker::connect_with_unix(host, REQUEST_TIMEOUT, API_DEFAULT_VERSION)
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        Docker::connect_with_http(host, REQUEST_TIMEOUT, API_DEFAULT_VERSION)
    } else if host.starts_with("ssh://") {
        // bollard runs `ssh HOST docker system dial-stdio`, as the docker CLI does.
        Docker::connect_with_ssh(host, REQUEST_TIMEOUT, API_DEFAULT_VERSION, None)
    } else {
        return Err(
            "the scheme is none of unix://, tcp://, http://, https:// or ssh://".to_string(),
        );
    };
    made.map_err(|err| super::root_cause(&err))
}

/// What to do when the engine cannot be reached, by where it was looked for.
pub(super) fn advice(endpoint: &Endpoint) -> String {
    if let Source::Context { name, .. } = &endpoint.source {
        return format!(
            "`docker context inspect {name}` shows where the context points: start that engine, \
             or choose another context (`docker context use NAME`, or DOCKER_CONTEXT)"
        );
    }
    if let Some(tls) = &endpoint.tls {
        let dir = tls.ca.parent().unwrap_or(&tls.ca);
        return format!(
            "check the engine answers there and the TLS files in {}: ca.pem must have signed the \
             engine's certificate, and the engine must trust cert.pem (dockerd --tlsverify \
             --tlscacert)",
            dir.display()
        );
    }
    "start the Docker daemon (`docker info` tells whether one answers), or set DOCKER_HOST to an \
     engine that runs"
        .into()
}

/// What the engine says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineFacts {
    /// `20.10.24+dfsg1`, `26.1.5`.
    pub version: String,
    /// `1.41`.
    pub api_version: String,
    /// `graphdriver` (the engine's own layer store) or `containerd` (the containerd image
    /// store, whose `docker save` writes the OCI layout).
    pub image_store: String,
    /// The graph driver (`overlay2`) or the containerd snapshotter (`overlayfs`).
    pub storage_driver: String,
    /// `linux`, `amd64`.
    pub os: String,
    pub arch: String,
    /// Where the client connected, as [`Endpoint::describe`] says it.
    pub endpoint: String,
}

impl EngineFacts {
    /// `26.1.5 (API 1.45, containerd overlayfs)`, `20.10.24 (API 1.41, overlay2)`.
    pub fn summary(&self) -> String {
        let store = if self.image_store == "containerd" {
            format!("containerd {}", self.storage_driver)
        } else {
            self.storage_driver.clone()
        };
        format!("{} (API {}, {store})", self.version, self.api_version)
    }
}

/// The `DriverStatus` pair that marks the containerd image store.
fn is_containerd_store(driver_status: &[Vec<String>]) -> bool {
    driver_status.iter().any(|pair| {
        pair.first().map(String::as_str) == Some("driver-type")
            && pair
                .get(1)
                .is_some_and(|kind| kind.starts_with("io.containerd.snapshotter"))
    })
}

impl Engine {
    /// The engine's version, API version and image store.
    pub async fn facts(&self) -> Result<EngineFacts> {
        let version = self
            .docker
            .version()
            .await
            .with_context(|| format!("ask {} for its version", self.endpoint))?;
        let info = self
            .docker
            .info()
            .await
            .with_context(|| format!("ask {} how it stores images", self.endpoint))?;
        let containerd = is_containerd_store(&info.driver_status.unwrap_or_default());
        let unknown = || "unknown".to_string();
        Ok(EngineFacts {
            version: version.version.unwrap_or_else(unknown),
            api_version: version.api_version.unwrap_or_else(unknown),
            image_store: if containerd {
                "containerd"
            } else {
                "graphdriver"
            }
            .into(),
            storage_driver: info.driver.unwrap_or_else(unknown),
            os: version.os.unwrap_or_else(unknown),
            arch: version.arch.unwrap_or_else(unknown),
            endpoint: self.endpoint_description.clone(),
        })
    }

    /// `20.10.24 (API 1.41, overlay2)`: the engine in a few words, for reports.
    pub async fn describe(&self) -> Result<String> {
        Ok(self.facts().await?.summary())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(a: &str, b: &str) -> Vec<String> {
        vec![a.to_string(), b.to_string()]
    }

    #[test]
    fn the_containerd_store_is_told_by_its_driver_type() {
        assert!(is_containerd_store(&[pair(
            "driver-type",
            "io.containerd.snapshotter.v1"
        )]));
        assert!(!is_containerd_store(&[
            pair("Backing Filesystem", "extfs"),
            pair("Supports d_type", "true"),
        ]));
        assert!(!is_containerd_store(&[]));
    }

    #[test]
    fn the_summary_names_version_api_and_store() {
        let facts = EngineFacts {
            version: "26.1.5".into(),
            api_version: "1.45".into(),
            image_store: "containerd".into(),
            storage_driver: "overlayfs".into(),
            os: "linux".into(),
            arch: "amd64".into(),
            endpoint: "unix:///tmp/d.sock (from DOCKER_HOST)".into(),
        };
        assert_eq!(facts.summary(), "26.1.5 (API 1.45, containerd overlayfs)");
        let graph = EngineFacts {
            version: "20.10.24+dfsg1".into(),
            api_version: "1.41".into(),
            image_store: "graphdriver".into(),
            storage_driver: "overlay2".into(),
            ..facts
        };
        assert_eq!(graph.summary(), "20.10.24+dfsg1 (API 1.41, overlay2)");
    }
}
