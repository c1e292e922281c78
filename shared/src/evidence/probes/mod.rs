//! Smoke probes: HTTP requests sent to the test listener, answered as evidence.
//!
//! The provider fetches and never judges: each attempt comes back as a
//! [`ProbeAttempt`] (status, latency, a bounded body, or the transport error)
//! and [`crate::judge::probes`] holds it to the policy's expectations.
//!
//! The endpoint is untrusted, so every way it can misbehave ends in a failed
//! attempt with a reason, never in a hung hook or an exhausted Lambda:
//! - connect and total timeouts per attempt, and every attempt also stops at
//!   the hook's evidence deadline (what was not done by then says so);
//! - at most [`MAX_BODY_BYTES`] of a body are read; the rest is never
//!   downloaded, and the attempt records that it was truncated;
//! - response heads are limited to [`MAX_HEAD_BYTES`];
//! - redirects are followed only to hosts the policy allows, never from
//!   `https` down to `http`, at most [`MAX_REDIRECTS`] times;
//! - no proxy is used, whatever the environment says;
//! - no connection is made to the Lambda Runtime API or to a link-local or
//!   instance-metadata address, whatever `probe_hosts` says: [`guard`]
//!   checks every resolved address before connecting, redirects included,
//!   and the refused attempt says so ([`ProbeAttempt::refused`]).
//!
//! The client is the AWS SDK's own stack (hyper-util's client, hyper-rustls,
//! rustls on ring with the system's root certificates), so the binaries
//! carry one TLS implementation (see [`crate::aws_http`]). The TLS configuration is built once, on the
//! first probe, so hooks without probes pay nothing at cold start.

pub mod guard;

// The trait and values this provider implements, where callers import them.
pub use super::{NoProbes, ProbeAttempt, ProbeRun, ProbeSource};
use crate::policy::{AllowedHost, ProbeCheck};
use guard::{AddressGuard, GuardedConnector};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::time::{timeout, Instant};

/// The most of a response body that is read; the rest is left unread.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The largest response head (status line and headers) accepted.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Redirects followed per attempt.
pub const MAX_REDIRECTS: usize = 5;

/// The HTTP implementation.
#[derive(Default)]
pub struct HttpProbes {
    tls: OnceLock<Tls>,
    /// The addresses never connected to.
    guard: Arc<AddressGuard>,
}

/// The TLS client configuration, or why none could be built.
struct Tls {
    config: Arc<rustls::ClientConfig>,
    /// Set when the system's root certificates could not be loaded: `https`
    /// probes then fail with this, `http` ones still work.
    roots_error: Option<String>,
}

impl HttpProbes {
    /// A prober; nothing is loaded until the first probe.
    pub fn new() -> Self {
        HttpProbes::default()
    }

    /// A prober that also never connects to the Lambda Runtime API at
    /// `runtime_api` (the value of [`guard::RUNTIME_API_VAR`]).
    pub fn with_runtime_api(runtime_api: &str) -> Self {
        HttpProbes {
            tls: OnceLock::new(),
            guard: Arc::new(AddressGuard::with_runtime_api(runtime_api)),
        }
    }

    fn tls(&self) -> &Tls {
        self.tls.get_or_init(|| {
            use hyper_rustls::ConfigBuilderExt;
            // Infallible in practice: ring has cipher suites for every
            // default protocol version.
            let builder = || {
                rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default TLS versions")
            };
            match builder().with_native_roots() {
                Ok(with_roots) => Tls {
                    config: Arc::new(with_roots.with_no_client_auth()),
                    roots_error: None,
                },
                // Without roots no server can be verified: `https` probes
                // fail with this reason, `http` ones still work.
                Err(error) => Tls {
                    config: Arc::new(
                        builder()
                            .with_root_certificates(rustls::RootCertStore::empty())
                            .with_no_client_auth(),
                    ),
                    roots_error: Some(format!(
                        "no trusted root certificates could be loaded ({error})"
                    )),
                },
            }
        })
    }
}

type ProbeClient = Client<hyper_rustls::HttpsConnector<GuardedConnector>, Empty<Bytes>>;

impl ProbeSource for HttpProbes {
    async fn probe(&self, check: &ProbeCheck, deadline: Instant) -> ProbeRun {
        use futures_util::stream::{self, StreamExt};
        let tls = self.tls();
        let http = GuardedConnector::new(
            Arc::clone(&self.guard),
            Duration::from_millis(check.connect_timeout_ms),
        );
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls.config).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client: ProbeClient = Client::builder(TokioExecutor::new())
            .http1_max_buf_size(MAX_HEAD_BYTES)
            .pool_max_idle_per_host(check.concurrency as usize)
            .build(https);
        let keep_body = check.expect.body_contains.is_some() || check.expect.json_pointer.is_some();
        let client = &client;
        let roots_error = tls.roots_error.as_deref();
        let mut attempts: Vec<ProbeAttempt> = stream::iter(1..=check.repeat)
            .map(|index| attempt(client, check, index, deadline, keep_body, roots_error))
            .buffer_unordered(check.concurrency.max(1) as usize)
            .collect()
            .await;
        attempts.sort_by_key(|a| a.index);
        ProbeRun::Attempts(attempts)
    }
}

/// What an attempt learnt before it ended, kept when a timeout drops it.
#[derive(Default)]
struct Progress {
    status: Option<u16>,
    body: Vec<u8>,
    body_bytes: usize,
    body_truncated: bool,
    redirects: Vec<String>,
    refused: Option<String>,
}

