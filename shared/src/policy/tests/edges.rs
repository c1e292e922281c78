//! Issue 15, "Policies and validation": the edges a hostile or careless
//! policy reaches. Every problem in one pass (unknown fields included, each
//! with its path and the nearest known field), no follow-on errors from a
//! value already refused, a block reused through an anchor reported once,
//! `${VAR}` names checked as the README says, limits that keep a decision
//! record inside one log event, and the policy file read bounded.

use super::*;
use std::collections::BTreeSet;

fn discovery_problems(yaml: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    Policy::from_yaml_for_discovery(yaml, "gates.yaml", env)
        .unwrap_err()
        .problems()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn every_unknown_field_is_reported_in_one_pass_with_its_path_and_the_nearest_field() {
    let yaml = "\
version: 1
metric_defaults:
  namespce: AWS/ApplicationELB
hooks:
  AfterAllowTraffic:
    gates:
      - name: errors
        metric: { namespace: N, name: RequestCount, stat: Sum, dimentions: { A: b } }
        comparison: \">\"
        treshold: 3
        missing_data: sometimes
        probe_zzz: 1
";
    let found = problems(yaml);
    let expect = [
        "gates.yaml:3:3: metric_defaults.namespce: unknown field; did you mean `namespace`?",
        "gates.yaml:8:64: hooks.AfterAllowTraffic.gates[0].metric.dimentions: unknown field; did you mean `dimensions`?",
        "gates.yaml:10:9: hooks.AfterAllowTraffic.gates[0].treshold: unknown field; did you mean `threshold`?",
        "gates.yaml:11:23: hooks.AfterAllowTraffic.gates[0].missing_data: expected one of",
        "gates.yaml:12:9: hooks.AfterAllowTraffic.gates[0].probe_zzz: unknown field",
    ];
    for want in expect {
        assert!(
            found.iter().any(|p| p.starts_with(want)),
            "no problem starting {want:?} in {found:#?}"
        );
    }
    // A name near nothing gets no suggestion and no list of every field.
    let far = found.iter().find(|p| p.contains("probe_zzz")).unwrap();
    assert!(!far.contains("did you mean"), "{far}");
    assert!(!far.contains("evaluation_periods"), "{far}");
}

#[test]
fn values_of_the_wrong_sort_are_all_reported_with_their_paths() {
    // serde stopped at the first ("invalid u32", no field path).
    let yaml = "\
version: 1
hooks:
  AfterAllowTraffic:
    preflight: maybe
    gates:
      - name: errors
        metric: { namespace: N, name: M, stat: Sum }
        comparison: \">\"
        threshold: 3
        evaluation_periods: five
        datapoints_to_alarm: [2]
        tresholt: 1
";
    let found = problems(yaml);
    assert_eq!(
        found,
        [
            "gates.yaml:4:16: hooks.AfterAllowTraffic.preflight: expected `true` or `false`, found \"maybe\"",
            "gates.yaml:10:29: hooks.AfterAllowTraffic.gates[0].evaluation_periods: expected a whole number, found \"five\"",
            "gates.yaml:11:30: hooks.AfterAllowTraffic.gates[0].datapoints_to_alarm: expected a single value, found a list",
            "gates.yaml:12:9: hooks.AfterAllowTraffic.gates[0].tresholt: unknown field; did you mean `threshold`?",
        ]
    );
}

#[test]
fn a_value_of_the_wrong_sort_hides_no_value_problem() {
    // Before, serde could not read the file until every wrong-sort value was
    // fixed: the bad `missing_data`, the second gate's unknown comparison and
    // the analysis's duration showed only on the second run.
    let yaml = "\
version: 1
hooks:
  AfterAllowTraffic:
    analysis:
      duration: [10m]
      interval: 5x
    gates:
      - name: errors
        metric: { namespace: N, name: M, stat: Sum }
        comparison: \">\"
        threshold: [3]
        missing_data: sometimes
      - name: [latency]
        metric: { namespace: N, name: M, stat: { p: 99 } }
        comparison: \"=>\"
        threshold: 1
      - just a string
";
    let found = problems(yaml);
    assert_eq!(
        found,
        [
            "gates.yaml:5:17: hooks.AfterAllowTraffic.analysis.duration: expected a single value, found a list",
            "gates.yaml:6:17: hooks.AfterAllowTraffic.analysis.interval: expected a duration such as `60s`, `5m` or `1h`, found \"5x\"",
            "gates.yaml:11:20: hooks.AfterAllowTraffic.gates[0].threshold: expected a single value, found a list",
            "gates.yaml:12:23: hooks.AfterAllowTraffic.gates[0].missing_data: expected one of `breaching`, `not_breaching`, `ignore`, `inconclusive`, found \"sometimes\"",
            "gates.yaml:13:15: hooks.AfterAllowTraffic.gates[1].name: expected a single value, found a list",
            "gates.yaml:14:48: hooks.AfterAllowTraffic.gates[1].metric.stat: expected a single value, found a mapping",
            "gates.yaml:15:21: hooks.AfterAllowTraffic.gates[1].comparison: expected one of `>`, `>=`, `<`, `<=`, found \"=>\"",
            "gates.yaml:17:9: hooks.AfterAllowTraffic.gates[2]: expected a mapping of a gate's fields, found a single value",
        ]
    );
}

#[test]
fn a_misspelt_hook_name_gets_the_nearest_hook() {
    let found = problems("version: 1\nhooks:\n  AfterAllowTrafic:\n    gates: []\n");
    assert!(
        found[0].contains("unknown hook \"AfterAllowTrafic\"; did you mean `AfterAllowTraffic`?"),
        "{found:?}"
    );
}

#[test]
fn an_invalid_value_causes_no_follow_on_errors() {
    // A window that is not a duration: its own problem only, nothing about
    // "evaluation_periods (1)" or periods in a window nobody wrote.
    let found = problems("version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: e\n        metric: { namespace: N, name: M, stat: Sum }\n        comparison: \">\"\n        threshold: 3\n        window: 5x\n        evaluation_periods: 3\n        datapoints_to_alarm: 2\n");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].contains(".window: expected a duration"),
        "{found:?}"
    );

    // A period CloudWatch does not take: no "whole number of periods (45s)".
    let found = problems("version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: e\n        metric: { namespace: N, name: M, stat: Sum }\n        comparison: \">\"\n        threshold: 3\n        period: 45s\n");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].contains(".period: CloudWatch periods"),
        "{found:?}"
    );

    // An evaluation_periods out of range: datapoints_to_alarm is not held to it.
    let found = problems("version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: e\n        metric: { namespace: N, name: M, stat: Sum }\n        comparison: \">\"\n        threshold: 3\n        evaluation_periods: 0\n        datapoints_to_alarm: 2\n");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].contains(".evaluation_periods: must be"),
        "{found:?}"
    );
}

