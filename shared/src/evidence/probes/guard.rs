//! The addresses a probe never connects to, whatever `probe_hosts` allows,
//! checked on the resolved socket address just before connecting.
//!
//! `probe_hosts` is the policy's word on where probes may go; this is the
//! function's own floor under it, for two kinds of address a probe has no
//! business with and a policy (or a redirect, or a name that resolves
//! somewhere unexpected) could still point at:
//! - the Lambda Runtime API (`AWS_LAMBDA_RUNTIME_API`, host:port): a probe
//!   there takes the function's next invocation (`GET .../invocation/next`),
//!   which is then never answered, and could even answer it;
//! - link-local addresses (169.254.0.0/16, fe80::/10) and the instance
//!   metadata service (169.254.169.254, fd00:ec2::254), where credentials
//!   and host services live; also in their IPv4-mapped, IPv4-compatible and
//!   NAT64 IPv6 spellings, which reach the same IPv4 address.
//!
//! The check sits in the connector ([`GuardedConnector`]): the URL's host
//! is resolved once, every address is checked, and the connection is made to
//! exactly those addresses, so a name cannot resolve to an allowed address
//! for the check and to another for the connection (DNS rebinding), and a
//! redirect, which goes through the same connector, is checked like the first
//! request. A refused address is never connected to: the attempt fails with a
//! [`Refusal`] naming it, and the judge reads that as an error, never a pass.

use hyper::Uri;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tower_service::Service;

/// The variable Lambda sets to the Runtime API's host:port.
pub const RUNTIME_API_VAR: &str = "AWS_LAMBDA_RUNTIME_API";

/// The instance metadata service's IPv4 address (inside 169.254.0.0/16, named
/// for the message).
const METADATA_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// The instance metadata service's IPv6 address (Nitro instances).
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

/// Why a probe did not connect to an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused to connect to {addr}: {why}")]
pub struct Refusal {
    /// The resolved address refused.
    pub addr: SocketAddr,
    /// Which rule refused it.
    pub why: String,
}

/// The Runtime API's addresses, as configured.
#[derive(Debug, Clone, Default)]
enum RuntimeApi {
    /// Not running under Lambda (`gatectl`, tests).
    #[default]
    Unset,
    /// `AWS_LAMBDA_RUNTIME_API` as written, resolved.
    Resolved {
        written: String,
        addrs: Vec<SocketAddr>,
    },
    /// Set but not resolvable: then no probe can be told apart from it, so
    /// every probe is refused (fail closed; the runtime client itself would
    /// not work either).
    Unresolvable { written: String, error: String },
}

/// The rules: link-local and metadata addresses always, the Runtime API's
/// address when one is configured.
#[derive(Debug, Clone, Default)]
pub struct AddressGuard {
    runtime_api: RuntimeApi,
}

impl AddressGuard {
    /// The rules without a Runtime API (link-local and metadata addresses).
    pub fn new() -> AddressGuard {
        AddressGuard::default()
    }

    /// The rules with the Runtime API at `written` (`host:port`, the value
    /// of [`RUNTIME_API_VAR`]), resolved now: at cold start, once (Lambda
    /// sets an IP literal, so this is a parse, not a DNS query).
    pub fn with_runtime_api(written: &str) -> AddressGuard {
        let runtime_api = match written.to_socket_addrs() {
            Ok(addrs) => {
                let addrs: Vec<SocketAddr> = addrs.collect();
                if addrs.is_empty() {
                    RuntimeApi::Unresolvable {
                        written: written.to_string(),
                        error: "it resolves to no address".into(),
                    }
                } else {
                    RuntimeApi::Resolved {
                        written: written.to_string(),
                        addrs,
                    }
                }
            }
            Err(error) => RuntimeApi::Unresolvable {
                written: written.to_string(),
                error: error.to_string(),
            },
        };
        AddressGuard { runtime_api }
    }

