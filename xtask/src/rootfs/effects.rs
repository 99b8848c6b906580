//! The effects of maintainer scripts that an image needs, reproduced by code.
//!
//! Nothing from a package is ever run. Instead, for the packages of bookworm's base
//! system, this module does what their `postinst` scripts (and dpkg triggers) would have
//! done on a fresh install and what a container needs; each effect applies only when its
//! package is in the set, and each says which script it stands for. Everything generated
//! is owned by root (unless the script sets another owner) and dated
//! [`FIXED_MTIME`](super::FIXED_MTIME); files copied with `cp -p` keep their metadata.
//!
//! Not reproduced, on purpose:
//! - `ldconfig` (libc-bin's trigger): without `/etc/ld.so.cache`, glibc's loader searches
//!   its default directories, which on Debian include the multiarch ones, so every
//!   library of the image is still found.
//! - OpenSSL hash links in `/etc/ssl/certs` (update-ca-certificates' `openssl rehash`):
//!   computing them needs X.509 parsing; the bundle, which is what curl, cargo, Go,
//!   rustls-native-certs and OpenSSL's default `CAfile` use, is written.
//! - `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`: the container engine mounts them.
//! - debconf's database and systemd units: nothing in an image reads them.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use md5::{Digest, Md5};

use super::layer::{Kind, Tree, Unpacked, DOC_EXCLUDES, DOC_INCLUDES};
use super::{DpkgDb, Resolution, Source};

/// Group ids that Debian allocates statically (base-passwd): `mail`, `shadow`, `utmp`.
const GID_MAIL: u64 = 8;
const GID_SHADOW: u64 = 42;
const GID_UTMP: u64 = 43;
/// The unprivileged user of distroless images.
const NONROOT: u64 = 65532;

/// Applies every effect, in a fixed order, then writes the dpkg database of `style`.
pub(super) fn apply(
    tree: &mut Tree,
    res: &Resolution,
    unpacked: &[Unpacked],
    style: DpkgDb,
) -> Result<()> {
    let has = |name: &str| res.packages.iter().any(|p| p.name == name);
    if has("base-files") {
        base_files(tree)?;
    }
    if has("dash") {
        dash(tree);
    }
    users_and_groups(tree, has("base-passwd"))?;
    if has("passwd") {
        shadow(tree)?;
    }
    nsswitch(tree, has("libc-bin"))?;
    if has("debianutils") {
        shells(tree)?;
    }
    if has("ca-certificates") {
        ca_certificates(tree)?;
    }
    if has("tzdata") {
        tzdata(tree);
    }
    alternatives(tree, unpacked, has("dpkg"));
    if has("apt") {
        apt_sources(tree, &res.source);
    }
    if res.drop_docs && has("dpkg") {
        dpkg_excludes(tree);
    }
    tmp(tree);
    dpkg_database(tree, res, unpacked, style)
}

/// `cp -p from to`, unless `to` exists: a copy with the source's mode, owner and mtime.
fn copy_preserving(tree: &mut Tree, from: &str, to: &str) -> Result<bool> {
    if tree.get(to).is_some() {
        return Ok(false);
    }
    let Some(node) = tree.get(from).cloned() else {
        return Ok(false);
    };
    let Some(data) = tree.read(from)? else {
        return Ok(false);
    };
    tree.put_file(to, node.mode, node.uid, node.gid, data);
    let path = tree.rewrite(to);
    if let Some(n) = tree.nodes.get_mut(&path) {
        n.mtime = node.mtime;
    }
    Ok(true)
}

