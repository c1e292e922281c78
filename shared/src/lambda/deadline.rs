//! The invocation's deadline, read from the Runtime API's
//! `Lambda-Runtime-Deadline-Ms` header.
//!
//! Lambda sends the time the invocation times out, in milliseconds since the
//! Unix epoch (about 1.7 × 10¹² today). Local runtime emulators do not all do
//! so: cargo-lambda's (`cargo lambda watch`, 1.9) sends the constant 600000,
//! ten minutes *from now*. Read as a time, that is 00:10 on 1 January 1970, so
//! every hook run under it failed closed at once ("evidence was not collected
//! within 0 ms").
//!
//! The two cannot be confused: Lambda's longest timeout is 15 minutes, so a
//! value up to [`LONGEST_TIMEOUT_MS`] can only be a duration from receipt (no
//! real deadline lies in the first 15 minutes of 1970), and any larger value is
//! a time. Fail-closed holds either way:
//! - a time already past leaves no time, and the hook fails closed;
//! - 0 leaves no time, and the hook fails closed;
//! - a time further ahead than Lambda's longest timeout is cut to it: Lambda
//!   would end the invocation by then, and a shorter wait never passes a gate
//!   that a longer one would fail.
//!
//! A missing or non-numeric header never reaches the handler: `lambda_runtime`
//! refuses such an invocation before calling it.

/// Lambda's longest function timeout, 15 minutes, in milliseconds.
pub const LONGEST_TIMEOUT_MS: u64 = 15 * 60 * 1000;

/// The invocation's deadline in epoch milliseconds, from the header's value
/// and the time the invocation was received (epoch milliseconds).
pub fn invocation_deadline(header_ms: u64, received_ms: u64) -> u64 {
    let latest = received_ms.saturating_add(LONGEST_TIMEOUT_MS);
    if header_ms <= LONGEST_TIMEOUT_MS {
        received_ms.saturating_add(header_ms)
    } else {
        header_ms.min(latest)
    }
}

/// Whether the header's value is a duration from receipt (an emulator's)
/// rather than a time (Lambda's).
pub fn is_relative(header_ms: u64) -> bool {
    header_ms <= LONGEST_TIMEOUT_MS
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Time left until the deadline the header gives, from `received_ms`.
    fn time_left(header_ms: u64, received_ms: u64) -> Duration {
        let deadline = invocation_deadline(header_ms, received_ms);
        Duration::from_millis(deadline.saturating_sub(received_ms))
    }

    /// 2026-12-07T00:00:00Z.
    const NOW: u64 = 1_796_601_600_000;

    #[test]
    fn lambdas_epoch_deadline_is_a_time() {
        assert_eq!(invocation_deadline(NOW + 30_000, NOW), NOW + 30_000);
        assert_eq!(time_left(NOW + 30_000, NOW), Duration::from_secs(30));
    }

    #[test]
    fn cargo_lambdas_constant_is_ten_minutes_from_now() {
        assert!(is_relative(600_000));
        assert_eq!(invocation_deadline(600_000, NOW), NOW + 600_000);
        assert_eq!(time_left(600_000, NOW), Duration::from_secs(600));
    }

    #[test]
    fn a_deadline_in_the_past_leaves_no_time() {
        assert_eq!(time_left(NOW - 1, NOW), Duration::ZERO);
        assert_eq!(time_left(LONGEST_TIMEOUT_MS + 1, NOW), Duration::ZERO);
    }

    #[test]
    fn zero_leaves_no_time() {
        assert_eq!(time_left(0, NOW), Duration::ZERO);
    }

    #[test]
    fn a_deadline_beyond_the_longest_timeout_is_cut_to_it() {
        assert_eq!(
            time_left(NOW + 3_600_000, NOW),
            Duration::from_millis(LONGEST_TIMEOUT_MS)
        );
        assert_eq!(
            time_left(u64::MAX, NOW),
            Duration::from_millis(LONGEST_TIMEOUT_MS)
        );
    }
}
