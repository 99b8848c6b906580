//! What an image costs to ship: each variant pushed to a real registry and pulled back through
//! the Engine API, the bytes counted from the registry's own manifest, the digest checked equal
//! on every side, and the time until a container of the pulled image answers `/healthz`.
//!
//! The registry is started for the run (the official `registry:2` when the engine has it or can
//! pull it, else the local stand-in the manifest's `registry.offline` recipe makes) and removed
//! at the end; `--registry HOST:PORT` uses a running one instead. The figures are kept by image
//! ID in `target/xtask/transfer-cache` (shared by every run, as the analysis cache is), so an
//! unchanged image is never pushed again and the registry is only started when some image is new.
//!
//! A pull can only move what the engine lacks. The variant's own tag (`webtest:multistage`)
//! keeps its layers in the engine, and removing that tag is never ours to do: the copy pushed
//! and pulled is a registry-prefixed tag of the same image, and only that tag is removed. So the
//! engine reports the layers it held as shared, and they are downloaded from the registry by
//! this module's own client instead (`fetch_ms`), each blob checked against its digest: what an
//! engine without the image would have had to move.

mod cache;
mod http;
mod login;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::ctx::Ctx;
use crate::engine::{Engine, Login, Publish, RegistrySpec, Security, REGISTRY_STORAGE};
use crate::labels;
use crate::manifest::Manifest;
use crate::model::Transfer;
use crate::report::progress::Progress;
use crate::runner::{self, Service};

use cache::TransferCache;
use http::RegistryApi;

/// Which registry the round trip goes through, decided from the flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registry {
    /// One started for the run on a free port of 127.0.0.1, removed afterwards.
    Own,
    /// A registry that runs already, `HOST:PORT`; nothing is started.
    Existing(String),
    /// `--no-registry`: no round trip.
    Off,
}

impl Registry {
    pub fn from_flags(registry: Option<&str>, no_registry: bool) -> Registry {
        match (registry, no_registry) {
            (_, true) => Registry::Off,
            (Some(host), false) => Registry::Existing(host.to_string()),
            (None, false) => Registry::Own,
        }
    }

    /// What the cached figures depend on: any throwaway registry of ours is as good as
    /// another; a user's registry is its own.
    fn identity(&self) -> String {
        match self {
            Registry::Own => "own".into(),
            Registry::Existing(host) => format!("existing {host}"),
            Registry::Off => "off".into(),
        }
    }
}

/// One image to move.
pub struct Subject<'a> {
    pub variant: &'a str,
    /// The image's own tag, `webtest:multistage`: tagged from, never removed.
    pub tag: &'a str,
    pub id: &'a str,
    /// Started after the pull, when the variant runs.
    pub start: Option<Security>,
    /// The variant's tmpfs paths, mounted when it is started.
    pub tmpfs: &'a [String],
}

/// What every round trip of a run shares.
pub struct Site<'a> {
    pub ctx: &'a Ctx,
    pub engine: &'a Engine,
    pub manifest: &'a Manifest,
    /// The manifest whose `registry:` makes the registry: the app's own, or, when it names
    /// none, the one that lists the apps.
    pub registry_home: &'a Manifest,
    pub progress: &'a Progress,
    pub publish: Publish,
    /// Where the published port is reached (see `Engine::probe_host`).
    pub probe_host: std::net::IpAddr,
    /// `--fresh`: every image makes the round trip, none is taken from the cache.
    pub fresh: bool,
}

/// The variables Distribution reads over its config file: the storage on the tmpfs, the port,
/// and no login (the Debian package's config asks for htpasswd logins).
const REGISTRY_ENV: &[&str] = &[
    "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=/var/lib/registry",
    "REGISTRY_HTTP_ADDR=:5000",
    "REGISTRY_AUTH={}",
    "REGISTRY_LOG_LEVEL=warn",
];

/// `nobody`, by number.
const REGISTRY_USER: &str = "65534:65534";

/// How long the started registry may take to answer.
const REGISTRY_READY: Duration = Duration::from_secs(20);

