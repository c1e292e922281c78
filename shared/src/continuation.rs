//! Handing a bake analysis to the next Lambda run: an asynchronous invocation
//! of the function itself, with the event and the analysis state in the
//! payload, and the execution's seal in SSM Parameter Store.
//!
//! Why self-invocation rather than a Step Functions wait loop: it needs no
//! other resource to deploy, the state fits the payload (tens of
//! kilobytes for the longest bake, under Lambda's 256 KB asynchronous
//! limit), and every run is the same code path as the first. The
//! state is versioned and validated when read back
//! ([`crate::analysis::AnalysisState::from_json`]).
//!
//! Why a seal in SSM: anyone allowed to invoke the function can write a
//! payload, so a continuation is believed only when its state's digest is the
//! one this function recorded when it handed the run off
//! ([`crate::analysis::Seal`], [`crate::analysis::admit_continuation`]). The
//! hooks already use SSM under their prefix (the switches, the audit chain
//! head), so the seal needs no other service, key or resource: per execution,
//!
//! - `{prefix}bake/{deployment}/{execution digest}/seal`: the seal (a few hundred
//!   bytes: a standard parameter), overwritten at every hand-off and left, once
//!   the analysis reported, as a tombstone that makes later deliveries stand
//!   down: an advanced parameter that SSM deletes itself
//!   [`TOMBSTONE_SECS`] later, once Lambda can no longer deliver the event
//!   (six hours, the longest an asynchronous event is kept);
//! - `{prefix}bake/{deployment}/{execution digest}/run-{n}`: the claim of run n,
//!   created with `Overwrite: false`, which SSM refuses when it exists: of two
//!   deliveries of the same run, exactly one measures. Deleted after the report
//!   (only this run's, and the seal left running, when the report failed: the
//!   invocation's error makes Lambda retry the same event, which may then
//!   claim the run again).
//!
//! An ECS-native bake ([`SsmSeals`]) keeps the same seal and claims its
//! rounds as `run-{n}` in the same way (ECS may invoke a round again while it
//! runs), the claims deleted once its tombstone is written.
//!
//! The role may write under `{prefix}bake/` only (template.yaml); SSM's
//! `GetParameters` on the prefix was granted for the switches already.

use crate::analysis::{AnalysisState, Seal};
use crate::evidence::EvidenceError;
use crate::run::{Continuation, Execution};
use crate::vocab::sha256_digest;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_ssm::types::{ParameterTier, ParameterType};
use serde_json::json;

/// The payload field that carries the state.
pub const STATE_FIELD: &str = "gate_analysis";

/// Invokes the running function again, asynchronously, and keeps the seal.
#[derive(Debug, Clone)]
pub struct SelfInvoke {
    lambda: aws_sdk_lambda::Client,
    function_arn: String,
    ssm: aws_sdk_ssm::Client,
    prefix: String,
}

impl SelfInvoke {
    /// `function_arn` is the invoked function's ARN (from the Lambda context),
    /// so a continuation runs the same version or alias; `prefix` (an SSM path
    /// ending in `/`) is where the seals and claims live, under `bake/`.
    pub fn new(
        lambda: aws_sdk_lambda::Client,
        function_arn: &str,
        ssm: aws_sdk_ssm::Client,
        prefix: &str,
    ) -> Self {
        SelfInvoke {
            lambda,
            function_arn: function_arn.to_string(),
            ssm,
            prefix: prefix.to_string(),
        }
    }

    fn folder(&self, execution: &Execution) -> String {
        execution_folder(
            &self.prefix,
            &execution.deployment_id,
            &execution.execution_id,
        )
    }

    fn seal_name(&self, execution: &Execution) -> String {
        format!("{}seal", self.folder(execution))
    }

    fn claim_name(&self, execution: &Execution, run: u32) -> String {
        claim_name(&self.folder(execution), run)
    }
}

/// Puts `value` under `name`: `Ok(false)` when `overwrite` is off and the
/// parameter exists (SSM refuses it atomically: how a claim is taken).
async fn put_parameter(
    ssm: &aws_sdk_ssm::Client,
    name: String,
    value: String,
    overwrite: bool,
) -> Result<bool, EvidenceError> {
    match ssm
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::String)
        .overwrite(overwrite)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e)
            if !overwrite
                && e.as_service_error()
                    .is_some_and(|e| e.is_parameter_already_exists()) =>
        {
            Ok(false)
        }
        Err(e) => Err(ssm_error("PutParameter", &e)),
    }
}

