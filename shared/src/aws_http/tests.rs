//! The SDK client against real sockets on loopback: a one-shot HTTP server,
//! a `CONNECT` proxy, and endpoints that refuse, hang or break off.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[test]
fn the_five_built_in_roots_are_trust_anchors() {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let certificates: Vec<_> = CertificateDer::pem_slice_iter(AWS_SERVICE_ROOTS)
        .collect::<Result<_, _>>()
        .expect("the built-in roots are PEM");
    let mut store = rustls::RootCertStore::empty();
    assert_eq!(store.add_parsable_certificates(certificates), (5, 0));
    assert!(Roots::AwsServices.tls_config().is_ok());
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

#[test]
fn a_proxy_is_named_without_its_credentials() {
    let uri: http::Uri = "http://ops:secret@proxy.internal:3128".parse().unwrap();
    assert_eq!(redact(&uri), "http://proxy.internal:3128");
}

const TIMEOUTS: Timeouts = Timeouts {
    connect: Some(Duration::from_secs(2)),
    read: Some(Duration::from_secs(5)),
};

fn client(proxy: Matcher) -> Http1Client {
    Http1Client::new(Roots::AwsServices, proxy)
}

fn post(url: &str) -> HttpRequest {
    let request = http::Request::post(url)
        .header("content-type", "application/json")
        .body(SdkBody::from("{\"ask\":1}"))
        .unwrap();
    HttpRequest::try_from(request).unwrap()
}

/// Reads one request head and its `content-length` body from `stream`.
async fn read_request(stream: &mut TcpStream) -> String {
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

/// A server answering one request with `answer`; hands back what it was sent.
async fn one_shot_server(answer: &'static str) -> (String, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let served = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let request = read_request(&mut stream).await;
        stream.write_all(answer.as_bytes()).await.unwrap();
        stream.shutdown().await.ok();
        request
    });
    (address, served)
}

async fn body_text(response: HttpResponse) -> String {
    use http_body_util::BodyExt;
    let body = response.into_body();
    let bytes = body.collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn a_request_goes_out_as_http1_and_its_answer_comes_back() {
    let (address, served) =
        one_shot_server("HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello")
            .await;
    let connector = client(Matcher::builder().build()).connector(TIMEOUTS);
    let response = connector
        .call(post(&format!("http://{address}/metrics")))
        .await
        .expect("the answer comes back");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(body_text(response).await, "hello");
    let request = served.await.unwrap();
    assert!(
        request.starts_with("POST /metrics HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.ends_with("{\"ask\":1}"),
        "the body is sent: {request}"
    );
}

#[test]
fn the_sdk_gets_one_connector_per_timeout_setting() {
    let client = client(Matcher::builder().build());
    let short = Timeouts {
        connect: Some(Duration::from_secs(1)),
        read: None,
    };
    for timeouts in [short, TIMEOUTS, short, TIMEOUTS, short] {
        client.cached(timeouts);
    }
    let cached: Vec<Timeouts> = client
        .connectors
        .lock()
        .unwrap()
        .iter()
        .map(|(key, _)| *key)
        .collect();
    assert_eq!(cached, vec![short, TIMEOUTS]);
}

/// A `CONNECT` proxy for one tunnel: records the request line and the
/// `Proxy-Authorization` it was sent, then splices the two connections.
async fn one_shot_proxy() -> (String, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let seen = tokio::spawn(async move {
        let (mut inbound, _) = listener.accept().await.unwrap();
        let head = read_request(&mut inbound).await;
        let target = head
            .strip_prefix("CONNECT ")
            .and_then(|rest| rest.split(' ').next())
            .expect("a CONNECT request")
            .to_owned();
        let mut outbound = TcpStream::connect(&target).await.unwrap();
        inbound
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .unwrap();
        tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
            .await
            .ok();
        head
    });
    (address, seen)
}

#[tokio::test]
async fn a_proxy_from_the_environment_tunnels_the_request_with_its_credentials() {
    let (server, served) =
        one_shot_server("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            .await;
    let (proxy, seen) = one_shot_proxy().await;
    let matcher = Matcher::builder()
        .all(format!("http://ops:secret@{proxy}"))
        .build();
    let connector = client(matcher).connector(TIMEOUTS);
    let response = connector
        .call(post(&format!("http://{server}/status")))
        .await
        .expect("the answer comes back through the tunnel");
    assert_eq!(body_text(response).await, "ok");
    let head = seen.await.unwrap();
    assert!(
        head.starts_with(&format!("CONNECT {server} HTTP/1.1\r\n")),
        "{head}"
    );
    let credentials = head.lines().find_map(|line| {
        let (name, value) = line.split_once(": ")?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then_some(value)
    });
    // base64("ops:secret")
    assert_eq!(credentials, Some("Basic b3BzOnNlY3JldA=="), "{head}");
    assert!(served.await.unwrap().starts_with("POST /status HTTP/1.1"));
}

#[tokio::test]
async fn no_proxy_exempts_a_host() {
    let (server, served) =
        one_shot_server("HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n").await;
    // A proxy nobody listens on: the request only succeeds if it goes direct.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_proxy = dead.local_addr().unwrap().to_string();
    drop(dead);
    let matcher = Matcher::builder()
        .all(format!("http://{dead_proxy}"))
        .no("127.0.0.1")
        .build();
    let response = client(matcher)
        .connector(TIMEOUTS)
        .call(post(&format!("http://{server}/")))
        .await
        .expect("NO_PROXY sends it straight to the endpoint");
    assert_eq!(response.status().as_u16(), 204);
    served.await.unwrap();
}

#[tokio::test]
async fn a_proxy_that_refuses_the_tunnel_is_named_in_the_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut inbound, _) = listener.accept().await.unwrap();
        read_request(&mut inbound).await;
        inbound
            .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
    });
    let matcher = Matcher::builder()
        .all(format!("http://ops:secret@{proxy}"))
        .build();
    let error = client(matcher)
        .connector(TIMEOUTS)
        .call(post("http://127.0.0.1:9/"))
        .await
        .expect_err("the tunnel was refused");
    let chain = error_chain(&error);
    assert!(
        chain.contains(&format!("through the proxy http://{proxy}")),
        "{chain}"
    );
    assert!(
        !chain.contains("secret"),
        "credentials stay out of errors: {chain}"
    );
}

