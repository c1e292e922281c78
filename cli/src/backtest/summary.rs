//! What a backtest shows, in a size fixed in advance: the replay may hold a
//! few evaluations or 650,000 (fifteen months of one-minute periods), and
//! neither the memory kept nor any printed line may grow with that.
//!
//! - a gate's timeline is at most [`MAX_MARKS`] marks, each the worst outcome
//!   of the evaluations it covers (one mark per evaluation when they fit), and
//!   the header says how many each covers;
//! - a gate's chart is at most [`MAX_POINTS`] points, a failing evaluation
//!   kept over a passing one in the same point;
//! - failed evaluations are runs (consecutive evaluations with the same
//!   reason), the first [`MAX_RUNS`] printed and the rest counted;
//! - names, reasons and the policy's path are cut to a width, saying so.

use super::replay::{Grid, Replayed};
use crate::render::{colour_enabled, paint, Colour};
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use metric_gate::judge::{GateOutcome, GateSeries, Observation};
use metric_gate::policy::Policy;
use metric_gate::Hook;

/// Marks in a gate's timeline.
pub const MAX_MARKS: u64 = 100;
/// Points in a gate's chart.
pub const MAX_POINTS: u64 = 1_000;
/// Runs of failed evaluations printed.
pub const MAX_RUNS: usize = 20;
/// Characters of a gate name in the timeline.
const NAME_WIDTH: usize = 40;
/// Characters of a failure's reason.
const REASON_WIDTH: usize = 150;

/// Evaluations per mark (or point) so that `count` fit in `max`.
fn per(count: u64, max: u64) -> u64 {
    count.div_ceil(max).max(1)
}

/// A gate's outcomes, at most [`MAX_MARKS`] marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    per: u64,
    marks: Vec<Option<GateOutcome>>,
    /// Evaluations that failed the gate.
    pub failing: u64,
}

impl Timeline {
    /// An empty timeline of `count` evaluations.
    pub fn new(count: u64) -> Self {
        let per = per(count, MAX_MARKS);
        Timeline {
            per,
            marks: vec![None; count.div_ceil(per) as usize],
            failing: 0,
        }
    }

    /// `n` evaluations from `i` on with `outcome`.
    pub fn add(&mut self, i: u64, n: u64, outcome: GateOutcome) {
        for mark in &mut self.marks[(i / self.per) as usize..=((i + n - 1) / self.per) as usize] {
            *mark = (*mark).max(Some(outcome));
        }
        if outcome == GateOutcome::Fail {
            self.failing += n;
        }
    }

    fn text(&self) -> String {
        self.marks
            .iter()
            .map(|mark| match mark {
                None => ' ',
                Some(GateOutcome::Pass) => '.',
                Some(GateOutcome::Inconclusive) => '?',
                Some(GateOutcome::Fail) => 'X',
                Some(GateOutcome::Error) => 'E',
            })
            .collect()
    }
}

/// A gate's newest judged period at each evaluation, at most [`MAX_POINTS`],
/// and whether the evaluation failed the gate.
///
/// A period is breaching when the judge marked it so, not when the
/// evaluation failed: a gate fails on M of N periods, and the newest one may
/// well be under its bound. Both are kept, drawn differently.
pub struct Chart {
    grid: Grid,
    per: u64,
    points: Vec<Option<Observation>>,
    failed: Vec<bool>,
}

impl Chart {
    /// An empty chart of the grid's evaluations.
    pub fn new(grid: Grid) -> Self {
        let per = per(grid.count, MAX_POINTS);
        let points = grid.count.div_ceil(per) as usize;
        Chart {
            grid,
            per,
            points: vec![None; points],
            failed: vec![false; points],
        }
    }

    /// Evaluation `i`'s newest judged period, and its outcome.
    pub fn add(&mut self, i: u64, newest: Observation, outcome: GateOutcome) {
        let k = (i / self.per) as usize;
        self.failed[k] |= outcome == GateOutcome::Fail;
        let point = &mut self.points[k];
        // A breaching period stays visible in its point.
        if !point.as_ref().is_some_and(|p| p.breaching) {
            *point = Some(newest);
        }
    }

    /// The chart as a series, one point per `per` evaluations; `None` when
    /// no evaluation judged a period.
    pub fn series(&self, step: i64) -> Option<GateSeries> {
        let first = self.points.iter().flatten().next()?;
        let offset = first.timestamp - self.grid.at(self.first_index() * self.per);
        let observations: Vec<Observation> = self
            .points
            .iter()
            .enumerate()
            .map(|(k, point)| {
                point.unwrap_or(Observation {
                    timestamp: self.grid.at(k as u64 * self.per) + offset,
                    value: None,
                    breaching: false,
                    judged: true,
                    baseline: None,
                })
            })
            .skip(self.first_index() as usize)
            .collect();
        Some(GateSeries::from_observations(
            step * self.per as i64,
            &observations,
        ))
    }

    /// Per point of [`Chart::series`], whether an evaluation it stands for
    /// failed the gate.
    pub fn failed(&self) -> Vec<bool> {
        self.failed
            .iter()
            .skip(self.first_index() as usize)
            .copied()
            .collect()
    }

    fn first_index(&self) -> u64 {
        self.points.iter().position(Option::is_some).unwrap_or(0) as u64
    }
}

/// A run of consecutive failed evaluations with the same reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    from: i64,
    to: i64,
    count: u64,
    reason: String,
}

