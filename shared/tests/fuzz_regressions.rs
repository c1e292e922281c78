//! Regressions from fuzzing the parsers (`fuzz/`, see `docs/fuzzing.md`).
//!
//! Every crash or hang a fuzzer finds becomes a test here, named after what it
//! found. The inputs below the crash section are the edge cases the seed corpus
//! and the dictionaries aimed at (deep nesting, alias bombs, huge numbers,
//! invalid UTF-8, hostile sizes): each must end in a clean `Err` that says
//! what is wrong, never a panic, a stack overflow or a run that does not end.

use metric_gate::event::{parse_event, EventError};
use metric_gate::policy::{Policy, PolicyError};
use serde_json::{json, Value};

fn env(name: &str) -> Option<String> {
    match name {
        "TARGET_GROUP" => Some("targetgroup/web/0123".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

/// Parses `text` as a policy and returns its problems, failing if it was accepted.
fn problems(text: &str) -> Vec<String> {
    match Policy::from_yaml(text, "fuzz.yaml", &env) {
        Ok(policy) => panic!("accepted: {policy:?}"),
        Err(error) => {
            let problems: Vec<String> = error.problems().iter().map(ToString::to_string).collect();
            assert!(!problems.is_empty(), "refused without a problem: {error}");
            problems
        }
    }
}

fn assert_problem(text: &str, expected: &str) {
    let problems = problems(text);
    assert!(
        problems.iter().any(|p| p.contains(expected)),
        "no problem mentions {expected:?}: {problems:#?}"
    );
}

/// A valid one-gate policy with `gate_extra` added to its gate (YAML lines
/// indented by 8).
fn one_gate(gate_extra: &str) -> String {
    format!(
        "version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: g\n        metric: {{namespace: N, name: M, stat: Sum}}\n        comparison: \">\"\n{gate_extra}"
    )
}

// ------------------------------------------------------------ crashes found

/// Found by the `policy` target (AFL crash `id:000000`, 2026-11-23, an
/// `L` turned into `${` in the default policy's `LoadBalancer:` key): a
/// `${VAR}` in a dimension *name* is neither resolved nor refused, so the
/// policy validates and its gate queries a dimension literally named
/// `${adBalancer`, which has no data: the gate is inconclusive at every
/// deployment instead of the policy failing validation. Whichever fix is
/// chosen (resolve names as values are, or refuse them), no `${` may survive.
#[test]
fn policy_with_a_reference_in_a_dimension_name_resolves_or_refuses_it() {
    let texts = [
        "version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: g\n        metric: {namespace: N, name: M, stat: Sum, dimensions: {\"${TARGET_GROUP}\": x}}\n        comparison: \">\"\n        threshold: 1\n",
        "version: 1\nmetric_defaults: {namespace: N, dimensions: {\"${adBalancer\": x}}\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: g\n        metric: {name: M, stat: Sum}\n        comparison: \">\"\n        threshold: 1\n",
    ];
    for text in texts {
        if let Ok(policy) = Policy::from_yaml(text, "fuzz.yaml", &env) {
            for section in policy.hooks.values() {
                for gate in &section.gates {
                    if let metric_gate::policy::GateCheck::Threshold(t) = &gate.check {
                        for query in t.queries() {
                            assert!(
                                query
                                    .dimensions
                                    .iter()
                                    .all(|(name, _)| !name.contains("${")),
                                "accepted an unresolved reference: {query}"
                            );
                        }
                    }
                }
            }
        }
    }
}

// ------------------------------------------------------------ the event

#[test]
fn event_from_deeply_nested_json_is_refused_before_the_parser() {
    // serde_json stops at 128 levels, so a hostile event cannot overflow the
    // stack; what does get through is not an object.
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    let error = serde_json::from_str::<Value>(&deep).unwrap_err();
    assert!(error.to_string().contains("recursion limit"), "{error}");
    let nested: Value = serde_json::from_str(&("[".repeat(100) + &"]".repeat(100))).unwrap();
    assert_eq!(
        parse_event(&nested),
        Err(EventError::NotAnObject { found: "an array" })
    );
}

#[test]
fn event_with_a_huge_value_in_a_field_names_it_briefly() {
    let huge = json!({
        "DeploymentId": ["x".repeat(1_000_000)],
        "LifecycleEventHookExecutionId": "e",
    });
    let message = parse_event(&huge).unwrap_err().to_string();
    assert!(message.contains("`DeploymentId` field must be a non-empty string, found an array"));
    assert!(message.len() < 300, "{} bytes", message.len());
    // Multi-byte characters are cut on a character boundary.
    let wide =
        json!({"DeploymentId": {"k": "é".repeat(500)}, "LifecycleEventHookExecutionId": "e"});
    let message = parse_event(&wide).unwrap_err().to_string();
    assert!(message.ends_with("...") && message.len() < 300, "{message}");
}

#[test]
fn event_with_huge_numbers_is_refused() {
    // Beyond f64: serde_json refuses the body itself.
    assert!(serde_json::from_str::<Value>(r#"{"DeploymentId": 1e400}"#).is_err());
    for number in [
        "18446744073709551617",
        "-9223372036854775809",
        "1e308",
        "-0",
    ] {
        let payload: Value = serde_json::from_str(&format!(
            r#"{{"DeploymentId": {number}, "LifecycleEventHookExecutionId": "e"}}"#
        ))
        .unwrap();
        let error = parse_event(&payload).unwrap_err();
        assert!(
            matches!(
                error,
                EventError::InvalidField {
                    field: "DeploymentId",
                    ..
                }
            ),
            "{number}: {error}"
        );
    }
}

#[test]
fn event_ids_of_unicode_whitespace_are_blank() {
    let payload =
        json!({"DeploymentId": "\u{2003}\u{3000}\t", "LifecycleEventHookExecutionId": "e"});
    assert_eq!(
        parse_event(&payload),
        Err(EventError::InvalidField {
            field: "DeploymentId",
            found: "an empty string".into()
        })
    );
}

#[test]
fn event_body_of_invalid_utf8_is_refused_before_the_parser() {
    assert!(serde_json::from_slice::<Value>(b"{\"DeploymentId\": \"\xff\xfe\"}").is_err());
    // A lone surrogate escape is invalid too.
    assert!(serde_json::from_str::<Value>(r#"{"DeploymentId": "\ud800"}"#).is_err());
}

// ------------------------------------------------------------ the policy

#[test]
fn policy_of_deeply_nested_yaml_is_refused_without_overflowing_the_stack() {
    for deep in [
        "[".repeat(100_000),
        "{a: ".repeat(50_000),
        format!("version: 1\nhooks: {}", "- ".repeat(50_000)),
        (0..5_000)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect(),
    ] {
        problems(&deep);
    }
}

#[test]
fn policy_alias_bomb_is_refused() {
    // "Billion laughs": nine levels of ten aliases each expand to 10^9 nodes.
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..10 {
        let refs = vec![format!("*a{}", level - 1); 10].join(", ");
        text.push_str(&format!("a{level}: &a{level} [{refs}]\n"));
    }
    text.push_str("version: 1\nhooks: *a9\n");
    let started = std::time::Instant::now();
    problems(&text);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn policy_with_huge_numbers_is_refused_at_their_line() {
    // (gate lines, what the problem says): the parser refuses what does not fit
    // the field's type, the validator what does not make sense for the field.
    let cases = [
        ("        threshold: 1e400\n", "non-finite float `1e400`"),
        ("        threshold: .inf\n", "non-finite float `.inf`"),
        ("        threshold: .nan\n", "non-finite float `.nan`"),
        ("        threshold: 1e400%\n", "gates[0].threshold: expected a number"),
        (
            "        threshold: 1\n        evaluation_periods: 99999999999999999999\n",
            "invalid u32",
        ),
        (
            "        threshold: 1\n        evaluation_periods: -1\n",
            "invalid u32",
        ),
        (
            "        threshold: 1\n        window: 99999999999999999999999s\n",
            "gates[0].window: expected a duration",
        ),
        (
            "        threshold: 1\n        period: 9223372036854775807h\n",
            "gates[0].period: expected a duration",
        ),
        (
            "        threshold: 1\n        period: 1e300\n",
            "gates[0].period: expected a duration",
        ),
        (
            "        threshold: 1\n        window: -60\n",
            "gates[0].window: expected a duration",
        ),
        (
            "        threshold: 1\n        min_sample: {at_least: 1e400, metric: {name: R, stat: Sum}}\n",
            "invalid floating point",
        ),
    ];
    for (extra, expected) in cases {
        let text = one_gate(extra);
        let problems = problems(&text);
        assert!(
            problems.iter().any(|p| p.contains(expected)
                && (p.starts_with("fuzz.yaml:8:") || p.starts_with("fuzz.yaml:9:"))),
            "{extra:?}: {problems:#?}"
        );
    }
}

#[test]
fn policy_file_of_invalid_utf8_is_a_read_error_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("fuzz-regressions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("policy.yaml");
    std::fs::write(&path, b"version: 1\nhooks:\n  \xff\xfe: {}\n").unwrap();
    let file = path.display().to_string();
    let error = metric_gate::lambda::load_policy(&|name| {
        (name == metric_gate::lambda::POLICY_FILE_VAR).then(|| file.clone())
    })
    .unwrap_err();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(matches!(error, PolicyError::Read { .. }), "{error}");
    assert!(error.to_string().contains(&file), "{error}");
}

#[test]
fn policy_of_control_characters_and_empty_text_is_refused() {
    for text in [
        "",
        "\0",
        "version: 1\0\nhooks: {}",
        "\u{7}",
        "version:\t1\n\thooks: x",
    ] {
        problems(text);
    }
}

#[test]
fn policy_with_broken_environment_references_names_them() {
    let metric = |dims: &str| {
        format!("version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: g\n        metric: {{namespace: N, name: M, stat: Sum, dimensions: {dims}}}\n        comparison: \">\"\n        threshold: 1\n")
    };
    assert_problem(&metric("{A: \"${TARGET_GROUP\"}"), "unterminated `${`");
    assert_problem(&metric("{A: \"${}\"}"), "`` is not a variable name");
    assert_problem(&metric("{A: \"${EMPTY}\"}"), "EMPTY is set but empty");
    assert_problem(
        &metric("{A: \"${${TARGET_GROUP}}\"}"),
        "`${TARGET_GROUP` is not a variable name",
    );
    // The refused reference is the one problem: no "must not be empty" after it.
    assert_eq!(problems(&metric("{A: \"${A-B}\"}")).len(), 1);
}

#[test]
fn policy_with_a_huge_key_is_refused_without_echoing_it() {
    // YAML caps an implicit key at 1024 characters: a longer one is a syntax
    // error, so the key is not copied into the message (and into the logs).
    let text = format!("version: 1\n{}: 1\nhooks: {{}}\n", "k".repeat(1_000_000));
    let problems = problems(&text);
    assert!(
        problems.iter().all(|p| p.len() < 1024),
        "{} bytes",
        problems[0].len()
    );
    assert!(problems[0].starts_with("fuzz.yaml:2:"), "{problems:?}");
    // Within the cap it is an unknown field, named by its first characters.
    let text = format!("version: 1\n{}: 1\nhooks: {{}}\n", "k".repeat(1000));
    assert_problem(&text, &format!("{}...: unknown field", "k".repeat(64)));
    let found = self::problems(&text);
    assert!(found.iter().all(|p| p.len() < 400), "{found:?}");
}
