//! Probe gates in a policy: defaults, limits, and every mistake named with its place.

use super::*;

// The probe tests' own environment (a test listener and a token) and their
// own `problems`, which resolves against it: both shadow the module's.
fn env(name: &str) -> Option<String> {
    match name {
        "TEST_LISTENER" => Some("test.internal.example.com:8443".into()),
        "TOKEN" => Some("s3cret".into()),
        _ => None,
    }
}

fn problems(yaml: &str) -> Vec<String> {
    Policy::from_yaml(yaml, "gates.yaml", &env)
        .unwrap_err()
        .problems()
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn only_probe(policy: &Policy, hook: Hook) -> ProbeCheck {
    match &policy.hook(hook).unwrap().gates[0].check {
        GateCheck::Probe(p) => (**p).clone(),
        other => panic!("not a probe: {other:?}"),
    }
}

#[test]
fn a_minimal_probe_gets_safe_defaults() {
    let yaml = "\
version: 1
probe_hosts: [test.internal.example.com]
hooks:
  AfterAllowTestTraffic:
    gates:
      - name: health
        probe:
          url: http://test.internal.example.com/health
";
    let policy = Policy::from_yaml(yaml, "p.yaml", &env).unwrap();
    let probe = only_probe(&policy, Hook::AfterAllowTestTraffic);
    assert_eq!(probe.method, "GET");
    assert_eq!(probe.url, "http://test.internal.example.com/health");
    assert_eq!(probe.expect.status, vec![StatusMatch::Class(2)]);
    assert_eq!((probe.repeat, probe.concurrency), (1, 1));
    assert_eq!(probe.min_success, 1.0);
    assert_eq!(
        (probe.connect_timeout_ms, probe.total_timeout_ms),
        (2000, 5000)
    );
    assert_eq!(probe.max_latency_ms, None);
    assert_eq!(
        probe.allowed_hosts,
        vec![AllowedHost {
            host: "test.internal.example.com".into(),
            port: None
        }]
    );
}

#[test]
fn a_full_probe_is_read_as_written() {
    let yaml = "\
version: 1
probe_hosts: [\"${TEST_LISTENER}\", 127.0.0.1, \"[::1]:9000\"]
hooks:
  BeforeAllowTraffic:
    gates:
      - name: orders
        severity: warning
        dry_run: true
        probe:
          method: POST
          url: https://${TEST_LISTENER}/orders/health?deep=1
          headers: { Authorization: \"Bearer ${TOKEN}\", Accept: application/json }
          expect:
            status: [200, \"204\", 3xx]
            body_contains: \"ok\"
            json_pointer: { pointer: /status, equals: UP }
          max_latency: 500ms
          repeat: 10
          concurrency: 2
          min_success: 90%
          timeout: { connect: 1s, total: 3s }
      - name: local
        probe:
          url: http://127.0.0.1:8080/
          expect: { status: 204, json_pointer: { pointer: /n, equals: 3 } }
";
    let policy = Policy::from_yaml(yaml, "p.yaml", &env).unwrap();
    let section = policy.hook(Hook::BeforeAllowTraffic).unwrap();
    let GateCheck::Probe(probe) = &section.gates[0].check else {
        panic!()
    };
    assert_eq!(
        (section.gates[0].severity, section.gates[0].dry_run),
        (Severity::Warning, true)
    );
    assert_eq!(probe.method, "POST");
    assert_eq!(
        probe.url,
        "https://test.internal.example.com:8443/orders/health?deep=1"
    );
    assert_eq!(
        probe.headers,
        vec![
            ("Accept".to_string(), "application/json".to_string()),
            ("Authorization".to_string(), "Bearer s3cret".to_string()),
        ]
    );
    assert_eq!(
        probe.expect.status,
        vec![
            StatusMatch::Code(200),
            StatusMatch::Code(204),
            StatusMatch::Class(3)
        ]
    );
    assert_eq!(probe.expect.body_contains.as_deref(), Some("ok"));
    let pointer = probe.expect.json_pointer.as_ref().unwrap();
    assert_eq!(
        (pointer.pointer.as_str(), &pointer.equals),
        ("/status", &serde_json::json!("UP"))
    );
    assert_eq!(probe.max_latency_ms, Some(500));
    assert_eq!(
        (probe.repeat, probe.concurrency, probe.min_success),
        (10, 2, 0.9)
    );
    assert_eq!(
        (probe.connect_timeout_ms, probe.total_timeout_ms),
        (1000, 3000)
    );
    assert_eq!(
        probe.allowed_hosts,
        vec![
            AllowedHost {
                host: "test.internal.example.com".into(),
                port: Some(8443)
            },
            AllowedHost {
                host: "127.0.0.1".into(),
                port: None
            },
            AllowedHost {
                host: "::1".into(),
                port: Some(9000)
            },
        ]
    );
    let GateCheck::Probe(local) = &section.gates[1].check else {
        panic!()
    };
    assert_eq!(local.expect.status, vec![StatusMatch::Code(204)]);
    assert_eq!(
        local.expect.json_pointer.as_ref().unwrap().equals,
        serde_json::json!(3)
    );
}

#[test]
fn allowed_hosts_match_host_and_port() {
    let host = |host: &str, port| AllowedHost {
        host: host.into(),
        port,
    };
    let url = |u: &str| url::Url::parse(u).unwrap();
    assert!(host("a.example.com", None).allows(&url("http://A.Example.com./x")));
    assert!(host("a.example.com", None).allows(&url("https://a.example.com:9443/")));
    assert!(!host("a.example.com", None).allows(&url("http://b.example.com/")));
    assert!(!host("a.example.com", None).allows(&url("http://a.example.com.evil.net/")));
    assert!(host("a.example.com", Some(443)).allows(&url("https://a.example.com/")));
    assert!(!host("a.example.com", Some(443)).allows(&url("http://a.example.com/")));
    assert!(host("::1", Some(9000)).allows(&url("http://[::1]:9000/")));
    assert!(!host("127.0.0.1", None).allows(&url("http://127.0.0.2/")));
}

#[test]
fn every_probe_mistake_is_named_with_its_place() {
    let yaml = "\
version: 1
probe_hosts: [test.internal.example.com, \"http://x/\", \"*.example.com\"]
hooks:
  AfterAllowTestTraffic:
    gates:
      - name: elsewhere
        probe:
          method: get
          url: http://evil.example.net/steal
          headers: { Content-Length: \"10\", \"bad header\": x }
          expect:
            status: [200, 700, 2xy]
            body_contains: \"\"
            json_pointer: { pointer: status, equals: UP }
          max_latency: 10s
          repeat: 3
          concurrency: 4
          min_success: 0%
          timeout: { connect: 9s, total: 5s }
      - name: creds
        probe:
          url: ftp://user:pw@test.internal.example.com/
          max_latency: fast
          repeat: 0
      - name: both
        alarms: [a]
        probe: { url: http://test.internal.example.com/ }
      - name: mixed
        threshold: 3
        window: 5m
        probe: { url: \"http://test.internal.example.com/${MISSING}\" }
      - name: slow
        probe:
          url: http://test.internal.example.com/
          repeat: 100
          timeout: { total: 60s }
";
    let found = problems(yaml);
    let p = "hooks.AfterAllowTestTraffic.gates";
    let expect = [
        "gates.yaml:2:42: probe_hosts[1]: expected a host name or IP address, optionally with `:port`".to_string(),
        "gates.yaml:2:55: probe_hosts[2]: expected a host name".to_string(),
        format!("gates.yaml:8:19: {p}[0].probe.method: expected one of GET, HEAD"),
        format!("gates.yaml:9:16: {p}[0].probe.url: host evil.example.net:80 is not in `probe_hosts` (test.internal.example.com)"),
        format!("{p}[0].probe.headers.Content-Length: Content-Length frames the request"),
        format!("{p}[0].probe.headers.bad header: \"bad header\" is not a valid HTTP header name"),
        format!("{p}[0].probe.expect.status: expected an HTTP status (100 to 599) or a class such as `2xx`, found 700"),
        format!("{p}[0].probe.expect.status: expected an HTTP status (100 to 599) or a class such as `2xx`, found \"2xy\""),
        format!("{p}[0].probe.expect.body_contains: must not be empty"),
        format!("{p}[0].probe.expect.json_pointer.pointer: a JSON pointer (RFC 6901) is empty or starts with `/`"),
        format!("{p}[0].probe.max_latency: 10000ms can never be observed: the total timeout (5000ms)"),
        format!("{p}[0].probe.concurrency: must be between 1 and the smaller of 32 and `repeat` (3), found 4"),
        format!("{p}[0].probe.min_success: expected a percentage above 0%"),
        format!("{p}[0].probe.timeout.connect: the connect timeout (9000ms) must not exceed the total timeout (5000ms)"),
        format!("{p}[1].probe.url: the scheme must be `http` or `https`, found `ftp`"),
        format!("{p}[1].probe.url: credentials in a URL would be copied"),
        format!("{p}[1].probe.max_latency: expected a duration such as `500ms`"),
        format!("{p}[1].probe.repeat: must be between 1 and 100, found 0"),
        format!("{p}[2]: a gate needs exactly one of `metric`, `ratio`, `alarms`, `probe` or `flag`, found `probe` and `alarms`"),
        format!("{p}[3].threshold: does not apply to a `probe` gate"),
        format!("{p}[3].window: does not apply to a `probe` gate"),
        format!("{p}[3].probe.url: environment variable MISSING is not set"),
        format!("{p}[4].probe: 100 attempts, 1 at a time, of up to 60000ms each could take 6000s"),
    ];
    for want in &expect {
        assert!(
            found.iter().any(|f| f.starts_with(want.as_str())
                || (!want.starts_with("gates.yaml") && f.contains(want.as_str()))),
            "no problem like {want:?} in {found:#?}"
        );
    }
    // Every problem has a real position.
    for f in &found {
        assert!(
            f.starts_with("gates.yaml:") && !f.starts_with("gates.yaml:0:"),
            "{f}"
        );
    }
    // A resolved header value is never quoted back: it may be a secret.
    assert!(!found.iter().any(|f| f.contains("s3cret")), "{found:#?}");
}

#[test]
fn a_probe_needs_probe_hosts() {
    let found = problems("version: 1\nhooks:\n  AfterAllowTestTraffic:\n    gates:\n      - name: h\n        probe: { url: \"http://127.0.0.1:8080/\" }\n");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with("gates.yaml:6:23: hooks.AfterAllowTestTraffic.gates[0].probe.url: probes may only reach hosts named in the top-level `probe_hosts` list"),
        "{found:#?}"
    );
    let found = problems("version: 1\nprobe_hosts: []\nhooks:\n  AfterAllowTestTraffic:\n    gates:\n      - name: h\n        alarms: [a]\n");
    assert!(
        found[0].starts_with("gates.yaml:2:14: probe_hosts: name at least one host"),
        "{found:#?}"
    );
}

#[test]
fn an_international_host_name_is_written_in_its_ascii_form() {
    let policy = |url: &str| {
        format!("version: 1\nprobe_hosts: [xn--bcher-kva.example]\nhooks:\n  AfterAllowTestTraffic:\n    gates:\n      - name: h\n        probe: {{ url: \"{url}\" }}\n")
    };
    let found = problems(&policy("http://b\u{fc}cher.example/health"));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].contains(
            "probe.url: not a URL: write an international host name in its ASCII (xn--) form"
        ),
        "{found:#?}"
    );
    let accepted = Policy::from_yaml(
        &policy("http://xn--bcher-kva.example/health"),
        "gates.yaml",
        &env,
    )
    .expect("the xn-- form is accepted");
    assert_eq!(
        only_probe(&accepted, Hook::AfterAllowTestTraffic).url,
        "http://xn--bcher-kva.example/health"
    );
}

#[test]
fn an_invalid_header_value_is_not_quoted() {
    let found = problems("version: 1\nprobe_hosts: [h]\nhooks:\n  AfterAllowTestTraffic:\n    gates:\n      - name: h\n        probe: { url: \"http://h/\", headers: { X-Token: \"ab\\ncd\" } }\n");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].contains("probe.headers.X-Token: the value is not a valid HTTP header value"),
        "{found:#?}"
    );
    assert!(!found[0].contains("ab"), "{found:#?}");
}

#[test]
fn the_example_policy_has_a_smoke_probe() {
    let text = include_str!("../../../../gates.example.yaml");
    let policy = Policy::from_yaml(text, "gates.example.yaml", &|name: &str| {
        Some(format!("value-of-{name}"))
    })
    .unwrap();
    let section = policy.hook(Hook::AfterAllowTestTraffic).unwrap();
    let gate = section
        .gates
        .iter()
        .find(|g| g.name == "smoke-health")
        .unwrap();
    let GateCheck::Probe(probe) = &gate.check else {
        panic!("smoke-health is not a probe")
    };
    assert_eq!(probe.url, "https://test.internal.example.com:8443/health");
    assert_eq!(
        (probe.repeat, probe.concurrency, probe.min_success),
        (10, 2, 0.9)
    );
}
