//! Binding: placing a policy on one deployment. What deployment discovery
//! found fills `${canary.KEY}` and `${baseline.KEY}`, and the deployment's
//! create time places `baseline: before_deployment` windows, so the plan and
//! the judge only ever see concrete queries and windows.
//!
//! Pure: the values come in as arguments (the providers that fetch them are in
//! [`crate::evidence`]), and the same inputs always bind the same way.

mod deployment_start;
mod discovered;

pub use deployment_start::bind_deployment_start;
pub use discovered::{
    bind_discovery, bind_found, BindError, Discovery, EcsTaskSet, LambdaTraffic, SubjectValues,
};
