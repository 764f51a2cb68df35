//! Direct messages (`message`) and blocking (`block`, `unblock`).
//!
//! Blocking is one rule applied everywhere (`server::blocks`): when hans has blocked yoda,
//! nothing from yoda reaches hans, and yoda cannot see hans. Block lists and undelivered
//! messages are saved in the store before the user is told, so they survive a crash.

use crate::protocol::Event;
use crate::server::state::{Reply, State};
use crate::server::store::StoreError;
use crate::text;

/// Control characters (a crafted request could carry newlines) become spaces, so a
/// message is always one line on screen and in the logs.
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl State {
    /// `message USER TEXT`: live if online, else stored for the next login.
    pub fn message(&self, from: &str, to: &str, text: &str) -> Reply {
        if from == to {
            return Reply::err(text::CANNOT_MESSAGE_SELF);
        }
        let line = text::chat(from, &clean(text));
        let store = self.store();
        // Against `deliver_offline`: a backlog being delivered is seen, and goes first.
        // Against `to`'s block of `from`: it holds before or after, not during.
        let _writes = self.0.writes.lock(to);
        let (backlog, blocked) = match store.recipient(to, from) {
            Ok(r) if !r.exists => return Reply::err(text::INVALID_USER),
            Ok(r) => (r.backlog, r.blocked),
            Err(e) => return save_failed(&e),
        };
        let online = {
            let core = self.0.core.lock();
            if blocked.unwrap_or_else(|| !core.blocks.reaches(from, to)) {
                return Reply::err(text::RECIPIENT_BLOCKED_YOU);
            }
            let ev = Event::text(line.clone());
            if !backlog && core.send_event(to, &ev) {
                return Reply::ok(vec![]);
            }
            core.roster.is_online(to)
        };
        // On another node: live over the bus, unless a backlog is being delivered there.
        let ev = Event::text(line.clone());
        if !online && !backlog && self.send_elsewhere(from, to, &ev) {
            return Reply::ok(vec![]);
        }
        let online = online || self.elsewhere(to).is_some();
        let sent = crate::server::store::unix_now();
        if let Err(e) = store.offline().queue_offline(to, &line, sent) {
            return save_failed(&e);
        }
        drop(_writes);
        match online {
            true => {
                self.nudge_offline(to);
                Reply::ok(vec![])
            }
            false => Reply::line(text::stored_offline(to)),
        }
    }

    /// `block USER` / `unblock USER`.
    pub fn set_block(&self, by: &str, user: &str, block: bool) -> Reply {
        if by == user {
            return Reply::err(if block {
                text::CANNOT_BLOCK_SELF
            } else {
                text::CANNOT_UNBLOCK_SELF
            });
        }
        let _writes = self.0.writes.lock(by);
        match self.store().accounts().account_exists(user) {
            Ok(true) => {}
            Ok(false) => return Reply::err(text::INVALID_USER),
            Err(e) => return save_failed(&e),
        }
        match (block, self.0.core.lock().blocks.blocked(by, user)) {
            (true, true) => return Reply::err(text::already_blocked(user)),
            (false, false) => return Reply::err(text::was_not_blocked(user)),
            _ => {}
        }
        if let Err(e) = self.store().blocks().save_block(by, user, block) {
            return save_failed(&e);
        }
        self.0.core.lock().blocks.set(by, user, block);
        Reply::line(match block {
            true => text::blocked(user),
            false => text::unblocked(user),
        })
    }
}

/// A store that could not save (or answer): the user is told to try again.
pub(in crate::server) fn save_failed(e: &StoreError) -> Reply {
    log::error!("store: {e}");
    Reply::err(text::SAVE_FAILED)
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn control_characters_become_spaces() {
        assert_eq!(clean("a\nb\r\tc"), "a b  c");
        assert_eq!(clean("plain; text"), "plain; text");
    }
}