/// The evaluations the hook would have reported Failed in: counted, and the
/// first [`MAX_RUNS`] runs kept.
#[derive(Debug)]
pub struct Failures {
    step: i64,
    /// Failed evaluations.
    pub total: u64,
    runs: Vec<Run>,
    runs_total: u64,
    current: Option<Run>,
}

impl Failures {
    /// None yet; evaluations `step` apart.
    pub fn new(step: i64) -> Self {
        Failures {
            step,
            total: 0,
            runs: Vec::new(),
            runs_total: 0,
            current: None,
        }
    }

    /// `n` failed evaluations from `now` on, for `reason`.
    pub fn add(&mut self, now: i64, n: u64, reason: &str) {
        self.total += n;
        let to = now + (n as i64 - 1) * self.step;
        if let Some(run) = &mut self.current {
            if run.reason == reason && run.to + self.step == now {
                run.to = to;
                run.count += n;
                return;
            }
        }
        self.finish();
        self.current = Some(Run {
            from: now,
            to,
            count: n,
            reason: reason.to_string(),
        });
    }

    /// Closes the run in progress.
    pub fn finish(&mut self) {
        if let Some(run) = self.current.take() {
            self.runs_total += 1;
            if self.runs.len() < MAX_RUNS {
                self.runs.push(run);
            }
        }
    }
}

/// `text` cut to `width` characters, saying how many were left out.
fn cut(text: &str, width: usize) -> String {
    match text.char_indices().nth(width) {
        None => text.to_string(),
        Some((at, _)) => format!(
            "{}... ({} more characters)",
            &text[..at],
            text[at..].chars().count()
        ),
    }
}

pub fn stamp(epoch: i64) -> String {
    DateTime::from_secs(epoch)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| epoch.to_string())
}

/// The header, each gate's timeline and the count of failed evaluations.
pub fn print(replayed: &Replayed, policy: &Policy, hook: Hook) {
    let grid = replayed.grid;
    let colour = colour_enabled();
    println!(
        "{hook} with {}: {} evaluations, every {}s, from {} to {}",
        cut(&policy.source, 60),
        grid.count,
        grid.step,
        stamp(grid.first),
        stamp(grid.at(grid.count - 1))
    );
    let per = per(grid.count, MAX_MARKS);
    let scale = if per > 1 {
        format!(
            "; each mark is the worst of {per} evaluations ({}s)",
            per as i64 * grid.step
        )
    } else {
        String::new()
    };
    println!("  legend: . pass  X fail  ? inconclusive  E error{scale}");
    for (name, gate) in &replayed.gates {
        let fails = gate.timeline.failing;
        println!(
            "  {:<26} {}  {}",
            cut(name, NAME_WIDTH),
            gate.timeline.text(),
            paint(
                &format!("{fails} failing"),
                if fails > 0 {
                    Colour::Red
                } else {
                    Colour::Green
                },
                colour
            )
        );
    }
    if replayed.copied > 0 {
        println!(
            "  {} evaluations in {} spans read no datapoint in any window: each span was judged once and its outcome counted for all",
            replayed.copied + replayed.empty_spans,
            replayed.empty_spans
        );
    }
    println!(
        "the hook would have reported Failed in {} of {} evaluations",
        replayed.failures.total, grid.count
    );
}

/// The first runs of failed evaluations, and how many more there were.
pub fn print_failures(replayed: &Replayed) {
    let failures = &replayed.failures;
    for run in &failures.runs {
        let reason = cut(&run.reason, REASON_WIDTH);
        if run.count == 1 {
            println!("  {}  {reason}", stamp(run.from));
        } else {
            // The reason on a line of its own, so no line is wider than one
            // cut reason and a stamp.
            println!(
                "  {} to {} ({} evaluations):\n      {reason}",
                stamp(run.from),
                stamp(run.to),
                run.count
            );
        }
    }
    let shown: u64 = failures.runs.iter().map(|r| r.count).sum();
    if failures.runs_total > failures.runs.len() as u64 {
        println!(
            "  ... and {} more runs of failed evaluations ({} evaluations)",
            failures.runs_total - failures.runs.len() as u64,
            failures.total - shown
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeline_keeps_at_most_its_marks() {
        let mut short = Timeline::new(5);
        short.add(0, 1, GateOutcome::Pass);
        short.add(1, 4, GateOutcome::Fail);
        assert_eq!(short.text(), ".XXXX");
        assert_eq!(short.failing, 4);
        let mut long = Timeline::new(653_761);
        long.add(0, 653_761, GateOutcome::Pass);
        long.add(300_000, 1, GateOutcome::Error);
        let text = long.text();
        assert_eq!(text.chars().count(), 100);
        assert_eq!(text.matches('E').count(), 1);
    }

    #[test]
    fn failures_are_runs_and_bounded() {
        let mut failures = Failures::new(60);
        failures.add(0, 1, "a");
        failures.add(60, 3, "a");
        failures.add(240, 1, "b");
        for k in 0..100 {
            failures.add(1_000_000 + k * 120, 1, "c");
        }
        failures.finish();
        assert_eq!(failures.total, 105);
        assert_eq!(failures.runs.len(), MAX_RUNS);
        assert_eq!(failures.runs_total, 102);
        assert_eq!(failures.runs[0].count, 4);
        assert_eq!(failures.runs[0].to, 180);
    }

    #[test]
    fn cut_says_what_it_left_out() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("ééééé", 2), "éé... (3 more characters)");
    }
}
