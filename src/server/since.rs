//! Who left when, for `whoelsesince`: each user's last logout, indexed by time, so a
//! query costs the size of its answer, not the number of past logins (a list of every
//! login made the query quadratic: 400 ms under the core lock after 20,000 logins).

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

#[derive(Default)]
pub(super) struct Departures {
    when: HashMap<String, Instant>,
    by_time: BTreeSet<(Instant, String)>,
}

impl Departures {
    /// `user` logged in: they count as online now, not by their last logout.
    pub fn arrived(&mut self, user: &str) {
        if let Some(t) = self.when.remove(user) {
            self.by_time.remove(&(t, user.to_string()));
        }
    }

    /// `user` logged out at `now`.
    pub fn left(&mut self, user: &str, now: Instant) {
        self.arrived(user);
        self.when.insert(user.to_string(), now);
        self.by_time.insert((now, user.to_string()));
    }

    /// Users who logged out at `cutoff` or later (all of them for `None`), most recent
    /// first.
    pub fn since(&self, cutoff: Option<Instant>) -> Box<dyn Iterator<Item = &String> + '_> {
        fn users((_, u): &(Instant, String)) -> &String {
            u
        }
        match cutoff {
            None => Box::new(self.by_time.iter().rev().map(users)),
            Some(c) => Box::new(self.by_time.range((c, String::new())..).rev().map(users)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_the_last_logout_counts_and_a_login_clears_it() {
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        let mut d = Departures::default();
        d.left("a", s(1));
        d.left("b", s(5));
        d.left("a", s(10));
        let got: Vec<&String> = d.since(Some(s(5))).collect();
        assert_eq!(got, ["a", "b"]);
        assert_eq!(d.since(Some(s(6))).collect::<Vec<_>>(), ["a"]);
        d.arrived("a");
        assert_eq!(d.since(None).collect::<Vec<_>>(), ["b"]);
    }

    /// 100,000 distinct users logged out: a narrow window answers in microseconds and a
    /// window holding all of them in a few milliseconds (it was quadratic).
    #[test]
    fn a_hundred_thousand_logouts_answer_fast() {
        let t0 = Instant::now();
        let mut d = Departures::default();
        for i in 0..100_000u64 {
            d.left(&format!("user{i}"), t0 + Duration::from_millis(i));
        }
        let started = Instant::now();
        let recent = d.since(Some(t0 + Duration::from_millis(99_990))).count();
        let narrow = started.elapsed();
        let started = Instant::now();
        let all = d.since(Some(t0)).count();
        let wide = started.elapsed();
        assert_eq!((recent, all), (10, 100_000));
        assert!(narrow < Duration::from_millis(5), "{narrow:?}");
        assert!(wide < Duration::from_millis(500), "{wide:?}");
    }
}
