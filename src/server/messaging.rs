//! Direct messages, live broadcast delivery, presence queries and blocking.
//!
//! Blocking is one rule applied everywhere: when hans has blocked yoda, nothing from yoda
//! reaches hans, and yoda cannot see hans. Block lists and undelivered messages go through
//! the journal (fsynced) before the user is told, so they survive a crash.

use super::journal::Record;
use super::state::{Reply, State};
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
        let mut journal = self.0.journal.lock();
        let online = {
            let core = self.0.core.lock();
            if !core.accounts.contains_key(to) {
                return Reply::err(text::INVALID_USER);
            }
            if core.blocked(to, from) {
                return Reply::err(text::RECIPIENT_BLOCKED_YOU);
            }
            // A backlog still being delivered (see `offline`) goes first.
            let backlog = core.offline.get(to).is_some_and(|q| !q.is_empty());
            if !backlog && core.send_text(to, &line) {
                return Reply::ok(vec![]);
            }
            core.online.contains_key(to)
        };
        let rec = Record::Offline {
            to: to.to_string(),
            line: line.clone(),
        };
        if let Err(e) = State::journal_append(&mut journal, &rec) {
            return Reply::err(e);
        }
        // Delivering a backlog takes the journal lock too, so it sees this one.
        self.0
            .core
            .lock()
            .offline
            .entry(to.to_string())
            .or_default()
            .push(line);
        match online {
            true => Reply::ok(vec![]),
            false => Reply::line(text::stored_offline(to)),
        }
    }

    /// Delivers a broadcast line to every other online user who has not blocked `from`.
    /// Returns true if someone online was skipped because they blocked `from`.
    pub fn deliver_broadcast(&self, from: &str, line: &str) -> bool {
        let encoded: std::sync::Arc<[u8]> =
            crate::protocol::encode(&crate::protocol::Event::Text {
                text: line.to_string(),
            })
            .into();
        let core = self.0.core.lock();
        let mut skipped = false;
        for (user, o) in &core.online {
            if user == from {
                continue;
            }
            if core.blocked(user, from) {
                skipped = true;
            } else if let Some(c) = core.conns.get(&o.conn) {
                c.send(super::outbox::Out::Line(encoded.clone()));
            }
        }
        skipped
    }

    /// `whoelse`: online users other than `me`, minus those who blocked `me`.
    pub fn whoelse(&self, me: &str) -> Reply {
        let mut names: Vec<(u64, String)> = {
            let core = self.0.core.lock();
            core.online
                .iter()
                .filter(|(u, _)| *u != me && !core.blocked(u, me))
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
            let shown = |u: &String| u != me && !core.blocked(u, me);
            let online: Vec<(u64, String)> = core
                .online
                .iter()
                .filter(|(u, _)| shown(u))
                .map(|(u, o)| (o.seq, u.clone()))
                .collect();
            let left: Vec<String> = core
                .departures
                .since(cutoff)
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
        let mut journal = self.0.journal.lock();
        {
            let core = self.0.core.lock();
            if !core.accounts.contains_key(user) {
                return Reply::err(text::INVALID_USER);
            }
            match (block, core.blocked(by, user)) {
                (true, true) => return Reply::err(text::already_blocked(user)),
                (false, false) => return Reply::err(text::was_not_blocked(user)),
                _ => {}
            }
        }
        let (by, user) = (by.to_string(), user.to_string());
        let rec = if block {
            Record::Block { by, user }
        } else {
            Record::Unblock { by, user }
        };
        if let Err(e) = State::journal_append(&mut journal, &rec) {
            return Reply::err(e);
        }
        let mut core = self.0.core.lock();
        match rec {
            Record::Block { by, user } => {
                core.blocks.entry(by).or_default().insert(user.clone());
                Reply::line(text::blocked(&user))
            }
            Record::Unblock { by, user } => {
                if let Some(s) = core.blocks.get_mut(&by) {
                    s.remove(&user);
                }
                Reply::line(text::unblocked(&user))
            }
            _ => unreachable!("only block records are built above"),
        }
    }
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
            for i in 0..100_000 {
                core.departures.left(&format!("user{i}"), long_ago);
            }
            core.departures.left("recent", Instant::now());
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
