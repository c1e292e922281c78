//! A hook's bake analysis (`analysis:`): how long to watch, how often to
//! measure, and how many bad measurements are tolerated. Its one cross-field
//! rule is CodeDeploy's hour: the analysis must end well within it.

use super::Validator;
use crate::policy::raw::{RawAnalysis, Spanned};
use crate::policy::AnalysisPolicy;

impl Validator<'_> {
    pub(super) fn analysis(&mut self, raw: Spanned<RawAnalysis>, path: &str) -> AnalysisPolicy {
        let at = raw.defined;
        let raw = raw.value;
        let duration_secs = self.duration(&raw.duration, &format!("{path}.duration"), false);
        let interval_secs = raw
            .interval
            .as_ref()
            .map(|i| self.duration(i, &format!("{path}.interval"), false))
            .unwrap_or(60);
        let initial_delay_secs = raw
            .initial_delay
            .as_ref()
            .map(|d| self.duration(d, &format!("{path}.initial_delay"), true))
            .unwrap_or(0);
        if interval_secs < 10 || interval_secs > duration_secs {
            self.problem(at, format!("{path}.interval"), format!("must be between 10s and the duration ({duration_secs}s), found {interval_secs}s"));
        }
        // Leave five minutes of CodeDeploy's hour for the last runs and the report.
        let budget = crate::policy::HARD_LIMIT_SECS - 5 * 60;
        if initial_delay_secs + duration_secs > budget {
            self.problem(at, path, format!("initial_delay + duration is {}s; it must end within {budget}s, as CodeDeploy waits at most an hour for a hook", initial_delay_secs + duration_secs));
        }
        AnalysisPolicy {
            duration_secs,
            interval_secs,
            initial_delay_secs,
            failure_limit: raw.failure_limit.unwrap_or(0),
            consecutive_error_limit: raw.consecutive_error_limit.unwrap_or(4),
            inconclusive_limit: raw.inconclusive_limit.unwrap_or(0),
        }
    }
}
