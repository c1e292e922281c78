//! The SDK client as this module configures it, through a real SDK client
//! (SSM `GetParameter`) against sockets on loopback: a TLS server whose
//! certificate a test CA signed, one the built-in roots do not vouch for, and
//! a forward proxy that asks for credentials.

use super::*;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_types::error::display::DisplayErrorContext;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

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

/// An SSM client on `http_client`, sending to `endpoint`, retrying nothing
/// (one connection per test server).
fn ssm(http_client: SharedHttpClient, endpoint: String) -> aws_sdk_ssm::Client {
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "tests",
        )))
        .http_client(http_client)
        .endpoint_url(endpoint)
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .timeout_config(
            aws_smithy_types::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .read_timeout(Duration::from_secs(5))
                .build(),
        )
        .sleep_impl(aws_smithy_async::rt::sleep::SharedAsyncSleep::new(
            aws_smithy_async::rt::sleep::TokioSleep::new(),
        ))
        .build();
    aws_sdk_ssm::Client::new(&config)
}

/// SSM's answer to `GetParameter`, as an HTTP/1.1 response.
const PARAMETER_ANSWER: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\n\
    content-length: 50\r\nconnection: close\r\n\r\n\
    {\"Parameter\":{\"Name\":\"/gates/freeze\",\"Value\":\"x\"}}";

/// Reads one request head and its `content-length` body from `stream`.
async fn read_request(stream: &mut (impl AsyncRead + Unpin)) -> String {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "the client closed before a whole request");
        seen.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&seen).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .map_or(0, |value| value.trim().parse::<usize>().unwrap());
            if seen.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

/// Answers the one request `stream` carries with `answer`; hands back the request.
async fn answer_once(mut stream: impl AsyncRead + AsyncWrite + Unpin, answer: &str) -> String {
    let request = read_request(&mut stream).await;
    stream.write_all(answer.as_bytes()).await.unwrap();
    stream.shutdown().await.ok();
    request
}

/// A loopback listener and the TLS acceptor serving `certificate` over HTTP/1.1.
async fn tls_listener(
    certificate: &rcgen::Certificate,
    key: &rcgen::KeyPair,
) -> (TcpListener, u16, tokio_rustls::TlsAcceptor) {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![certificate.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (
        listener,
        port,
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    )
}

/// A CA, a certificate for `localhost` it signed, and a TLS server on
/// loopback answering one request; the client trusts only that CA, given as
/// PEM as the built-in roots are.
#[tokio::test]
async fn an_https_endpoint_whose_root_is_trusted_answers_the_sdk() {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let ca_issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca_issuer)
        .unwrap();

    let (listener, port, acceptor) = tls_listener(&server_cert, &server_key).await;
    let served = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let tls = acceptor.accept(stream).await.unwrap();
        answer_once(tls, PARAMETER_ANSWER).await
    });

    let client = sdk_client(
        TrustStore::empty().with_pem_certificate(ca.pem()),
        ProxyConfig::disabled(),
    );
    let answer = ssm(client, format!("https://localhost:{port}"))
        .get_parameter()
        .name("/gates/freeze")
        .send()
        .await
        .map_err(|error| DisplayErrorContext(error).to_string())
        .expect("the TLS exchange succeeds");
    assert_eq!(answer.parameter().and_then(|p| p.value()), Some("x"));
    let request = served.await.unwrap();
    assert!(request.starts_with("POST / HTTP/1.1\r\n"), "{request}");
    assert!(
        request
            .to_ascii_lowercase()
            .contains("x-amz-target: amazonssm.getparameter"),
        "{request}"
    );
}

#[tokio::test]
async fn the_built_in_roots_refuse_a_server_they_do_not_vouch_for() {
    // The AWS roots do not sign a self-signed localhost certificate.
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (listener, port, acceptor) = tls_listener(&certificate, &key).await;
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = acceptor.accept(stream).await;
    });
    let client = sdk_client(Roots::AwsServices.trust_store(), ProxyConfig::disabled());
    let error = ssm(client, format!("https://localhost:{port}"))
        .get_parameter()
        .name("/gates/freeze")
        .send()
        .await
        .expect_err("an untrusted certificate is refused");
    let chain = DisplayErrorContext(error).to_string();
    assert!(chain.contains("certificate"), "{chain}");
}

/// A forward proxy on loopback that answers one request itself; hands back
/// the request it was sent.
#[tokio::test]
async fn a_proxy_gets_the_request_with_its_credentials() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = listener.local_addr().unwrap();
    let seen = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        answer_once(stream, PARAMETER_ANSWER).await
    });
    // An endpoint nothing listens on: only the proxy can answer.
    let endpoint = "http://ssm.invalid:8080";
    let client = sdk_client(
        Roots::AwsServices.trust_store(),
        ProxyConfig::all(format!("http://{proxy}"))
            .unwrap()
            .with_basic_auth("ops", "secret"),
    );
    let answer = ssm(client, endpoint.to_owned())
        .get_parameter()
        .name("/gates/freeze")
        .send()
        .await
        .map_err(|error| DisplayErrorContext(error).to_string())
        .expect("the proxy answers");
    assert_eq!(answer.parameter().and_then(|p| p.value()), Some("x"));
    let head = seen.await.unwrap();
    assert!(
        head.starts_with(&format!("POST {endpoint}/ HTTP/1.1\r\n")),
        "{head}"
    );
    let credentials = head.lines().find_map(|line| {
        let (name, value) = line.split_once(": ")?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then_some(value)
    });
    // base64("ops:secret")
    assert_eq!(credentials, Some("Basic b3BzOnNlY3JldA=="), "{head}");
}