/// Deletes the claims of runs (or rounds) 1 to `runs` in `folder`:
/// DeleteParameters takes ten names a call; names that are gone are listed
/// as invalid, not an error.
async fn delete_claims(
    ssm: &aws_sdk_ssm::Client,
    folder: &str,
    runs: u32,
) -> Result<(), EvidenceError> {
    let claims: Vec<String> = (1..=runs).map(|run| claim_name(folder, run)).collect();
    for names in claims.chunks(10) {
        delete_parameters(ssm, names.to_vec()).await?;
    }
    Ok(())
}

async fn delete_parameters(
    ssm: &aws_sdk_ssm::Client,
    names: Vec<String>,
) -> Result<(), EvidenceError> {
    ssm.delete_parameters()
        .set_names(Some(names))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| ssm_error("DeleteParameters", &e))
}

/// The claim of run (or round) `run` in an execution's `folder`.
fn claim_name(folder: &str, run: u32) -> String {
    format!("{folder}run-{run}")
}

/// What a claim holds: only its existence counts; the rest is for whoever
/// reads SSM.
fn claim_value(run: u32, claimed_at: i64) -> String {
    json!({"run": run, "claimed_at": claimed_at}).to_string()
}

fn ssm_error<E>(operation: &'static str, error: &aws_sdk_ssm::error::SdkError<E>) -> EvidenceError
where
    E: std::error::Error + aws_sdk_ssm::error::ProvideErrorMetadata + 'static,
{
    EvidenceError::Api {
        service: "SSM",
        operation,
        message: crate::evidence::aws_error(error),
    }
}

/// How long a concluded analysis's tombstone stays: Lambda keeps an
/// asynchronous event for at most 6 hours, so no delivery of any run can
/// arrive later than that after the report; one hour more for the run that
/// reported (15 minutes at most) and clock skew.
pub const TOMBSTONE_SECS: i64 = 7 * 3600;

/// An SSM parameter policy that deletes the parameter at `epoch_secs`.
/// Parameter policies need the advanced tier (US$0.05 a parameter-month,
/// prorated: well under a cent for seven hours), and advanced parameters
/// have a quota of 100,000 where standard ones have 10,000: without the
/// expiration, one tombstone per baked execution would use the standard
/// quota up.
fn expiration_policy(epoch_secs: i64) -> String {
    let at = aws_smithy_types::DateTime::from_secs(epoch_secs)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default();
    json!([{"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": at}}]).to_string()
}

/// The SSM folder of one execution's seal and claims, under `prefix`.
///
/// The execution id is base64 of several hundred characters: its `+` and `=`
/// are refused in an SSM name and its `/` would make levels of its own (SSM
/// allows 15), so the folder is named by the id's SHA-256 (64 hex characters)
/// instead. The deployment id is checked to be `d-` and 9 of `[A-Z0-9]`
/// before any run starts (`event`).
pub fn execution_folder(prefix: &str, deployment_id: &str, execution_id: &str) -> String {
    let digest = sha256_digest(execution_id.as_bytes());
    let hex = digest.strip_prefix("sha256:").unwrap_or(&digest);
    format!("{prefix}bake/{deployment_id}/{hex}/")
}

/// The payload of a continuation: the CodeDeploy event plus the state.
pub fn continuation_payload(execution: &Execution, state: &AnalysisState) -> serde_json::Value {
    json!({
        "DeploymentId": execution.deployment_id,
        "LifecycleEventHookExecutionId": execution.execution_id,
        STATE_FIELD: state.to_json(),
    })
}

impl Continuation for SelfInvoke {
    async fn seal(&self, execution: &Execution) -> Result<Option<Seal>, EvidenceError> {
        read_seal(&self.ssm, &self.seal_name(execution)).await
    }

    async fn claim(&self, execution: &Execution, run: u32) -> Result<bool, EvidenceError> {
        let claim = claim_value(run, execution.now);
        put_parameter(&self.ssm, self.claim_name(execution, run), claim, false).await
    }

    async fn hand_off(
        &self,
        execution: &Execution,
        state: &AnalysisState,
    ) -> Result<(), EvidenceError> {
        // Sealed first: the next run must find the seal when it starts.
        write_seal(
            &self.ssm,
            &self.seal_name(execution),
            &Seal::of(state),
            execution,
        )
        .await?;
        let payload = continuation_payload(execution, state);
        self.lambda
            .invoke()
            .function_name(&self.function_arn)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
            .map_err(|e| EvidenceError::Api {
                service: "Lambda",
                operation: "Invoke",
                message: crate::evidence::aws_error(&e),
            })?;
        Ok(())
    }

    async fn close(&self, execution: &Execution, seal: &Seal) -> Result<(), EvidenceError> {
        write_seal(&self.ssm, &self.seal_name(execution), seal, execution).await?;
        delete_claims(&self.ssm, &self.folder(execution), seal.runs).await
    }

