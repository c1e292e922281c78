//! What a caller sees when a policy is refused: [`PolicyError`] and its
//! [`Problem`]s, each with file, line, column and field path. Kept apart from
//! the walk so the error types read on their own; they are re-exported as
//! `crate::policy::{PolicyError, Problem}`.

use std::fmt;

/// Why a policy was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file could not be read at all.
    #[error("cannot read policy file {path}: {source} (set GATE_POLICY_FILE to a readable YAML file, or unset it to use the embedded default)")]
    Read {
        /// The path from `GATE_POLICY_FILE`.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The path names something that is not a policy file to read: a FIFO,
    /// a device, a directory, or a file over the size limit.
    #[error("cannot read policy file {path}: {why} (set GATE_POLICY_FILE to a regular YAML file of at most 1 MiB, or unset it to use the embedded default)")]
    Unreadable {
        /// The path.
        path: String,
        /// What it is, or how large.
        why: String,
    },
    /// The text is not YAML of the policy's shape (syntax, unknown key, wrong type).
    #[error("{}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// Every problem found, in file order.
        problems: Vec<Problem>,
        /// What is allowed but probably not meant, found in the same walk:
        /// worth fixing in the same edit.
        warnings: Vec<Problem>,
    },
}

impl PolicyError {
    /// The individual problems (empty for a read error).
    pub fn problems(&self) -> &[Problem] {
        match self {
            PolicyError::Invalid { problems, .. } => problems,
            PolicyError::Read { .. } | PolicyError::Unreadable { .. } => &[],
        }
    }
}

/// One thing wrong with a policy, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// File path or the embedded default's name.
    pub source: String,
    /// 1-based line, 0 when unknown.
    pub line: u64,
    /// 1-based column, 0 when unknown.
    pub column: u64,
    /// Dotted path of the field, e.g. `hooks.BeforeAllowTraffic.gates[0].stat`.
    pub field: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.source, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// serde-saphyr renders a source snippet under its message and starts it with
/// `error: line L column C:`; the position is reported separately, so keep the
/// message alone.
pub(super) fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message).trim();
    let line = line.strip_prefix("error:").unwrap_or(line).trim_start();
    match line
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((position, rest)) if position.contains(" column ") => rest.to_string(),
        _ => line.to_string(),
    }
}
