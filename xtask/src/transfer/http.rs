//! The registry's own word, over its HTTP API (distribution-spec v2): whether it answers, the
//! manifest it stored for a tag (and so the bytes it holds for the image), and its blobs, each
//! downloaded and checked against its digest. Basic logins and bearer tokens are both served.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::engine::Login;

/// The manifest kinds a single-platform push stores, newest first.
const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
                      application/vnd.docker.distribution.manifest.v2+json";

/// A registry as an HTTP client sees it.
pub struct RegistryApi {
    client: reqwest::Client,
    /// `http://127.0.0.1:41234`.
    base: String,
    login: Option<Login>,
}

/// A stored manifest: its digest, its own size and the blobs it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredManifest {
    pub digest: String,
    pub bytes: u64,
    pub config: Blob,
    pub layers: Vec<Blob>,
}

impl StoredManifest {
    /// What the registry stores for the image: the manifest, the config and every layer.
    pub fn stored_bytes(&self) -> u64 {
        self.bytes + self.config.size + self.layers.iter().map(|l| l.size).sum::<u64>()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
}

#[derive(Deserialize)]
struct Manifest {
    config: Blob,
    layers: Vec<Blob>,
}

impl RegistryApi {
    /// `host` is `HOST:PORT`; a loopback registry is spoken to in plain HTTP (as the engine does
    /// for 127.0.0.0/8), any other over TLS.
    pub fn new(host: &str, login: Option<Login>) -> Result<RegistryApi> {
        let loopback = host.starts_with("127.") || host.starts_with("localhost:");
        let scheme = if loopback { "http" } else { "https" };
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(600))
            .build()
            .context("make an HTTP client for the registry")?;
        Ok(RegistryApi {
            client,
            base: format!("{scheme}://{host}"),
            login,
        })
    }

    /// Waits until `GET /v2/` answers (200, or 401 from a registry that wants a login).
    pub async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let url = format!("{}/v2/", self.base);
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            match self
                .client
                .get(&url)
                .timeout(Duration::from_millis(500))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() || r.status().as_u16() == 401 => return Ok(()),
                Ok(r) => last = format!("status {}", r.status().as_u16()),
                Err(err) => last = err.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!(
            "the registry did not answer GET {url} within {} s (last: {last})",
            timeout.as_secs()
        )
    }

    /// The manifest the registry stores for `name:tag`.
    pub async fn manifest(&self, name: &str, tag: &str) -> Result<StoredManifest> {
        let url = format!("{}/v2/{name}/manifests/{tag}", self.base);
        let response = self.get(&url, Some(ACCEPT), name).await?;
        let header = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .bytes()
            .await
            .with_context(|| format!("read {url}"))?;
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
        if let Some(header) = header {
            if header != digest {
                bail!("the registry says the manifest of {name}:{tag} is {header}, but its bytes hash to {digest}");
            }
        }
        let manifest: Manifest = serde_json::from_slice(&body)
            .with_context(|| format!("read the manifest of {name}:{tag} (one platform)"))?;
        Ok(StoredManifest {
            digest,
            bytes: body.len() as u64,
            config: manifest.config,
            layers: manifest.layers,
        })
    }

    /// Downloads a blob, checks its digest, and returns its size.
    pub async fn fetch_blob(&self, name: &str, blob: &Blob) -> Result<u64> {
        use futures_util::StreamExt;
        let url = format!("{}/v2/{name}/blobs/{}", self.base, blob.digest);
        let response = self.get(&url, None, name).await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.with_context(|| format!("download {url}"))?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
        }
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        if digest != blob.digest || size != blob.size {
            bail!(
                "the blob {} of {name} arrived as {digest} ({size} bytes, {} expected)",
                blob.digest,
                blob.size
            );
        }
        Ok(size)
    }

    /// A GET that logs in when the registry asks: basic credentials, or a bearer token from the
    /// realm a `WWW-Authenticate: Bearer` challenge names.
    async fn get(&self, url: &str, accept: Option<&str>, name: &str) -> Result<reqwest::Response> {
        let request = |auth: Option<String>| {
            let mut request = self.client.get(url);
            if let Some(accept) = accept {
                request = request.header(reqwest::header::ACCEPT, accept);
            }
            if let Some(auth) = auth {
                request = request.header(reqwest::header::AUTHORIZATION, auth);
            }
            request.send()
        };
        let mut response = request(None).await.with_context(|| format!("GET {url}"))?;
        if response.status().as_u16() == 401 {
            let challenge = response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let auth = self.answer(&challenge, name).await?;
            response = request(Some(auth))
                .await
                .with_context(|| format!("GET {url}"))?;
        }
        if !response.status().is_success() {
            bail!("GET {url} answered {}", response.status());
        }
        Ok(response)
    }

    async fn answer(&self, challenge: &str, name: &str) -> Result<String> {
        let basic = self.basic();
        if challenge.to_ascii_lowercase().starts_with("basic") {
            return basic.context("the registry wants a login, and the docker config has none");
        }
        let param = |key: &str| {
            challenge
                .split([',', ' '])
                .find_map(|p| p.strip_prefix(&format!("{key}=")))
                .map(|v| v.trim_matches('"').to_string())
        };
        let realm = param("realm").context("a bearer challenge without a realm")?;
        let mut request = self.client.get(&realm).query(&[(
            "scope",
            param("scope").unwrap_or_else(|| format!("repository:{name}:pull")),
        )]);
        if let Some(service) = param("service") {
            request = request.query(&[("service", service)]);
        }
        if let Some(basic) = basic {
            request = request.header(reqwest::header::AUTHORIZATION, basic);
        }
        #[derive(Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body = request
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("get a token from {realm}"))?
            .bytes()
            .await
            .context("read the registry token")?;
        let token: Token = serde_json::from_slice(&body).context("read the registry token")?;
        let token = token
            .token
            .or(token.access_token)
            .context("the token answer holds no token")?;
        Ok(format!("Bearer {token}"))
    }

    fn basic(&self) -> Option<String> {
        let login = self.login.as_ref()?;
        let pair = match (&login.auth, &login.username, &login.password) {
            (Some(auth), _, _) => auth.clone(),
            (None, Some(user), Some(password)) => {
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            }
            _ => return None,
        };
        Some(format!("Basic {pair}"))
    }
}
