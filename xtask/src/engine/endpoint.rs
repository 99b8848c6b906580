//! Where the engine is, found the way the docker CLI finds it: `DOCKER_HOST` (with
//! `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`), else `DOCKER_CONTEXT`, else the current context
//! of the docker configuration (`$DOCKER_CONFIG` or `~/.docker`), else the local socket. A
//! context's endpoint and TLS material are read from its store, as `docker context` writes it.
//! The environment is read once into [`Environment`], so that the choice itself is pure.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;
use sha2::Digest;

use crate::error::Fix;

/// The engine the docker CLI talks to when nothing says otherwise.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// What the environment says about the engine, read once.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub docker_host: Option<String>,
    pub docker_context: Option<String>,
    /// `DOCKER_TLS_VERIFY` set to anything but the empty string.
    pub tls_verify: bool,
    /// `DOCKER_TLS` set to anything but the empty string: TLS without checking the engine.
    pub tls_unverified: bool,
    pub cert_path: Option<PathBuf>,
    /// `$DOCKER_CONFIG`, else `~/.docker`.
    pub config_dir: PathBuf,
}

impl Environment {
    /// The variables of this process; an empty variable counts as unset, as for the docker CLI.
    pub fn from_process() -> Environment {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let home = var("HOME").map(PathBuf::from).unwrap_or_default();
        Environment {
            docker_host: var("DOCKER_HOST"),
            docker_context: var("DOCKER_CONTEXT"),
            tls_verify: var("DOCKER_TLS_VERIFY").is_some(),
            tls_unverified: var("DOCKER_TLS").is_some(),
            cert_path: var("DOCKER_CERT_PATH").map(PathBuf::from),
            config_dir: var("DOCKER_CONFIG")
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join(".docker")),
        }
    }
}

/// The files a TLS connection is made with, named as the docker CLI names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Tls {
    fn in_dir(dir: &Path) -> Tls {
        Tls {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }
}

/// Why this endpoint was chosen, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `DOCKER_HOST`.
    HostVariable,
    /// A context of the docker configuration, chosen by `DOCKER_CONTEXT` or by the
    /// configuration's `currentContext`.
    Context { name: String, chosen_by: String },
    /// Nothing was set: the local socket.
    Default,
}

/// The engine to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `unix:///var/run/docker.sock`, `tcp://host:2376`, `ssh://user@host`.
    pub host: String,
    /// Set when the connection is TLS.
    pub tls: Option<Tls>,
    pub source: Source,
}

/// The part of a context's `meta.json` that says where its engine is.
#[derive(Deserialize)]
struct Meta {
    #[serde(rename = "Endpoints", default)]
    endpoints: HashMap<String, MetaEndpoint>,
}

#[derive(Deserialize)]
struct MetaEndpoint {
    #[serde(rename = "Host", default)]
    host: Option<String>,
    #[serde(rename = "SkipTLSVerify", default)]
    skip_tls_verify: bool,
}

/// The configuration file's one field that matters here.
#[derive(Deserialize)]
struct Config {
    #[serde(rename = "currentContext", default)]
    current_context: Option<String>,
}

impl Endpoint {
    /// The endpoint the docker CLI would use. `DOCKER_HOST` wins over every context (the CLI
    /// then uses its default context, which reads the variables); then `DOCKER_CONTEXT`; then the
    /// configuration's current context. The context `default` is the variables' endpoint.
    pub fn resolve(env: &Environment) -> Result<Endpoint> {
        if env.docker_host.is_none() {
            let chosen = match &env.docker_context {
                Some(name) => Some((name.clone(), "DOCKER_CONTEXT".to_string())),
                None => current_context(&env.config_dir)?.map(|name| {
                    let file = env.config_dir.join("config.json");
                    (name, format!("currentContext in {}", file.display()))
                }),
            };
            if let Some((name, chosen_by)) = chosen.filter(|(name, _)| name != "default") {
                return from_context(&env.config_dir, name, chosen_by);
            }
        }
        from_variables(env)
    }

    /// `tcp://127.0.0.1:2376 (TLS, from DOCKER_HOST)`, `unix:///run/x.sock (context rootless,
    /// from DOCKER_CONTEXT)`: where, and why there, for every message about the engine.
    pub fn describe(&self) -> String {
        let tls = if self.tls.is_some() { "TLS, " } else { "" };
        match &self.source {
            Source::HostVariable => format!("{} ({tls}from DOCKER_HOST)", self.host),
            Source::Context { name, chosen_by } => {
                format!("{} ({tls}context `{name}`, from {chosen_by})", self.host)
            }
            Source::Default => format!("{} ({tls}the default)", self.host),
        }
    }

