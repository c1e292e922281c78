//! Run-time switches from SSM Parameter Store: the playbook's kill switches,
//! applied to deployments, changed without a redeploy.
//!
//! - `{prefix}freeze`: while it exists (and is not `off`), every hook reports
//!   `Failed` with the reason "deployment freeze". Its value is the reason, or
//!   JSON `{"reason": ..., "by": ...}`.
//! - `{prefix}override/{Hook}`: JSON `{"reason", "by", "expires"}` (all three
//!   required, `expires` in RFC 3339): until it expires, that hook reports
//!   `Succeeded` whatever the gates say, and the record says who asked, why and
//!   until when. An override without a reason or an expiry, or an expired one,
//!   is ignored, and the record says why.
//!
//! Both are read in one `GetParameters` call, concurrently with the metrics.
//! What the switches mean for the verdict is decided in [`crate::run`].
//!
//! The same call reads the deployment's audit chain head,
//! `{prefix}audit/{deployment-id}` (see [`crate::audit`]), when the source is
//! scoped to a deployment ([`SsmSwitches::for_deployment`]): the audit trail
//! costs no extra round trip before the report. The head is written back with
//! `PutParameter` after the report ([`ScopedSsmSwitches::write_head`]).

use super::EvidenceError;
// The trait and values this provider implements, where callers import them.
pub use super::{ChainHead, HeadStore, NoSwitches, StoredHead, SwitchSource, SwitchValues};
use crate::vocab::hook::Hook;
use crate::vocab::stamp;
use aws_sdk_ssm::Client;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde::Serialize;

/// The default parameter prefix.
pub const DEFAULT_PREFIX: &str = "/codedeploy-gates/";

/// The longest prefix accepted: SSM parameter names are at most 1011
/// characters, and the prefix leaves room for `override/AfterAllowTestTraffic`
/// and `audit/{deployment-id}`.
const MAX_PREFIX_CHARS: usize = 512;

/// A switch prefix as an operator wrote it (`GATE_SWITCH_PREFIX`, `gatectl
/// audit verify --prefix`), in the form parameter names are built from: an
/// absolute SSM path ending in `/`, the `/` added when it is missing, so
/// `/gates` and `/gates/` both mean the folder `/gates/` and a freeze at
/// `/gates/freeze` is never missed by reading `/gatesfreeze`. Anything that
/// is not such a path (relative, blank, spaces or control characters,
/// characters SSM refuses in a name, `//`, `.` or `..` segments) is refused
/// with why.
pub fn switch_prefix(written: &str) -> Result<String, String> {
    if !written.starts_with('/') {
        return Err("an SSM path starts with /".into());
    }
    if written.chars().count() > MAX_PREFIX_CHARS {
        return Err(format!("at most {MAX_PREFIX_CHARS} characters"));
    }
    if let Some(bad) = written
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '.' | '-')))
    {
        return Err(format!(
            "{bad:?} is not allowed in an SSM parameter name (letters, digits, / _ . - only)"
        ));
    }
    if written.contains("//") {
        return Err("an empty path segment (//)".into());
    }
    if written
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err("a . or .. path segment".into());
    }
    Ok(if written.ends_with('/') {
        written.to_string()
    } else {
        format!("{written}/")
    })
}

/// An active deployment freeze.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Freeze {
    /// Why.
    pub reason: String,
    /// Who set it, if they said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// A valid, unexpired override of one hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Override {
    /// Why.
    pub reason: String,
    /// Who asked.
    pub by: String,
    /// Until when (epoch seconds).
    pub expires: i64,
}

/// The switches as read for one hook execution.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Switches {
    /// Set while a freeze is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub freeze: Option<Freeze>,
    /// Set while a valid override for this hook is on.
    #[serde(rename = "override", skip_serializing_if = "Option::is_none")]
    pub override_: Option<Override>,
    /// Why an override parameter that exists was not applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored_override: Option<String>,
}

/// The SSM parameter holding a deployment's chain head, under `prefix`
/// (the switch prefix, ending in `/`).
pub fn head_parameter(prefix: &str, deployment_id: &str) -> String {
    format!("{prefix}audit/{deployment_id}")
}

/// SSM Parameter Store through the AWS SDK.
#[derive(Debug, Clone)]
pub struct SsmSwitches {
    client: Client,
    prefix: String,
}

