//! How chat lines look on a terminal (BEHAVIOUR §1 "On a terminal"): each starts with
//! its time, `[16:05]`, and the kinds differ at a glance, keeping the scripted form in
//! them so the words read the same:
//!
//! ```text
//! [16:05] hans: hi                 a direct message to you
//! [16:05] yoda -> hans: hi         one you sent
//! [16:05] (all) hans: hi           a broadcast (yours too)
//! [16:05] room-1: hans: hi         a separate room's message (yours too)
//! [16:05] hans(private): hi        a private message
//! [16:05] yoda(private) -> hans: hi
//! ```
//!
//! Names are coloured (one colour per name), unless `NO_COLOR` is set or `TERM` is
//! `dumb`. Scripted mode never comes here: its lines are printed exactly as received.
//! An offline message shows when it was sent (its event carries the time; one stored
//! before times were kept shows the time it is printed). An `RDM` line starts with the
//! clock of the time at its end: `[16:05] #1; hans: hi at 1 Jun 2022 16:05:00.`

use chrono::{Local, TimeZone};

/// What kind of chat line.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A direct message; `to` is set when it is our own, echoed.
    Direct {
        to: Option<String>,
    },
    Broadcast,
    Room(String),
    /// A private (peer-to-peer) message; `to` as for `Direct`.
    Private {
        to: Option<String>,
    },
}

/// The terminal's look: colours or not.
#[derive(Debug, Clone, Copy)]
pub struct Look {
    colour: bool,
}

const PALETTE: [u8; 6] = [31, 32, 33, 34, 35, 36];

impl Look {
    /// Colours unless `NO_COLOR` is set (to anything) or `TERM` is `dumb`.
    pub fn from_env() -> Look {
        let no_color = std::env::var_os("NO_COLOR").is_some();
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        Look {
            colour: !no_color && !dumb,
        }
    }

    /// The line for a chat message of `kind` from `from`, stamped with when it was sent
    /// (`sent`, Unix seconds: an offline message), else with the current time.
    pub fn chat(&self, kind: &Kind, from: &str, text: &str, sent: Option<i64>) -> String {
        self.compose(&clock(sent), kind, from, text)
    }

    fn compose(&self, time: &str, kind: &Kind, from: &str, text: &str) -> String {
        let name = self.name(from);
        let to = |to: &Option<String>| match to {
            Some(u) => format!(" -> {}", self.name(u)),
            None => String::new(),
        };
        let body = match kind {
            Kind::Direct { to: t } => format!("{name}{}: {text}", to(t)),
            Kind::Broadcast => format!("{} {name}: {text}", self.paint("1", "(all)")),
            Kind::Room(room) => format!("{}: {name}: {text}", self.paint("1", room)),
            Kind::Private { to: t } => {
                format!("{name}{}{}: {text}", self.paint("3", "(private)"), to(t))
            }
        };
        format!("{} {body}", self.paint("2", &format!("[{time}]")))
    }

    /// An `RDM` line (`#1; hans: hi at 1 Jun 2022 16:05:00.`) stamped with the clock of
    /// its own time, the sender's name coloured; `None` for any other line.
    pub fn history(&self, line: &str) -> Option<String> {
        let (number, rest) = line.split_once("; ")?;
        number.strip_prefix('#')?.parse::<u64>().ok()?;
        let (from, _) = rest.split_once(": ").filter(|(from, _)| is_user(from))?;
        let (_, stamp) = rest.strip_suffix('.')?.rsplit_once(" at ")?;
        let at = chrono::NaiveDateTime::parse_from_str(stamp, "%d %b %Y %H:%M:%S").ok()?;
        let time = at.format("%H:%M").to_string();
        let (clock, name) = (self.paint("2", &format!("[{time}]")), self.name(from));
        Some(format!("{clock} {number}; {name}{}", &rest[from.len()..]))
    }

    /// `name` in its own colour.
    fn name(&self, name: &str) -> String {
        let hash = name
            .bytes()
            .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
        let colour = PALETTE[hash as usize % PALETTE.len()];
        self.paint(&format!("1;{colour}"), name)
    }

    fn paint(&self, sgr: &str, text: &str) -> String {
        match self.colour {
            true => format!("\x1b[{sgr}m{text}\x1b[0m"),
            false => text.to_string(),
        }
    }
}

/// `HH:MM`, local time, of `sent` (Unix seconds) or of now.
fn clock(sent: Option<i64>) -> String {
    let at = sent.and_then(|s| Local.timestamp_opt(s, 0).single());
    at.unwrap_or_else(Local::now).format("%H:%M").to_string()
}

