//! Probe gates: the HTTP request (method, headers; the URL is checked in
//! [`super::hosts`]), what every answer must show (`expect`), and the limits
//! that keep a smoke probe a smoke probe (timeouts, `repeat`, `concurrency`,
//! `min_success`, and the worst case a Lambda invocation can wait for).

use super::scalars::describe;
use super::Validator;
use crate::policy::raw::Spanned;
use crate::policy::raw::{Location, RawGate, RawProbe, RawProbeExpect, RawProbeTimeout};
use crate::policy::raw::{RawScalar, RawStatus};
use crate::policy::{JsonPointerExpectation, ProbeCheck, ProbeExpectations, StatusMatch};
use std::collections::BTreeMap;

/// A probe attempt's default limit on connecting (TCP and TLS).
const DEFAULT_PROBE_CONNECT_MS: u64 = 2_000;
/// A probe attempt's default limit, redirects and body included.
const DEFAULT_PROBE_TOTAL_MS: u64 = 5_000;
/// The longest a single probe attempt may be allowed to take.
const MAX_PROBE_TOTAL_MS: u64 = 60_000;
/// More attempts than this is load testing, not a smoke probe; it also bounds
/// the memory bodies take (100 x 64 KiB).
const MAX_PROBE_REPEAT: u32 = 100;
/// More attempts in flight than this is load testing, not a smoke probe.
const MAX_PROBE_CONCURRENCY: u32 = 32;
/// Lambda's longest invocation: a probe whose worst case is longer could never finish.
const MAX_PROBE_WORST_CASE_MS: u64 = 900_000;
/// Headers that frame or route the request: set by the client, never by a policy
/// (a stray `Content-Length` on a body-less request hangs the server's read).
const RESERVED_PROBE_HEADERS: [&str; 5] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
];

