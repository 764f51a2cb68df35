//! Flood control: a per-connection command rate limit and a per-address login throttle.
//!
//! Both are pure functions of `now`, so they are tested without sleeping.
//!
//! - [`TokenBucket`] belongs to one session thread (no lock): each request takes a token;
//!   tokens come back at `rate` per second up to `burst`. A request with no token left is
//!   refused with `Error. Too many commands, slow down` and not executed.
//! - [`LoginThrottle`] counts *failed* password attempts per source address in a sliding
//!   one-minute window. Past the limit every password attempt from that address is
//!   refused before the password is even checked, so it counts against no account: an
//!   attacker can neither guess fast from one address nor lock real users out by
//!   spreading guesses (per-account lockout still applies to whoever guesses slowly).
//!   Successful logins are never counted, so hundreds of users logging in at once from
//!   one address are unaffected.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A token bucket: `rate` tokens per second, at most `burst` banked. Kept in exact
/// integer units (one token = 10^9 × a second's worth of `rate`), so no rounding drift.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u128,
    /// Most credit that can be banked: `burst` tokens.
    cap: u128,
    credit: u128,
    last: Instant,
}

/// Credit one token costs.
const TOKEN: u128 = 1_000_000_000;

impl TokenBucket {
    /// A full bucket; `None` when `rate` is 0 (no limit).
    pub fn new(rate: u32, burst: u32, now: Instant) -> Option<TokenBucket> {
        if rate == 0 {
            return None;
        }
        let cap = u128::from(burst.max(1)) * TOKEN;
        Some(TokenBucket {
            rate: u128::from(rate),
            cap,
            credit: cap,
            last: now,
        })
    }

    /// Takes one token if there is one.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_nanos();
        self.credit = (self.credit + elapsed * self.rate).min(self.cap);
        self.last = self.last.max(now);
        if self.credit >= TOKEN {
            self.credit -= TOKEN;
            true
        } else {
            false
        }
    }
}

/// The window failed logins are counted over.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered before stale ones are swept (bounds memory under a spoofing-free
/// but many-address attack; a sweep is linear, so it runs at most once per growth step).
const SWEEP_AT: usize = 4096;

/// Failed password attempts per source address.
#[derive(Debug)]
pub struct LoginThrottle {
    limit: usize,
    window: Duration,
    failures: HashMap<IpAddr, VecDeque<Instant>>,
    sweep_at: usize,
}

impl LoginThrottle {
    /// At most `limit` failures per address per minute; 0 = off.
    pub fn new(limit: u32) -> LoginThrottle {
        LoginThrottle::with_window(limit, LOGIN_WINDOW)
    }

    pub fn with_window(limit: u32, window: Duration) -> LoginThrottle {
        LoginThrottle {
            limit: limit as usize,
            window,
            failures: HashMap::new(),
            sweep_at: SWEEP_AT,
        }
    }

    /// Has `ip` used up its failures for now?
    pub fn blocked(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.limit == 0 {
            return false;
        }
        let window = self.window;
        match self.failures.get_mut(&ip) {
            Some(q) => {
                forget_old(q, now, window);
                q.len() >= self.limit
            }
            None => false,
        }
    }

    /// Counts one failed password from `ip`.
    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) {
        if self.limit == 0 {
            return;
        }
        let window = self.window;
        let q = self.failures.entry(ip).or_default();
        forget_old(q, now, window);
        q.push_back(now);
        // Only the newest `limit` matter: the oldest of them decides when it frees up.
        while q.len() > self.limit {
            q.pop_front();
        }
        if self.failures.len() >= self.sweep_at {
            self.failures.retain(|_, q| {
                forget_old(q, now, window);
                !q.is_empty()
            });
            self.sweep_at = (self.failures.len() * 2).max(SWEEP_AT);
        }
    }

    /// Addresses currently remembered (for tests).
    pub fn tracked(&self) -> usize {
        self.failures.len()
    }
}

fn forget_old(q: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while q
        .front()
        .is_some_and(|&t| now.saturating_duration_since(t) >= window)
    {
        q.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(20, 40, t0).unwrap();
        assert!((0..40).all(|_| b.allow(t0)));
        assert!(!b.allow(t0));
        // 20 per second: one token every 50 ms.
        assert!(!b.allow(t0 + 49 * MS));
        assert!(b.allow(t0 + 50 * MS));
        assert!(!b.allow(t0 + 50 * MS));
        // A long pause refills to the burst, no more.
        let later = t0 + Duration::from_secs(100);
        assert_eq!((0..100).filter(|_| b.allow(later)).count(), 40);
    }

    #[test]
    fn bucket_sustains_exactly_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, 1, t0).unwrap();
        let allowed = (0..1000)
            .filter(|i| b.allow(t0 + Duration::from_millis(i * 10)))
            .count();
        // 10 s at 10/s, plus the banked token.
        assert!((100..=101).contains(&allowed), "{allowed}");
    }

    #[test]
    fn bucket_zero_rate_is_off_and_clock_going_back_is_harmless() {
        assert!(TokenBucket::new(0, 10, Instant::now()).is_none());
        let t0 = Instant::now() + Duration::from_secs(5);
        let mut b = TokenBucket::new(1, 1, t0).unwrap();
        assert!(b.allow(t0));
        assert!(!b.allow(t0 - Duration::from_secs(5)));
    }

    #[test]
    fn login_throttle_counts_failures_per_address_in_a_window() {
        let t0 = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let mut t = LoginThrottle::new(3);
        for i in 0..3 {
            assert!(!t.blocked(a, t0 + i * MS));
            t.record_failure(a, t0 + i * MS);
        }
        assert!(t.blocked(a, t0 + 10 * MS));
        assert!(!t.blocked(b, t0 + 10 * MS), "other addresses unaffected");
        // Sliding: the first failure leaves the window a minute after it happened.
        assert!(t.blocked(a, t0 + LOGIN_WINDOW - MS));
        assert!(!t.blocked(a, t0 + LOGIN_WINDOW));
        assert!(!t.blocked(a, t0 + LOGIN_WINDOW + 2 * MS));
    }

    #[test]
    fn login_throttle_off_and_memory_bounded() {
        let t0 = Instant::now();
        let mut off = LoginThrottle::new(0);
        for _ in 0..100 {
            off.record_failure("10.0.0.1".parse().unwrap(), t0);
        }
        assert!(!off.blocked("10.0.0.1".parse().unwrap(), t0));
        assert_eq!(off.tracked(), 0);

        let mut t = LoginThrottle::new(2);
        for i in 0..10_000u32 {
            t.record_failure(IpAddr::from(i.to_be_bytes()), t0);
        }
        // A minute later, new failures sweep the stale addresses away.
        let later = t0 + LOGIN_WINDOW;
        for i in 0..10_000u32 {
            t.record_failure(IpAddr::from((i + 1_000_000).to_be_bytes()), later);
        }
        assert!(t.tracked() <= 2 * 10_000, "{}", t.tracked());
        let ip = IpAddr::from([1, 2, 3, 4]);
        t.record_failure(ip, later);
        t.record_failure(ip, later);
        assert!(t.blocked(ip, later));
    }
}