/// A text event as a chat line: `hans: hi` (direct) or `room-1: hans: hi` (room), the
/// sender being a valid user name; anything else (presence, notices) is not.
pub fn parse_incoming(text: &str) -> Option<(Kind, String, String)> {
    let (head, rest) = text.split_once(": ")?;
    if let Some(n) = head
        .strip_prefix("room-")
        .filter(|n| n.parse::<u64>().is_ok())
    {
        let (from, body) = rest.split_once(": ")?;
        return crate::names::valid_name(from).then(|| {
            (
                Kind::Room(format!("room-{n}")),
                from.to_string(),
                body.to_string(),
            )
        });
    }
    let direct = Kind::Direct { to: None };
    is_user(head).then(|| (direct, head.to_string(), rest.to_string()))
}

/// The echo of a sent chat command, once the server accepted it: its kind and text.
pub fn echo_of(cmd: &crate::protocol::Command) -> Option<(Kind, String)> {
    use crate::protocol::Command;
    Some(match cmd {
        Command::Message { to, text } => (
            Kind::Direct {
                to: Some(to.clone()),
            },
            text.clone(),
        ),
        Command::Broadcast { text } | Command::Bcm { text } => (Kind::Broadcast, text.clone()),
        Command::Srm { room, text } => (Kind::Room(format!("room-{room}")), text.clone()),
        _ => return None,
    })
}

fn is_user(name: &str) -> bool {
    !name.is_empty() && name.len() <= 32 && !name.contains(' ') && crate::names::valid_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Look = Look { colour: false };

    #[test]
    fn kinds_look_different_and_keep_their_words() {
        let at = |k: Kind, f: &str| PLAIN.compose("16:05", &k, f, "hi");
        assert_eq!(at(Kind::Direct { to: None }, "hans"), "[16:05] hans: hi");
        let mine = Kind::Direct {
            to: Some("hans".into()),
        };
        assert_eq!(at(mine, "yoda"), "[16:05] yoda -> hans: hi");
        assert_eq!(at(Kind::Broadcast, "hans"), "[16:05] (all) hans: hi");
        assert_eq!(
            at(Kind::Room("room-1".into()), "hans"),
            "[16:05] room-1: hans: hi"
        );
        let private = Kind::Private { to: None };
        assert_eq!(at(private, "hans"), "[16:05] hans(private): hi");
    }

    #[test]
    fn an_offline_message_shows_when_it_was_sent() {
        let sent = Local
            .with_ymd_and_hms(2025, 12, 1, 7, 9, 0)
            .unwrap()
            .timestamp();
        let line = PLAIN.chat(&Kind::Direct { to: None }, "hans", "hi", Some(sent));
        assert_eq!(line, "[07:09] hans: hi");
        let now = PLAIN.chat(&Kind::Direct { to: None }, "hans", "hi", None);
        assert_eq!(now, format!("[{}] hans: hi", Local::now().format("%H:%M")));
    }

    #[test]
    fn names_are_coloured_unless_told_not_to() {
        let line = Look { colour: true }.compose("16:05", &Kind::Broadcast, "hans", "hi");
        assert!(
            line.contains("\x1b[1;3") && line.contains("hans\x1b[0m"),
            "{line:?}"
        );
        assert!(!PLAIN
            .compose("16:05", &Kind::Broadcast, "hans", "hi")
            .contains('\x1b'));
    }

    #[test]
    fn a_history_line_starts_with_its_own_time() {
        let line = "#12; hans: meet at 10 at 1 Jun 2022 16:05:09.";
        let want = "[16:05] #12; hans: meet at 10 at 1 Jun 2022 16:05:09.";
        assert_eq!(PLAIN.history(line).as_deref(), Some(want));
        let late = "#3; yoda: x at 21 Dec 2025 07:59:59.";
        assert!(PLAIN
            .history(late)
            .unwrap()
            .starts_with("[07:59] #3; yoda: x"));
        for other in [
            "Broadcast messages since 1 Jun 2022 16:00:00:",
            "room-1:",
            "no new message",
            "1 yoda: Networks is awesome",
            "#1; not a user: x at 1 Jun 2022 16:05:00.",
        ] {
            assert_eq!(PLAIN.history(other), None, "{other}");
        }
    }

    #[test]
    fn incoming_lines_are_told_apart_from_notices() {
        let (k, f, t) = parse_incoming("room-3: hans: a: b").unwrap();
        assert_eq!(
            (k, f.as_str(), t.as_str()),
            (Kind::Room("room-3".into()), "hans", "a: b")
        );
        let (k, f, _) = parse_incoming("hans: hi").unwrap();
        assert_eq!((k, f.as_str()), (Kind::Direct { to: None }, "hans"));
        assert!(parse_incoming("hans logged in").is_none());
        assert!(
            parse_incoming("You have been added to separate room 1 by yoda (users: a)").is_none()
        );
    }
}
