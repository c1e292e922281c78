//! The verifier: every digest recomputed (chained or not), each record's
//! audit link checked for shape, each deployment's chain walked link by link.
//! What it finds are reports, not errors: a broken chain is the answer to the
//! question asked. It fails closed: a record it cannot check (no digest, a
//! sequence from 0, ...) is a break naming the field, never a record passed
//! over; two records at one place are a duplicate delivery only when they
//! agree on everything but [`DELIVERY_METADATA`].

use super::{read, record_digest, ChainHead, ReadRecord};
use crate::vocab::hook::Hook;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// A record as the verifier reads it, its audit link checked for shape.
#[derive(Debug, Clone)]
struct Entry<'a> {
    /// The record as read (its origin, for messages; its content, to
    /// compare two records at one place).
    read: &'a ReadRecord,
    execution_id: &'a str,
    hook: &'a str,
    link: Link<'a>,
    stated_digest: &'a str,
    actual_digest: String,
}

impl<'a> Entry<'a> {
    /// The digest of the record before it, for a chained record.
    fn previous(&self) -> Option<&'a str> {
        match self.link {
            Link::Chained { previous, .. } => previous,
            Link::Unchained(_) => None,
        }
    }

    fn origin(&self) -> &str {
        &self.read.origin
    }

    fn intact(&self) -> bool {
        self.stated_digest == self.actual_digest
    }
}

/// Where a record says it belongs.
#[derive(Debug, Clone, Copy)]
enum Link<'a> {
    /// In its deployment's chain, after the record with `previous` (`None`
    /// for the first).
    Chained {
        sequence: u64,
        previous: Option<&'a str>,
    },
    /// Outside any chain, for the reason given.
    Unchained(&'a str),
}

/// What is wrong with a chain, at one link.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Break {
    /// A record whose audit link is missing or not of the right shape (no
    /// digest, a digest that is not one, a sequence from 0, ...): it cannot
    /// be verified, so it counts as a break, never as a skipped line.
    Malformed {
        /// Its sequence number, when it has a valid one.
        sequence: Option<u64>,
        /// Where it was read.
        origin: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An unchained record whose content does not match its digest: edited.
    AlteredUnchained {
        /// Where it was read.
        origin: String,
    },
    /// The record's content does not match its digest: it was edited.
    Altered {
        /// Its sequence number.
        sequence: u64,
        /// Where it was read.
        origin: String,
    },
    /// No record has this sequence number.
    Missing {
        /// The first missing sequence number.
        from: u64,
        /// The last missing one.
        to: u64,
    },
    /// The record names a previous digest that is not its predecessor's.
    Relinked {
        /// Its sequence number.
        sequence: u64,
        /// Where it was read.
        origin: String,
        /// The sequence of the record whose digest it names, if one in the input does.
        links_to: Option<u64>,
    },
    /// The first record names a predecessor.
    FirstHasPredecessor {
        /// Where it was read.
        origin: String,
    },
    /// Two different records claim the same place, and the fork is not a
    /// duplicate delivery of one event: they differ in more than delivery
    /// metadata (see [`DELIVERY_METADATA`]).
    Fork {
        /// The contested sequence number.
        sequence: u64,
        /// Where each was read.
        origins: Vec<String>,
        /// The first difference, `path: one vs other`.
        difference: String,
    },
    /// The records end elsewhere than the head kept in SSM.
    HeadMismatch {
        /// The head as stored.
        head: ChainHead,
        /// The newest record read, if any.
        last: Option<ChainHead>,
    },
}

