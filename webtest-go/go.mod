// The Go twin of the Rust webtest service: standard library only, so `go mod download` has
// nothing to fetch and the build needs no network. `go 1.19` keeps it buildable by Debian
// bookworm's own Go as well as by the stand-in toolchain (1.23 from bookworm-backports) and
// current official images.
module webtest

go 1.19
