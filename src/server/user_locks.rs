//! Per-user locks for what checks and then saves: a direct message to a user against the
//! delivery of that user's backlog (so none is left behind or overtakes it), and a user's
//! block against messages to them. Users hash onto a fixed set of stripes, so messages
//! to different users (on a cluster node, each several Redis round trips) do not wait
//! for each other; two users may share a stripe, which only serialises them.

use parking_lot::{Mutex, MutexGuard};
use std::hash::{BuildHasher, RandomState};

const STRIPES: usize = 64;

pub struct UserLocks {
    stripes: Box<[Mutex<()>]>,
    hasher: RandomState,
}

impl Default for UserLocks {
    fn default() -> Self {
        UserLocks {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: RandomState::new(),
        }
    }
}

impl UserLocks {
    /// Holds `user`'s stripe until the guard drops. A leaf lock but for `core`, which may
    /// be taken while it is held (never the other way round).
    pub fn lock(&self, user: &str) -> MutexGuard<'_, ()> {
        let at = self.hasher.hash_one(user) as usize % self.stripes.len();
        self.stripes[at].lock()
    }
}

#[cfg(test)]
mod tests {
    use super::UserLocks;
    use std::hash::BuildHasher;

    #[test]
    fn one_user_is_serialised_and_another_is_not_held_up() {
        let locks = UserLocks::default();
        let held = locks.lock("yoda");
        assert_eq!(locks.stripes.iter().filter(|s| s.is_locked()).count(), 1);
        // Some other name lands on a free stripe.
        let other = (0..1000).map(|i| format!("user{i}")).find(|u| {
            let at = locks.hasher.hash_one(u.as_str()) as usize % super::STRIPES;
            !locks.stripes[at].is_locked()
        });
        let other = other.expect("64 stripes");
        drop(locks.lock(&other));
        drop(held);
        assert!(locks.stripes.iter().all(|s| !s.is_locked()));
    }
}