    async fn release(&self, execution: &Execution, run: u32) -> Result<(), EvidenceError> {
        delete_parameters(&self.ssm, vec![self.claim_name(execution, run)]).await
    }
}

/// The seals of ECS-native bakes: the same parameters as a CodeDeploy bake's
/// (`{prefix}bake/{deployment}/{execution digest}/seal`, and `round-{n}`'s
/// claim as `run-{n}`, so that two invocations of the same round overlapping
/// measure once), with no self-invocation, since ECS itself invokes the
/// function again after an `IN_PROGRESS` answer ([`crate::run::ecs`]).
#[derive(Debug, Clone)]
pub struct SsmSeals {
    ssm: aws_sdk_ssm::Client,
    prefix: String,
}

impl SsmSeals {
    /// Seals under `prefix` (an SSM path ending in `/`), in `bake/`.
    pub fn new(ssm: aws_sdk_ssm::Client, prefix: &str) -> Self {
        SsmSeals {
            ssm,
            prefix: prefix.to_string(),
        }
    }

    fn folder(&self, execution: &Execution) -> String {
        execution_folder(
            &self.prefix,
            &execution.deployment_id,
            &execution.execution_id,
        )
    }

    fn seal_name(&self, execution: &Execution) -> String {
        format!("{}seal", self.folder(execution))
    }
}

impl crate::run::ecs::SealStore for SsmSeals {
    async fn seal(&self, execution: &Execution) -> Result<Option<Seal>, EvidenceError> {
        read_seal(&self.ssm, &self.seal_name(execution)).await
    }

    async fn put_seal(&self, execution: &Execution, seal: &Seal) -> Result<(), EvidenceError> {
        write_seal(&self.ssm, &self.seal_name(execution), seal, execution).await
    }

    async fn claim(&self, execution: &Execution, round: u32) -> Result<bool, EvidenceError> {
        let name = claim_name(&self.folder(execution), round);
        put_parameter(&self.ssm, name, claim_value(round, execution.now), false).await
    }

    async fn claimed_at(
        &self,
        execution: &Execution,
        round: u32,
    ) -> Result<Option<i64>, EvidenceError> {
        let name = claim_name(&self.folder(execution), round);
        let output = self
            .ssm
            .get_parameters()
            .names(&name)
            .send()
            .await
            .map_err(|e| ssm_error("GetParameters", &e))?;
        let Some(text) = output
            .parameters()
            .iter()
            .find(|p| p.name() == Some(name.as_str()))
            .and_then(|p| p.value())
        else {
            return Ok(None);
        };
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|claim| claim["claimed_at"].as_i64())
            .map(Some)
            .ok_or_else(|| EvidenceError::Api {
                service: "SSM",
                operation: "GetParameters",
                message: crate::evidence::bounded(format!(
                    "the claim {name} is unreadable: {}",
                    crate::evidence::bounded(text.to_string())
                )),
            })
    }

    async fn drop_claims(&self, execution: &Execution, rounds: u32) -> Result<(), EvidenceError> {
        delete_claims(&self.ssm, &self.folder(execution), rounds).await
    }
}

/// The seal kept under `name`, `None` when there is none.
async fn read_seal(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<Option<Seal>, EvidenceError> {
    let output = ssm
        .get_parameters()
        .names(name)
        .send()
        .await
        .map_err(|e| ssm_error("GetParameters", &e))?;
    let Some(text) = output
        .parameters()
        .iter()
        .find(|p| p.name() == Some(name))
        .and_then(|p| p.value())
    else {
        return Ok(None);
    };
    Seal::from_text(text)
        .map(Some)
        .map_err(|error| EvidenceError::Api {
            service: "SSM",
            operation: "GetParameters",
            message: crate::evidence::bounded(format!("the seal {name} is unreadable: {error}")),
        })
}

/// Writes `seal` under `name`, overwriting: a standard parameter while the
/// analysis runs, and once it concluded a tombstone that SSM deletes
/// [`TOMBSTONE_SECS`] after `execution` started ([`expiration_policy`]).
async fn write_seal(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    seal: &Seal,
    execution: &Execution,
) -> Result<(), EvidenceError> {
    let put = ssm
        .put_parameter()
        .name(name)
        .value(seal.to_text())
        .r#type(ParameterType::String)
        .overwrite(true);
    let put = match seal.concluded {
        Some(_) => put
            .tier(ParameterTier::Advanced)
            .policies(expiration_policy(execution.now + TOMBSTONE_SECS)),
        None => put,
    };
    put.send()
        .await
        .map(|_| ())
        .map_err(|e| ssm_error("PutParameter", &e))
}