    /// What an error adds after the cause, so that it names the context and how the client
    /// connected: empty for a plain `DOCKER_HOST` or the default socket.
    pub fn origin(&self) -> String {
        let tls = if self.tls.is_some() { "over TLS, " } else { "" };
        match &self.source {
            Source::Context { name, chosen_by } => {
                format!(" ({tls}the endpoint of the context `{name}`, from {chosen_by})")
            }
            Source::HostVariable if self.tls.is_some() => " (over TLS, from DOCKER_HOST)".into(),
            _ => String::new(),
        }
    }

    /// The host name or address of a network endpoint (`tcp://`, `http(s)://`, `ssh://`), or
    /// `None` for a local socket.
    pub fn network_host(&self) -> Option<String> {
        let (scheme, rest) = self.host.split_once("://")?;
        if !matches!(scheme, "tcp" | "http" | "https" | "ssh") {
            return None;
        }
        let authority = rest.split('/').next().unwrap_or_default();
        let authority = authority.rsplit('@').next().unwrap_or_default();
        let host = if let Some(bracketed) = authority.strip_prefix('[') {
            bracketed.split(']').next().unwrap_or_default()
        } else {
            authority.split(':').next().unwrap_or_default()
        };
        (!host.is_empty()).then(|| host.to_string())
    }

    /// Where the ports the engine publishes can be reached: the engine's own host for a network
    /// endpoint (its published ports live there), this machine's loopback for a local socket.
    pub fn probe_host(&self) -> Result<IpAddr> {
        match self.network_host() {
            None => Ok(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            Some(host) => resolve_host(&host)
                .with_context(|| format!("find the address of the engine's host {host}")),
        }
    }
}

/// An address, or the first address a name resolves to.
pub fn resolve_host(host: &str) -> Result<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    let mut addrs = (host, 0)
        .to_socket_addrs()
        .with_context(|| format!("resolve {host}"))?;
    addrs
        .next()
        .map(|a| a.ip())
        .with_context(|| format!("{host} has no address"))
}

/// The endpoint of the default context: `DOCKER_HOST` (or the local socket), TLS when
/// `DOCKER_TLS_VERIFY` asks for it, with the files in `DOCKER_CERT_PATH` (or the configuration
/// folder).
fn from_variables(env: &Environment) -> Result<Endpoint> {
    let (host, source) = match &env.docker_host {
        Some(host) => (host.clone(), Source::HostVariable),
        None => (DEFAULT_HOST.to_string(), Source::Default),
    };
    if env.tls_unverified && !env.tls_verify {
        return Err(Fix {
            problem: format!(
                "DOCKER_TLS asks for TLS to {host} without checking the engine's certificate, \
                 which this tool never does"
            ),
            next: "set DOCKER_TLS_VERIFY=1 and put the engine's CA in DOCKER_CERT_PATH/ca.pem \
                   (with cert.pem and key.pem beside it)"
                .into(),
        }
        .into());
    }
    let tls = (env.tls_verify || host.starts_with("https://"))
        .then(|| Tls::in_dir(env.cert_path.as_deref().unwrap_or(env.config_dir.as_path())));
    Ok(Endpoint { host, tls, source })
}

/// The configuration's `currentContext`, when the file exists and names one.
fn current_context(config_dir: &Path) -> Result<Option<String>> {
    let path = config_dir.join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("read {}", path.display())),
    };
    let config: Config =
        serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
    Ok(config.current_context.filter(|name| !name.is_empty()))
}

/// The context store's folder name of a context: the SHA-256 of its name, as the docker CLI
/// makes it.
fn context_id(name: &str) -> String {
    hex::encode(sha2::Sha256::digest(name.as_bytes()))
}

