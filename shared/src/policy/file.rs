//! Reading a policy file: a regular file of at most [`MAX_POLICY_BYTES`],
//! nothing else. The hooks read `GATE_POLICY_FILE` at cold start and
//! `gatectl validate` reads its arguments here, so neither can be made to
//! wait forever on a FIFO (opening one for reading blocks until a writer
//! comes, and init hangs until Lambda kills it) nor to read `/dev/zero`
//! until memory runs out.

use super::{Policy, PolicyError};
use std::fs::{File, FileType, OpenOptions};
use std::io::Read;
use std::path::Path;

/// The largest policy file read: the embedded default is 3 KiB, and a policy
/// of a megabyte is already far past what a decision record can name.
pub const MAX_POLICY_BYTES: usize = 1024 * 1024;

/// The text of the policy file at `path`. Anything but a regular file is
/// refused by what it is, before it is opened; a file over the limit is
/// refused naming the limit, after reading no more than one byte past it.
pub fn read_policy_file(path: &Path) -> Result<String, PolicyError> {
    let name = path.display().to_string();
    let io = |source| PolicyError::Read {
        path: name.clone(),
        source,
    };
    // Checked before opening: opening a FIFO blocks.
    regular(&name, std::fs::metadata(path).map_err(io)?.file_type())?;
    let file = open_without_blocking(path).map_err(io)?;
    // And again on what was opened: the path may have been swapped between.
    let meta = file.metadata().map_err(io)?;
    regular(&name, meta.file_type())?;
    let too_large = || PolicyError::Unreadable {
        path: name.clone(),
        why: format!(
            "larger than {} MiB, the most a policy file may hold",
            MAX_POLICY_BYTES / (1024 * 1024)
        ),
    };
    if meta.len() > MAX_POLICY_BYTES as u64 {
        return Err(too_large());
    }
    let mut text = String::new();
    file.take(MAX_POLICY_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() > MAX_POLICY_BYTES {
        return Err(too_large());
    }
    Ok(text)
}

/// Reads and validates the policy file at `path`, `${VAR}` resolved from `env`.
/// Its warnings (a loopback probe host without a port) are logged: at a
/// hook's cold start, that is the one place a person will see them.
pub fn load_file(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Policy, PolicyError> {
    let text = read_policy_file(path)?;
    let policy = Policy::from_yaml(&text, &path.display().to_string(), env)?;
    for warning in &policy.warnings {
        tracing::warn!(%warning, "policy warning");
    }
    Ok(policy)
}

/// Opens for reading with `O_NONBLOCK`, so that a FIFO put in the file's
/// place after the check cannot block the open; on a regular file the flag
/// changes nothing.
fn open_without_blocking(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    options.open(path)
}

/// Refuses anything but a regular file, saying what it is.
fn regular(path: &str, kind: FileType) -> Result<(), PolicyError> {
    if kind.is_file() {
        return Ok(());
    }
    #[cfg(unix)]
    let special = {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            Some("a named pipe (FIFO)")
        } else if kind.is_char_device() {
            Some("a character device")
        } else if kind.is_block_device() {
            Some("a block device")
        } else if kind.is_socket() {
            Some("a socket")
        } else {
            None
        }
    };
    #[cfg(not(unix))]
    let special = None;
    let what = match special {
        Some(what) => what,
        None if kind.is_dir() => "a directory",
        None => "not a file",
    };
    Err(PolicyError::Unreadable {
        path: path.to_string(),
        why: format!("{what}, not a regular file"),
    })
}
