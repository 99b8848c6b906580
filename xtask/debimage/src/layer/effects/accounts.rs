//! Effects on the accounts: `/etc/passwd` and `/etc/group`, their shadow files, and
//! `/etc/shells`.

use anyhow::{Context, Result};

use super::super::Tree;

use super::{GID_SHADOW, NONROOT};

/// `/etc/passwd` and `/etc/group`: base-passwd's postinst copies its master files; without
/// base-passwd (distroless) the minimal accounts of Google's distroless images are written
/// instead, with their home directories, so that `USER nonroot` works.
pub(super) fn users_and_groups(tree: &mut Tree, base_passwd: bool) -> Result<()> {
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
pub(super) fn shadow(tree: &mut Tree) -> Result<()> {
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

/// debianutils' postinst: `/etc/shells` from its template, then `update-shells` adds the
/// shells of `/usr/share/debianutils/shells.d/*` (in C collation order), each also under
/// its merged-`/usr` name, and records them in `/var/lib/shells.state`.
pub(super) fn shells(tree: &mut Tree) -> Result<()> {
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