/// base-files' postinst on a fresh install (`configure` with no old version).
fn base_files(tree: &mut Tree) -> Result<()> {
    if tree.get("etc/dpkg/origins/debian").is_some()
        && tree.get("etc/dpkg/origins/default").is_none()
    {
        tree.put_symlink("etc/dpkg/origins/default", "debian");
    }
    for (from, to) in [
        ("dot.profile", "root/.profile"),
        ("dot.bashrc", "root/.bashrc"),
        ("profile", "etc/profile"),
        ("motd", "etc/motd"),
    ] {
        copy_preserving(tree, &format!("usr/share/base-files/{from}"), to)?;
    }
    // `install_directory`: created only if missing.
    for dir in ["mnt", "srv", "opt", "etc/opt", "var/opt", "media"] {
        tree.ensure_dir(dir, 0o755, 0, 0);
    }
    tree.ensure_dir("var/mail", 0o2775, 0, GID_MAIL);
    if !matches!(
        tree.get("var/spool/mail").map(|n| &n.kind),
        Some(Kind::Symlink(_))
    ) {
        tree.put_symlink("var/spool/mail", "../mail");
    }
    tree.ensure_dir("run/lock", 0o1777, 0, 0);
    // `/var/run` and `/var/lock` (`migrate_directory`) are aliased while unpacking.
    // `install_local_dir`: root:root 0755 (staff 2775 only with
    // /etc/staff-group-for-usr-local, which base-files no longer creates).
    for dir in [
        "",
        "/share",
        "/share/man",
        "/bin",
        "/games",
        "/lib",
        "/include",
        "/sbin",
        "/src",
        "/etc",
    ] {
        tree.ensure_dir(&format!("usr/local{dir}"), 0o755, 0, 0);
    }
    tree.put_symlink("usr/local/man", "share/man");
    // `ensure_file_owner_mode`: login records, group utmp.
    for (file, mode) in [
        ("var/log/wtmp", 0o664),
        ("var/log/btmp", 0o660),
        ("var/log/lastlog", 0o664),
    ] {
        if tree.get(file).is_none() {
            tree.put_file(file, mode, 0, GID_UTMP, Vec::new());
        }
    }
    if matches!(tree.get("usr/share/info").map(|n| &n.kind), Some(Kind::Dir))
        && tree.get("usr/share/info/dir").is_none()
        && copy_preserving(tree, "usr/share/base-files/info.dir", "usr/share/info/dir")?
    {
        if let Some(n) = tree.nodes.get_mut("usr/share/info/dir") {
            n.mode = 0o644;
        }
    }
    Ok(())
}

/// bookworm's dash ships `/bin/sh -> dash` in its data; older and newer ones make it in
/// postinst (`replace_with_link`). Either way the image needs `/bin/sh` for `RUN`.
fn dash(tree: &mut Tree) {
    if tree.get("bin/sh").is_none() {
        tree.put_symlink("bin/sh", "dash");
    }
}

/// `/etc/passwd` and `/etc/group`: base-passwd's postinst copies its master files; without
/// base-passwd (distroless) the minimal accounts of Google's distroless images are written
/// instead, with their home directories, so that `USER nonroot` works.
fn users_and_groups(tree: &mut Tree, base_passwd: bool) -> Result<()> {
    if base_passwd {
        for (master, dest) in [
            ("passwd.master", "etc/passwd"),
            ("group.master", "etc/group"),
        ] {
            if tree.get(dest).is_none() {
                let data = tree
                    .read(&format!("usr/share/base-passwd/{master}"))?
                    .with_context(|| format!("base-passwd has no {master}"))?;
                tree.put_file(dest, 0o644, 0, 0, data);
            }
        }
        return Ok(());
    }
    if tree.get("etc/passwd").is_none() {
        let passwd = "root:x:0:0:root:/root:/sbin/nologin\n\
                      nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
                      nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
        tree.put_file("etc/passwd", 0o644, 0, 0, passwd.into());
    }
    if tree.get("etc/group").is_none() {
        let group = "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n";
        tree.put_file("etc/group", 0o644, 0, 0, group.into());
    }
    tree.ensure_dir("root", 0o700, 0, 0);
    tree.ensure_dir("home", 0o755, 0, 0);
    tree.ensure_dir("home/nonroot", 0o700, NONROOT, NONROOT);
    Ok(())
}

