//! The policy module's unit tests, all in this folder, by topic. Each reads
//! policies through the public API ([`Policy::from_yaml`] and friends), so the
//! tests hold whatever way the validator is split.
//!
//! - `shipped`: the embedded default and the example policy;
//! - `hooks`: hook sections, gate shapes, and problems named with their place;
//! - `metrics`: metric queries, references, statistics and threshold values;
//! - `baselines`: baselines, relative bounds, statistical tests, canary score;
//! - `probes`: probe gates and `probe_hosts`;
//! - `ecs`: sections for the ECS-native lifecycle stages.
//! - `flags`: feature-flag gates and kill switches.

use super::*;

mod baselines;
mod ecs;
mod edges;
mod flags;
mod hooks;
mod metrics;
mod probes;
mod shipped;

fn alb_env(name: &str) -> Option<String> {
    match name {
        "TARGET_GROUP" => Some("targetgroup/web-green/0123456789abcdef".into()),
        "LOAD_BALANCER" => Some("app/web/fedcba9876543210".into()),
        _ => None,
    }
}

fn problems(yaml: &str) -> Vec<String> {
    Policy::from_yaml(yaml, "gates.yaml", &alb_env)
        .unwrap_err()
        .problems()
        .iter()
        .map(ToString::to_string)
        .collect()
}
