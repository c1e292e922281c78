//! Limits that keep a hook's decision record inside one CloudWatch Logs
//! event. The record (`report::record`) is one JSON line, and a line over
//! 256 KiB is cut, no longer parses and breaks its deployment's audit chain.
//! The record leaves out the per-period series when it must, but every gate's
//! name, outcome, reason and figures stay, and those are made of what the
//! policy writes: gate names, metric labels, alarm names, probe URLs. Six
//! gates named with 100,000 characters each made a 1 MB record.
//!
//! So validation holds each of those strings to a limit (CloudWatch's own
//! for its names), and each hook section to a bound computed from them:
//! [`record_bytes_at_most`] adds up, gate by gate, the most the record can
//! hold about the gate once every omission is made, and a section whose sum
//! passes [`RECORD_BUDGET`] is refused. `shared/tests/record_bound.rs` builds
//! the worst record a policy at the bound can produce and checks it fits.

use super::{GateCheck, HookPolicy, MetricQuery};

/// The longest gate name. A name appears up to eight times in a record (the
/// gate, each omission step, the hook's reason).
pub const MAX_GATE_NAME_CHARS: usize = 64;
/// The most gates one hook section may have.
pub const MAX_GATES_PER_HOOK: usize = 100;
/// CloudWatch's limit on a namespace, a metric name, a dimension name and an
/// alarm name.
pub const MAX_CLOUDWATCH_NAME_CHARS: usize = 255;
/// CloudWatch's limit on a dimension value.
pub const MAX_DIMENSION_VALUE_CHARS: usize = 1024;
/// The longest probe URL.
pub const MAX_PROBE_URL_CHARS: usize = 2048;
/// The longest gate description (not in the record, but read into memory
/// at every cold start).
pub const MAX_DESCRIPTION_CHARS: usize = 1024;

/// The most flags one hook's `kill_switch` may name: the record lists each
/// with what became of it (an AWS error cut to 400 characters), inside
/// [`RECORD_FIXED_BYTES`].
pub const MAX_KILL_SWITCH_FLAGS: usize = 10;

/// The bytes of JSON a decision record may take for its gates and the rest:
/// `report::LOG_EVENT_BOUND`, the line's bound (checked equal in
/// `shared/tests/record_bound.rs`; the report layer sits above this one).
pub const RECORD_BUDGET: usize = 240 * 1024;

/// What a record holds besides the gates: ids, the deployment as CodeDeploy
/// describes it, discovery, switches, the policy's path, the audit link.
pub const RECORD_FIXED_BYTES: usize = 16 * 1024;
/// A gate's figures besides its strings: keys, numbers, threshold and rule
/// text, a statistical test's figures, the sample.
pub const GATE_FIXED_BYTES: usize = 1024;
/// The longest reason the judge writes about one gate, besides the one label
/// or alarm name it may quote; an AWS error in it is cut to 400 characters
/// (`vocab::text::MAX_ERROR_CHARS`).
pub const REASON_BYTES: usize = 512;
/// What a discovered value (`${canary.target_group}`, ...) may take once
/// filled in: ARNs and names of the services discovery reads are shorter.
pub const DISCOVERED_VALUE_BYTES: usize = 160;
/// A series' entry in the record besides its label: keys, counts, and the
/// status, which names the series again when CloudWatch failed it
/// ("CloudWatch status InternalError for <label>").
pub const SERIES_ENTRY_BYTES: usize = 128;
/// A probe's attempts as the record lists them (at most 20, each with an
/// error cut to 400 characters).
pub const PROBE_ATTEMPTS_BYTES: usize = 20 * 512;

/// The most bytes of JSON the record of one evaluation of `section` can take
/// once the record has left out everything it may (see the module's doc).
pub fn record_bytes_at_most(section: &HookPolicy) -> usize {
    RECORD_FIXED_BYTES
        + section
            .gates
            .iter()
            .map(|gate| {
                let name = json_len(&gate.name);
                let (strings, longest) = match &gate.check {
                    GateCheck::Threshold(check) => {
                        // Each query once in the completeness list, the
                        // sample's again, and a live baseline's queries too.
                        let labels: Vec<usize> = check.all_queries().map(label_bytes).collect();
                        let sample = check
                            .min_sample
                            .as_ref()
                            .map_or(0, |m| label_bytes(&m.query));
                        let longest = labels.iter().copied().max().unwrap_or(0);
                        (labels.iter().sum::<usize>() + sample, longest)
                    }
                    GateCheck::Alarms(check) => {
                        let names: usize = check.names.iter().map(|n| json_len(n)).sum();
                        let prefix = check.prefix.as_deref().map_or(0, json_len);
                        (names + prefix, names + prefix)
                    }
                    GateCheck::Probe(probe) => (PROBE_ATTEMPTS_BYTES, json_len(&probe.url)),
                    // The flag in its figures (two parts of it apart), the
                    // threshold text and the reason.
                    GateCheck::Flag(check) => {
                        let flag = json_len(&check.flag.to_string());
                        (3 * flag, flag)
                    }
                };
                // The reason is written twice: the gate's, and in the
                // hook's reason when the gate blocks.
                let reason = REASON_BYTES + longest;
                GATE_FIXED_BYTES + 8 * (name + 16) + strings + 2 * reason
            })
            .sum::<usize>()
}

/// A query's label as the record names a series ("baseline: " and the
/// query's display), with each discovered value at its largest.
fn label_bytes(query: &MetricQuery) -> usize {
    let placeholders: usize = query
        .dimensions
        .iter()
        .map(|(_, value)| super::reference::references(value).count())
        .sum();
    2 * (json_len(&format!("baseline: {query}")) + placeholders * DISCOVERED_VALUE_BYTES)
        + SERIES_ENTRY_BYTES
}

/// The bytes `text` takes as a JSON string.
fn json_len(text: &str) -> usize {
    serde_json::to_string(text).map_or(text.len() * 6, |json| json.len())
}
