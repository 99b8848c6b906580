//! The one integration-test binary of the service: the real server over real TCP on loopback
//! ports (`http`, `abuse`) and the built binary run as Docker runs it (`binary`).

mod abuse;
mod binary;
mod common;
mod http;
