//! `compare`'s flags, and the plan they become for each app before any I/O: where the report
//! goes, where containers publish and where the probes reach them, whether to build, how many
//! starts, the registry round trip and the edit cost.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Result;

use crate::ctx::Ctx;
use crate::edit_cost;
use crate::engine::Publish;
use crate::manifest::Manifest;
use crate::runner;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The host port containers publish to (default: the manifest's port; 0 takes any free one).
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// The host address containers publish their port on. Anything but 127.0.0.1 exposes the
    /// containers beyond this machine.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Where the probes reach the published port (default: the engine's host, 127.0.0.1 for a
    /// local engine). A name is resolved once.
    #[arg(long, value_name = "HOST", value_parser = runner::probe_host_arg)]
    pub probe_host: Option<IpAddr>,
    /// Measure the images as they are, without building; a missing image is an error.
    #[arg(long)]
    pub no_build: bool,
    /// How many times each running variant is started (default: the manifest's `run.starts`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub starts: Option<u32>,
    /// What goes to standard output: the table for people, or the report as JSON.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Push and pull through this running registry (`HOST:PORT`, logins from the docker
    /// config) instead of starting one for the run.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "no_registry")]
    pub registry: Option<String>,
    /// Skip the registry round trip (push, pull, time to deploy).
    #[arg(long)]
    pub no_registry: bool,
    /// Measure every image again: start, probe and stop each variant, run the structure tests'
    /// commands and make the registry round trip even where the image is unchanged since a
    /// run that kept its figures.
    #[arg(long)]
    pub fresh: bool,
    /// Where report.json, report.md and sizes.svg go, relative to the workspace root (default:
    /// target/xtask).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Compare only this app: `rust`, `go` or `frontend` (the manifest's `app:` and those of the
    /// manifests its `apps:` names). Default: every app.
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,
    /// Also measure what a one-line change to the manifest's `edit:` file costs to rebuild, per
    /// variant (in a copy of the build context; the tree is not touched).
    #[arg(long)]
    pub edit_cost: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

/// Whether images are built before they are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// Build every variant; the build cache makes an unchanged one take seconds.
    Changed,
    Skip,
}

/// What `compare` does, decided once from the flags and the manifest.
pub struct Plan {
    pub out: PathBuf,
    /// Where the containers' port is published on the engine's host.
    pub host_ip: IpAddr,
    /// Where the probes reach that port: the engine's host, or `--probe-host`.
    pub probe_host: IpAddr,
    /// The host port; 0 until [`runner::host_port`] has chosen a free one.
    pub port: u16,
    pub build: Build,
    pub starts: u32,
    /// `--fresh`: no figure of a run, command or round trip comes from the cache.
    pub fresh: bool,
    pub format: Format,
    /// Present with `--edit-cost`.
    pub edit_cost: Option<edit_cost::Plan>,
    pub registry: crate::transfer::Registry,
    /// The manifest whose `registry:` makes the registry of the run when an app's own names
    /// none: the one that lists the apps (set by `compare::run`; `None` in a plan of its own).
    pub registry_home: Option<std::sync::Arc<Manifest>>,
}

impl Plan {
    /// The plan; `engine_host` is where the engine's published ports are reached when
    /// `--probe-host` does not say (see `Engine::probe_host`).
    pub fn new(ctx: &Ctx, manifest: &Manifest, args: &Args, engine_host: IpAddr) -> Result<Plan> {
        let probe_host = args.probe_host.unwrap_or(engine_host);
        if !probe_host.is_loopback() && args.bind.is_loopback() {
            return Err(crate::error::UsageError(format!(
                "the probes go to {probe_host}, but the containers publish on {} of the engine's host, \
                 which only that host reaches: pass --bind 0.0.0.0 (or the host's address), or \
                 reach its loopback through a tunnel and pass --probe-host 127.0.0.1",
                args.bind
            ))
            .into());
        }
        Ok(Plan {
            out: ctx.path_or(args.out.as_deref(), ctx.out_dir()),
            probe_host,
            host_ip: args.bind,
            port: args.port.unwrap_or(manifest.port),
            build: if args.no_build {
                Build::Skip
            } else {
                Build::Changed
            },
            starts: args.starts.unwrap_or(manifest.run.starts),
            fresh: args.fresh,
            format: args.format,
            edit_cost: if args.edit_cost {
                let nonce = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                Some(edit_cost::Plan::new(manifest, nonce)?)
            } else {
                None
            },
            registry: crate::transfer::Registry::from_flags(
                args.registry.as_deref(),
                args.no_registry,
            ),
            registry_home: None,
        })
    }

    /// How a variant's container is published.
    pub fn publish(&self, manifest: &Manifest) -> Publish {
        Publish {
            container_port: manifest.port,
            host_ip: self.host_ip,
            host_port: self.port,
        }
    }
}
