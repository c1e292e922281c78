//! The verifier: every digest recomputed, each deployment's chain walked
//! link by link. What it finds are reports, not errors: a broken chain is
//! the answer to the question asked.

use super::{record_digest, ChainHead, ReadRecord};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// A record as the verifier reads it.
#[derive(Debug, Clone)]
struct Entry {
    /// Where it was read (file and position), for messages.
    origin: String,
    deployment_id: String,
    execution_id: String,
    hook: String,
    sequence: Option<u64>,
    previous_digest: Option<String>,
    stated_digest: Option<String>,
    actual_digest: String,
    unchained: Option<String>,
}

/// What is wrong with a chain, at one link.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Break {
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
    /// duplicate delivery of one event.
    Fork {
        /// The contested sequence number.
        sequence: u64,
        /// Where each was read.
        origins: Vec<String>,
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
            Break::Fork { sequence, origins } => write!(
                f,
                "record {sequence} exists twice with different content ({}) and not as a duplicate delivery of one event",
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

fn entry(read: &ReadRecord) -> Entry {
    let record = &read.record;
    let audit = &record["audit"];
    let text = |v: &Value| v.as_str().map(str::to_string);
    Entry {
        origin: read.origin.clone(),
        deployment_id: text(&record["deployment_id"]).unwrap_or_default(),
        execution_id: text(&record["lifecycle_event_hook_execution_id"]).unwrap_or_default(),
        hook: text(&record["hook"]).unwrap_or_default(),
        sequence: audit["sequence"].as_u64(),
        previous_digest: text(&audit["previous_digest"]),
        stated_digest: text(&audit["digest"]),
        actual_digest: record_digest(record),
        unchained: text(&audit["unchained"]),
    }
}

/// Checks the chain of every deployment in `records` (any order, any mix of
/// deployments and files; the same record read twice counts once). `heads`
/// gives, for the deployments it names, the head kept in SSM to check the end
/// of the chain against. Reports are ordered by deployment id.
pub fn verify(records: &[ReadRecord], heads: &HashMap<String, ChainHead>) -> Vec<ChainReport> {
    let mut by_deployment: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for read in records {
        let e = entry(read);
        by_deployment
            .entry(e.deployment_id.clone())
            .or_default()
            .push(e);
    }
    for deployment in heads.keys() {
        by_deployment.entry(deployment.clone()).or_default();
    }
    by_deployment
        .into_iter()
        .map(|(deployment, entries)| {
            let head = heads.get(&deployment);
            verify_one(deployment, entries, head)
        })
        .collect()
}

fn verify_one(deployment_id: String, entries: Vec<Entry>, head: Option<&ChainHead>) -> ChainReport {
    let mut breaks = Vec::new();
    let mut notes = Vec::new();
    // Sequence -> distinct records at that place (by their stated digest).
    let mut places: BTreeMap<u64, Vec<Entry>> = BTreeMap::new();
    for e in entries {
        let Some(sequence) = e.sequence else {
            notes.push(format!(
                "{} ({}, execution {}) is not chained: {}",
                e.origin,
                e.hook,
                e.execution_id,
                e.unchained
                    .as_deref()
                    .unwrap_or("it has no audit link (written before the chain existed?)")
            ));
            continue;
        };
        if e.stated_digest.as_deref() != Some(e.actual_digest.as_str()) {
            breaks.push(Break::Altered {
                sequence,
                origin: e.origin.clone(),
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
    let digest_owner: HashMap<String, u64> = places
        .iter()
        .flat_map(|(seq, es)| {
            es.iter()
                .filter_map(move |e| e.stated_digest.clone().map(|d| (d, *seq)))
        })
        .collect();

    // Choose the main record at each place: the one its successor links to.
    let max = places.keys().next_back().copied().unwrap_or(0);
    let mut main: BTreeMap<u64, Entry> = BTreeMap::new();
    for (&sequence, candidates) in places.iter().rev() {
        let chosen = if candidates.len() == 1 {
            candidates[0].clone()
        } else {
            let successor_link = main
                .get(&(sequence + 1))
                .and_then(|next| next.previous_digest.clone());
            let linked = candidates
                .iter()
                .find(|c| c.stated_digest.is_some() && c.stated_digest == successor_link)
                .or_else(|| {
                    // At the end of the chain, the head decides; else the first read.
                    head.and_then(|h| {
                        candidates
                            .iter()
                            .find(|c| c.stated_digest.as_deref() == Some(h.digest.as_str()))
                    })
                })
                .unwrap_or(&candidates[0])
                .clone();
            for other in candidates.iter().filter(|c| c.origin != linked.origin) {
                let duplicate_delivery = other.execution_id == linked.execution_id
                    && other.previous_digest == linked.previous_digest;
                if duplicate_delivery {
                    notes.push(format!(
                        "{} is a duplicate delivery of execution {} on a side branch of record {sequence}",
                        other.origin, other.execution_id
                    ));
                } else {
                    breaks.push(Break::Fork {
                        sequence,
                        origins: vec![linked.origin.clone(), other.origin.clone()],
                    });
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
            if e.previous_digest.is_some() {
                breaks.push(Break::FirstHasPredecessor {
                    origin: e.origin.clone(),
                });
            }
        } else if let Some(before) = main.get(&(sequence - 1)) {
            if e.previous_digest != before.stated_digest {
                breaks.push(Break::Relinked {
                    sequence,
                    origin: e.origin.clone(),
                    links_to: e
                        .previous_digest
                        .as_ref()
                        .and_then(|d| digest_owner.get(d).copied()),
                });
            }
        }
        expected = sequence + 1;
    }
    let last = main.get(&max).and_then(|e| {
        e.stated_digest.clone().map(|digest| ChainHead {
            sequence: max,
            digest,
        })
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
