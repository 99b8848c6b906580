//! Figures written for people: byte sizes, rates, ratios, and the log scale that both size charts
//! share.
//!
//! Sizes use decimal SI units, as `docker image ls` does, so that a size here reads the same as
//! the one the engine prints.

/// Decimal SI units: each one is 1000 times the one before.
const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];

/// A byte count in decimal SI units with three significant figures: "812 B", "1.42 MB", "1.05 GB".
pub fn human_bytes(bytes: u64) -> String {
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut unit = 0;
    let mut scaled = bytes as f64;
    while scaled >= 1000.0 && unit < UNITS.len() - 1 {
        scaled /= 1000.0;
        unit += 1;
    }
    // Rounding to three figures can carry into the next unit: 999,999 B would otherwise print as
    // "1000 kB", which reads worse than "1.00 MB".
    if scaled >= 999.5 && unit < UNITS.len() - 1 {
        scaled /= 1000.0;
        unit += 1;
    }
    let decimals = if scaled < 9.995 {
        2
    } else if scaled < 99.95 {
        1
    } else {
        0
    };
    format!("{scaled:.decimals$} {}", UNITS[unit])
}

/// The label of a gridline at 10^exponent bytes, without decimals: "1 MB", "10 MB", "100 MB".
pub fn decade_label(exponent: u32) -> String {
    let unit = (exponent / 3) as usize;
    if unit >= UNITS.len() {
        return format!("1e{exponent} B");
    }
    format!("{} {}", 10u64.pow(exponent % 3), UNITS[unit])
}

/// A ratio in 0..=1 as a percentage with one decimal: 0.9987 becomes "99.9%".
pub fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

/// A count with thousands separated by commas, so that large file counts read at a glance.
pub fn thousands(count: u64) -> String {
    let digits = count.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Requests per second, whole: fractions of a request say nothing at this precision.
pub fn rate(per_second: f64) -> String {
    thousands(per_second.max(0.0).round() as u64)
}

/// Milliseconds with one decimal, for latencies that are often below one millisecond.
pub fn millis(ms: f64) -> String {
    format!("{ms:.1}")
}

pub fn yes_no(flag: bool) -> &'static str {
    if flag {
        "yes"
    } else {
        "no"
    }
}

/// The text with every control character made harmless, for output that a terminal interprets.
///
/// Strings in the report come from image configs and build logs, which can hold escape sequences
/// or newlines; printed raw they could color or garble the terminal even when color is off.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// At most `max` characters of `text`, ending in "…" when something was cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

/// A logarithmic scale from a power of ten below the smallest value up to the largest value.
///
/// The images differ by hundreds of times, so on a linear scale the small ones would be
/// invisible. The scale starts at the power of ten strictly below the smallest value, which
/// gives every non-zero value a bar of positive length and puts gridlines at round figures.
#[derive(Clone, Copy, Debug)]
pub struct LogScale {
    /// The exponent of the power of ten where bars start; may be -1 when the smallest value is 1.
    low_exponent: i32,
    /// The natural logarithm of where bars start.
    low_ln: f64,
    /// The natural logarithm of where bars end.
    high_ln: f64,
}

impl LogScale {
    /// The scale that fits the values, or None when none of them is above zero.
    pub fn fit(values: impl IntoIterator<Item = u64>) -> Option<LogScale> {
        let mut smallest = None::<u64>;
        let mut largest = 0u64;
        for value in values.into_iter().filter(|&value| value > 0) {
            smallest = Some(smallest.map_or(value, |s| s.min(value)));
            largest = largest.max(value);
        }
        let smallest = smallest?;
        // The exponent is counted in integers so that exact powers of ten are recognised: a
        // float logarithm of 1,000,000 may come out just below 6.
        let mut exponent = smallest.ilog10() as i32;
        if 10u64.pow(exponent as u32) == smallest {
            exponent -= 1;
        }
        Some(LogScale {
            low_exponent: exponent,
            low_ln: f64::from(exponent) * std::f64::consts::LN_10,
            high_ln: (largest as f64).ln(),
        })
    }

    /// Where a value falls on the scale, from 0 (the start) to 1 (the largest value).
    pub fn fraction(&self, value: u64) -> f64 {
        if value == 0 {
            return 0.0;
        }
        let span = self.high_ln - self.low_ln;
        (((value as f64).ln() - self.low_ln) / span).clamp(0.0, 1.0)
    }

    /// The value where bars start, e.g. 1,000,000 for a scale that starts at 1 MB.
    pub fn start_label(&self) -> String {
        match u32::try_from(self.low_exponent) {
            Ok(exponent) => decade_label(exponent),
            Err(_) => "0.1 B".to_string(),
        }
    }