#[test]
fn a_block_reused_through_an_anchor_is_reported_once() {
    let yaml = "\
version: 1
hooks:
  AfterAllowTestTraffic:
    gates:
      - &errors
        name: errors
        metric: { namespace: N, name: M, stat: Sum }
        comparison: \">\"
        threshold: 3
        missing_data: sometimes
        treshold: 4
  AfterAllowTraffic:
    gates:
      - *errors
";
    let found = problems(yaml);
    assert_eq!(
        found
            .iter()
            .filter(|p| p.contains("missing_data: expected one of"))
            .count(),
        1,
        "{found:#?}"
    );
    assert_eq!(
        found.iter().filter(|p| p.contains("treshold")).count(),
        1,
        "{found:#?}"
    );
}

#[test]
fn names_no_environment_can_set_are_refused_with_the_name_quoted() {
    for (written, quoted) in [
        ("${${X}}", "`${X`"),
        ("${A-B}", "`A-B`"),
        ("${ }", "` `"),
        ("${}", "``"),
        ("${1ABC}", "`1ABC`"),
    ] {
        let yaml = format!("version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: a\n        alarms: [\"x{written}\"]\n");
        // In gatectl validate, where unset variables are only listed...
        let found = discovery_problems(&yaml, &|_| None);
        assert!(
            found.iter().any(|p| p
                .starts_with("gates.yaml:6:18: hooks.AfterAllowTraffic.gates[0].alarms[0]: ")
                && p.contains(&format!("{quoted} is not a variable name"))),
            "{written}: {found:#?}"
        );
        // ...and in the function.
        let found = problems(&yaml);
        assert!(
            found.iter().any(|p| p.contains("is not a variable name")),
            "{written}: {found:#?}"
        );
    }
}

