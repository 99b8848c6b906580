//! Registries through the Engine API: start the throwaway registry container (hardened, its
//! storage on a tmpfs, published on 127.0.0.1 only), tag an image for a registry, push it, pull
//! it back and untag it. What a push or a pull reports is read off the engine's progress stream:
//! the digest, and which layers moved and which the other side already held.

use std::time::{Duration, Instant};

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{PushImageOptionsBuilder, TagImageOptionsBuilder};

use super::*;

/// The registry container's port, and where its storage lives inside it.
pub const REGISTRY_PORT: u16 = 5000;
pub const REGISTRY_STORAGE: &str = "/var/lib/registry";

/// How the throwaway registry is started.
pub struct RegistrySpec<'a> {
    pub image: &'a str,
    /// `REGISTRY_*` variables, which Distribution reads over its config file.
    pub env: Vec<String>,
    /// The user it runs as, by number, so that no passwd entry is needed.
    pub user: &'a str,
    /// The free host port on 127.0.0.1 it is published on.
    pub host_port: u16,
    pub labels: &'a BTreeMap<String, String>,
}

/// A login for a registry, as the user's docker config gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Login {
    pub server: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `base64(user:password)`, as `auths.<server>.auth` holds it.
    pub auth: Option<String>,
    pub identity_token: Option<String>,
}

impl Login {
    fn credentials(&self) -> DockerCredentials {
        DockerCredentials {
            username: self.username.clone(),
            password: self.password.clone(),
            auth: self.auth.clone(),
            serveraddress: Some(self.server.clone()),
            identitytoken: self.identity_token.clone(),
            ..Default::default()
        }
    }
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The manifest digest the registry answered with (`sha256:…`).
    pub digest: String,
    pub elapsed: Duration,
    /// Layers the engine uploaded.
    pub layers_pushed: usize,
    /// Layers the registry already held (or mounted from another repository of its own).
    pub layers_present: usize,
}

/// What a pull did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The manifest digest the engine pulled (`sha256:…`).
    pub digest: String,
    pub elapsed: Duration,
    /// The short (12-digit) blob digests of the layers the engine downloaded.
    pub downloaded: Vec<String>,
}

