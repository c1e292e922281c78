//! The four CodeDeploy lifecycle hooks this project gates, and their names.
//!
//! One enum, used everywhere (policy sections, decision records, binaries), so a
//! hook's spelling exists in exactly one place: CodeDeploy's own AppSpec spelling.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A CodeDeploy lifecycle hook that can invoke a gate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Hook {
    /// Before the replacement task set or version is installed: nothing has moved yet.
    BeforeInstall,
    /// After the test listener sends traffic to the replacement.
    AfterAllowTestTraffic,
    /// Before production traffic moves to the replacement.
    BeforeAllowTraffic,
    /// After production traffic has moved to the replacement.
    AfterAllowTraffic,
}

impl Hook {
    /// Every hook, in lifecycle order.
    pub const ALL: [Hook; 4] = [
        Hook::BeforeInstall,
        Hook::AfterAllowTestTraffic,
        Hook::BeforeAllowTraffic,
        Hook::AfterAllowTraffic,
    ];

    /// The AppSpec spelling, e.g. `BeforeAllowTraffic`.
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::BeforeInstall => "BeforeInstall",
            Hook::AfterAllowTestTraffic => "AfterAllowTestTraffic",
            Hook::BeforeAllowTraffic => "BeforeAllowTraffic",
            Hook::AfterAllowTraffic => "AfterAllowTraffic",
        }
    }

    /// Parses the AppSpec spelling or the binary's kebab-case name.
    pub fn parse(name: &str) -> Option<Hook> {
        Hook::ALL
            .into_iter()
            .find(|h| h.as_str() == name || h.binary_name() == name)
    }

    /// The name of the Lambda binary that serves this hook.
    pub fn binary_name(self) -> &'static str {
        match self {
            Hook::BeforeInstall => "before-install",
            Hook::AfterAllowTestTraffic => "after-allow-test-traffic",
            Hook::BeforeAllowTraffic => "before-allow-traffic",
            Hook::AfterAllowTraffic => "after-allow-traffic",
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_spellings() {
        for hook in Hook::ALL {
            assert_eq!(Hook::parse(hook.as_str()), Some(hook));
            assert_eq!(Hook::parse(hook.binary_name()), Some(hook));
        }
        assert_eq!(Hook::parse("AfterInstall"), None);
    }
}
