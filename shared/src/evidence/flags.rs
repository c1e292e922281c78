//! AWS AppConfig feature flags: read as an application reads them, and
//! turned off by the kill switch.
//!
//! Reading goes through the data plane (`appconfigdata`), as the application
//! behind the deployment does: one configuration session per profile, then
//! its latest configuration, a JSON object of `{"<key>": {"enabled": bool,
//! ...attributes}}`. So the gate sees what the application sees, not what a
//! console shows: a version created but never deployed does not count, and a
//! profile with nothing deployed to the environment is an error (its flags
//! are unknown), never a pass.
//!
//! Writing (the kill switch) goes through the control plane: the version
//! deployed to the environment is read, the flag's `enabled` set to false in
//! a new hosted configuration version (created with `Latest-Version-Number`,
//! so a concurrent edit is refused rather than overwritten), and that version
//! deployed with the immediate predefined strategy, `AppConfig.AllAtOnce`. A
//! flag already off in the deployed version is left alone: nothing is
//! written twice. Names are resolved to ids here, as the control plane takes
//! only ids.

use super::{EvidenceError, FlagFlip, FlagValues};
// The traits this provider implements, where callers import them.
pub use super::{FlagSource, FlagWriter, NoFlags};
use crate::policy::{FlagProfile, FlagRef};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::Blob;

/// The immediate predefined deployment strategy: every target at once.
pub const IMMEDIATE_STRATEGY: &str = "AppConfig.AllAtOnce";

/// The largest configuration read (AppConfig's own limit on a hosted
/// configuration is 2 MB by default, adjustable to 4 MB).
const MAX_CONFIGURATION_BYTES: usize = 4 * 1024 * 1024;

/// The data plane's and the control plane's clients.
#[derive(Debug, Clone)]
pub struct AppConfigFlags {
    data: aws_sdk_appconfigdata::Client,
    control: aws_sdk_appconfig::Client,
}

impl AppConfigFlags {
    /// Reads with `data`, writes (the kill switch) with `control`.
    pub fn new(data: aws_sdk_appconfigdata::Client, control: aws_sdk_appconfig::Client) -> Self {
        AppConfigFlags { data, control }
    }
}

fn api<E>(
    operation: &'static str,
) -> impl FnOnce(aws_smithy_runtime_api::client::result::SdkError<E, HttpResponse>) -> EvidenceError
where
    E: std::error::Error + aws_smithy_types::error::metadata::ProvideErrorMetadata + 'static,
{
    move |error| EvidenceError::Api {
        service: "AppConfig",
        operation,
        message: super::aws_error(&error),
    }
}

fn malformed(operation: &'static str, message: impl Into<String>) -> EvidenceError {
    EvidenceError::Malformed {
        service: "AppConfig",
        operation,
        message: super::bounded(message.into()),
    }
}

