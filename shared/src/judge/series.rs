//! A gate's periods, column by column ([`GateSeries`]), and the per-period
//! view of them ([`Observation`]) for whoever draws or lists periods one by
//! one. The columns' JSON (NaN written as `null`) is defined here.

use serde::Serialize;

/// One period of a judged signal, as [`GateSeries::observations`] yields it
/// to the consumers that draw or list periods one by one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Observation {
    /// Period start, epoch seconds.
    pub timestamp: i64,
    /// The signal's value; `None` when missing (no datapoint, 0/0, NaN).
    pub value: Option<f64>,
    /// Whether this period counted as a breach.
    pub breaching: bool,
    /// Whether this period was among the N judged.
    pub judged: bool,
    /// The baseline's value in the same period, for gates compared with one
    /// period by period (`None` for periods that were not judged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
}

/// Every period of a gate's window, column by column.
///
/// A day of one-minute periods is 1440 of them per gate, and a hook may judge
/// hundreds of gates: a struct per period cost more to build than the judging
/// itself and serialised to 120 KB of JSON per gate. Columns cost one `f64`
/// per period in memory and about one number per period in the record; the
/// per-period view is still there for whoever wants it
/// ([`GateSeries::observations`]).
///
/// In the record: `{"start", "period", "values": [v, null, ...],
/// "baseline": [...], "judged_from": i, "skipped": [...], "breaching": [...]}`.
/// Period `i` starts at `start + i * period`; it was judged when
/// `i >= judged_from` and `i` is not in `skipped` (periods without a value
/// under `missing_data: ignore`); `breaching` lists the periods that counted
/// as breaches, all of them judged.
#[derive(Debug, Clone, Serialize)]
pub struct GateSeries {
    /// The first period's start, epoch seconds.
    pub start: i64,
    /// Seconds per period.
    pub period: i64,
    /// The signal per period; NaN where it has no value (`null` in JSON).
    #[serde(serialize_with = "nan_as_null")]
    pub values: Vec<f64>,
    /// The baseline's value per period, for gates compared with one period
    /// by period; NaN where it has none.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_nan_as_null"
    )]
    pub baseline: Option<Vec<f64>>,
    /// The first judged period; `values.len()` when none was judged.
    pub judged_from: usize,
    /// Periods at or after `judged_from` that were not judged, ascending.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<u32>,
    /// The periods that counted as breaches, ascending.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub breaching: Vec<u32>,
}

impl GateSeries {
    /// A window of `values` from `start`, none of them judged.
    pub fn unjudged(start: i64, period: i64, values: Vec<f64>) -> Self {
        GateSeries {
            start,
            period,
            judged_from: values.len(),
            values,
            baseline: None,
            skipped: Vec::new(),
            breaching: Vec::new(),
        }
    }

    /// How many periods.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there is no period at all.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Whether period `i` was judged.
    pub fn is_judged(&self, i: usize) -> bool {
        i >= self.judged_from && !contains(&self.skipped, i)
    }

    /// Every period, oldest first, one [`Observation`] each.
    pub fn observations(&self) -> impl DoubleEndedIterator<Item = Observation> + '_ {
        self.values.iter().enumerate().map(move |(i, &value)| {
            let judged = self.is_judged(i);
            Observation {
                timestamp: self.start + i as i64 * self.period,
                value: known(value),
                breaching: judged && contains(&self.breaching, i),
                judged,
                baseline: self
                    .baseline
                    .as_ref()
                    .filter(|_| judged)
                    .and_then(|base| base.get(i).copied().and_then(known)),
            }
        })
    }

    /// Leaves out the periods before the first judged one, returning how many
    /// went: what is left starts at the first judged period.
    pub fn drop_unjudged(&mut self) -> usize {
        let from = self.judged_from.min(self.values.len());
        if from == 0 {
            return 0;
        }
        self.values.drain(..from);
        if let Some(baseline) = &mut self.baseline {
            baseline.drain(..from.min(baseline.len()));
        }
        self.start += from as i64 * self.period;
        let shift = from as u32;
        for index in self.skipped.iter_mut().chain(&mut self.breaching) {
            *index -= shift;
        }
        self.judged_from = 0;
        from
    }

    /// The series of `observations`, which must be one per period from the
    /// first one's timestamp, `period` apart (as [`GateSeries::observations`]
    /// yields them). For tests and tools that build a series by hand.
    pub fn from_observations(period: i64, observations: &[Observation]) -> Self {
        let start = observations.first().map_or(0, |o| o.timestamp);
        let values: Vec<f64> = observations
            .iter()
            .map(|o| o.value.unwrap_or(f64::NAN))
            .collect();
        let judged_from = observations
            .iter()
            .position(|o| o.judged)
            .unwrap_or(values.len());
        let indexes = |keep: &dyn Fn(&Observation) -> bool| -> Vec<u32> {
            observations
                .iter()
                .enumerate()
                .skip(judged_from)
                .filter(|(_, o)| keep(o))
                .map(|(i, _)| i as u32)
                .collect()
        };
        let baseline = observations.iter().any(|o| o.baseline.is_some()).then(|| {
            observations
                .iter()
                .map(|o| o.baseline.unwrap_or(f64::NAN))
                .collect()
        });
        GateSeries {
            start,
            period,
            values,
            baseline,
            judged_from,
            skipped: indexes(&|o| !o.judged),
            breaching: indexes(&|o| o.judged && o.breaching),
        }
    }
}

/// NaN-aware: two series are equal when they say the same, NaN standing for
/// "no value" on both sides (a verdict judged twice from the same evidence
/// must compare equal).
impl PartialEq for GateSeries {
    fn eq(&self, other: &Self) -> bool {
        fn same(a: &[f64], b: &[f64]) -> bool {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
        }
        self.start == other.start
            && self.period == other.period
            && same(&self.values, &other.values)
            && match (&self.baseline, &other.baseline) {
                (Some(a), Some(b)) => same(a, b),
                (None, None) => true,
                _ => false,
            }
            && self.judged_from == other.judged_from
            && self.skipped == other.skipped
            && self.breaching == other.breaching
    }
}

fn contains(sorted: &[u32], i: usize) -> bool {
    u32::try_from(i).is_ok_and(|i| sorted.binary_search(&i).is_ok())
}

fn known(value: f64) -> Option<f64> {
    (!value.is_nan()).then_some(value)
}

fn nan_as_null<S: serde::Serializer>(values: &[f64], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(values.iter().map(|&v| known(v)))
}

fn optional_nan_as_null<S: serde::Serializer>(
    values: &Option<Vec<f64>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match values {
        Some(values) => nan_as_null(values, serializer),
        None => serializer.serialize_none(),
    }
}
