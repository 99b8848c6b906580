//! The dpkg database of the layer: `status` (or distroless' `status.d`), the `info/` files
//! of each package, and the trigger interests.

use std::collections::BTreeMap;

use anyhow::Result;
use md5::{Digest, Md5};

use super::super::{Tree, Unpacked};
use crate::source::Resolution;
use crate::DpkgDb;

/// The control stanza of a package as dpkg records it: the `control` file with a
/// `Status` after `Package`, and for `Full`, the `Conffiles` with their installed MD5.
fn stanza(tree: &mut Tree, u: &Unpacked, status: bool) -> Result<String> {
    let control = String::from_utf8_lossy(&u.control["control"]).into_owned();
    let mut out = String::new();
    for line in control.trim_end().lines() {
        if line.trim().is_empty() {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if status && line.starts_with("Package:") {
            out.push_str("Status: install ok installed\n");
        }
    }
    if !status {
        return Ok(out);
    }
    if let Some(conffiles) = u.control.get("conffiles") {
        let mut lines = String::new();
        for line in String::from_utf8_lossy(conffiles).lines() {
            let path = line.trim();
            // `remove-on-upgrade` entries name files the package does not install.
            if path.is_empty() || !path.starts_with('/') {
                continue;
            }
            if let Some(data) = tree.read(path)? {
                lines.push_str(&format!(" {path} {}\n", hex::encode(Md5::digest(&data))));
            }
        }
        if !lines.is_empty() {
            out.push_str("Conffiles:\n");
            out.push_str(&lines);
        }
    }
    Ok(out)
}

/// dpkg's trigger interest database, which dpkg builds from each package's `triggers`
/// control file when it unpacks it: `triggers/File` lists file triggers
/// (`<path> <package>[/noawait]`), `triggers/<name>` the packages interested in an
/// explicit trigger. With it, packages installed later in the image still activate e.g.
/// libc-bin's `ldconfig` or ca-certificates' `update-ca-certificates`.
fn triggers(tree: &mut Tree, res: &Resolution, unpacked: &[Unpacked]) {
    let mut file_triggers = String::new();
    let mut named: BTreeMap<String, String> = BTreeMap::new();
    for (pkg, u) in res.packages.iter().zip(unpacked) {
        let Some(text) = u.control.get("triggers") else {
            continue;
        };
        for line in String::from_utf8_lossy(text).lines() {
            let mut words = line.split_whitespace();
            let (Some(directive), Some(name)) = (words.next(), words.next()) else {
                continue;
            };
            let who = match directive {
                "interest" | "interest-await" => pkg.dpkg_name(),
                "interest-noawait" => format!("{}/noawait", pkg.dpkg_name()),
                _ => continue,
            };
            if name.starts_with('/') {
                file_triggers.push_str(&format!("{name} {who}\n"));
            } else {
                named
                    .entry(name.to_string())
                    .or_default()
                    .push_str(&format!("{who}\n"));
            }
        }
    }
    tree.put_file(
        "var/lib/dpkg/triggers/File",
        0o644,
        0,
        0,
        file_triggers.into_bytes(),
    );
    tree.put_file("var/lib/dpkg/triggers/Unincorp", 0o644, 0, 0, Vec::new());
    for (name, who) in named {
        tree.put_file(
            &format!("var/lib/dpkg/triggers/{name}"),
            0o644,
            0,
            0,
            who.into_bytes(),
        );
    }
}

/// The package database; see [`DpkgDb`].
pub(super) fn dpkg_database(
    tree: &mut Tree,
    res: &Resolution,
    unpacked: &[Unpacked],
    style: DpkgDb,
) -> Result<()> {
    match style {
        DpkgDb::StatusD => {
            tree.ensure_dir("var/lib/dpkg/status.d", 0o755, 0, 0);
            for (pkg, u) in res.packages.iter().zip(unpacked) {
                let text = stanza(tree, u, false)?;
                tree.put_file(
                    &format!("var/lib/dpkg/status.d/{}", pkg.name),
                    0o644,
                    0,
                    0,
                    text.into_bytes(),
                );
                if let Some(md5sums) = u.control.get("md5sums") {
                    tree.put_file(
                        &format!("var/lib/dpkg/status.d/{}.md5sums", pkg.name),
                        0o644,
                        0,
                        0,
                        md5sums.clone(),
                    );
                }
            }
        }
        DpkgDb::Full => {
            for dir in [
                "",
                "/alternatives",
                "/info",
                "/parts",
                "/triggers",
                "/updates",
            ] {
                tree.ensure_dir(&format!("var/lib/dpkg{dir}"), 0o755, 0, 0);
            }
            let mut status = String::new();
            for (pkg, u) in res.packages.iter().zip(unpacked) {
                if !status.is_empty() {
                    status.push('\n');
                }
                status.push_str(&stanza(tree, u, true)?);
                let base = format!("var/lib/dpkg/info/{}", pkg.dpkg_name());
                let mut list = u.list.join("\n");
                list.push('\n');
                tree.put_file(&format!("{base}.list"), 0o644, 0, 0, list.into_bytes());
                for (name, data) in &u.control {
                    if name == "control" || name.contains('/') {
                        continue;
                    }
                    let script = matches!(
                        name.as_str(),
                        "preinst" | "postinst" | "prerm" | "postrm" | "config"
                    );
                    let mode = if script { 0o755 } else { 0o644 };
                    tree.put_file(&format!("{base}.{name}"), mode, 0, 0, data.clone());
                }
            }
            tree.put_file("var/lib/dpkg/status", 0o644, 0, 0, status.into_bytes());
            tree.put_file("var/lib/dpkg/available", 0o644, 0, 0, Vec::new());
            // Format 1 is the multiarch layout (`info/libc6:amd64.list`); without this
            // file dpkg assumes the old one and finds no file list for `Multi-Arch: same`
            // packages.
            tree.put_file("var/lib/dpkg/info/format", 0o644, 0, 0, b"1\n".to_vec());
            triggers(tree, res, unpacked);
        }
    }
    Ok(())
}
