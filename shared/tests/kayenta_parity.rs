//! Parity with Kayenta's own judge tests (issue 16): every case of its
//! `ClassifierSuite` (Mann-Whitney) and `ScorerSuite`, restated as data in
//! `tests/kayenta/suites.json`, run through this library with the settings a
//! gate would use. Each case prints Kayenta's expected answer and ours.
//!
//! Where the two differ, the difference must be listed below with the design
//! choice that explains it, and that choice must be a heading of the section
//! "Where we differ from Kayenta" in `docs/statistics.md`: a new difference
//! fails this test until someone decides and documents it, and a listed
//! difference that went away fails it too, so the list cannot rot.
//!
//! How a Kayenta classifier case becomes ours: alpha is 1 - its confidence
//! level; its direction and NaN strategy carry over; at least 5 values per
//! side, as a gate asks; its `meanRatio` effect size is our `mean_ratio`,
//! its effect thresholds our allowed increase and decrease (a decrease
//! tolerance is at most 1 here, an increase at least 1); its critical
//! thresholds our critical tolerance. Kayenta's CLES measure has no
//! counterpart: those cases run on the mean ratio with no tolerance.
//! Kayenta's scores are compared rounded to two decimals, as it rounds them,
//! and its outcome is read at our default thresholds (pass 95, marginal 75).

use metric_gate::judge::statistics::{
    compare_samples, score, Classification, Direction, EffectSize, EffectTolerance, MetricEvidence,
    MetricResult, NanStrategy, RankComparison, RankTestOptions, ScoreOptions, ScoreOutcome,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Classifier cases whose answer differs, by Kayenta's test name, with the
/// heading in `docs/statistics.md` that explains why.
const CLASSIFIER_DIFFERENCES: &[(&str, &str)] = &[
    ("Mann-Whitney Tied Observations", "Fewest values per side"),
    (
        "Mann-Whitney Missing Experiment Data with NaN Replacement",
        "No values is no data whatever the NaN strategy",
    ),
];

/// Scorer cases whose score or outcome differs, with the heading that
/// explains why.
const SCORER_DIFFERENCES: &[(&str, &str)] = &[
    (
        "one metric, without data",
        "Overriding rules keep the score",
    ),
    (
        "two passes in a group weighing 75, a high in one weighing 25",
        "Weights belong to metrics, not groups",
    ),
    (
        "a pass and a high in one group, a high in another, equal group weights",
        "Weights belong to metrics, not groups",
    ),
    (
        "a pass and a critical high",
        "Overriding rules keep the score",
    ),
    (
        "a pass and a critical metric without data",
        "Overriding rules keep the score",
    ),
    (
        "high, low and pass in a group weighing 15, a high in one weighing 85",
        "Weights belong to metrics, not groups",
    ),
];

/// The fewest values per side a gate's rank test judges (`judge::compare`).
const GATE_MIN_VALUES: usize = 5;

#[derive(Deserialize)]
struct Suites {
    samples: BTreeMap<String, Vec<f64>>,
    classifier: Vec<ClassifierCase>,
    scorer: Vec<ScorerCase>,
}

/// A sample named in `samples`, or written out.
#[derive(Deserialize)]
#[serde(untagged)]
enum Values {
    Named(String),
    Inline(Vec<f64>),
}

#[derive(Deserialize)]
struct ClassifierCase {
    case: String,
    kayenta_test: String,
    canary: Values,
    baseline: Values,
    direction: String,
    confidence: f64,
    /// Kayenta's effect-size thresholds: (decrease, increase).
    effect: Option<[f64; 2]>,
    /// Kayenta's critical thresholds: (decrease, increase).
    critical: Option<[f64; 2]>,
    /// `cles` when not Kayenta's default mean ratio.
    measure: Option<String>,
    #[serde(default)]
    critical_metric: bool,
    /// `replace` when not Kayenta's default `remove`.
    nan: Option<String>,
    kayenta: String,
    kayenta_critical: Option<bool>,
}

#[derive(Deserialize)]
struct ScorerCase {
    case: String,
    metrics: Vec<ScoredMetric>,
    /// Kayenta's group weights, in percent.
    group_weights: Option<BTreeMap<String, f64>>,
    kayenta_score: f64,
}

#[derive(Deserialize)]
struct ScoredMetric {
    class: String,
    group: Option<String>,
    #[serde(default)]
    critical: bool,
}

fn suites() -> Suites {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kayenta/suites.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The headings of the section "Where we differ from Kayenta".
fn documented_choices() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/statistics.md");
    let text = std::fs::read_to_string(path).unwrap();
    let mut inside = false;
    let mut choices = Vec::new();
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            inside = title.ends_with("Where we differ from Kayenta");
        } else if let Some(title) = line.strip_prefix("### ").filter(|_| inside) {
            choices.push(title.trim().to_string());
        }
    }
    choices
}

fn values<'a>(suites: &'a Suites, values: &'a Values) -> &'a [f64] {
    match values {
        Values::Named(name) => &suites.samples[name],
        Values::Inline(values) => values,
    }
}