async fn attempt(
    client: &ProbeClient,
    check: &ProbeCheck,
    index: u32,
    deadline: Instant,
    keep_body: bool,
    roots_error: Option<&str>,
) -> ProbeAttempt {
    let started = Instant::now();
    let total = Duration::from_millis(check.total_timeout_ms);
    let left = deadline.saturating_duration_since(started);
    let mut progress = Progress::default();
    let error = if left.is_zero() {
        Some("not started: the hook's evidence budget ran out".to_string())
    } else {
        let limit = total.min(left);
        let exchange = exchange(client, check, &mut progress, keep_body, roots_error);
        match timeout(limit, exchange).await {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error),
            Err(_) => Some(timeout_reason(&progress, limit, limit < total)),
        }
    };
    ProbeAttempt {
        index,
        status: progress.status,
        latency_ms: started.elapsed().as_millis() as u64,
        body: progress.body,
        body_bytes: progress.body_bytes,
        body_truncated: progress.body_truncated,
        redirects: progress.redirects,
        refused: progress.refused,
        error,
    }
}

fn timeout_reason(progress: &Progress, limit: Duration, budget: bool) -> String {
    let what = if budget {
        format!(
            "cut off after {}ms: the hook's evidence budget ran out",
            limit.as_millis()
        )
    } else {
        format!(
            "no complete answer within the total timeout of {}ms",
            limit.as_millis()
        )
    };
    match progress.status {
        None => format!("{what} (no response head received)"),
        Some(status) => format!(
            "{what} (status {status} received, {} body bytes read so far)",
            progress.body_bytes
        ),
    }
}

/// Sends the request, follows allowed redirects and reads the bounded body.
async fn exchange(
    client: &ProbeClient,
    check: &ProbeCheck,
    progress: &mut Progress,
    keep_body: bool,
    roots_error: Option<&str>,
) -> Result<(), String> {
    let mut url = url::Url::parse(&check.url).map_err(|e| format!("invalid URL: {e}"))?;
    let mut method = check.method.clone();
    let mut hops = 0;
    loop {
        if let (Some(error), "https") = (roots_error, url.scheme()) {
            return Err(error.to_string());
        }
        let mut request = hyper::Request::builder()
            .method(method.as_str())
            .uri(url.as_str());
        for (name, value) in &check.headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let response = client.request(request).await.map_err(|e| {
            if let Some(refusal) = guard::refusal(&e) {
                progress.refused = Some(refusal.addr.to_string());
                return crate::vocab::text::untrusted(&refusal.to_string());
            }
            transport_error(&e)
        })?;
        let status = response.status();
        progress.status = Some(status.as_u16());
        let location = response
            .headers()
            .get(hyper::header::LOCATION)
            .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned());
        if let (true, Some(location)) = (status.is_redirection(), location) {
            let target = redirect_target(&url, &location, status.as_u16(), &check.allowed_hosts)?;
            let shown = super::bounded(target.to_string());
            if hops == MAX_REDIRECTS {
                return Err(format!(
                    "more than {MAX_REDIRECTS} redirects (the last to {shown})"
                ));
            }
            hops += 1;
            progress.redirects.push(target.to_string());
            if status == hyper::StatusCode::SEE_OTHER && method != "HEAD" {
                method = "GET".into();
            }
            url = target;
            continue;
        }
        return read_body(response.into_body(), progress, keep_body).await;
    }
}

/// Reads at most [`MAX_BODY_BYTES`] of `body` into `progress`; the rest is
/// never read.
async fn read_body(
    mut body: hyper::body::Incoming,
    progress: &mut Progress,
    keep_body: bool,
) -> Result<(), String> {
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            format!(
                "the body broke off after {} bytes: {}",
                progress.body_bytes,
                transport_error(&e)
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let room = MAX_BODY_BYTES - progress.body_bytes;
        let take = data.len().min(room);
        if keep_body {
            progress.body.extend_from_slice(&data[..take]);
        }
        progress.body_bytes += take;
        if data.len() > room {
            // The rest is never read: dropping the body closes the connection.
            progress.body_truncated = true;
            break;
        }
    }
    Ok(())
}

/// Where a redirect from `from` to `location` leads, if it may be followed:
/// only to `http` or `https`, never from `https` down to `http`, and only to
/// an allowed host.
pub fn redirect_target(
    from: &url::Url,
    location: &str,
    status: u16,
    allowed: &[AllowedHost],
) -> Result<url::Url, String> {
    let target = from.join(location).map_err(|e| {
        format!(
            "status {status} redirects to an invalid location {} ({e})",
            super::bounded(format!("{location:?}"))
        )
    })?;
    let shown = super::bounded(target.to_string());
    if !matches!(target.scheme(), "http" | "https") {
        return Err(format!(
            "status {status} redirects to {shown}: only http and https are followed"
        ));
    }
    if from.scheme() == "https" && target.scheme() == "http" {
        return Err(format!(
            "status {status} redirects to {shown}: a downgrade from https to http is not followed"
        ));
    }
    if !allowed.iter().any(|h| h.allows(&target)) {
        return Err(format!(
            "status {status} redirects to {shown}, whose host is not in probe_hosts; not followed"
        ));
    }
    Ok(target)
}

/// An error and its causes on one line, cut to a bounded length: hyper's
/// outer error ("client error (Connect)") says little without its sources.
fn transport_error(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    super::bounded(parts.join(": "))
}

#[cfg(test)]
mod tests;
