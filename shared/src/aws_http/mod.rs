//! The HTTP client every AWS SDK client in the workspace uses: HTTP/1.1 over
//! rustls on *ring*, the stack the smoke probes use too.
//!
//! The SDK's own client (`aws-smithy-http-client`) links rustls on aws-lc by
//! default (1.6 MB of C code per hook) and HTTP/2 whatever protocol a service
//! speaks (h2, about 0.55 MB), against an artifact budget of 4 MB zipped.
//! Every endpoint a hook or gatectl calls (CloudWatch, CodeDeploy, SSM, SNS,
//! ELBv2, Lambda) answers HTTP/1.1, so the workspace builds the SDK's client
//! here from hyper-util's pooled HTTP/1 client and hyper-rustls, and hands it
//! to every `SdkConfig`: one TLS stack, one crypto library, no HTTP/2.
//!
//! What the SDK expects of a client, and where it is done:
//! - connect and read timeouts from the SDK's settings, one pooled connector
//!   per distinct pair ([`Http1Client`] caches them);
//! - errors classified so the SDK's retry strategy can tell a broken connection
//!   (retried) from a request it could not send ([`classify`]);
//! - proxies from the standard variables (`HTTPS_PROXY`, `HTTP_PROXY`,
//!   `ALL_PROXY`, `NO_PROXY`), reached with `CONNECT` tunnels, with the basic
//!   credentials a proxy URL carries. Plain-`http` endpoints (local emulators)
//!   are tunnelled too: exempt them with `NO_PROXY` if the proxy refuses.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tower_service::Service;

type BoxError = Box<dyn StdError + Send + Sync>;

/// The roots AWS service endpoints chain to: Amazon Root CA 1 to 4 (Amazon
/// Trust Services) and Starfield Services Root G2, which cross-signs them.
const AWS_SERVICE_ROOTS: &[u8] = include_bytes!("../../certs/aws-service-roots.pem");

/// Variables that point a client at other roots or through a proxy (which may
/// re-sign with its own CA): with any of them set, the system store is used.
const TRUST_OVERRIDES: [&str; 8] = [
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// How long an idle pooled connection is kept. A Lambda sandbox may be frozen
/// between invocations; a connection the far end closed meanwhile is retried
/// by the SDK as a transient error.
const POOL_IDLE: Duration = Duration::from_secs(60);

/// Which certificates a client trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roots {
    /// Only the AWS service roots, built in. Reading and parsing the system
    /// store (about 290 certificates) was the largest cost of a hook's cold
    /// start, ~3 ms of ~10 (benches/cold-start/RESULTS.md). Falls back to
    /// [`Roots::System`] when the environment names other roots or a proxy.
    AwsServices,
    /// The system's certificate store (an operator's machine: gatectl).
    System,
}

impl Roots {
    /// What `self` means in this environment, given a variable lookup.
    fn resolve(self, env: impl Fn(&str) -> bool) -> Roots {
        match self {
            Roots::AwsServices if TRUST_OVERRIDES.iter().any(|var| env(var)) => Roots::System,
            roots => roots,
        }
    }

    /// A TLS configuration trusting these roots, or why none could be built.
    fn tls_config(self) -> Result<rustls::ClientConfig, String> {
        use hyper_rustls::ConfigBuilderExt;
        // Infallible in practice: ring has cipher suites for every default
        // protocol version.
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("no TLS configuration: {error}"))?;
        let with_roots = match self {
            Roots::AwsServices => {
                use rustls::pki_types::{pem::PemObject, CertificateDer};
                let mut store = rustls::RootCertStore::empty();
                for certificate in CertificateDer::pem_slice_iter(AWS_SERVICE_ROOTS) {
                    let certificate =
                        certificate.map_err(|error| format!("built-in AWS roots: {error}"))?;
                    store
                        .add(certificate)
                        .map_err(|error| format!("built-in AWS roots: {error}"))?;
                }
                builder.with_root_certificates(store)
            }
            Roots::System => builder.with_native_roots().map_err(|error| {
                format!("no trusted root certificates could be loaded ({error})")
            })?,
        };
        Ok(with_roots.with_no_client_auth())
    }
}

/// The SDK's HTTP client: HTTP/1.1, rustls on *ring* trusting `roots`,
/// proxies from the environment, connect/read timeouts from the SDK's settings.
pub fn https_client(roots: Roots) -> SharedHttpClient {
    let roots = roots.resolve(|var| std::env::var_os(var).is_some());
    SharedHttpClient::new(Http1Client::new(roots, Matcher::from_env()))
}

/// Hands the SDK one pooled connector per distinct timeout settings, as its
/// `HttpClient` contract asks: the SDK asks for a connector on every attempt.
#[derive(Debug)]
struct Http1Client {
    tls: Result<Arc<rustls::ClientConfig>, String>,
    proxy: Arc<Matcher>,
    connectors: Mutex<Vec<(Timeouts, SharedHttpConnector)>>,
}

/// The settings a connector is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timeouts {
    connect: Option<Duration>,
    read: Option<Duration>,
}

impl Http1Client {
    fn new(roots: Roots, proxy: Matcher) -> Self {
        Http1Client::with_tls(roots.tls_config(), proxy)
    }

    fn with_tls(tls: Result<rustls::ClientConfig, String>, proxy: Matcher) -> Self {
        Http1Client {
            tls: tls.map(Arc::new),
            proxy: Arc::new(proxy),
            connectors: Mutex::new(Vec::new()),
        }
    }

