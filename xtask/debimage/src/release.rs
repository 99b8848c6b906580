//! The `Release` file of a suite, read from the verified text of its `InRelease`: the SHA256
//! sums of the indexes, and the fields apt checks before it trusts a suite (`Suite`,
//! `Codename`, `Valid-Until`) or ranks it (`NotAutomatic`, `ButAutomaticUpgrades`).

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, NaiveDateTime, Utc};

use crate::deb822::parse_deb822;
use crate::signature::TrustError;

/// What the crate needs from a `Release` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Release {
    /// `Suite`, e.g. `oldstable` or `bookworm-backports`.
    pub suite: Option<String>,
    /// `Codename`, e.g. `bookworm`.
    pub codename: Option<String>,
    /// `Date`: when the archive wrote the file.
    pub date: Option<DateTime<Utc>>,
    /// `Valid-Until`: after this the file must not be trusted any more (backports and
    /// security suites have one, so that an old file cannot be replayed).
    pub valid_until: Option<DateTime<Utc>>,
    /// `NotAutomatic: yes`: packages are installed from this suite only on request
    /// (experimental, backports).
    pub not_automatic: bool,
    /// `ButAutomaticUpgrades: yes`: a package once taken from this suite follows it
    /// (backports).
    pub but_automatic_upgrades: bool,
    /// Whether files can be fetched by hash (`Acquire-By-Hash: yes`), which avoids reading
    /// an index the mirror replaced between our `InRelease` and `Packages` requests.
    pub by_hash: bool,
    /// Path relative to `dists/<suite>/` → (SHA256 hex, size).
    pub sha256: BTreeMap<String, (String, u64)>,
}

/// Parses the text of a `Release` file. Only call it on verified text (see
/// [`Keyring::verify`](crate::Keyring::verify)): the sums it lists are what every later check
/// relies on.
pub fn parse_release(text: &str) -> Result<Release> {
    let paragraphs = parse_deb822(text).context("parse the release file")?;
    let Some(p) = paragraphs.first() else {
        bail!("empty release file");
    };
    let yes = |name: &str| p.get(name).is_some_and(|v| v.eq_ignore_ascii_case("yes"));
    let date = |name: &str| -> Result<Option<DateTime<Utc>>> {
        p.get(name)
            .map(|v| parse_date(v).with_context(|| format!("bad {name} `{v}`")))
            .transpose()
    };
    let mut release = Release {
        suite: p.get("Suite").map(str::to_string),
        codename: p.get("Codename").map(str::to_string),
        date: date("Date")?,
        valid_until: date("Valid-Until")?,
        not_automatic: yes("NotAutomatic"),
        but_automatic_upgrades: yes("ButAutomaticUpgrades"),
        by_hash: yes("Acquire-By-Hash"),
        sha256: BTreeMap::new(),
    };
    let Some(list) = p.get("SHA256") else {
        bail!("release file has no SHA256 field");
    };
    for line in list.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            [] => {}
            [hash, size, path] => {
                let size = size
                    .parse()
                    .with_context(|| format!("bad size in release line `{line}`"))?;
                let hash = hash.to_ascii_lowercase();
                if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                    bail!("malformed SHA256 in release line `{line}`");
                }
                release.sha256.insert(path.to_string(), (hash, size));
            }
            _ => bail!("malformed SHA256 line in release file: `{line}`"),
        }
    }
    Ok(release)
}

/// Parses a `Release` date, which is RFC 1123 in UTC: `Sat, 28 Nov 2026 02:15:35 UTC`.
/// apt accepts `UTC`, `GMT`, `Z` and `+0000` as the zone; so does this.
fn parse_date(text: &str) -> Result<DateTime<Utc>> {
    let text = text.trim();
    let naive = ["UTC", "GMT", "Z", "+0000"]
        .iter()
        .find_map(|zone| text.strip_suffix(zone))
        .context("the time zone must be UTC")?
        .trim();
    let parsed = NaiveDateTime::parse_from_str(naive, "%a, %d %b %Y %H:%M:%S")
        .context("expected a date like `Sat, 28 Nov 2026 02:15:35 UTC`")?;
    Ok(parsed.and_utc())
}

