//! The measurements of `cargo xtask bench`: the HTTP services under wrk (`http`), and our
//! image analysis against dive's (`dive`). They return figures; `report::bench` words them.

pub mod dive;
pub mod http;
