//! Bounded text: messages that quote what a service or a user sent are cut
//! to a size a log line and a record can carry.

/// The longest error text kept from an AWS call. An undecodable answer (a
/// proxy's HTML page, say) is quoted whole in the SDK's error, and would
/// otherwise be copied into every gate's reason and the decision record.
pub const MAX_ERROR_CHARS: usize = 400;

/// `message`, cut to [`MAX_ERROR_CHARS`] with a note of how much was dropped.
pub fn bounded(message: String) -> String {
    match message.char_indices().nth(MAX_ERROR_CHARS) {
        None => message,
        Some((cut, _)) => format!(
            "{}... ({} more bytes)",
            &message[..cut],
            message.len() - cut
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::bounded;

    #[test]
    fn long_error_texts_are_cut() {
        assert_eq!(bounded("short".into()), "short");
        let long = "x".repeat(1000);
        let cut = bounded(long);
        assert!(cut.starts_with(&"x".repeat(400)));
        assert!(cut.ends_with("... (600 more bytes)"), "{cut}");
        // Cuts on a character boundary.
        assert!(bounded("é".repeat(500)).ends_with("... (200 more bytes)"));
    }
}
