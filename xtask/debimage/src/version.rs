//! Debian version comparison (deb-version(7)) and relationship fields (deb-control(5)).
//!
//! The comparison is a transcription of dpkg's `verrevcmp`, so that version constraints
//! in `Depends` are honoured exactly as dpkg and apt honour them.

use std::cmp::Ordering;
use std::fmt;

use anyhow::{bail, Result};

/// Compares two Debian versions `[epoch:]upstream[-revision]` the way dpkg does.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split_version(a);
    let (eb, ub, rb) = split_version(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua, ub))
        .then_with(|| verrevcmp(ra, rb))
}

/// Splits a version into epoch, upstream version and revision. A missing or malformed
/// epoch counts as 0 and a missing revision as the empty string (which compares equal
/// to "0"), as in dpkg.
fn split_version(v: &str) -> (u64, &str, &str) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, rest)) => (e.parse().unwrap_or(0), rest),
        None => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// The sort weight of one character in a non-digit run: `~` sorts before everything,
/// even the end of the string, letters sort before other characters.
fn order(c: u8) -> i32 {
    if c.is_ascii_digit() {
        0
    } else if c.is_ascii_alphabetic() {
        i32::from(c)
    } else if c == b'~' {
        -1
    } else if c != 0 {
        i32::from(c) + 256
    } else {
        0
    }
}

/// dpkg's comparison of an upstream version or revision: alternating non-digit runs
/// (compared character by character with [`order`]) and digit runs (compared as numbers).
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let at = |i: usize| a.get(i).copied().unwrap_or(0);
    let bt = |i: usize| b.get(i).copied().unwrap_or(0);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !at(i).is_ascii_digit()) || (j < b.len() && !bt(j).is_ascii_digit()) {
            let (ac, bc) = (order(at(i)), order(bt(j)));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while at(i) == b'0' {
            i += 1;
        }
        while bt(j) == b'0' {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while at(i).is_ascii_digit() && bt(j).is_ascii_digit() {
            if first_diff == Ordering::Equal {
                first_diff = at(i).cmp(&bt(j));
            }
            i += 1;
            j += 1;
        }
        if at(i).is_ascii_digit() {
            return Ordering::Greater;
        }
        if bt(j).is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

/// A version relation operator of a dependency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Op {
    /// Whether a candidate whose version compares to the required one as `ord` satisfies
    /// the relation.
    pub fn accepts(self, ord: Ordering) -> bool {
        match self {
            Op::Lt => ord == Ordering::Less,
            Op::Le => ord != Ordering::Greater,
            Op::Eq => ord == Ordering::Equal,
            Op::Ge => ord != Ordering::Less,
            Op::Gt => ord == Ordering::Greater,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ge => ">=",
            Op::Gt => ">>",
        }
    }
}

/// One alternative of a relationship: `name[:arch] [(op version)]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dep {
    pub name: String,
    /// The architecture qualifier (`any`, `native`, `amd64`), if any. Everything comes from
    /// one architecture here, so it is recorded but does not restrict the choice.
    pub arch: Option<String>,
    pub constraint: Option<(Op, String)>,
}

impl Dep {
    /// Whether a package (or a `Provides` entry) of this name at `version` satisfies the
    /// relation. An unversioned provide (`version` = None) only satisfies unversioned
    /// relations, as in dpkg.
    pub fn accepts(&self, version: Option<&str>) -> bool {
        match (&self.constraint, version) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some((op, want)), Some(have)) => op.accepts(compare_versions(have, want)),
        }
    }
}

impl fmt::Display for Dep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(arch) = &self.arch {
            write!(f, ":{arch}")?;
        }
        if let Some((op, v)) = &self.constraint {
            write!(f, " ({} {v})", op.as_str())?;
        }
        Ok(())
    }
}

