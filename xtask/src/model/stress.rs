//! The figures of one `cargo xtask stress` run: what `stress.json` holds and what its rendering
//! reads. Like the compare report, these fields are a contract: they may be added to, never
//! renamed or dropped. Nothing here does I/O or words a figure for people: `stress` measures
//! and decides, `report` words.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Check;

/// The version of `stress.json`'s shape; bumped only for a change that is not backward
/// compatible.
pub const STRESS_SCHEMA: u32 = 1;

/// Everything one `stress` run measured and decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StressReport {
    pub schema: u32,
    /// True when every check holds.
    pub ok: bool,
    /// `webtest:multistage`.
    pub image: String,
    pub image_id: String,
    /// The engine the figures come from, e.g. `20.10.24+dfsg1 (API 1.41)`.
    pub engine: String,
    /// How the containers ran, e.g. `hardened`.
    pub security: String,
    pub load: LoadFigures,
    pub garbage: GarbageFigures,
    pub idle: IdleFigures,
    pub stop: StopFigures,
    pub checks: Vec<Check>,
}

impl StressReport {
    /// The report of the figures and the checks decided on them.
    pub fn new(figures: Figures, checks: Vec<Check>) -> StressReport {
        let Figures {
            image,
            image_id,
            engine,
            security,
            load,
            garbage,
            idle,
            stop,
        } = figures;
        StressReport {
            schema: STRESS_SCHEMA,
            ok: checks.iter().all(|c| c.ok),
            image,
            image_id,
            engine,
            security,
            load,
            garbage,
            idle,
            stop,
            checks,
        }
    }
}

/// What the four phases measured, before anything is decided about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub image: String,
    pub image_id: String,
    pub engine: String,
    pub security: String,
    pub load: LoadFigures,
    pub garbage: GarbageFigures,
    pub idle: IdleFigures,
    pub stop: StopFigures,
}

/// The verdicts of a stress run, each decided from the figures alone; `report` names each one
/// and words its detail, so that the decision and the wording cannot drift apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No request of the load failed, and some were sent.
    LoadWithoutErrors,
    /// The container of phases 1 to 3 still runs, was never OOM-killed and is the same one.
    NoCrash,
    /// No kind of garbage whose 2xx would be wrong was answered 2xx.
    GarbageNeverAccepted,
    /// Every request of a kind that must get one status got exactly that status.
    GarbageRefusedAsRequired,
    /// `GET /healthz` answered 200 after the garbage.
    HealthzAfterGarbage,
    /// The memory after the garbage is within the bound.
    MemoryBound,
    /// `GET /healthz` answered 200 while the idle connections were held.
    HealthzWhileIdle,
    /// Every slow request sent before the stop was answered 200.
    InFlightFinish,
}

/// Phase 1: keep-alive connections looping on one path until a deadline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadFigures {
    pub path: String,
    pub connections: u32,
    pub duration_ms: f64,
    /// Every request sent, answered or not.
    pub requests: u64,
    /// Requests that failed or were answered with anything but 2xx.
    pub errors: u64,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Memory in use before and after, as `docker stats` shows it; absent when unreadable.
    pub memory_before_bytes: Option<u64>,
    pub memory_after_bytes: Option<u64>,
}

/// How garbage requests ended, by class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcomes {
    pub answered_2xx: u64,
    pub answered_4xx: u64,
    pub answered_5xx: u64,
    /// An answer that is not a 2xx, 4xx or 5xx status line: 1xx, 3xx, or not HTTP at all.
    pub answered_other: u64,
    /// The server closed (or reset) the connection without a byte of answer.
    pub closed: u64,
    /// No answer and no close within the answer timeout: the server waits for more.
    pub timed_out: u64,
    /// The connection could not even be opened.
    pub connect_failed: u64,
}

impl Outcomes {
    pub fn total(&self) -> u64 {
        self.answered_2xx
            + self.answered_4xx
            + self.answered_5xx
            + self.answered_other
            + self.closed
            + self.timed_out
            + self.connect_failed
    }

    /// Counts one request by how it ended.
    pub fn add(&mut self, outcome: Outcome) {
        let slot = match outcome {
            Outcome::Status(200..=299) => &mut self.answered_2xx,
            Outcome::Status(400..=499) => &mut self.answered_4xx,
            Outcome::Status(500..=599) => &mut self.answered_5xx,
            Outcome::Status(_) | Outcome::NotHttp => &mut self.answered_other,
            Outcome::Closed => &mut self.closed,
            Outcome::TimedOut => &mut self.timed_out,
            Outcome::ConnectFailed => &mut self.connect_failed,
        };
        *slot += 1;
    }
}

/// How one garbage request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP/1 status line came back.
    Status(u16),
    /// Bytes came back, but not an HTTP/1 status line.
    NotHttp,
    Closed,
    TimedOut,
    ConnectFailed,
}

