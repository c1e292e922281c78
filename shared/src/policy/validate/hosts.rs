//! Where a probe may go: the top-level `probe_hosts` allow-list, and each
//! probe's URL checked against it (scheme, no credentials, an allowed host and
//! port). Kept in one file because together they are the boundary that stops
//! a policy from sending requests anywhere else.

use super::Validator;
use crate::policy::limits::MAX_PROBE_URL_CHARS;
use crate::policy::raw::Spanned;
use crate::policy::AllowedHost;

/// Whether `host` (lower case, IPv6 without brackets) is this machine.
fn is_loopback(host: &str) -> bool {
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host == "localhost" || host.ends_with(".localhost"),
    }
}

impl Validator<'_> {
    /// The top-level `probe_hosts`.
    pub(super) fn allowed_hosts(&mut self, raw: Spanned<Vec<Spanned<String>>>) -> Vec<AllowedHost> {
        if raw.value.is_empty() {
            self.problem(
                raw.defined,
                "probe_hosts",
                "name at least one host, or leave `probe_hosts` out when no gate probes",
            );
        }
        let mut hosts = Vec::new();
        for (i, entry) in raw.value.iter().enumerate() {
            let path = format!("probe_hosts[{i}]");
            let (text, unresolved) = self.text_resolved(entry, &path);
            if unresolved {
                // Set where the functions run; which host it is, nobody here knows.
                self.hosts_unresolved = true;
                continue;
            }
            // Parsed as the authority of a URL, so `host`, `host:port`,
            // `10.0.0.1` and `[::1]:8080` mean what they mean in a URL.
            let parsed = url::Url::parse(&format!("http://{text}/"))
                .ok()
                .filter(|u| {
                    u.path() == "/"
                        && u.username().is_empty()
                        && u.password().is_none()
                        && u.query().is_none()
                });
            let host = parsed.as_ref().and_then(|u| match u.host()? {
                url::Host::Domain(d) => Some(d.trim_end_matches('.').to_ascii_lowercase()),
                url::Host::Ipv4(ip) => Some(ip.to_string()),
                url::Host::Ipv6(ip) => Some(ip.to_string()),
            });
            match host {
                Some(host) if !host.is_empty() && !text.contains('*') => {
                    let port = parsed.and_then(|u| u.port());
                    if port.is_none() && is_loopback(&host) {
                        self.warning(entry.defined, &path, format!("{text} without a port lets a probe reach any local port, the Lambda Runtime API's among them; name the port, e.g. `{text}:8080`"));
                    }
                    hosts.push(AllowedHost { host, port })
                }
                _ => self.problem(entry.defined, path, format!("expected a host name or IP address, optionally with `:port` (no scheme, path or wildcard), found {text:?}")),
            }
        }
        hosts
    }

    /// A probe's `url`, `${VAR}` resolved, to an allowed host.
    pub(super) fn probe_url(&mut self, raw: &Spanned<String>, path: &str) -> String {
        let (text, unresolved) = self.text_resolved(raw, path);
        if unresolved {
            // Checked where the functions run, with the variable set.
            return text;
        }
        if text.chars().count() > MAX_PROBE_URL_CHARS {
            self.problem(
                raw.defined,
                path,
                format!(
                    "at most {MAX_PROBE_URL_CHARS} characters, found {}",
                    text.chars().count()
                ),
            );
            return text;
        }
        let url = match url::Url::parse(&text) {
            Ok(url) => url,
            // The hooks link no Unicode tables for IDNA (BENCHMARKS.md,
            // "Artifact size"): an international name is written as xn--.
            Err(url::ParseError::IdnaError) => {
                self.problem(
                    raw.defined,
                    path,
                    format!("not a URL: write an international host name in its ASCII (xn--) form: {text:?}"),
                );
                return text;
            }
            Err(error) => {
                self.problem(raw.defined, path, format!("not a URL ({error}): {text:?}"));
                return text;
            }
        };
        if !matches!(url.scheme(), "http" | "https") {
            self.problem(
                raw.defined,
                path,
                format!(
                    "the scheme must be `http` or `https`, found `{}`",
                    url.scheme()
                ),
            );
        }
        if !url.username().is_empty() || url.password().is_some() {
            self.problem(raw.defined, path, "credentials in a URL would be copied into reasons and records; send them in `headers` (e.g. `Authorization: Bearer ${TOKEN}`)");
        }
        match &self.probe_hosts {
            None => self.problem(raw.defined, path, "probes may only reach hosts named in the top-level `probe_hosts` list, and the policy has none; add the host, e.g. `probe_hosts: [test.internal.example.com]`"),
            Some(hosts) if !self.hosts_unresolved && !hosts.iter().any(|h| h.allows(&url)) => {
                let named: Vec<String> = hosts.iter().map(ToString::to_string).collect();
                let host = url.host_str().unwrap_or("").to_string();
                let port = url.port_or_known_default().map(|p| format!(":{p}")).unwrap_or_default();
                self.problem(raw.defined, path, format!("host {host}{port} is not in `probe_hosts` ({})", named.join(", ")));
            }
            Some(_) => {}
        }
        url.to_string()
    }
}
