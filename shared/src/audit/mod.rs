//! The audit trail's hash chain: decision records of one deployment, linked.
//!
//! Every decision record carries an [`AuditLink`]: its sequence number in its
//! deployment, the digest of the record before it, and its own digest, a
//! SHA-256 over the record's canonical JSON without the `audit.digest` field
//! (keys sorted at every level, no whitespace; see [`canonical_json`]). The
//! chain's head (the newest record's sequence and digest) is kept outside the
//! logs, in an SSM parameter per deployment ([`head_parameter`]), which the
//! hook reads in the same `GetParameters` call as its switches and overwrites
//! after the status has been reported.
//!
//! A verifier ([`verify`]) recomputes every digest and walks each deployment's
//! chain: an edited record no longer matches its digest, a deleted one leaves
//! a gap in the sequence, a replaced or reordered one breaks the next link, and
//! with the head from SSM a truncated tail shows too. What the chain does not
//! do is authenticate: the digests are unkeyed, so whoever can both rewrite the
//! logs and overwrite the head parameter can forge a consistent chain. That is
//! what IAM on the log groups and the parameter is for (see `docs/audit.md`).
//!
//! The verification is pure and works on `serde_json::Value`s, so it reads
//! records exactly as they were logged, including fields a later version adds.
//! Reading the records is in `read` ([`read_records`]: every line classified,
//! JSON read with duplicate keys refused by `json`), the walk in `verify`.

pub use crate::evidence::switches::{head_parameter, ChainHead, HeadStore, StoredHead};
pub use read::{read_record, read_records, ReadRecord, Reading, LINE_BOUND};
pub use verify::{verify, Break, ChainReport};

use crate::vocab::digest::is_digest;
use crate::vocab::sha256_digest;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

mod json;
mod read;
mod verify;

/// The `record` field of every decision record: what a verifier looks for
/// among log lines, and the format's version.
pub const RECORD_KIND: &str = "codedeploy-gates.decision.v1";

/// What the audit trail can fail at: a record or a chain head it cannot read.
/// (A broken chain is not an error: the verifier reports it, see [`Break`].)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// A log line, or an exported event's message, that is not JSON.
    #[error("{origin}: not JSON: {reason}")]
    NotJson {
        /// `FILE:LINE` or `FILE: event N`.
        origin: String,
        /// The parser's message.
        reason: String,
    },
    /// An exported log event without a `message` string.
    #[error("{origin}: the event has no message")]
    NoMessage {
        /// `FILE: event N`.
        origin: String,
    },
    /// A line whose bytes are not UTF-8: no hook prints one.
    #[error("{origin}: not UTF-8 (byte {column} of the line): no hook writes such a line")]
    NotUtf8 {
        /// `FILE:LINE`.
        origin: String,
        /// The first byte that is not, from 1.
        column: usize,
    },
    /// A line longer than a CloudWatch Logs event can be ([`LINE_BOUND`]).
    #[error("{origin}: {bytes} bytes, longer than a CloudWatch Logs event can be ({LINE_BOUND} bytes): no record was logged whole like this")]
    TooLong {
        /// `FILE:LINE` or `FILE: event N`.
        origin: String,
        /// The line's length.
        bytes: usize,
    },
    /// JSON with a key given twice in one object: readers disagree on which
    /// value counts (serde_json keeps the last, others the first).
    #[error("{origin}: {detail} (column {column}): a key given twice is read differently by different readers, so the line cannot be trusted")]
    DuplicateKey {
        /// `FILE:LINE` or `FILE: event N`.
        origin: String,
        /// Where in the line (or the message), from 1.
        column: usize,
        /// Which key, and in which object.
        detail: String,
    },
    /// A record of a kind (a version) this verifier does not read.
    #[error("{origin}: a record of kind {kind:?}, which this version does not read (it reads {RECORD_KIND})")]
    UnknownKind {
        /// `FILE:LINE` or `FILE: event N`.
        origin: String,
        /// The `record` field.
        kind: String,
    },
    /// A line that is neither a decision record nor a line the hooks' log
    /// groups otherwise hold.
    #[error("{origin}: not a decision record, EMF metrics, a hook's log line or a Lambda platform line ({what}); export the log groups with the filter pattern '{{ $.record = \"{RECORD_KIND}\" }}' to leave other lines out")]
    UnknownLine {
        /// `FILE:LINE` or `FILE: event N`.
        origin: String,
        /// What it is instead, in a few words.
        what: String,
    },
    /// A decision record that cannot be placed in any chain.
    #[error("{origin}: {problem}")]
    Malformed {
        /// `FILE:LINE` or `FILE: event N`.
        origin: String,
        /// What is wrong with it.
        problem: String,
    },
    /// This run keeps no chain head, so its record cannot be chained.
    #[error("no chain head is kept: the switches are off (GATE_SWITCH_PREFIX=none)")]
    HeadNotKept,
    /// The head could not be read (the switch source failed).
    #[error("the chain head could not be read: {0}")]
    HeadUnreadable(String),
    /// The head's stored text is not JSON `{"sequence", "digest"}`.
    #[error("the chain head {text:?} is not JSON {{\"sequence\", \"digest\"}}: {reason}")]
    HeadNotJson {
        /// The stored text.
        text: String,
        /// The parser's message.
        reason: String,
    },
    /// The head parses but cannot be one: sequence 0, or not a SHA-256 digest.
    #[error("the chain head {text:?} needs a sequence from 1 and a sha256:<64 hex> digest")]
    HeadInvalid {
        /// The stored text.
        text: String,
    },
}

