//! Hand-made layer tars, for the cases an engine does not make on its own.

use tar::{Builder, EntryType, Header};

/// A layer tar being written.
pub struct LayerTar(Builder<Vec<u8>>);

impl LayerTar {
    pub fn new() -> Self {
        LayerTar(Builder::new(Vec::new()))
    }

    fn header(kind: EntryType, mode: u32, size: u64) -> Header {
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(1_700_000_000);
        header
    }

    pub fn dir(mut self, path: &str) -> Self {
        let mut header = Self::header(EntryType::Directory, 0o755, 0);
        self.0
            .append_data(&mut header, path, std::io::empty())
            .unwrap();
        self
    }

    /// A regular file of `size` bytes of `fill`.
    pub fn file(mut self, path: &str, size: usize, fill: u8) -> Self {
        let mut header = Self::header(EntryType::Regular, 0o644, size as u64);
        let data = vec![fill; size];
        self.0
            .append_data(&mut header, path, data.as_slice())
            .unwrap();
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut header = Self::header(EntryType::Symlink, 0o777, 0);
        self.0.append_link(&mut header, path, target).unwrap();
        self
    }

    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        let mut header = Self::header(EntryType::Link, 0o644, 0);
        self.0.append_link(&mut header, path, target).unwrap();
        self
    }

    /// Deletes `name` in `dir` (`""` for the root) from the layers below.
    pub fn whiteout(self, dir: &str, name: &str) -> Self {
        let path = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        self.file(&path, 0, 0)
    }

    /// Hides everything below in `dir`.
    pub fn opaque(self, dir: &str) -> Self {
        self.file(&format!("{dir}/.wh..wh..opq"), 0, 0)
    }

    pub fn done(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// Layers with every case dive's tree treats in its own way: overwrites that grow and shrink,
/// deleted files and directories, an opaque directory, a directory replaced by a file and back,
/// a path deleted and made again, links, empty directories, parents without entries of their
/// own, `./` names, and a name longer than a tar header holds.
pub fn edge_cases() -> Vec<Vec<u8>> {
    let long = format!("deep/{}/file", "n".repeat(120));
    vec![
        LayerTar::new()
            .dir("bin")
            .dir("etc")
            .file("etc/grows", 1_000, b'a')
            .file("etc/shrinks", 9_000, b'b')
            .file("etc/gone", 4_000, b'c')
            .dir("var")
            .dir("var/cache")
            .dir("var/cache/apt")
            .file("var/cache/apt/pkgcache.bin", 30_000, b'd')
            .file("var/cache/apt/srcpkgcache.bin", 20_000, b'e')
            .dir("opt")
            .file("opt/old-a", 3_000, b'f')
            .file("opt/old-b", 2_000, b'g')
            .dir("empty")
            .dir("swap")
            .file("swap/inner", 500, b'h')
            .file("becomes-dir", 600, b'i')
            .file("bin/tool", 7_000, b'j')
            .hardlink("bin/tool-link", "bin/tool")
            .symlink("bin/sh", "tool")
            .file("implicit/parents/only", 800, b'k')
            .file(&long, 1_500, b'l')
            .done(),
        LayerTar::new()
            .dir("etc")
            .file("etc/grows", 5_000, b'A')
            .file("etc/shrinks", 300, b'B')
            .whiteout("etc", "gone")
            .dir("var")
            .dir("var/cache")
            .whiteout("var/cache", "apt")
            .dir("opt")
            .opaque("opt")
            .file("opt/new", 1_200, b'C')
            .dir("empty")
            // A directory replaced by a file and a file by a directory, as the engine writes
            // them: the new entry alone, which replaces what lies below when applied.
            .file("swap", 50, b'D')
            .dir("becomes-dir")
            .file("becomes-dir/x", 70, b'E')
            .file("./dot/slash", 90, b'F')
            .done(),
        LayerTar::new()
            .dir("var")
            .dir("var/cache")
            .dir("var/cache/apt")
            .file("var/cache/apt/pkgcache.bin", 31_000, b'G')
            .whiteout("bin", "tool")
            .file("etc/grows", 5_000, b'H')
            .done(),
        LayerTar::new()
            .dir("var")
            .dir("var/cache")
            .whiteout("var/cache", "apt")
            .whiteout("implicit", "parents")
            .done(),
    ]
}

/// A whiteout of a path no layer below has: dive's visit of that layer stops there, and what
/// the layer holds after it (by name) counts for nothing.
pub fn whiteout_of_nothing() -> Vec<Vec<u8>> {
    vec![
        LayerTar::new()
            .dir("a")
            .file("a/one", 2_000, b'1')
            .file("keep", 100, b'k')
            .done(),
        LayerTar::new()
            .dir("a")
            .whiteout("a", "ghost")
            .file("a/one", 3_000, b'2')
            .file("zz-after", 4_000, b'3')
            .done(),
    ]
}