/// passwd's postinst runs `shadowconfig on`, i.e. `pwconv` and `grpconv`: passwords move
/// to `/etc/shadow` and `/etc/gshadow` (mode 0640, group shadow) and are replaced by `x`.
/// The last-change field is left empty (aging disabled) instead of the day of the build,
/// which would make the layer depend on the date.
fn shadow(tree: &mut Tree) -> Result<()> {
    for (file, shadow_file, is_group) in [
        ("etc/passwd", "etc/shadow", false),
        ("etc/group", "etc/gshadow", true),
    ] {
        if tree.get(shadow_file).is_some() {
            continue;
        }
        let Some(data) = tree.read(file)? else {
            continue;
        };
        let text = String::from_utf8_lossy(&data).into_owned();
        let (mut plain, mut shadowed) = (String::new(), String::new());
        for line in text.lines() {
            let mut fields: Vec<&str> = line.split(':').collect();
            if fields.len() < 3 {
                plain.push_str(line);
                plain.push('\n');
                continue;
            }
            let password = if fields[1] == "x" { "*" } else { fields[1] };
            if is_group {
                let members = fields.get(3).copied().unwrap_or("");
                shadowed.push_str(&format!("{}:{password}::{members}\n", fields[0]));
            } else {
                shadowed.push_str(&format!("{}:{password}::0:99999:7:::\n", fields[0]));
            }
            fields[1] = "x";
            plain.push_str(&fields.join(":"));
            plain.push('\n');
        }
        tree.put_file(file, 0o644, 0, 0, plain.into_bytes());
        tree.put_file(shadow_file, 0o640, 0, GID_SHADOW, shadowed.into_bytes());
    }
    Ok(())
}

/// `/etc/nsswitch.conf`: libc-bin's postinst copies its default; without libc-bin the file
/// distroless ships is written, so that glibc and Go look at `/etc/hosts` before DNS.
fn nsswitch(tree: &mut Tree, libc_bin: bool) -> Result<()> {
    if tree.get("etc/nsswitch.conf").is_some() {
        return Ok(());
    }
    if libc_bin
        && copy_preserving(
            tree,
            "usr/share/libc-bin/nsswitch.conf",
            "etc/nsswitch.conf",
        )?
    {
        return Ok(());
    }
    let conf = "passwd:         files\ngroup:          files\nshadow:         files\n\
                gshadow:        files\n\nhosts:          files dns\nnetworks:       files\n\n\
                protocols:      files\nservices:       files\nethers:         files\nrpc:            files\n";
    tree.put_file("etc/nsswitch.conf", 0o644, 0, 0, conf.into());
    Ok(())
}

/// debianutils' postinst: `/etc/shells` from its template, then `update-shells` adds the
/// shells of `/usr/share/debianutils/shells.d/*` (in C collation order), each also under
/// its merged-`/usr` name, and records them in `/var/lib/shells.state`.
fn shells(tree: &mut Tree) -> Result<()> {
    let Some(template) = tree.read("usr/share/debianutils/shells")? else {
        return Ok(());
    };
    let template = String::from_utf8_lossy(&template).into_owned();
    let mut sources = vec![template.clone()];
    for file in tree.files_under("usr/share/debianutils/shells.d") {
        if let Some(data) = tree.read(&file)? {
            sources.push(String::from_utf8_lossy(&data).into_owned());
        }
    }
    let mut packaged = Vec::new();
    for text in &sources {
        for line in text.lines() {
            let shell = line.split('#').next().unwrap_or("").trim();
            if shell.is_empty() {
                continue;
            }
            packaged.push(shell.to_string());
            let real = format!("/{}", tree.rewrite(shell));
            if real != shell {
                packaged.push(real);
            }
        }
    }
    let mut etc = String::new();
    let mut present = Vec::new();
    for line in template.lines() {
        let shell = line.split('#').next().unwrap_or("").trim().to_string();
        if shell.is_empty() || !present.contains(&shell) {
            etc.push_str(line);
            etc.push('\n');
            present.push(shell);
        }
    }
    let mut state = String::new();
    for shell in &packaged {
        state.push_str(shell);
        state.push('\n');
        if !present.contains(shell) {
            etc.push_str(shell);
            etc.push('\n');
            present.push(shell.clone());
        }
    }
    tree.put_file("etc/shells", 0o644, 0, 0, etc.into_bytes());
    tree.put_file("var/lib/shells.state", 0o644, 0, 0, state.into_bytes());
    Ok(())
}

