//! Regenerates the false-positive and power table of docs/statistics.md
//! (section 4) by seeded simulation of the real judge functions:
//!
//!     cargo run -p metric-gate --example fpr --config 'profile.dev.package.metric-gate.opt-level=3'
//!
//! (`--release` gives the same figures; it only takes far longer to build.)
//! Each row draws canary and baseline 100,000 times and counts how often
//! `compare_samples` or `compare_proportions` objects; `--trials N` changes
//! the count, `--only TEXT` runs the rows whose label contains TEXT. Each row
//! has its own fixed seed (from its label), so the output is identical on
//! every machine and whatever the number of threads; rows run in parallel on
//! the available cores. The rate comes with its 95% Clopper-Pearson
//! interval. The output is the markdown table, ready to paste; the wall time
//! goes to stderr.

#[path = "../tests/simulation/mod.rs"]
mod simulation;

use metric_gate::judge::statistics::{
    Direction, EffectSize, ProportionOptions, RankTestOptions, Tolerance,
};
use sha2::{Digest, Sha256};
use simulation::{
    autocorrelated_objections, proportion_failures, rank_objections, Count, ProportionScenario,
    RankScenario, Shape, ALPHA, POWER_SHAPES,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// One row of the table: what is simulated and how.
struct Row {
    kind: Kind,
    scenario: &'static str,
    simulate: Box<dyn Fn(u64, u64) -> Count + Send + Sync>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Canary and baseline alike: the rate is a false-positive rate.
    FalsePositive,
    /// The canary is worse: the rate is the power.
    Power,
    /// Alike but autocorrelated: a limitation, measured.
    Limitation,
}

fn rank(direction: Direction) -> RankTestOptions {
    RankTestOptions {
        alpha: ALPHA,
        direction,
        ..RankTestOptions::default()
    }
}

fn proportion(tolerance: Tolerance) -> ProportionOptions {
    ProportionOptions {
        alpha: ALPHA,
        tolerance,
        ..ProportionOptions::default()
    }
}

/// Per-minute p99 latency: median 120 ms, spread `sigma` on the log scale.
fn latency(sigma: f64, canary_factor: f64, round_to: f64, direction: Direction) -> RankScenario {
    RankScenario {
        scale: 0.120,
        round_to,
        canary_factor,
        ..RankScenario::identical(Shape::LogNormal { sigma }, 30..=60, rank(direction))
    }
}

fn rank_row(kind: Kind, scenario: &'static str, setup: RankScenario) -> Row {
    Row {
        kind,
        scenario,
        simulate: Box::new(move |seed, trials| rank_objections(&setup, seed, trials)),
    }
}

fn proportion_row(kind: Kind, scenario: &'static str, setup: ProportionScenario) -> Row {
    Row {
        kind,
        scenario,
        simulate: Box::new(move |seed, trials| proportion_failures(&setup, seed, trials)),
    }
}

fn errors(
    baseline_rate: f64,
    canary_rate: f64,
    canary_requests: std::ops::RangeInclusive<u64>,
    baseline_requests: std::ops::RangeInclusive<u64>,
    tolerance: Tolerance,
) -> ProportionScenario {
    ProportionScenario {
        baseline_rate,
        canary_rate,
        canary_requests,
        baseline_requests,
        options: proportion(tolerance),
    }
}

fn rows() -> Vec<Row> {
    use Direction::{Either, Increase};
    use Kind::{FalsePositive, Limitation, Power};
    let none = Tolerance::Absolute(0.0);
    let mut rows = vec![
        rank_row(
            FalsePositive,
            "rank test, identical lognormals (median 120 ms, sigma 0.5), 30-60 values a side, two-sided",
            latency(0.5, 1.0, 0.0, Either),
        ),
        rank_row(
            FalsePositive,
            "same, one-sided (`Increase`)",
            latency(0.5, 1.0, 0.0, Increase),
        ),
        rank_row(
            FalsePositive,
            "rank test, lognormal (sigma 0.35) rounded to 5 ms (heavy ties), two-sided",
            latency(0.35, 1.0, 0.005, Either),
        ),
        rank_row(
            FalsePositive,
            "rank test, identical normals, 10 values a side (the minimum), one-sided",
            RankScenario::identical(Shape::Normal, 10..=10, rank(Increase)),
        ),
        rank_row(
            FalsePositive,
            "rank test, a counter that is 0 in 80% of periods (else 1 + Poisson(1)), 30-60 values, one-sided",
            RankScenario::identical(
                Shape::MostlyZero { zeros: 0.8, mean: 1.0 },
                30..=60,
                rank(Increase),
            ),
        ),
        // What a counter's gate gets by default (`effect_size` unset on a
        // `Sum` or `SampleCount`): the mean ratio, which still moves when
        // both medians are 0.
        rank_row(
            FalsePositive,
            "rank test, the same counter judged by the mean ratio (a counter's default), 30-60 values, one-sided",
            RankScenario::identical(
                Shape::MostlyZero { zeros: 0.8, mean: 1.0 },
                30..=60,
                RankTestOptions {
                    effect_size: EffectSize::MeanRatio,
                    ..rank(Increase)
                },
            ),
        ),
        proportion_row(
            FalsePositive,
            "proportion test, 2% errors on both sides, 1000-5000 requests",
            errors(0.02, 0.02, 1000..=5000, 1000..=5000, none),
        ),
        proportion_row(
            FalsePositive,
            "proportion test, 0.1% errors on both sides, 1000-3000 requests",
            errors(0.001, 0.001, 1000..=3000, 1000..=3000, none),
        ),
        proportion_row(
            FalsePositive,
            "proportion test, 5% on both sides, canary 100-200 requests, baseline 5000-10000",
            errors(0.05, 0.05, 100..=200, 5000..=10000, none),
        ),
        proportion_row(
            FalsePositive,
            "proportion test, canary a tenth of the traffic: 1% errors on both sides, canary 1000-2000 requests, baseline 9000-18000",
            errors(0.01, 0.01, 1000..=2000, 9000..=18000, none),
        ),
        proportion_row(
            FalsePositive,
            "same, ten times the requests: canary 10000-20000, baseline 90000-180000",
            errors(0.01, 0.01, 10_000..=20_000, 90_000..=180_000, none),
        ),
        proportion_row(
            FalsePositive,
            "canary a fiftieth of the traffic: 2% errors on both sides, canary 400-800 requests, baseline 20000-40000",
            errors(0.02, 0.02, 400..=800, 20_000..=40_000, none),
        ),
        proportion_row(
            FalsePositive,
            "canary five times the baseline's traffic: 2% errors on both sides, canary 5000-10000 requests, baseline 1000-2000",
            errors(0.02, 0.02, 5000..=10_000, 1000..=2000, none),
        ),
        proportion_row(
            FalsePositive,
            "proportion test on the boundary, 1% vs 1.5%, tolerance +0.5 pp, 2000-6000 requests",
            errors(0.01, 0.015, 2000..=6000, 2000..=6000, Tolerance::Absolute(0.005)),
        ),
        proportion_row(
            FalsePositive,
            "proportion test on the boundary, 1% vs 1.5%, tolerance 1.5x, 2000-6000 requests",
            errors(0.01, 0.015, 2000..=6000, 2000..=6000, Tolerance::Relative(1.5)),
        ),
        proportion_row(
            FalsePositive,
            "on the boundary with a tenth of the traffic, 1% vs 1.5%, tolerance +0.5 pp, canary 1000-2000 requests, baseline 10000-20000",
            errors(0.01, 0.015, 1000..=2000, 10_000..=20_000, Tolerance::Absolute(0.005)),
        ),
        proportion_row(
            FalsePositive,
            "on the boundary with a tenth of the traffic, 1% vs 1.5%, tolerance 1.5x, canary 1000-2000 requests, baseline 10000-20000",
            errors(0.01, 0.015, 1000..=2000, 10_000..=20_000, Tolerance::Relative(1.5)),
        ),
        proportion_row(
            FalsePositive,
            "sparse, on the boundary: 0.05% vs 0.15%, tolerance +0.1 pp, 1000-3000 requests",
            errors(0.0005, 0.0015, 1000..=3000, 1000..=3000, Tolerance::Absolute(0.001)),
        ),
        proportion_row(
            FalsePositive,
            "sparse, on the boundary: 0.1% vs 0.2%, tolerance 2x, 1000-3000 requests",
            errors(0.001, 0.002, 1000..=3000, 1000..=3000, Tolerance::Relative(2.0)),
        ),
        rank_row(
            Power,
            "rank test, canary 1.5x slower, sigma 0.35, 30-60 values, one-sided",
            latency(0.35, 1.5, 0.0, Increase),
        ),
        rank_row(
            Power,
            "rank test, canary 1.5x slower, sigma 0.5, 30-60 values, one-sided",
            latency(0.5, 1.5, 0.0, Increase),
        ),
        proportion_row(
            Power,
            "proportion test, error rate 1% to 2%, 3000-5000 requests",
            errors(0.01, 0.02, 3000..=5000, 3000..=5000, none),
        ),
        proportion_row(
            Power,
            "proportion test, error rate 1% to 2%, canary a tenth of the traffic: 1000-2000 requests, baseline 10000-20000",
            errors(0.01, 0.02, 1000..=2000, 10_000..=20_000, none),
        ),
        proportion_row(
            Power,
            "proportion test, error rate 5% to 10%, canary a fiftieth of the traffic: 100-200 requests, baseline 5000-10000",
            errors(0.05, 0.10, 100..=200, 5000..=10_000, none),
        ),
        proportion_row(
            Power,
            "proportion test, error rate 1% to 1.5%, canary a tenth of the traffic: 5000-10000 requests, baseline 50000-100000",
            errors(0.01, 0.015, 5000..=10_000, 50_000..=100_000, none),
        ),
        proportion_row(
            Power,
            "proportion test, error rate 0.05% to 0.5%, 1000-2000 requests (sparse)",
            errors(0.0005, 0.005, 1000..=2000, 1000..=2000, none),
        ),
    ];
    for k in [0.5, 1.0] {
        for (name, shape) in POWER_SHAPES {
            let scenario: &'static str = Box::leak(
                format!("rank test, {name}, canary shifted by {k} x its standard deviation, 30 values a side, one-sided")
                    .into_boxed_str(),
            );
            rows.push(rank_row(
                Power,
                scenario,
                RankScenario {
                    canary_shift_in_spreads: k,
                    ..RankScenario::identical(shape, 30..=30, rank(Increase))
                },
            ));
        }
    }
    rows.push(Row {
        kind: Limitation,
        scenario: "rank test, **autocorrelated** series (AR(1), phi 0.5, on log latency), identical processes, two-sided",
        simulate: Box::new(|seed, trials| {
            autocorrelated_objections(0.5, 0.35, &rank(Either), seed, trials)
        }),
    });
    rows
}

