//! The one place that talks to the Docker engine (through bollard): connect, pull, load, build,
//! inspect, export, run, stop and remove. Everything it creates carries the project's label, and
//! every container it starts is tracked so that a run that ends early still removes it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, BuilderVersion, CreateContainerOptionsBuilder,
    CreateImageOptionsBuilder, ImportImageOptionsBuilder, ListContainersOptionsBuilder,
    ListImagesOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptionsBuilder, StatsOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::{StreamExt, TryStreamExt};
use sha2::Digest;

use crate::error::{BuildFailed, Fix, Interrupted};
use crate::labels::{LABEL, LABEL_CONTAINER};

mod build;
mod connection;
mod containers;
pub mod endpoint;

pub use connection::EngineFacts;
pub use endpoint::Endpoint;
mod registry;

pub use registry::{Login, Pulled, Pushed, RegistrySpec, REGISTRY_PORT, REGISTRY_STORAGE};

/// How long connecting to the engine may take: a local engine answers in milliseconds.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Held while this process uses the engine; see [`Engine::exclusive`].
pub struct EngineLock {
    file: std::fs::File,
}

impl Drop for EngineLock {
    /// Forgets who held the lock before letting it go, so that the next waiter never names a
    /// process that has finished. Closing the file releases the lock.
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
    }
}

/// The innermost cause of an error, which says what really happened ("Connection refused"),
/// where the outer ones only say what was being done ("client error (Connect)").
pub(crate) fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// A connected engine, its API version negotiated.
pub struct Engine {
    docker: Docker,
    /// Where the client connects, for messages.
    endpoint: String,
    /// Where the client connects and why there, for reports.
    endpoint_description: String,
    /// Where the ports it publishes can be reached; see [`Engine::probe_host`].
    probe_host: std::net::IpAddr,
    /// Containers started and not yet removed; see [`Engine::remove_tracked`].
    live: Arc<Mutex<HashSet<String>>>,
    /// The images each build under way (by its tag) has made so far, oldest first: what an
    /// interrupted or failed build leaves, and [`Engine::remove_tracked`] removes.
    building: Arc<Mutex<HashMap<String, Vec<String>>>>,
    /// Registry-prefixed tags made for a push and not removed yet; see [`Engine::tag`].
    tags: Arc<Mutex<HashSet<String>>>,
}

/// What the engine says about an image, reduced to what the tool uses.
#[derive(Debug, Clone)]
pub struct ImageFacts {
    pub id: String,
    pub size: u64,
    pub layers: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub user: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub exposed_ports: Vec<String>,
    pub healthcheck: Option<Vec<String>>,
}

/// One entry of `docker history`, oldest first.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub created_by: String,
    pub size: u64,
}

/// What a build sends back while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildEvent {
    /// `Step 3/12 : RUN cargo build`.
    Step {
        number: usize,
        total: usize,
        instruction: String,
    },
    /// The step's result came from the build cache.
    Cached,
    /// A line of a step's output.
    Output(String),
    /// The image a step made (or took from the cache), as a short ID.
    Made(String),
    /// A step runs in this container, which the builder removes when the step ends.
    RunningIn(String),
    /// The builder removed a step's container.
    Removed(String),
}

/// What to build.
pub struct BuildSpec<'a> {
    pub context_tar: Vec<u8>,
    pub dockerfile: &'a str,
    pub tag: &'a str,
    pub target: Option<&'a str>,
    pub build_args: &'a BTreeMap<String, String>,
    pub labels: &'a BTreeMap<String, String>,
    pub no_cache: bool,
}

/// A finished build.
#[derive(Debug, Clone)]
pub struct Built {
    pub id: String,
    /// The steps that make something (all but `FROM` and the `ARG`s before it).
    pub steps: usize,
    /// How many of them came from the build cache.
    pub cached: usize,
    /// The step images of every stage the build went through (short IDs, oldest first; not the
    /// bases FROM names): what the result and the next build's cache are made of.
    pub images: Vec<String>,
    /// The images this build made itself (not taken from the cache or a `FROM`), oldest first:
    /// what [`Engine::remove_built`] removes when the build was only a measurement.
    pub made: Vec<String>,
    /// The last image of every stage that no later stage of the build starts `FROM` and that is
    /// not the result (a `test` stage the result copies from, say): with the classic builder
    /// each is left untagged and without a child, the next build's cache.
    pub stage_ends: Vec<StageEnd>,
}