/// The flags of a configuration as the data plane serves a feature-flag
/// profile: an object of objects, each with a boolean `enabled`.
pub fn parse_flags(served: &[u8]) -> Result<FlagValues, EvidenceError> {
    const OP: &str = "GetLatestConfiguration";
    if served.is_empty() {
        return Err(malformed(OP, "no configuration is deployed to this environment, so its flags are unknown: deploy the feature-flag profile first"));
    }
    if served.len() > MAX_CONFIGURATION_BYTES {
        return Err(malformed(
            OP,
            format!(
                "the configuration is {} bytes, more than the {MAX_CONFIGURATION_BYTES} read",
                served.len()
            ),
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(served)
        .map_err(|e| malformed(OP, format!("the configuration is not JSON ({e}): is the profile of type AWS.AppConfig.FeatureFlags?")))?;
    let serde_json::Value::Object(flags) = value else {
        return Err(malformed(OP, "the configuration is not a JSON object of flags: is the profile of type AWS.AppConfig.FeatureFlags?"));
    };
    flags
        .into_iter()
        .map(|(key, flag)| match flag.get("enabled") {
            Some(serde_json::Value::Bool(enabled)) => Ok((key, *enabled)),
            _ => Err(malformed(
                OP,
                format!("flag {key:?} has no boolean `enabled`: is the profile of type AWS.AppConfig.FeatureFlags?"),
            )),
        })
        .collect()
}

/// A hosted feature-flag document with `key` turned off: the new content,
/// or `None` when it is off already. A key the document does not define is
/// an error: the kill switch must not invent a flag.
pub fn with_flag_off(document: &[u8], key: &str) -> Result<Option<Vec<u8>>, EvidenceError> {
    const OP: &str = "GetHostedConfigurationVersion";
    let mut value: serde_json::Value = serde_json::from_slice(document)
        .map_err(|e| malformed(OP, format!("the hosted configuration is not JSON ({e})")))?;
    let defined = value
        .get("flags")
        .and_then(|flags| flags.get(key))
        .is_some();
    if !defined {
        return Err(malformed(
            OP,
            format!("the deployed version defines no flag {key:?}"),
        ));
    }
    let Some(object) = value.as_object_mut() else {
        return Err(malformed(
            OP,
            "the hosted configuration is not a JSON object",
        ));
    };
    let values = object
        .entry("values")
        .or_insert_with(|| serde_json::json!({}));
    let Some(values) = values.as_object_mut() else {
        return Err(malformed(OP, "`values` is not a JSON object"));
    };
    let entry = values
        .entry(key.to_string())
        .or_insert_with(|| serde_json::json!({}));
    let Some(entry) = entry.as_object_mut() else {
        return Err(malformed(
            OP,
            format!("the value of flag {key:?} is not a JSON object"),
        ));
    };
    // A flag with no value is off, as the data plane serves it.
    if !entry
        .get("enabled")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
    {
        return Ok(None);
    }
    entry.insert("enabled".into(), serde_json::Value::Bool(false));
    serde_json::to_vec(&value)
        .map(Some)
        .map_err(|e| malformed(OP, e.to_string()))
}

impl FlagSource for AppConfigFlags {
    async fn flags(&self, profile: &FlagProfile) -> Result<FlagValues, EvidenceError> {
        let session = self
            .data
            .start_configuration_session()
            .application_identifier(&profile.application)
            .environment_identifier(&profile.environment)
            .configuration_profile_identifier(&profile.profile)
            .send()
            .await
            .map_err(api("StartConfigurationSession"))?;
        let token = session
            .initial_configuration_token()
            .ok_or_else(|| malformed("StartConfigurationSession", "no configuration token"))?;
        let latest = self
            .data
            .get_latest_configuration()
            .configuration_token(token)
            .send()
            .await
            .map_err(api("GetLatestConfiguration"))?;
        parse_flags(latest.configuration().map(Blob::as_ref).unwrap_or_default())
    }
}

/// The ids the control plane needs for one flag.
struct Ids {
    application: String,
    environment: String,
    profile: String,
    profile_name: String,
}

impl AppConfigFlags {
    /// The id of the application named `name`.
    async fn application_by_name(&self, name: &str) -> Result<String, EvidenceError> {
        let mut next = None;
        loop {
            let page = self
                .control
                .list_applications()
                .set_next_token(next)
                .send()
                .await
                .map_err(api("ListApplications"))?;
            if let Some(found) = page.items().iter().find(|a| a.name() == Some(name)) {
                return Ok(found.id().unwrap_or_default().to_string());
            }
            next = page.next_token().map(str::to_string);
            if next.is_none() {
                return Err(malformed(
                    "ListApplications",
                    format!("no application {name:?}"),
                ));
            }
        }
    }

    /// Application, environment and profile ids of `profile`, each found by
    /// id or by name.
    async fn ids(&self, profile: &FlagProfile) -> Result<Ids, EvidenceError> {
        // The application as an id first: ListEnvironments can be granted on
        // the one application, ListApplications only on every application
        // (IAM has no resource type for it), so a policy that names the
        // application by id needs no account-wide grant.
        let by_id = self
            .control
            .list_environments()
            .application_id(&profile.application)
            .send()
            .await;
        let (application, environments) = match by_id {
            Ok(environments) => (profile.application.clone(), environments),
            Err(_) => {
                let application = self.application_by_name(&profile.application).await?;
                let environments = self
                    .control
                    .list_environments()
                    .application_id(&application)
                    .send()
                    .await
                    .map_err(api("ListEnvironments"))?;
                (application, environments)
            }
        };
        let environment = environments
            .items()
            .iter()
            .find(|e| {
                e.id() == Some(profile.environment.as_str())
                    || e.name() == Some(profile.environment.as_str())
            })
            .and_then(|e| e.id())
            .ok_or_else(|| {
                malformed(
                    "ListEnvironments",
                    format!("no environment {:?}", profile.environment),
                )
            })?
            .to_string();
        let profiles = self
            .control
            .list_configuration_profiles()
            .application_id(&application)
            .send()
            .await
            .map_err(api("ListConfigurationProfiles"))?;
        let found = profiles
            .items()
            .iter()
            .find(|p| {
                p.id() == Some(profile.profile.as_str())
                    || p.name() == Some(profile.profile.as_str())
            })
            .ok_or_else(|| {
                malformed(
                    "ListConfigurationProfiles",
                    format!("no configuration profile {:?}", profile.profile),
                )
            })?;
        Ok(Ids {
            application,
            environment,
            profile: found.id().unwrap_or_default().to_string(),
            profile_name: found.name().unwrap_or_default().to_string(),
        })
    }
}

impl FlagWriter for AppConfigFlags {
    async fn turn_off(&self, flag: &FlagRef, why: &str) -> Result<FlagFlip, EvidenceError> {
        let ids = self.ids(&flag.profile).await?;
        // The version the environment runs: the newest deployment of this
        // profile that is not rolled back.
        let deployments = self
            .control
            .list_deployments()
            .application_id(&ids.application)
            .environment_id(&ids.environment)
            .send()
            .await
            .map_err(api("ListDeployments"))?;
        let deployed = deployments
            .items()
            .iter()
            .filter(|d| {
                d.configuration_profile_id() == Some(ids.profile.as_str())
                    || d.configuration_name() == Some(ids.profile_name.as_str())
            })
            .filter(|d| {
                !matches!(
                    d.state(),
                    Some(aws_sdk_appconfig::types::DeploymentState::RolledBack)
                )
            })
            .max_by_key(|d| d.deployment_number())
            .and_then(|d| d.configuration_version())
            .and_then(|v| v.parse::<i32>().ok())
            .ok_or_else(|| {
                malformed(
                    "ListDeployments",
                    format!(
                        "nothing of profile {:?} is deployed to the environment",
                        flag.profile.profile
                    ),
                )
            })?;
        let hosted = self
            .control
            .get_hosted_configuration_version()
            .application_id(&ids.application)
            .configuration_profile_id(&ids.profile)
            .version_number(deployed)
            .send()
            .await
            .map_err(api("GetHostedConfigurationVersion"))?;
        let document = hosted.content().map(Blob::as_ref).unwrap_or_default();
        let Some(content) = with_flag_off(document, &flag.key)? else {
            return Ok(FlagFlip::AlreadyOff { version: deployed });
        };
        let latest = self
            .control
            .list_hosted_configuration_versions()
            .application_id(&ids.application)
            .configuration_profile_id(&ids.profile)
            .max_results(1)
            .send()
            .await
            .map_err(api("ListHostedConfigurationVersions"))?
            .items()
            .iter()
            .map(|v| v.version_number())
            .max()
            .unwrap_or(deployed);
        // AppConfig takes at most 1,024 characters of description.
        let description: String = why.chars().take(1024).collect();
        let created = self
            .control
            .create_hosted_configuration_version()
            .application_id(&ids.application)
            .configuration_profile_id(&ids.profile)
            .content(Blob::new(content))
            .content_type("application/json")
            .latest_version_number(latest)
            .description(&description)
            .send()
            .await
            .map_err(api("CreateHostedConfigurationVersion"))?;
        let version = created.version_number();
        let started = self
            .control
            .start_deployment()
            .application_id(&ids.application)
            .environment_id(&ids.environment)
            .deployment_strategy_id(IMMEDIATE_STRATEGY)
            .configuration_profile_id(&ids.profile)
            .configuration_version(version.to_string())
            .description(&description)
            .send()
            .await
            .map_err(api("StartDeployment"))?;
        Ok(FlagFlip::TurnedOff {
            from_version: deployed,
            version,
            deployment: started.deployment_number(),
            strategy: IMMEDIATE_STRATEGY.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_plane_document_gives_each_flag_its_state() {
        let flags = parse_flags(
            br#"{"new_checkout": {"enabled": true, "variant": "b"}, "dark": {"enabled": false}}"#,
        )
        .unwrap();
        assert_eq!(flags.get("new_checkout"), Some(&true));
        assert_eq!(flags.get("dark"), Some(&false));
    }

    #[test]
    fn nothing_deployed_or_not_a_flag_document_is_an_error() {
        for served in [
            &b""[..],
            b"not json",
            b"[1]",
            br#"{"x": {"enabled": "yes"}}"#,
            br#"{"x": 1}"#,
        ] {
            assert!(
                parse_flags(served).is_err(),
                "{:?}",
                String::from_utf8_lossy(served)
            );
        }
    }

    #[test]
    fn turning_off_keeps_everything_else_and_is_none_when_already_off() {
        let doc = br#"{"version":"1","flags":{"a":{"name":"A"},"b":{"name":"B"}},"values":{"a":{"enabled":true,"v":2},"b":{"enabled":false}}}"#;
        let off: serde_json::Value =
            serde_json::from_slice(&with_flag_off(doc, "a").unwrap().unwrap()).unwrap();
        assert_eq!(
            off["values"]["a"],
            serde_json::json!({"enabled": false, "v": 2})
        );
        assert_eq!(off["flags"]["b"]["name"], "B");
        assert_eq!(with_flag_off(doc, "b").unwrap(), None);
        assert!(
            with_flag_off(doc, "c").is_err(),
            "an undefined flag is refused"
        );
    }
}

/// AppConfig when the policy names a flag, and nothing otherwise: a hook
/// whose policy has no flag gate and no kill switch builds no AppConfig
/// client at cold start.
#[derive(Debug, Clone)]
pub struct PolicyFlags(pub Option<AppConfigFlags>);

impl FlagSource for PolicyFlags {
    async fn flags(&self, profile: &FlagProfile) -> Result<FlagValues, EvidenceError> {
        match &self.0 {
            Some(flags) => flags.flags(profile).await,
            None => NoFlags.flags(profile).await,
        }
    }
}

impl FlagWriter for PolicyFlags {
    async fn turn_off(&self, flag: &FlagRef, why: &str) -> Result<FlagFlip, EvidenceError> {
        match &self.0 {
            Some(flags) => flags.turn_off(flag, why).await,
            None => NoFlags.turn_off(flag, why).await,
        }
    }
}
