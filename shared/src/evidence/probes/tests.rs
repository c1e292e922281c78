//! The HTTP prober against hostile and healthy endpoints: raw servers on
//! 127.0.0.1 that answer with crafted bytes, hang, trickle, redirect away or
//! send far too much. Every case must end in a bounded attempt with a reason.

use super::*;
use crate::policy::{AllowedHost, ProbeExpectations, StatusMatch};
use std::net::SocketAddr;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How a test server answers every request.
#[derive(Clone)]
enum Answer {
    /// These bytes, then close.
    Raw(Vec<u8>),
    /// Read the request, then never answer.
    Hang,
    /// A 200 head, then one body byte every 50 ms, forever.
    Trickle,
    /// A 200 with a body of this many bytes (written until the client leaves).
    Huge(usize),
    /// Wait, then answer these bytes.
    Slow(Duration, Vec<u8>),
}

struct Server {
    addr: SocketAddr,
    /// Request heads received, in order.
    requests: Arc<Mutex<Vec<String>>>,
}

async fn serve(answer: Answer) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move { handle(stream, answer, seen).await });
        }
    });
    Server { addr, requests }
}

async fn handle(mut stream: TcpStream, answer: Answer, seen: Arc<Mutex<Vec<String>>>) {
    // Keep-alive: answer every request on the connection.
    loop {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        seen.lock()
            .unwrap()
            .push(String::from_utf8_lossy(&head).into_owned());
        let result = match &answer {
            Answer::Raw(bytes) => stream.write_all(bytes).await,
            Answer::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            }
            Answer::Trickle => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n")
                    .await;
                loop {
                    if stream.write_all(b"x").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Answer::Huge(len) => {
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n");
                let _ = stream.write_all(head.as_bytes()).await;
                let chunk = vec![b'z'; 64 * 1024];
                let mut left = *len;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if stream.write_all(&chunk[..n]).await.is_err() {
                        return;
                    }
                    left -= n;
                }
                Ok(())
            }
            Answer::Slow(wait, bytes) => {
                tokio::time::sleep(*wait).await;
                stream.write_all(bytes).await
            }
        };
        if result.is_err() {
            return;
        }
    }
}