fn classification_name(class: Classification) -> &'static str {
    match class {
        Classification::Pass => "pass",
        Classification::High => "high",
        Classification::Low => "low",
        Classification::NoData => "no_data",
    }
}

/// A Kayenta classifier case run as a gate would run it.
fn classify(suites: &Suites, case: &ClassifierCase) -> RankComparison {
    let tolerance = |[decrease, increase]: [f64; 2]| EffectTolerance {
        allowed_increase: increase.max(1.0),
        allowed_decrease: decrease.min(1.0),
    };
    let cles = case.measure.as_deref() == Some("cles");
    let effect = match case.effect {
        Some(thresholds) if !cles => tolerance(thresholds),
        _ => EffectTolerance::default(),
    };
    let critical = case.critical.map(|thresholds| {
        let t = tolerance(thresholds);
        EffectTolerance {
            allowed_increase: t.allowed_increase.max(effect.allowed_increase),
            allowed_decrease: t.allowed_decrease.min(effect.allowed_decrease),
        }
    });
    let options = RankTestOptions {
        alpha: 1.0 - case.confidence,
        direction: match case.direction.as_str() {
            "increase" => Direction::Increase,
            "decrease" => Direction::Decrease,
            _ => Direction::Either,
        },
        nan_strategy: match case.nan.as_deref() {
            Some("replace") => NanStrategy::ReplaceWithZero,
            _ => NanStrategy::Remove,
        },
        min_values: GATE_MIN_VALUES,
        effect_size: EffectSize::MeanRatio,
        effect,
        critical,
        ..RankTestOptions::default()
    };
    compare_samples(
        values(suites, &case.canary),
        values(suites, &case.baseline),
        &options,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", case.case))
}

/// Whether a critical metric with this answer would fail a canary, in
/// Kayenta's sense of its `critical` flag (set for no data too).
fn critical(case: &ClassifierCase, ours: &RankComparison) -> bool {
    case.critical_metric
        && match ours.classification {
            Classification::High | Classification::Low => ours.critical_breach.unwrap_or(true),
            Classification::NoData => true,
            Classification::Pass => false,
        }
}

#[test]
fn kayentas_classifier_suite_agrees_but_for_documented_choices() {
    let suites = suites();
    let choices = documented_choices();
    let mut problems = Vec::new();
    let mut agree = 0;
    println!("| Kayenta's case | Kayenta | ours | choice |\n| --- | --- | --- | --- |");
    for case in &suites.classifier {
        let ours = classify(&suites, case);
        let our_class = classification_name(ours.classification);
        let our_critical = critical(case, &ours);
        let same =
            our_class == case.kayenta && case.kayenta_critical.is_none_or(|c| c == our_critical);
        assert!(
            !ours.reason.is_empty(),
            "{}: every answer has a reason",
            case.case
        );
        let listed = CLASSIFIER_DIFFERENCES
            .iter()
            .find(|(name, _)| *name == case.kayenta_test)
            .map(|(_, choice)| *choice);
        let show = |class: &str, critical: Option<bool>| match critical {
            Some(true) => format!("{class} (critical)"),
            _ => class.to_string(),
        };
        println!(
            "| {} | {} | {} | {} |",
            case.case,
            show(&case.kayenta, case.kayenta_critical),
            show(our_class, case.kayenta_critical.map(|_| our_critical)),
            listed.unwrap_or("")
        );
        match (same, listed) {
            (true, None) => agree += 1,
            (true, Some(_)) => problems.push(format!(
                "{}: listed as a difference, but we now agree ({our_class}): take it off the list",
                case.kayenta_test
            )),
            (false, None) => problems.push(format!(
                "{}: Kayenta says {}, we say {our_class} ({}), and no design choice is listed",
                case.kayenta_test, case.kayenta, ours.reason
            )),
            (false, Some(choice)) if !choices.iter().any(|c| c == choice) => problems.push(format!(
                "{}: the choice {choice:?} is not a heading under \"Where we differ from Kayenta\" in docs/statistics.md",
                case.kayenta_test
            )),
            (false, Some(_)) => {}
        }
    }
    println!(
        "{agree} of {} classifier cases agree",
        suites.classifier.len()
    );
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(
        agree + CLASSIFIER_DIFFERENCES.len(),
        suites.classifier.len()
    );
}

/// A scored metric with the wanted classification (the scorer reads only
/// the classification; the comparison behind it is a real one).
fn scored(name: String, metric: &ScoredMetric, weight: f64) -> MetricResult {
    let baseline: Vec<f64> = (0..20).map(|i| 100.0 + i as f64).collect();
    let canary: Vec<f64> = match metric.class.as_str() {
        "pass" => baseline.clone(),
        "high" => baseline.iter().map(|v| v * 2.0).collect(),
        "low" => baseline.iter().map(|v| v / 2.0).collect(),
        _ => Vec::new(),
    };
    let options = RankTestOptions {
        direction: Direction::Either,
        ..RankTestOptions::default()
    };
    let rank = compare_samples(&canary, &baseline, &options).unwrap();
    assert_eq!(classification_name(rank.classification), metric.class);
    MetricResult {
        name,
        group: metric.group.clone(),
        weight,
        critical: metric.critical,
        evidence: MetricEvidence::Rank(rank),
    }
}

/// Kayenta's outcome for its score at our default thresholds.
fn kayenta_outcome(score: f64) -> ScoreOutcome {
    let options = ScoreOptions::default();
    if score >= options.pass_threshold {
        ScoreOutcome::Pass
    } else if score >= options.marginal_threshold {
        ScoreOutcome::Marginal
    } else {
        ScoreOutcome::Fail
    }
}

fn rounded(score: f64) -> f64 {
    (score * 100.0).round() / 100.0
}

#[test]
fn kayentas_scorer_suite_agrees_but_for_documented_choices() {
    let suites = suites();
    let choices = documented_choices();
    let mut problems = Vec::new();
    let mut agree = 0;
    println!("| Kayenta's case | Kayenta | ours | choice |\n| --- | --- | --- | --- |");
    for case in &suites.scorer {
        let metrics = |weight: &dyn Fn(&ScoredMetric) -> f64| -> Vec<MetricResult> {
            case.metrics
                .iter()
                .enumerate()
                .map(|(i, m)| scored(format!("m{i}"), m, weight(m)))
                .collect()
        };
        let report = score(metrics(&|_| 1.0), &ScoreOptions::default()).unwrap();
        let ours = report.score.map(rounded);
        let expected = (
            Some(case.kayenta_score),
            kayenta_outcome(case.kayenta_score),
        );
        let same = (ours, report.outcome) == expected;
        let listed = SCORER_DIFFERENCES
            .iter()
            .find(|(name, _)| *name == case.case)
            .map(|(_, choice)| *choice);
        let show_ours = ours.map_or_else(|| "no score".to_string(), |s| s.to_string());
        println!(
            "| {} | {} {} | {show_ours} {} | {} |",
            case.case,
            case.kayenta_score,
            expected.1,
            report.outcome,
            listed.unwrap_or("")
        );
        match (same, listed) {
            (true, None) => agree += 1,
            (true, Some(_)) => problems.push(format!(
                "{}: listed as a difference, but we now agree: take it off the list",
                case.case
            )),
            (false, None) => problems.push(format!(
                "{}: Kayenta scores {} ({}), we score {show_ours} ({}: {}), and no design choice is listed",
                case.case, case.kayenta_score, expected.1, report.outcome, report.reason
            )),
            (false, Some(choice)) if !choices.iter().any(|c| c == choice) => problems.push(format!(
                "{}: the choice {choice:?} is not a heading under \"Where we differ from Kayenta\" in docs/statistics.md",
                case.case
            )),
            (false, Some(_)) => {}
        }
        // Group weights are the only cause where they are listed: spread
        // over the group's measured metrics as metric weights, Kayenta's
        // score comes out (a group's score is over its measured metrics).
        if let Some(group_weights) = &case.group_weights {
            let in_group = |group: &Option<String>| {
                case.metrics
                    .iter()
                    .filter(|m| m.group == *group && m.class != "no_data")
                    .count()
                    .max(1) as f64
            };
            let weight =
                |m: &ScoredMetric| group_weights[m.group.as_ref().unwrap()] / in_group(&m.group);
            let emulated = score(metrics(&weight), &ScoreOptions::default()).unwrap();
            assert_eq!(
                emulated.score.map(rounded),
                Some(case.kayenta_score),
                "{}: with Kayenta's group weights as metric weights",
                case.case
            );
        }
        // And where an overriding rule is the cause, the outcome agrees.
        if listed == Some("Overriding rules keep the score") {
            assert_eq!(
                report.outcome, expected.1,
                "{}: {}",
                case.case, report.reason
            );
        }
    }
    println!("{agree} of {} scorer cases agree", suites.scorer.len());
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(agree + SCORER_DIFFERENCES.len(), suites.scorer.len());
}

#[test]
fn the_issues_examples_are_high() {
    // Issue 16: eleven zeros and nine threes against twenty zeros, and
    // Kayenta's "High Metric (Large Input)", both with the medians at 0,
    // as a gate on a counter judges them (the mean ratio, its default).
    let suites = suites();
    let mut canary = vec![0.0; 11];
    canary.extend([3.0; 9]);
    let large_canary = &suites.samples["mostly-zero-canary-210"];
    let large_baseline = &suites.samples["mostly-zero-baseline-210"];
    let options = RankTestOptions {
        min_values: GATE_MIN_VALUES,
        effect_size: EffectSize::MeanRatio,
        ..RankTestOptions::default()
    };
    for (canary, baseline) in [
        (&canary[..], &[0.0; 20][..]),
        (&large_canary[..], &large_baseline[..]),
    ] {
        let ours = compare_samples(canary, baseline, &options).unwrap();
        assert_eq!(ours.classification, Classification::High, "{}", ours.reason);
        assert_eq!(ours.canary_median, ours.baseline_median);
    }
}