/// The docker endpoint of a named context, with its TLS material when the store holds some.
fn from_context(config_dir: &Path, name: String, chosen_by: String) -> Result<Endpoint> {
    let id = context_id(&name);
    let meta_path = config_dir
        .join("contexts")
        .join("meta")
        .join(&id)
        .join("meta.json");
    let text = match std::fs::read_to_string(&meta_path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(Fix {
                problem: format!(
                    "the Docker context `{name}` (from {chosen_by}) does not exist: there is no {}",
                    meta_path.display()
                ),
                next: "`docker context ls` lists the contexts: choose one of them (or unset \
                       DOCKER_CONTEXT to use the default engine)"
                    .into(),
            }
            .into())
        }
        Err(err) => return Err(err).with_context(|| format!("read {}", meta_path.display())),
    };
    let meta: Meta = serde_json::from_str(&text)
        .with_context(|| format!("parse the context `{name}`: {}", meta_path.display()))?;
    let endpoint = meta.endpoints.get("docker");
    let Some(host) = endpoint
        .and_then(|e| e.host.clone())
        .filter(|h| !h.is_empty())
    else {
        return Err(Fix {
            problem: format!(
                "the Docker context `{name}` (from {chosen_by}) names no docker endpoint in {}",
                meta_path.display()
            ),
            next: format!(
                "set one with `docker context update {name} --docker host=unix:///var/run/docker.sock`"
            ),
        }
        .into());
    };
    let tls_dir = config_dir
        .join("contexts")
        .join("tls")
        .join(&id)
        .join("docker");
    let skip_verify = endpoint.is_some_and(|e| e.skip_tls_verify);
    let tls = if tls_dir.join("ca.pem").exists() {
        Some(Tls::in_dir(&tls_dir))
    } else if skip_verify || tls_dir.exists() {
        return Err(Fix {
            problem: format!(
                "the Docker context `{name}` (from {chosen_by}) connects to {host} with TLS but \
                 without a CA to check the engine against ({} is missing{})",
                tls_dir.join("ca.pem").display(),
                if skip_verify {
                    ", and it skips verification, which this tool never does"
                } else {
                    ""
                }
            ),
            next: format!(
                "give the context the engine's CA: `docker context update {name} --docker \
                 host={host},ca=CA.pem,cert=CERT.pem,key=KEY.pem`"
            ),
        }
        .into());
    } else {
        None
    };
    Ok(Endpoint {
        host,
        tls,
        source: Source::Context { name, chosen_by },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(dir: &Path) -> Environment {
        Environment {
            config_dir: dir.to_path_buf(),
            ..Environment::default()
        }
    }

    /// A context store as `docker context create NAME --docker host=HOST[,ca=…]` writes it.
    fn context(dir: &Path, name: &str, host: &str, tls: bool) {
        let meta = dir.join("contexts/meta").join(context_id(name));
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            format!(
                r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#
            ),
        )
        .unwrap();
        if tls {
            let tls = dir
                .join("contexts/tls")
                .join(context_id(name))
                .join("docker");
            std::fs::create_dir_all(&tls).unwrap();
            for file in ["ca.pem", "cert.pem", "key.pem"] {
                std::fs::write(tls.join(file), "").unwrap();
            }
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("webtest-endpoint-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_context_id_is_the_sha256_of_the_name_as_the_docker_cli_makes_it() {
        // `docker context create remote` writes contexts/meta/<this>/meta.json.
        assert_eq!(
            context_id("remote"),
            "b71199ebd070b36beab7317920c2c2f1d777df8d05e5527d8458fda57cb17a7a"
        );
    }

    #[test]
    fn nothing_set_is_the_local_socket() {
        let dir = temp("none");
        let endpoint = Endpoint::resolve(&env(&dir)).unwrap();
        assert_eq!(endpoint.host, DEFAULT_HOST);
        assert_eq!(endpoint.tls, None);
        assert_eq!(endpoint.source, Source::Default);
        assert_eq!(
            endpoint.probe_host().unwrap(),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
    }

    #[test]
    fn docker_host_with_tls_verify_takes_the_cert_path() {
        let dir = temp("tls");
        let environment = Environment {
            docker_host: Some("tcp://127.0.0.1:2376".into()),
            tls_verify: true,
            cert_path: Some("/certs".into()),
            docker_context: Some("ignored".into()),
            ..env(&dir)
        };
        let endpoint = Endpoint::resolve(&environment).unwrap();
        assert_eq!(endpoint.tls, Some(Tls::in_dir(Path::new("/certs"))));
        assert_eq!(endpoint.source, Source::HostVariable);
        assert_eq!(
            endpoint.describe(),
            "tcp://127.0.0.1:2376 (TLS, from DOCKER_HOST)"
        );
        // Without DOCKER_CERT_PATH the files are in the configuration folder, as for the CLI.
        let environment = Environment {
            cert_path: None,
            ..environment
        };
        assert_eq!(
            Endpoint::resolve(&environment).unwrap().tls,
            Some(Tls::in_dir(&dir))
        );
    }

    #[test]
    fn tls_without_verification_is_refused() {
        let dir = temp("noverify");
        let environment = Environment {
            docker_host: Some("tcp://127.0.0.1:2376".into()),
            tls_unverified: true,
            ..env(&dir)
        };
        let err = Endpoint::resolve(&environment).unwrap_err();
        assert!(err.to_string().contains("DOCKER_TLS"), "{err}");
    }

    #[test]
    fn docker_context_wins_over_the_current_context_and_reads_the_tls_store() {
        let dir = temp("context");
        context(&dir, "remote", "tcp://10.1.2.3:2376", true);
        context(&dir, "other", "unix:///run/other.sock", false);
        std::fs::write(dir.join("config.json"), r#"{"currentContext":"other"}"#).unwrap();
        let current = Endpoint::resolve(&env(&dir)).unwrap();
        assert_eq!(current.host, "unix:///run/other.sock");
        assert_eq!(current.tls, None);
        assert!(
            current
                .describe()
                .contains("context `other`, from currentContext in"),
            "{}",
            current.describe()
        );
        let environment = Environment {
            docker_context: Some("remote".into()),
            ..env(&dir)
        };
        let chosen = Endpoint::resolve(&environment).unwrap();
        assert_eq!(chosen.host, "tcp://10.1.2.3:2376");
        assert_eq!(
            chosen.tls.unwrap().ca,
            dir.join("contexts/tls")
                .join(context_id("remote"))
                .join("docker/ca.pem")
        );
        assert_eq!(
            chosen.source,
            Source::Context {
                name: "remote".into(),
                chosen_by: "DOCKER_CONTEXT".into()
            }
        );
        // The context `default` is the variables' endpoint.
        let environment = Environment {
            docker_context: Some("default".into()),
            ..env(&dir)
        };
        assert_eq!(Endpoint::resolve(&environment).unwrap().host, DEFAULT_HOST);
    }

    #[test]
    fn an_error_names_the_context_or_the_tls_it_connected_with() {
        let endpoint = |tls: bool, source: Source| Endpoint {
            host: "tcp://10.0.0.7:2376".into(),
            tls: tls.then(|| Tls::in_dir(Path::new("/certs"))),
            source,
        };
        assert_eq!(endpoint(false, Source::HostVariable).origin(), "");
        assert_eq!(endpoint(false, Source::Default).origin(), "");
        assert_eq!(
            endpoint(true, Source::HostVariable).origin(),
            " (over TLS, from DOCKER_HOST)"
        );
        let context = Source::Context {
            name: "remote".into(),
            chosen_by: "DOCKER_CONTEXT".into(),
        };
        assert_eq!(
            endpoint(true, context).origin(),
            " (over TLS, the endpoint of the context `remote`, from DOCKER_CONTEXT)"
        );
    }

    #[test]
    fn a_missing_context_names_itself_and_its_file() {
        let dir = temp("missing");
        let environment = Environment {
            docker_context: Some("nowhere".into()),
            ..env(&dir)
        };
        let err = Endpoint::resolve(&environment).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("context `nowhere`"), "{text}");
        assert!(text.contains("from DOCKER_CONTEXT"), "{text}");
        assert!(text.contains("meta.json"), "{text}");
    }

    #[test]
    fn probes_go_to_the_host_of_a_network_endpoint() {
        let endpoint = |host: &str| Endpoint {
            host: host.into(),
            tls: None,
            source: Source::HostVariable,
        };
        let cases = [
            ("tcp://10.0.0.7:2376", Some("10.0.0.7")),
            ("tcp://[::1]:2376", Some("::1")),
            ("ssh://me@build.example:22", Some("build.example")),
            ("https://engine.example/", Some("engine.example")),
            ("unix:///var/run/docker.sock", None),
        ];
        for (host, expected) in cases {
            assert_eq!(endpoint(host).network_host().as_deref(), expected, "{host}");
        }
        assert_eq!(
            endpoint("tcp://10.0.0.7:2376").probe_host().unwrap(),
            "10.0.0.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            endpoint("tcp://localhost:2376").probe_host().unwrap(),
            resolve_host("localhost").unwrap()
        );
    }
}