/// The round trip of every subject, by variant; cached figures where the image ID was moved
/// before. Nothing for [`Registry::Off`], nor when the manifest names no registry image and
/// none is given.
pub async fn measure(
    site: &Site<'_>,
    registry: &Registry,
    subjects: &[Subject<'_>],
) -> Result<HashMap<String, Transfer>> {
    let mut found = HashMap::new();
    if *registry == Registry::Off {
        return Ok(found);
    }
    let cache = TransferCache::under(&site.ctx.out_dir(), site.fresh);
    let identity = registry.identity();
    let mut todo = Vec::new();
    for subject in subjects {
        match cache.get(subject.id, &identity) {
            Some(transfer) => {
                found.insert(subject.variant.to_string(), transfer);
            }
            None => todo.push(subject),
        }
    }
    if todo.is_empty() {
        site.progress.note(&format!(
            "registry round trip: all {} images unchanged, figures from the cache",
            subjects.len()
        ));
        return Ok(found);
    }
    let (host, container, login) = match registry {
        Registry::Existing(host) => (host.clone(), None, login::for_host(host)?),
        _ => {
            let Some((host, id)) = start_own(site).await? else {
                return Ok(found);
            };
            (host, Some(id), None)
        }
    };
    let moved = async {
        let api = RegistryApi::new(&host, login.clone())?;
        api.wait_ready(REGISTRY_READY).await?;
        let client = runner::http_client(Duration::from_secs(5))?;
        let mut moved = Vec::new();
        for subject in todo {
            let phase = site
                .progress
                .phase(&format!("push and pull {} through {host}", subject.tag));
            let trip = Trip {
                site,
                api: &api,
                host: &host,
                login: login.as_ref(),
                client: &client,
            };
            match trip.round_trip(subject).await {
                Ok(transfer) => {
                    phase.finish(&format!(
                        "pushed {} in {} ms, pulled in {} ms{}",
                        subject.tag,
                        transfer.push_ms,
                        transfer.pull_ms,
                        transfer
                            .deploy_ms
                            .map_or(String::new(), |ms| format!(", deployed in {ms} ms"))
                    ));
                    if subject.start.is_none() || transfer.deploy_ms.is_some() {
                        cache.put(subject.id, &identity, &transfer)?;
                    }
                    moved.push((subject.variant.to_string(), transfer));
                }
                Err(err) => {
                    phase.fail(&format!("the round trip of {} failed", subject.tag));
                    return Err(err);
                }
            }
        }
        Ok::<_, anyhow::Error>(moved)
    }
    .await;
    // The registry goes whatever happened; its blobs go with its tmpfs.
    let removed = match &container {
        Some(id) => site.engine.remove(id).await,
        None => Ok(()),
    };
    found.extend(moved?);
    removed.context("remove the registry container")?;
    Ok(found)
}

/// Starts the registry of the run: its image made as a base is (present, pulled, or the
/// stand-in), on a free port of 127.0.0.1. `None`, with a note, when the manifest names no
/// registry and the engine has no `registry:2`.
async fn start_own(site: &Site<'_>) -> Result<Option<(String, String)>> {
    let image = match crate::bases::registry_image(
        site.ctx,
        site.engine,
        site.registry_home,
        site.progress,
    )
    .await?
    {
        Some(image) => image,
        None if site.engine.image("registry:2").await?.is_some() => "registry:2".to_string(),
        None => {
            site.progress.note(&format!(
                "no registry round trip: {} names no `registry:` and the engine has no registry:2 \
                 (add one, pass --registry HOST:PORT, or --no-registry to say so)",
                site.registry_home.path.display()
            ));
            return Ok(None);
        }
    };
    let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    let port = runner::host_port(localhost, 0)?;
    let labels = labels::container();
    let spec = RegistrySpec {
        image: &image,
        env: REGISTRY_ENV.iter().map(|v| v.to_string()).collect(),
        user: REGISTRY_USER,
        host_port: port,
        labels: &labels,
    };
    let id = site.engine.start_registry(&spec).await?;
    site.progress.note(&format!(
        "registry: {image} on 127.0.0.1:{port} (read-only, no capabilities, user {REGISTRY_USER}, \
         storage on a tmpfs at {REGISTRY_STORAGE})"
    ));
    Ok(Some((format!("127.0.0.1:{port}"), id)))
}

/// One registry, as the round trips of a run use it.
struct Trip<'a> {
    site: &'a Site<'a>,
    api: &'a RegistryApi,
    host: &'a str,
    login: Option<&'a Login>,
    client: &'a reqwest::Client,
}