impl ChainHead {
    /// Reads a head as stored in its parameter (JSON `{"sequence", "digest"}`).
    /// (The type is the switches' storage, [`crate::evidence::ChainHead`];
    /// what a valid head is, is the chain's rule, so its reading is here.)
    pub fn parse(text: &str) -> Result<ChainHead, AuditError> {
        let head: ChainHead = serde_json::from_str(text).map_err(|e| AuditError::HeadNotJson {
            text: text.to_string(),
            reason: e.to_string(),
        })?;
        if head.sequence == 0 || !is_digest(&head.digest) {
            return Err(AuditError::HeadInvalid {
                text: text.to_string(),
            });
        }
        Ok(head)
    }
}

/// A record's place in its deployment's chain, as the record carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditLink {
    /// Position in the deployment's chain, from 1; absent for an unchained record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// The digest of the record before it; `null` for the first.
    pub previous_digest: Option<String>,
    /// SHA-256 of this record's canonical JSON without this field.
    pub digest: String,
    /// Why the record could not be linked (the head could not be read); the
    /// record still carries its own digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchained: Option<String>,
}

impl AuditLink {
    /// The link after `previous` (`None`: the deployment's first record), its
    /// digest still to be computed (`DecisionRecord::seal`).
    pub fn after(previous: Option<&ChainHead>) -> AuditLink {
        AuditLink {
            sequence: Some(previous.map_or(1, |head| head.sequence + 1)),
            previous_digest: previous.map(|head| head.digest.clone()),
            digest: String::new(),
            unchained: None,
        }
    }

    /// A link for a record that cannot join the chain, saying why.
    pub fn unchained(why: String) -> AuditLink {
        AuditLink {
            sequence: None,
            previous_digest: None,
            digest: String::new(),
            unchained: Some(why),
        }
    }

    /// The head this record makes, when it is chained.
    pub fn head(&self) -> Option<ChainHead> {
        self.sequence.map(|sequence| ChainHead {
            sequence,
            digest: self.digest.clone(),
        })
    }
}

/// The head the next record follows, from the head as it was read with the
/// switches (or why it could not be): `None` for a deployment's first record.
pub fn previous_head(stored: Result<&StoredHead, String>) -> Result<Option<ChainHead>, AuditError> {
    match stored {
        Ok(StoredHead::NotKept) => Err(AuditError::HeadNotKept),
        Ok(StoredHead::Absent) => Ok(None),
        Ok(StoredHead::Value(text)) => ChainHead::parse(text).map(Some),
        Err(why) => Err(AuditError::HeadUnreadable(why)),
    }
}

/// The link of the next record (see [`previous_head`]); a record that cannot
/// be chained says why.
pub fn next_link(stored: Result<&StoredHead, String>) -> AuditLink {
    match previous_head(stored) {
        Ok(previous) => AuditLink::after(previous.as_ref()),
        Err(why) => AuditLink::unchained(why.to_string()),
    }
}

/// Serialises `value` canonically: object keys sorted at every level, no
/// whitespace, numbers and strings as serde_json writes them. Deterministic for
/// a value parsed back from its own output, so a verifier reading the logged
/// line computes the digest the hook computed.
pub fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let ordered: BTreeMap<&String, Value> =
                    map.iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(ordered.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    // serde_json's map keeps insertion order only with `preserve_order`; sorting
    // explicitly makes the output canonical whichever map the build has.
    sorted(value).to_string()
}

/// The digest of a record given as JSON: SHA-256 of [`canonical_json`] with
/// `audit.digest` removed, as `sha256:<hex>`.
pub fn record_digest(record: &Value) -> String {
    let mut content = record.clone();
    if let Some(audit) = content.get_mut("audit").and_then(Value::as_object_mut) {
        audit.remove("digest");
    }
    sha256_digest(canonical_json(&content).as_bytes())
}

#[cfg(test)]
mod tests;
