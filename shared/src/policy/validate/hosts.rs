//! Where a probe may go: the top-level `probe_hosts` allow-list, and each
//! probe's URL checked against it (scheme, no credentials, an allowed host and
//! port). Kept in one file because together they are the boundary that stops
//! a policy from sending requests anywhere else.

use super::Validator;
use crate::policy::raw::Spanned;
use crate::policy::AllowedHost;

impl Validator<'_> {
    /// The top-level `probe_hosts`.
    pub(super) fn allowed_hosts(&mut self, raw: Spanned<Vec<Spanned<String>>>) -> Vec<AllowedHost> {
        if raw.value.is_empty() {
            self.problem(
                raw.referenced,
                "probe_hosts",
                "name at least one host, or leave `probe_hosts` out when no gate probes",
            );
        }
        let mut hosts = Vec::new();
        for (i, entry) in raw.value.iter().enumerate() {
            let path = format!("probe_hosts[{i}]");
            let text = self.text(entry, &path);
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
                Some(host) if !host.is_empty() && !text.contains('*') => hosts.push(AllowedHost {
                    host,
                    port: parsed.and_then(|u| u.port()),
                }),
                _ => self.problem(entry.referenced, path, format!("expected a host name or IP address, optionally with `:port` (no scheme, path or wildcard), found {text:?}")),
            }
        }
        hosts
    }

    /// A probe's `url`, `${VAR}` resolved, to an allowed host.
    pub(super) fn probe_url(&mut self, raw: &Spanned<String>, path: &str) -> String {
        let text = self.text(raw, path);
        let url = match url::Url::parse(&text) {
            Ok(url) => url,
            // The hooks link no Unicode tables for IDNA (BENCHMARKS.md,
            // "Artifact size"): an international name is written as xn--.
            Err(url::ParseError::IdnaError) => {
                self.problem(
                    raw.referenced,
                    path,
                    format!("not a URL: write an international host name in its ASCII (xn--) form: {text:?}"),
                );
                return text;
            }
            Err(error) => {
                self.problem(
                    raw.referenced,
                    path,
                    format!("not a URL ({error}): {text:?}"),
                );
                return text;
            }
        };
        if !matches!(url.scheme(), "http" | "https") {
            self.problem(
                raw.referenced,
                path,
                format!(
                    "the scheme must be `http` or `https`, found `{}`",
                    url.scheme()
                ),
            );
        }
        if !url.username().is_empty() || url.password().is_some() {
            self.problem(raw.referenced, path, "credentials in a URL would be copied into reasons and records; send them in `headers` (e.g. `Authorization: Bearer ${TOKEN}`)");
        }
        match &self.probe_hosts {
            None => self.problem(raw.referenced, path, "probes may only reach hosts named in the top-level `probe_hosts` list, and the policy has none; add the host, e.g. `probe_hosts: [test.internal.example.com]`"),
            Some(hosts) if !hosts.iter().any(|h| h.allows(&url)) => {
                let named: Vec<String> = hosts.iter().map(ToString::to_string).collect();
                let host = url.host_str().unwrap_or("").to_string();
                let port = url.port_or_known_default().map(|p| format!(":{p}")).unwrap_or_default();
                self.problem(raw.referenced, path, format!("host {host}{port} is not in `probe_hosts` ({})", named.join(", ")));
            }
            Some(_) => {}
        }
        url.to_string()
    }
}
