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

/// What became of a direct message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// On its way to the recipient, who is logged in here or on another node (behind
    /// their backlog, if they had one).
    Delivered,
    /// Kept for the recipient's next login.
    Stored,
}

/// Why a direct message was not sent.
#[derive(Debug)]
pub enum NotSent {
    ToSelf,
    NoSuchUser,
    /// The recipient has blocked the sender.
    BlockedYou,
    /// The store could not answer or save.
    Store(StoreError),
}

/// Why a block or unblock changed nothing.
#[derive(Debug)]
pub enum NotChanged {
    ToSelf,
    NoSuchUser,
    /// `block` of someone blocked already, or `unblock` of someone who was not.
    Already,
    Store(StoreError),
}

impl State {
    /// `message USER TEXT`, rendered for the sender.
    pub fn message(&self, from: &str, to: &str, text: &str) -> Reply {
        match self.send_message(from, to, text) {
            Ok(Sent::Delivered) => Reply::ok(vec![]),
            Ok(Sent::Stored) => Reply::line(text::stored_offline(to)),
            Err(NotSent::ToSelf) => Reply::err(text::CANNOT_MESSAGE_SELF),
            Err(NotSent::NoSuchUser) => Reply::err(text::INVALID_USER),
            Err(NotSent::BlockedYou) => Reply::err(text::RECIPIENT_BLOCKED_YOU),
            Err(NotSent::Store(e)) => save_failed(&e),
        }
    }

    /// `message USER TEXT`: live if `to` is online (here or on another node), else
    /// stored for their next login.
    pub fn send_message(&self, from: &str, to: &str, text: &str) -> Result<Sent, NotSent> {
        if from == to {
            return Err(NotSent::ToSelf);
        }
        let line = text::chat(from, &clean(text));
        let store = self.store();
        // Against `deliver_offline`: a backlog being delivered is seen, and goes first.
        // Against `to`'s block of `from`: it holds before or after, not during.
        let _writes = self.0.writes.lock(to);
        let r = store.recipient(to, from).map_err(NotSent::Store)?;
        if !r.exists {
            return Err(NotSent::NoSuchUser);
        }
        let ev = Event::text(line.clone());
        let online = {
            let core = self.0.core.lock();
            if r.blocked.unwrap_or_else(|| !core.blocks.reaches(from, to)) {
                return Err(NotSent::BlockedYou);
            }
            if !r.backlog && core.send_event(to, &ev) {
                return Ok(Sent::Delivered);
            }
            core.roster.is_online(to)
        };
        // On another node: live over the bus, unless a backlog is being delivered there.
        if !online && !r.backlog && self.send_elsewhere(from, to, &ev) {
            return Ok(Sent::Delivered);
        }
        let online = online || self.elsewhere(to).is_some();
        let sent = crate::server::store::unix_now();
        let queued = store.offline().queue_offline(to, &line, sent);
        queued.map_err(NotSent::Store)?;
        drop(_writes);
        if !online {
            return Ok(Sent::Stored);
        }
        self.nudge_offline(to);
        Ok(Sent::Delivered)
    }

    /// `block USER` / `unblock USER`, rendered for the user.
    pub fn set_block(&self, by: &str, user: &str, block: bool) -> Reply {
        match self.change_block(by, user, block) {
            Ok(()) if block => Reply::line(text::blocked(user)),
            Ok(()) => Reply::line(text::unblocked(user)),
            Err(NotChanged::ToSelf) if block => Reply::err(text::CANNOT_BLOCK_SELF),
            Err(NotChanged::ToSelf) => Reply::err(text::CANNOT_UNBLOCK_SELF),
            Err(NotChanged::NoSuchUser) => Reply::err(text::INVALID_USER),
            Err(NotChanged::Already) if block => Reply::err(text::already_blocked(user)),
            Err(NotChanged::Already) => Reply::err(text::was_not_blocked(user)),
            Err(NotChanged::Store(e)) => save_failed(&e),
        }
    }

    /// `block USER` (`block` true) or `unblock USER`: saved, then the rule changed.
    pub fn change_block(&self, by: &str, user: &str, block: bool) -> Result<(), NotChanged> {
        if by == user {
            return Err(NotChanged::ToSelf);
        }
        let _writes = self.0.writes.lock(by);
        match self.store().accounts().account_exists(user) {
            Ok(true) => {}
            Ok(false) => return Err(NotChanged::NoSuchUser),
            Err(e) => return Err(NotChanged::Store(e)),
        }
        if self.0.core.lock().blocks.blocked(by, user) == block {
            return Err(NotChanged::Already);
        }
        let saved = self.store().blocks().save_block(by, user, block);
        saved.map_err(NotChanged::Store)?;
        self.0.core.lock().blocks.set(by, user, block);
        Ok(())
    }
}

/// A store that could not save (or answer): the user is told to try again.
pub(in crate::server) fn save_failed(e: &StoreError) -> Reply {
    log::error!("store: {e}");
    Reply::err(text::SAVE_FAILED)
}

#[cfg(test)]
mod tests {
    use super::{clean, NotChanged, NotSent, Sent};
    use crate::server::State;

    fn state() -> (tempfile::TempDir, State) {
        crate::server::testing::state("yoda a\nhans b\nluke c\n")
    }

    /// Without a socket: to nobody online, a message is kept, in order; a block stops
    /// the next one, and the refusals say why.
    #[test]
    fn messages_are_kept_for_the_offline_and_refused_by_blocks() {
        let (_dir, s) = state();
        assert!(matches!(
            s.send_message("yoda", "yoda", "x"),
            Err(NotSent::ToSelf)
        ));
        assert!(matches!(
            s.send_message("yoda", "bob", "x"),
            Err(NotSent::NoSuchUser)
        ));
        assert_eq!(s.send_message("yoda", "hans", "one").unwrap(), Sent::Stored);
        assert_eq!(
            s.send_message("luke", "hans", "two\nlines").unwrap(),
            Sent::Stored
        );
        s.change_block("hans", "yoda", true).unwrap();
        let refused = s.send_message("yoda", "hans", "three");
        assert!(matches!(refused, Err(NotSent::BlockedYou)));
        let kept = s
            .store()
            .offline()
            .pending_offline("hans", 9, 1 << 20)
            .unwrap();
        let lines: Vec<_> = kept.into_iter().map(|q| q.line).collect();
        assert_eq!(lines, ["yoda: one", "luke: two lines"]);
    }

    #[test]
    fn a_block_changes_once_and_not_for_oneself_or_nobody() {
        let (_dir, s) = state();
        assert!(matches!(
            s.change_block("hans", "hans", true),
            Err(NotChanged::ToSelf)
        ));
        assert!(matches!(
            s.change_block("hans", "bob", true),
            Err(NotChanged::NoSuchUser)
        ));
        assert!(matches!(
            s.change_block("hans", "yoda", false),
            Err(NotChanged::Already)
        ));
        s.change_block("hans", "yoda", true).unwrap();
        assert!(matches!(
            s.change_block("hans", "yoda", true),
            Err(NotChanged::Already)
        ));
        s.change_block("hans", "yoda", false).unwrap();
        assert_eq!(s.send_message("yoda", "hans", "hi").unwrap(), Sent::Stored);
    }

    #[test]
    fn control_characters_become_spaces() {
        assert_eq!(clean("a\nb\r\tc"), "a b  c");
        assert_eq!(clean("plain; text"), "plain; text");
    }
}
