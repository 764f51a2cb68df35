//! `help CMD` and the hint for a mistyped command: one sentence per command, and the
//! closest command name for what was typed (a wrong case, an IRC habit such as
//! `/msg`, or a typo within two edits).

use super::commands::USAGE;

/// One sentence per command, in `USAGE`'s order.
const ABOUT: &[(&str, &str)] = &[
    (
        "message",
        "Sends a message to one user (stored for them if they are offline).",
    ),
    ("broadcast", "Sends a message to every other online user."),
    ("whoelse", "Lists the other users online now."),
    (
        "whoelsesince",
        "Lists the users online at any moment in the last so many seconds.",
    ),
    ("block", "Stops a user reaching you and seeing you online."),
    ("unblock", "Lets a blocked user reach you again."),
    (
        "startprivate",
        "Asks a user for a private chat that goes straight between you two.",
    ),
    ("private", "Sends a message in a private chat."),
    (
        "stopprivate",
        "Ends a private chat, or withdraws a request not yet answered.",
    ),
    ("logout", "Logs out."),
    (
        "BCM",
        "Broadcasts a message and keeps it in the server's message log.",
    ),
    (
        "ATU",
        "Lists the other active users with their addresses and UDP ports.",
    ),
    ("SRB", "Builds a separate chat room with the users named."),
    ("SRM", "Sends a message to a separate room you are in."),
    (
        "RDM",
        "Reads broadcast (b) or separate-room (s) messages since a time.",
    ),
    ("UDP", "Uploads a file straight to another user over UDP."),
    ("OUT", "Logs out."),
    ("CRT", "Creates a forum thread."),
    ("MSG", "Posts a message to a thread."),
    ("DLT", "Deletes one of your messages in a thread."),
    (
        "EDT",
        "Replaces the text of one of your messages in a thread.",
    ),
    ("LST", "Lists the forum's threads."),
    ("RDT", "Shows a thread's messages and uploads."),
    ("UPD", "Uploads a file to a thread."),
    (
        "DWN",
        "Downloads a file from a thread into the working directory.",
    ),
    ("RMV", "Removes a thread you created."),
    ("XIT", "Logs out."),
    ("SHT", "Shuts the server down (needs the admin password)."),
    (
        "help",
        "Lists the commands, or explains one: help <command>.",
    ),
];

/// `help CMD`: its sentence and usage, or `None` for an unknown command.
pub fn help_on(cmd: &str) -> Option<Vec<String>> {
    let about = ABOUT.iter().find(|(n, _)| *n == cmd)?.1;
    let usage = USAGE.iter().find(|(n, _)| *n == cmd)?.1;
    Some(vec![format!("{cmd}: {about}"), format!("Usage: {usage}")])
}

/// The usage of `cmd`, if it is a command.
pub fn usage_of(cmd: &str) -> Option<&'static str> {
    USAGE.iter().find(|(n, _)| *n == cmd).map(|(_, u)| *u)
}

/// IRC and chat habits, and what they are here.
const HABITS: &[(&str, &str)] = &[
    ("/msg", "message"),
    ("/query", "startprivate"),
    ("/who", "whoelse"),
    ("/names", "whoelse"),
    ("/quit", "logout"),
    ("/exit", "logout"),
    ("/ignore", "block"),
    ("/unignore", "unblock"),
    ("/help", "help"),
    ("/list", "LST"),
    ("/join", "SRB"),
    ("quit", "logout"),
    ("exit", "logout"),
    ("msg", "message"),
    ("who", "whoelse"),
];

/// The command `typed` most likely meant.
pub fn closest(typed: &str) -> Option<&'static str> {
    let names = || USAGE.iter().map(|(n, _)| *n);
    if let Some(n) = names().find(|n| n.eq_ignore_ascii_case(typed)) {
        return Some(n);
    }
    if let Some((_, n)) = HABITS.iter().find(|(h, _)| h.eq_ignore_ascii_case(typed)) {
        return Some(n);
    }
    let typed = typed.trim_start_matches('/').to_ascii_lowercase();
    names()
        .map(|n| (edits(&typed, &n.to_ascii_lowercase()), n))
        .filter(|(d, n)| *d <= 2 && *d < n.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Levenshtein distance (both are short command words).
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_a_sentence() {
        for (name, _) in USAGE {
            assert!(help_on(name).is_some(), "{name}");
        }
    }

    #[test]
    fn typos_cases_and_habits_name_the_command() {
        assert_eq!(closest("mesage"), Some("message"));
        assert_eq!(closest("Message"), Some("message"));
        assert_eq!(closest("/msg"), Some("message"));
        assert_eq!(closest("HELP"), Some("help"));
        assert_eq!(closest("bcm"), Some("BCM"));
        assert_eq!(closest("whoels"), Some("whoelse"));
        assert_eq!(closest("xyzzyplugh"), None);
    }
}