impl Release {
    /// apt's checks of a verified `Release` file: it must be the suite asked for (its
    /// `Suite` or its `Codename` is `requested`), so that a validly signed file of another
    /// suite (an older release, say) cannot stand in for it; and it must not have expired.
    pub fn check(&self, requested: &str, url: &str, now: DateTime<Utc>) -> Result<(), TrustError> {
        let names = [self.suite.as_deref(), self.codename.as_deref()];
        if !names.iter().flatten().any(|n| *n == requested) {
            return Err(TrustError::WrongSuite {
                url: url.to_string(),
                requested: requested.to_string(),
                found: names
                    .iter()
                    .flatten()
                    .copied()
                    .collect::<Vec<_>>()
                    .join("/"),
            });
        }
        if let Some(until) = self.valid_until {
            if until < now {
                return Err(TrustError::Expired {
                    url: url.to_string(),
                    valid_until: until.to_rfc2822(),
                });
            }
        }
        Ok(())
    }

    /// apt's default pin priority of the suite: 1 for `NotAutomatic` suites (experimental),
    /// 100 for `NotAutomatic` with `ButAutomaticUpgrades` (backports), 500 otherwise.
    pub fn default_priority(&self) -> i32 {
        match (self.not_automatic, self.but_automatic_upgrades) {
            (true, true) => 100,
            (true, false) => 1,
            _ => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_fields_and_sha256_list() {
        let a = "9E0B5AAB".repeat(8);
        let b = "6777ea16".repeat(8);
        let text = format!(
            "Origin: Debian\nSuite: oldstable-backports\nCodename: bookworm-backports\n\
             Date: Sat, 28 Nov 2026 02:15:35 UTC\nValid-Until: Sat, 05 Dec 2026 02:15:35 UTC\n\
             NotAutomatic: yes\nButAutomaticUpgrades: yes\nAcquire-By-Hash: yes\n\
             MD5Sum:\n 0ed6 1 main/x\nSHA256:\n {a}  8790396 main/binary-amd64/Packages.xz\n \
             {b} 12084798 main/binary-amd64/Packages.gz\n"
        );
        let r = parse_release(&text).unwrap();
        assert!(r.by_hash);
        assert_eq!(
            r.sha256.get("main/binary-amd64/Packages.xz"),
            Some(&(a.to_ascii_lowercase(), 8790396))
        );
        assert_eq!(r.sha256.len(), 2);
        assert_eq!(r.codename.as_deref(), Some("bookworm-backports"));
        assert_eq!(r.default_priority(), 100);
        let until = r.valid_until.unwrap();
        assert_eq!(until.to_rfc3339(), "2026-12-05T02:15:35+00:00");

        let before = parse_date("Fri, 04 Dec 2026 00:00:00 UTC").unwrap();
        let after = parse_date("Sun, 06 Dec 2026 00:00:00 GMT").unwrap();
        r.check("bookworm-backports", "u", before).unwrap();
        r.check("oldstable-backports", "u", before).unwrap();
        let err = r.check("bookworm-backports", "u", after).unwrap_err();
        assert!(matches!(err, TrustError::Expired { .. }), "{err}");
        let err = r
            .check("bookworm", "http://m/InRelease", before)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "http://m/InRelease is the release file of oldstable-backports/bookworm-backports, \
             not of bookworm: refused (a mirror serving another suite's file could roll the \
             archive back); check the suite name, or use another mirror"
        );

        assert!(parse_release("Origin: x\n").is_err());
        let bad_hash = "SHA256:\n abc 1 main/x\n";
        assert!(parse_release(bad_hash).is_err());
        assert!(parse_release("Date: yesterday\nSHA256:\n").is_err());
        let plain = parse_release("Suite: stable\nSHA256:\n").unwrap();
        assert_eq!(plain.default_priority(), 500);
        assert!(plain.valid_until.is_none());
    }
}
