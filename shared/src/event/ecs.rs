//! The payload Amazon ECS invokes a lifecycle hook function with, for its
//! native (CodeDeploy-free) blue/green, linear and canary deployments, read in
//! the same two steps as the CodeDeploy event: the raw step
//! ([`RawEcsEvent::from_value`]) checks the JSON shape field by field and names
//! the field that is wrong; the validated step ([`RawEcsEvent::validate`])
//! holds each ARN to the shape ECS gives it and the stage to the stages a hook
//! can be attached to. Only an [`EcsInvocation`] goes further.
//!
//! What the payload carries, from the ECS developer guide ("Lifecycle hooks
//! for Amazon ECS service deployments", section "Lifecycle payloads",
//! <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-lifecycle-hooks.html>):
//! every stage's payload has `serviceArn`, `targetServiceRevisionArn`,
//! `testTrafficWeights` and `productionTrafficWeights` (maps of service
//! revision ARN to a weight in percent). AWS's announcement examples
//! (Containers blog, "Extending deployment pipelines with Amazon ECS blue
//! green deployments and lifecycle hooks", 2025) nest those four under
//! `executionDetails`, beside `executionId` and `lifecycleStage`: both
//! placements are read, `executionDetails` first. `hookDetails` is what the
//! service's `DeploymentLifecycleHook.hookDetails` configures, merged with what
//! the previous `IN_PROGRESS` answer returned; the gate keeps its progress
//! there under one field of its own ([`crate::continuation`]'s
//! `gate_analysis`), and reads nothing else of it.
//!
//! The answer goes back as the function's return value (`hookStatus`
//! `SUCCEEDED`, `FAILED` or `IN_PROGRESS`, optional `callBackDelay` in seconds
//! and `hookDetails`); a missing status or a function error rolls the
//! deployment back. A payload this module refuses is therefore answered as an
//! invocation error naming the field, which ECS reads as a failure: never as
//! `SUCCEEDED`.
//!
//! The shapes ECS documents for its names (API reference, `CreateService`:
//! a service name is "up to 255 letters (uppercase and lowercase), numbers,
//! underscores, and hyphens", a cluster name the same) and its ARNs
//! (`arn:PARTITION:ecs:REGION:ACCOUNT:service/CLUSTER/SERVICE`, and
//! `...:service-revision/CLUSTER/SERVICE/ID` in `DescribeServiceRevisions`)
//! are checked here, so a service or cluster name travels into SSM parameter
//! names and logs only once it is known to be safe there.

use super::{json_type, truncate};
use crate::vocab::text::preview;
use crate::vocab::Hook;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Where the ECS payload keeps the deployment's details (when it nests them).
pub const EXECUTION_DETAILS: &str = "executionDetails";
/// The stage field.
pub const LIFECYCLE_STAGE: &str = "lifecycleStage";
/// The execution id field.
pub const EXECUTION_ID: &str = "executionId";
/// The service ARN field.
pub const SERVICE_ARN: &str = "serviceArn";
/// The target revision field.
pub const TARGET_REVISION: &str = "targetServiceRevisionArn";
/// The test listener's weights.
pub const TEST_WEIGHTS: &str = "testTrafficWeights";
/// The production listener's weights.
pub const PRODUCTION_WEIGHTS: &str = "productionTrafficWeights";
/// What the previous answer (and the service's hook configuration) passed on.
pub const HOOK_DETAILS: &str = "hookDetails";

/// The longest execution id accepted: ECS does not document its shape; this
/// bounds what a hostile payload may make the function carry.
pub const EXECUTION_ID_MAX_CHARS: usize = 512;
/// The longest cluster or service name ECS allows.
const NAME_MAX_CHARS: usize = 255;
/// How many characters of a refused value a message quotes.
const PREVIEW_CHARS: usize = 80;