impl SsmSwitches {
    /// Reads parameters under `prefix` (ending in `/`).
    pub fn new(client: Client, prefix: &str) -> Self {
        SsmSwitches {
            client,
            prefix: prefix.to_string(),
        }
    }
}

impl SwitchSource for SsmSwitches {
    async fn read(&self, hook: Hook) -> Result<SwitchValues, EvidenceError> {
        self.read_parameters(hook, None).await
    }
}

impl SsmSwitches {
    /// The same switches, plus the audit chain head of `deployment_id`.
    pub fn for_deployment<'a>(&'a self, deployment_id: &'a str) -> ScopedSsmSwitches<'a> {
        ScopedSsmSwitches {
            switches: self,
            deployment_id,
        }
    }

    /// One `GetParameters` call for the switches and, given a deployment, its chain head.
    async fn read_parameters(
        &self,
        hook: Hook,
        deployment_id: Option<&str>,
    ) -> Result<SwitchValues, EvidenceError> {
        let freeze = format!("{}freeze", self.prefix);
        let override_ = format!("{}override/{}", self.prefix, hook.as_str());
        let head = deployment_id.map(|id| head_parameter(&self.prefix, id));
        let mut request = self
            .client
            .get_parameters()
            .names(&freeze)
            .names(&override_);
        if let Some(head) = &head {
            request = request.names(head);
        }
        let output = request.send().await.map_err(|e| EvidenceError::Api {
            service: "SSM",
            operation: "GetParameters",
            message: super::aws_error(&e),
        })?;
        let value = |name: &str| {
            output
                .parameters()
                .iter()
                .find(|p| p.name() == Some(name))
                .and_then(|p| p.value())
                .map(str::to_string)
        };
        Ok(SwitchValues {
            freeze: value(&freeze),
            override_: value(&override_),
            audit_head: match &head {
                None => StoredHead::NotKept,
                Some(name) => value(name).map_or(StoredHead::Absent, StoredHead::Value),
            },
        })
    }
}

/// [`SsmSwitches`] for one deployment: reads its audit chain head with the
/// switches, and writes the new head.
pub struct ScopedSsmSwitches<'a> {
    switches: &'a SsmSwitches,
    deployment_id: &'a str,
}

impl SwitchSource for ScopedSsmSwitches<'_> {
    async fn read(&self, hook: Hook) -> Result<SwitchValues, EvidenceError> {
        self.switches
            .read_parameters(hook, Some(self.deployment_id))
            .await
    }
}

impl HeadStore for ScopedSsmSwitches<'_> {
    async fn write_head(&self, head: &ChainHead) -> Result<(), EvidenceError> {
        let name = head_parameter(&self.switches.prefix, self.deployment_id);
        self.switches
            .client
            .put_parameter()
            .name(name)
            .value(head.to_parameter_value())
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| EvidenceError::Api {
                service: "SSM",
                operation: "PutParameter",
                message: super::aws_error(&e),
            })
    }
}

/// Interprets the raw values at `now` (epoch seconds). Pure.
pub fn interpret(freeze: Option<&str>, override_: Option<&str>, now: i64) -> Switches {
    let mut switches = Switches::default();
    if let Some(value) = freeze.map(str::trim) {
        if !matches!(value.to_ascii_lowercase().as_str(), "" | "off" | "false") {
            switches.freeze = Some(match serde_json::from_str::<serde_json::Value>(value) {
                Ok(json) if json.is_object() => Freeze {
                    reason: json["reason"]
                        .as_str()
                        .unwrap_or("no reason given")
                        .to_string(),
                    by: json["by"].as_str().map(str::to_string),
                },
                _ => Freeze {
                    reason: value.to_string(),
                    by: None,
                },
            });
        }
    }
    if let Some(value) = override_ {
        match parse_override(value) {
            Ok(o) if o.expires > now => switches.override_ = Some(o),
            Ok(o) => {
                switches.ignored_override = Some(format!(
                    "the override by {} expired at {}",
                    o.by,
                    stamp(o.expires)
                ))
            }
            Err(why) => switches.ignored_override = Some(why),
        }
    }
    switches
}