/// The last image of one stage of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageEnd {
    /// The stage's name (`FROM … AS test`), or its index from 0 when it has none.
    pub stage: String,
    /// A short ID.
    pub id: String,
}

/// How a container is started.
pub struct RunSpec<'a> {
    pub image: &'a str,
    pub publish: Option<Publish>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub labels: &'a BTreeMap<String, String>,
    pub security: Security,
    /// Absolute paths, each mounted as a tmpfs of its own (`containers::TMPFS_OPTIONS`): where a
    /// container on a read-only root filesystem may still write.
    pub tmpfs: &'a [String],
}

/// A container port published on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publish {
    /// The port the service listens on inside the container (`8080`, TCP).
    pub container_port: u16,
    /// The host address the port is published on: `127.0.0.1` unless the user asks otherwise.
    pub host_ip: std::net::IpAddr,
    pub host_port: u16,
}

/// What the container may do beyond running its program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Read-only root filesystem, every capability dropped, no-new-privileges: what a
    /// production service should run with, and what proves that the image needs nothing more.
    Hardened,
    /// The engine's defaults.
    Default,
}

/// What the engine says about a container: its state and how it was actually started.
#[derive(Debug, Clone, Default)]
pub struct ContainerFacts {
    pub running: bool,
    /// Set once the container has exited.
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    pub read_only_rootfs: bool,
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    /// The user the process runs as; empty means root.
    pub user: String,
    /// `127.0.0.1:8080`, as the engine reports the binding.
    pub published: Vec<String>,
    /// The paths mounted as a tmpfs, sorted.
    pub tmpfs: Vec<String>,
}

/// The output and exit code of a container that ran to its end.
#[derive(Debug, Clone)]
pub struct Finished {
    pub exit_code: i64,
    pub output: String,
}

impl Engine {
    /// Connects to the engine the docker CLI would use (see [`endpoint`]: `DOCKER_HOST` with
    /// its TLS variables, `DOCKER_CONTEXT`, the configuration's current context, the local
    /// socket) and negotiates the API version, so that an engine older than the client still
    /// answers. An engine that cannot be reached is one line naming the context and the
    /// endpoint, within seconds.
    pub async fn connect() -> Result<Engine> {
        let endpoint = Endpoint::resolve(&endpoint::Environment::from_process())?;
        Engine::connect_to(endpoint).await
    }

