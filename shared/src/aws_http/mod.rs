//! The HTTP client every AWS SDK client in the workspace uses: the SDK's own
//! (`aws-smithy-http-client`), on rustls with *ring*, the crypto library the
//! smoke probes use too, so the binaries carry one TLS stack.
//!
//! What this module decides, and nothing else:
//! - which roots a client trusts ([`Roots`]): the hooks carry the AWS service
//!   roots built in, because reading the system store was the largest cost of
//!   a cold start; `gatectl` and any environment that names other roots or a
//!   proxy use the system store;
//! - the crypto provider: *ring*. The SDK's default (`default-https-client`)
//!   is rustls on aws-lc, which links 1.6 MB of C code per hook;
//! - proxies from the standard variables (`HTTPS_PROXY`, `HTTP_PROXY`,
//!   `ALL_PROXY`, `NO_PROXY`), as the SDK's default client reads them.
//!
//! Connection pooling, connect and read timeouts, the classification of
//! transport errors for the retry strategy, proxy tunnels and ALPN are the
//! SDK client's. Until session 7 the workspace had its own HTTP/1.1 client
//! here, 0.31 MB smaller zipped (the SDK's client links HTTP/2); BENCHMARKS.md
//! ("Session 7") measures what the maintained one costs.

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

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

    /// The SDK client's trust store for these roots. The system store is read
    /// (once per process, by the SDK) only when it is chosen.
    fn trust_store(self) -> TrustStore {
        match self {
            Roots::AwsServices => TrustStore::empty().with_pem_certificate(AWS_SERVICE_ROOTS),
            Roots::System => TrustStore::empty().with_native_roots(true),
        }
    }
}

/// The SDK's HTTP client: rustls on *ring* trusting `roots`, proxies from the
/// environment, connect/read timeouts from the SDK's settings.
pub fn https_client(roots: Roots) -> SharedHttpClient {
    let roots = roots.resolve(|var| std::env::var_os(var).is_some());
    sdk_client(roots.trust_store(), ProxyConfig::from_env())
}

/// The SDK's client with one connector per distinct timeout settings (the
/// builder caches them), each built as the SDK's own default client builds
/// its own (`aws-smithy-runtime`'s `default_https_client`), with our crypto
/// provider, trust store and proxy settings.
fn sdk_client(trust: TrustStore, proxy: ProxyConfig) -> SharedHttpClient {
    // `build` only gathers what it is given (aws-smithy-http-client 1.5); the
    // certificates are parsed when a connector is built.
    let tls = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a TLS context is plain data");
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::Ring));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(proxy.clone()));
        connector.tls_context(tls.clone()).build()
    })
}

#[cfg(test)]
mod tests;
