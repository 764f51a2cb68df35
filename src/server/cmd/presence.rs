//! Who is online: `whoelse`, `whoelsesince` and `ATU`. Each lists only users who have
//! not blocked the asker (`Blocks::visible`), in login order.

use crate::server::state::{Reply, State};
use crate::text;
use crate::timefmt;
use std::time::{Duration, Instant};

impl State {
    /// `whoelse`: online users other than `me`, on any node, minus those who blocked
    /// `me`, in login order.
    pub fn whoelse(&self, me: &str) -> Reply {
        let names: Vec<String> = self.everyone_but(me).into_iter().map(|p| p.name).collect();
        if names.is_empty() {
            return Reply::line(text::NO_OTHER_USERS);
        }
        Reply::ok(names)
    }

    /// `whoelsesince SECS`, asked now, rendered for the user.
    pub fn whoelsesince(&self, me: &str, secs: u64) -> Reply {
        let names = self.seen_since(me, secs, Instant::now());
        if names.is_empty() {
            return Reply::line(text::none_since(secs));
        }
        Reply::ok(names)
    }

    /// `whoelsesince SECS` asked at `now`: everyone `me` may see who was logged in at any
    /// moment of the last SECS seconds, on any node: who is online (in login order), then
    /// who logged out within the window (most recent first). Costs the size of the
    /// answer, not the number of past logins.
    pub fn seen_since(&self, me: &str, secs: u64, now: Instant) -> Vec<String> {
        let online: Vec<String> = self.everyone_but(me).into_iter().map(|p| p.name).collect();
        let remote_left = self.0.presence.departed_since(secs).unwrap_or_else(|e| {
            log::warn!("presence: {e}");
            None
        });
        let left: Vec<String> = match remote_left {
            Some(left) => left,
            None => {
                let cutoff = now.checked_sub(Duration::from_secs(secs));
                let core = self.0.core.lock();
                core.roster.departed_since(cutoff).cloned().collect()
            }
        };
        let left = left.into_iter().filter(|u| !online.contains(u)).collect();
        let left = self.visible_to(me, left);
        online.into_iter().chain(left).collect()
    }

    /// `ATU`: other visible active users, on any node, with address, UDP port and login
    /// time.
    pub fn atu(&self, me: &str) -> Reply {
        let rows: Vec<String> = self
            .everyone_but(me)
            .into_iter()
            .map(|p| {
                let since = timefmt::format(&p.since);
                text::active_user(&p.name, p.ip, p.udp_port, &since)
            })
            .collect();
        if rows.is_empty() {
            return Reply::line(text::NO_OTHER_ACTIVE);
        }
        Reply::ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use crate::server::testing;
    use std::time::{Duration, Instant};

    /// The worked example's rule, at a made-up `now`: anyone online at any moment of
    /// the window counts (vader, in before it and out inside it), not who left before
    /// it opened (leia), and never the asker.
    #[test]
    fn whoelsesince_counts_anyone_logged_in_at_any_moment_of_the_window() {
        let (_dir, state) = testing::state("");
        let now = Instant::now();
        let ago = |ms| now - Duration::from_millis(ms);
        {
            let mut core = state.0.core.lock();
            let r = &mut core.roster;
            r.log_in("yoda", 1, &testing::peer(0), ago(9_000));
            r.log_in("hans", 2, &testing::peer(0), ago(8_000));
            r.log_in("leia", 3, &testing::peer(0), ago(7_000));
            assert!(r.log_out("leia", 3, ago(1_300)));
            r.log_in("vader", 4, &testing::peer(0), ago(6_000));
            assert!(r.log_out("vader", 4, ago(500)));
        }
        let since = |secs| {
            let mut names = state.seen_since("yoda", secs, now);
            names.sort();
            names
        };
        assert_eq!(since(1), ["hans", "vader"]);
        assert_eq!(since(2), ["hans", "leia", "vader"]);
        assert_eq!(since(0), ["hans"]);
    }

    /// Finding 8: after 100,000 distinct logins and logouts, `whoelsesince` with a short
    /// window answers in well under a millisecond's worth of work per recent user.
    #[test]
    fn whoelsesince_after_a_hundred_thousand_logins_is_fast() {
        let (_dir, state) = crate::server::testing::state("");
        let now = Instant::now();
        let long_ago = now - Duration::from_secs(3600);
        {
            let mut core = state.0.core.lock();
            let peer = testing::peer(0);
            let mut stint = |user: &str, id, at| {
                core.roster.log_in(user, id, &peer, at);
                assert!(core.roster.log_out(user, id, at));
            };
            for i in 0..100_000 {
                stint(&format!("user{i}"), i, long_ago);
            }
            stint("recent", 100_000, now);
        }
        let started = Instant::now();
        let reply = state.seen_since("me", 60, now);
        let took = started.elapsed();
        println!("whoelsesince 60 after 100,000 logouts: {took:?}");
        assert_eq!(reply, ["recent"]);
        assert!(took < Duration::from_millis(20), "{took:?}");
        let started = Instant::now();
        assert_eq!(state.seen_since("me", 7200, now).len(), 100_001);
        let all = started.elapsed();
        println!("whoelsesince 7200 listing all 100,001: {all:?}");
        assert!(all < Duration::from_secs(1), "{all:?}");
    }
}
