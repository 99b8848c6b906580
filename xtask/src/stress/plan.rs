//! The flags of `cargo xtask stress` and the typed plan made of them and the manifest, before
//! any I/O: which variant, which image, how hard, and where the report goes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::ctx::Ctx;
use crate::engine::{Publish, Security};
use crate::error::UsageError;
use crate::manifest::Manifest;
use crate::runner::Service;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The variant to stress: one of the manifest's variants that runs.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_VARIANT)]
    pub variant: String,
    /// How long the load phase lasts, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub duration: u64,
    /// How many keep-alive connections the load phase keeps busy.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,
    /// How many malformed requests the garbage phase sends, each on its own connection.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub garbage: u32,
    /// How many idle and half-open connections the idle phase holds.
    #[arg(long, value_name = "N", default_value_t = 300)]
    pub idle: u32,
    /// The host port the container publishes to on 127.0.0.1 (0 takes any free one).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub port: u16,
    /// Where the probes reach the published port (default: the engine's host, 127.0.0.1 for a
    /// local engine). The container publishes on the engine host's loopback only, so a remote
    /// engine is reached through a tunnel: `--probe-host 127.0.0.1`.
    #[arg(long, value_name = "HOST", value_parser = crate::runner::probe_host_arg)]
    pub probe_host: Option<IpAddr>,
    /// Stress the image as it is, without building; a missing image is an error.
    #[arg(long)]
    pub no_build: bool,
    /// Where stress.json goes, relative to the workspace root (default: target/xtask).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// The variant stressed when no `--variant` is given: the one that ships.
pub const DEFAULT_VARIANT: &str = "multistage";
/// Only the loopback address: the garbage phase must never reach beyond this machine.
pub const HOST_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Whether the image is built before it is stressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// Build the variant; the build cache makes an unchanged one take seconds.
    Changed,
    Skip,
}

/// What `stress` does, decided once from the flags and the manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The manifest's name of the variant, and its image `repository:variant`.
    pub variant: String,
    pub image: String,
    /// The manifest's `hardened`, true unless it says otherwise.
    pub security: Security,
    /// The manifest's `tmpfs`: the paths mounted as a tmpfs each.
    pub tmpfs: Vec<String>,
    /// The port the service listens on inside the container.
    pub container_port: u16,
    pub out: PathBuf,
    /// The host port; 0 until `runner::host_port` has chosen a free one.
    pub port: u16,
    pub build: Build,
    pub duration: Duration,
    pub connections: u32,
    pub garbage: u32,
    pub idle: u32,
    pub ready_timeout: Duration,
    /// Where the published port is reached: the engine's host, or `--probe-host`.
    pub probe_host: IpAddr,
}

impl Plan {
    /// The plan; `engine_host` is where the engine's published ports are reached when
    /// `--probe-host` does not say (see `Engine::probe_host`).
    pub fn new(ctx: &Ctx, manifest: &Manifest, args: &Args, engine_host: IpAddr) -> Result<Plan> {
        Plan::of(
            manifest,
            args,
            ctx.path_or(args.out.as_deref(), ctx.out_dir()),
            engine_host,
        )
    }