impl Validator<'_> {
    /// A gate with `probe`: nothing else that says what to check, and none
    /// of the threshold gate's fields.
    pub(super) fn probe_gate(
        &mut self,
        gate: &RawGate,
        raw: Spanned<RawProbe>,
        path: &str,
        at: Location,
    ) -> Option<ProbeCheck> {
        let others: Vec<&str> = [
            ("metric", gate.metric.is_some()),
            ("ratio", gate.ratio.is_some()),
            ("alarms", gate.alarms.is_some()),
        ]
        .iter()
        .filter(|(_, present)| *present)
        .map(|(field, _)| *field)
        .collect();
        if !others.is_empty() {
            self.problem(at, path, format!("a gate needs exactly one of `metric`, `ratio`, `alarms`, `probe` or `flag`, found `probe` and `{}`", others.join("`, `")));
            return None;
        }
        self.refuse_threshold_fields(gate, path, at, "does not apply to a `probe` gate: its expectations are under `probe.expect`, its limits are `max_latency` and `min_success`");
        Some(self.probe(raw, &format!("{path}.probe")))
    }

    fn probe(&mut self, raw: Spanned<RawProbe>, path: &str) -> ProbeCheck {
        let probe_at = raw.defined;
        let raw = raw.value;
        let method = self.probe_method(raw.method.as_ref(), path);
        let url = self.probe_url(&raw.url, &format!("{path}.url"));
        let headers = raw
            .headers
            .map(|h| self.probe_headers(h, &format!("{path}.headers")))
            .unwrap_or_default();
        let expect = self.probe_expectations(raw.expect, path);
        let (connect_timeout_ms, total_timeout_ms) =
            self.probe_timeouts(raw.timeout.as_ref(), raw.url.defined, path);
        let max_latency_ms = self.max_latency(raw.max_latency.as_ref(), total_timeout_ms, path);
        let (repeat, concurrency) = self.probe_attempts(
            raw.repeat.as_ref(),
            raw.concurrency.as_ref(),
            probe_at,
            total_timeout_ms,
            path,
        );
        let min_success = self.min_success(raw.min_success.as_ref(), path);
        ProbeCheck {
            method,
            url,
            headers,
            expect,
            max_latency_ms,
            repeat,
            concurrency,
            min_success,
            connect_timeout_ms,
            total_timeout_ms,
            allowed_hosts: self.probe_hosts.clone().unwrap_or_default(),
        }
    }

    fn probe_method(&mut self, raw: Option<&Spanned<String>>, path: &str) -> String {
        match raw {
            None => "GET".to_string(),
            Some(m) => {
                const METHODS: [&str; 7] =
                    ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
                if !METHODS.contains(&m.value.as_str()) {
                    self.problem(
                        m.defined,
                        format!("{path}.method"),
                        format!(
                            "expected one of {} (upper case), found {:?}",
                            METHODS.join(", "),
                            m.value
                        ),
                    );
                }
                m.value.clone()
            }
        }
    }

    fn probe_headers(
        &mut self,
        raw: BTreeMap<String, Spanned<String>>,
        path: &str,
    ) -> Vec<(String, String)> {
        raw.into_iter()
            .map(|(name, value)| {
                let field = format!("{path}.{name}");
                if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    self.problem(value.defined, &field, format!("{name:?} is not a valid HTTP header name"));
                } else if RESERVED_PROBE_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                    self.problem(value.defined, &field, format!("{name} frames the request and is set by the client, not by a policy"));
                }
                let resolved = self.text(&value, &field);
                if http::HeaderValue::from_str(&resolved).is_err() {
                    // The value is not quoted: it may be a resolved secret.
                    self.problem(value.defined, &field, "the value is not a valid HTTP header value (control characters or non-ASCII)");
                }
                (name, resolved)
            })
            .collect()
    }

    fn probe_expectations(
        &mut self,
        raw: Option<Spanned<RawProbeExpect>>,
        path: &str,
    ) -> ProbeExpectations {
        let Some(raw) = raw.map(|r| r.value) else {
            return ProbeExpectations {
                status: vec![StatusMatch::Class(2)],
                body_contains: None,
                json_pointer: None,
            };
        };
        let path = format!("{path}.expect");
        let status = match raw.status {
            None => vec![StatusMatch::Class(2)],
            Some(s) => self.expected_statuses(s, &path),
        };
        let body_contains = raw.body_contains.map(|b| {
            let text = self.text(&b, &format!("{path}.body_contains"));
            if text.is_empty() {
                self.problem(
                    b.defined,
                    format!("{path}.body_contains"),
                    "must not be empty: every body contains the empty string",
                );
            }
            text
        });
        let json_pointer = raw.json_pointer.map(|j| {
            let j = j.value;
            if !(j.pointer.value.is_empty() || j.pointer.value.starts_with('/')) {
                self.problem(j.pointer.defined, format!("{path}.json_pointer.pointer"), format!("a JSON pointer (RFC 6901) is empty or starts with `/`, e.g. `/status`, found {:?}", j.pointer.value));
            }
            JsonPointerExpectation {
                pointer: j.pointer.value,
                equals: j.equals.value,
            }
        });
        ProbeExpectations {
            status,
            body_contains,
            json_pointer,
        }
    }

    /// `expect.status`: one or more codes or classes.
    fn expected_statuses(&mut self, s: Spanned<RawStatus>, path: &str) -> Vec<StatusMatch> {
        let entries = match s.value {
            RawStatus::One(one) => vec![one],
            RawStatus::Many(many) => many,
        };
        if entries.is_empty() {
            self.problem(
                s.defined,
                format!("{path}.status"),
                "name at least one status, e.g. `200` or `2xx`",
            );
        }
        entries
            .iter()
            .filter_map(|entry| {
                let parsed = status_match(entry);
                if parsed.is_none() {
                    self.problem(s.defined, format!("{path}.status"), format!("expected an HTTP status (100 to 599) or a class such as `2xx`, found {}", describe(entry)));
                }
                parsed
            })
            .collect()
    }

    /// `timeout.connect` and `timeout.total`: the total within its maximum,
    /// the connect limit within the total.
    fn probe_timeouts(
        &mut self,
        timeout: Option<&Spanned<RawProbeTimeout>>,
        url_at: Location,
        path: &str,
    ) -> (u64, u64) {
        let connect_timeout_ms = timeout
            .and_then(|t| t.value.connect.as_ref())
            .map(|c| self.millis(c, &format!("{path}.timeout.connect")))
            .unwrap_or(DEFAULT_PROBE_CONNECT_MS);
        let total_timeout_ms = timeout
            .and_then(|t| t.value.total.as_ref())
            .map(|c| self.millis(c, &format!("{path}.timeout.total")))
            .unwrap_or(DEFAULT_PROBE_TOTAL_MS);
        let timeout_at = timeout.map(|t| t.defined).unwrap_or(url_at);
        if total_timeout_ms > MAX_PROBE_TOTAL_MS {
            self.problem(
                timeout_at,
                format!("{path}.timeout.total"),
                format!(
                    "at most {}s per attempt, found {total_timeout_ms}ms",
                    MAX_PROBE_TOTAL_MS / 1000
                ),
            );
        }
        if connect_timeout_ms > total_timeout_ms {
            let connect_at = timeout
                .and_then(|t| t.value.connect.as_ref())
                .map_or(timeout_at, |c| c.defined);
            self.problem(connect_at, format!("{path}.timeout.connect"), format!("the connect timeout ({connect_timeout_ms}ms) must not exceed the total timeout ({total_timeout_ms}ms)"));
        }
        (connect_timeout_ms, total_timeout_ms)
    }

    /// `max_latency`, which the total timeout must leave room to observe.
    fn max_latency(
        &mut self,
        raw: Option<&Spanned<RawScalar>>,
        total_timeout_ms: u64,
        path: &str,
    ) -> Option<u64> {
        raw.map(|l| {
            let ms = self.millis(l, &format!("{path}.max_latency"));
            if ms > total_timeout_ms {
                self.problem(l.defined, format!("{path}.max_latency"), format!("{ms}ms can never be observed: the total timeout ({total_timeout_ms}ms) ends every attempt first; raise `timeout.total` or lower `max_latency`"));
            }
            ms
        })
    }

    /// `repeat` and `concurrency`, and whether every attempt can finish
    /// within one Lambda invocation.
    fn probe_attempts(
        &mut self,
        repeat: Option<&Spanned<u32>>,
        concurrency: Option<&Spanned<u32>>,
        probe_at: Location,
        total_timeout_ms: u64,
        path: &str,
    ) -> (u32, u32) {
        let repeat = match repeat {
            None => 1,
            Some(r) => {
                if r.value == 0 || r.value > MAX_PROBE_REPEAT {
                    self.problem(
                        r.defined,
                        format!("{path}.repeat"),
                        format!(
                            "must be between 1 and {MAX_PROBE_REPEAT}, found {}",
                            r.value
                        ),
                    );
                }
                r.value.clamp(1, MAX_PROBE_REPEAT)
            }
        };
        let concurrency = match concurrency {
            None => 1,
            Some(c) => {
                if c.value == 0 || c.value > MAX_PROBE_CONCURRENCY || c.value > repeat {
                    self.problem(c.defined, format!("{path}.concurrency"), format!("must be between 1 and the smaller of {MAX_PROBE_CONCURRENCY} and `repeat` ({repeat}), found {}", c.value));
                }
                c.value.clamp(1, MAX_PROBE_CONCURRENCY.min(repeat))
            }
        };
        let rounds = u64::from(repeat.div_ceil(concurrency));
        if rounds * total_timeout_ms > MAX_PROBE_WORST_CASE_MS {
            self.problem(probe_at, path.to_string(), format!("{repeat} attempts, {concurrency} at a time, of up to {total_timeout_ms}ms each could take {}s, longer than a Lambda invocation can last ({}s): lower `repeat` or `timeout.total`, or raise `concurrency`", rounds * total_timeout_ms / 1000, MAX_PROBE_WORST_CASE_MS / 1000));
        }
        (repeat, concurrency)
    }

    /// `min_success`: a percentage or a fraction in (0, 1]; all by default.
    fn min_success(&mut self, raw: Option<&Spanned<RawScalar>>, path: &str) -> f64 {
        match raw {
            None => 1.0,
            Some(m) => {
                let parsed = match &m.value {
                    RawScalar::Number(n) => Some(*n),
                    RawScalar::Text(t) => t
                        .trim()
                        .strip_suffix('%')
                        .and_then(|n| n.trim().parse::<f64>().ok())
                        .map(|n| n / 100.0),
                };
                match parsed {
                    Some(f) if f > 0.0 && f <= 1.0 => f,
                    _ => {
                        self.problem(m.defined, format!("{path}.min_success"), format!("expected a percentage above 0% and at most 100% (e.g. `90%`), or a fraction in (0, 1], found {}", describe(&m.value)));
                        1.0
                    }
                }
            }
        }
    }

    /// `500ms`, `2s`, `1m`, or a bare number of seconds; never zero.
    fn millis(&mut self, raw: &Spanned<RawScalar>, path: &str) -> u64 {
        let parsed = match &raw.value {
            RawScalar::Number(n) if n.fract() == 0.0 && *n >= 0.0 && *n < 1e6 => {
                Some(*n as u64 * 1000)
            }
            RawScalar::Number(_) => None,
            RawScalar::Text(t) => parse_millis(t),
        };
        match parsed {
            Some(ms) if ms > 0 => ms,
            _ => {
                self.problem(
                    raw.defined,
                    path,
                    format!(
                        "expected a duration such as `500ms`, `2s` or `1m` (more than 0), found {}",
                        describe(&raw.value)
                    ),
                );
                1000
            }
        }
    }
}

/// `200` or `"200"` is a code, `2xx` a class.
fn status_match(raw: &RawScalar) -> Option<StatusMatch> {
    let text = match raw {
        RawScalar::Number(n) if n.fract() == 0.0 => format!("{n}"),
        RawScalar::Number(_) => return None,
        RawScalar::Text(t) => t.trim().to_ascii_lowercase(),
    };
    if let Some(class) = text.strip_suffix("xx") {
        let class: u16 = class.parse().ok()?;
        return (1..=5)
            .contains(&class)
            .then_some(StatusMatch::Class(class));
    }
    let code: u16 = text.parse().ok()?;
    (100..=599)
        .contains(&code)
        .then_some(StatusMatch::Code(code))
}

/// `500ms`, `2s`, `1m`, or bare seconds, in milliseconds.
fn parse_millis(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = digits.parse().ok()?;
    let scale = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        _ => return None,
    };
    n.checked_mul(scale)
}
