//! The command layer: the glue of one command, from its plan through the engine and the
//! measurement to the report written and shown. The modules it calls never call back: a
//! measurement returns data, and only `report` words it.

pub mod analyze;
pub mod bench;
pub mod stress;
