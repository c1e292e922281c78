//! The HTTPS client every AWS SDK client in the workspace uses.
//!
//! The SDK's `default-https-client` feature links rustls on aws-lc: 1.6 MB of
//! C code in each hook (the artifact budget is 4 MB zipped) and the slowest
//! part of the arm64 cross-build. The workspace turns that feature off and
//! builds the SDK's client here, on rustls with *ring*, the provider the smoke
//! probes use too, so a binary carries one TLS stack and one crypto library.
//! Without the feature the SDK has no client of its own: every `SdkConfig` in
//! the workspace gets one from [`https_client`].
//!
//! Proxies are read from the standard variables (`HTTPS_PROXY`, `NO_PROXY`, ...)
//! as the SDK's default client does.

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The roots AWS service endpoints chain to: Amazon Root CA 1 to 4 (Amazon
/// Trust Services) and Starfield Services Root G2, which cross-signs them.
const AWS_SERVICE_ROOTS: &[u8] = include_bytes!("../certs/aws-service-roots.pem");

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
}

/// The SDK's HTTP client: rustls on *ring*, trusting `roots`, proxies from
/// the environment, connect/read timeouts and sleep from the SDK's settings.
pub fn https_client(roots: Roots) -> SharedHttpClient {
    let roots = roots.resolve(|var| std::env::var_os(var).is_some());
    let trust = match roots {
        Roots::AwsServices => TrustStore::empty().with_pem_certificate(AWS_SERVICE_ROOTS),
        Roots::System => TrustStore::default(),
    };
    // The built-in PEM is fixed at compile time and parsed by a unit test, so
    // this cannot fail at run time; the default context is the safe fallback.
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .unwrap_or_default();
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .tls_context(context.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_five_built_in_roots_are_trust_anchors() {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let certificates: Vec<_> = CertificateDer::pem_slice_iter(AWS_SERVICE_ROOTS)
            .collect::<Result<_, _>>()
            .expect("the built-in roots are PEM");
        let mut store = rustls::RootCertStore::empty();
        assert_eq!(store.add_parsable_certificates(certificates), (5, 0));
    }

    #[test]
    fn other_roots_or_a_proxy_in_the_environment_select_the_system_store() {
        assert_eq!(Roots::AwsServices.resolve(|_| false), Roots::AwsServices);
        for var in TRUST_OVERRIDES {
            assert_eq!(
                Roots::AwsServices.resolve(|v| v == var),
                Roots::System,
                "{var}"
            );
        }
        assert_eq!(Roots::System.resolve(|_| false), Roots::System);
    }
}
