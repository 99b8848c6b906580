//! The one integration-test binary of `cargo xtask`: the real binary against the real Docker
//! engine (builds, containers, HTTP, the report), one module per area. Tests that need the
//! engine take `common::engine()` first, so they run one at a time; the others run in parallel.

mod abuse;
mod analyze;
mod apps;
mod bad_manifests;
mod bases;
mod clean;
mod common;
mod edit_cost;
mod engine;
mod faults;
mod registry;
mod render;
mod repo;
mod second_engine;