impl Break {
    /// The sequence number the break is at, for ordering.
    fn at(&self) -> u64 {
        match self {
            Break::Malformed { sequence, .. } => sequence.unwrap_or(0),
            Break::AlteredUnchained { .. } => 0,
            Break::Altered { sequence, .. }
            | Break::Relinked { sequence, .. }
            | Break::Fork { sequence, .. } => *sequence,
            Break::Missing { from, .. } => *from,
            Break::FirstHasPredecessor { .. } => 1,
            Break::HeadMismatch { head, .. } => head.sequence,
        }
    }
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Break::Malformed {
                sequence: Some(sequence),
                origin,
                problem,
            } => write!(f, "record {sequence} ({origin}) cannot be verified: {problem}"),
            Break::Malformed {
                sequence: None,
                origin,
                problem,
            } => write!(f, "the record at {origin} cannot be verified: {problem}"),
            Break::AlteredUnchained { origin } => write!(
                f,
                "the unchained record at {origin} was altered: its content no longer matches its digest"
            ),
            Break::Altered { sequence, origin } => write!(
                f,
                "record {sequence} ({origin}) was altered: its content no longer matches its digest"
            ),
            Break::Missing { from, to } if from == to => {
                write!(f, "record {from} is missing")
            }
            Break::Missing { from, to } => write!(f, "records {from} to {to} are missing"),
            Break::Relinked {
                sequence,
                origin,
                links_to: Some(other),
            } => write!(
                f,
                "record {sequence} ({origin}) follows record {other}, not record {}: records were reordered or replaced",
                sequence - 1
            ),
            Break::Relinked {
                sequence,
                origin,
                links_to: None,
            } => write!(
                f,
                "record {sequence} ({origin}) does not follow record {}: its previous_digest names a record not in the input (record {} was replaced or removed)",
                sequence - 1,
                sequence - 1
            ),
            Break::FirstHasPredecessor { origin } => write!(
                f,
                "record 1 ({origin}) names a predecessor: the chain was rebuilt or its start is missing"
            ),
            Break::Fork {
                sequence,
                origins,
                difference,
            } => write!(
                f,
                "record {sequence} exists twice ({}) and not as a duplicate delivery of one event: the two differ in {difference}",
                origins.join(", ")
            ),
            Break::HeadMismatch {
                head,
                last: Some(last),
            } if last.sequence < head.sequence => write!(
                f,
                "records {} to {} are missing: the head in SSM is at record {} but the records end at {}",
                last.sequence + 1,
                head.sequence,
                head.sequence,
                last.sequence
            ),
            Break::HeadMismatch { head, last } => write!(
                f,
                "the head in SSM (record {}, {}) is not the newest record ({})",
                head.sequence,
                head.digest,
                last.as_ref()
                    .map(|l| format!("record {}, {}", l.sequence, l.digest))
                    .unwrap_or_else(|| "none read".into())
            ),
        }
    }
}

/// One deployment's chain, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// The deployment.
    pub deployment_id: String,
    /// Distinct chained records read.
    pub records: usize,
    /// The newest record of the main chain.
    pub last: Option<ChainHead>,
    /// Every break, first link first.
    pub breaks: Vec<Break>,
    /// Things a reviewer should see that do not break the chain: unchained
    /// records (with their reason), duplicate deliveries on a side branch.
    pub notes: Vec<String>,
}

impl ChainReport {
    /// Whether the chain holds.
    pub fn intact(&self) -> bool {
        self.breaks.is_empty()
    }
}

/// The fields two deliveries of one hook execution may differ in: what
/// happened to this delivery, not what was decided. `report` is CodeDeploy's
/// answer to this delivery's status call (the second delivery is told
/// `already_completed`), `elapsed_ms` this run's wall time, `evaluated_at`
/// this run's clock (two runs started apart read the clock apart); and
/// `audit.digest`, which follows from the rest. Everything else (the status,
/// the reason, every gate's figures, the switches, the policy, the deployment,
/// the function and gate versions, the audit link) is the decision or what it
/// was made from: two records at one place that differ in any of it are a
/// fork, whichever of them is genuine.
pub const DELIVERY_METADATA: [&str; 3] = ["report", "elapsed_ms", "evaluated_at"];

/// The record's audit link, checked for shape: a malformed record is a break
/// naming its field, never a record skipped or half-checked.
fn entry(read: &ReadRecord) -> Result<Entry<'_>, Break> {
    let record = &read.record;
    let audit = record.get("audit").and_then(Value::as_object);
    let sequence = audit
        .and_then(|a| a.get("sequence"))
        .and_then(Value::as_u64)
        .filter(|&s| s >= 1);
    let malformed = |problem: String| Break::Malformed {
        sequence,
        origin: read.origin.clone(),
        problem,
    };
    let shown = |v: Option<&Value>| v.map_or("missing".to_string(), read::shown);
    let execution_id = record
        .get("lifecycle_event_hook_execution_id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            malformed(format!(
                "lifecycle_event_hook_execution_id is {}, not an execution id",
                shown(record.get("lifecycle_event_hook_execution_id"))
            ))
        })?;
    let hook = record
        .get("hook")
        .and_then(Value::as_str)
        .filter(|h| serde_json::from_value::<Hook>(Value::String(h.to_string())).is_ok())
        .ok_or_else(|| {
            malformed(format!(
                "hook is {}, not one of the four hooks",
                shown(record.get("hook"))
            ))
        })?;
    let Some(audit) = audit else {
        return Err(malformed(
            "it has no audit link (no `audit` object), so nothing vouches for its content".into(),
        ));
    };
    let digest = |field: &str| -> Result<Option<&str>, Break> {
        match audit.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(d)) if is_sha256(d) => Ok(Some(d.as_str())),
            Some(other) => Err(malformed(format!(
                "audit.{field} {} is not a SHA-256 digest (sha256:<64 lowercase hex>)",
                read::shown(other)
            ))),
        }
    };
    let stated_digest =
        digest("digest")?.ok_or_else(|| malformed("audit.digest is missing".into()))?;
    if !audit.contains_key("previous_digest") {
        return Err(malformed("audit.previous_digest is missing".into()));
    }
    let previous = digest("previous_digest")?;
    let link = match (audit.get("sequence"), audit.get("unchained")) {
        (Some(_), Some(_)) => {
            return Err(malformed(
                "audit.sequence and audit.unchained are both set: a record is chained or not"
                    .into(),
            ))
        }
        (None, None) => {
            return Err(malformed(
                "audit has neither a sequence nor an unchained reason".into(),
            ))
        }
        (Some(value), None) => match sequence {
            None => {
                return Err(malformed(format!(
                    "audit.sequence {} is not a whole number from 1",
                    read::shown(value)
                )))
            }
            Some(n) if n > 1 && previous.is_none() => {
                return Err(malformed(format!(
                    "record {n} names no predecessor (audit.previous_digest is null)"
                )))
            }
            Some(n) => Link::Chained {
                sequence: n,
                previous,
            },
        },
        (None, Some(Value::String(why))) if previous.is_none() => Link::Unchained(why),
        (None, Some(Value::String(_))) => {
            return Err(malformed(
                "an unchained record names a previous digest".into(),
            ))
        }
        (None, Some(other)) => {
            return Err(malformed(format!(
                "audit.unchained {} is not a reason",
                read::shown(other)
            )))
        }
    };
    Ok(Entry {
        read,
        execution_id,
        hook,
        link,
        stated_digest,
        actual_digest: record_digest(record),
    })
}