    fn connector(&self, timeouts: Timeouts) -> SharedHttpConnector {
        let tls = match &self.tls {
            Ok(tls) => tls,
            Err(reason) => return SharedHttpConnector::new(NoTls(reason.clone())),
        };
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(timeouts.connect);
        let route = ProxyRoute {
            tcp,
            proxy: Arc::clone(&self.proxy),
        };
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((**tls).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(route);
        let pool = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_timer(TokioTimer::new())
            .build(https);
        SharedHttpConnector::new(Http1Connector {
            pool,
            read_timeout: timeouts.read,
        })
    }
}

impl HttpClient for Http1Client {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.cached(Timeouts {
            connect: settings.connect_timeout(),
            read: settings.read_timeout(),
        })
    }
}

impl Http1Client {
    /// The connector built for `timeouts`, built on first use.
    fn cached(&self, timeouts: Timeouts) -> SharedHttpConnector {
        let mut connectors = self
            .connectors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, connector)) = connectors.iter().find(|(key, _)| *key == timeouts) {
            return connector.clone();
        }
        let connector = self.connector(timeouts);
        connectors.push((timeouts, connector.clone()));
        connector
    }
}

type Pool = Client<hyper_rustls::HttpsConnector<ProxyRoute>, SdkBody>;

/// Sends one request on a pooled connection, within the read timeout.
#[derive(Debug)]
struct Http1Connector {
    pool: Pool,
    read_timeout: Option<Duration>,
}

impl HttpConnector for Http1Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let pool = self.pool.clone();
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|error| ConnectorError::user(error.into()))?;
            let sent = pool.request(request);
            let answer = match read_timeout {
                Some(limit) => tokio::time::timeout(limit, sent).await.map_err(|_| {
                    ConnectorError::timeout(
                        format!("no response within the read timeout ({limit:?})").into(),
                    )
                })?,
                None => sent.await,
            };
            let response = answer.map_err(classify)?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|error| ConnectorError::other(error.into(), None))
        })
    }
}

/// Every call fails with why no TLS configuration exists (no system roots on
/// an operator's machine): the SDK reports it instead of a certificate error.
#[derive(Debug)]
struct NoTls(String);

impl HttpConnector for NoTls {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        let reason = self.0.clone();
        HttpConnectorFuture::ready(Err(ConnectorError::other(reason.into(), None)))
    }
}

/// What kind of failure a transport error is, as the SDK's retry strategy
/// reads it: a connection that could not be made, broke or timed out is
/// retried; anything else (a malformed response head, a refused request) is not.
fn classify(error: hyper_util::client::legacy::Error) -> ConnectorError {
    if error.is_connect() {
        return ConnectorError::io(error.into());
    }
    let mut cause = error.source();
    while let Some(current) = cause {
        if let Some(hyper_error) = current.downcast_ref::<hyper::Error>() {
            if hyper_error.is_timeout() {
                return ConnectorError::timeout(error.into());
            }
            if hyper_error.is_incomplete_message()
                || hyper_error.is_closed()
                || hyper_error.is_canceled()
            {
                return ConnectorError::other(error.into(), Some(ErrorKind::TransientError));
            }
        }
        if current.downcast_ref::<std::io::Error>().is_some() {
            return ConnectorError::io(error.into());
        }
        cause = current.source();
    }
    ConnectorError::other(error.into(), None)
}

/// Opens the TCP connection a request goes over: straight to the endpoint, or
/// a `CONNECT` tunnel through the proxy the environment names for it.
#[derive(Clone)]
struct ProxyRoute {
    tcp: TcpConnector,
    proxy: Arc<Matcher>,
}

type Connecting =
    Pin<Box<dyn Future<Output = Result<TokioIo<tokio::net::TcpStream>, BoxError>> + Send>>;

impl Service<http::Uri> for ProxyRoute {
    type Response = TokioIo<tokio::net::TcpStream>;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.tcp.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, endpoint: http::Uri) -> Connecting {
        match self.proxy.intercept(&endpoint) {
            None => {
                let connecting = self.tcp.call(endpoint);
                Box::pin(async move { connecting.await.map_err(Into::into) })
            }
            Some(proxy) => {
                let proxy_uri = proxy.uri().clone();
                let mut tunnel = Tunnel::new(proxy_uri.clone(), self.tcp.clone());
                if let Some(credentials) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(credentials.clone());
                }
                let connecting = tunnel.call(endpoint);
                Box::pin(async move {
                    connecting.await.map_err(|error| {
                        BoxError::from(ThroughProxy {
                            proxy: redact(&proxy_uri),
                            source: error.into(),
                        })
                    })
                })
            }
        }
    }
}

/// A tunnel through a proxy failed; names the proxy (without credentials).
#[derive(Debug, thiserror::Error)]
#[error("through the proxy {proxy}")]
struct ThroughProxy {
    proxy: String,
    #[source]
    source: BoxError,
}

/// A proxy's address without the credentials its URL may carry.
fn redact(uri: &http::Uri) -> String {
    match uri.authority() {
        Some(authority) => {
            let host = authority.as_str().rsplit('@').next().unwrap_or_default();
            format!("{}://{host}", uri.scheme_str().unwrap_or("http"))
        }
        None => uri.to_string(),
    }
}

#[cfg(test)]
mod tests;