    /// Connects to `endpoint`; see [`Engine::connect`].
    pub async fn connect_to(endpoint: Endpoint) -> Result<Engine> {
        let unreachable = |cause: String| Fix {
            problem: format!(
                "cannot reach the Docker engine at {}: {cause}{}",
                endpoint.host,
                endpoint.origin()
            ),
            next: connection::advice(&endpoint),
        };
        let docker = connection::client(&endpoint).map_err(unreachable)?;
        let handshake = async {
            let docker = docker.negotiate_version().await?;
            docker.ping().await?;
            Ok::<_, DockerError>(docker)
        };
        let docker = match tokio::time::timeout(CONNECT_TIMEOUT, handshake).await {
            Ok(Ok(docker)) => docker,
            Ok(Err(err)) => return Err(unreachable(root_cause(&err)).into()),
            Err(_) => {
                return Err(unreachable(format!(
                    "no answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                ))
                .into())
            }
        };
        let probe_host = endpoint.probe_host()?;
        Ok(Engine {
            docker,
            endpoint: endpoint.host.clone(),
            endpoint_description: endpoint.describe(),
            probe_host,
            live: Arc::default(),
            building: Arc::default(),
            tags: Arc::default(),
        })
    }

    /// The endpoint connected to, e.g. `unix:///var/run/docker.sock`: what figures measured on
    /// this engine are kept under.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Where the ports this engine publishes can be reached from here: the engine's host for a
    /// network endpoint, 127.0.0.1 for a local socket. `--probe-host` overrides it.
    pub fn probe_host(&self) -> std::net::IpAddr {
        self.probe_host
    }

    /// Takes the engine for this process alone, waiting while another `cargo xtask` holds it:
    /// two runs would otherwise tag the same images and publish the same host port. The lock is
    /// a file locked with `flock`, keyed by the endpoint, so runs against different engines do
    /// not wait for each other; the kernel releases it when the process ends, however it ends.
    pub async fn exclusive(&self, command: &str, on_wait: impl FnOnce(&str)) -> Result<EngineLock> {
        let path = std::env::temp_dir().join(format!(
            "webtest-xtask-{}.lock",
            &hex::encode(sha2::Sha256::digest(self.endpoint.as_bytes()))[..12]
        ));
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("open the lock file {}", path.display()))?;
        let mut on_wait = Some(on_wait);
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    // The holder writes who it is just after it takes the lock: give it a
                    // moment, so that the message can name it.
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    let holder = holder.trim();
                    if !holder.is_empty() || started.elapsed() > Duration::from_secs(1) {
                        if let Some(on_wait) = on_wait.take() {
                            on_wait(if holder.is_empty() {
                                "another cargo xtask"
                            } else {
                                holder
                            });
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(std::fs::TryLockError::Error(err)) => {
                    return Err(err).with_context(|| format!("lock {}", path.display()))
                }
            }
        }
        use std::io::{Seek, Write};
        file.set_len(0)?;
        file.rewind()?;
        write!(
            file,
            "cargo xtask {command} (pid {}, in {})",
            std::process::id(),
            std::env::current_dir().unwrap_or_default().display()
        )?;
        Ok(EngineLock { file })
    }

    /// Runs `work` until it ends or SIGINT or SIGTERM arrives, and then, either way, removes
    /// every container this handle started and has not removed yet. A signal becomes
    /// [`Interrupted`], so the process exits only once its containers are gone.
    pub async fn guarded<T>(
        &self,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt()).context("handle SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("handle SIGTERM")?;
        let outcome = tokio::select! {
            outcome = work => outcome,
            _ = interrupt.recv() => Err(Interrupted { signal: "SIGINT", number: 2 }.into()),
            _ = terminate.recv() => Err(Interrupted { signal: "SIGTERM", number: 15 }.into()),
        };
        let cleanup = self
            .remove_tracked()
            .await
            .context("remove the containers this run started");
        match (outcome, cleanup) {
            (Ok(value), cleanup) => cleanup.map(|()| value),
            // After a signal, a clean-up that failed is said, under the signal that still sets
            // the exit code: nothing may claim that what the run started is gone when it is not.
            (Err(err), Err(cleanup)) if err.is::<Interrupted>() => {
                let interrupted = err.downcast::<Interrupted>().expect("checked above");
                Err(cleanup.context(interrupted))
            }
            // The work's own error says what went wrong; a clean-up that failed as well is
            // secondary to it.
            (Err(err), _) => Err(err),
        }
    }

    /// The newest tag of `repository` in the engine (`webtest-base/alpine:bookworm` for
    /// `webtest-base/alpine`), or `None` when it has none.
    pub async fn newest_tag(&self, repository: &str) -> Result<Option<String>> {
        let filters = HashMap::from([("reference", vec![repository])]);
        let options = ListImagesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let mut images = self
            .docker
            .list_images(Some(options))
            .await
            .with_context(|| format!("list the images of {repository}"))?;
        images.sort_by_key(|image| std::cmp::Reverse(image.created));
        let prefix = format!("{repository}:");
        Ok(images
            .iter()
            .flat_map(|image| image.repo_tags.iter())
            .find(|tag| tag.starts_with(&prefix))
            .cloned())
    }

    /// The image's facts, or `None` when the engine has no such image.
    pub async fn image(&self, name: &str) -> Result<Option<ImageFacts>> {
        let inspect = match self.docker.inspect_image(name).await {
            Ok(inspect) => inspect,
            Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(None),
            Err(err) => return Err(err).with_context(|| format!("inspect image {name}")),
        };
        let config = inspect.config.unwrap_or_default();
        let mut exposed_ports = config.exposed_ports.unwrap_or_default();
        exposed_ports.sort();
        Ok(Some(ImageFacts {
            id: inspect.id.unwrap_or_default(),
            size: inspect.size.unwrap_or(0).max(0) as u64,
            layers: inspect.root_fs.and_then(|fs| fs.layers).unwrap_or_default(),
            labels: config.labels.unwrap_or_default().into_iter().collect(),
            user: config.user.unwrap_or_default(),
            entrypoint: config.entrypoint.unwrap_or_default(),
            cmd: config.cmd.unwrap_or_default(),
            exposed_ports,
            healthcheck: config
                .healthcheck
                .and_then(|h| h.test)
                .filter(|test| test.first().map(String::as_str) != Some("NONE")),
        }))
    }

    /// `docker history`, oldest first.
    pub async fn history(&self, name: &str) -> Result<Vec<HistoryEntry>> {
        let mut entries = self
            .docker
            .image_history(name)
            .await
            .with_context(|| format!("read the history of {name}"))?;
        entries.reverse();
        Ok(entries
            .into_iter()
            .map(|e| HistoryEntry {
                created_by: e.created_by,
                size: e.size.max(0) as u64,
            })
            .collect())
    }

    /// Pulls an image. Fails fast when no registry can be reached.
    pub async fn pull(&self, image: &str) -> Result<()> {
        let options = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let mut stream = self.docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            item.with_context(|| format!("pull {image}"))?;
        }
        Ok(())
    }

