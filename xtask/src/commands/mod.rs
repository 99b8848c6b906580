//! The command layer: one module per `cargo xtask` command that turns its flags into a plan,
//! gathers what the plan needs and hands the result to the renderers.

pub mod analyze;