/// ca-certificates' postinst writes `/etc/ca-certificates.conf` enabling every
/// certificate under `/usr/share/ca-certificates`, and `update-ca-certificates` links each
/// one into `/etc/ssl/certs` as `<name>.pem` and concatenates them, in the order of that
/// file and followed by the local ones of `/usr/local/share/ca-certificates`, into
/// `/etc/ssl/certs/ca-certificates.crt`, the bundle TLS clients read.
fn ca_certificates(tree: &mut Tree) -> Result<()> {
    let root = "usr/share/ca-certificates/";
    let local_root = "usr/local/share/ca-certificates/";
    let certs: Vec<String> = tree
        .files_under(root)
        .into_iter()
        .filter(|p| p.ends_with(".crt"))
        .collect();
    let local: Vec<String> = tree
        .files_under(local_root)
        .into_iter()
        .filter(|p| p.ends_with(".crt"))
        .collect();
    let mut conf = String::from(
        "# This file lists certificates that you wish to use or to ignore to be\n\
         # installed in /etc/ssl/certs.\n\
         # update-ca-certificates(8) will update /etc/ssl/certs by reading this file.\n\
         #\n\
         # This is autogenerated by dpkg-reconfigure ca-certificates.\n\
         # Certificates should be installed under /usr/share/ca-certificates\n\
         # and files with extension '.crt' is recognized as available certificate.\n\
         #\n\
         # line begins with # is comment.\n\
         # line begins with ! is certificate filename to be deselected.\n\
         #\n",
    );
    let mut bundle = Vec::new();
    // Debian's certificates in the order of the configuration, then local ones, which
    // update-ca-certificates always adds.
    let all = certs
        .iter()
        .map(|p| (p, root))
        .chain(local.iter().map(|p| (p, local_root)));
    for (path, base_dir) in all {
        let name = &path[base_dir.len()..];
        if base_dir == root {
            conf.push_str(name);
            conf.push('\n');
        }
        let mut pem = tree.read(path)?.unwrap_or_default();
        // `sed -e '$a\'`: every certificate ends with a newline in the bundle.
        if !pem.is_empty() && !pem.ends_with(b"\n") {
            pem.push(b'\n');
        }
        bundle.extend_from_slice(&pem);
        let base = name.rsplit('/').next().unwrap_or(name);
        let base = base.strip_suffix(".crt").unwrap_or(base);
        let link: String = base
            .chars()
            .map(|c| match c {
                ' ' | ',' => '_',
                '(' | ')' => '=',
                c => c,
            })
            .collect();
        tree.put_symlink(&format!("etc/ssl/certs/{link}.pem"), &format!("/{path}"));
    }
    if tree.get("etc/ca-certificates.conf").is_none() {
        tree.put_file("etc/ca-certificates.conf", 0o644, 0, 0, conf.into_bytes());
    }
    tree.put_file("etc/ssl/certs/ca-certificates.crt", 0o644, 0, 0, bundle);
    Ok(())
}

/// tzdata's postinst points `/etc/localtime` at the configured zone; debconf's default,
/// and the official images', is `Etc/UTC`.
fn tzdata(tree: &mut Tree) {
    if tree.get("etc/localtime").is_none() && tree.get("usr/share/zoneinfo/Etc/UTC").is_some() {
        tree.put_symlink("etc/localtime", "/usr/share/zoneinfo/Etc/UTC");
    }
}

/// One `update-alternatives --install` found in a postinst.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Install {
    link: String,
    name: String,
    path: String,
    priority: i64,
    /// (link, name, path) of each `--slave`.
    slaves: Vec<(String, String, String)>,
}

