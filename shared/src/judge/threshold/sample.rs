//! Evidence enough to judge, asked of the canary before its periods are
//! counted: some datapoint of the primary metric (none at all is
//! `Inconclusive` and marked as no evidence, never a pass: "all values under
//! X" is vacuously true for no values), and the minimum sample. A baseline is
//! held to the same in [`super::baseline`].

use super::columns::Columns;
use super::side::Slots;
use super::{reasons, Early};
use crate::judge::{GateOutcome, SampleFigures};
use crate::policy::ThresholdCheck;

/// `Inconclusive`, with `no_evidence` set, when not one period of the
/// gate's primary metric had a datapoint.
pub(super) fn require_datapoints(
    check: &ThresholdCheck,
    canary: &Slots<'_, '_>,
    columns: &Columns<'_>,
    no_evidence: &mut bool,
) -> Early<()> {
    let primary = check.signal.primary_queries();
    if primary.iter().all(|q| canary.present(columns, q) == 0) {
        *no_evidence = true;
        return Err((GateOutcome::Inconclusive, reasons::no_datapoints(primary)));
    }
    Ok(())
}

/// The gate's minimum sample, recorded in `sample`: `Inconclusive` when the
/// window holds less.
pub(super) fn require_sample<'e>(
    check: &ThresholdCheck,
    canary: &Slots<'_, 'e>,
    columns: &mut Columns<'e>,
    sample: &mut Option<SampleFigures>,
) -> Early<()> {
    let Some(min) = &check.min_sample else {
        return Ok(());
    };
    let (slot, series) = canary.of(&min.query);
    let observed = columns.sum_present(slot);
    *sample = Some(SampleFigures {
        // Equal queries read the same, so the series' name is this one's.
        query: columns.name(series, &min.query),
        observed,
        required: min.at_least,
    });
    if observed < min.at_least {
        return Err((
            GateOutcome::Inconclusive,
            reasons::sample_too_small(observed, &min.query, min.at_least),
        ));
    }
    Ok(())
}
