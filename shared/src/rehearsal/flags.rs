//! The feature flags of a rehearsal: every flag the policy names starts out
//! enabled (the release is live behind its flags), and the kill switch turns
//! them off in memory, so a game day shows a failing canary killing its flag
//! without an AppConfig account.

use crate::evidence::{EvidenceError, FlagFlip, FlagSource, FlagValues, FlagWriter};
use crate::policy::{FlagProfile, FlagRef, GateCheck, Policy};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A profile's flags in memory: its version, and each flag's `enabled`.
type ProfileFlags = (i32, BTreeMap<String, bool>);

/// Flags in memory, with a version per profile as AppConfig numbers them.
#[derive(Debug, Default)]
pub struct RehearsalFlags {
    state: Mutex<BTreeMap<FlagProfile, ProfileFlags>>,
}

impl RehearsalFlags {
    /// Every flag `policy` names (flag gates, kill switches), enabled, at
    /// version 1 of its profile.
    pub fn for_policy(policy: &Policy) -> RehearsalFlags {
        let named = policy.hooks.values().flat_map(|section| {
            section
                .kill_switch
                .iter()
                .chain(section.gates.iter().filter_map(|gate| match &gate.check {
                    GateCheck::Flag(check) => Some(&check.flag),
                    _ => None,
                }))
        });
        let mut state: BTreeMap<FlagProfile, ProfileFlags> = BTreeMap::new();
        for flag in named {
            state
                .entry(flag.profile.clone())
                .or_insert_with(|| (1, BTreeMap::new()))
                .1
                .insert(flag.key.clone(), true);
        }
        RehearsalFlags {
            state: Mutex::new(state),
        }
    }
}

impl FlagSource for RehearsalFlags {
    async fn flags(&self, profile: &FlagProfile) -> Result<FlagValues, EvidenceError> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Ok(state
            .get(profile)
            .map(|(_, flags)| flags.clone())
            .unwrap_or_default())
    }
}

impl FlagWriter for RehearsalFlags {
    async fn turn_off(&self, flag: &FlagRef, _why: &str) -> Result<FlagFlip, EvidenceError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (version, flags) = state
            .entry(flag.profile.clone())
            .or_insert_with(|| (1, BTreeMap::new()));
        if !flags.get(&flag.key).copied().unwrap_or(false) {
            return Ok(FlagFlip::AlreadyOff { version: *version });
        }
        flags.insert(flag.key.clone(), false);
        *version += 1;
        Ok(FlagFlip::TurnedOff {
            from_version: *version - 1,
            version: *version,
            deployment: *version,
            strategy: crate::evidence::flags::IMMEDIATE_STRATEGY.into(),
        })
    }
}