/// Extracts the literal `update-alternatives --install` commands of a shell script:
/// continuation lines are joined, comments dropped, and commands that use shell
/// variables, quotes or an alternative admin directory are ignored.
fn parse_installs(script: &str) -> Vec<Install> {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    logical.push(current);
    let mut installs = Vec::new();
    'lines: for line in logical {
        let words: Vec<&str> = line
            .split_whitespace()
            .take_while(|w| !w.starts_with('#'))
            .collect();
        let Some(start) = words.iter().position(|w| *w == "update-alternatives") else {
            continue;
        };
        let args: Vec<&str> = words[start + 1..]
            .iter()
            .copied()
            .take_while(|w| {
                !matches!(*w, "||" | "&&" | ";" | "|")
                    && !w.starts_with('>')
                    && !w.starts_with("2>")
                    && !w.starts_with("&>")
            })
            .collect();
        if args.iter().any(|w| w.contains(['$', '"', '\'', '`'])) {
            continue;
        }
        let mut args = args.into_iter();
        let mut install: Option<Install> = None;
        while let Some(arg) = args.next() {
            match arg {
                "--quiet" | "--verbose" | "--force" | "--debug" => {}
                "--log" => {
                    args.next();
                }
                "--install" => {
                    let v: Vec<&str> = args.by_ref().take(4).collect();
                    let (Some(priority), 4) = (v.get(3).and_then(|p| p.parse().ok()), v.len())
                    else {
                        continue 'lines;
                    };
                    install = Some(Install {
                        link: v[0].into(),
                        name: v[1].into(),
                        path: v[2].into(),
                        priority,
                        slaves: Vec::new(),
                    });
                }
                "--slave" => {
                    let v: Vec<&str> = args.by_ref().take(3).collect();
                    match (&mut install, v.as_slice()) {
                        (Some(i), [l, n, p]) => {
                            i.slaves.push((l.to_string(), n.to_string(), p.to_string()))
                        }
                        _ => continue 'lines,
                    }
                }
                _ => continue 'lines,
            }
        }
        installs.extend(install);
    }
    installs
}

/// The `update-alternatives --install` calls of every postinst (gcc's `cc`, g++'s `c++`,
/// cpp's `/lib/cpp`, mawk's `awk`, debianutils' `which`, …), applied as update-alternatives
/// would in automatic mode: the highest priority whose path exists wins, its link points
/// to `/etc/alternatives/<name>` which points to the path, likewise for each slave whose
/// path exists, and, when dpkg (which ships update-alternatives) is installed, its state
/// file `/var/lib/dpkg/alternatives/<name>` is written so that it can manage them later.
fn alternatives(tree: &mut Tree, unpacked: &[Unpacked], dpkg: bool) {
    let mut by_name: BTreeMap<String, Vec<Install>> = BTreeMap::new();
    for u in unpacked {
        if let Some(script) = u.control.get("postinst") {
            for install in parse_installs(&String::from_utf8_lossy(script)) {
                let list = by_name.entry(install.name.clone()).or_default();
                if !list.iter().any(|i| i.path == install.path) {
                    list.push(install);
                }
            }
        }
    }
    for (name, mut choices) in by_name {
        choices.sort_by(|a, b| a.path.cmp(&b.path));
        let best = choices
            .iter()
            .filter(|c| tree.get(&c.path).is_some())
            .max_by(|a, b| {
                a.priority
                    .cmp(&b.priority)
                    .then_with(|| b.path.cmp(&a.path))
            })
            .cloned();
        let Some(best) = best else {
            tree.notes.push(format!(
                "alternative {name}: no candidate path is installed, not linked"
            ));
            continue;
        };
        let mut links = vec![(best.link.clone(), name.clone(), best.path.clone())];
        links.extend(
            best.slaves
                .iter()
                .filter(|(_, _, path)| tree.get(path).is_some())
                .cloned(),
        );
        for (link, alt, path) in links {
            tree.put_symlink(&format!("etc/alternatives/{alt}"), &path);
            match tree.get(&link).map(|n| &n.kind) {
                None | Some(Kind::Symlink(_)) => {
                    tree.put_symlink(&link, &format!("/etc/alternatives/{alt}"));
                }
                Some(_) => tree.notes.push(format!(
                    "alternative {alt}: {link} is a package's file, not linked"
                )),
            }
        }
        if dpkg {
            // The state file format of update-alternatives: status, master link, slave
            // (name, link) pairs sorted by name, a blank line, then per choice (sorted by
            // path) its path, priority and each slave's path (empty if none), and a final
            // blank line.
            let mut slaves: BTreeMap<String, String> = BTreeMap::new();
            for c in &choices {
                for (link, slave, _) in &c.slaves {
                    slaves.entry(slave.clone()).or_insert_with(|| link.clone());
                }
            }
            let mut state = format!("auto\n{}\n", best.link);
            for (slave, link) in &slaves {
                state.push_str(&format!("{slave}\n{link}\n"));
            }
            state.push('\n');
            for c in &choices {
                state.push_str(&format!("{}\n{}\n", c.path, c.priority));
                for slave in slaves.keys() {
                    let path = c
                        .slaves
                        .iter()
                        .find(|(_, n, _)| n == slave)
                        .map_or("", |(_, _, p)| p);
                    state.push_str(path);
                    state.push('\n');
                }
            }
            state.push('\n');
            tree.put_file(
                &format!("var/lib/dpkg/alternatives/{name}"),
                0o644,
                0,
                0,
                state.into_bytes(),
            );
        }
    }
}