/// Why a payload is not a usable ECS lifecycle hook invocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EcsEventError {
    /// The payload is not a JSON object.
    #[error("the ECS lifecycle payload is not a JSON object (found {found}); ECS sends {{\"lifecycleStage\": ..., \"executionId\": ..., \"executionDetails\": {{\"serviceArn\": ..., ...}}}}")]
    NotAnObject {
        /// What was found instead.
        found: &'static str,
    },
    /// A required field is absent.
    #[error("the ECS lifecycle payload has no `{field}` field; ECS sends it with every invocation, so this payload did not come from an ECS deployment")]
    MissingField {
        /// The missing field.
        field: &'static str,
    },
    /// A field has the wrong sort of value.
    #[error("the ECS lifecycle payload's `{field}` must be {expected}, found {found}")]
    InvalidField {
        /// The field (a weight is named `productionTrafficWeights[ARN]`).
        field: String,
        /// What it must be.
        expected: &'static str,
        /// What was found, escaped and bounded.
        found: String,
    },
    /// The stage is not one a hook can be attached to.
    #[error("the ECS lifecycle payload's `lifecycleStage` is {found}, not a stage a lifecycle hook can be attached to ({known})")]
    UnknownStage {
        /// The stage sent, escaped and bounded.
        found: String,
        /// The stages known.
        known: String,
    },
    /// The weights name a revision of another service.
    #[error("the ECS lifecycle payload's `{field}` names {found}, a revision of another service than `serviceArn` ({service})")]
    ForeignRevision {
        /// The field.
        field: &'static str,
        /// The revision ARN, escaped and bounded.
        found: String,
        /// The service's ARN.
        service: String,
    },
}

/// An ECS service ARN, its parts checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceArn {
    /// The whole ARN.
    pub arn: String,
    /// `aws`, `aws-cn`, ...
    pub partition: String,
    /// The region.
    pub region: String,
    /// The 12-digit account.
    pub account: String,
    /// The cluster's name.
    pub cluster: String,
    /// The service's name.
    pub service: String,
}

/// An ECS service revision ARN, its parts checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionArn {
    /// The whole ARN.
    pub arn: String,
    /// The cluster's name.
    pub cluster: String,
    /// The service's name.
    pub service: String,
    /// The revision's id (`01275892`).
    pub id: String,
}

/// The payload as the raw step reads it: every field of the right sort,
/// nothing more known of the values yet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawEcsEvent<'a> {
    /// `lifecycleStage`.
    pub lifecycle_stage: &'a str,
    /// `executionId`.
    pub execution_id: &'a str,
    /// `serviceArn`.
    pub service_arn: &'a str,
    /// `targetServiceRevisionArn`.
    pub target_revision_arn: &'a str,
    /// `testTrafficWeights`.
    pub test_weights: &'a Map<String, Value>,
    /// `productionTrafficWeights`.
    pub production_weights: &'a Map<String, Value>,
    /// `hookDetails`, when sent.
    pub hook_details: Option<&'a Map<String, Value>>,
}

/// One validated invocation of the ECS lifecycle hook function.
#[derive(Debug, Clone, PartialEq)]
pub struct EcsInvocation {
    /// The stage ECS runs the hook for.
    pub stage: Hook,
    /// The execution id (checked to be a bounded token).
    pub execution_id: String,
    /// The service being deployed.
    pub service: ServiceArn,
    /// The revision being deployed (green).
    pub target_revision: RevisionArn,
    /// Test listener weight per revision ARN, percent.
    pub test_weights: BTreeMap<String, f64>,
    /// Production listener weight per revision ARN, percent.
    pub production_weights: BTreeMap<String, f64>,
    /// `hookDetails` as sent (the gate reads only its own field of it).
    pub hook_details: Map<String, Value>,
}

impl EcsInvocation {
    /// The key the function files this deployment under (audit chain head,
    /// switches, the bake seal, the record's `deployment_id`):
    /// `ecs.CLUSTER.SERVICE.REVISION`. A `.` appears in neither name nor
    /// the revision id, so two deployments never share a key, and every
    /// character is one an SSM parameter name allows.
    pub fn deployment_key(&self) -> String {
        format!(
            "ecs.{}.{}.{}",
            self.service.cluster, self.service.service, self.target_revision.id
        )
    }

