//! Containers: create and start (always with the creation-only label), inspect, logs, memory,
//! stop and remove, and the removal of everything a run started when it ends early.

use super::*;

/// How each of a [`RunSpec`]'s tmpfs paths is mounted: writable by any user (the sticky bit
/// as on `/tmp`), nothing on it executed, no device or set-user-ID file honoured, and bounded so
/// that a runaway writer fills 16 MB of memory, not the host's.
const TMPFS_OPTIONS: &str = "rw,nosuid,nodev,noexec,size=16m,mode=1777";

impl Engine {
    /// Creates and starts a container; it is tracked until [`Engine::remove`].
    pub async fn start(&self, spec: &RunSpec<'_>) -> Result<String> {
        let mut host = HostConfig::default();
        if spec.security == Security::Hardened {
            host.readonly_rootfs = Some(true);
            host.cap_drop = Some(vec!["ALL".into()]);
            host.security_opt = Some(vec!["no-new-privileges:true".into()]);
        }
        if !spec.tmpfs.is_empty() {
            host.tmpfs = Some(
                spec.tmpfs
                    .iter()
                    .map(|path| (path.clone(), TMPFS_OPTIONS.to_string()))
                    .collect(),
            );
        }
        let mut body = ContainerCreateBody {
            image: Some(spec.image.to_string()),
            labels: Some(
                spec.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            entrypoint: spec.entrypoint.clone(),
            cmd: spec.cmd.clone(),
            ..Default::default()
        };
        if let Some(publish) = spec.publish {
            let key = format!("{}/tcp", publish.container_port);
            body.exposed_ports = Some(vec![key.clone()]);
            host.port_bindings = Some(HashMap::from([(
                key,
                Some(vec![PortBinding {
                    host_ip: Some(publish.host_ip.to_string()),
                    host_port: Some(publish.host_port.to_string()),
                }]),
            )]));
        }
        body.host_config = Some(host);
        let id = self
            .create_tracked(body, &format!("a container of {}", spec.image))
            .await?;
        if let Err(err) = self.docker.start_container(&id, None).await {
            let _ = self.remove(&id).await;
            let message = match &err {
                DockerError::DockerResponseServerError { message, .. } => message.clone(),
                other => root_cause(other),
            };
            if let Some(publish) = spec.publish {
                if message.contains("already allocated")
                    || message.contains("address already in use")
                {
                    return Err(port_taken(publish.host_ip, publish.host_port).into());
                }
            }
            return Err(anyhow!(message))
                .with_context(|| format!("start a container of {}", spec.image));
        }
        Ok(id)
    }

    /// Creates `what` from `body` and tracks it until [`Engine::remove`], so that a run that
    /// ends early still removes it. Every container the engine module creates comes through
    /// here and carries the creation-only label, whatever the caller passed: `clean` finds the
    /// tool's containers by it and by nothing else.
    pub(super) async fn create_tracked(
        &self,
        mut body: ContainerCreateBody,
        what: &str,
    ) -> Result<String> {
        body.labels
            .get_or_insert_with(Default::default)
            .insert(LABEL_CONTAINER.to_string(), "1".to_string());
        let options = CreateContainerOptionsBuilder::default().build();
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .with_context(|| format!("create {what}"))?;
        self.live
            .lock()
            .expect("container registry")
            .insert(created.id.clone());
        Ok(created.id)
    }

    /// The container's state, and the security settings and port bindings it really runs with.
    pub async fn container(&self, id: &str) -> Result<ContainerFacts> {
        let inspect = self
            .docker
            .inspect_container(id, None)
            .await
            .context("inspect the container")?;
        let state = inspect.state.unwrap_or_default();
        let host = inspect.host_config.unwrap_or_default();
        let running = state.running.unwrap_or(false);
        let mut published: Vec<String> = inspect
            .network_settings
            .and_then(|n| n.ports)
            .unwrap_or_default()
            .into_values()
            .flatten()
            .flatten()
            .map(|b| {
                format!(
                    "{}:{}",
                    b.host_ip.unwrap_or_default(),
                    b.host_port.unwrap_or_default()
                )
            })
            .collect();
        published.sort();
        let mut tmpfs: Vec<String> = host.tmpfs.unwrap_or_default().into_keys().collect();
        tmpfs.sort();
        Ok(ContainerFacts {
            running,
            exit_code: if running { None } else { state.exit_code },
            oom_killed: state.oom_killed.unwrap_or(false),
            read_only_rootfs: host.readonly_rootfs.unwrap_or(false),
            cap_drop: host.cap_drop.unwrap_or_default(),
            no_new_privileges: host
                .security_opt
                .unwrap_or_default()
                .iter()
                .any(|o| o == "no-new-privileges" || o == "no-new-privileges:true"),
            user: inspect.config.and_then(|c| c.user).unwrap_or_default(),
            published,
            tmpfs,
        })
    }

    /// Runs a container to its end and returns its exit code and output; the container is removed.
    pub async fn run_to_end(&self, spec: &RunSpec<'_>, timeout: Duration) -> Result<Finished> {
        let id = self.start(spec).await?;
        let result = async {
            let mut wait = self.docker.wait_container(&id, None);
            let code = match tokio::time::timeout(timeout, wait.next()).await {
                Err(_) => bail!("the command did not end within {} s", timeout.as_secs()),
                Ok(None) => bail!("the engine did not report how the container ended"),
                Ok(Some(Ok(response))) => response.status_code,
                // bollard reports a non-zero exit as an error that carries the code.
                Ok(Some(Err(DockerError::DockerContainerWaitError { code, .. }))) => code,
                Ok(Some(Err(err))) => return Err(err).context("wait for the container"),
            };
            Ok(Finished {
                exit_code: code,
                output: self.logs(&id).await?,
            })
        }
        .await;
        self.remove(&id).await?;
        result
    }

    /// Everything the container printed so far, stdout and stderr interleaved.
    pub async fn logs(&self, id: &str) -> Result<String> {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .build();
        let chunks: Vec<_> = self
            .docker
            .logs(id, Some(options))
            .try_collect()
            .await
            .context("read the container's logs")?;
        Ok(chunks
            .into_iter()
            .map(|c| String::from_utf8_lossy(&c.into_bytes()).into_owned())
            .collect())
    }

    /// Memory in use, as `docker stats` shows it: usage less the page cache.
    pub async fn memory(&self, id: &str) -> Result<u64> {
        let options = StatsOptionsBuilder::default()
            .stream(false)
            .one_shot(true)
            .build();
        let stats = self
            .docker
            .stats(id, Some(options))
            .next()
            .await
            .ok_or_else(|| anyhow!("no stats came"))?
            .context("read the container's stats")?;
        let memory = stats.memory_stats.unwrap_or_default();
        let usage = memory.usage.unwrap_or(0);
        let extra = memory.stats.unwrap_or_default();
        // cgroup v1 calls the page cache `cache` (docker's CLI subtracts `total_inactive_file`
        // when present); cgroup v2 calls it `inactive_file`.
        let cache = ["total_inactive_file", "inactive_file", "cache"]
            .iter()
            .find_map(|key| extra.get(*key).copied())
            .unwrap_or(0);
        Ok(usage.saturating_sub(cache))
    }

    /// Stops a container (SIGTERM, then SIGKILL after `grace`) and returns how long it took.
    pub async fn stop(&self, id: &str, grace: Duration) -> Result<Duration> {
        let options = StopContainerOptionsBuilder::default()
            .t(grace.as_secs() as i32)
            .build();
        let started = Instant::now();
        self.docker
            .stop_container(id, Some(options))
            .await
            .context("stop the container")?;
        Ok(started.elapsed())
    }

    /// Removes a container, running or not, with its anonymous volumes.
    pub async fn remove(&self, id: &str) -> Result<()> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(())
            | Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            // The engine is removing it already: an interrupted build's step container goes
            // with its cancelled build at the moment the interrupt removes it too. It is gone
            // once the engine is done, and the images it holds can go only then.
            Err(
                err @ DockerError::DockerResponseServerError {
                    status_code: 409, ..
                },
            ) => {
                if !self.gone_within(id, Duration::from_secs(10)).await {
                    return Err(err).with_context(|| format!("remove container {id}"));
                }
            }
            Err(err) => return Err(err).with_context(|| format!("remove container {id}")),
        }
        self.live.lock().expect("container registry").remove(id);
        Ok(())
    }

    /// Whether the container is gone, or goes within `limit`.
    async fn gone_within(&self, id: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            match self.docker.inspect_container(id, None).await {
                Err(DockerError::DockerResponseServerError {
                    status_code: 404, ..
                }) => return true,
                _ if Instant::now() >= deadline => return false,
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Removes every container this engine handle started and has not removed yet, the images
    /// of the builds under way and the run's own tags: the clean-up for a run that ended early,
    /// by an error or by Ctrl-C. One removal that fails does not keep the rest from being
    /// tried; the first failure is returned once everything has been.
    pub async fn remove_tracked(&self) -> Result<()> {
        let ids: Vec<String> = self
            .live
            .lock()
            .expect("container registry")
            .iter()
            .cloned()
            .collect();
        let mut failed = None;
        for id in ids {
            if let Err(err) = self.remove(&id).await {
                failed.get_or_insert(err);
            }
        }
        self.remove_unfinished_build(None).await;
        if let Err(err) = self.untag_tracked().await {
            failed.get_or_insert(err);
        }
        failed.map_or(Ok(()), Err)
    }
}