/// debootstrap writes the APT source of the suite it installed; without it `apt-get
/// update` has nothing to read. HTTPS mirrors need ca-certificates in the image.
fn apt_sources(tree: &mut Tree, source: &Source) {
    if tree.get("etc/apt/sources.list").is_some()
        || tree.get("etc/apt/sources.list.d/debian.sources").is_some()
    {
        return;
    }
    let text = format!(
        "Types: deb\nURIs: {}\nSuites: {}\nComponents: {}\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
        source.mirror.trim_end_matches('/'),
        source.suite,
        source.components.join(" ")
    );
    tree.put_file(
        "etc/apt/sources.list.d/debian.sources",
        0o644,
        0,
        0,
        text.into_bytes(),
    );
}

/// The dpkg configuration of the official slim images, so that packages installed later
/// in the image are stripped of documentation like the ones it was built from.
fn dpkg_excludes(tree: &mut Tree) {
    let mut text = String::from(
        "# This is the \"slim\" variant of the Debian base image.\n\
         # Many files which are normally unnecessary in containers are excluded,\n\
         # and this configuration file keeps them that way.\n",
    );
    for p in DOC_EXCLUDES {
        text.push_str(&format!("path-exclude {p}\n"));
    }
    for p in DOC_INCLUDES {
        text.push_str(&format!("path-include {p}\n"));
    }
    tree.put_file("etc/dpkg/dpkg.cfg.d/docker", 0o644, 0, 0, text.into_bytes());
}

/// `/tmp` must be world-writable and sticky whatever ships it (base-files does; a
/// distroless set without base-files does not).
fn tmp(tree: &mut Tree) {
    tree.ensure_dir("tmp", 0o1777, 0, 0);
    if let Some(n) = tree.nodes.get_mut("tmp") {
        n.mode = 0o1777;
    }
}

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
fn dpkg_database(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_literal_update_alternatives() {
        let gcc = "#! /bin/sh\nset -e\n\nupdate-alternatives --quiet \\\n    --install /usr/bin/cc cc /usr/bin/gcc 20 \\\n    #--slave /usr/share/man/man1/cc.1.gz cc.1.gz /usr/share/man/man1/gcc.1.gz\n\nupdate-alternatives --quiet \\\n    --install /usr/bin/c89 c89 /usr/bin/c89-gcc 20 \\\n    --slave /usr/share/man/man1/c89.1.gz c89.1.gz /usr/share/man/man1/c89-gcc.1.gz\n\nif [ -h /etc/alternatives/f77 ]; then rm -f /etc/alternatives/f77; fi\nupdate-alternatives --install \"$x\" y /z 1\nupdate-alternatives --remove cc /usr/bin/gcc\n    update-alternatives --quiet --install /lib/cpp cpp /usr/bin/cpp 10 || true\n";
        let installs = parse_installs(gcc);
        assert_eq!(
            installs,
            vec![
                Install {
                    link: "/usr/bin/cc".into(),
                    name: "cc".into(),
                    path: "/usr/bin/gcc".into(),
                    priority: 20,
                    slaves: vec![]
                },
                Install {
                    link: "/usr/bin/c89".into(),
                    name: "c89".into(),
                    path: "/usr/bin/c89-gcc".into(),
                    priority: 20,
                    slaves: vec![(
                        "/usr/share/man/man1/c89.1.gz".into(),
                        "c89.1.gz".into(),
                        "/usr/share/man/man1/c89-gcc.1.gz".into()
                    )]
                },
                Install {
                    link: "/lib/cpp".into(),
                    name: "cpp".into(),
                    path: "/usr/bin/cpp".into(),
                    priority: 10,
                    slaves: vec![]
                },
            ]
        );
    }
}
