//! Reading history: `RDM b TIME` (broadcasts) and `RDM s TIME` (the asker's rooms),
//! messages strictly later than TIME, minus those from users the asker has blocked.

use crate::server::state::{Reply, State};
use crate::server::store::history::LogEntry;
use crate::server::store::{LogId, StoreError};
use crate::text;
use crate::timefmt;
use std::collections::HashSet;

impl State {
    /// `RDM b|s TIME`: messages strictly later than TIME, minus those from users `me`
    /// has blocked.
    pub fn rdm(&self, me: &str, kind: &str, since: &str) -> Reply {
        if kind != "b" && kind != "s" {
            return Reply::err(text::BAD_MESSAGE_TYPE);
        }
        let Some(t) = timefmt::parse(since) else {
            return Reply::err(text::BAD_TIMESTAMP);
        };
        let hidden: HashSet<String> = self.0.core.lock().blocks.of(me);
        let shown = |e: &LogEntry| !hidden.contains(&e.user);
        let res = if kind == "b" {
            self.read_broadcasts(t.timestamp(), &shown)
        } else {
            self.read_rooms(me, t.timestamp(), &shown)
        };
        let body = match res {
            Ok(body) => body,
            Err(e) => {
                log::error!("cannot read a message log: {e}");
                return Reply::err(text::READ_FAILED);
            }
        };
        if body.is_empty() {
            return Reply::line(text::NO_NEW_MESSAGE);
        }
        let mut lines = vec![text::history_since(kind == "b", &timefmt::format(&t))];
        lines.extend(body);
        Reply::ok(lines)
    }

    fn read_broadcasts(
        &self,
        t: i64,
        shown: &dyn Fn(&LogEntry) -> bool,
    ) -> Result<Vec<String>, StoreError> {
        let entries = self.store().logs().log_since(LogId::Broadcast, t)?;
        Ok(entries.iter().filter(|e| shown(e)).map(rdm_line).collect())
    }

    fn read_rooms(
        &self,
        me: &str,
        t: i64,
        shown: &dyn Fn(&LogEntry) -> bool,
    ) -> Result<Vec<String>, StoreError> {
        let store = self.store();
        let mut out = Vec::new();
        for id in store.rooms().rooms_of(me)? {
            let lines: Vec<String> = store
                .logs()
                .log_since(LogId::Room(id), t)?
                .iter()
                .filter(|e| shown(e))
                .map(rdm_line)
                .collect();
            if !lines.is_empty() {
                out.push(text::room_heading(id));
                out.extend(lines);
            }
        }
        Ok(out)
    }
}

/// `#1; yoda: TEXT at 1 Jun 2022 16:05:00.`
fn rdm_line(e: &LogEntry) -> String {
    text::history_line(e.number, &e.user, &e.text, &timefmt::format(&e.time))
}