impl Trip<'_> {
    /// Push, read the manifest back, pull, fetch what the pull did not move, start: the
    /// registry-prefixed tag is removed afterwards however it went.
    async fn round_trip(&self, subject: &Subject<'_>) -> Result<Transfer> {
        let engine = self.site.engine;
        let name = &self.site.manifest.repository;
        let repo = format!("{}/{name}", self.host);
        let tag = subject.variant;
        let reference = format!("{repo}:{tag}");
        engine.tag(subject.tag, &repo, tag).await?;
        let trip = self.moved(subject, &repo, &reference).await;
        let untagged = engine.untag(&reference).await;
        let transfer = trip?;
        untagged?;
        Ok(transfer)
    }

    async fn moved(&self, subject: &Subject<'_>, repo: &str, reference: &str) -> Result<Transfer> {
        let engine = self.site.engine;
        let name = &self.site.manifest.repository;
        let tag = subject.variant;
        let pushed = engine.push(repo, tag, self.login).await?;
        let stored = self.api.manifest(name, tag).await?;
        if stored.digest != pushed.digest {
            bail!(
                "{reference}: the push reported {}, the registry stores {}",
                pushed.digest,
                stored.digest
            );
        }
        // Only the registry-prefixed tag goes; the image's own tag keeps it in the engine.
        engine.untag(reference).await?;
        let pulled = engine.pull_from(repo, tag, self.login).await?;
        if pulled.digest != stored.digest {
            bail!(
                "{reference}: pushed as {}, pulled as {}",
                stored.digest,
                pulled.digest
            );
        }
        let downloaded = |digest: &str| {
            let hex = digest.trim_start_matches("sha256:");
            pulled
                .downloaded
                .iter()
                .any(|id| hex.starts_with(id.as_str()))
        };
        let (moved, shared): (Vec<_>, Vec<_>) =
            stored.layers.iter().partition(|l| downloaded(&l.digest));
        let fetching = Instant::now();
        for blob in &shared {
            self.api.fetch_blob(name, blob).await?;
        }
        let fetch_ms = fetching.elapsed().as_millis() as u64;
        // A variant that does not start is the runs' to report, with its logs: here it only
        // has no time to deploy, and its figures are not kept, so the next run tries again.
        let start_ms = match subject.start {
            Some(security) => match self.start(reference, security, subject.tmpfs).await {
                Ok(ms) => Some(ms),
                Err(err) => {
                    self.site.progress.note(&format!(
                        "{reference} did not start after the pull, so it has no time to deploy: {err:#}"
                    ));
                    None
                }
            },
            None => None,
        };
        let pull_ms = pulled.elapsed.as_millis() as u64;
        Ok(Transfer {
            pushed_bytes: stored.stored_bytes(),
            push_ms: pushed.elapsed.as_millis() as u64,
            pull_ms,
            fetch_ms,
            start_ms,
            deploy_ms: start_ms.map(|start| pull_ms + fetch_ms + start),
            digest: stored.digest.clone(),
            reference: reference.to_string(),
            layers: stored.layers.len(),
            pushed_layers: pushed.layers_pushed,
            shared_layers: shared.iter().map(|l| l.digest.clone()).collect(),
            pulled_bytes: moved.iter().map(|l| l.size).sum(),
            cached: false,
        })
    }

    /// Starts the pulled image as the runs do and waits for `GET /healthz` to answer 200.
    async fn start(&self, reference: &str, security: Security, tmpfs: &[String]) -> Result<u64> {
        let service = Service {
            image: reference,
            publish: self.site.publish,
            probe_host: self.site.probe_host,
            security,
            tmpfs,
            ready_timeout: Duration::from_secs(self.site.manifest.run.ready_timeout_secs),
        };
        let started = runner::start(self.site.engine, self.client, &service).await?;
        self.site.engine.remove(&started.id).await?;
        Ok(started.ready.as_millis() as u64)
    }
}