    /// Whether a probe may connect to `addr`; the refusal names the rule.
    pub fn check(&self, addr: SocketAddr) -> Result<(), Refusal> {
        let refuse = |why: String| Err(Refusal { addr, why });
        let ip = canonical(addr.ip());
        if let Some(why) = link_local(ip) {
            return refuse(why.to_string());
        }
        match &self.runtime_api {
            RuntimeApi::Unset => Ok(()),
            RuntimeApi::Unresolvable { written, error } => refuse(format!(
                "{RUNTIME_API_VAR}={} cannot be resolved ({}), so no probe address can be told apart from the Lambda Runtime API's",
                crate::vocab::text::untrusted(written),
                crate::vocab::text::untrusted(error)
            )),
            RuntimeApi::Resolved { written, addrs } => {
                if addrs.iter().any(|api| same_endpoint(addr, *api)) {
                    refuse(format!(
                        "it is the Lambda Runtime API's address ({RUNTIME_API_VAR}={}), where a probe would take the function's own invocations",
                        crate::vocab::text::untrusted(written)
                    ))
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// The IPv4 address an IPv6 address stands for, when it is one of the
/// spellings that reach an IPv4 host: IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`, deprecated but still routed by some
/// stacks) and the NAT64 well-known prefix (`64:ff9b::a.b.c.d`). `::` and
/// `::1` stay IPv6 (they are not IPv4 hosts).
fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else {
        return ip;
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let s = v6.segments();
    let embedded = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s[..6] {
        [0, 0, 0, 0, 0, 0] if !v6.is_loopback() && !v6.is_unspecified() => IpAddr::V4(embedded),
        [0x64, 0xff9b, 0, 0, 0, 0] => IpAddr::V4(embedded),
        _ => ip,
    }
}

/// Why `ip` (canonical) is refused as link-local or metadata, if it is.
fn link_local(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) if v4 == METADATA_V4 => {
            Some("it is the instance metadata service (169.254.169.254)")
        }
        IpAddr::V4(v4) if v4.is_link_local() => Some(
            "it is link-local (169.254.0.0/16), where host services such as instance metadata live",
        ),
        IpAddr::V6(v6) if v6 == METADATA_V6 => {
            Some("it is the instance metadata service (fd00:ec2::254)")
        }
        IpAddr::V6(v6) if v6.is_unicast_link_local() => Some("it is link-local (fe80::/10)"),
        _ => None,
    }
}

/// Whether a connection to `probe` reaches the listener at `api`: the same
/// port, and the same address, or both on this host (a listener on
/// 127.0.0.1 is also reached through 0.0.0.0, and the Runtime API may listen
/// on any loopback address: every local address on its port is refused).
fn same_endpoint(probe: SocketAddr, api: SocketAddr) -> bool {
    if probe.port() != api.port() {
        return false;
    }
    let (probe, api) = (canonical(probe.ip()), canonical(api.ip()));
    let local = |ip: IpAddr| ip.is_loopback() || ip.is_unspecified();
    probe == api || (local(probe) && local(api))
}

/// The host and port a request to `dst` connects to.
fn host_port(dst: &Uri) -> Result<(&str, u16), String> {
    let host = dst
        .host()
        .ok_or_else(|| format!("the URL {dst} has no host"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = dst
        .port_u16()
        .unwrap_or(if dst.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    Ok((host, port))
}

/// Every address `dst` connects to: its IP literal, or what its name
/// resolves to (once).
async fn resolve(dst: &Uri) -> Result<Vec<SocketAddr>, BoxError> {
    let (host, port) = host_port(dst)?;
    if let Ok(ip) = IpAddr::from_str(host) {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name = Name::from_str(host)?;
    let found = GaiResolver::new().call(name).await?;
    Ok(found
        .map(|mut addr| {
            addr.set_port(port);
            addr
        })
        .collect())
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The probe client's TCP connector: resolves, checks every address with
/// the [`AddressGuard`], and connects only to the checked addresses
/// (hyper-util's `HttpConnector`, fed the resolved addresses, so it keeps
/// its connect timeout and Happy Eyeballs).
#[derive(Clone)]
pub struct GuardedConnector {
    guard: Arc<AddressGuard>,
    connect_timeout: Duration,
}

impl GuardedConnector {
    /// A connector under `guard`, giving up on a connection after
    /// `connect_timeout`.
    pub fn new(guard: Arc<AddressGuard>, connect_timeout: Duration) -> GuardedConnector {
        GuardedConnector {
            guard,
            connect_timeout,
        }
    }
}

impl Service<Uri> for GuardedConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let guard = Arc::clone(&self.guard);
        let connect_timeout = self.connect_timeout;
        Box::pin(async move {
            let addrs = resolve(&dst).await?;
            for addr in &addrs {
                guard.check(*addr)?;
            }
            let mut http = HttpConnector::new_with_resolver(Resolved(addrs));
            http.enforce_http(false);
            http.set_connect_timeout(Some(connect_timeout));
            http.set_nodelay(true);
            Ok(http.call(dst).await?)
        })
    }
}

/// A resolver that answers with addresses resolved and checked already.
#[derive(Clone)]
struct Resolved(Vec<SocketAddr>);

impl Service<Name> for Resolved {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Name) -> Self::Future {
        std::future::ready(Ok(self.0.clone().into_iter()))
    }
}

/// The [`Refusal`] somewhere in `error`'s chain of causes, if there is one.
pub fn refusal<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refusal> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = next {
        if let Some(refusal) = error.downcast_ref::<Refusal>() {
            return Some(refusal);
        }
        next = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn link_local_and_metadata_addresses_are_refused_in_every_spelling() {
        let guard = AddressGuard::new();
        let cases = [
            (
                "169.254.169.254:80",
                "instance metadata service (169.254.169.254)",
            ),
            ("169.254.170.2:80", "link-local (169.254.0.0/16)"),
            ("169.254.0.1:443", "link-local (169.254.0.0/16)"),
            ("169.254.255.255:8080", "link-local (169.254.0.0/16)"),
            ("[fe80::1]:80", "link-local (fe80::/10)"),
            ("[febf:ffff::1]:80", "link-local (fe80::/10)"),
            (
                "[fd00:ec2::254]:80",
                "instance metadata service (fd00:ec2::254)",
            ),
            (
                "[::ffff:169.254.169.254]:80",
                "instance metadata service (169.254.169.254)",
            ),
            ("[::ffff:a9fe:1]:80", "link-local (169.254.0.0/16)"),
            (
                "[::169.254.169.254]:80",
                "instance metadata service (169.254.169.254)",
            ),
            (
                "[64:ff9b::169.254.169.254]:80",
                "instance metadata service (169.254.169.254)",
            ),
        ];
        for (text, why) in cases {
            let refusal = guard.check(addr(text)).unwrap_err();
            assert_eq!(refusal.addr, addr(text));
            let message = refusal.to_string();
            assert!(message.starts_with(&format!("refused to connect to {}", addr(text))));
            assert!(message.contains(why), "{text}: {message}");
        }
    }

    #[test]
    fn ordinary_addresses_pass() {
        let guard = AddressGuard::with_runtime_api("127.0.0.1:9001");
        for text in [
            "127.0.0.1:8080",
            "10.0.0.5:80",
            "169.253.255.255:80",
            "169.255.0.1:80",
            "[::1]:8080",
            "[fec0::1]:80",
            "[fd00:ec2::253]:80",
            "[2600:1f18::1]:443",
            "93.184.216.34:443",
        ] {
            assert_eq!(guard.check(addr(text)), Ok(()), "{text}");
        }
    }

    #[test]
    fn the_runtime_api_is_refused_on_any_local_spelling_of_its_address() {
        let guard = AddressGuard::with_runtime_api("127.0.0.1:9001");
        for text in [
            "127.0.0.1:9001",
            "127.0.0.2:9001",
            "0.0.0.0:9001",
            "[::1]:9001",
            "[::]:9001",
            "[::ffff:127.0.0.1]:9001",
        ] {
            let message = guard.check(addr(text)).unwrap_err().to_string();
            assert!(
                message.contains(
                    "Lambda Runtime API's address (AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001)"
                ),
                "{text}: {message}"
            );
        }
        // Another port of the same host is another listener.
        assert_eq!(guard.check(addr("127.0.0.1:9002")), Ok(()));
        // A name is resolved to its addresses: localhost is 127.0.0.1.
        let by_name = AddressGuard::with_runtime_api("localhost:9001");
        assert!(by_name.check(addr("127.0.0.1:9001")).is_err());
    }

    #[test]
    fn a_runtime_api_that_cannot_be_resolved_refuses_every_probe() {
        let guard = AddressGuard::with_runtime_api("no port here");
        let message = guard.check(addr("10.0.0.5:80")).unwrap_err().to_string();
        assert!(
            message.contains("AWS_LAMBDA_RUNTIME_API=no port here cannot be resolved"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn the_connector_refuses_before_connecting() {
        // A listener on the "Runtime API" that records whether anyone came.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let api = listener.local_addr().unwrap();
        let guard = Arc::new(AddressGuard::with_runtime_api(&api.to_string()));
        let mut connector = GuardedConnector::new(guard, Duration::from_secs(1));
        for uri in [
            format!("http://{api}/2018-06-01/runtime/invocation/next"),
            format!("http://localhost:{}/", api.port()),
            format!("http://[::ffff:127.0.0.1]:{}/", api.port()),
        ] {
            let error = match connector.call(uri.parse().unwrap()).await {
                Ok(_) => panic!("{uri}: connected"),
                Err(error) => error,
            };
            let refused = refusal(&*error).unwrap_or_else(|| panic!("{uri}: {error}"));
            assert_eq!(refused.addr.port(), api.port(), "{uri}");
        }
        // Nobody connected.
        assert!(listener.accept().is_err());
        // An allowed address is connected to.
        let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://{}/", other.local_addr().unwrap());
        assert!(connector.call(uri.parse().unwrap()).await.is_ok());
    }
}