    /// The production weight of the target (green) revision, when the
    /// payload gives one.
    pub fn target_production_weight(&self) -> Option<f64> {
        self.production_weights
            .get(&self.target_revision.arn)
            .copied()
    }
}

impl<'a> RawEcsEvent<'a> {
    /// The raw step: an object with each field of the right sort, the
    /// deployment's details read from `executionDetails` when it is there.
    pub fn from_value(payload: &'a Value) -> Result<RawEcsEvent<'a>, EcsEventError> {
        let top = payload.as_object().ok_or(EcsEventError::NotAnObject {
            found: json_type(payload),
        })?;
        let details = match top.get(EXECUTION_DETAILS) {
            None => top,
            Some(Value::Object(details)) => details,
            Some(other) => return Err(invalid(EXECUTION_DETAILS, "an object", other)),
        };
        let string = |object: &'a Map<String, Value>, name: &'static str| match object.get(name) {
            None => Err(EcsEventError::MissingField { field: name }),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.as_str()),
            Some(other) => Err(invalid(name, "a non-empty string", other)),
        };
        let map = |name: &'static str| match details.get(name) {
            None => Err(EcsEventError::MissingField { field: name }),
            Some(Value::Object(map)) => Ok(map),
            Some(other) => Err(invalid(
                name,
                "an object of service revision ARN to weight",
                other,
            )),
        };
        let hook_details = match top.get(HOOK_DETAILS) {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(map),
            Some(other) => return Err(invalid(HOOK_DETAILS, "an object", other)),
        };
        Ok(RawEcsEvent {
            lifecycle_stage: string(top, LIFECYCLE_STAGE)?,
            execution_id: string(top, EXECUTION_ID)?,
            service_arn: string(details, SERVICE_ARN)?,
            target_revision_arn: string(details, TARGET_REVISION)?,
            test_weights: map(TEST_WEIGHTS)?,
            production_weights: map(PRODUCTION_WEIGHTS)?,
            hook_details,
        })
    }

    /// The validated step: a stage a hook can be attached to, ARNs of ECS's
    /// shape, weights of this service's revisions between 0 and 100.
    pub fn validate(self) -> Result<EcsInvocation, EcsEventError> {
        let stage = Hook::parse_ecs_stage(self.lifecycle_stage).ok_or_else(|| {
            EcsEventError::UnknownStage {
                found: preview(self.lifecycle_stage, PREVIEW_CHARS),
                known: Hook::ECS_STAGES
                    .iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        })?;
        let execution_id = execution_id(self.execution_id)?;
        let service = service_arn(self.service_arn).ok_or_else(|| EcsEventError::InvalidField {
            field: SERVICE_ARN.into(),
            expected: "an ECS service ARN, arn:PARTITION:ecs:REGION:ACCOUNT:service/CLUSTER/SERVICE (names of 1-255 letters, digits, _ and -)",
            found: preview(self.service_arn, PREVIEW_CHARS),
        })?;
        let target_revision = revision_of(&service, TARGET_REVISION, self.target_revision_arn)?;
        let weights = |field: &'static str, map: &Map<String, Value>| {
            let mut weights = BTreeMap::new();
            for (arn, weight) in map {
                revision_of(&service, field, arn)?;
                let percent = weight
                    .as_f64()
                    .filter(|w| (0.0..=100.0).contains(w))
                    .ok_or_else(|| EcsEventError::InvalidField {
                        field: format!("{field}[{}]", preview(arn, PREVIEW_CHARS)),
                        expected: "a weight between 0 and 100",
                        found: describe(weight),
                    })?;
                weights.insert(arn.clone(), percent);
            }
            Ok(weights)
        };
        Ok(EcsInvocation {
            stage,
            execution_id,
            test_weights: weights(TEST_WEIGHTS, self.test_weights)?,
            production_weights: weights(PRODUCTION_WEIGHTS, self.production_weights)?,
            hook_details: self.hook_details.cloned().unwrap_or_default(),
            service,
            target_revision,
        })
    }
}

