//! deb822, the format of Debian's control files, `Release` files and `Packages` indices:
//! paragraphs of `Name: value` fields separated by blank lines (deb822(5)).

use anyhow::{bail, Result};

/// One deb822 paragraph (stanza): fields in file order, values borrowed from the text.
/// A multi-line value keeps its continuation lines verbatim (with their leading space),
/// which is what both `Release` checksum lists and control-file descriptions need.
#[derive(Debug, Default)]
pub struct Paragraph<'a> {
    pub fields: Vec<(&'a str, &'a str)>,
}

impl<'a> Paragraph<'a> {
    /// The value of a field; field names are case-insensitive.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// Splits deb822 text into paragraphs. Paragraphs are separated by blank lines, a field
/// is `Name: value`, and lines starting with a space or tab continue the previous field.
/// Comment lines (`#`) are allowed in control files and skipped.
pub fn parse_deb822(text: &str) -> Result<Vec<Paragraph<'_>>> {
    let mut paragraphs = Vec::new();
    let mut current = Paragraph::default();
    // Byte offsets of the value being collected: start of value, end of its last line.
    let mut open: Option<(&str, usize, usize)> = None;
    let mut offset = 0;
    fn close<'a>(
        text: &'a str,
        open: &mut Option<(&'a str, usize, usize)>,
        current: &mut Paragraph<'a>,
    ) {
        if let Some((name, start, end)) = open.take() {
            current.fields.push((name, &text[start..end.max(start)]));
        }
    }
    for (lineno, raw) in text.split_inclusive('\n').enumerate() {
        let line_start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            close(text, &mut open, &mut current);
            if !current.fields.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let Some(o) = open.as_mut() else {
                bail!("line {}: continuation line outside a field", lineno + 1);
            };
            o.2 = line_start + line.len();
            continue;
        }
        close(text, &mut open, &mut current);
        let Some(colon) = line.find(':') else {
            bail!("line {}: expected `Field: value`", lineno + 1);
        };
        let name = &text[line_start..line_start + colon];
        let value = &line[colon + 1..];
        let lead = value.len() - value.trim_start().len();
        let start = line_start + colon + 1 + lead;
        let end = line_start + line.trim_end().len();
        open = Some((name, start, end));
    }
    close(text, &mut open, &mut current);
    if !current.fields.is_empty() {
        paragraphs.push(current);
    }
    Ok(paragraphs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_paragraphs_and_continuations() {
        let text = "Package: a\nVersion: 1.0\nDescription: short\n long line\n .\n more\n\n\n\
                    # comment\nPackage: b\r\nDepends: x,\n y\nversion:2\n";
        let ps = parse_deb822(text).unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("package"), Some("a"));
        assert_eq!(
            ps[0].get("Description"),
            Some("short\n long line\n .\n more")
        );
        assert_eq!(ps[1].get("Package"), Some("b"));
        assert_eq!(ps[1].get("Depends"), Some("x,\n y"));
        assert_eq!(ps[1].get("Version"), Some("2"));
        assert!(parse_deb822(" orphan\n").is_err());
        assert!(parse_deb822("no colon\n").is_err());
        assert!(parse_deb822("").unwrap().is_empty());
    }
}
