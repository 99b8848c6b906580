//! Integration tests of debimage: against the real Debian mirror (deb.debian.org) where a
//! test claims to test fetching, and against copies of its files served on 127.0.0.1 where a
//! test needs to change what the mirror serves. Downloads are cached between runs in
//! `$DEBIMAGE_TEST_CACHE` (default: `debimage-test-cache` in the system's temporary folder).

mod archive;
mod fetch;
mod lock;
mod signature;
mod suites;
mod support;