/// Parses and checks an ECS lifecycle payload: both steps.
pub fn parse_ecs_event(payload: &Value) -> Result<EcsInvocation, EcsEventError> {
    RawEcsEvent::from_value(payload)?.validate()
}

fn invalid(field: &str, expected: &'static str, found: &Value) -> EcsEventError {
    EcsEventError::InvalidField {
        field: field.to_string(),
        expected,
        found: describe(found),
    }
}

fn describe(value: &Value) -> String {
    format!("{} {}", json_type(value), truncate(&value.to_string()))
}

fn execution_id(text: &str) -> Result<String, EcsEventError> {
    let fine = text.len() <= EXECUTION_ID_MAX_CHARS
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/' | '+' | '=')
        });
    if fine {
        Ok(text.to_string())
    } else {
        Err(EcsEventError::InvalidField {
            field: EXECUTION_ID.into(),
            expected: "a token of at most 512 letters, digits and - _ . : / + =",
            found: preview(text, PREVIEW_CHARS),
        })
    }
}

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= NAME_MAX_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `arn:PARTITION:ecs:REGION:ACCOUNT:RESOURCE`, the resource returned.
fn ecs_arn(text: &str) -> Option<(&str, &str, &str, &str)> {
    let mut parts = text.splitn(6, ':');
    let (arn, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let lower = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    let fine = arn == "arn"
        && service == "ecs"
        && lower(partition)
        && lower(region)
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit());
    fine.then_some((partition, region, account, resource))
}

fn service_arn(text: &str) -> Option<ServiceArn> {
    let (partition, region, account, resource) = ecs_arn(text)?;
    let mut path = resource.split('/');
    let (kind, cluster, service) = (path.next()?, path.next()?, path.next()?);
    let fine = kind == "service" && path.next().is_none() && is_name(cluster) && is_name(service);
    fine.then(|| ServiceArn {
        arn: text.to_string(),
        partition: partition.to_string(),
        region: region.to_string(),
        account: account.to_string(),
        cluster: cluster.to_string(),
        service: service.to_string(),
    })
}

