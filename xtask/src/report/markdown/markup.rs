//! Strings as Markdown that shows them as written: escaped text, code spans that survive
//! backticks and pipes, text inside HTML, Mermaid labels, and the small pieces every table and
//! verdict is made of.

use crate::report::human::thousands;

/// A table row from cells that are already escaped.
pub(super) fn row(cells: impl IntoIterator<Item = String>) -> String {
    let mut out = String::from("|");
    for cell in cells {
        out.push(' ');
        out.push_str(if cell.is_empty() { " " } else { &cell });
        out.push_str(" |");
    }
    out
}

/// A count with its noun, singular for one: "1 layer", "9 layers", "31,245 files".
pub(super) fn plural(count: u64, one: &str, many: &str) -> String {
    format!(
        "{} {}",
        thousands(count),
        if count == 1 { one } else { many }
    )
}

pub(super) fn mark(ok: bool) -> &'static str {
    if ok {
        "✅"
    } else {
        "❌"
    }
}

pub(super) fn capitalize(sentence: &str) -> String {
    let mut chars = sentence.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Text that shows as written in a paragraph or a table cell.
///
/// Pipes would end a cell and newlines a row; backslashes, backticks, emphasis and link
/// characters would turn into markup; `<` before a letter would open an HTML tag.
pub(in crate::report) fn text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' | '|' | '`' | '*' | '_' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '<' if chars
                .peek()
                .is_some_and(|&next| next.is_ascii_alphabetic() || "/!?".contains(next)) =>
            {
                out.push_str("&lt;");
            }
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push_str("<br>");
                }
            }
            '\n' => out.push_str("<br>"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A code span outside a table.
pub(in crate::report) fn code(raw: &str) -> String {
    code_span(raw, false)
}

/// A code span inside a table cell, where a pipe must be escaped even within code.
pub(in crate::report) fn code_cell(raw: &str) -> String {
    code_span(raw, true)
}

/// A code span that shows `raw` verbatim on one line, however many backticks it holds.
fn code_span(raw: &str, in_table: bool) -> String {
    let one_line: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.trim().is_empty() {
        return "-".to_string();
    }
    // The fence must be longer than any run of backticks inside, and a space must separate it
    // from a backtick at either end; CommonMark strips one such space on each side.
    let mut longest = 0;
    let mut current = 0;
    for c in one_line.chars() {
        current = if c == '`' { current + 1 } else { 0 };
        longest = longest.max(current);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if one_line.starts_with(['`', ' ']) || one_line.ends_with(['`', ' ']) {
        " "
    } else {
        ""
    };
    // GFM splits table cells on unescaped pipes before it parses code spans, so a pipe in a
    // cell needs its backslash even inside code; the backslash does not show.
    let body = if in_table {
        one_line.replace('|', "\\|")
    } else {
        one_line
    };
    format!("{fence}{pad}{body}{pad}{fence}")
}

/// Text inside an HTML element, such as `<summary>`.
pub(super) fn html(raw: &str) -> String {
    raw.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A string inside a Mermaid double-quoted label, which has no escape for the quote itself.
pub(super) fn mermaid_label(raw: &str) -> String {
    raw.chars()
        .map(|c| match c {
            '"' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_escapes_what_breaks_a_table() {
        assert_eq!(text("a|b"), "a\\|b");
        assert_eq!(text("line1\nline2"), "line1<br>line2");
        assert_eq!(text("line1\r\nline2"), "line1<br>line2");
        assert_eq!(text("1.42 MB <= 3.00 MB"), "1.42 MB <= 3.00 MB");
        assert_eq!(text("<script>"), "&lt;script>");
        assert_eq!(text("max_size *x*"), "max\\_size \\*x\\*");
        assert_eq!(text("a\\b"), "a\\\\b");
    }

    #[test]
    fn code_spans_survive_backticks_and_pipes() {
        assert_eq!(code("ls"), "`ls`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x`"), "`` `x` ``");
        assert_eq!(code_cell("a | b"), "`a \\| b`");
        assert_eq!(code("a | b"), "`a | b`");
        assert_eq!(code("two\nlines"), "`two lines`");
        assert_eq!(code(""), "-");
    }
}