/// A digest as the hooks write it: `sha256:` and 64 lowercase hex digits.
fn is_sha256(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// How `other` differs from `main` beyond [`DELIVERY_METADATA`]: the first
/// differing field, `path: value vs value`; `None` when they agree.
fn difference(main: &Value, other: &Value) -> Option<String> {
    let content = |record: &Value| -> Value {
        let mut content = record.clone();
        if let Some(fields) = content.as_object_mut() {
            for field in DELIVERY_METADATA {
                fields.remove(field);
            }
            if let Some(audit) = fields.get_mut("audit").and_then(Value::as_object_mut) {
                audit.remove("digest");
            }
        }
        content
    };
    first_difference(String::new(), Some(&content(main)), Some(&content(other)))
}

fn first_difference(path: String, a: Option<&Value>, b: Option<&Value>) -> Option<String> {
    if a == b {
        return None;
    }
    let at = |key: &str| {
        let key = if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            key.to_string()
        } else {
            format!("{key:?}")
        };
        if path.is_empty() {
            key
        } else {
            format!("{path}.{key}")
        }
    };
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter()
                .find_map(|k| first_difference(at(k), x.get(k), y.get(k)))
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(format!("{path}[{i}]"), Some(x), Some(y))),
        _ => {
            let show = |v: Option<&Value>| v.map_or("absent".to_string(), read::shown);
            let path = if path.is_empty() {
                "the record".into()
            } else {
                path
            };
            Some(format!("{path}: {} vs {}", show(a), show(b)))
        }
    }
}

/// Checks the chain of every deployment in `records` (any order, any mix of
/// deployments and files; the same record read twice counts once). `heads`
/// gives, for the deployments it names, the head kept in SSM to check the end
/// of the chain against. Reports are ordered by deployment id.
pub fn verify(records: &[ReadRecord], heads: &HashMap<String, ChainHead>) -> Vec<ChainReport> {
    let mut by_deployment: BTreeMap<String, Vec<&ReadRecord>> = BTreeMap::new();
    for read in records {
        let deployment = read.record["deployment_id"].as_str().unwrap_or_default();
        by_deployment
            .entry(deployment.to_string())
            .or_default()
            .push(read);
    }
    for deployment in heads.keys() {
        by_deployment.entry(deployment.clone()).or_default();
    }
    by_deployment
        .into_iter()
        .map(|(deployment, records)| {
            let head = heads.get(&deployment);
            verify_one(deployment, &records, head)
        })
        .collect()
}