impl Engine {
    /// Starts the throwaway registry: read-only root, every capability dropped,
    /// no-new-privileges, a user that is not root, its storage on a tmpfs that goes with the
    /// container, and its port on 127.0.0.1 only. It is tracked like any container of the run,
    /// so an interrupted run removes it too.
    pub async fn start_registry(&self, spec: &RegistrySpec<'_>) -> Result<String> {
        let port = format!("{REGISTRY_PORT}/tcp");
        let host = HostConfig {
            readonly_rootfs: Some(true),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            // The blobs of every variant pass through here; the tmpfs is bounded by memory.
            tmpfs: Some(HashMap::from([(
                REGISTRY_STORAGE.to_string(),
                "rw,nosuid,nodev,noexec,mode=1777".to_string(),
            )])),
            port_bindings: Some(HashMap::from([(
                port.clone(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(spec.host_port.to_string()),
                }]),
            )])),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.to_string()),
            user: Some(spec.user.to_string()),
            env: Some(spec.env.clone()),
            exposed_ports: Some(vec![port]),
            labels: Some(
                spec.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            host_config: Some(host),
            ..Default::default()
        };
        let id = self
            .create_tracked(body, &format!("the registry container of {}", spec.image))
            .await?;
        if let Err(err) = self.docker.start_container(&id, None).await {
            let _ = self.remove(&id).await;
            return Err(err).with_context(|| format!("start the registry {}", spec.image));
        }
        Ok(id)
    }

    /// Tags `source` as `repo:tag` (`127.0.0.1:5000/webtest:multistage`). The tag is tracked
    /// until [`Engine::untag`], so that a run that ends early removes it too.
    pub async fn tag(&self, source: &str, repo: &str, tag: &str) -> Result<()> {
        let options = TagImageOptionsBuilder::default()
            .repo(repo)
            .tag(tag)
            .build();
        self.tags
            .lock()
            .expect("tag registry")
            .insert(format!("{repo}:{tag}"));
        self.docker
            .tag_image(source, Some(options))
            .await
            .with_context(|| format!("tag {source} as {repo}:{tag}"))
    }

    /// Removes every tag [`Engine::tag`] made and [`Engine::untag`] has not removed.
    pub(super) async fn untag_tracked(&self) -> Result<()> {
        let tags: Vec<String> = self
            .tags
            .lock()
            .expect("tag registry")
            .iter()
            .cloned()
            .collect();
        for tag in tags {
            self.untag(&tag).await?;
        }
        Ok(())
    }

    /// Removes one tag, and only the tag: without `force`, an image that has other tags keeps
    /// them and its layers, and an image a container uses is refused rather than removed.
    pub async fn untag(&self, reference: &str) -> Result<()> {
        let options = RemoveImageOptionsBuilder::default()
            .force(false)
            .noprune(true)
            .build();
        match self
            .docker
            .remove_image(reference, Some(options), None)
            .await
        {
            Ok(_)
            | Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                self.tags.lock().expect("tag registry").remove(reference);
                Ok(())
            }
            Err(err) => Err(err).with_context(|| format!("untag {reference}")),
        }
    }

    /// Pushes `repo:tag`, timed from the request to the registry's digest.
    pub async fn push(&self, repo: &str, tag: &str, login: Option<&Login>) -> Result<Pushed> {
        let options = PushImageOptionsBuilder::default().tag(tag).build();
        let started = Instant::now();
        let mut stream = self
            .docker
            .push_image(repo, Some(options), login.map(Login::credentials));
        let mut digest = None;
        let (mut layers_pushed, mut layers_present) = (0, 0);
        while let Some(item) = stream.next().await {
            let info = item.with_context(|| format!("push {repo}:{tag}"))?;
            if let Some(error) = info.error_detail.and_then(|e| e.message) {
                bail!("push {repo}:{tag}: {error}");
            }
            let status = info.status.unwrap_or_default();
            if status == "Pushed" {
                layers_pushed += 1;
            } else if status == "Layer already exists" || status.starts_with("Mounted from") {
                layers_present += 1;
            } else if let Some(found) = digest_in(&status, "digest: ") {
                // `multistage: digest: sha256:… size: 527`, the push's last line.
                digest = Some(found);
            }
        }
        Ok(Pushed {
            digest: digest
                .with_context(|| format!("the engine did not report the digest of {repo}:{tag}"))?,
            elapsed: started.elapsed(),
            layers_pushed,
            layers_present,
        })
    }

    /// Pulls `repo:tag`, timed from the request to the end of the stream.
    pub async fn pull_from(&self, repo: &str, tag: &str, login: Option<&Login>) -> Result<Pulled> {
        let options = CreateImageOptionsBuilder::default()
            .from_image(repo)
            .tag(tag)
            .build();
        let started = Instant::now();
        let mut stream =
            self.docker
                .create_image(Some(options), None, login.map(Login::credentials));
        let mut digest = None;
        let mut downloaded = Vec::new();
        while let Some(item) = stream.next().await {
            let info = item.with_context(|| format!("pull {repo}:{tag}"))?;
            if let Some(error) = info.error_detail.and_then(|e| e.message) {
                bail!("pull {repo}:{tag}: {error}");
            }
            let status = info.status.unwrap_or_default();
            if status == "Pull complete" {
                downloaded.extend(info.id);
            } else if let Some(found) = digest_in(&status, "Digest: ") {
                digest = Some(found);
            }
        }
        Ok(Pulled {
            digest: digest
                .with_context(|| format!("the engine did not report the digest of {repo}:{tag}"))?,
            elapsed: started.elapsed(),
            downloaded,
        })
    }
}

/// The `sha256:…` that follows `marker` in a progress line.
fn digest_in(status: &str, marker: &str) -> Option<String> {
    let rest = &status[status.find(marker)? + marker.len()..];
    let digest = rest.split_whitespace().next()?;
    digest.starts_with("sha256:").then(|| digest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_read_off_the_push_and_pull_lines() {
        let digest = "sha256:136df10819ff5d46bec53212489cab6045045fd8d0e85176eb8a34b9775ac669";
        assert_eq!(
            digest_in(
                &format!("multistage: digest: {digest} size: 527"),
                "digest: "
            ),
            Some(digest.to_string())
        );
        assert_eq!(
            digest_in(&format!("Digest: {digest}"), "Digest: "),
            Some(digest.to_string())
        );
        assert_eq!(digest_in("Pushed", "digest: "), None);
    }
}
