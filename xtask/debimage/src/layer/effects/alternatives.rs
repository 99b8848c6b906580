//! The `update-alternatives --install` calls of maintainer scripts, read from the scripts and
//! applied as update-alternatives would in automatic mode.

use std::collections::BTreeMap;

use super::super::{Kind, Tree, Unpacked};

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
pub(super) fn alternatives(tree: &mut Tree, unpacked: &[Unpacked], dpkg: bool) {
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