fn error_chain(error: &ConnectorError) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(current) = cause {
        text.push_str(": ");
        text.push_str(&current.to_string());
        cause = current.source();
    }
    text
}

#[tokio::test]
async fn a_refused_connection_is_an_io_error_the_sdk_retries() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    let error = client(Matcher::builder().build())
        .connector(TIMEOUTS)
        .call(post(&format!("http://{address}/")))
        .await
        .expect_err("nobody listens");
    assert!(error.is_io(), "{error:?}");
}

#[tokio::test]
async fn an_endpoint_that_never_answers_is_a_read_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let held = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        read_request(&mut stream).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(stream);
    });
    let connector = client(Matcher::builder().build()).connector(Timeouts {
        connect: Some(Duration::from_secs(2)),
        read: Some(Duration::from_millis(200)),
    });
    let error = connector
        .call(post(&format!("http://{address}/")))
        .await
        .expect_err("no answer");
    assert!(error.is_timeout(), "{error:?}");
    held.abort();
}

#[tokio::test]
async fn a_connection_cut_mid_answer_is_a_transient_error() {
    let (address, _served) =
        one_shot_server("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part").await;
    let connector = client(Matcher::builder().build()).connector(TIMEOUTS);
    let response = connector.call(post(&format!("http://{address}/"))).await;
    // The head arrived whole, so the break shows when the body is read.
    let response = response.expect("the head arrives");
    use http_body_util::BodyExt;
    let read = response.into_body().collect().await;
    assert!(
        read.is_err(),
        "a body cut short is an error, not a short answer"
    );

    let (address, _served) = one_shot_server("HTTP/1.1 200 OK\r\ncontent-le").await;
    let error = connector
        .call(post(&format!("http://{address}/")))
        .await
        .expect_err("the head was cut");
    assert_eq!(
        error.as_other(),
        Some(ErrorKind::TransientError),
        "{error:?}"
    );
}

/// A loopback listener and the TLS acceptor serving `certificate`; it offers
/// HTTP/2 before HTTP/1.1 in ALPN, as AWS endpoints may.
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
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (
        listener,
        port,
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    )
}

/// A CA, a certificate for `localhost` it signed, and a TLS server on
/// loopback answering one request; the client trusts only that CA.
#[tokio::test]
async fn an_https_endpoint_is_reached_over_tls_and_http1() {
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
        let mut tls = acceptor.accept(stream).await.unwrap();
        let protocol = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        let mut seen = Vec::new();
        let mut buffer = [0u8; 1024];
        while !String::from_utf8_lossy(&seen).contains("{\"ask\":1}") {
            let read = tls.read(&mut buffer).await.unwrap();
            assert!(read > 0, "the client closed early");
            seen.extend_from_slice(&buffer[..read]);
        }
        tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nsecure")
            .await
            .unwrap();
        tls.shutdown().await.ok();
        (protocol, String::from_utf8_lossy(&seen).to_string())
    });

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let client_config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let client = Http1Client::with_tls(Ok(client_config), Matcher::builder().build());
    let response = client
        .connector(TIMEOUTS)
        .call(post(&format!("https://localhost:{port}/secure")))
        .await
        .expect("the TLS exchange succeeds");
    assert_eq!(body_text(response).await, "secure");
    let (protocol, request) = served.await.unwrap();
    // The server would take HTTP/2 if the client offered it.
    assert_ne!(
        protocol.as_deref(),
        Some(&b"h2"[..]),
        "the client never offers HTTP/2"
    );
    assert!(
        request.starts_with("POST /secure HTTP/1.1\r\n"),
        "{request}"
    );
}

#[tokio::test]
async fn a_server_the_roots_do_not_vouch_for_is_refused() {
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
    let error = client(Matcher::builder().build())
        .connector(TIMEOUTS)
        .call(post(&format!("https://localhost:{port}/")))
        .await
        .expect_err("an untrusted certificate is refused");
    let chain = error_chain(&error);
    assert!(chain.contains("certificate"), "{chain}");
}