    /// The powers of ten on the scale as (exponent, fraction), smallest first, for gridlines.
    pub fn decades(&self) -> Vec<(u32, f64)> {
        let mut out = Vec::new();
        let mut exponent = self.low_exponent.max(0);
        while exponent <= 19 {
            let at = (f64::from(exponent) * std::f64::consts::LN_10 - self.low_ln)
                / (self.high_ln - self.low_ln);
            if at > 1.0 + 1e-9 {
                break;
            }
            out.push((exponent as u32, at));
            exponent += 1;
        }
        out
    }
}

/// How a container ran, in words: what the report's run details and the hardening check say.
pub fn ran_with(security: &crate::model::RunSecurity) -> String {
    let user = if crate::model::is_root(&security.user) {
        "as root".to_string()
    } else {
        format!("as user {}", security.user)
    };
    let tmpfs = if security.tmpfs.is_empty() {
        String::new()
    } else {
        format!(" with a tmpfs at {}", security.tmpfs.join(", "))
    };
    format!(
        "{}{tmpfs}, {}, {}, {user}, published on {}",
        if security.read_only_rootfs {
            "read-only root filesystem"
        } else {
            "writable root filesystem"
        },
        if security.cap_drop.is_empty() {
            "no capability dropped".to_string()
        } else {
            format!("cap-drop {}", security.cap_drop.join(","))
        },
        if security.no_new_privileges {
            "no-new-privileges"
        } else {
            "new privileges allowed"
        },
        if security.published.is_empty() {
            "nothing".to_string()
        } else {
            security.published.join(", ")
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_edges() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1), "1 B");
        assert_eq!(human_bytes(812), "812 B");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1000), "1.00 kB");
        assert_eq!(human_bytes(1023), "1.02 kB");
        assert_eq!(human_bytes(1_420_000), "1.42 MB");
        assert_eq!(human_bytes(9_990_000), "9.99 MB");
        assert_eq!(human_bytes(9_999_000), "10.0 MB");
        assert_eq!(human_bytes(14_200_000), "14.2 MB");
        assert_eq!(human_bytes(142_000_000), "142 MB");
        assert_eq!(human_bytes(999_499), "999 kB");
        assert_eq!(human_bytes(999_999), "1.00 MB");
        assert_eq!(human_bytes(1_050_000_000), "1.05 GB");
        assert_eq!(human_bytes(3_000_000), "3.00 MB");
        assert_eq!(human_bytes(u64::MAX), "18.4 EB");
    }

    #[test]
    fn decade_labels_are_round() {
        assert_eq!(decade_label(0), "1 B");
        assert_eq!(decade_label(5), "100 kB");
        assert_eq!(decade_label(6), "1 MB");
        assert_eq!(decade_label(7), "10 MB");
        assert_eq!(decade_label(9), "1 GB");
    }

    #[test]
    fn small_helpers() {
        assert_eq!(percent(0.9987), "99.9%");
        assert_eq!(percent(1.0), "100.0%");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(31_245_678), "31,245,678");
        assert_eq!(rate(1234.6), "1,235");
        assert_eq!(millis(0.4321), "0.4");
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(printable("a\x1b[31mb\nc"), "a\u{fffd}[31mb c");
    }

    #[test]
    fn ran_with_names_the_tmpfs_beside_a_read_only_root() {
        let mut security = crate::model::RunSecurity {
            read_only_rootfs: true,
            cap_drop: vec!["ALL".into()],
            no_new_privileges: true,
            user: "101:101".into(),
            published: vec!["127.0.0.1:8080".into()],
            tmpfs: Vec::new(),
        };
        assert_eq!(
            ran_with(&security),
            "read-only root filesystem, cap-drop ALL, no-new-privileges, as user 101:101, \
             published on 127.0.0.1:8080"
        );
        security.tmpfs = vec!["/run".into(), "/tmp".into()];
        assert_eq!(
            ran_with(&security),
            "read-only root filesystem with a tmpfs at /run, /tmp, cap-drop ALL, \
             no-new-privileges, as user 101:101, published on 127.0.0.1:8080"
        );
    }

    #[test]
    fn log_scale_starts_below_the_smallest_value() {
        let scale = LogScale::fit([1_420_000, 1_050_000_000]).unwrap();
        assert_eq!(scale.start_label(), "1 MB");
        assert!(scale.fraction(1_420_000) > 0.04);
        assert!((scale.fraction(1_050_000_000) - 1.0).abs() < 1e-12);
        let exponents: Vec<u32> = scale.decades().iter().map(|(e, _)| *e).collect();
        assert_eq!(exponents, [6, 7, 8, 9]);
    }

    #[test]
    fn log_scale_handles_exact_powers_and_single_values() {
        let scale = LogScale::fit([1_000_000]).unwrap();
        assert_eq!(scale.start_label(), "100 kB");
        assert!((scale.fraction(1_000_000) - 1.0).abs() < 1e-12);
        let scale = LogScale::fit([1]).unwrap();
        assert!(scale.fraction(1) > 0.99);
        assert!(LogScale::fit([0, 0]).is_none());
        assert!(LogScale::fit([]).is_none());
    }
}
