//! Direct messages, live broadcast delivery, presence queries and blocking.
//!
//! Blocking is one rule applied everywhere: when hans has blocked yoda, nothing from yoda
//! reaches hans, and yoda cannot see hans (`blocks`). Block lists and undelivered messages
//! are saved in the store before the user is told, so they survive a crash.

use super::delivery::Audience;
use super::state::{Reply, State};
use super::store::StoreError;
use crate::protocol::Event;
use crate::text;
use std::time::{Duration, Instant};

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
        let _writes = self.0.writes.lock();
        let backlog = match (
            store.accounts().account_exists(to),
            store.offline().has_offline(to),
        ) {
            (Ok(false), _) => return Reply::err(text::INVALID_USER),
            (Ok(true), Ok(backlog)) => backlog,
            (Err(e), _) | (_, Err(e)) => return save_failed(&e),
        };
        let online = {
            let core = self.0.core.lock();
            if !core.blocks.reaches(from, to) {
                return Reply::err(text::RECIPIENT_BLOCKED_YOU);
            }
            let ev = Event::Text { text: line.clone() };
            if !backlog && core.send_event(to, &ev) {
                return Reply::ok(vec![]);
            }
            core.roster.is_online(to)
        };
        if let Err(e) = store.offline().queue_offline(to, &line) {
            return save_failed(&e);
        }
        match online {
            true => Reply::ok(vec![]),
            false => Reply::line(text::stored_offline(to)),
        }
    }

    /// Delivers a broadcast line to every other online user who has not blocked `from`.
    /// Returns true if someone online was skipped because they blocked `from`.
    pub fn deliver_broadcast(&self, from: &str, line: &str) -> bool {
        let ev = Event::Text {
            text: line.to_string(),
        };
        self.deliver(Audience::Everyone { from }, &ev).blocked
    }

    /// `whoelse`: online users other than `me`, minus those who blocked `me`.
    pub fn whoelse(&self, me: &str) -> Reply {
        let mut names: Vec<(u64, String)> = {
            let core = self.0.core.lock();
            core.roster
                .users()
                .filter(|(u, _)| *u != me && core.blocks.visible(u, me))
                .map(|(u, o)| (o.seq, u.clone()))
                .collect()
        };
        if names.is_empty() {
            return Reply::line(text::NO_OTHER_USERS);
        }
        names.sort();
        Reply::ok(names.into_iter().map(|(_, u)| u).collect())
    }

    /// `whoelsesince SECS`: everyone logged in at any moment of the last SECS seconds:
    /// who is online (in login order), then who logged out within the window (most
    /// recent first). Costs the size of the answer, not the number of past logins.
    pub fn whoelsesince(&self, me: &str, secs: u64) -> Reply {
        let now = Instant::now();
        let cutoff = now.checked_sub(Duration::from_secs(secs));
        let (mut online, left) = {
            let core = self.0.core.lock();
            let shown = |u: &String| u != me && core.blocks.visible(u, me);
            let online: Vec<(u64, String)> = core
                .roster
                .users()
                .filter(|(u, _)| shown(u))
                .map(|(u, o)| (o.seq, u.clone()))
                .collect();
            let left: Vec<String> = core
                .roster
                .departed_since(cutoff)
                .filter(|u| shown(u))
                .cloned()
                .collect();
            (online, left)
        };
        if online.is_empty() && left.is_empty() {
            return Reply::line(text::none_since(secs));
        }
        online.sort();
        Reply::ok(online.into_iter().map(|(_, u)| u).chain(left).collect())
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
        let _writes = self.0.writes.lock();
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
pub(super) fn save_failed(e: &StoreError) -> Reply {
    log::error!("store: {e}");
    Reply::err(text::SAVE_FAILED)
}

#[cfg(test)]
mod tests {
    use super::clean;
    use crate::server::State;
    use std::time::{Duration, Instant};

    /// Finding 8: after 100,000 distinct logins and logouts, `whoelsesince` with a short
    /// window answers in well under a millisecond's worth of work per recent user.
    #[test]
    fn whoelsesince_after_a_hundred_thousand_logins_is_fast() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open_quiet(dir.path());
        let long_ago = Instant::now() - Duration::from_secs(3600);
        {
            let mut core = state.0.core.lock();
            let peer = crate::server::Peer {
                addr: "127.0.0.1:1".parse().unwrap(),
                udp_port: 0,
                p2p_port: 0,
            };
            let mut stint = |user: &str, id, at| {
                core.roster.log_in(user, id, &peer, at);
                assert!(core.roster.log_out(user, id, at));
            };
            for i in 0..100_000 {
                stint(&format!("user{i}"), i, long_ago);
            }
            stint("recent", 100_000, Instant::now());
        }
        let started = Instant::now();
        let reply = state.whoelsesince("me", 60);
        let took = started.elapsed();
        println!("whoelsesince 60 after 100,000 logouts: {took:?}");
        assert_eq!(reply.lines, ["recent"]);
        assert!(took < Duration::from_millis(20), "{took:?}");
        let started = Instant::now();
        assert_eq!(state.whoelsesince("me", 7200).lines.len(), 100_001);
        let all = started.elapsed();
        println!("whoelsesince 7200 listing all 100,001: {all:?}");
        assert!(all < Duration::from_secs(1), "{all:?}");
    }

    #[test]
    fn control_characters_become_spaces() {
        assert_eq!(clean("a\nb\r\tc"), "a b  c");
        assert_eq!(clean("plain; text"), "plain; text");
    }
}