    /// The plan with the report going to `out`: everything but the paths, which need a `Ctx`.
    fn of(manifest: &Manifest, args: &Args, out: PathBuf, engine_host: IpAddr) -> Result<Plan> {
        let probe_host = args.probe_host.unwrap_or(engine_host);
        if !probe_host.is_loopback() {
            return Err(UsageError(format!(
                "stress publishes only on the loopback of the engine's host (its garbage must \
                 not reach beyond one machine), which {probe_host} is not: reach that loopback \
                 through a tunnel (ssh -L PORT:127.0.0.1:PORT) and pass --probe-host 127.0.0.1 \
                 --port PORT"
            ))
            .into());
        }
        let name = &args.variant;
        let Some(variant) = manifest.variants.get(name) else {
            let known: Vec<&str> = manifest.variants.keys().map(String::as_str).collect();
            return Err(UsageError(format!(
                "stress runs a variant of {}, and `{name}` is none of them ({})",
                manifest.path.display(),
                known.join(", ")
            ))
            .into());
        };
        if !variant.run {
            return Err(UsageError(format!(
                "the variant `{name}` of {} does not run (it has `run: false`), so it cannot be stressed",
                manifest.path.display()
            ))
            .into());
        }
        Ok(Plan {
            variant: name.clone(),
            image: manifest.tag(name),
            security: if variant.hardened {
                Security::Hardened
            } else {
                Security::Default
            },
            tmpfs: variant.tmpfs.clone(),
            container_port: manifest.port,
            out,
            port: args.port,
            build: if args.no_build {
                Build::Skip
            } else {
                Build::Changed
            },
            duration: Duration::from_secs(args.duration),
            connections: args.connections,
            garbage: args.garbage,
            idle: args.idle,
            ready_timeout: Duration::from_secs(manifest.run.ready_timeout_secs),
            probe_host,
        })
    }

    /// The container as the runner starts it: published on 127.0.0.1 only.
    pub fn service(&self) -> Service<'_> {
        Service {
            image: &self.image,
            publish: Publish {
                container_port: self.container_port,
                host_ip: HOST_IP,
                host_port: self.port,
            },
            security: self.security,
            tmpfs: &self.tmpfs,
            ready_timeout: self.ready_timeout,
            probe_host: self.probe_host,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.probe_host, self.port)
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn manifest() -> Manifest {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .join("docker")
            .join("images.yaml");
        let text = "repository: webtest-plan\nvariants:\n  \
             multistage: { dockerfile: docker/Dockerfile.multistage, run: true }\n  \
             soft: { dockerfile: docker/Dockerfile.multistage, run: true, hardened: false }\n  \
             builder: { dockerfile: docker/Dockerfile.multistage, target: builder }\n";
        Manifest::parse(text, &path).unwrap()
    }

    fn plan(flags: &[&str]) -> Result<Plan> {
        let cli = Cli::try_parse_from([&["stress"], flags].concat()).unwrap();
        Plan::of(&manifest(), &cli.args, PathBuf::from("out"), HOST_IP)
    }

    #[test]
    fn the_multistage_variant_is_stressed_hardened_by_default() {
        let plan = plan(&[]).unwrap();
        assert_eq!(plan.variant, "multistage");
        assert_eq!(plan.image, "webtest-plan:multistage");
        assert_eq!(plan.security, Security::Hardened);
        assert_eq!(plan.build, Build::Changed);
        assert_eq!(plan.duration, Duration::from_secs(20));
        assert_eq!(plan.service().publish.host_ip, HOST_IP);
    }

    #[test]
    fn another_variant_runs_as_the_manifest_says() {
        let plan = plan(&["--variant", "soft", "--no-build", "--port", "9"]).unwrap();
        assert_eq!(plan.image, "webtest-plan:soft");
        assert_eq!(plan.security, Security::Default);
        assert_eq!(plan.build, Build::Skip);
        assert_eq!(plan.base(), "http://127.0.0.1:9");
    }

    #[test]
    fn probes_go_to_the_probe_host_which_must_be_a_loopback() {
        let ipv6 = plan(&["--probe-host", "::1", "--port", "9"]).unwrap();
        assert_eq!(ipv6.base(), "http://[::1]:9");
        assert_eq!(ipv6.service().publish.host_ip, HOST_IP);
        let err = plan(&["--probe-host", "10.0.0.7"]).unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some(), "{err:#}");
        assert!(
            err.to_string().contains("--probe-host 127.0.0.1"),
            "{err:#}"
        );
    }

    #[test]
    fn a_variant_that_is_missing_or_does_not_run_is_bad_usage() {
        for variant in ["nope", "builder"] {
            let err = plan(&["--variant", variant]).unwrap_err();
            assert!(
                err.downcast_ref::<UsageError>().is_some(),
                "{variant}: {err:#}"
            );
        }
    }
}