    /// Loads a `docker save`-format archive (`POST /images/load`), streaming it from disk.
    pub async fn load(&self, archive: &Path) -> Result<()> {
        let file = tokio::fs::File::open(archive)
            .await
            .with_context(|| format!("open {}", archive.display()))?;
        let body = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
        let options = ImportImageOptionsBuilder::default().quiet(true).build();
        let mut stream = self.docker.import_image_stream(options, body, None);
        while let Some(item) = stream.next().await {
            item.with_context(|| format!("load {} into the engine", archive.display()))?;
        }
        Ok(())
    }

    /// Streams `docker save` of one image.
    pub fn export(&self, name: &str) -> impl tokio::io::AsyncRead + Send + Unpin + 'static {
        let stream = self
            .docker
            .export_image(name)
            .map_err(std::io::Error::other);
        tokio_util::io::StreamReader::new(Box::pin(stream))
    }

    /// Images that carry the project's label, with their tags.
    pub async fn labelled_images(
        &self,
    ) -> Result<Vec<(String, Vec<String>, BTreeMap<String, String>)>> {
        let filters = HashMap::from([("label", vec![LABEL])]);
        let options = ListImagesOptionsBuilder::default()
            .all(false)
            .filters(&filters)
            .build();
        let images = self
            .docker
            .list_images(Some(options))
            .await
            .context("list the project's images")?;
        Ok(images
            .into_iter()
            .map(|i| (i.id, i.repo_tags, i.labels.into_iter().collect()))
            .collect())
    }

    /// Containers (running or not) the tool created: they carry the label only the tool sets at
    /// creation, which no image passes on.
    pub async fn labelled_containers(&self) -> Result<Vec<String>> {
        let filters = HashMap::from([("label", vec![LABEL_CONTAINER])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let containers = self
            .docker
            .list_containers(Some(options))
            .await
            .context("list the project's containers")?;
        Ok(containers.into_iter().filter_map(|c| c.id).collect())
    }

    /// Removes a build that was only a measurement: its tag, then every image it made, newest
    /// first (each was the parent of the next). `noprune` keeps the parents it took from the
    /// cache or a `FROM`, which other images still use.
    pub async fn remove_built(&self, tag: &str, made: &[String]) -> Result<()> {
        let options = RemoveImageOptionsBuilder::default().noprune(true);
        for name in std::iter::once(tag).chain(made.iter().rev().map(String::as_str)) {
            self.remove_image_with(name, options.clone())
                .await
                .with_context(|| format!("remove image {name}"))?;
        }
        Ok(())
    }

    /// Removes one tag: the image goes with its last tag, with the untagged images of its build
    /// steps, unless another image builds on it (then it stays, as that image's parent). An
    /// image a container uses is refused, never forced.
    pub async fn remove_tag(&self, tag: &str) -> Result<()> {
        self.remove_image_with(tag, RemoveImageOptionsBuilder::default().force(false))
            .await
            .with_context(|| format!("remove the tag {tag}"))
    }

    /// Removes an image by name or ID, with every tag it has (forced): for the local bases.
    pub async fn remove_image(&self, name: &str) -> Result<()> {
        self.remove_image_with(name, RemoveImageOptionsBuilder::default().force(true))
            .await
            .with_context(|| format!("remove image {name}"))
    }

    /// `DELETE /images/{name}`; an image that is not there is no error.
    async fn remove_image_with(
        &self,
        name: &str,
        options: RemoveImageOptionsBuilder,
    ) -> Result<(), DockerError> {
        match self
            .docker
            .remove_image(name, Some(options.build()), None)
            .await
        {
            Ok(_)
            | Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(err) => Err(err),
        }
    }
}

/// The host port is held by another program: say so, and how to get past it.
pub fn port_taken(host_ip: std::net::IpAddr, port: u16) -> Fix {
    Fix {
        problem: format!("port {port} on {host_ip} is already in use by another program"),
        next: format!(
            "stop what listens on {host_ip}:{port} (`ss -ltnp 'sport = :{port}'` names it; a \
             container left by an earlier run goes with `cargo xtask clean`), or choose another \
             port with --port N (--port 0 takes any free one)"
        ),
    }
}