/// The figures of one kind of garbage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindFigures {
    /// Stable, e.g. `huge_header`.
    pub kind: String,
    /// For people, e.g. `a 100 KiB header`.
    pub description: String,
    /// Whether a 2xx answer is correct: the head is valid and only the body is bad, which
    /// `GET /` never reads. For every other kind a 2xx means the server accepted garbage.
    pub may_succeed: bool,
    /// The one status every request of this kind must get, when the service has a rule for it
    /// (400 for a head with both `Content-Length` and `Transfer-Encoding`).
    #[serde(default)]
    pub expected_status: Option<u16>,
    pub sent: u64,
    pub outcomes: Outcomes,
    /// How many answers had each status code.
    pub statuses: BTreeMap<u16, u64>,
}

/// The state of the container after the abuse, as the engine and the service tell it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Survival {
    pub running: bool,
    pub oom_killed: bool,
    /// Set only when the container has exited.
    pub exit_code: Option<i64>,
    /// `GET /` names the container's host name, the start of its ID: the service that answers
    /// is the process of the container started for this phase, not a replacement.
    pub same_container: bool,
}

impl KindFigures {
    /// A 2xx for a kind whose 2xx is wrong: the server accepted garbage.
    pub fn accepted_wrongly(&self) -> bool {
        !self.may_succeed && self.outcomes.answered_2xx > 0
    }

    /// Every request of a kind that must get one status got exactly that one; true for a kind
    /// without such a rule.
    pub fn answered_as_required(&self) -> bool {
        self.expected_status
            .is_none_or(|status| self.statuses.get(&status).copied().unwrap_or(0) == self.sent)
    }
}

impl Survival {
    /// Running, never OOM-killed, and the container that was started.
    pub fn survived(&self) -> bool {
        self.running && !self.oom_killed && self.same_container
    }
}

/// Phase 2: malformed requests, each on its own connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GarbageFigures {
    pub seed: u64,
    pub requests: u64,
    pub concurrency: u32,
    pub answer_timeout_ms: u64,
    pub duration_ms: f64,
    /// Every request, by how it ended; these add up to `requests`.
    pub outcomes: Outcomes,
    pub kinds: Vec<KindFigures>,
    pub memory_before_bytes: Option<u64>,
    pub memory_after_bytes: Option<u64>,
    pub memory_bound_bytes: u64,
    /// What `GET /healthz` answered afterwards.
    pub healthz: Healthz,
    pub container: Survival,
}

/// What `GET /healthz` on a fresh connection answered, and how fast; or why it failed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Healthz {
    pub status: Option<u16>,
    pub ms: Option<f64>,
    pub error: Option<String>,
}

impl Healthz {
    pub fn ok(&self) -> bool {
        self.status == Some(200)
    }
}

/// Phase 3: connections that send nothing or half a head, held open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdleFigures {
    /// How many were asked for, and how many of them sent nothing or half a head.
    pub connections: u32,
    pub silent: u32,
    pub partial: u32,
    /// How many could be opened.
    pub opened: u32,
    pub memory_before_bytes: Option<u64>,
    pub memory_held_bytes: Option<u64>,
    /// `GET /healthz` on a fresh connection while they are held.
    pub healthz: Healthz,
    pub watch_ms: u64,
    /// How many of each the server closed within the watch.
    pub closed_silent: u32,
    pub closed_partial: u32,
    /// How many got an answer before the close (a 408, say), by status.
    pub answered: BTreeMap<u16, u64>,
    /// When the server closed them, from each connection's opening: the first, the median and
    /// the last; absent when none was closed.
    pub close_first_ms: Option<f64>,
    pub close_median_ms: Option<f64>,
    pub close_last_ms: Option<f64>,
    pub container: Survival,
}

/// Phase 4: a fresh container stopped with requests in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopFigures {
    pub load_connections: u32,
    pub delay_requests: u32,
    pub delay_ms: u64,
    /// How long after the slow requests were sent the stop began.
    pub stop_after_ms: u64,
    /// How many slow requests were answered 200, and what the others got.
    pub delay_ok: u32,
    pub delay_failures: BTreeMap<String, u32>,
    /// Requests on `/` answered 2xx before the stop began, and those that failed then.
    pub ok_before_stop: u64,
    pub errors_before_stop: u64,
    /// Answered 2xx after the stop began: the in-flight requests of the drain.
    pub ok_during_drain: u64,
    /// Failed after the stop began: refused at connect, or closed or reset afterwards.
    pub refused_after: u64,
    pub failed_after: u64,
    /// How long `docker stop` took, and how the container ended.
    pub stop_ms: f64,
    pub exit_code: Option<i64>,
}