/// A row's seed: the first 8 bytes of the SHA-256 of its label, so it is
/// fixed, differs from row to row, and does not move when rows are added.
fn seed(label: &str) -> u64 {
    let digest = Sha256::digest(label.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

fn main() {
    let mut trials = 100_000;
    let mut only = String::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--trials", Some(n)) => trials = n.parse().expect("--trials takes a whole number"),
            ("--only", Some(text)) => only = text,
            _ => {
                eprintln!(
                    "usage: fpr [--trials N] [--only TEXT]   (N = 100000 by default; TEXT picks the rows whose label contains it)"
                );
                std::process::exit(2);
            }
        }
    }
    let started = Instant::now();
    let rows: Vec<Row> = rows()
        .into_iter()
        .filter(|row| row.scenario.contains(only.as_str()))
        .collect();
    let results: Vec<Mutex<Option<Count>>> = rows.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(row) = rows.get(index) else { break };
                let count = (row.simulate)(seed(row.scenario), trials);
                *results[index].lock().expect("no panics") = Some(count);
            });
        }
    });
    println!(
        "| scenario (alpha = {ALPHA}) | test used | objections / trials | rate | 95% interval |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for (row, result) in rows.iter().zip(&results) {
        let count = result
            .lock()
            .expect("no panics")
            .take()
            .expect("every row ran");
        let (lower, upper) = count.interval(0.95);
        let label = match row.kind {
            Kind::FalsePositive => row.scenario.to_string(),
            Kind::Power => format!("*power*: {}", row.scenario),
            Kind::Limitation => format!("*limitation*: {}", row.scenario),
        };
        println!(
            "| {label} | {} | {} / {} | **{:.4}** | {lower:.4}-{upper:.4} |",
            count.tests_used(),
            count.hits,
            count.trials,
            count.rate()
        );
    }
    eprintln!(
        "{} rows x {trials} trials on {threads} threads in {:.1} s",
        rows.len(),
        started.elapsed().as_secs_f64()
    );
}