#[test]
fn unset_variables_in_probe_hosts_and_urls_are_listed_not_errors() {
    let yaml = "\
version: 1
probe_hosts: [\"${PROBE_HOST}\", \"${OTHER}:8443\"]
hooks:
  AfterAllowTestTraffic:
    gates:
      - name: health
        probe: { url: \"https://${PROBE_HOST}/health\" }
      - name: other
        probe: { url: \"https://other.example.com:8443/health\" }
";
    let asked = std::cell::RefCell::new(BTreeSet::new());
    let env = |name: &str| {
        asked.borrow_mut().insert(name.to_string());
        None
    };
    let policy =
        Policy::from_yaml_for_discovery(yaml, "gates.yaml", &env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(policy.hooks.len(), 1);
    assert!(asked.borrow().contains("PROBE_HOST"));
    // The function, which has to probe, still refuses them.
    let found = problems(yaml);
    assert!(
        found
            .iter()
            .any(|p| p.contains("environment variable PROBE_HOST is not set")),
        "{found:#?}"
    );
}

#[test]
fn a_gate_name_longer_than_the_limit_is_refused() {
    let long = "g".repeat(100_000);
    let found = problems(&format!("version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: {long}\n        alarms: [a]\n"));
    assert!(
        found
            .iter()
            .any(|p| p.contains(".name: at most") && p.contains(&MAX_GATE_NAME_CHARS.to_string())),
        "{}",
        found.join("\n").chars().take(500).collect::<String>()
    );
    assert!(
        found.iter().all(|p| p.len() < 1000),
        "the name is not quoted whole"
    );
    let ok = "g".repeat(MAX_GATE_NAME_CHARS);
    Policy::from_yaml(&format!("version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: {ok}\n        alarms: [a]\n"), "p.yaml", &alb_env).unwrap();
}

#[test]
fn more_gates_than_a_record_can_carry_are_refused() {
    let mut yaml = String::from("version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n");
    for i in 0..=MAX_GATES_PER_HOOK {
        yaml.push_str(&format!("      - {{ name: g{i}, alarms: [a] }}\n"));
    }
    let found = problems(&yaml);
    assert!(
        found
            .iter()
            .any(|p| p.contains("hooks.AfterAllowTraffic.gates: at most")),
        "{found:#?}"
    );
}

#[test]
fn labels_and_alarm_names_longer_than_cloudwatch_takes_are_refused() {
    let long = "x".repeat(300);
    let longer = "x".repeat(1100);
    let found = problems(&format!("version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: a\n        alarms: [{long}]\n      - name: m\n        metric: {{ namespace: N, name: {long}, stat: Sum, dimensions: {{ D: {longer} }} }}\n        comparison: \">\"\n        threshold: 1\n"));
    for want in [
        ".alarms[0]: at most 255",
        ".metric.name: at most 255",
        ".metric.dimensions.D: at most 1024",
    ] {
        assert!(found.iter().any(|p| p.contains(want)), "{want}: {found:#?}");
    }
}

#[test]
fn obviously_wrong_values_are_refused() {
    // An empty namespace.
    let found = problems("version: 1\nmetric_defaults:\n  namespace: \"\"\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: e\n        metric: { name: M, stat: Sum }\n        comparison: \">\"\n        threshold: 3\n");
    assert!(
        found
            .iter()
            .any(|p| p.contains("metric_defaults.namespace: must not be empty")),
        "{found:#?}"
    );
    // NUL and newline in dimension values.
    for bad in ["a\\0b", "a\\nb"] {
        let found = problems(&format!("version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: e\n        metric: {{ namespace: N, name: M, stat: Sum, dimensions: {{ D: \"{bad}\" }} }}\n        comparison: \">\"\n        threshold: 3\n"));
        assert!(
            found
                .iter()
                .any(|p| p.contains(".metric.dimensions.D: control characters")),
            "{bad}: {found:#?}"
        );
    }
    // A share is never below 0: `> -5%` breaches every period, `< 0` none.
    for (comparison, threshold, never) in [
        (">", "-5%", "pass"),
        (">=", "0%", "pass"),
        ("<", "0", "fail"),
    ] {
        let found = problems(&format!("version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: e\n        ratio: {{ numerator: [{{ namespace: N, name: A, stat: Sum }}], denominator: [{{ namespace: N, name: B, stat: Sum }}] }}\n        comparison: \"{comparison}\"\n        threshold: {threshold}\n"));
        assert!(
            found
                .iter()
                .any(|p| p.contains(".threshold: ") && p.contains(&format!("can never {never}"))),
            "{comparison} {threshold}: {found:#?}"
        );
    }
}

#[test]
fn a_loopback_probe_host_without_a_port_is_warned_about() {
    for host in ["127.0.0.1", "localhost", "\"[::1]\"", "127.1.2.3"] {
        let yaml = format!("version: 1\nprobe_hosts: [{host}]\nhooks:\n  AfterAllowTestTraffic:\n    gates:\n      - name: h\n        probe: {{ url: \"http://{}:8080/\" }}\n", host.trim_matches('"'));
        let policy = Policy::from_yaml(&yaml, "gates.yaml", &alb_env)
            .unwrap_or_else(|e| panic!("{host}: {e}"));
        assert!(
            policy
                .warnings
                .iter()
                .any(|w| w.to_string().starts_with("gates.yaml:2:")
                    && w.message.contains("any local port")),
            "{host}: {:?}",
            policy.warnings
        );
    }
    let policy = Policy::from_yaml("version: 1\nprobe_hosts: [\"127.0.0.1:8080\"]\nhooks:\n  AfterAllowTestTraffic:\n    gates:\n      - name: h\n        probe: { url: \"http://127.0.0.1:8080/\" }\n", "gates.yaml", &alb_env).unwrap();
    assert!(policy.warnings.is_empty(), "{:?}", policy.warnings);
}

mod file {
    //! Reading the policy file: regular files only, bounded.

    use crate::policy::{read_policy_file, MAX_POLICY_BYTES};
    use std::time::Duration;

    fn temp_dir() -> std::path::PathBuf {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("policy-file-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Runs `f` on a thread and fails the test if it has not returned in 10 s
    /// (a FIFO read blocks forever).
    fn within_seconds<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(f()).unwrap());
        rx.recv_timeout(Duration::from_secs(10))
            .expect("reading the policy file hung")
    }

    #[test]
    fn a_fifo_is_refused_by_name_without_blocking() {
        let fifo = temp_dir().join("policy.yaml");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let path = fifo.clone();
        let error = within_seconds(move || read_policy_file(&path).unwrap_err().to_string());
        assert!(error.contains("named pipe"), "{error}");
        assert!(error.contains(&fifo.display().to_string()), "{error}");
    }

    #[test]
    fn devices_and_directories_are_refused_by_name() {
        let error = within_seconds(|| {
            read_policy_file("/dev/zero".as_ref())
                .unwrap_err()
                .to_string()
        });
        assert!(
            error.contains("/dev/zero") && error.contains("device"),
            "{error}"
        );
        let dir = temp_dir();
        let error = read_policy_file(&dir).unwrap_err().to_string();
        assert!(error.contains("directory"), "{error}");
    }

    #[test]
    fn a_file_over_the_limit_is_refused_naming_the_limit() {
        let path = temp_dir().join("big.yaml");
        std::fs::write(&path, "#".repeat(MAX_POLICY_BYTES + 1)).unwrap();
        let error = read_policy_file(&path).unwrap_err().to_string();
        assert!(error.contains("1 MiB"), "{error}");
        std::fs::write(&path, "version: 1\n").unwrap();
        assert_eq!(read_policy_file(&path).unwrap(), "version: 1\n");
    }
}