/// A report written by hand, for the tests of what reads one.
#[cfg(test)]
pub fn sample(ok: bool) -> StressReport {
    let container = Survival {
        running: true,
        oom_killed: false,
        exit_code: None,
        same_container: true,
    };
    let outcomes = Outcomes {
        answered_2xx: 0,
        answered_4xx: 90,
        answered_5xx: 0,
        answered_other: 0,
        closed: 5,
        timed_out: 5,
        connect_failed: 0,
    };
    let figures = Figures {
        image: "webtest:multistage".into(),
        image_id: "sha256:abc".into(),
        engine: "20.10.24 (API 1.41)".into(),
        security: "hardened".into(),
        load: LoadFigures {
            path: "/".into(),
            connections: 100,
            duration_ms: 20_000.0,
            requests: 200_000,
            errors: 0,
            requests_per_second: 10_000.0,
            p50_ms: 8.0,
            p99_ms: 30.5,
            max_ms: 80.0,
            memory_before_bytes: Some(1_000_000),
            memory_after_bytes: None,
        },
        garbage: GarbageFigures {
            seed: 7,
            requests: 110,
            concurrency: 32,
            answer_timeout_ms: 2000,
            duration_ms: 1500.0,
            outcomes: Outcomes {
                answered_4xx: 100,
                ..outcomes.clone()
            },
            kinds: vec![
                KindFigures {
                    kind: "random_bytes".into(),
                    description: "random bytes".into(),
                    may_succeed: false,
                    expected_status: None,
                    sent: 100,
                    outcomes,
                    statuses: BTreeMap::from([(400, 90)]),
                },
                KindFigures {
                    kind: "length_and_chunked".into(),
                    description: "Content-Length and chunked".into(),
                    may_succeed: false,
                    expected_status: Some(400),
                    sent: 10,
                    outcomes: Outcomes {
                        answered_4xx: 10,
                        ..Outcomes::default()
                    },
                    statuses: BTreeMap::from([(400, 10)]),
                },
            ],
            memory_before_bytes: Some(1_000_000),
            memory_after_bytes: Some(2_000_000),
            memory_bound_bytes: 64 << 20,
            healthz: Healthz {
                status: Some(200),
                ms: Some(1.3),
                error: None,
            },
            container: container.clone(),
        },
        idle: IdleFigures {
            connections: 300,
            silent: 150,
            partial: 150,
            opened: 300,
            memory_before_bytes: None,
            memory_held_bytes: Some(3_000_000),
            healthz: Healthz {
                error: Some("connection reset".into()),
                ..Healthz::default()
            },
            watch_ms: 15_000,
            closed_silent: 150,
            closed_partial: 150,
            answered: BTreeMap::from([(408, 150)]),
            close_first_ms: Some(5_000.0),
            close_median_ms: Some(5_010.0),
            close_last_ms: Some(5_100.0),
            container,
        },
        stop: StopFigures {
            load_connections: 50,
            delay_requests: 50,
            delay_ms: 1500,
            stop_after_ms: 300,
            delay_ok: 50,
            delay_failures: BTreeMap::new(),
            ok_before_stop: 1000,
            errors_before_stop: 0,
            ok_during_drain: 50,
            refused_after: 50,
            failed_after: 0,
            stop_ms: 1234.4,
            exit_code: Some(0),
        },
    };
    let checks = vec![
        Check {
            name: "load without errors".into(),
            ok: true,
            detail: "0 errors".into(),
            ..Check::default()
        },
        Check {
            name: "memory bound".into(),
            ok,
            detail: "2.00 MB".into(),
            ..Check::default()
        },
    ];
    StressReport::new(figures, checks)
}

#[cfg(test)]
impl From<StressReport> for Figures {
    fn from(report: StressReport) -> Figures {
        Figures {
            image: report.image,
            image_id: report.image_id,
            engine: report.engine,
            security: report.security,
            load: report.load,
            garbage: report.garbage,
            idle: report.idle,
            stop: report.stop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_add_up() {
        let mut outcomes = Outcomes::default();
        for outcome in [
            Outcome::Status(204),
            Outcome::Status(431),
            Outcome::Status(505),
            Outcome::Status(301),
            Outcome::NotHttp,
            Outcome::Closed,
            Outcome::TimedOut,
            Outcome::ConnectFailed,
        ] {
            outcomes.add(outcome);
        }
        assert_eq!(outcomes.total(), 8);
        assert_eq!(outcomes.answered_other, 2);
        assert_eq!(outcomes.answered_2xx, 1);
    }

    #[test]
    fn a_required_status_must_be_every_answer() {
        let mut kind = sample(true).garbage.kinds[1].clone();
        assert!(kind.answered_as_required());
        kind.statuses = BTreeMap::from([(400, 9), (200, 1)]);
        assert!(!kind.answered_as_required());
        kind.expected_status = None;
        assert!(kind.answered_as_required(), "no rule, nothing required");
    }

    #[test]
    fn the_report_is_ok_when_every_check_holds() {
        assert!(sample(true).ok);
        assert!(!sample(false).ok);
    }

    #[test]
    fn a_report_without_expected_statuses_still_reads() {
        let mut json = serde_json::to_value(sample(true)).unwrap();
        for kind in json["garbage"]["kinds"].as_array_mut().unwrap() {
            kind.as_object_mut().unwrap().remove("expected_status");
        }
        let report: StressReport = serde_json::from_value(json).unwrap();
        assert_eq!(report.garbage.kinds[1].expected_status, None);
    }
}
