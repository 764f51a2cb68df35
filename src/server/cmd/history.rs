//! Reading history: `RDM b TIME` (broadcasts) and `RDM s TIME` (the asker's rooms),
//! messages strictly later than TIME, minus those from users the asker has blocked.
//!
//! [`State::history`] answers with what it found, as a [`History`] (or a
//! [`HistoryError`]); [`State::rdm`] renders that as the user's lines at the edge, so
//! the reading is tested on entries and the sentences stay in text.rs.

use crate::server::state::{Reply, State};
use crate::server::store::history::LogEntry;
use crate::server::store::{LogId, StoreError};
use crate::text;
use crate::timefmt;
use chrono::{DateTime, Local};
use std::collections::HashSet;

/// What `RDM` found: the entries after `since` the reader may see, by log (the
/// broadcast log, or each of the reader's rooms that has some, in room order).
#[derive(Debug)]
pub struct History {
    pub broadcasts: bool,
    pub since: DateTime<Local>,
    pub logs: Vec<(LogId, Vec<LogEntry>)>,
}

/// Why `RDM` read nothing.
#[derive(Debug)]
pub enum HistoryError {
    /// Neither `b` nor `s`.
    BadKind,
    /// TIME is not a time `timefmt` reads.
    BadTime,
    /// The store could not read a log.
    Unreadable(StoreError),
}

impl State {
    /// `RDM b|s TIME`, rendered for the user.
    pub fn rdm(&self, me: &str, kind: &str, since: &str) -> Reply {
        match self.history(me, kind, since) {
            Ok(history) => history.reply(),
            Err(e) => e.reply(),
        }
    }

    /// `RDM b|s TIME`: the messages strictly later than TIME, minus those from users
    /// `me` has blocked.
    pub fn history(&self, me: &str, kind: &str, since: &str) -> Result<History, HistoryError> {
        let broadcasts = match kind {
            "b" => true,
            "s" => false,
            _ => return Err(HistoryError::BadKind),
        };
        let since = timefmt::parse(since).ok_or(HistoryError::BadTime)?;
        let hidden: HashSet<String> = self.0.core.lock().blocks.of(me);
        let store = self.store();
        let ids = match broadcasts {
            true => vec![LogId::Broadcast],
            false => store
                .rooms()
                .rooms_of(me)
                .map_err(HistoryError::Unreadable)?
                .into_iter()
                .map(LogId::Room)
                .collect(),
        };
        let mut logs = Vec::new();
        for id in ids {
            let mut entries = store
                .logs()
                .log_since(id, since.timestamp())
                .map_err(HistoryError::Unreadable)?;
            entries.retain(|e| !hidden.contains(&e.user));
            if !entries.is_empty() {
                logs.push((id, entries));
            }
        }
        Ok(History {
            broadcasts,
            since,
            logs,
        })
    }
}

impl History {
    /// The user's lines: a heading, then each log's entries (a room's under its name),
    /// or that there is nothing new.
    pub fn reply(&self) -> Reply {
        if self.logs.is_empty() {
            return Reply::line(text::NO_NEW_MESSAGE);
        }
        let at = timefmt::format(&self.since);
        let mut lines = vec![text::history_since(self.broadcasts, &at)];
        for (id, entries) in &self.logs {
            if let LogId::Room(n) = id {
                lines.push(text::room_heading(*n));
            }
            lines.extend(entries.iter().map(rdm_line));
        }
        Reply::ok(lines)
    }
}

impl HistoryError {
    /// The user's error line.
    pub fn reply(self) -> Reply {
        match self {
            HistoryError::BadKind => Reply::err(text::BAD_MESSAGE_TYPE),
            HistoryError::BadTime => Reply::err(text::BAD_TIMESTAMP),
            HistoryError::Unreadable(e) => {
                log::error!("cannot read a message log: {e}");
                Reply::err(text::READ_FAILED)
            }
        }
    }
}

/// `#1; yoda: TEXT at 1 Jun 2022 16:05:00.`
fn rdm_line(e: &LogEntry) -> String {
    text::history_line(e.number, &e.user, &e.text, &timefmt::format(&e.time))
}

#[cfg(test)]
mod tests {
    use super::HistoryError;
    use crate::server::store::LogId;
    use crate::server::State;
    use crate::text;

    const SINCE: &str = "1 Jan 2000 00:00:00";

    fn state() -> (tempfile::TempDir, State) {
        crate::server::testing::state("yoda a\nhans b\nluke c\n")
    }

    #[test]
    fn history_is_the_entries_after_the_time_less_the_blocked_senders() {
        let (_dir, s) = state();
        assert!(s.bcm("yoda", "one").ok);
        assert!(s.bcm("hans", "two").ok);
        assert!(s.set_block("luke", "hans", true).ok);
        let h = s.history("luke", "b", SINCE).unwrap();
        assert!(h.broadcasts);
        assert_eq!(h.logs.len(), 1);
        let (id, entries) = &h.logs[0];
        assert_eq!(*id, LogId::Broadcast);
        let seen: Vec<_> = entries
            .iter()
            .map(|e| (e.number, &*e.user, &*e.text))
            .collect();
        assert_eq!(seen, [(1, "yoda", "one")]);
        let all = s.history("yoda", "b", SINCE).unwrap();
        assert_eq!(all.logs[0].1.len(), 2);
        let r = all.reply();
        assert_eq!(r.lines[0], text::history_since(true, SINCE));
        assert!(r.lines[2].starts_with("#2; hans: two at "), "{:?}", r.lines);
    }

    #[test]
    fn nothing_new_and_the_errors() {
        let (_dir, s) = state();
        let rooms = s.history("yoda", "s", SINCE).unwrap();
        assert!(rooms.logs.is_empty() && !rooms.broadcasts);
        assert_eq!(rooms.reply().lines, [text::NO_NEW_MESSAGE]);
        assert!(matches!(
            s.history("yoda", "x", SINCE),
            Err(HistoryError::BadKind)
        ));
        assert!(matches!(
            s.history("yoda", "b", "soon"),
            Err(HistoryError::BadTime)
        ));
        assert_eq!(s.rdm("yoda", "x", SINCE).lines, [text::BAD_MESSAGE_TYPE]);
        assert_eq!(s.rdm("yoda", "b", "soon").lines, [text::BAD_TIMESTAMP]);
    }
}
