//! Broadcasts: `broadcast TEXT` and `BCM TEXT` share messagelog.txt and its numbering.
//!
//! A log append and its live delivery are one store call (`LogStore::append_log`), so
//! message numbers are gapless and every recipient sees broadcasts in number order; the
//! fsync comes after, before the sender is told (`Reply::after_sync`).

use super::messaging::{clean, save_failed};
use crate::protocol::Event;
use crate::server::delivery::Audience;
use crate::server::state::{Reply, State};
use crate::server::store::history::LogEntry;
use crate::server::store::{LogId, Saved, StoreError};
use crate::text;
use crate::timefmt;
use chrono::Local;

/// A broadcast saved and delivered.
struct Sent {
    saved: Saved,
    /// Someone online did not get it: they blocked the sender.
    blocked: bool,
}

impl State {
    /// Appends to messagelog.txt and delivers live.
    fn log_broadcast(&self, user: &str, body: &str) -> Result<Sent, StoreError> {
        let body = clean(body);
        let line = text::chat(user, &body);
        let mut blocked = false;
        let mut deliver = |_: &LogEntry| blocked = self.deliver_broadcast(user, &line);
        let logs = self.store().logs();
        let saved = logs.append_log(LogId::Broadcast, user, &body, Local::now(), &mut deliver)?;
        Ok(Sent { saved, blocked })
    }

    /// Delivers a broadcast line to every other online user who has not blocked `from`.
    /// Returns true if someone online was skipped because they blocked `from`.
    pub fn deliver_broadcast(&self, from: &str, line: &str) -> bool {
        let ev = Event::Broadcast {
            text: line.to_string(),
        };
        self.deliver(Audience::Everyone { from }, &ev).blocked || self.blocked_elsewhere(from)
    }

    /// `broadcast TEXT`.
    pub fn broadcast(&self, user: &str, body: &str) -> Reply {
        match self.log_broadcast(user, body) {
            Ok(sent) => {
                let reply = match sent.blocked {
                    true => Reply::line(text::SOME_RECIPIENTS),
                    false => Reply::ok(vec![]),
                };
                reply.after_sync(sent.saved.durable)
            }
            Err(e) => save_failed(&e),
        }
    }

    /// `BCM TEXT`.
    pub fn bcm(&self, user: &str, body: &str) -> Reply {
        if body.trim().is_empty() {
            return Reply::err(text::usage("BCM <message>"));
        }
        match self.log_broadcast(user, body) {
            Ok(Sent { saved, .. }) => {
                let e = &saved.entry;
                let at = timefmt::format(&e.time);
                self.announce(&text::bcm_logged(user, e.number, &e.text, &at));
                Reply::line(text::bcm_sent(e.number, &at)).after_sync(saved.durable)
            }
            Err(e) => save_failed(&e),
        }
    }
}