fn parse_override(value: &str) -> Result<Override, String> {
    let json: serde_json::Value = serde_json::from_str(value).map_err(|e| {
        format!("the override is not JSON {{\"reason\", \"by\", \"expires\"}}: {e}")
    })?;
    let field = |name: &str| {
        json[name]
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                format!("the override has no `{name}`: reason, by and expires are mandatory")
            })
    };
    let reason = field("reason")?;
    let by = field("by")?;
    let expires_text = field("expires")?;
    let expires = DateTime::from_str(&expires_text, Format::DateTime)
        .map_err(|e| {
            format!("the override's `expires` {expires_text:?} is not an RFC 3339 time: {e}")
        })?
        .secs();
    Ok(Override {
        reason,
        by,
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_is_a_folder_whether_or_not_its_last_slash_was_written() {
        assert_eq!(switch_prefix("/gates").unwrap(), "/gates/");
        assert_eq!(switch_prefix("/gates/").unwrap(), "/gates/");
        assert_eq!(
            switch_prefix("/team-a/gates.v2_x").unwrap(),
            "/team-a/gates.v2_x/"
        );
        assert_eq!(switch_prefix(DEFAULT_PREFIX).unwrap(), DEFAULT_PREFIX);
        for (written, why) in [
            ("gates/", "starts with /"),
            ("", "starts with /"),
            ("/ga tes/", "' ' is not allowed"),
            ("/gates\n", "'\\n' is not allowed"),
            ("/gates\u{1b}[31m/", "'\\u{1b}' is not allowed"),
            ("//gates/", "empty path segment"),
            ("/gates/../x/", "a . or .. path segment"),
            ("/gates/./", "a . or .. path segment"),
        ] {
            let error = switch_prefix(written).expect_err(written);
            assert!(error.contains(why), "{written:?}: {error}");
        }
        assert!(switch_prefix(&format!("/{}", "a".repeat(600))).is_err());
    }

    const NOW: i64 = 1_795_428_240; // 2026-11-23T10:04:00Z

    #[test]
    fn freeze_values() {
        assert_eq!(interpret(None, None, NOW), Switches::default());
        for off in ["", "off", "OFF", "false", "  "] {
            assert_eq!(interpret(Some(off), None, NOW).freeze, None, "{off:?}");
        }
        let freeze = interpret(Some("incident INC-42"), None, NOW)
            .freeze
            .unwrap();
        assert_eq!(freeze.reason, "incident INC-42");
        let freeze = interpret(
            Some(r#"{"reason": "black friday", "by": "sre-oncall"}"#),
            None,
            NOW,
        )
        .freeze
        .unwrap();
        assert_eq!(
            (freeze.reason.as_str(), freeze.by.as_deref()),
            ("black friday", Some("sre-oncall"))
        );
    }

    #[test]
    fn an_override_needs_reason_by_and_a_future_expiry() {
        let valid = r#"{"reason": "false alarm on p95, see INC-7", "by": "alice", "expires": "2026-11-23T11:00:00Z"}"#;
        let o = interpret(None, Some(valid), NOW).override_.unwrap();
        assert_eq!((o.by.as_str(), o.expires), ("alice", NOW + 56 * 60));
        let expired = valid.replace("11:00:00", "10:00:00");
        let s = interpret(None, Some(&expired), NOW);
        assert_eq!(s.override_, None);
        assert_eq!(
            s.ignored_override.unwrap(),
            "the override by alice expired at 2026-11-23T10:00:00Z"
        );
        for (bad, why) in [
            (
                r#"{"by": "alice", "expires": "2026-11-23T11:00:00Z"}"#,
                "no `reason`",
            ),
            (r#"{"reason": "r", "by": "alice"}"#, "no `expires`"),
            (
                r#"{"reason": "r", "expires": "2026-11-23T11:00:00Z"}"#,
                "no `by`",
            ),
            (
                r#"{"reason": "r", "by": "a", "expires": "tomorrow"}"#,
                "not an RFC 3339 time",
            ),
            ("yes please", "not JSON"),
        ] {
            let s = interpret(None, Some(bad), NOW);
            assert_eq!(s.override_, None);
            assert!(
                s.ignored_override.as_deref().unwrap().contains(why),
                "{bad}: {:?}",
                s.ignored_override
            );
        }
    }
}
