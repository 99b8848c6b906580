//! The errors that change how the process ends, and the exit code each one means: 2 for bad
//! usage or a bad manifest, 1 for a failed check or build, 128 + the signal's number for an
//! interrupted run. They are data only; `report::failure` words them for people.

/// An error that means the user asked for something that cannot be: bad usage or a bad
/// manifest. It makes the process exit with 2 instead of 1.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A run that completed but found that a check or a build failed: exit code 1, and the report
/// has already said what failed, so nothing more is printed.
#[derive(Debug)]
pub struct ChecksFailed;

impl std::fmt::Display for ChecksFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("some checks failed")
    }
}

impl std::error::Error for ChecksFailed {}

/// An error that knows what the user can do about it: `report::exit` prints `next` instead of
/// the generic advice. The problem is one line; the chain below it says where it happened.
#[derive(Debug)]
pub struct Fix {
    pub problem: String,
    pub next: String,
}

impl std::fmt::Display for Fix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.problem)
    }
}

impl std::error::Error for Fix {}

/// SIGINT or SIGTERM arrived: the work was dropped and what it started was removed. The process
/// exits with 128 plus the signal's number, as a shell reports a process killed by it.
#[derive(Debug)]
pub struct Interrupted {
    pub signal: &'static str,
    pub number: u8,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted by {}", self.signal)
    }
}

impl std::error::Error for Interrupted {}

/// A build that failed: the step that failed and what it printed.
#[derive(Debug)]
pub struct BuildFailed {
    pub tag: String,
    pub step: Option<String>,
    pub output: Vec<String>,
    pub message: String,
}

impl std::fmt::Display for BuildFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.step {
            Some(step) => write!(
                f,
                "build of {} failed at {step}: {}",
                self.tag, self.message
            )?,
            None => write!(
                f,
                "build of {} failed before any step ran: {}",
                self.tag, self.message
            )?,
        }
        if !self.output.is_empty() {
            write!(
                f,
                "\n--- output of the failing step (last {} lines) ---",
                self.output.len()
            )?;
            for line in &self.output {
                write!(f, "\n{line}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for BuildFailed {}

/// The exit code an error ends the process with (see DESIGN.md): 128 plus the signal's number
/// after a signal, 2 when the user asked for something that cannot be, 1 for everything else.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if let Some(interrupted) = err.downcast_ref::<Interrupted>() {
        128 + interrupted.number
    } else if err.chain().any(|cause| cause.is::<UsageError>()) {
        2
    } else {
        1
    }
}