/// Formats one group of alternatives as it appears in a control file.
pub fn format_group(group: &[Dep]) -> String {
    group
        .iter()
        .map(Dep::to_string)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Parses a relationship field (`Depends`, `Pre-Depends`, `Provides`, `Replaces`, …) into
/// groups of alternatives. Architecture restrictions (`[amd64]`) and build profiles
/// (`<!nocheck>`) only occur in source packages; they are skipped if present.
pub fn parse_relations(field: &str) -> Result<Vec<Vec<Dep>>> {
    let mut groups = Vec::new();
    for group in field.split(',') {
        let group = group.trim();
        if group.is_empty() {
            continue;
        }
        let mut alternatives = Vec::new();
        for alt in group.split('|') {
            alternatives.push(parse_dep(alt.trim()).map_err(|e| {
                anyhow::anyhow!("malformed relation `{}` in `{}`: {e}", alt.trim(), field)
            })?);
        }
        groups.push(alternatives);
    }
    Ok(groups)
}

fn parse_dep(s: &str) -> Result<Dep> {
    let end = s
        .find(|c: char| c.is_whitespace() || matches!(c, '(' | '[' | '<' | ':'))
        .unwrap_or(s.len());
    let name = &s[..end];
    if name.is_empty() {
        bail!("missing package name");
    }
    let mut rest = &s[end..];
    let mut arch = None;
    if let Some(r) = rest.strip_prefix(':') {
        let end = r
            .find(|c: char| c.is_whitespace() || matches!(c, '(' | '[' | '<'))
            .unwrap_or(r.len());
        arch = Some(r[..end].to_string());
        rest = &r[end..];
    }
    rest = rest.trim_start();
    let mut constraint = None;
    if let Some(r) = rest.strip_prefix('(') {
        let Some(close) = r.find(')') else {
            bail!("unclosed parenthesis");
        };
        let inner = r[..close].trim();
        rest = r[close + 1..].trim_start();
        // Longest operators first; the obsolete `<` and `>` mean `<=` and `>=`.
        let (op, version) = if let Some(v) = inner.strip_prefix("<<") {
            (Op::Lt, v)
        } else if let Some(v) = inner.strip_prefix("<=") {
            (Op::Le, v)
        } else if let Some(v) = inner.strip_prefix(">>") {
            (Op::Gt, v)
        } else if let Some(v) = inner.strip_prefix(">=") {
            (Op::Ge, v)
        } else if let Some(v) = inner.strip_prefix('=') {
            (Op::Eq, v)
        } else if let Some(v) = inner.strip_prefix('<') {
            (Op::Le, v)
        } else if let Some(v) = inner.strip_prefix('>') {
            (Op::Ge, v)
        } else {
            bail!("unknown version operator");
        };
        let version = version.trim();
        if version.is_empty() {
            bail!("missing version");
        }
        constraint = Some((op, version.to_string()));
    }
    // Skip architecture restrictions and build profiles.
    while let Some(open) = rest.chars().next().filter(|c| matches!(c, '[' | '<')) {
        let close = if open == '[' { ']' } else { '>' };
        let Some(end) = rest.find(close) else {
            bail!("unclosed `{open}`");
        };
        rest = rest[end + 1..].trim_start();
    }
    if !rest.is_empty() {
        bail!("unexpected `{rest}`");
    }
    Ok(Dep {
        name: name.to_string(),
        arch,
        constraint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_comparison_matches_dpkg() {
        use Ordering::*;
        // Cases from dpkg's own test suite (t-version.c) and Debian policy §5.6.12.
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "1.0-0", Equal),
            ("0:1.0", "1.0", Equal),
            ("1.0", "1.1", Less),
            ("1.10", "1.9", Greater),
            ("1:0.1", "2.0", Greater),
            ("2:1", "1:9", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0~~a", "1.0~~", Greater),
            ("1.0~", "1.0", Less),
            ("1.0", "1.0+1", Less),
            ("1.0a", "1.0", Greater),
            ("1.0a", "1.0+", Less),
            ("1.0-1", "1.0-2", Less),
            ("1.0-1.1", "1.0-1", Greater),
            ("1.0-1~bpo1", "1.0-1", Less),
            ("1.0-10", "1.0-9", Greater),
            ("2.36-9+deb12u4", "2.36-9+deb12u10", Less),
            ("2.36-9+deb12u4", "2.36-9", Greater),
            ("4:12.2.0-3", "12.2.0-14", Greater),
            ("12.2.0-14", "12.2.0-14+deb12u1", Less),
            ("1.2.3-4-5", "1.2.3-4", Greater),
            ("0001", "1", Equal),
            ("1.001", "1.1", Equal),
            ("a", "b", Less),
            ("1.0.", "1.0", Greater),
            (
                "99999999999999999999999",
                "99999999999999999999998",
                Greater,
            ),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn relations_parse() {
        let groups = parse_relations(
            "libc6 (>= 2.34), libgcc-s1 | libgcc1 (<< 1:4.0), python3:any (>= 3.9~), foo:amd64, \
             perl [amd64] <!nocheck>, bar (<< 2)",
        )
        .unwrap();
        assert_eq!(groups.len(), 6);
        assert_eq!(groups[0][0].name, "libc6");
        assert_eq!(groups[0][0].constraint, Some((Op::Ge, "2.34".to_string())));
        assert_eq!(groups[1].len(), 2);
        assert_eq!(groups[1][1].constraint, Some((Op::Lt, "1:4.0".to_string())));
        assert_eq!(groups[2][0].arch.as_deref(), Some("any"));
        assert_eq!(groups[2][0].constraint, Some((Op::Ge, "3.9~".to_string())));
        assert_eq!(groups[3][0].arch.as_deref(), Some("amd64"));
        assert_eq!(groups[4][0].name, "perl");
        assert_eq!(groups[4][0].constraint, None);
        assert_eq!(format_group(&groups[1]), "libgcc-s1 | libgcc1 (<< 1:4.0)");
        assert!(parse_relations("").unwrap().is_empty());
        assert!(parse_relations("foo (>= 1").is_err());
        assert!(parse_relations("foo (~ 1)").is_err());
        assert!(parse_relations("foo | , bar").is_err());
    }

    #[test]
    fn constraints_accept() {
        let dep = |s: &str| parse_relations(s).unwrap().remove(0).remove(0);
        assert!(dep("a (>= 1.0)").accepts(Some("1.0")));
        assert!(dep("a (>= 1.0)").accepts(Some("1:0.1")));
        assert!(!dep("a (>= 1.0)").accepts(Some("1.0~rc1")));
        assert!(dep("a (<< 1.0)").accepts(Some("1.0~rc1")));
        assert!(!dep("a (<< 1.0)").accepts(Some("1.0")));
        assert!(dep("a (<= 1.0)").accepts(Some("1.0")));
        assert!(dep("a (= 1.0-1)").accepts(Some("1.0-1")));
        assert!(!dep("a (= 1.0-1)").accepts(Some("1.0-2")));
        assert!(dep("a (>> 1.0)").accepts(Some("1.0.1")));
        assert!(!dep("a (>> 1.0)").accepts(Some("1.0")));
        assert!(dep("a").accepts(None));
        assert!(!dep("a (>= 1)").accepts(None));
    }
}
