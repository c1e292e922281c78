//! Time as every layer speaks it: half-open ranges of epoch seconds, and
//! RFC 3339 stamps for people and records.

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde::Serialize;

/// A half-open time range `[start, end)` in epoch seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TimeRange {
    /// Inclusive start.
    pub start: i64,
    /// Exclusive end.
    pub end: i64,
}

impl TimeRange {
    /// The smallest range covering both.
    pub fn union(self, other: TimeRange) -> TimeRange {
        TimeRange {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// Whether `t` lies in the range.
    pub fn contains(self, t: i64) -> bool {
        t >= self.start && t < self.end
    }
}

/// RFC 3339 of an epoch second.
pub fn stamp(epoch: i64) -> String {
    DateTime::from_secs(epoch)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| epoch.to_string())
}
