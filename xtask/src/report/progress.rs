//! Progress for long work, on standard error: spinners and bars on a terminal, one plain line
//! per event elsewhere (a CI log), so that a log shows what happened without control codes.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{human_bytes, Style};

/// The progress display of one command.
pub struct Progress {
    multi: MultiProgress,
    live: bool,
    style: Style,
}

impl Progress {
    pub fn new(style: Style) -> Progress {
        let live = std::io::stderr().is_terminal();
        let target = if live {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Progress {
            multi: MultiProgress::with_draw_target(target),
            live,
            style,
        }
    }

    /// A line that stays, printed above any bar.
    pub fn note(&self, message: &str) {
        if self.live {
            let _ = self.multi.println(message);
        } else {
            eprintln!("{message}");
        }
    }

    /// Another `cargo xtask` holds the engine, and this one waits for it.
    pub fn waiting_for(&self, holder: &str) {
        self.note(&format!(
            "waiting for {holder} to finish: it uses the same engine (Ctrl-C gives up)"
        ));
    }

    fn done_mark(&self) -> &'static str {
        if self.style.color {
            "\u{1b}[32m✓\u{1b}[0m"
        } else {
            "done:"
        }
    }

    fn fail_mark(&self) -> &'static str {
        if self.style.color {
            "\u{1b}[31m✗\u{1b}[0m"
        } else {
            "FAILED:"
        }
    }

    fn spinner(&self, template: &str, message: &str) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(ProgressStyle::with_template(template).expect("a valid template"));
        bar.set_message(message.to_string());
        if self.live {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        bar
    }

    /// A piece of work with no measure of its own: a spinner and an elapsed time.
    pub fn phase(&self, message: &str) -> Phase<'_> {
        self.begin(message, self.spinner("{spinner} {msg} {elapsed}", message))
    }

    /// A download whose total is known once the work has begun.
    pub fn bytes(&self, message: &str, total: u64) -> Bytes<'_> {
        let bar = self.multi.add(ProgressBar::new(total));
        let template = "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}";
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_message(message.to_string());
        Bytes(self.begin(message, bar))
    }

    /// A build: its steps as they come, and the last line of output under them.
    pub fn steps(&self, message: &str) -> Steps<'_> {
        let bar = self.spinner("{spinner} {prefix} [{pos}/{len}] {msg:.dim} {elapsed}", "");
        bar.set_prefix(message.to_string());
        Steps(self.begin(message, bar), message.to_string())
    }

    /// Where no bar is drawn, the start of the work is a line of its own.
    fn begin(&self, message: &str, bar: ProgressBar) -> Phase<'_> {
        if !self.live {
            eprintln!("... {message}");
        }
        Phase {
            bar,
            progress: self,
        }
    }
}

/// See [`Progress::phase`]. A download and a build are phases too, with more to show.
pub struct Phase<'a> {
    bar: ProgressBar,
    progress: &'a Progress,
}

impl Phase<'_> {
    pub fn finish(self, message: &str) {
        self.end(self.progress.done_mark(), message);
    }

    pub fn fail(self, message: &str) {
        self.end(self.progress.fail_mark(), message);
    }

    /// The spinner or bar goes, and a line that stays says how the work ended.
    fn end(&self, mark: &str, message: &str) {
        self.bar.finish_and_clear();
        self.progress.note(&format!("{mark} {message}"));
    }
}

/// See [`Progress::bytes`].
pub struct Bytes<'a>(Phase<'a>);

impl Bytes<'_> {
    pub fn set_length(&self, total: u64) {
        self.0.bar.set_length(total);
        if !self.0.progress.live && total > 0 {
            eprintln!("    {} to download", human_bytes(total));
        }
    }

    pub fn advance(&self, bytes: u64) {
        self.0.bar.inc(bytes);
    }

    pub fn finish(self, message: &str) {
        self.0.finish(message);
    }
}

/// See [`Progress::steps`]: the phase, and what it does (named on each step's line, since
/// builds of several apps run at once).
pub struct Steps<'a>(Phase<'a>, String);

impl Steps<'_> {
    pub fn step(&self, number: usize, total: usize, instruction: &str) {
        self.0.bar.set_length(total as u64);
        self.0.bar.set_position(number as u64);
        self.0.bar.set_message(one_line(instruction, 60));
        if !self.0.progress.live {
            eprintln!(
                "    {}, step {number}/{total}: {}",
                self.1,
                one_line(instruction, 100)
            );
        }
    }

    /// The latest output line replaces the step's text, so a long `cargo build` shows life.
    pub fn output(&self, line: &str) {
        if self.0.progress.live {
            self.0.bar.set_message(one_line(line.trim(), 60));
        }
    }

    pub fn finish(self, message: &str) {
        self.0.finish(message);
    }

    pub fn fail(self, message: &str) {
        self.0.fail(message);
    }
}

/// The first line of `text`, cut at `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() <= max {
        line.to_string()
    } else {
        let cut: String = line.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn long_lines_are_cut() {
        assert_eq!(one_line("short", 10), "short");
        assert_eq!(one_line("a\nb", 10), "a");
        assert_eq!(one_line("0123456789abc", 5), "0123…");
    }
}
