//! Which side of a comparison something belongs to: the canary or its
//! baseline. One enum for discovery, binding, the statistics and the judge's
//! reasons, so "baseline" is spelt in one place.

use serde::Serialize;
use std::fmt;

/// Which side of the comparison a value, a reference or a series is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The new version being deployed (ECS Green task set, Lambda target version).
    Canary,
    /// The version it replaces (ECS Blue task set, Lambda current version), or
    /// the same metric's own history.
    Baseline,
}

impl Side {
    /// `canary` or `baseline`, as written in a policy.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Canary => "canary",
            Side::Baseline => "baseline",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
