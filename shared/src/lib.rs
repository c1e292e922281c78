//! The metric-gate library behind the codedeploy-gates hook functions.
//!
//! A CodeDeploy lifecycle hook gathers evidence, judges it and reports
//! `Succeeded` or `Failed`. The library keeps those steps apart, so each can be
//! tested on its own and the judging, which decides whether production rolls
//! back, stays a pure function:
//!
//! - [`policy`]: what each hook checks, parsed and validated from YAML;
//! - [`analysis`]: bake analyses longer than one Lambda run (state, next step);
//! - [`window`]: which settled periods a gate judges;
//! - [`evidence`]: providers that fetch (CloudWatch metrics and alarms,
//!   CodeDeploy) and the plan of what to fetch;
//! - [`judge`]: evidence to verdict, pure;
//! - [`report`]: the status call, the decision record, metrics and alerts;
//! - [`audit`]: the hash chain of decision records and its verification;
//! - [`run`]: one execution with its fail-closed rules (deadline, panic, report once);
//! - [`lambda`]: the Lambda edge every hook binary calls;
//! - [`rehearsal`]: offline game days on a simulated clock (`gatectl rehearse`);
//! - [`event`] and [`hook`]: the CodeDeploy event and hook names.
#![deny(missing_docs)]

pub mod analysis;
pub mod audit;
pub mod aws_http;
pub mod bind;
pub mod continuation;
pub mod event;
pub mod evidence;
pub mod judge;
pub mod lambda;
pub mod policy;
pub mod rehearsal;
pub mod report;
pub mod run;
pub mod vocab;
pub mod window;

pub use vocab::Hook;