fn verify_one(
    deployment_id: String,
    records: &[&ReadRecord],
    head: Option<&ChainHead>,
) -> ChainReport {
    let mut breaks = Vec::new();
    let mut notes = Vec::new();
    // Sequence -> distinct records at that place (by their stated and actual digest).
    let mut places: BTreeMap<u64, Vec<Entry>> = BTreeMap::new();
    let mut unchained = Vec::new();
    for read in records {
        let e = match entry(read) {
            Ok(e) => e,
            Err(malformed) => {
                breaks.push(malformed);
                continue;
            }
        };
        let sequence = match e.link {
            Link::Chained { sequence, .. } => sequence,
            Link::Unchained(why) => {
                if e.intact() {
                    unchained.push((e, why));
                } else {
                    breaks.push(Break::AlteredUnchained {
                        origin: e.origin().to_string(),
                    });
                }
                continue;
            }
        };
        if !e.intact() {
            breaks.push(Break::Altered {
                sequence,
                origin: e.origin().to_string(),
            });
        }
        let place = places.entry(sequence).or_default();
        if !place
            .iter()
            .any(|p| p.stated_digest == e.stated_digest && p.actual_digest == e.actual_digest)
        {
            place.push(e);
        }
    }
    let records = places.values().map(Vec::len).sum();
    // An unchained record is only as good as the log group's IAM: its digest
    // shows it unedited, nothing shows who wrote it. Say so, and point at a
    // chained record of the same execution, which the chain does vouch for.
    for (e, why) in unchained {
        let chained: Vec<String> = places
            .iter()
            .filter(|(_, es)| es.iter().any(|c| c.execution_id == e.execution_id))
            .map(|(seq, _)| seq.to_string())
            .collect();
        let also = if chained.is_empty() {
            String::new()
        } else {
            format!(
                "; the chain holds execution {} as record {}",
                e.execution_id,
                chained.join(", ")
            )
        };
        notes.push(format!(
            "{} ({}, execution {}) is not chained: {why}; its own digest holds, but no chain vouches for it{also}",
            e.origin(),
            e.hook,
            e.execution_id,
        ));
    }
    let digest_owner: HashMap<&str, u64> = places
        .iter()
        .flat_map(|(seq, es)| es.iter().map(move |e| (e.stated_digest, *seq)))
        .collect();

    // Choose the main record at each place: the one its successor links to.
    let max = places.keys().next_back().copied().unwrap_or(0);
    let mut main: BTreeMap<u64, Entry> = BTreeMap::new();
    for (&sequence, candidates) in places.iter().rev() {
        let chosen = if candidates.len() == 1 {
            candidates[0].clone()
        } else {
            let successor_link = sequence
                .checked_add(1)
                .and_then(|next| main.get(&next))
                .and_then(Entry::previous);
            let linked = candidates
                .iter()
                .find(|c| Some(c.stated_digest) == successor_link)
                .or_else(|| {
                    // At the end of the chain, the head decides; else the first read.
                    head.and_then(|h| candidates.iter().find(|c| c.stated_digest == h.digest))
                })
                .unwrap_or(&candidates[0])
                .clone();
            for other in candidates
                .iter()
                .filter(|c| !std::ptr::eq(c.read, linked.read))
            {
                let accepted = |e: &Entry| e.read.record["report"]["outcome"] == "accepted";
                let differs = difference(&linked.read.record, &other.read.record).or_else(|| {
                    (accepted(&linked) && accepted(other)).then(|| {
                        "report: both say CodeDeploy accepted their status, which it does once per execution".to_string()
                    })
                });
                match differs {
                    None => notes.push(format!(
                        "{} is a duplicate delivery of execution {} on a side branch of record {sequence} ({}); the two agree on everything but delivery metadata",
                        other.origin(),
                        other.execution_id,
                        linked.origin()
                    )),
                    Some(difference) => breaks.push(Break::Fork {
                        sequence,
                        origins: vec![linked.origin().to_string(), other.origin().to_string()],
                        difference,
                    }),
                }
            }
            linked
        };
        main.insert(sequence, chosen);
    }

    let mut expected = 1;
    for (&sequence, e) in &main {
        if sequence > expected {
            breaks.push(Break::Missing {
                from: expected,
                to: sequence - 1,
            });
        }
        if sequence == 1 {
            if e.previous().is_some() {
                breaks.push(Break::FirstHasPredecessor {
                    origin: e.origin().to_string(),
                });
            }
        } else if let Some(before) = main.get(&(sequence - 1)) {
            if e.previous() != Some(before.stated_digest) {
                breaks.push(Break::Relinked {
                    sequence,
                    origin: e.origin().to_string(),
                    links_to: e.previous().and_then(|d| digest_owner.get(d).copied()),
                });
            }
        }
        expected = sequence.saturating_add(1);
    }
    let last = main.get(&max).map(|e| ChainHead {
        sequence: max,
        digest: e.stated_digest.to_string(),
    });
    if let Some(head) = head {
        if last.as_ref() != Some(head) {
            breaks.push(Break::HeadMismatch {
                head: head.clone(),
                last: last.clone(),
            });
        }
    }
    breaks.sort_by_key(Break::at);
    ChainReport {
        deployment_id,
        records,
        last,
        breaks,
        notes,
    }
}
