//! The verdicts of a stress run: what decides its exit code, each decided from the figures
//! alone. Everything else in the report is a figure; `report` words every verdict for people.

use crate::model::stress::{Figures, Verdict};

/// Every verdict, in the order the report lists them, and whether it holds.
pub fn decide(figures: &Figures) -> Vec<(Verdict, bool)> {
    let Figures {
        load,
        garbage,
        idle,
        stop,
        ..
    } = figures;
    vec![
        (
            Verdict::LoadWithoutErrors,
            load.errors == 0 && load.requests > 0,
        ),
        (
            Verdict::NoCrash,
            garbage.container.survived() && idle.container.survived(),
        ),
        (
            Verdict::GarbageNeverAccepted,
            !garbage.kinds.iter().any(|k| k.accepted_wrongly()),
        ),
        (
            Verdict::GarbageRefusedAsRequired,
            garbage.kinds.iter().all(|k| k.answered_as_required()),
        ),
        (Verdict::HealthzAfterGarbage, garbage.healthz.ok()),
        (
            Verdict::MemoryBound,
            garbage
                .memory_after_bytes
                .is_some_and(|bytes| bytes <= garbage.memory_bound_bytes),
        ),
        (Verdict::HealthzWhileIdle, idle.healthz.ok()),
        (
            Verdict::InFlightFinish,
            stop.delay_ok == stop.delay_requests,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::stress::sample;

    fn failing(figures: &Figures) -> Vec<Verdict> {
        decide(figures)
            .into_iter()
            .filter(|(_, ok)| !ok)
            .map(|(verdict, _)| verdict)
            .collect()
    }

    #[test]
    fn a_run_that_went_well_passes_but_for_its_idle_healthz() {
        // The sample's idle phase found `GET /healthz` reset.
        let figures = Figures::from(sample(true));
        assert_eq!(failing(&figures), [Verdict::HealthzWhileIdle]);
        assert_eq!(decide(&figures).len(), 8);
    }

    #[test]
    fn garbage_answered_2xx_or_not_as_required_fails() {
        let mut figures = Figures::from(sample(true));
        figures.idle.healthz = figures.garbage.healthz.clone();
        assert!(failing(&figures).is_empty());

        figures.garbage.kinds[0].outcomes.answered_2xx = 1;
        assert_eq!(failing(&figures), [Verdict::GarbageNeverAccepted]);
        figures.garbage.kinds[0].may_succeed = true;
        assert!(failing(&figures).is_empty());

        // Content-Length with chunked must be a 400, and a close instead of it is not.
        figures.garbage.kinds[1].statuses.insert(400, 9);
        assert_eq!(failing(&figures), [Verdict::GarbageRefusedAsRequired]);
    }

    #[test]
    fn a_crash_a_leak_or_a_cut_request_fails() {
        let mut figures = Figures::from(sample(true));
        figures.idle.healthz = figures.garbage.healthz.clone();
        figures.idle.container.same_container = false;
        figures.garbage.memory_after_bytes = Some(figures.garbage.memory_bound_bytes + 1);
        figures.stop.delay_ok -= 1;
        figures.load.errors = 1;
        assert_eq!(
            failing(&figures),
            [
                Verdict::LoadWithoutErrors,
                Verdict::NoCrash,
                Verdict::MemoryBound,
                Verdict::InFlightFinish
            ]
        );
        figures.garbage.memory_after_bytes = None;
        assert!(
            failing(&figures).contains(&Verdict::MemoryBound),
            "unknown is no proof"
        );
    }
}
