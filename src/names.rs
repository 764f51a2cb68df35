//! Validation of user-chosen names that end up as file names on disk.
//!
//! Thread titles and uploaded file names are used directly as path
//! components under the server's data directory, so they must never be able
//! to escape it or hide from it: no path separators, no NUL or control
//! characters, no whitespace, no leading dot (which also refuses `.` and
//! `..`), and a bounded length. Everything that builds a path from client
//! input goes through [`valid_name`] first.

/// Longest accepted name, in characters.
pub const MAX_NAME_LEN: usize = 128;

/// Punctuation allowed in names besides ASCII letters and digits.
const PUNCTUATION: &str = "~!@#$%^&*_-+=`|(){}[]:;\"'<>,.?";

/// Returns true if `s` is safe to use as a single path component: 1 to 128
/// characters, each an ASCII letter, digit or one of
/// ``~!@#$%^&*_-+=`|(){}[]:;"'<>,.?``, and not starting with `.`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_NAME_LEN && !s.starts_with('.') && s.chars().all(valid_char)
}

/// Whether a single character may appear in a name.
fn valid_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || PUNCTUATION.contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_refused() {
        let long = "a".repeat(200);
        let hostile = [
            "../x",
            "/etc/passwd",
            "a/../../b",
            "..\\x",
            "x\0y",
            long.as_str(),
            "",
            ".",
            "..",
            ".hidden",
            "a b",
            "tab\there",
            "new\nline",
            "bell\x07",
            "caf\u{e9}",
            "back\\slash",
            "trailing/",
        ];
        for name in hostile {
            assert!(!valid_name(name), "accepted {name:?}");
        }
    }

    #[test]
    fn ordinary_names_accepted() {
        let max = "b".repeat(MAX_NAME_LEN);
        for name in [
            "3331",
            "test.exe",
            "lecture1.mp4",
            "Obi-wan",
            "a..b",
            "x.",
            max.as_str(),
        ] {
            assert!(valid_name(name), "refused {name:?}");
        }
    }

    #[test]
    fn every_listed_punctuation_accepted() {
        for c in PUNCTUATION.chars().filter(|&c| c != '.') {
            assert!(valid_name(&c.to_string()), "refused {c:?}");
        }
    }
}