/// A revision ARN of `service` (same partition, region, account, cluster and
/// service), or the error for `field`.
fn revision_of(
    service: &ServiceArn,
    field: &'static str,
    text: &str,
) -> Result<RevisionArn, EcsEventError> {
    let shape = || {
        EcsEventError::InvalidField {
        field: field.into(),
        expected: "an ECS service revision ARN, arn:PARTITION:ecs:REGION:ACCOUNT:service-revision/CLUSTER/SERVICE/ID (ID of 1-64 letters and digits)",
        found: preview(text, PREVIEW_CHARS),
    }
    };
    let (partition, region, account, resource) = ecs_arn(text).ok_or_else(shape)?;
    let mut path = resource.split('/');
    let (kind, cluster, name, id) = (path.next(), path.next(), path.next(), path.next());
    let (Some("service-revision"), Some(cluster), Some(name), Some(id), None) =
        (kind, cluster, name, id, path.next())
    else {
        return Err(shape());
    };
    let id_fine = !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric());
    if !(is_name(cluster) && is_name(name) && id_fine) {
        return Err(shape());
    }
    let same = partition == service.partition
        && region == service.region
        && account == service.account
        && cluster == service.cluster
        && name == service.service;
    if !same {
        return Err(EcsEventError::ForeignRevision {
            field,
            found: preview(text, PREVIEW_CHARS),
            service: service.arn.clone(),
        });
    }
    Ok(RevisionArn {
        arn: text.to_string(),
        cluster: cluster.to_string(),
        service: name.to_string(),
        id: id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SERVICE: &str = "arn:aws:ecs:us-west-2:123456789012:service/web-cluster/web";
    const GREEN: &str =
        "arn:aws:ecs:us-west-2:123456789012:service-revision/web-cluster/web/01275892";
    const BLUE: &str =
        "arn:aws:ecs:us-west-2:123456789012:service-revision/web-cluster/web/01275800";

    fn payload() -> Value {
        json!({
            "executionId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
            "lifecycleStage": "PRODUCTION_TRAFFIC_SHIFT",
            "executionDetails": {
                "serviceArn": SERVICE,
                "targetServiceRevisionArn": GREEN,
                "testTrafficWeights": {},
                "productionTrafficWeights": { GREEN: 20, BLUE: 80 }
            }
        })
    }

    fn error(payload: &Value) -> String {
        parse_ecs_event(payload).unwrap_err().to_string()
    }

    #[test]
    fn a_documented_payload_is_read_nested_or_flat() {
        let nested = parse_ecs_event(&payload()).unwrap();
        assert_eq!(nested.stage, Hook::EcsProductionTrafficShift);
        assert_eq!(nested.service.cluster, "web-cluster");
        assert_eq!(nested.target_revision.id, "01275892");
        assert_eq!(nested.target_production_weight(), Some(20.0));
        assert_eq!(nested.deployment_key(), "ecs.web-cluster.web.01275892");
        assert!(nested.hook_details.is_empty());

        let mut flat = payload();
        let details = flat
            .as_object_mut()
            .unwrap()
            .remove("executionDetails")
            .unwrap();
        for (k, v) in details.as_object().unwrap() {
            flat[k] = v.clone();
        }
        flat["hookDetails"] = json!({"team": "web"});
        let flat = parse_ecs_event(&flat).unwrap();
        assert_eq!(flat.production_weights, nested.production_weights);
        assert_eq!(flat.hook_details["team"], "web");
    }

    #[test]
    fn each_bad_field_is_named() {
        assert!(error(&json!([1])).contains("not a JSON object (found an array)"));
        let mut p = payload();
        p.as_object_mut().unwrap().remove("lifecycleStage");
        assert!(
            error(&p).contains("no `lifecycleStage` field"),
            "{}",
            error(&p)
        );

        let mut p = payload();
        p["lifecycleStage"] = json!("BAKE_TIME");
        assert!(
            error(&p)
                .contains("not a stage a lifecycle hook can be attached to (RECONCILE_SERVICE, "),
            "{}",
            error(&p)
        );

        let mut p = payload();
        p["executionDetails"]["serviceArn"] =
            json!("arn:aws:ecs:us-west-2:123456789012:service/web cluster/web");
        assert!(
            error(&p).contains("`serviceArn` must be an ECS service ARN"),
            "{}",
            error(&p)
        );

        let mut p = payload();
        p["executionDetails"]["targetServiceRevisionArn"] = json!(42);
        assert!(
            error(&p).contains(
                "`targetServiceRevisionArn` must be a non-empty string, found a number 42"
            ),
            "{}",
            error(&p)
        );

        let mut p = payload();
        p["executionDetails"]["productionTrafficWeights"] = json!({ GREEN: 120 });
        assert!(
            error(&p).contains("must be a weight between 0 and 100, found a number 120"),
            "{}",
            error(&p)
        );

        let mut p = payload();
        p["executionDetails"]["productionTrafficWeights"] = json!({
            "arn:aws:ecs:us-west-2:123456789012:service-revision/other/api/1": 100
        });
        assert!(
            error(&p).contains("a revision of another service"),
            "{}",
            error(&p)
        );

        let mut p = payload();
        p["executionId"] = json!("x".repeat(600));
        assert!(
            error(&p).contains("`executionId` must be a token"),
            "{}",
            error(&p)
        );

        let mut p = payload();
        p["hookDetails"] = json!("state");
        assert!(
            error(&p).contains("`hookDetails` must be an object"),
            "{}",
            error(&p)
        );
    }

    #[test]
    fn a_hostile_value_is_quoted_escaped_and_bounded() {
        let mut p = payload();
        p["lifecycleStage"] = json!(format!("\u{1b}[2J{}", "A".repeat(10_000)));
        let message = error(&p);
        assert!(!message.contains('\u{1b}'), "{message}");
        assert!(message.len() < 600, "{}", message.len());
    }
}
