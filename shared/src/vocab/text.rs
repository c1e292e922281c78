//! Bounded and escaped text: messages that quote what a service or a user
//! sent are cut to a size a log line and a record can carry, and the
//! characters that could forge or hide a line are shown as escapes.
//!
//! Untrusted text (an event's ids, an AWS error message, a probe's redirect
//! target) reaches three places that a reader trusts: the invocation's
//! `errorMessage`, the JSON log lines and the decision record. JSON escapes C0
//! controls, but not C1 controls, the Unicode line separators or the bidi
//! overrides that reorder what a terminal shows; a plain-text message escapes
//! nothing. [`escaped`] is the one place that decides what is unsafe, and
//! [`untrusted`] / [`preview`] are how a message quotes such text.

use std::borrow::Cow;
use std::fmt::Write;

/// The longest error text kept from an AWS call. An undecodable answer (a
/// proxy's HTML page, say) is quoted whole in the SDK's error, and would
/// otherwise be copied into every gate's reason and the decision record.
pub const MAX_ERROR_CHARS: usize = 400;

/// `message`, [`escaped`], then cut to [`MAX_ERROR_CHARS`] with a note of
/// how much was dropped. Every caller quotes text someone else wrote (an AWS
/// error, a proxy's page, a transport error), so escaping is part of the
/// bound: such text never reaches a record or a log line raw.
pub fn bounded(message: String) -> String {
    let message = match escaped(&message) {
        Cow::Borrowed(_) => message,
        Cow::Owned(escaped) => escaped,
    };
    match message.char_indices().nth(MAX_ERROR_CHARS) {
        None => message,
        Some((cut, _)) => format!(
            "{}... ({} more bytes)",
            &message[..cut],
            message.len() - cut
        ),
    }
}

/// `text` [`escaped`] and, when longer than `max_bytes`, cut at a character
/// boundary so that it stays within `max_bytes` with a note of how much was
/// left out: for text that must fit a byte budget (a gate's reason in the
/// decision record, `policy::limits`), where [`bounded`] counts characters.
pub fn escaped_within(text: &str, max_bytes: usize) -> String {
    let text = escaped(text);
    if text.len() <= max_bytes {
        return text.into_owned();
    }
    // Room for the note ("... (NNNNNN more bytes)").
    let mut end = max_bytes.saturating_sub(24);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} more bytes)", &text[..end], text.len() - end)
}

/// Whether `c` must not appear raw in a message or a log line: C0 and C1
/// controls and DEL (`char::is_control`: they end lines, move the cursor,
/// start terminal escape sequences), the Unicode line and paragraph
/// separators (line breaks to many log viewers), and the bidirectional
/// formatting characters (they reorder what a reader sees: "Trojan Source").
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every [`is_unsafe`] character written as an escape (`\n`,
/// `\t`, `\r`, otherwise `\u{1b}`), and a backslash doubled when any
/// escape was written, so an escape in the output cannot be confused with
/// one the text spelt out. Text without such characters is returned as is.
pub fn escaped(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Untrusted `text` for a message or a log line: escaped and bounded
/// ([`bounded`]).
pub fn untrusted(text: &str) -> String {
    bounded(text.to_string())
}

/// A short quote of untrusted `text` for a message naming a bad value: at
/// most `max_chars` characters of it, escaped, in double quotes, and how long
/// it was when it was cut. Only the kept characters are escaped, so a quote
/// of five megabytes costs as much as a quote of `max_chars`.
pub fn preview(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => format!("\"{}\"", escaped(text)),
        Some((cut, _)) => format!(
            "\"{}\"... ({} characters in all)",
            escaped(&text[..cut]),
            text.chars().count()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::{bounded, escaped, preview, untrusted};

    #[test]
    fn long_error_texts_are_cut() {
        assert_eq!(bounded("short".into()), "short");
        let long = "x".repeat(1000);
        let cut = bounded(long);
        assert!(cut.starts_with(&"x".repeat(400)));
        assert!(cut.ends_with("... (600 more bytes)"), "{cut}");
        // Cuts on a character boundary.
        assert!(bounded("é".repeat(500)).ends_with("... (200 more bytes)"));
        // Escapes what it keeps: an AWS error quoting a hostile value.
        assert_eq!(
            bounded("The deployment d-\u{0}\u{1b}[2J does not exist".into()),
            "The deployment d-\\u{0}\\u{1b}[2J does not exist"
        );
    }

    #[test]
    fn control_and_reordering_characters_are_escaped() {
        let cases = [
            ("d-CATAGDYBL", "d-CATAGDYBL"),
            ("a\nb", "a\\nb"),
            ("a\r\nX-Injected: 1", "a\\r\\nX-Injected: 1"),
            ("\u{1b}[31mred", "\\u{1b}[31mred"),
            ("nul\u{0}", "nul\\u{0}"),
            ("del\u{7f} nel\u{85}", "del\\u{7f} nel\\u{85}"),
            ("line\u{2028}sep", "line\\u{2028}sep"),
            ("\u{202e}LIVE", "\\u{202e}LIVE"),
            ("\u{2066}x\u{2069}", "\\u{2066}x\\u{2069}"),
            // A backslash is doubled once anything is escaped, so a spelt-out
            // `\n` is not read as an escaped newline.
            ("\\n\n", "\\\\n\\n"),
            // Printable non-ASCII stays as it is.
            ("é ü 日本", "é ü 日本"),
        ];
        for (text, expected) in cases {
            assert_eq!(escaped(text), expected, "{text:?}");
        }
        // Nothing to escape: borrowed, not copied; a backslash alone is kept.
        assert!(matches!(
            escaped("a\\b"),
            std::borrow::Cow::Borrowed("a\\b")
        ));
    }

    #[test]
    fn untrusted_text_is_escaped_then_bounded() {
        let text = format!("{}\n", "\u{1b}".repeat(1000));
        let out = untrusted(&text);
        assert!(!out.chars().any(super::is_unsafe), "{out}");
        assert!(out.chars().count() < 500, "{} chars", out.chars().count());
    }

    #[test]
    fn previews_are_short_escaped_quotes() {
        assert_eq!(preview("d-1", 40), "\"d-1\"");
        assert_eq!(preview("a\nb", 40), "\"a\\nb\"");
        let huge = format!("\u{1b}{}", "A".repeat(5_000_000));
        let shown = preview(&huge, 10);
        assert_eq!(shown, "\"\\u{1b}AAAAAAAAA\"... (5000001 characters in all)");
    }
}
