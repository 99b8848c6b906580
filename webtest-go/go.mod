// The Go twin of the Rust webtest service: standard library only, so `go mod download` has
// nothing to fetch and the build needs no network. `go 1.19` keeps it buildable by Debian
// bookworm's Go (the offline stand-in toolchain) as well as by current official images.
module webtest

go 1.19
