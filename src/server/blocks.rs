//! Who has blocked whom, in memory, and the one visibility rule every command applies:
//! when hans has blocked yoda, nothing from yoda reaches hans, and yoda cannot see hans
//! (not in `whoelse`, `whoelsesince`, `ATU`, room invitations or peer look-ups). Presence
//! notices go neither way between the two.
//!
//! Durable copies go through the store (`BlockStore`) before a change lands here.

use std::collections::{HashMap, HashSet};

/// blocker -> the users they block.
#[derive(Default)]
pub struct Blocks {
    by: HashMap<String, HashSet<String>>,
}

impl Blocks {
    /// Builds the lists from (blocker, blocked) pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Blocks {
        let mut blocks = Blocks::default();
        for (by, user) in pairs {
            blocks.set(&by, &user, true);
        }
        blocks
    }

    /// Has `by` blocked `user`?
    pub fn blocked(&self, by: &str, user: &str) -> bool {
        self.by.get(by).is_some_and(|s| s.contains(user))
    }

    /// May something from `from` reach `to`? (Not if `to` blocked `from`.)
    pub fn reaches(&self, from: &str, to: &str) -> bool {
        !self.blocked(to, from)
    }

    /// May `viewer` see `user` (online, in a list, as a peer)? Not if `user` blocked them.
    pub fn visible(&self, user: &str, viewer: &str) -> bool {
        !self.blocked(user, viewer)
    }

    /// Nobody has blocked anyone (lets a login storm skip the look-ups).
    pub fn is_empty(&self) -> bool {
        self.by.values().all(HashSet::is_empty)
    }

    /// The users `by` has blocked.
    pub fn of(&self, by: &str) -> HashSet<String> {
        self.by.get(by).cloned().unwrap_or_default()
    }

    /// The users who have blocked `user`.
    pub fn blockers_of(&self, user: &str) -> Vec<String> {
        let blocking = self.by.iter().filter(|(_, s)| s.contains(user));
        blocking.map(|(by, _)| by.clone()).collect()
    }

    /// Everyone estranged from `user`, who get no presence notices about them and about
    /// whom they get none: who blocked them and whom they blocked.
    pub fn estranged_from(&self, user: &str) -> Box<[String]> {
        let mut them = self.blockers_of(user);
        them.extend(self.by.get(user).into_iter().flatten().cloned());
        them.sort_unstable();
        them.dedup();
        them.into()
    }

    /// Records a block (`on`) or its lifting.
    pub fn set(&mut self, by: &str, user: &str, on: bool) {
        if on {
            self.by
                .entry(by.to_string())
                .or_default()
                .insert(user.to_string());
        } else if let Some(s) = self.by.get_mut(by) {
            s.remove(user);
            if s.is_empty() {
                self.by.remove(by);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Blocks;

    #[test]
    fn the_rule_runs_one_way_for_messages_and_both_for_presence() {
        let blocks = Blocks::from_pairs([("hans".to_string(), "yoda".to_string())]);
        assert!(!blocks.reaches("yoda", "hans"));
        assert!(blocks.reaches("hans", "yoda"));
        assert!(!blocks.visible("hans", "yoda"));
        assert!(blocks.visible("yoda", "hans"));
        assert_eq!(&*blocks.estranged_from("yoda"), ["hans"]);
        assert_eq!(&*blocks.estranged_from("hans"), ["yoda"]);
        assert!(blocks.estranged_from("leia").is_empty());
    }

    #[test]
    fn unblocking_the_last_leaves_nobody_blocked() {
        let mut blocks = Blocks::default();
        blocks.set("hans", "yoda", true);
        assert!(!blocks.is_empty());
        blocks.set("hans", "yoda", false);
        assert!(blocks.is_empty() && !blocks.blocked("hans", "yoda"));
    }
}