fn response(status: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\n{headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn check_for(url: String) -> ProbeCheck {
    ProbeCheck {
        method: "GET".into(),
        url,
        headers: vec![("X-Probe".into(), "smoke".into())],
        expect: ProbeExpectations {
            status: vec![StatusMatch::Class(2)],
            body_contains: Some("ok".into()),
            json_pointer: None,
        },
        max_latency_ms: None,
        repeat: 1,
        concurrency: 1,
        min_success: 1.0,
        connect_timeout_ms: 500,
        total_timeout_ms: 700,
        allowed_hosts: vec![AllowedHost {
            host: "127.0.0.1".into(),
            port: None,
        }],
    }
}

async fn one_attempt(check: &ProbeCheck) -> ProbeAttempt {
    let deadline = Instant::now() + Duration::from_secs(30);
    match HttpProbes::new().probe(check, deadline).await {
        ProbeRun::Attempts(mut attempts) => {
            assert_eq!(attempts.len(), 1);
            attempts.remove(0)
        }
        ProbeRun::NotRun(why) => panic!("not run: {why}"),
    }
}

fn error_of(attempt: &ProbeAttempt) -> &str {
    attempt
        .error
        .as_deref()
        .unwrap_or_else(|| panic!("no error in {attempt:?}"))
}

#[tokio::test]
async fn a_healthy_endpoint_answers_with_status_and_body() {
    let server = serve(Answer::Raw(response("200 OK", "", "all ok"))).await;
    let attempt = one_attempt(&check_for(format!("http://{}/health?x=1", server.addr))).await;
    assert_eq!(attempt.error, None);
    assert_eq!(attempt.status, Some(200));
    assert_eq!(attempt.body, b"all ok");
    assert_eq!((attempt.body_bytes, attempt.body_truncated), (6, false));
    let head = server.requests.lock().unwrap()[0].clone();
    assert!(head.starts_with("GET /health?x=1 HTTP/1.1\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("x-probe: smoke"),
        "{head}"
    );
    assert!(head.contains(&format!("host: {}", server.addr)), "{head}");
}

#[tokio::test]
async fn the_body_is_kept_only_when_an_expectation_reads_it() {
    let server = serve(Answer::Raw(response("200 OK", "", "all ok"))).await;
    let mut check = check_for(format!("http://{}/", server.addr));
    check.expect.body_contains = None;
    let attempt = one_attempt(&check).await;
    assert_eq!((attempt.body.len(), attempt.body_bytes), (0, 6));
}

#[tokio::test]
async fn a_wrong_status_is_reported_as_received() {
    let server = serve(Answer::Raw(response("503 Service Unavailable", "", "down"))).await;
    let attempt = one_attempt(&check_for(format!("http://{}/", server.addr))).await;
    assert_eq!(
        (attempt.status, attempt.error.as_deref()),
        (Some(503), None)
    );
}

#[tokio::test]
async fn an_endpoint_that_never_answers_ends_at_the_total_timeout() {
    let server = serve(Answer::Hang).await;
    let attempt = one_attempt(&check_for(format!("http://{}/", server.addr))).await;
    assert_eq!(
        error_of(&attempt),
        "no complete answer within the total timeout of 700ms (no response head received)"
    );
    assert_eq!(attempt.status, None);
}

#[tokio::test]
async fn a_trickling_body_ends_at_the_total_timeout_with_what_was_read() {
    let server = serve(Answer::Trickle).await;
    let attempt = one_attempt(&check_for(format!("http://{}/", server.addr))).await;
    let error = error_of(&attempt);
    assert!(
        error.starts_with(
            "no complete answer within the total timeout of 700ms (status 200 received, "
        ) && error.ends_with(" body bytes read so far)"),
        "{error}"
    );
    assert!(
        attempt.body_bytes > 0 && attempt.body_bytes < 1000,
        "{attempt:?}"
    );
}

#[tokio::test]
async fn a_huge_body_is_read_only_up_to_the_bound() {
    let server = serve(Answer::Huge(10 * 1024 * 1024)).await;
    let mut check = check_for(format!("http://{}/", server.addr));
    check.total_timeout_ms = 10_000;
    let attempt = one_attempt(&check).await;
    assert_eq!(attempt.error, None);
    assert_eq!(attempt.status, Some(200));
    assert!(attempt.body_truncated);
    assert_eq!(
        (attempt.body_bytes, attempt.body.len()),
        (MAX_BODY_BYTES, MAX_BODY_BYTES)
    );
}

#[tokio::test]
async fn huge_headers_are_refused() {
    let padding = "a".repeat(200 * 1024);
    let server = serve(Answer::Raw(response(
        "200 OK",
        &format!("x-pad: {padding}\r\n"),
        "ok",
    )))
    .await;
    let attempt = one_attempt(&check_for(format!("http://{}/", server.addr))).await;
    let error = error_of(&attempt);
    assert!(error.contains("too large"), "{error}");
    assert!(error.len() < 600, "{error}");
}

#[tokio::test]
async fn a_redirect_to_a_host_outside_probe_hosts_is_not_followed() {
    let server = serve(Answer::Raw(response(
        "302 Found",
        "location: http://evil.example.net/collect\r\n",
        "",
    )))
    .await;
    let attempt = one_attempt(&check_for(format!("http://{}/", server.addr))).await;
    assert_eq!(
        error_of(&attempt),
        "status 302 redirects to http://evil.example.net/collect, whose host is not in probe_hosts; not followed"
    );
    assert!(attempt.redirects.is_empty());
}

#[tokio::test]
async fn a_redirect_to_another_scheme_is_not_followed() {
    let server = serve(Answer::Raw(response(
        "301 Moved",
        "location: ftp://127.0.0.1/x\r\n",
        "",
    )))
    .await;
    let attempt = one_attempt(&check_for(format!("http://{}/", server.addr))).await;
    assert_eq!(
        error_of(&attempt),
        "status 301 redirects to ftp://127.0.0.1/x: only http and https are followed"
    );
}

#[test]
fn redirect_rules() {
    let allowed = [AllowedHost {
        host: "a.example.com".into(),
        port: None,
    }];
    let from = url::Url::parse("https://a.example.com/start").unwrap();
    let follow = |location: &str| redirect_target(&from, location, 302, &allowed);
    assert_eq!(
        follow("/next").unwrap().as_str(),
        "https://a.example.com/next"
    );
    assert_eq!(
        follow("https://A.example.com:8443/x").unwrap().as_str(),
        "https://a.example.com:8443/x"
    );
    assert_eq!(
        follow("http://a.example.com/plain").unwrap_err(),
        "status 302 redirects to http://a.example.com/plain: a downgrade from https to http is not followed"
    );
    assert_eq!(
        follow("//b.example.com/x").unwrap_err(),
        "status 302 redirects to https://b.example.com/x, whose host is not in probe_hosts; not followed"
    );
    assert!(follow("http://[::1")
        .unwrap_err()
        .contains("invalid location"));
    let plain = url::Url::parse("http://a.example.com/").unwrap();
    assert!(redirect_target(&plain, "https://a.example.com/secure", 301, &allowed).is_ok());
}

#[tokio::test]
async fn a_redirect_within_allowed_hosts_is_followed_and_loops_are_cut() {
    let target = serve(Answer::Raw(response("200 OK", "", "ok"))).await;
    let location = format!("location: http://{}/landed\r\n", target.addr);
    let hop = serve(Answer::Raw(response(
        "307 Temporary Redirect",
        &location,
        "",
    )))
    .await;
    let attempt = one_attempt(&check_for(format!("http://{}/", hop.addr))).await;
    assert_eq!(attempt.error, None);
    assert_eq!(attempt.status, Some(200));
    assert_eq!(
        attempt.redirects,
        vec![format!("http://{}/landed", target.addr)]
    );
    assert!(target.requests.lock().unwrap()[0].starts_with("GET /landed "));

    let looping = serve(Answer::Raw(response(
        "302 Found",
        "location: /again\r\n",
        "",
    )))
    .await;
    let attempt = one_attempt(&check_for(format!("http://{}/", looping.addr))).await;
    let error = error_of(&attempt);
    assert!(
        error.starts_with("more than 5 redirects (the last to http://127.0.0.1:"),
        "{error}"
    );
    assert_eq!(attempt.redirects.len(), MAX_REDIRECTS);
}

#[tokio::test]
async fn a_refused_connection_names_the_transport_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let attempt = one_attempt(&check_for(format!("http://{addr}/"))).await;
    let error = error_of(&attempt);
    assert!(
        error.contains("Connection refused") || error.contains("connect"),
        "{error}"
    );
    assert_eq!(attempt.status, None);
}

#[tokio::test]
async fn tls_to_a_plain_endpoint_fails_the_attempt() {
    let server = serve(Answer::Raw(response("200 OK", "", "ok"))).await;
    let attempt = one_attempt(&check_for(format!("https://{}/", server.addr))).await;
    assert!(attempt.error.is_some(), "{attempt:?}");
    assert_eq!(attempt.status, None);
}

#[tokio::test]
async fn attempts_run_concurrently_and_come_back_in_order() {
    let server = serve(Answer::Slow(
        Duration::from_millis(100),
        response("200 OK", "", "ok"),
    ))
    .await;
    let mut check = check_for(format!("http://{}/", server.addr));
    check.repeat = 6;
    check.concurrency = 3;
    let ProbeRun::Attempts(attempts) = HttpProbes::new()
        .probe(&check, Instant::now() + Duration::from_secs(30))
        .await
    else {
        panic!()
    };
    assert_eq!(
        attempts.iter().map(|a| a.index).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    assert!(
        attempts
            .iter()
            .all(|a| a.error.is_none() && a.status == Some(200)),
        "{attempts:?}"
    );
    assert_eq!(server.requests.lock().unwrap().len(), 6);
}

#[tokio::test]
async fn no_attempt_runs_past_the_evidence_deadline() {
    let server = serve(Answer::Hang).await;
    let mut check = check_for(format!("http://{}/", server.addr));
    check.total_timeout_ms = 60_000;
    check.repeat = 3;
    let ProbeRun::Attempts(attempts) = HttpProbes::new()
        .probe(&check, Instant::now() + Duration::from_millis(300))
        .await
    else {
        panic!()
    };
    assert_eq!(attempts.len(), 3);
    assert!(
        error_of(&attempts[0]).starts_with("cut off after ")
            && error_of(&attempts[0]).contains("the hook's evidence budget ran out"),
        "{attempts:?}"
    );
    for later in &attempts[1..] {
        assert_eq!(
            error_of(later),
            "not started: the hook's evidence budget ran out"
        );
    }
}

/// Metrics and probes that each wait for the other to have started: collection
/// only finishes if the two run at the same time.
struct Rendezvous {
    metrics_started: tokio::sync::Notify,
    probe_started: tokio::sync::Notify,
}

impl crate::evidence::MetricSource for Rendezvous {
    async fn metric_data(
        &self,
        _request: &crate::evidence::MetricRequest,
    ) -> Result<crate::evidence::MetricData, crate::evidence::EvidenceError> {
        self.metrics_started.notify_one();
        self.probe_started.notified().await;
        Ok(Default::default())
    }

    async fn metric_exists(
        &self,
        _metric: &crate::evidence::MetricIdentity,
    ) -> Result<bool, crate::evidence::EvidenceError> {
        Ok(true)
    }
}

impl crate::evidence::AlarmSource for Rendezvous {
    async fn alarm_states(
        &self,
        _names: &[String],
    ) -> Result<crate::evidence::AlarmStates, crate::evidence::EvidenceError> {
        Ok(Default::default())
    }
}

impl ProbeSource for Rendezvous {
    async fn probe(&self, _check: &ProbeCheck, _deadline: Instant) -> ProbeRun {
        self.probe_started.notify_one();
        self.metrics_started.notified().await;
        ProbeRun::Attempts(vec![ProbeAttempt {
            index: 1,
            status: Some(200),
            ..ProbeAttempt::default()
        }])
    }
}

#[tokio::test]
async fn probes_are_planned_per_gate_and_collected_alongside_the_metrics() {
    use crate::policy::Policy;
    use crate::vocab::hook::Hook;
    let yaml = "version: 1
probe_hosts: [127.0.0.1]
hooks:
  AfterAllowTestTraffic:
    gates:
      - name: hosts
        metric: { namespace: AWS/ApplicationELB, name: HealthyHostCount, stat: Minimum }
        comparison: \"<\"
        threshold: 1
      - name: smoke
        probe: { url: \"http://127.0.0.1:8080/health\", repeat: 2 }
";
    let policy = Policy::from_yaml(yaml, "p.yaml", &|_| None).unwrap();
    let plan = crate::evidence::plan(&policy, Hook::AfterAllowTestTraffic, 1_700_000_000);
    assert_eq!(plan.probes.len(), 1);
    assert_eq!(plan.probes[0].0, "smoke");
    assert_eq!(plan.probes[0].1.repeat, 2);
    assert!(plan.metrics.is_some());
    let both = Rendezvous {
        metrics_started: tokio::sync::Notify::new(),
        probe_started: tokio::sync::Notify::new(),
    };
    let evidence = tokio::time::timeout(
        Duration::from_secs(10),
        crate::evidence::collect_with_probes(
            &plan,
            1_700_000_000,
            &both,
            &both,
            &both,
            Instant::now() + Duration::from_secs(10),
        ),
    )
    .await
    .expect("metrics and probes were collected one after the other");
    assert!(matches!(evidence.metrics, Some(Ok(_))));
    assert!(
        matches!(evidence.probes.get("smoke"), Some(Ok(ProbeRun::Attempts(a))) if a.len() == 1)
    );
    // Without a probe source the gate is reported as not sent, never as a pass.
    let metrics_only = crate::evidence::collect(&plan, 1_700_000_000, &NoMetrics, &NoMetrics).await;
    assert!(matches!(
        metrics_only.probes.get("smoke"),
        Some(Ok(ProbeRun::NotRun(_)))
    ));
    // A collection that could not finish fails every probe gate too.
    let failed = crate::evidence::Evidence::all_failed(
        &plan,
        1_700_000_000,
        crate::evidence::EvidenceError::TimedOut { budget_ms: 5 },
    );
    assert!(matches!(failed.probes.get("smoke"), Some(Err(_))));
}

struct NoMetrics;

impl crate::evidence::MetricSource for NoMetrics {
    async fn metric_data(
        &self,
        _request: &crate::evidence::MetricRequest,
    ) -> Result<crate::evidence::MetricData, crate::evidence::EvidenceError> {
        Ok(Default::default())
    }

    async fn metric_exists(
        &self,
        _metric: &crate::evidence::MetricIdentity,
    ) -> Result<bool, crate::evidence::EvidenceError> {
        Ok(true)
    }
}

impl crate::evidence::AlarmSource for NoMetrics {
    async fn alarm_states(
        &self,
        _names: &[String],
    ) -> Result<crate::evidence::AlarmStates, crate::evidence::EvidenceError> {
        Ok(Default::default())
    }
}

/// Issue 15: a probe at the Lambda Runtime API's address, directly or
/// through a redirect from an allowed endpoint, is refused before
/// connecting, with the address named; the "Runtime API" never sees a
/// request.
#[tokio::test]
async fn the_runtime_api_is_never_connected_to_directly_or_by_redirect() {
    let runtime_api = serve(Answer::Raw(response("200 OK", "", "ok"))).await;
    let probes = HttpProbes::with_runtime_api(&runtime_api.addr.to_string());
    let deadline = Instant::now() + Duration::from_secs(30);
    let attempt = |check: ProbeCheck| {
        let probes = &probes;
        async move {
            match probes.probe(&check, deadline).await {
                ProbeRun::Attempts(mut attempts) => attempts.remove(0),
                ProbeRun::NotRun(why) => panic!("not run: {why}"),
            }
        }
    };
    let direct = attempt(check_for(format!(
        "http://{}/2018-06-01/runtime/invocation/next",
        runtime_api.addr
    )))
    .await;
    assert_eq!(direct.refused, Some(runtime_api.addr.to_string()));
    assert_eq!(direct.status, None);
    let error = error_of(&direct);
    assert!(
        error.starts_with(&format!("refused to connect to {}: it is the Lambda Runtime API's address (AWS_LAMBDA_RUNTIME_API={})", runtime_api.addr, runtime_api.addr)),
        "{error}"
    );
    // Through a redirect from an endpoint probe_hosts allows.
    let location = format!(
        "location: http://localhost:{}/2018-06-01/runtime/invocation/next\r\n",
        runtime_api.addr.port()
    );
    let redirecting = serve(Answer::Raw(response("302 Found", &location, ""))).await;
    let mut check = check_for(format!("http://{}/start", redirecting.addr));
    check.allowed_hosts.push(AllowedHost {
        host: "localhost".into(),
        port: None,
    });
    let redirected = attempt(check).await;
    assert_eq!(
        redirected.redirects,
        vec![format!(
            "http://localhost:{}/2018-06-01/runtime/invocation/next",
            runtime_api.addr.port()
        )]
    );
    assert!(redirected.refused.is_some(), "{redirected:?}");
    assert!(error_of(&redirected).contains("Lambda Runtime API's address"));
    assert_eq!(redirecting.requests.lock().unwrap().len(), 1);
    assert!(
        runtime_api.requests.lock().unwrap().is_empty(),
        "a probe reached the Runtime API"
    );
    // The same prober still reaches an ordinary endpoint.
    let healthy = serve(Answer::Raw(response("200 OK", "", "ok"))).await;
    let fine = attempt(check_for(format!("http://{}/health", healthy.addr))).await;
    assert_eq!(
        (fine.status, fine.refused.clone()),
        (Some(200), None),
        "{fine:?}"
    );
}
